"""Block and challenge pages: the one list of what CDNs and bot managers put in the page they
serve instead of the article, used by the crawl's block detection, the extractor and
`raqib outlets check`. An outlet adds its own markers in `extraction.blocked_markers`."""
from __future__ import annotations

from collections.abc import Iterable

GENERIC_BLOCK_MARKERS = (
    # named vendors first, so a report names who blocks: Cloudflare, Imperva/Incapsula,
    # DDoS-Guard, SiteGround
    # Cloudflare's challenge scripts live under /cdn-cgi/challenge-platform/h/; the bare
    # "challenge-platform" is no marker, because Cloudflare's JavaScript detections inject
    # /cdn-cgi/challenge-platform/scripts/jsd/main.js before </body> of ordinary pages.
    "cf-browser-verification", "cf_chl_opt", "cf-challenge", "/cdn-cgi/challenge-platform/h/",
    "attention required! | cloudflare", "_incapsula_resource", "request unsuccessful. incapsula",
    "ddos-guard", "sgcaptcha",
    # then the phrases such pages share
    "<title>just a moment...</title>", "enable javascript and cookies to continue",
    "checking your browser before accessing", "please enable cookies.</",
)


def find_block_marker(text: str, extra: Iterable[str] = ()) -> str | None:
    """The first marker (the outlet's own first) found in `text`, case-insensitively, or None."""
    low = text.lower()
    for marker in (*extra, *GENERIC_BLOCK_MARKERS):
        if marker and marker.lower() in low:
            return marker
    return None

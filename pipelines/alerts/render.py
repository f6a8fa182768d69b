"""What an alert says: the webhook payload, the mail's text and HTML parts, the Slack message.

Article content comes from pages raqib does not control, so every title, summary and URL is
treated as hostile: HTML-escaped in HTML, Slack-escaped in Slack markup, stripped of line
breaks in mail headers, and a link is only made from an http(s) URL. Arabic articles are laid
out right-to-left (`dir="rtl"`, right-aligned), each article by its own language, so a digest
mixing Arabic and English reads correctly in both.
"""
from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Sequence
from typing import Any

from pipelines.safetext import clean_value

# The article fields a webhook receives (DESIGN.md), plus the outlet's display name.
PAYLOAD_FIELDS = ("id", "url", "title", "outlet", "outlet_name", "published_at", "lang", "topics", "summary")
SUMMARY_CHARS = 400
RTL_LANGS = {"ar", "fa", "ur", "he", "ps", "ku"}
_ARABIC_RE = re.compile("[\u0600-\u06ff]")


def article_snapshot(doc_id: str, src: dict[str, Any]) -> dict[str, Any]:
    """The part of a stored document an alert carries (kept in the ledger with the match)."""
    summary = (src.get("summary") or "").strip()
    if not summary:
        text = " ".join((src.get("text") or "").split())
        summary = text[:SUMMARY_CHARS] + ("…" if len(text) > SUMMARY_CHARS else "")
    # What an alert carries comes from a page: no control sequences, bidi overrides or lone
    # surrogates, whatever wrote the document (pipelines/safetext.py).
    return clean_value({
        "id": doc_id,
        "url": src.get("url") or src.get("canonical_url"),
        "title": src.get("title") or "",
        "outlet": src.get("outlet"),
        "outlet_name": src.get("outlet_name"),
        "published_at": src.get("published_at"),
        "lang": src.get("lang"),
        "topics": list(src.get("topics") or []),
        "summary": summary,
        "duplicate_of": src.get("duplicate_of"),
    })


def delivery_id(rule: str, channel: str, article_ids: Sequence[str]) -> str:
    """Stable across retries of the same message: what a receiver deduplicates on."""
    basis = "\n".join([rule, channel, *sorted(article_ids)])
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def payload(rule: str, articles: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"rule": rule, "articles": [{k: a.get(k) for k in PAYLOAD_FIELDS} for a in articles]}


def payload_bytes(rule: str, articles: Sequence[dict[str, Any]]) -> bytes:
    """The exact bytes that are signed and sent: UTF-8 JSON with Arabic kept readable."""
    return json.dumps(payload(rule, articles), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def is_rtl(article: dict[str, Any]) -> bool:
    lang = (article.get("lang") or "").lower()
    if lang:
        return lang in RTL_LANGS
    return bool(_ARABIC_RE.search(article.get("title") or ""))


def safe_url(url: Any) -> str | None:
    """An http(s) URL without whitespace, or None: a `javascript:` link never becomes a link."""
    if isinstance(url, str) and re.match(r"(?i)https?://[^\s\"'<>]+$", url.strip()):
        return url.strip()
    return None


def one_line(text: Any, limit: int = 180) -> str:
    """Text fit for a mail header or a list line: no line breaks or control characters."""
    flat = " ".join(str(text or "").split())
    flat = "".join(ch for ch in flat if ch.isprintable())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _meta(article: dict[str, Any]) -> str:
    parts = [article.get("outlet_name") or article.get("outlet"), (article.get("published_at") or "")[:16].replace("T", " "),
             ", ".join(article.get("topics") or [])]
    return " · ".join(str(p) for p in parts if p)


def subject(rule: str, articles: Sequence[dict[str, Any]], prefix: str = "[raqib]") -> str:
    if len(articles) == 1:
        return one_line(f"{prefix} {rule}: {articles[0].get('title') or '(no title)'}", 200)
    return one_line(f"{prefix} {rule}: {len(articles)} new articles", 200)


def text_body(rule: str, articles: Sequence[dict[str, Any]], *, test: bool = False) -> str:
    lines = []
    if test:
        lines += ["This is a test notification sent by `raqib alerts test`.", ""]
    lines.append(f"raqib rule «{rule}»: {len(articles)} new matching article{'s' if len(articles) != 1 else ''}")
    for i, a in enumerate(articles, 1):
        lines += ["", f"{i}. {one_line(a.get('title') or '(no title)', 500)}", f"   {_meta(a)}"]
        if a.get("url"):
            lines.append(f"   {one_line(a['url'], 2000)}")
        if a.get("summary"):
            lines.append(f"   {one_line(a['summary'], 600)}")
    lines += ["", "--", "Sent by raqib. Each article is sent once per rule."]
    return "\n".join(lines) + "\n"


def html_body(rule: str, articles: Sequence[dict[str, Any]], *, test: bool = False) -> str:
    e = html.escape
    blocks = []
    for a in articles:
        rtl = is_rtl(a)
        direction, align = ("rtl", "right") if rtl else ("ltr", "left")
        lang = e(a.get("lang") or ("ar" if rtl else "en"))
        title = e(a.get("title") or "(no title)")
        url = safe_url(a.get("url"))
        heading = f'<a href="{e(url)}">{title}</a>' if url else title
        summary = f'<p style="margin:4px 0">{e(a["summary"])}</p>' if a.get("summary") else ""
        shown_url = f'<div style="font-size:12px;color:#666" dir="ltr">{e(a.get("url") or "")}</div>' if a.get("url") else ""
        blocks.append(
            f'<div dir="{direction}" lang="{lang}" style="text-align:{align};margin:0 0 18px 0">'
            f'<h3 style="margin:0 0 4px 0;font-size:16px">{heading}</h3>'
            f'<div style="font-size:12px;color:#555">{e(_meta(a))}</div>{summary}{shown_url}</div>'
        )
    note = "<p><strong>This is a test notification sent by <code>raqib alerts test</code>.</strong></p>" if test else ""
    count = len(articles)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{e(subject(rule, articles))}</title></head>"
        '<body style="font-family:Arial,Tahoma,sans-serif">'
        f"{note}<p>raqib rule «{e(rule)}»: {count} new matching article{'s' if count != 1 else ''}</p>"
        + "".join(blocks)
        + '<p style="font-size:11px;color:#888">Sent by raqib. Each article is sent once per rule.</p>'
        "</body></html>"
    )


def slack_escape(text: Any) -> str:
    """Slack's mrkdwn reserves &, < and >; everything else is literal."""
    return str(text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(rule: str, articles: Sequence[dict[str, Any]], *, test: bool = False) -> dict[str, Any]:
    lines = []
    if test:
        lines.append("_test notification from `raqib alerts test`_")
    lines.append(f"*raqib* rule *{slack_escape(rule)}*: {len(articles)} new article{'s' if len(articles) != 1 else ''}")
    for a in articles:
        title = slack_escape(one_line(a.get("title") or "(no title)", 300)).replace("|", "¦")
        url = safe_url(a.get("url"))
        lines.append(f"• <{slack_escape(url)}|{title}>" if url else f"• {title}")
        lines.append(f"    {slack_escape(_meta(a))}")
    return {"text": "\n".join(lines), "unfurl_links": False}

"""`raqib outlets check [NAME]…` (a live probe of each outlet, crawler/probe/check.py) and
`raqib outlets list` (what the configuration says)."""
from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import unquote

from crawler.cli import commands
from crawler.cli.commands import Subcommands

VERDICT_TEXT = {"ok": "OK", "warnings": "WORKS WITH WARNINGS", "config_wrong": "CONFIG WRONG",
                "unreachable": "UNREACHABLE", "blocked": "BLOCKED"}
MARK = {"blocked": "✗", "unreachable": "✗", "config": "✗", "warning": "!", "note": "·"}
MAX_SAMPLES = 5


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("outlets", parents=[common], help="check outlets live (robots, feeds, sitemaps, "
                                                                   "samples) or list them",
                       description="`check` probes each outlet on the real web and says whether raqib can crawl it; "
                                   "`list` shows the configured outlets.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    check = actions.add_parser(
        "check", parents=[common], help="probe outlets live and judge their configuration",
        description="For each outlet (all enabled ones unless named): reads robots.txt and whether it allows raqib, "
                    "the home page and configured sections, the feeds (configured, linked from home, or at the usual "
                    "addresses when none is known) and sitemaps (robots.txt Sitemap: lines, configured, index "
                    "children), counts the article URLs each channel lists and how many match article_pattern, "
                    "extracts sample articles, and gives a verdict: ok, works with warnings, config wrong, "
                    "unreachable or blocked, with the config change that fixes what it can. Polite like the crawl: "
                    "raqib's User-Agent, robots.txt obeyed, the crawl's delay between requests to a host, at most "
                    "30 requests per outlet, never outside the outlet's domains. Exit status 1 when an outlet is "
                    "config wrong, unreachable or blocked.",
    )
    check.add_argument("names", nargs="*", metavar="NAME", help="outlet keys (default: every enabled outlet)")
    check.add_argument("--json", action="store_true",
                       help="one JSON object per outlet per line (verdict, findings, robots, sources, channels, "
                            "samples, requests)")
    check.add_argument("--samples", type=int, default=2, metavar="N",
                       help=f"sample articles to fetch and extract per outlet (0-{MAX_SAMPLES}, default 2)")
    check.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="give up on one request after this long (default: crawl.timeout in settings.toml, 30)")
    check.set_defaults(run=run_check)
    lst = actions.add_parser("list", parents=[common], help="the configured outlets")
    lst.add_argument("--json", action="store_true", help="one JSON object per outlet per line")
    lst.set_defaults(run=run_list)
    p.set_defaults(run=commands.usage_of(p))


def run_check(args: argparse.Namespace) -> int:
    from crawler.probe.check import ProbeOptions, check_outlets
    from pipelines.outlets import select
    from pipelines.tagging import default_tagger

    if not 0 <= args.samples <= MAX_SAMPLES:
        print(f"raqib outlets check: --samples must be between 0 and {MAX_SAMPLES}, got {args.samples}", file=sys.stderr)
        return 2
    if args.timeout is not None and not args.timeout > 0:
        print(f"raqib outlets check: --timeout must be a positive number of seconds, got {args.timeout:g}", file=sys.stderr)
        return 2
    outlets = select(_configured(args), args.names or None)
    if not outlets:
        print("raqib outlets check: no enabled outlet in outlets.yaml; name one to check it anyway", file=sys.stderr)
        return 2
    cfg = commands.load_settings(args)
    tagger = default_tagger(commands.config_dir(args)) if args.samples else None
    options = ProbeOptions.from_settings(cfg, timeout=args.timeout, samples=args.samples, tagger=tagger)
    if not args.quiet:
        print(f"raqib outlets check: {len(outlets)} outlet{'s' if len(outlets) != 1 else ''} as «{options.rules.user_agent}», "
              f"at most {options.max_requests} requests each, {options.rules.delay:g} s apart per host…",
              file=sys.stderr, flush=True)
    verdicts: dict[str, list[str]] = {}
    for report in check_outlets(outlets, options):
        verdicts.setdefault(report.verdict, []).append(report.outlet)
        if args.json:
            print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(render(report), flush=True)
    if not args.json:
        parts = [f"{len(keys)} {VERDICT_TEXT[v].lower()}" + ("" if v == "ok" else f" ({', '.join(keys)})")
                 for v, keys in sorted(verdicts.items(), key=lambda kv: _ORDER.index(kv[0]))]
        print(f"{len(outlets)} outlet{'s' if len(outlets) != 1 else ''} checked: {', '.join(parts)}")
    failed = any(v in ("config_wrong", "unreachable", "blocked") for v in verdicts)
    return 1 if failed else 0


_ORDER = ["ok", "warnings", "config_wrong", "unreachable", "blocked"]


def _configured(args: argparse.Namespace):
    # Not `commands.load_outlets(args)`: importing this module makes `crawler.cli.commands.outlets` this module.
    from pipelines.outlets import load_outlets

    return load_outlets(commands.config_dir(args))


def run_list(args: argparse.Namespace) -> int:
    from pipelines.configfile import config_dir_from_env, resolve

    outlets = _configured(args)
    if args.json:
        for o in outlets.values():
            print(json.dumps({"outlet": o.key, "name": o.name, "enabled": o.enabled, "home": o.home,
                              "domains": list(o.domains), "language": o.language, "schedule_s": o.schedule,
                              "feeds": list(o.feeds), "sitemaps": list(o.sitemaps), "sections": list(o.sections),
                              "article_pattern": o.article_pattern.pattern,
                              "backfill": o.backfill}, ensure_ascii=False))
        return 0
    print(f"outlets from {resolve('outlets.yaml', config_dir_from_env(getattr(args, 'config', None)))}")
    for o in outlets.values():
        state = "" if o.enabled else "  (disabled)"
        print(f"{o.key}  {o.name}{state}")
        print(f"    home {o.home}   every {_duration(o.schedule)}   language {o.language or '-'}")
        print(f"    {len(o.feeds)} feeds, {len(o.sitemaps)} sitemaps, {len(o.sections)} sections configured; "
              f"backfill: {', '.join(sorted(o.backfill)) or 'none'}")
    if not outlets:
        print("no outlets configured")
    return 0


# --- the readable report ----------------------------------------------------------------------------

def render(report) -> str:
    """One outlet's report for a person: verdict first, then what to fix, then what was found."""
    lines = [f"{report.outlet} · {report.name} · {VERDICT_TEXT[report.verdict]}"]
    problems = [f for f in report.findings if f.level != "note"]
    notes = [f for f in report.findings if f.level == "note"]
    for f in problems:
        lines += _finding(f)
    robots = report.robots
    if robots:
        lines.append(_row("robots.txt", _robots_line(robots)))
    for kind, label in (("home", "home"), ("section", "sections"), ("feed", "feeds"), ("sitemap", "sitemaps")):
        sources = [s for s in report.sources if s.kind == kind]
        if not sources:
            if kind != "home" and robots.get("state") not in (None, "unreachable") and report.sources:
                lines.append(_row(label, "none configured" if kind == "section" else "none found"))
            continue
        for i, s in enumerate(sources):
            lines.append(_row(label if i == 0 else "", _source_line(s)))
    total = report.channels.get("total")
    if total and report.sources:
        per = ", ".join(f"{k} {v['matched']}/{v['urls']}" for k, v in report.channels.items() if k != "total")
        lines.append(_row("articles", f"{total['urls']} URLs on the domains, {total['matched']} match "
                                      f"article_pattern" + (f" ({per})" if per else "")))
    for i, s in enumerate(report.samples):
        lines += _sample_lines(s, "samples" if i == 0 else "")
    if notes:
        lines.append("  notes and suggestions")
        for f in notes:
            lines += _finding(f, indent=4)
    sent = len(report.requests)
    lines.append(f"  {sent} request{'s' if sent != 1 else ''} in {report.duration_s:.1f} s")
    return "\n".join(lines) + "\n"


def _finding(f, indent: int = 2) -> list[str]:
    pad = " " * indent
    out = [f"{pad}{MARK.get(f.level, '·')} {_show(f.message)}"]
    if f.suggestion:
        out.append(f"{pad}    → {_show(f.suggestion)}")
    return out


def _row(label: str, text: str) -> str:
    return f"  {label:<11} {text}"


def _robots_line(r: dict) -> str:
    if r.get("state") == "unreachable":
        return f"{r.get('status') or '-'} {_show(r['url'])}: could not be read ({r.get('message') or 'no answer'})"
    head = f"{r.get('status') or '-'} {_show(r['url'])}"
    if r.get("state") == "missing":
        head += " (none: everything allowed)"
    text = f"{head}: " + _allows(r)
    sitemaps = r.get("sitemaps") or []
    text += f"; {len(sitemaps) or 'no'} Sitemap: line{'s' if len(sitemaps) > 1 else ''}"
    text += f"; Crawl-delay {r['crawl_delay']:g} s" if r.get("crawl_delay") else "; no Crawl-delay"
    return text


def _allows(r: dict) -> str:
    """«allows raqib on home, 2 feeds, 24 of 25 article URLs» (or what it DISALLOWS)."""
    names = {"home": ("home", "home"), "section": ("section", "sections"), "feed": ("feed", "feeds"),
             "sitemap": ("sitemap", "sitemaps"), "article": ("article URL", "article URLs")}
    allowed: list[str] = []
    refused: list[str] = []
    for kind, (ok, total) in (r.get("allows") or {"home": [int(bool(r.get("allows_home"))), 1]}).items():
        one, many = names.get(kind, (kind, kind))
        if kind == "home":
            (allowed if ok else refused).append("home")
            continue
        if ok:
            allowed.append(f"{ok} {one if ok == 1 else many}" if ok == total else f"{ok} of {total} {many}")
        if ok < total:
            refused.append(f"{total - ok} {one if total - ok == 1 else many}")
    text = f"allows {r.get('token')} on " + ", ".join(allowed) if allowed else f"allows {r.get('token')} nothing checked"
    return text + (f"; DISALLOWS {', '.join(refused)}" if refused else "")


def _source_line(s) -> str:
    origin = f" ({', '.join(_ORIGIN.get(o, o) for o in s.origin)})" if s.origin and s.origin != ["configured"] \
        or s.kind in ("feed", "sitemap") else ""
    lead = f"{s.status or '-'} {_show(s.url)}{origin}"
    if s.parent:
        lead = "  └ " + lead
    if s.error:
        return f"{lead}: {_show(s.error)}"
    if s.kind in ("home", "section"):
        text = f"{lead}: {s.on_domains} links on the domains, {s.matched} match article_pattern"
        if s.kind == "home":
            text += "; links feeds " + ", ".join(map(_show, s.feeds_linked)) if s.feeds_linked else "; links no feed"
        return text
    if s.format == "index":
        return f"{lead}: sitemap index of {s.children} sitemaps" + (f", newest lastmod {_when(s.newest)}" if s.newest else "")
    noun = "items" if s.kind == "feed" else "URLs"
    text = f"{lead}: {s.format}, {s.entries} {noun}, {s.matched} match"
    if s.on_domains != s.entries:
        text += f" ({s.entries - s.on_domains} off the domains)"
    return text + (f", newest {_when(s.newest)}" if s.newest else ", no dates")


_ORIGIN = {"home": "linked from home", "index": "in the index", "guessed": "usual address"}


def _sample_lines(s, label: str) -> list[str]:
    note = "" if s.matches_pattern else " (does NOT match article_pattern)"
    out = [_row(label, f"{_show(s.url)}{note}")]
    pad = " " * 16
    if s.error:
        out.append(f"{pad}failed: {_show(s.error)}")
        return out
    # labelled, not wrapped in «»: many Arabic titles open with a «quoted» name of their own
    out.append(f"{pad}title: {s.title or '(none)'}")
    date = f"published {_when(s.published_at)} ({s.date_source})" if s.published_at else "NO publication date"
    topics = ", ".join(s.topics) if s.topics else "none"
    out.append(f"{pad}{date} · {s.lang or '?'} · {s.text_chars:,} characters · topics: {topics}")
    if s.author:
        out.append(f"{pad}by {s.author}")
    return out


def _show(text: str | None) -> str:
    """URLs as a reader writes them: percent-encoded Arabic decoded."""
    return unquote(text or "")


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return iso.replace("T", " ")[:16] + " UTC" if iso.endswith(("Z", "+00:00")) else iso


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"

"""Page furniture as heavy as the real web's: menus, rails, ad slots, comment widgets, inline
state JSON, scripts and styles around the mirror's pages.

Real article pages (the 181 of the extraction benchmark, measured by bench/page_weight.py into
data/page_weight.json) have a median of 112 KB of HTML, 128 links and 24 KB of inline script;
the article itself is a few KB of it. Each site declares its `Chrome` (what its CMS puts around
the article, and where in the real distribution its pages fall); `dress` adds it to a page at
its `</head>`, after `<body>` and before `</body>`, so the article's markup and the extraction
ground truth are unchanged. Everything is drawn from generators seeded by the site and the
page's path: the same mirror serves the same bytes on every run.

Weights: "real" (the default: each site's span of the real distribution), "heavy" (the real
distribution's top decile, what recent news pages weigh: 250-450 KB) and "light" (no
furniture: the mirror's pages as they were, for the benchmark's small-page point).
"""
from __future__ import annotations

import base64
import hashlib
import html as htmlmod
import json
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

WEIGHTS = ("light", "real", "heavy")
HEAVY_SPAN = (0.88, 0.99)
FLAVOURS = ("wordpress", "state", "aspnet", "ghost", "custom", "portal")


@dataclass(frozen=True)
class Chrome:
    """What an outlet's CMS puts around its articles (declarative, one per site)."""
    flavour: str                          # one of FLAVOURS: the kind of scripts and markup
    span: tuple[float, float]             # the quantiles of the real distribution its pages fall in
    nav: tuple[tuple[str, str], ...]      # (path, label): on-site pages its menus link to (all served)
    sister_sites: tuple[str, ...] = ()    # off-site hosts its footer links to
    rail_title: str = "اقرأ أيضاً"
    comments_title: str = "التعليقات"
    newsletter: str = "اشترك في النشرة البريدية لتصلك أهم الأخبار والتحليلات"
    cookie_notice: str = "يستخدم هذا الموقع ملفات تعريف الارتباط لتحسين تجربتك."
    phrases: tuple[str, ...] = field(default=())   # extra boilerplate phrases the truth lists

    def boilerplate(self) -> list[str]:
        """Text the furniture shows that must never end up in an article's text."""
        return [self.newsletter, self.cookie_notice, *self.phrases]


@dataclass(frozen=True)
class Targets:
    raw: int          # bytes of the whole page
    links: int
    scripts: int
    script: int       # bytes of inline script, JSON included
    json: int
    style: int
    blocks: int


@lru_cache(maxsize=1)
def distribution() -> dict[str, dict[str, float]]:
    text = resources.files("crawler.mirror").joinpath("data", "page_weight.json").read_text(encoding="utf-8")
    return json.loads(text)["distribution"]


def quantile(name: str, q: float) -> float:
    """The real distribution of `name` at quantile q, piecewise linear through its recorded
    percentiles (and a tail beyond p10/p90 as wide as the step before it)."""
    d = distribution()[name]
    xs = [0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 1.0]
    ys = [max(0.0, d["p10"] - (d["p25"] - d["p10"]) * 0.66), d["p10"], d["p25"], d["median"], d["p75"], d["p90"],
          d["p90"] + (d["p90"] - d["p75"]) * 0.66]
    q = min(max(q, 0.0), 1.0)
    i = min(bisect_right(xs, q), len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (q - x0) / (x1 - x0)


def targets(q: float) -> Targets:
    kb = 1024
    return Targets(raw=int(quantile("raw_kb", q) * kb), links=int(quantile("links", q)),
                   scripts=max(3, int(quantile("scripts", q))), script=int(quantile("script_kb", q) * kb),
                   json=int(quantile("json_kb", q) * kb), style=int(quantile("style_kb", q) * kb),
                   blocks=int(quantile("boilerplate_blocks", q)))


def page_quantile(seed: str, span: tuple[float, float]) -> float:
    """Where in the distribution this page falls: fixed by its seed (site and path)."""
    h = int.from_bytes(hashlib.blake2b(seed.encode("utf-8"), digest_size=8).digest(), "big")
    return span[0] + (span[1] - span[0]) * (h / 2 ** 64)


# --- the generators ------------------------------------------------------------------------
# class-name words: neutral ones (names like "menu" or "widget" mark furniture, and the blocks
# that are furniture are counted on purpose below)
WORDS = ("item", "card", "title", "meta", "thumb", "wrap", "inner", "grid", "col", "row", "link", "icon", "btn",
         "list", "media", "body", "label", "badge", "drop", "panel", "tab", "lazy", "ratio", "cover", "caption",
         "time", "tag", "box", "flex", "stack", "cell", "unit", "frame", "block", "text", "img")
JS_WORDS = ("init", "config", "slot", "target", "render", "push", "queue", "event", "track", "consent", "load",
            "observe", "viewport", "lazy", "refresh", "bid", "timeout", "section", "page", "user", "session")
CSS_PROPS = ("margin", "padding", "font-size", "line-height", "color", "background", "border-radius", "width",
             "max-width", "gap", "letter-spacing", "z-index", "opacity", "transform", "transition")
SVG_ICONS = ("facebook", "twitter", "whatsapp", "telegram", "youtube", "instagram", "search", "menu", "close",
             "arrow", "play", "clock", "user", "mail", "rss", "share", "comment", "print")


class Builder:
    """Deterministic text of a given size and texture, for one page."""

    def __init__(self, seed: str, flavour: str):
        self.rng = random.Random(seed)
        self.flavour = flavour
        self.prefix = {"wordpress": "wp", "state": "ma", "aspnet": "ctl", "ghost": "gh", "custom": "kh",
                       "portal": "pt"}[flavour]

    def cls(self, n: int = 3) -> str:
        r = self.rng
        return " ".join(f"{self.prefix}-{r.choice(WORDS)}" + (f"--{r.choice(WORDS)}" if r.random() < 0.4 else "")
                        for _ in range(n))

    def hexid(self, n: int = 8) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def css(self, size: int) -> str:
        out, total, r = [], 0, self.rng
        while total < size:
            props = ";".join(f"{r.choice(CSS_PROPS)}:{r.randint(0, 48)}{r.choice(('px', 'rem', '%', ''))}"
                             for _ in range(r.randint(2, 6)))
            rule = f".{self.prefix}-{r.choice(WORDS)}-{r.choice(WORDS)}{r.choice(('', ':hover', ' a', ' > li'))}{{{props}}}"
            if r.random() < 0.05:
                rule = f"@media (max-width:{r.choice((480, 768, 1024))}px){{{rule}}}"
            out.append(rule)
            total += len(rule)
        return "".join(out)

    def js(self, size: int) -> str:
        out, total, r = [], 0, self.rng
        while total < size:
            a, b = r.choice(JS_WORDS), r.choice(JS_WORDS)
            stmt = r.choice((
                f'window.{self.prefix}_{a}=window.{self.prefix}_{a}||[];',
                f'function {a}{b.title()}{r.randint(1, 99)}(e,t){{var n=e&&e.{b}||{r.randint(0, 9999)};return t?n+t:n}}',
                f'{self.prefix}_{a}.push({{"{b}":"{self.hexid(6)}","{r.choice(JS_WORDS)}":{r.randint(0, 100000)}}});',
                f'document.addEventListener("{r.choice(("DOMContentLoaded", "scroll", "click", "load"))}",function(){{{a}({r.randint(0, 500)})}});',
                f'if(typeof {a}!=="undefined"){{{a}.{b}("{self.hexid(10)}",{r.randint(0, 300)},!0)}}',
            ))
            out.append(stmt)
            total += len(stmt)
        return "\n".join(out)

    def state(self, size: int, titles: list[tuple[str, str]], nav: tuple[tuple[str, str], ...]) -> str:
        """Inline application state as frameworks embed it: menus, the latest items, ad and
        consent config, experiment flags; padded with cached API responses to `size`."""
        r = self.rng
        data: dict = {"flags": {f"{r.choice(JS_WORDS)}_{i}": r.random() < 0.5 for i in range(6)}}
        if size > 1500:
            data["menu"] = [{"href": p, "label": l, "id": self.hexid(6)} for p, l in nav]
            data["ads"] = {"network": f"/{r.randint(1000000, 99999999)}/{self.prefix}", "lazy": True,
                           "slots": [{"id": f"div-gpt-ad-{self.hexid(13)}-{i}", "sizes": [[300, 250], [728, 90]]}
                                     for i in range(6)]}
        if size > 4000:
            data["latest"] = [{"id": r.randint(100000, 9999999), "href": h, "title": t[:70],
                               "image": f"/media/{self.hexid(12)}.jpg", "views": r.randint(10, 90000)}
                              for h, t in titles[:12]]
        data["cache"] = []
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        cache: list = data["cache"]
        while len(text.encode("utf-8")) < size:
            cache.extend({"key": f"/api/v2/{r.choice(JS_WORDS)}/{self.hexid(8)}", "ttl": r.randint(30, 3600),
                          "etag": self.hexid(16), "value": {"count": r.randint(0, 5000), "rank": r.random()}}
                         for _ in range(max(1, (size - len(text)) // 160)))
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return text.replace("</", "<\\/")

    def svg(self, name: str) -> str:
        r = self.rng
        path = " ".join(f"{r.choice('MLCQ')}{r.randint(0, 24)}.{r.randint(0, 99)} {r.randint(0, 24)}.{r.randint(0, 99)}"
                        for _ in range(r.randint(6, 14)))
        return f'<symbol id="icon-{name}" viewBox="0 0 24 24"><path d="{path}z"/></symbol>'

    def viewstate(self, size: int) -> str:
        """An ASP.NET __VIEWSTATE: base64 of serialized control state (high-entropy bytes)."""
        return base64.b64encode(self.rng.randbytes(size * 3 // 4)).decode("ascii")


VARIANTS = 24     # furniture variants per site, kind and weight (pages pick one by their seed)
NOMINAL_BASE = 16 * 1024   # what a bare mirror page weighs, for sizing the variants


def variant(path_seed: str, span: tuple[float, float]) -> tuple[int, float]:
    """Which of the VARIANTS a page wears, and that variant's quantile of the distribution."""
    i = int(page_quantile(path_seed, (0.0, 1.0)) * VARIANTS) % VARIANTS
    return i, span[0] + (span[1] - span[0]) * (i + 0.5) / VARIANTS


def furniture(chrome: Chrome, seed: str, q: float, kind: str, titles: list[tuple[str, str]]) -> tuple[str, str, str]:
    """The (head, top, bottom) furniture at quantile q: built once per variant, then only
    spliced into pages, so serving a heavy page costs the mirror little more than a light one."""
    return parts(Builder(seed, chrome.flavour), chrome, targets(q), NOMINAL_BASE, kind, titles)


def spans(weight: str, chrome: Chrome) -> tuple[float, float]:
    return HEAVY_SPAN if weight == "heavy" else chrome.span


def insert(html: str, pieces: tuple[str, str, str]) -> str:
    """`html` with the furniture at its </head>, after <body ...> and before </body>."""
    head, top, bottom = pieces
    if "</body>" not in html or "</head>" not in html or "<body" not in html:
        return html
    i = html.index("</head>")
    j = html.index(">", html.index("<body")) + 1
    k = html.rindex("</body>")
    return html[:i] + head + html[i:j] + top + html[j:k] + bottom + html[k:]


def dress(html: str, chrome: Chrome, seed: str, weight: str, kind: str,
          titles: list[tuple[str, str]]) -> str:
    """`html` with the furniture of `chrome` added, sized to the real distribution (uncached:
    the site caches the variants, see Site.dressed).

    `kind`: article or listing; `titles`: (href, title) of articles the rails may show (the
    site's latest, which its home page also lists, so no link leads anywhere new)."""
    if weight == "light":
        return html
    i, q = variant(seed, spans(weight, chrome))
    return insert(html, furniture(chrome, f"{seed.split(':')[0]}:{kind}:{weight}:{i}", q, kind, titles))


def parts(b: Builder, c: Chrome, t: Targets, base: int, kind: str,
          titles: list[tuple[str, str]]) -> tuple[str, str, str]:
    r = b.rng
    inline = max(2, t.scripts // 3)           # real pages: about a third of their scripts are inline
    external = max(1, t.scripts - inline - 1)
    js_size = max(0, t.script - t.json)
    # <head>: stylesheet and preload links, inline style, consent/analytics/ad config scripts
    head = [f'<link rel="preload" as="font" href="/static/fonts/{b.hexid(10)}.woff2" crossorigin>' for _ in range(2)]
    head += [f'<link rel="stylesheet" id="{b.prefix}-{w}-css" href="/static/css/{w}.{b.hexid(8)}.css" media="all">'
             for w in r.sample(WORDS, 4)]
    head.append(f'<style id="{b.prefix}-inline-css">{b.css(t.style)}</style>')
    head.append(FLAVOUR_HEAD[c.flavour].replace("{id}", b.hexid(10)))
    head += [f'<script>{b.js(js_size // inline)}</script>' for _ in range(inline // 2)]
    head += [f'<script async src="/static/js/{w}.{b.hexid(8)}.js"></script>' for w in (r.choice(WORDS) for _ in range(external))]
    # after <body>: cookie notice, top ad, the mega menu
    nav_links = max(8, int(t.links * 0.3))
    menu = [f'<li class="{b.cls(2)}"><a class="{b.cls(2)}" href="{p}">{l}</a></li>'
            for p, l in (c.nav[i % len(c.nav)] for i in range(nav_links))]
    icons = "".join(b.svg(n) for n in SVG_ICONS)
    top = [f'<svg xmlns="http://www.w3.org/2000/svg" style="display:none" aria-hidden="true">{icons}</svg>',
           f'<div class="cookie-notice {b.cls(2)}" role="dialog" hidden><p>{c.cookie_notice}</p>'
           f'<button type="button">موافق</button></div>',
           f'<div class="ad-slot ads {b.cls(1)}" id="div-gpt-ad-{b.hexid(13)}-0" data-sizes="728x90,970x250"></div>',
           f'<nav class="mega-menu {b.cls(2)}" aria-label="menu"><ul class="{b.cls(2)}">{"".join(menu)}</ul></nav>']
    # before </body>: rails of cards, ad slots, widgets, comments, the big footer, scripts
    cards = []
    rail_links = max(4, int(t.links * 0.35))
    for i in range(rail_links // 2):
        href, title = titles[i % len(titles)] if titles else ("/", c.rail_title)
        href, title = htmlmod.escape(href), htmlmod.escape(title)
        srcset = ", ".join(f"/media/{b.hexid(12)}-{w}.webp {w}w" for w in (320, 640, 960, 1280))
        cards.append(f'<div class="rail-card {b.cls(3)}"><a class="{b.cls(2)}" href="{href}" tabindex="-1">'
                     f'<picture><source type="image/webp" srcset="{srcset}"><img loading="lazy" src="/media/{b.hexid(12)}.jpg"'
                     f' alt="" width="640" height="360"></picture></a><h4 class="{b.cls(2)}"><a href="{href}">{title}</a></h4>'
                     f'<span class="{b.cls(1)}" data-views="{r.randint(100, 90000)}"></span></div>')
    rails = [f'<aside class="related-rail {b.cls(2)}"><h3>{c.rail_title}</h3>{"".join(cards[:len(cards) // 2])}</aside>',
             f'<section class="trending widget {b.cls(1)}">{"".join(cards[len(cards) // 2:])}</section>']
    furniture = 8 + len(rails)
    slots = [f'<div class="widget ad-slot {b.cls(2)}" id="div-gpt-ad-{b.hexid(13)}-{i + 1}" data-refresh="{r.randint(15, 60)}">'
             f'<div class="{b.cls(2)}"></div></div>' for i in range(max(2, t.blocks - furniture))]
    comments = (f'<section id="comments" class="comments-area {b.cls(1)}"><h3>{c.comments_title}</h3>'
                f'<div id="comments-thread-{b.hexid(8)}" data-thread="{b.hexid(16)}"></div>'
                f'<form class="comment-form" action="/comments" method="post"><textarea name="comment"></textarea>'
                f'<input type="hidden" name="nonce" value="{b.hexid(20)}"><button type="submit">إرسال</button></form></section>'
                if kind == "article" else "")
    foot_links = max(6, t.links - nav_links - rail_links - 12)
    offsite = [f"https://{h}/" for h in c.sister_sites] or ["/"]
    columns = [f'<li class="{b.cls(1)}"><a href="{c.nav[i % len(c.nav)][0] if i % 3 else offsite[i % len(offsite)]}">'
               f'{c.nav[i % len(c.nav)][1]}</a></li>' for i in range(foot_links)]
    share = "".join(f'<a class="share-{n} {b.cls(1)}" href="#share-{n}" rel="nofollow"><svg><use href="#icon-{n}"/></svg></a>'
                    for n in SVG_ICONS[:6])
    footer = (f'<footer class="mega-footer {b.cls(2)}"><div class="newsletter widget {b.cls(1)}"><p>{c.newsletter}</p>'
              f'<form action="/newsletter" method="post"><input type="email" name="email"><button>اشترك</button></form></div>'
              f'<ul class="footer-links {b.cls(2)}">{"".join(columns)}</ul><div class="social {b.cls(1)}">{share}</div></footer>')
    state = f'<script type="application/json" id="{b.prefix}-app-state">{b.state(t.json, titles, c.nav)}</script>'
    tail = [f'<script>{b.js(js_size // inline)}</script>' for _ in range(inline - inline // 2 - 1)]
    bottom = [*rails, *slots, comments, footer, state, *tail]
    bottom = [x for x in bottom if x]
    if c.flavour == "aspnet":
        # the rest of an ASP.NET page's weight is its view state
        used = base + sum(map(len, head)) + sum(map(len, top)) + sum(map(len, bottom))
        bottom.append(f'<input type="hidden" name="__EVENTVALIDATION" value="{b.viewstate(max(64, (t.raw - used) // 2))}">')
    used = base + sum(len(x.encode("utf-8")) for x in (*head, *top, *bottom))
    filler = []
    while used < t.raw:
        # cards of the "more from the site" grid that lazy-loads into hidden panels
        piece = (f'<div class="lazy-panel {b.cls(3)}" hidden data-src="/api/panel/{b.hexid(10)}"><div class="{b.cls(3)}">'
                 + "".join(f'<span class="{b.cls(2)}" data-id="{b.hexid(8)}"><svg class="{b.cls(1)}"><use href="#icon-{r.choice(SVG_ICONS)}"/>'
                           f'</svg></span>' for _ in range(8)) + "</div></div>")
        filler.append(piece)
        used += len(piece)
    bottom[len(rails):len(rails)] = filler
    return "\n" + "\n".join(head) + "\n", "\n" + "\n".join(top) + "\n", "\n" + "\n".join(bottom) + "\n"


FLAVOUR_HEAD = {
    "wordpress": '<script>window._wpemojiSettings={"baseUrl":"\\/wp-includes\\/images\\/core\\/emoji\\/14.0.0\\/72x72\\/",'
                 '"ext":".png","source":{"concatemoji":"\\/wp-includes\\/js\\/wp-emoji-release.min.js?ver=6.4.3"}};</script>'
                 '<link rel="stylesheet" id="wp-block-library-css" href="/wp-includes/css/dist/block-library/style.min.css?ver=6.4.3">',
    "state": '<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({"gtm.start":new Date().getTime(),event:"gtm.js"});'
             '})(window,document,"script","dataLayer","GTM-{id}");</script>',
    "aspnet": '<script type="text/javascript">//<![CDATA[\nvar theForm=document.forms["form1"];function __doPostBack(t,a)'
              '{if(!theForm.onsubmit||theForm.onsubmit()!=false){theForm.__EVENTTARGET.value=t;theForm.submit()}}\n//]]></script>',
    "ghost": '<script defer src="/public/cards.min.js?v={id}"></script><link rel="stylesheet" href="/public/cards.min.css?v={id}">',
    "custom": '<script>window.APP={"locale":"ar","build":"{id}"};</script>',
    "portal": '<script type="text/javascript">var portal_base="/portal/";</script>',
}

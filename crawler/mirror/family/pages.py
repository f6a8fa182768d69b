"""The HTML a generated site serves: its layout, listings with their pagination, dates as
the pages print them, charsets, and article pages drawn from the site's traits."""
from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, timedelta
from email.utils import format_datetime
from urllib.parse import urlsplit

from crawler.mirror.family.stories import (
    AD_LABEL,
    COMMENTS,
    EGYPTIAN,
    HIJRI,
    INDIC_DIGITS,
    LEVANTINE,
    NEWSLETTER,
    PARTNER,
    READ_ALSO,
    SECTIONS,
    WEEKDAYS,
    SiteTruth,
    Story,
    stable,
)
from crawler.mirror.server import Response

# How the text_* date traits print a publication date (fields: SitePages._visible_date).
VISIBLE_DATES = {
    "text_levantine": "{wd} {d} {lev} {y} - {hm}",
    "text_levantine_day": "{d} {lev} {y}",
    "text_egyptian": "{wd}، {d:02d} {egy} {y} {h12:02d}:{mi:02d} {ar_pm}",
    "text_egyptian_gmt": "{utc.day} {utc_egy} {utc.year} | {utc.hour:02d}:{utc.minute:02d} GMT",
    "text_maghrebi": "{d} {mag} {y} على الساعة {hm}",
    "text_english": "Published {month_en} {d}, {y} {h12}:{mi:02d} {en_pm}",
    # the last update printed first, as many CMS templates do: the publication is the second date
    "text_updated_first": "آخر تحديث: {up.day} {up_egy} {up.year} - {up.hour:02d}:{up.minute:02d}"
                          " | تاريخ النشر: {d} {egy} {y} - {hm}",
    "text_hijri": "{wd} {hijri} الموافق {d:02d} {egy} {y} م - {hm}",
}


class SitePages(SiteTruth):
    """The frame every page shares, listings, and how dates and charsets look."""

    def short_date(self, s: Story) -> str:
        local = s.when.astimezone(self.tz)
        return self._digits(f"{local.day:02d}/{local.month:02d}/{local.year}")

    def _digits(self, text: str) -> str:
        """Dates as many Arabic sites print them: in Arabic-Indic digits (٢٠ أكتوبر ٢٠٢٥)."""
        return text.translate(INDIC_DIGITS) if self.traits.digits == "arabic_indic" else text

    def visible_date(self, s: Story) -> str:
        return self._digits(self._visible_date(s))

    def _visible_date(self, s: Story) -> str:
        """The date in the words of the site's `dates` trait (VISIBLE_DATES), "" for the
        traits that show no date in the text."""
        template = VISIBLE_DATES.get(self.traits.dates)
        if template is None:
            return ""
        local, utc = s.when.astimezone(self.tz), s.when.astimezone(UTC)
        # the last update, printed first by the text_updated_first sites
        up = min(s.when + timedelta(hours=3 + s.id % 20), self.now).astimezone(self.tz)
        return template.format(
            wd=WEEKDAYS[local.weekday()], d=local.day, y=local.year, hm=f"{local.hour:02d}:{local.minute:02d}",
            mi=local.minute, h12=local.hour % 12 or 12, ar_pm="م" if local.hour >= 12 else "ص",
            en_pm="pm" if local.hour >= 12 else "am", month_en=local.strftime("%B"),
            lev=LEVANTINE[local.month - 1], egy=EGYPTIAN[local.month - 1],
            mag=self.maghrebi_months[local.month - 1], utc=utc, utc_egy=EGYPTIAN[utc.month - 1],
            up=up, up_egy=EGYPTIAN[up.month - 1],
            # a Hijri date (its day and month are only plausible, never parsed) before the Gregorian one
            hijri=f"{(local.day + 11) % 29 + 1} {HIJRI[(local.month + 4) % 12]} {local.year - 579} هـ")

    def listing(self, stories: list[Story], base_path: str, base_query: str, n: int, title: str, where: str) -> str:
        per = self.per_page
        pages = max(1, -(-len(stories) // per))
        infinite = self.traits.pagination == "infinite"
        chunk = stories[(n - 1) * per:n * per]
        items = "".join(
            f'<article class="post-item"><h3 class="post-title"><a href="{html.escape(self.href(self.link(s, where)))}">'
            f'{html.escape(s.title)}</a></h3><span class="date">{self.short_date(s)}</span>{self._share(s)}'
            f'<p class="excerpt">{html.escape(s.paragraphs[0][:110])}…</p></article>' for s in chunk)
        nav, head = self._pagination(base_path, base_query, n, pages, infinite)
        return self.layout(title, f'<section class="listing"><h1>{html.escape(title)}</h1>{items}</section>{nav}', head)

    def _share(self, s: Story) -> str:
        """Share and print links beside a teaser (amp_print_share sites): other spellings of
        the article's address that answer with a redirect off the site or are disallowed."""
        out = ""
        if self.traits.variants == "amp_print_share":
            out += f'<a class="share" href="{self.url(s, extra_query="share=facebook")}">f</a>'
        if self.print_url(s):
            out += f'<a class="print" href="{self.print_url(s)}">🖶</a>'
        return out

    def _pagination(self, base_path: str, base_query: str, n: int, pages: int, infinite: bool) -> tuple[str, str]:
        kind = self.traits.pagination
        has_next = n < pages or infinite
        nxt = self.page_url(base_path, base_query, n + 1)
        if not has_next:
            return "", ""
        en = self.lang == "en"
        if kind in ("rel_next", "infinite"):
            return (f'<nav class="pager"><a rel="next" href="{nxt}">{"Next" if en else "التالي"}</a></nav>',
                    f'<link rel="next" href="{nxt}">')
        if kind == "query":
            return f'<div class="pagination"><a href="{nxt}">{"Next page" if en else "الصفحة التالية"}</a></div>', ""
        if kind == "path":
            return f'<div class="nav-links"><a href="{nxt}">{"Older posts" if en else "مقالات أقدم"}</a></div>', ""
        if kind in ("numbered", "numbered_zero"):
            links = " ".join(f'<a href="{self.page_url(base_path, base_query, i)}">{i}</a>' if i != n else f"<span>{i}</span>"
                             for i in range(1, pages + 1))
            return f'<div class="pages">{links}</div>', ""
        # "more": a load-more button that is also a plain link
        return f'<div class="load-more"><a class="btn" href="{nxt}">{"Load more" if en else "عرض المزيد"}</a></div>', ""

    def layout(self, title: str, main: str, head: str = "", *, sidebar: bool = True) -> str:
        en = self.lang == "en"
        nav = "".join(f'<li><a href="{self.section_url(i)}">{s[2] if en else s[1]}</a></li>' for i, s in enumerate(SECTIONS))
        feed = ""
        if self.traits.feed != "none" and self.traits.feed_finding == "alternate":
            mime = {"rss2": "application/rss+xml", "atom": "application/atom+xml", "jsonfeed": "application/feed+json",
                    "rss1": "application/rss+xml"}[self.traits.feed]
            feed = f'<link rel="alternate" type="{mime}" title="{html.escape(self.name)}" href="{self.feed_path()}">'
        charset = self._meta_charset()
        side = ""
        if sidebar:
            latest = "".join(f'<li><a href="{self.link(s, "side")}">{html.escape(s.title)}</a></li>'
                             for s in self.published()[:4])
            side = f'<aside class="sidebar widget"><h3>{"Latest" if en else "آخر الأخبار"}</h3><ul>{latest}</ul></aside>'
        foot = (f'<footer class="site-footer"><ul><li><a href="/about/">{"About" if en else "من نحن"}</a></li>'
                f'<li><a href="/search?q=syria">{"Search" if en else "بحث"}</a></li>'
                f'<li><a href="http://facebook.test/{self.key}">Facebook</a></li>'
                f'<li><a href="http://{PARTNER}/news/{self.seed}/partner-story.html">{"Partner" if en else "شركاؤنا"}</a></li>'
                f'<li><a href="http://{PARTNER}/node/{self.seed}">{"Partner story" if en else "من شركائنا"}</a></li></ul>'
                f'<p>© {self.now.year} {html.escape(self.name)}</p></footer>')
        base = f'<base href="{self.origin}/">' if self.traits.links == "base_href" else ""
        early, late = (charset, "") if self.traits.charset != "meta_late_1256" else ("", charset)
        # a tag manager and inline styles before the charset: beyond a browser's 1024-byte prescan
        filler = ("<script>" + "window.dataLayer=window.dataLayer||[];" * 60 + "</script>") if late else ""
        return (f'<!DOCTYPE html><html lang="{self.lang}" dir="{"ltr" if en else "rtl"}"><head>{early}{filler}{late}{base}'
                f'<title>{html.escape(title)}</title>{feed}{head}</head><body>'
                f'<header class="site-header"><a class="logo" href="/">{html.escape(self.name)}</a><nav><ul>{nav}</ul></nav></header>'
                f'<main id="main">{main}</main>{side}{foot}{self._cdn_script()}</body></html>')

    def _cdn_script(self) -> str:
        """What Cloudflare's JavaScript detections inject into every HTML page a site serves
        (its documentation: a snippet loading /cdn-cgi/challenge-platform/scripts/jsd/main.js)."""
        if self.traits.cdn != "cloudflare_jsd":
            return ""
        ray = hashlib.sha1(f"{self.seed}".encode()).hexdigest()[:16]
        return ("<script>(function(){function c(){var b=a.contentDocument||a.contentWindow.document;if(b){"
                "var d=b.createElement('script');d.innerHTML=\"window.__CF$cv$params={r:'" + ray + "',t:'MTc2NDI4NjczNQ=='};"
                "var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';"
                "document.getElementsByTagName('head')[0].appendChild(a);\";b.getElementsByTagName('head')[0].appendChild(d)}}"
                "if(document.body){var a=document.createElement('iframe');a.height=1;a.width=1;a.style.position='absolute';"
                "a.style.visibility='hidden';document.body.appendChild(a);c()}})();</script>")

    def _meta_charset(self) -> str:
        c = self.traits.charset
        if c in ("meta_only_1256", "disagree_1256", "meta_late_1256"):
            return '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
        if c == "utf8_http":
            return '<meta charset="utf-8">'
        return ""

    def html_response(self, text: str, **kw) -> Response:
        c = self.traits.charset
        if c == "utf8_http":
            return Response(body=text.encode("utf-8"), content_type="text/html; charset=utf-8", **kw)
        if c == "utf8_bom":
            # a BOM wins over a wrong server default (WHATWG encoding sniffing)
            return Response(body=b"\xef\xbb\xbf" + text.encode("utf-8"), content_type="text/html; charset=windows-1256", **kw)
        body = text.encode("cp1256", errors="xmlcharrefreplace")
        ctype = {"meta_only_1256": "text/html", "disagree_1256": "text/html; charset=UTF-8",
                 "none_1256": "text/html", "meta_late_1256": "text/html"}[c]
        return Response(body=body, content_type=ctype, **kw)


class ArticlePages(SitePages):
    """One article's page (also its AMP and print views)."""

    def _date_head(self, s: Story) -> str:
        kind, p = self.traits.dates, s.when
        local = p.astimezone(self.tz)
        if kind == "iso_meta":
            return f'<meta property="article:published_time" content="{local.isoformat()}">'
        if kind == "rfc822_meta":
            return f'<meta name="pubdate" content="{format_datetime(local)}">'
        return ""

    def article_page(self, s: Story, *, amp: bool = False, print_view: bool = False) -> str:
        t = self.traits
        canon = self.canonical_url(s)
        og_title = s.title if t.title == "h1" else f"{s.title} - {self.name}"
        head = [f'<meta property="og:title" content="{html.escape(og_title)}">',
                f'<meta property="og:site_name" content="{html.escape(self.name)}">']
        if amp or print_view or t.canonical == "absolute":
            head.append(f'<link rel="canonical" href="{canon}">')
        elif t.canonical == "relative":
            path = urlsplit(canon)
            head.append(f'<link rel="canonical" href="{path.path}{"?" + path.query if path.query else ""}">')
        elif t.canonical == "home":
            head.append(f'<link rel="canonical" href="{self.origin}/">')
        if t.variants == "amp_print_share" and not amp:
            head.append(f'<link rel="amphtml" href="{self.url(s, path_prefix="/amp")}">')
        head.append(self._date_head(s))
        if t.byline == "meta_only" and s.author:
            head.append(f'<meta name="author" content="{html.escape(s.author)}">')
        if t.dates == "json_ld_only" or t.dates == "iso_meta":
            ld: dict[str, object] = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": s.title,
                  "mainEntityOfPage": canon}
            if t.dates == "json_ld_only":
                ld["datePublished"] = s.when.astimezone(self.tz).isoformat()
            if s.author and t.byline != "none":
                ld["author"] = {"@type": "Person", "name": s.author}
            head.append(f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>')
        date_html = ""
        if t.dates == "time_only":
            date_html = (f'<time datetime="{s.when.astimezone(UTC).isoformat().replace("+00:00", "Z")}">'
                         f'{self.short_date(s)}</time>')
        elif t.dates.startswith("text_"):
            date_html = f'<span class="post-date">{self.visible_date(s)}</span>'
        byline = ""
        author = html.escape(s.author or "")
        if t.byline == "header_span" and s.author:
            byline = f'<span class="author-name">{"By" if self.lang == "en" else "بقلم"} <a href="/author/{s.id % 7}/">{author}</a></span>'
        meta_line = f'<div class="post-meta">{byline} {date_html}</div>'
        body = self._body_html(s)
        if t.byline == "before_body" and s.author:
            body = f'<p class="byline"><strong>{"By:" if self.lang == "en" else "بقلم:"} {author}</strong></p>' + body
        if t.byline == "after_body" and s.author:
            body += f'<p class="writer">{"Author:" if self.lang == "en" else "الكاتب:"} {author}</p>'
        print_link = ""
        if self.print_url(s):
            print_link = f'<a href="{self.print_url(s)}">{"Print" if self.lang == "en" else "طباعة"}</a> '
        if t.variants == "amp_print_share":
            print_link += f'<a href="{self.url(s, extra_query="share=facebook")}">فيسبوك</a>'
        if print_link:
            print_link = f'<div class="share">{print_link}</div>'
        extras = self._boilerplate_html(s)
        heading = (f'<h1 class="entry-title">{html.escape(s.title)}</h1>' if t.title == "h1"
                   else f'<h2 class="post-title">{html.escape(s.title)}</h2>')
        article = (f'<article class="post"><header>{heading}{meta_line}</header>'
                   f'<div class="entry-content">{body}</div>{print_link}{extras["inside"]}</article>{extras["after"]}')
        title = f"{s.title} | {self.name}" if t.title == "h1" else f"{self.name} | {s.title}"
        return self.layout(title, article, "".join(head), sidebar=not print_view)

    def _body_html(self, s: Story) -> str:
        kind, paras = self.traits.body, [html.escape(p) for p in s.paragraphs]
        if kind == "br":                       # an old CMS: one text block, paragraphs cut by <br>s
            return "<br><br>\n".join(paras)
        if kind == "div_soup":                 # a page builder: every paragraph its own <div>
            return "".join(f'<div class="text-block"><div dir="rtl">{p}</div></div>' for p in paras)
        blocks = [f"<p>{p}</p>" for p in paras]
        at = min(2, len(blocks) - 1)           # never after the last paragraph: it must stay the last
        if kind == "inline_read_also":
            other = self._read_also(s)
            blocks.insert(at, f'<p class="read-also"><strong>{READ_ALSO[self.lang]}</strong> '
                              f'<a href="{self.url(other)}">{html.escape(other.title)}</a></p>')
        elif kind == "inline_ad_newsletter":
            blocks.insert(at, f'<div class="ad-slot"><span>{AD_LABEL[self.lang]}</span></div>'
                              f'<div class="newsletter-inline"><p>{NEWSLETTER[self.lang]}</p>'
                              f'<a href="/subscribe">{"Subscribe" if self.lang == "en" else "اشترك الآن"}</a></div>')
        return "".join(blocks)

    def _boilerplate_html(self, s: Story) -> dict[str, str]:
        bp, en = self.traits.boilerplate, self.lang == "en"
        others = [o for o in self.stories if o is not s][:3]
        inside = after = ""
        if "related" in bp:
            items = "".join(f'<li><a href="{self.url(o)}">{html.escape(o.title)}</a></li>' for o in others)
            inside += f'<aside class="related-posts"><h3>{"Read also" if en else "اقرأ أيضاً"}</h3><ul>{items}</ul></aside>'
        if "newsletter" in bp:
            inside += (f'<div class="newsletter-box"><h4>{"Newsletter" if en else "النشرة البريدية"}</h4>'
                       f'<p>{NEWSLETTER[self.lang]}</p><form action="/subscribe" method="post">'
                       f'<input type="email" name="email"><button>{"Subscribe" if en else "اشترك"}</button></form></div>')
        if "comments" in bp:
            start = stable(self.seed, s.id) % len(COMMENTS)
            comments = "".join(
                f'<li class="comment"><div class="comment-author">{"قارئ" if not en else "Reader"} {k + 1}</div>'
                f'<div class="comment-content"><p>{COMMENTS[(start + k) % len(COMMENTS)]}</p></div></li>'
                for k in range(2))
            after += f'<section id="comments" class="comments-area"><h3>{"2 comments" if en else "تعليقان"}</h3><ol class="comment-list">{comments}</ol></section>'
        return {"inside": inside, "after": after}

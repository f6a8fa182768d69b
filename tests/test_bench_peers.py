"""The peers benchmark's harness (bench/peers.py): scoring what a tool found against the
mirror's truth, reading its runner's output, and the message when the peers' environment
cannot be made. No network and no peer is needed: the installs are never reached."""
from __future__ import annotations

import json

import pytest

from bench import peers
from bench.common import Finished

TRUTH = [
    {"url": "http://127.0.0.15:8000/news/politics/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7", "canonical_url": None,
     "also_at": ["http://127.0.0.15:8000/amp/news/politics/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7"], "redirects_from": [],
     "text": "قتل عشرة في هجوم على حقل نفط في سوريا"},
    {"url": "http://127.0.0.13:8000/26480/", "canonical_url": "http://127.0.0.13:8000/26480/", "also_at": [],
     "redirects_from": ["http://127.0.0.13:8000/content/26480"], "text": "one two three four"},
    {"url": "http://127.0.0.13:8000/26481/", "also_at": [], "redirects_from": [], "text": "never found"},
]


def test_a_page_is_found_under_any_of_its_urls_and_scored_once_by_its_best_copy():
    docs = [
        # raw Arabic as a sitemap gives it, for the percent-encoded truth
        {"url": "http://127.0.0.15:8000/news/politics/سوريا", "text": "قتل عشرة في هجوم على حقل نفط في سوريا"},
        {"url": "http://127.0.0.15:8000/amp/news/politics/سوريا", "text": "قتل عشرة"},          # worse copy
        {"url": "http://127.0.0.13:8000/content/26480", "text": "one two three four five six"},   # moved URL
        {"url": "http://127.0.0.13:8000/about-us/", "text": "not an article of the truth"},
    ]
    found, f1 = peers.score(TRUTH, docs)
    assert found == 2
    # 1.0 for the first; 2*(4/6)*(4/4)/(4/6+1) = 0.8 for the second
    assert f1 == pytest.approx(0.9, abs=1e-3)
    assert peers.score(TRUTH, []) == (0, None)


def test_body_f1_is_a_bag_of_words_measure():
    assert peers.body_f1("a b c", "a b c") == 1.0
    assert peers.body_f1("x y", "a b") == 0.0
    assert peers.body_f1("a b", "a b c d") == pytest.approx(2 * 1 * 0.5 / 1.5)


def test_the_runner_output_is_read_and_a_broken_line_is_named(tmp_path):
    good = tmp_path / "out.jsonl"
    good.write_text(json.dumps({"url": "u", "text": "t"}) + "\n\n" + json.dumps({"url": "v", "text": "w"}) + "\n",
                    encoding="utf-8")
    assert [d["url"] for d in peers.read_jsonl(good)] == ["u", "v"]
    assert peers.read_jsonl(tmp_path / "missing.jsonl") == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"url": "u"}\n{"url": \n', encoding="utf-8")
    with pytest.raises(peers.PeersError, match=r"bad\.jsonl:2: not a JSON line"):
        peers.read_jsonl(bad)


def test_a_result_has_the_issue_shape_and_counts_only_html_pages():
    requests = [{"status": 200, "method": "GET", "path": p} for p in ("/", "/26480/", "/sitemap.xml", "/feed/",
                                                                       "/robots.txt")]
    requests.append({"status": 404, "method": "GET", "path": "/gone/"})
    done = Finished(code=0, wall_s=2.0, cpu_s=0.5, maxrss_mb=123.4, stderr="")
    out = peers.result("1.0", TRUTH, [{"url": TRUTH[1]["url"], "text": "one two three four"}], done, requests)
    assert set(vars(out)) == {"version", "articles_expected", "articles_found", "body_f1", "wall_s", "pages_per_s",
                              "cpu_ms_per_article", "peak_rss_mb"}
    assert (out.articles_expected, out.articles_found, out.body_f1) == (3, 1, 1.0)
    assert out.pages_per_s == 1.0                 # "/" and "/26480/" in 2 s
    assert out.cpu_ms_per_article == 500.0 and out.peak_rss_mb == 123.4


def test_a_missing_interpreter_gives_a_message_that_says_what_to_do(tmp_path):
    with pytest.raises(peers.PeersError) as err:
        peers.ensure_venv(tmp_path / "venv", python=str(tmp_path / "no-such-python"))
    message = str(err.value)
    assert "cannot create the peers' environment" in message and "RAQIB_PEERS_VENV" in message
    assert "Traceback" not in message


def test_a_failing_step_is_reported_with_what_it_said(tmp_path):
    failing = tmp_path / "python"
    failing.write_text("#!/bin/sh\necho 'No module named venv' >&2\nexit 1\n", encoding="utf-8")
    failing.chmod(0o755)
    with pytest.raises(peers.PeersError, match="No module named venv") as err:
        peers.ensure_venv(tmp_path / "venv", python=str(failing))
    assert "package registry" in str(err.value)
    assert not (tmp_path / "venv").exists()


def test_an_environment_already_made_is_used_as_it_is(tmp_path):
    where = tmp_path / "venv"
    (where / "bin").mkdir(parents=True)
    stamp = where / (".installed-" + "-".join(sorted(peers.PEERS.values())).replace("=", "").replace("/", "_"))
    stamp.touch()
    assert peers.ensure_venv(where, python="/no/such/python") == where / "bin" / "python"


def test_the_command_line_refuses_an_unknown_tool(capsys):
    assert peers.main(["--tools", "raqib,fundus"]) == 2
    assert "no tool named fundus" in capsys.readouterr().err

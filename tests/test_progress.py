"""Per-outlet progress in the log during a long crawl (crawler/engine/progress.py): readable lines by
default, one JSON object per line with `--log-format json`, and nothing for a short crawl."""
from __future__ import annotations

import json
import re
import time

import pytest

from tests.support.crawlrun import AR, crawl, outlet_yaml, write_config
from tests.support.localsite import Site, article_html, listing_html, recent

LINE = re.compile(r"raqib\.progress: local: (\d+) discovered, (\d+) fetched, (\d+) not modified, (\d+) extracted, "
                  r"(\d+) indexed, (\d+) errors so far \((\d+)s\)")


@pytest.fixture
def slow_site(tmp_path, es_url, alias):
    """Ten articles, each taking 0.4 s to serve: a crawl of a few seconds."""
    with Site() as site:
        paths = [f"/news/{i}" for i in range(1, 11)]
        for i, path in enumerate(paths):
            body = article_html(AR[i]["title"], AR[i]["text"], published=recent(1).isoformat()).encode()

            def serve(handler, body=body):
                time.sleep(0.4)
                Site.send(handler, 200, body)
                return 200
            site.add(path, handler=serve)
        site.add("/", listing_html([site.url(p) for p in paths]))

        def config(**settings):
            return write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                                outlets_yaml="outlets:\n" + outlet_yaml("local", site), **settings)
        yield config


def test_a_long_crawl_logs_its_progress_per_outlet(slow_site):
    result = crawl(slow_site(progress_interval="0.5s"))
    assert result.code == 0, result.err
    lines = [tuple(map(int, m.groups())) for m in LINE.finditer(result.err)]
    assert len(lines) >= 2, result.err
    fetched = [line[1] for line in lines]
    assert fetched == sorted(fetched) and fetched[0] < 11      # so far, not the end result
    assert all(line[0] == 10 for line in lines)                # the home page listed all ten
    assert result.outlet("local")["indexed"]["new"] == 10


def test_progress_lines_are_json_objects_with_the_counts_as_fields(slow_site):
    result = crawl(slow_site(progress_interval="0.5s"), "--log-format", "json")
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.err.splitlines() if line.strip()]    # every line is JSON
    progress = [r for r in records if r.get("event") == "crawl_progress"]
    assert len(progress) >= 2
    for r in progress:
        assert r["outlet"] == "local" and r["level"] == "info" and r["logger"] == "raqib.progress"
        assert all(isinstance(r[k], int) for k in ("discovered", "fetched", "not_modified", "extracted", "indexed",
                                                    "errors"))
        assert r["message"].startswith("local: ")
    assert [r["elapsed_s"] for r in progress] == sorted(r["elapsed_s"] for r in progress)
    assert [r["indexed"] for r in progress] == sorted(r["indexed"] for r in progress)


def test_a_short_crawl_logs_no_progress(slow_site):
    result = crawl(slow_site())          # the default interval, 30s, is longer than this crawl
    assert result.code == 0, result.err
    assert "so far" not in result.err and "raqib.progress" not in result.err

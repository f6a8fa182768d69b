"""Running `raqib crawl` as the service does, in its own process, against a test config."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.localsite import Site, article_html, corpus, listing_html, recent

ROOT = Path(__file__).resolve().parents[2]

# Fast but still polite enough for loopback servers: no delay, one retry, short timeouts.
FAST = {
    "download_delay": 0.0, "autothrottle": False, "timeout": 3.0, "retries": 1,
    "retry_backoff": "0.2s", "sitemap_window": 0,
}


@dataclass
class Result:
    code: int
    out: str
    err: str
    stats: dict

    def outlet(self, key: str) -> dict:
        return self.stats["outlets"][key]


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def write_config(directory: Path, *, es_url: str, alias: str, state_dir: Path, outlets_yaml: str | None = None,
                 **crawl) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    values = {**FAST, **crawl}
    lines = ["[crawl]"] + [f"{k} = {_toml(v)}" for k, v in values.items()]
    lines += ["[elasticsearch]", f"url = [{json.dumps(es_url)}]", f"alias = {json.dumps(alias)}", "bulk_size = 50",
              f"crawls_index = {json.dumps(alias + '-crawls')}",   # the alias fixture removes it
              "[state]", f"dir = {json.dumps(str(state_dir))}",
              "[alerts]", f"ledger = {json.dumps(str(state_dir / 'alerts.sqlite3'))}"]
    (directory / "settings.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if outlets_yaml is not None:
        (directory / "outlets.yaml").write_text(outlets_yaml, encoding="utf-8")
    # No alert rules: these tests are about the crawl (alerting has its own tests).
    (directory / "alerts.yaml").write_text("alerts: []\n", encoding="utf-8")
    return directory


def crawl(config_dir: Path, *args: str, timeout: float = 180.0) -> Result:
    stats_path = config_dir / "last-stats.json"
    if stats_path.exists():
        stats_path.unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    env["RAQIB_HOME"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "--config", str(config_dir), "crawl", "--stats-json", str(stats_path), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
    return Result(proc.returncode, proc.stdout, proc.stderr, stats)


SPA = ("snn-alweeam-2015-07-31-1668", "snn-alyaum-2015-07-31-1817", "snn-3alyoum-2015-07-31-0241")


AR = [a for a in corpus() if a["lang"] == "ar" and a["id"] not in SPA]


def outlet_yaml(key: str, site: Site, **extra) -> str:
    lines = [f"  {key}:", f"    name: {key.title()}", f"    home: {site.url('/')}", "    language: ar",
             f"    domains: [{site.host}]",
             f"    article_pattern: '^http://{re.escape(site.host)}:{site.port}/(amp/)?news/\\d+/?$'"]
    for k, v in extra.items():
        lines.append(f"    {k}: {v}")
    return "\n".join(lines) + "\n"


def docs(es, alias, **term):
    es.indices.refresh(index=alias)
    query = {"term": term} if term else {"match_all": {}}
    hits = es.search(index=alias, query=query, size=200).body["hits"]["hits"]
    return {h["_source"]["url"]: h["_source"] for h in hits}


def by_url_and_id(es, alias) -> tuple[dict[str, int], dict[str, int]]:
    """How many stored documents each canonical URL and each document id has, over every
    index behind the alias (a copy in an older index would be a duplicate too)."""
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, query={"match_all": {}}, size=1000, source=["canonical_url"]).body["hits"]["hits"]
    urls: dict[str, int] = {}
    ids: dict[str, int] = {}
    for h in hits:
        urls[h["_source"]["canonical_url"]] = urls.get(h["_source"]["canonical_url"], 0) + 1
        ids[h["_id"]] = ids.get(h["_id"], 0) + 1
    return urls, ids


def site_with_articles(site: Site, n: int) -> list[str]:
    paths = [f"/news/{i}" for i in range(1, n + 1)]
    for i, path in enumerate(paths):
        row = AR[i % len(AR)]
        site.add(path, article_html(f"{row['title']} ({i})", row["text"], published=recent(1).isoformat()))
    site.add("/", listing_html([site.url(p) for p in paths]))
    return paths


@contextmanager
def syndicated_pair(config_root: Path, *, es_url: str, alias: str) -> Iterator[tuple[Site, Site, Path]]:
    """Two outlets ("one", "two") on their own hosts, each serving one copy of the same
    syndicated story (two agency rewrites of one SPA dispatch) at /news/1, and the config
    directory that crawls them."""
    spa = [a for a in corpus() if a["id"] in SPA[:2]]
    with Site("127.0.0.1") as one, Site("127.0.0.2") as two:
        for site, row in ((one, spa[0]), (two, spa[1])):
            site.add("/news/1", article_html(row["title"], row["text"], published=recent(1).isoformat()))
            site.add("/", listing_html([site.url("/news/1")]))
        yaml = "outlets:\n" + outlet_yaml("one", one) + outlet_yaml("two", two)
        yield one, two, write_config(config_root / "c", es_url=es_url, alias=alias, state_dir=config_root / "s",
                                     outlets_yaml=yaml)


def assert_indexed_once(es, alias, site: Site, paths: list[str]) -> None:
    """Each page of `paths` on `site` is one document, by canonical URL and by id, written once."""
    urls, ids = by_url_and_id(es, alias)
    stored = docs(es, alias)
    assert set(stored) == {site.url(p) for p in paths}
    assert len(ids) == len(paths) and set(urls.values()) == {1} and set(ids.values()) == {1}
    assert all(d["version"] == 1 for d in stored.values())

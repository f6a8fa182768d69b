"""raqib on a two-node Elasticsearch cluster from the same distribution, on loopback: the index
gets a replica, the client reaches every node (listed, or found by sniffing), and a crawl of
the mirror goes on indexing when one node is stopped in the middle of it, losing nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

from crawler.mirror import Mirror
from crawler.ops.esnode import Node, free_port
from pipelines.es import connect
from pipelines.index import ensure_index
from pipelines.paths import cache_dir
from pipelines.urls import canonicalize
from tests.support.crawlrun import ROOT, write_config

pytestmark = pytest.mark.slow
CHANNELS = ("home", "feed", "sitemap", "section")


@pytest.fixture(scope="module")
def pair():
    """Node `a` (master-eligible, data) and node `b` (data only: stopping it never costs the
    cluster its master), joined into one cluster over their transport ports."""
    name = f"raqib-pair-{uuid.uuid4().hex[:6]}"
    ta, tb = free_port(), free_port()
    common = {"discovery.seed_hosts": [f"127.0.0.1:{ta}"], "cluster.initial_master_nodes": ["pair-a"]}
    nodes = {}
    for key, transport, roles in (("a", ta, ["master", "data", "ingest"]), ("b", tb, ["data", "ingest"])):
        port = free_port()
        nodes[key] = Node(port=port, base_dir=cache_dir() / "nodes" / f"{name}-{key}", cluster_name=name,
                          node_name=f"pair-{key}", heap="512m", single_node=False,
                          settings={**common, "transport.port": transport, "node.roles": roles})
    try:
        for node in nodes.values():
            node.start(timeout=300)
        client = connect(nodes["a"].url)
        deadline = time.monotonic() + 120
        while client.cluster.health().body["number_of_nodes"] < 2:
            assert time.monotonic() < deadline, "node b did not join node a"
            time.sleep(1)
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()
            shutil.rmtree(node.dir, ignore_errors=True)


def test_the_index_has_a_replica_and_sniffing_finds_every_node(pair):
    alias = f"raqib-pair-{uuid.uuid4().hex[:6]}"
    client = connect(pair["b"].url, sniff=True)                  # one URL given
    nodes = {n.base_url for n in client.transport.node_pool.all()}
    assert nodes == {pair["a"].url, pair["b"].url}
    index = ensure_index(client, alias)
    settings = client.indices.get_settings(index=index).body[index]["settings"]["index"]
    assert settings["number_of_replicas"] == "1"
    health = client.cluster.health(index=index, wait_for_status="green", timeout="60s").body
    assert health["status"] == "green" and health["active_shards"] == 2
    client.indices.delete(index=f"{alias}-*")
    client.indices.delete_index_template(name=alias)


def test_a_node_stopped_mid_crawl_stops_nothing(pair, tmp_path):
    a, b = pair["a"], pair["b"]
    alias = f"raqib-pair-{uuid.uuid4().hex[:6]}"
    watcher = connect(a.url)
    with Mirror() as m:
        # b first in the list: the crawl is talking to the node that goes away
        config = write_config(tmp_path / "c", es_url=b.url, alias=alias, state_dir=tmp_path / "s", retries=2,
                              download_delay=0.05)
        settings = config / "settings.toml"
        settings.write_text(settings.read_text().replace(f'url = ["{b.url}"]', f'url = ["{b.url}", "{a.url}"]'))
        m.write_config(config)
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "crawl", "--json"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")})
        try:
            deadline = time.monotonic() + 180
            while True:
                assert time.monotonic() < deadline, "the crawl never indexed anything"
                assert proc.poll() is None, proc.communicate()
                if watcher.indices.exists_alias(name=alias):
                    watcher.indices.refresh(index=alias)
                    if watcher.count(index=alias).body["count"] >= 20:
                        break
                time.sleep(0.3)
            health = watcher.cluster.health(index=alias).body
            assert health["status"] == "green" and health["active_shards"] == 2     # a copy on each node
            stopping = threading.Thread(target=b.stop)                            # SIGTERM, while the crawl writes
            stopping.start()
            out, err = proc.communicate(timeout=300)
            stopping.join()
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err[-3000:]
        report = json.loads(out[out.index("{"):out.rindex("}") + 1])
        assert "index_unavailable" not in json.dumps(report["outlets"]), report["index"]
        watcher.indices.refresh(index=alias)
        hits = watcher.search(index=alias, size=1000, query={"match_all": {}}).body["hits"]["hits"]
        urls = [canonicalize(h["_source"]["url"]) for h in hits]
        truth = {canonicalize(e["url"]) for o in m.outlets for e in m.truth(o, channels=CHANNELS)}
        assert len(urls) == len(set(urls)) and set(urls) == truth
        assert all(h["_source"]["version"] == 1 for h in hits)
        assert watcher.cluster.health().body["number_of_nodes"] == 1

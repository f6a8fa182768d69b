"""What a user is told when the fleet cannot work as asked: one clear line, never a traceback,
never the Redis password."""
from __future__ import annotations

from crawler.fleet.members import Fleet, connect


def with_state(config_dir, text: str) -> None:
    settings = config_dir / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("[state]\n", f"[state]\n{text}\n"), encoding="utf-8")


def test_a_worker_needs_redis_and_takes_no_crawl_options(raqib, monkeypatch):
    monkeypatch.delenv("RAQIB_REDIS_URL", raising=False)
    code, out, err = raqib("crawl", "--worker")
    assert code == 3 and "--worker needs the shared state in Redis" in err and "Traceback" not in err
    code, out, err = raqib("crawl", "--worker", "--outlet", "almayadeen", "--max-pages", "3")
    assert code == 2 and "--outlet, --max-pages" in err


def test_an_unreachable_redis_is_named_without_its_password(raqib, config_dir):
    with_state(config_dir, 'redis_url = "redis://raqib:hunter2-redis@127.0.0.1:1/0"')
    for args in (("crawl", "--outlet", "almayadeen"), ("crawl", "--worker"), ("run",)):
        code, out, err = raqib(*args)
        assert code == 4, (args, err)
        assert "cannot reach Redis at redis://127.0.0.1:1/0" in err and "redis_url" in err
        assert "hunter2" not in out + err and "Traceback" not in err


def test_an_outlet_crawled_elsewhere_in_the_fleet_is_not_crawled_twice(raqib, config_dir, redis_url):
    with_state(config_dir, f'redis_url = "{redis_url}"')
    other = Fleet(connect(redis_url))
    lock = other.lock("crawl:almayadeen")
    assert lock.acquire()
    try:
        code, out, err = raqib("crawl", "--outlet", "almayadeen", "--no-alerts")
        assert code == 1
        assert f"almayadeen is being crawled by {other.member.id} in the fleet" in err and "Traceback" not in err
    finally:
        lock.release()


def test_a_redis_that_refuses_writes_from_the_start_is_one_line(raqib, config_dir):
    """Redis full (maxmemory, noeviction) before anything is fetched: a crawl, a worker and the
    service say so in one line with what to do, and stop (the service at start: it could keep
    nothing), rather than take the full Redis for another holder of the outlet's lock."""
    from tests.support.redisserver import RedisServer

    redis = RedisServer(password="hunter3-redis")
    client = redis.client()
    try:
        with_state(config_dir, f'redis_url = "{redis.url}"')
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")
        for args in (("crawl", "--outlet", "almayadeen", "--no-alerts"), ("crawl", "--worker"), ("run",)):
            code, out, err = raqib(*args)
            assert code in (1, 4), (args, code, err)
            assert "Traceback" not in err and "hunter3" not in out + err, err
            assert f"Redis at redis://127.0.0.1:{redis.port}/0" in err and "maxmemory" in err, err
            assert "give it more memory" in err, err
    finally:
        client.close()
        redis.stop()

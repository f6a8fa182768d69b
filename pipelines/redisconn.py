"""The checked Redis client that the fleet's state, frontier, locks and the shared alert
ledger all use. It sits below both layers: the alert ledger (pipelines/alerts) is handed
the same kind of client the crawl uses, without importing the crawler.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipelines.es import ClusterError, redact_url, register_secret

if TYPE_CHECKING:
    import redis


def is_redis_error(exc: BaseException | None) -> bool:
    """Whether `exc` is an error of the Redis client. Such an error exists only once the client
    is loaded, which a process without a fleet never does: the module is looked up, not
    imported (importing it cost every crawl ~60 ms of start-up)."""
    errors = sys.modules.get("redis.exceptions")
    return errors is not None and isinstance(exc, errors.RedisError)


class FleetError(ClusterError):
    """Redis, which the fleet shares, cannot be used. (A ClusterError: like an unreachable
    Elasticsearch it stops a command with one clear line and exit code 4.)"""


def connect(url: str, *, timeout: float = 10.0) -> redis.Redis:
    """A checked Redis client for `url` (redis://, rediss://, unix://). Transient connection
    errors are retried with back-off; a Redis that cannot be reached at all is a FleetError
    that names it (without its password) and says what to do."""
    try:
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry
    except ImportError:
        raise FleetError("[state] redis_url is set but the Redis client is not installed: "
                         "pip install 'raqib[redis]'") from None
    parts = urlsplit(url)
    if parts.password:
        register_secret(parts.password)
    where = redact_url(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise FleetError(f"[state] redis_url {where!r} is not a Redis URL; expected redis://HOST:PORT/DB, "
                         "rediss://… (TLS) or unix:///path/to/socket")
    try:
        # asked once, without retries: a wrong URL is reported at once, not after the back-off
        probe = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                     retry=Retry(ExponentialBackoff(), 0))
        try:
            probe.ping()
        finally:
            probe.close()
        # the client raqib works with rides out a blip (a Redis restart, a failover) by retrying
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 6),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])
    except redis.exceptions.AuthenticationError:
        raise FleetError(f"Redis at {where} refused the credentials in [state] redis_url (or $RAQIB_REDIS_URL); "
                         "check the user name and password") from None
    except redis.exceptions.ResponseError as exc:
        raise FleetError(f"Redis at {where} refused raqib: {exc}") from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError, ValueError) as exc:
        raise FleetError(f"cannot reach Redis at {where} ({exc}). Start it, or fix [state] redis_url / "
                         "$RAQIB_REDIS_URL; without a Redis URL raqib keeps its state on this machine") from None
    return client

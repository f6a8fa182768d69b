"""Scrapy's settings, built from `settings.toml`: the one place where raqib's politeness and
limits become Scrapy's knobs.

What replaces a Scrapy default, and why:
* robots.txt: `crawler.engine.middlewares.RobotsMiddleware` instead of Scrapy's, because RFC 9309
  says a robots.txt that answers 5xx means "disallow everything" (Scrapy allows everything),
  its Sitemap: lines feed discovery, its Crawl-delay is honoured, and refusals are counted
  per outlet.
* retries: `crawler.engine.middlewares.PoliteRetryMiddleware` pauses the whole host after a 5xx, a
  429 or a timeout (exponential back-off, or the server's Retry-After), where Scrapy's only
  re-queues the request.
* cookies are off: news pages need none, and a crawler that keeps them is tracked.
"""
from __future__ import annotations

from typing import Any

from pipelines.fetchrules import MAX_REDIRECTS, FetchRules
from pipelines.settings import Settings

RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]


def scrapy_settings(cfg: Settings, *, log_level: str = "WARNING") -> dict[str, Any]:
    crawl = cfg["crawl"]
    rules = FetchRules.from_settings(cfg)     # shared with the outlet probe (crawler/probe/)
    delay = rules.delay
    return {
        "BOT_NAME": "raqib",
        "USER_AGENT": rules.user_agent,
        "DEFAULT_REQUEST_HEADERS": rules.headers(),
        # politeness
        "ROBOTSTXT_OBEY": False,             # crawler.engine.middlewares.RobotsMiddleware does it (see above)
        "CONCURRENT_REQUESTS": int(crawl["concurrency"]),
        "CONCURRENT_REQUESTS_PER_DOMAIN": int(crawl["concurrency_per_domain"]),
        "DOWNLOAD_DELAY": delay,
        "AUTOTHROTTLE_ENABLED": bool(crawl["autothrottle"]),
        "AUTOTHROTTLE_START_DELAY": max(delay, 1.0) if delay else 0.0,
        "AUTOTHROTTLE_MAX_DELAY": rules.max_delay,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl["autothrottle_target_concurrency"]),
        "COOKIES_ENABLED": False,
        # failures
        "DOWNLOAD_TIMEOUT": rules.timeout,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": int(crawl["retries"]),
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        "RETRY_GIVE_UP_LOG_LEVEL": "INFO",   # counted per outlet in the report instead
        "RAQIB_RETRY_BACKOFF": float(crawl["retry_backoff"]),
        "RAQIB_RETRY_AFTER_MAX": float(crawl["retry_after_max"]),
        "REDIRECT_MAX_TIMES": MAX_REDIRECTS,
        "HTTPERROR_ALLOWED_CODES": [304],    # conditional GETs answer 304; callbacks handle it
        # size caps: a larger body is abandoned and counted as too_large
        "DOWNLOAD_MAXSIZE": rules.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RAQIB_SITEMAP_MAXSIZE": rules.max_sitemap_bytes,
        "RAQIB_MAX_DECOMPRESSED": rules.max_decompressed,   # what a .xml.gz sitemap may inflate to
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        # components
        "DOWNLOAD_HANDLERS": {
            "http": "crawler.engine.middlewares.GuardedHTTPDownloadHandler",
            "https": "crawler.engine.middlewares.GuardedHTTPDownloadHandler",
        },
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawler.engine.middlewares.HostGuardMiddleware": 60,
            "crawler.engine.middlewares.RobotsMiddleware": 100,
            "crawler.engine.middlewares.PoliteRetryMiddleware": 550,
            "crawler.engine.middlewares.BlockDetectionMiddleware": 585,
            # the same meta-refresh redirects, read from the page's first bytes (crawler/engine/meta_refresh.py)
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            "crawler.engine.meta_refresh.HeadMetaRefreshMiddleware": 580,
        },
        "ITEM_PIPELINES": {
            "crawler.engine.item_pipelines.ExtractPipeline": 100,
            "crawler.engine.item_pipelines.EnrichPipeline": 200,
            "crawler.engine.item_pipelines.DedupePipeline": 300,
            "crawler.engine.item_pipelines.IndexPipeline": 400,
        },
        "EXTENSIONS": {
            "crawler.report.stats.StatsExtension": 100,
            "crawler.engine.progress.ProgressExtension": 110,
            "crawler.engine.guard.StorageGuard": 110,          # a crawl state it cannot write stops the crawl
            "crawler.engine.shutdown.PromptStop": 120,         # SIGTERM: nothing queued is sent any more
            "scrapy.extensions.telnet.TelnetConsole": None,
        },
        # the CPU-bound steps (extraction, enrichment) and the cluster calls run in threads
        "REACTOR_THREADPOOL_MAXSIZE": 4,
        # Scrapy starts this many asyncio tasks for the output of every callback, whatever its
        # size; an article page yields one item, a sitemap requests that are only queued. The
        # default (100) cost the reactor about a tenth of its CPU (bench/results/crawl.json).
        "CONCURRENT_ITEMS": 4,
        # A developer's check that re-reads a callback's source (inspect + ast) whenever its
        # cache of bound methods misses: about 1 % of a crawl's CPU, for a warning that only
        # concerns editing the spider.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        "RAQIB_PROGRESS_INTERVAL": float(crawl["progress_interval"]),   # crawler/engine/progress.py
        "LOG_LEVEL": log_level,
        "LOGSTATS_INTERVAL": 60.0,
        "TELNETCONSOLE_ENABLED": False,
    }

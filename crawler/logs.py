"""Logging: readable lines by default, one JSON object per line with `--log-format json`, and
never a secret in either (a filter redacts credentials from every record)."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from pipelines.es import redact

        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with `extra={"fields": {...}}` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(fmt: str = "text", verbosity: int = 0) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(_RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter is only useful when debugging raqib itself.
    for noisy in ("elasticsearch", "urllib3", "scrapy", "twisted", "apscheduler", "trafilatura", "htmldate", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbosity < 2 else logging.DEBUG)
    # The transport logs every retried connection with a traceback; raqib reports the outcome
    # itself (pipelines/es.py), once and readably.
    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL if verbosity < 2 else logging.DEBUG)

"""Logging: readable lines by default, one JSON object per line with `--log-format json`, and
never a secret in either (a filter redacts credentials from every record)."""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from pipelines.es import redact
from pipelines.safetext import clean


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class TextFormatter(logging.Formatter):
    """The readable line, redacted whole: the filter cleans the message, but a traceback or
    stack printed below it can carry a secret in an exception's text. It goes to a terminal,
    and a message may quote a page (a URL, a title in an error): control sequences and bidi
    overrides are taken out (pipelines/safetext.py)."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(redact(super().format(record)))


def _scrub(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with `extra={"fields": {...}}` are merged in.
    Every string in it is redacted (fields and exception texts too), before encoding so that
    JSON escaping cannot hide a secret from the redaction."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(_scrub(data), ensure_ascii=False, default=str)


def setup_logging(fmt: str = "text", verbosity: int = 0) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
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

"""The one error a full (or read-only) disk raises, wherever raqib writes its own files:
the crawl state, the spool, the alert ledger. Both layers raise and catch it, so it lives
here, at the bottom, with the JSON form a document is kept in (`doc_json`).
"""
from __future__ import annotations

import errno
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class StateWriteError(RuntimeError):
    """The crawl state (or the spool in it) cannot be written: the disk is full, the file is
    too large for the process's limit, or the directory is read-only. A crawl that meets it
    stops, because every article it fetched from then on could be neither spooled nor
    remembered; what it had not written yet is fetched again by the next crawl."""


_OS_FAULTS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR, errno.EIO}
# What SQLite says when the storage, not the statement, is at fault.
_STORAGE_FAULTS = ("disk is full", "disk i/o error", "readonly database", "unable to open database",
                   "file is not a database", "out of memory")


def storage_fault(exc: BaseException, path: Path | str) -> StateWriteError | None:
    """A StateWriteError that names `path` and what to do, when `exc` is a storage fault."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.Error) and any(f in text for f in _STORAGE_FAULTS) or \
            isinstance(exc, OSError) and exc.errno in _OS_FAULTS:
        why = str(exc) if isinstance(exc, sqlite3.Error) else (exc.strerror or str(exc))
        return StateWriteError(
            f"cannot write the crawl state in {path}: {why}. The crawl stopped so that no fetched article is "
            f"dropped; free disk space (or make the directory writable, or raise the file size limit) and run "
            f"the crawl again: what was not written is fetched again, nothing is indexed twice.")
    return None


def doc_json(doc: Mapping[str, Any]) -> str:
    """A document as JSON text, as the crawl's spool keeps it and a bulk request can send it
    (`bulk_index(serialized=…)`): one serialization for both. A lone surrogate is kept,
    escaped, rather than refused."""
    try:
        data = json.dumps(doc, ensure_ascii=False, default=str)
        data.encode("utf-8")
    except UnicodeEncodeError:
        data = json.dumps(doc, default=str)
    return data

"""Documents Elasticsearch refused: kept, with the reason, until someone replays them.

A document the cluster rejects (a mapping conflict, a field too large for a limit an operator
set) would be rejected again on every retry, so it must not stay in the spool; dropping it
would lose an article. It goes to `dead-letters.jsonl` in the state directory instead, one
JSON object per line:

    {"time": ISO UTC, "doc_id", "outlet", "key" (canonical URL), "url", "alias",
     "reason": what the cluster said, "doc": the document as it was sent}

The line is written and synced before the document leaves the spool, so a crash in between
leaves it in both places (a replay then finds it already written; never in neither). Several
crawl processes may append at once: each append and each rewrite holds an exclusive lock on
the file.

`replay` sends the documents again, after the cause has been fixed (the mapping corrected,
the limit raised): what the cluster accepts leaves the file, what it still refuses stays with
the new reason. `raqib dead-letters list` and `raqib dead-letters replay` are the commands.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.index import bulk_index

FILENAME = "dead-letters.jsonl"


def path_in(state_dir: Path | str) -> Path:
    return Path(state_dir) / FILENAME


@dataclass
class ReplayResult:
    written: list[str] = field(default_factory=list)           # doc ids the cluster took
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (doc id, reason) still refused
    unreadable: int = 0                                         # lines that are not a dead letter


class DeadLetters:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on a file beside the letters (not on the letters themselves: a
        replay replaces that file, and a lock on the replaced one would guard nothing)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, letters: Iterable[dict[str, Any]]) -> int:
        """Append letters (each with at least doc_id, reason and doc) and sync them to disk.
        Raises OSError when the file cannot be written (a full disk): the caller keeps the
        documents in the spool then."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        lines = [_line({"time": now, **letter}) for letter in letters]
        if not lines:
            return 0
        with self._locked(), open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        return len(lines)

    def read(self) -> tuple[list[dict[str, Any]], list[str]]:
        """(letters, unreadable lines), oldest first; a document set aside twice (a crash
        between writing its letter and leaving the spool) is listed once, as last written."""
        if not self.path.exists():
            return [], []
        with self._locked():
            return _parse(self._raw())

    def _raw(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def count(self) -> int:
        return len(self.read()[0])

    def replay(self, client, default_alias: str, *, only: set[str] | None = None, bulk_size: int = 200) -> ReplayResult:
        """Send the letters (those in `only`, if given) to the cluster again; keep in the file
        what it still refuses. Connection failures raise ClusterError and change nothing."""

        result = ReplayResult()
        with self._locked():      # held while sending: a crawl appending meanwhile waits
            letters, bad = _parse(self._raw())
            result.unreadable = len(bad)
            todo = [x for x in letters if only is None or x["doc_id"] in only]
            outcome: dict[str, str | None] = {}
            by_alias: dict[str, list[dict[str, Any]]] = {}
            for letter in todo:
                by_alias.setdefault(letter.get("alias") or default_alias, []).append(letter)
            for alias, group in by_alias.items():
                for i in range(0, len(group), bulk_size):
                    batch = group[i:i + bulk_size]
                    res = bulk_index(client, [(x["doc_id"], x["doc"]) for x in batch], alias)
                    for doc_id in res.created + res.updated + res.unchanged:
                        outcome[doc_id] = None
                    for doc_id, reason in res.rejected + res.retry:
                        outcome[doc_id] = reason
            now = datetime.now(UTC).isoformat(timespec="seconds")
            kept = []
            for letter in letters:
                if letter["doc_id"] not in outcome:
                    kept.append(letter)
                    continue
                refused = outcome[letter["doc_id"]]
                if refused is None:
                    result.written.append(letter["doc_id"])
                else:
                    result.rejected.append((letter["doc_id"], refused))
                    kept.append({**letter, "reason": refused, "time": now,
                                 "replays": int(letter.get("replays") or 0) + 1})
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in bad) + "".join(_line(x) for x in kept))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        return result


def summary(state_dir: Path | str, added: int = 0) -> dict[str, Any]:
    """For a report: how many letters this run added, how many wait in all, and where."""
    path = path_in(state_dir)
    try:
        waiting = DeadLetters(path).count() if path.exists() else 0
    except OSError:
        waiting = added
    return {"added": added, "waiting": waiting, "file": str(path)}


def _line(letter: dict[str, Any]) -> str:
    text = json.dumps(letter, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:      # a lone surrogate: escaped rather than refused
        text = json.dumps(letter, default=str)
    return text + "\n"


def _parse(raw: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(letters, the lines that are none: cut short by a crash mid-write, or edited by hand)."""
    letters: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            letter = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(letter, dict) or not letter.get("doc_id") or not isinstance(letter.get("doc"), dict):
            bad.append(line)
            continue
        letters.pop(letter["doc_id"], None)
        letters[letter["doc_id"]] = letter
    return list(letters.values()), bad

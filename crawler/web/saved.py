"""Saved searches and the alert rules made from them, both in the state directory so a
restart keeps them: searches in web-searches.json, rules in alerts.web.yaml (the rule model
and validation of alerts.yaml; merged with it wherever rules are loaded, so `raqib alerts
list` and the evaluator see them). Writes are atomic (a temporary file renamed over)."""
from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crawler.web.queries import SearchParams
from pipelines.alerts.rules import NAME_RE, parse_rules, saved_rules_path
from pipelines.configfile import ConfigError

SEARCHES_FILE = "web-searches.json"
DEFAULT_CHANNEL = {"type": "file", "path": "alerts.jsonl"}
_lock = threading.Lock()


@dataclass(frozen=True)
class SavedSearch:
    name: str
    query: str            # the search's URL query string
    created_at: float


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not re.fullmatch(NAME_RE, name):
        raise ValueError("a name is 1 to 64 letters (a-z, A-Z), digits, '.', '_' or '-', starting with a letter or "
                         "digit, e.g. isis-deir-ezzor")
    return name


class Store:
    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.searches_path = self.state_dir / SEARCHES_FILE
        self.rules_path = saved_rules_path(self.state_dir)

    # --- searches ---
    def searches(self) -> list[SavedSearch]:
        try:
            data = json.loads(self.searches_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.searches_path}: cannot be read ({exc}); fix or delete the file") from None
        return [SavedSearch(s["name"], s["query"], float(s.get("created_at", 0))) for s in data.get("searches", [])]

    def search(self, name: str) -> SavedSearch | None:
        return next((s for s in self.searches() if s.name == name), None)

    def save_search(self, name: str, params: SearchParams) -> SavedSearch:
        name = check_name(name)
        with _lock:
            found = [s for s in self.searches() if s.name != name]
            saved = SavedSearch(name, params.url("")[1:], time.time())
            found.append(saved)
            _atomic_write(self.searches_path, json.dumps(
                {"searches": [s.__dict__ for s in found]}, ensure_ascii=False, indent=1))
        return saved

    def delete_search(self, name: str) -> None:
        with _lock:
            found = [s for s in self.searches() if s.name != name]
            _atomic_write(self.searches_path, json.dumps({"searches": [s.__dict__ for s in found]},
                                                         ensure_ascii=False, indent=1))

    # --- rules ---
    def rule_entries(self) -> list[dict]:
        if not self.rules_path.exists():
            return []
        data = yaml.safe_load(self.rules_path.read_text(encoding="utf-8")) or {}
        return list(data.get("alerts") or [])

    def add_rule(self, name: str, params: SearchParams, *, email: str = "", taken=(), outlets=None,
                 topics=None) -> dict:
        """The search as a rule: its words as the rule's query, topics as topics_any (a
        search's topic filter matches any of them), outlets and languages as they are.
        Validated with the loader's own checks before anything is written."""
        name = check_name(name)
        if name in set(taken):
            raise ValueError(f"a rule named {name!r} exists already (in alerts.yaml or from the web); choose another name")
        match: dict[str, Any] = {}
        if params.topic:
            match["topics_any"] = list(params.topic)
        if params.outlet:
            match["outlets"] = list(params.outlet)
        if params.lang:
            match["languages"] = list(params.lang)
        if params.q:
            match["query"] = params.q
        if not match:
            raise ValueError("an empty search matches everything: add words or filters before making it an alert")
        notify: list[dict[str, Any]] = [dict(DEFAULT_CHANNEL)]
        if email.strip():
            notify.append({"type": "email", "to": [email.strip()]})
        entry = {"name": name, "match": match, "notify": notify, "digest": 0}
        with _lock:
            entries = [e for e in self.rule_entries() if e.get("name") != name] + [entry]
            doc = {"alerts": entries}
            parse_rules(doc, str(self.rules_path), outlets=outlets, topics=topics)    # ConfigError if wrong
            _atomic_write(self.rules_path, "# Alert rules saved from `raqib web` (same format as alerts.yaml).\n"
                          + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
        return entry

    def delete_rule(self, name: str) -> bool:
        with _lock:
            entries = self.rule_entries()
            kept = [e for e in entries if e.get("name") != name]
            if len(kept) == len(entries):
                return False
            _atomic_write(self.rules_path, "# Alert rules saved from `raqib web` (same format as alerts.yaml).\n"
                          + yaml.safe_dump({"alerts": kept}, allow_unicode=True, sort_keys=False))
        return True

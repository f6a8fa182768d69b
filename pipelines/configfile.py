"""Loading configuration files safely and reporting every problem at once.

A configuration mistake should cost the user one edit, not one run per typo: validators
collect `Problem`s and raise a single `ConfigError` listing them all, each naming the file,
the key path and what was expected.
"""
from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.paths import shipped_config_dir

# Every file a config directory may hold (entities.yaml: the gazetteer behind topics.yaml).
CONFIG_FILES = ("outlets.yaml", "topics.yaml", "entities.yaml", "alerts.yaml", "settings.toml")


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration; `str()` lists them one per line."""

    def __init__(self, problems: Iterable[Problem | str] | Problem | str):
        self.problems: list[Problem | str] = (
            [problems] if isinstance(problems, (Problem, str)) else list(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(Problem(str(path), "", f"is not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8")) from None
    except OSError as exc:
        raise ConfigError(Problem(str(path), "", f"cannot be read: {exc.strerror}")) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(str(path), exc)) from None


def yaml_problem(file: str, exc: yaml.YAMLError) -> Problem:
    """Where the mistake is. For something left open (a quote, a [ or {) that is where it
    starts, PyYAML's context mark, with the place it gave up (often the end of the file) as
    the second; for anything else the place it gave up, with the construct it was in."""
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    problem, problem_mark = getattr(exc, "problem", None) or str(exc), getattr(exc, "problem_mark", None)
    if context and context_mark is not None:
        if "scanning" in context or "flow" in context:
            later = f" (at {_at(problem_mark)})" if problem_mark is not None else ""
            return Problem(file, _at(context_mark), f"is not valid YAML: {context} that starts here, "
                                                    f"{problem}{later}: is a quote or bracket left open?")
        if problem_mark is not None:
            return Problem(file, _at(problem_mark),
                           f"is not valid YAML: {problem} ({context} that starts at {_at(context_mark)})")
    return Problem(file, _at(problem_mark) if problem_mark is not None else "", f"is not valid YAML: {problem}")


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def load_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(Problem(str(path), "", f"cannot be read: {exc.strerror}")) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(Problem(str(path), "", f"is not valid TOML: {exc}")) from None


def config_dir_from_env(cli_value: str | None = None) -> Path | None:
    """The configuration directory named by `--config` or RAQIB_CONFIG, checked.

    A mistyped location must never quietly mean "the shipped configuration": that crawls
    real outlets nobody asked for. So a name that is not an existing directory, or a
    directory holding a misnamed config file (`outlet.yaml`, `alerts.yml`), is an error.
    Files simply absent from an existing directory still fall back to the shipped ones.
    """
    if cli_value:
        value, origin = cli_value, "--config"
    else:
        value, origin = os.environ.get("RAQIB_CONFIG", ""), "$RAQIB_CONFIG"
    if not value:
        return None
    path = Path(value).expanduser()
    check_config_dir(path, origin)
    return path


def check_config_dir(path: Path, origin: str = "--config") -> None:
    names = ", ".join(CONFIG_FILES)
    if not path.exists():
        raise ConfigError(Problem(f"{origin} {path}", "", f"no such directory; give the directory that holds "
                                  f"any of {names} (leave it out to use the shipped configuration)"))
    if not path.is_dir():
        raise ConfigError(Problem(f"{origin} {path}", "", f"is a file, not a directory; give the directory "
                                  f"that holds it (config files are found by name: {names})"))
    problems = [Problem(str(path / name), "", f"is not a name raqib reads, so the shipped {expected} would be "
                        f"used instead; rename it to {expected}")
                for name, expected in misnamed_files(path)]
    if problems:
        raise ConfigError(problems)


def misnamed_files(directory: Path) -> list[tuple[str, str]]:
    """(file, the config name it was probably meant as) for each near miss in `directory`
    whose intended file is absent: another extension (alerts.yml) or a close spelling
    (outlet.yaml, Settings.toml)."""
    found = []
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name in CONFIG_FILES or not entry.is_file() or name.startswith("."):
            continue
        stem, _, ext = name.rpartition(".")
        if ext.lower() not in ("yaml", "yml", "toml", "json", "ini", "txt"):
            continue
        lowered = f"{stem.lower()}.{'yaml' if ext.lower() == 'yml' else ext.lower()}"
        match = lowered if lowered in CONFIG_FILES else None
        match = match or next(iter(difflib.get_close_matches(lowered, CONFIG_FILES, n=1, cutoff=0.8)), None)
        if match is None:
            stems = {c.rpartition(".")[0]: c for c in CONFIG_FILES}
            close = difflib.get_close_matches(stem.lower(), list(stems), n=1, cutoff=0.8)
            match = stems[close[0]] if close else None
        if match and not (directory / match).exists():   # beside the real file it is a copy, not a typo
            found.append((name, match))
    return found


def resolve(name: str, config_dir: Path | None) -> Path:
    """The user's file when their config directory has it, else the shipped one."""
    if config_dir is not None:
        candidate = config_dir / name
        if candidate.exists():
            return candidate
    return shipped_config_dir() / name


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float | None:
    """'15m', '2h', '1d', '90s' or a number of seconds; None when unparseable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    return None


def span(seconds: float) -> str:
    """A duration as people read it in a log line or `raqib status` (90s, 15m, 2.0h, 3.0d):
    the printing side of parse_duration."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


class Checker:
    """Collects problems while walking a parsed file; small helpers keep validators flat."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def mapping(self, value: Any, path: str, *, allowed: Iterable[str], required: Iterable[str] = ()) -> dict:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.add(path, f"expected a mapping of keys, got {type_name(value)}")
            return {}
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                hint = _close_match(str(key), allowed)
                self.add(join(path, key), "unknown key" + (f"; did you mean {hint!r}?" if hint else f"; allowed: {', '.join(allowed)}"))
        for key in required:
            if value.get(key) in (None, "", [], {}):
                self.add(join(path, key), "is required")
        return value

    def string(self, value: Any, path: str, *, pattern: str | None = None, what: str = "a string") -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(path, f"expected {what}, got {type_name(value)}")
            return None
        if pattern and not re.fullmatch(pattern, value):
            self.add(path, f"expected {what}, got {value!r}")
            return None
        return value

    def url(self, value: Any, path: str) -> str | None:
        return self.string(value, path, pattern=r"https?://[^\s/?#]+(?:[/?#]\S*)?", what="an http(s) URL")

    def string_list(self, value: Any, path: str, *, item=None) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.add(path, f"expected a list, got {type_name(value)}")
            return []
        out = []
        for i, v in enumerate(value):
            checked = (item or self.string)(v, f"{path}[{i}]")
            if checked is not None:
                out.append(checked)
        return out

    def number(self, value: Any, path: str, *, minimum: float | None = None, maximum: float | None = None, integer: bool = False):
        if value is None:
            return None
        ok_type = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            self.add(path, f"expected {'an integer' if integer else 'a number'}, got {type_name(value)}")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.add(path, f"expected a number {bounds}, got {value}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            self.add(path, f"expected true or false, got {type_name(value)}")
            return None
        return value

    def duration(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds is None:
            self.add(path, f"expected a duration such as 90s, 15m, 2h or 1d, got {value!r}")
        return seconds

    def regex(self, value: Any, path: str) -> re.Pattern | None:
        text = self.string(value, path, what="a regular expression")
        if text is None:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            self.add(path, f"is not a valid regular expression: {exc}")
            return None

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _close_match(key: str, allowed: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
    return found[0] if found else None

"""`alerts.yaml`: who hears about which new articles, and through which channels.

A rule is data: match conditions (topics, outlets, languages, an optional Lucene query) and a
list of channels. The file is validated as a whole before anything is sent; every problem is
reported at once with the rule and key it concerns, and unknown keys are errors, so a typo
never silently turns a rule off.

The structured conditions are checked twice in two forms that must agree: `Rule.accepts`
in Python, on a freshly indexed document (no round trip to the cluster for the common case),
and `rule_query` as an Elasticsearch query (for the optional Lucene `query`, for `raqib alerts
list`, and for a cluster that has the percolator).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.configfile import Checker, ConfigError, join, load_yaml, resolve

RULE_KEYS = ("name", "match", "notify", "digest", "enabled", "copies")
MATCH_KEYS = ("topics_all", "topics_any", "outlets", "languages", "query")
CHANNEL_KEYS = {
    "webhook": ("type", "url", "url_env", "secret_env", "timeout"),
    "email": ("type", "to", "subject_prefix"),
    "slack": ("type", "url", "url_env", "timeout"),
    "file": ("type", "path"),
}
NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_EMAIL_RE = r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+"
_ENV_RE = r"[A-Z_][A-Z0-9_]*"


@dataclass(frozen=True)
class ChannelSpec:
    """One place a rule's matches go. `key` names it in the ledger and in messages and never
    contains a secret (a Slack URL is itself a credential, so it is hashed, not shown)."""

    type: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    key: str = ""

    @property
    def describe(self) -> str:
        return self.key


@dataclass(frozen=True)
class Rule:
    name: str
    topics_all: tuple[str, ...] = ()
    topics_any: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    query: str = ""
    channels: tuple[ChannelSpec, ...] = ()
    digest: float = 0.0
    enabled: bool = True
    # A copy of an article this rule already matched (the same text at another URL or outlet,
    # `duplicate_of`) is not sent again unless `copies: true`: a wire story that four outlets
    # carry is one alert, not four.
    copies: bool = False

    def accepts(self, doc: dict[str, Any]) -> bool:
        """The structured conditions (everything but `query`) on one stored document."""
        topics = set(doc.get("topics") or ())
        if self.topics_all and not set(self.topics_all) <= topics:
            return False
        if self.topics_any and not topics & set(self.topics_any):
            return False
        if self.outlets and doc.get("outlet") not in self.outlets:
            return False
        if self.languages and doc.get("lang") not in self.languages:
            return False
        return True

    def channel(self, key: str) -> ChannelSpec | None:
        return next((c for c in self.channels if c.key == key), None)


def rule_filters(rule: Rule) -> list[dict]:
    """The structured conditions as Elasticsearch filters (same meaning as `Rule.accepts`)."""
    filters: list[dict] = [{"term": {"topics": t}} for t in rule.topics_all]
    if rule.topics_any:
        filters.append({"terms": {"topics": list(rule.topics_any)}})
    if rule.outlets:
        filters.append({"terms": {"outlet": list(rule.outlets)}})
    if rule.languages:
        filters.append({"terms": {"lang": list(rule.languages)}})
    return filters


def rule_query(rule: Rule, *, ids: list[str] | None = None) -> dict:
    """The whole rule as one Elasticsearch query, optionally limited to some document ids."""
    filters = rule_filters(rule)
    if ids is not None:
        filters.insert(0, {"ids": {"values": list(ids)}})
    must = [lucene_query(rule.query)] if rule.query.strip() else [{"match_all": {}}]
    return {"bool": {"must": must, "filter": filters}}


# A Lucene query is matched twice: as written against the analysed fields (the `arabic`
# analyzer on a full cluster) and with its bare words folded by raqib's own normaliser
# against the *_norm fields, so «الامريكية» finds «الأمريكية» on the minimal distribution too.
# Operators, fielded clauses, ranges and regular expressions are left exactly as written.
_KEEP_RE = re.compile(
    r'(?P<keep>\b(?:AND|OR|NOT|TO)\b'
    r'|[A-Za-z_][\w.]*:(?:"[^"]*"|\[[^\]]*\]|\{[^}]*\}|\([^)]*\)|/[^/]*/|[^\s()]+)'
    r'|/[^/]*/)'
)
TEXT_FIELDS = ["title^3", "text", "summary"]
NORM_FIELDS = ["title_norm^3", "text_norm"]


def normalize_lucene(query: str) -> str:
    from pipelines.search import normalize_query

    out, pos = [], 0
    for m in _KEEP_RE.finditer(query):
        out.append(normalize_query(query[pos:m.start()]))
        out.append(m.group())
        pos = m.end()
    out.append(normalize_query(query[pos:]))
    return "".join(out)


def lucene_query(query: str) -> dict:
    return {"bool": {"should": [
        {"query_string": {"query": query, "fields": TEXT_FIELDS, "default_operator": "and", "lenient": True}},
        {"query_string": {"query": normalize_lucene(query), "fields": NORM_FIELDS, "default_operator": "and",
                          "lenient": True}},
    ], "minimum_should_match": 1}}


_BINARY = ("AND", "OR", "&&", "||")
_BOOLEAN = (*_BINARY, "NOT")


class LuceneSyntaxError(ValueError):
    """Why Lucene's classic query parser would refuse a query (the message says where)."""


def lucene_syntax_problem(query: str) -> str | None:
    """What makes `query` unparseable by Lucene's classic query parser (the syntax of
    `query_string`), or None. Checked when the rule is loaded, without a cluster, so a rule
    that could never run is a configuration error naming the rule, not a Java exception at
    the first alert. It covers what a hand-written rule gets wrong: an unclosed quote,
    bracket, range or /regular expression/ (a bare slash starts one), a stray closing
    bracket, a field or operator with nothing after it. Elasticsearch's own
    `_validate/query` catches the rest where a cluster is at hand."""
    try:
        _check_lucene(list(_lucene_tokens(query)))
    except LuceneSyntaxError as exc:
        return str(exc)
    return None


def _lucene_tokens(query: str):
    """(text, position) of each term, operator and bracket; a phrase, a regular expression
    and an escaped character are part of the term they are in."""
    word, start, i, in_range = "", 0, 0, False
    while i < len(query):
        c = query[i]
        if c.isspace() or c in "()[]{}":
            if word:
                yield word, start
                word = ""
            if not c.isspace():
                yield c, i
                in_range = c in "[{" or (in_range and c not in "]}")
            i += 1
            continue
        if not word:
            start = i
        end = i + 1 if in_range and c == "/" else _end_of_atom(query, i)    # a date range may hold slashes
        word += query[i:end]
        i = end
    if word:
        yield word, start


def _end_of_atom(query: str, i: int) -> int:
    """Where the character, escape, "phrase" or /regex/ starting at `i` ends."""
    c = query[i]
    if c == "\\":
        if i + 1 >= len(query):
            raise LuceneSyntaxError("the query ends with a lone backslash (escape the character after it, or write \\\\)")
        return i + 2
    if c in '"/':
        end = i + 1
        while end < len(query) and query[end] != c:
            end += 2 if query[end] == "\\" else 1
        if end >= len(query):
            raise LuceneSyntaxError(f"the quote at character {i + 1} is never closed" if c == '"' else
                                    f"the '/' at character {i + 1} starts a regular expression that is never "
                                    "closed (a slash is written \\/)")
        return end + 1
    return i + 1


def _check_lucene(tokens: list[tuple[str, int]]) -> None:
    opened: list[tuple[str, int]] = []
    previous = ""
    for n, (token, at) in enumerate(tokens):
        following = tokens[n + 1][0] if n + 1 < len(tokens) else ""
        if opened and opened[-1][0] in "[{" and token not in "]}":
            continue                       # inside a range: checked when it closes
        if token in "([{":
            opened.append((token, at))
        elif token in ")]}":
            _close(opened, token, at, tokens, previous)
        elif token in _BINARY and previous in ("", "(", *_BOOLEAN):
            raise LuceneSyntaxError(f"{token!r} at character {at + 1} has no term before it")
        elif token.endswith(":") and following in ("", ")"):
            raise LuceneSyntaxError(f"the field {token!r} at character {at + 1} has nothing to search for after it")
        previous = token if token in (*_BOOLEAN, "(") else "term"
    if opened:
        token, at = opened[-1]
        raise LuceneSyntaxError(f"the {token!r} at character {at + 1} is never closed")
    if previous in _BOOLEAN:
        raise LuceneSyntaxError(f"the query ends with {previous!r}, which needs a term after it")


def _close(opened: list[tuple[str, int]], token: str, at: int, tokens: list[tuple[str, int]], previous: str) -> None:
    if not opened or (opened[-1][0] == "(") != (token == ")"):
        raise LuceneSyntaxError(f"the {token!r} at character {at + 1} closes nothing")
    bracket, start = opened.pop()
    if token == ")":
        if previous in _BOOLEAN:
            raise LuceneSyntaxError(f"{previous!r} before the ')' at character {at + 1} has no term after it")
        return
    inner = [t for t, a in tokens if start < a < at]
    if len(inner) != 3 or inner[1] != "TO":
        raise LuceneSyntaxError(f"the range at character {start + 1} should read [low TO high] (or {{low TO high}})")


def cluster_query_problem(client, alias: str, rule: Rule) -> str | None:
    """Why the cluster cannot run the rule's query (Elasticsearch's `_validate/query`, for what
    the offline check does not see, such as a fuzziness that is not a number), or None."""
    if not rule.query:
        return None
    check = client.indices.validate_query(index=alias, query=rule_query(rule), explain=True).body
    if check.get("valid", True):
        return None
    return _reason([e.get("error", "") for e in check.get("explanations", []) if e.get("error")])


def _reason(errors: list[str]) -> str:
    """Elasticsearch's explanation without the Java around it: for a Lucene parse error the
    parser's own sentence ('Encountered "<EOF>" at line 1, column 11'), else the message."""
    text = " ".join(errors)
    m = re.search(r"Cannot parse '.*?': (.*?)(?:\s+Was expecting|\]; nested|$)", text, re.S)
    if m:
        return " ".join(m.group(1).split())[:300]
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)                                        # [index/uuid]
    text = re.sub(r"\b(?:[a-z]+\.)+[A-Z]\w*(?:Exception|Error)\b:?\s*", "", text)   # org.elasticsearch...QueryShardException
    return " ".join(text.split())[:300] or "no reason given"


# --- loading and validation -------------------------------------------------------------

def load_rules(config_dir: Path | None = None, *, outlets: dict | None = None,
               topics: set[str] | None = None) -> list[Rule]:
    """The rules in the user's alerts.yaml (or the shipped one); ConfigError lists every problem."""
    path = resolve("alerts.yaml", config_dir)
    if not path.exists():
        return []
    return parse_rules(load_yaml(path), str(path), outlets=outlets, topics=topics)


# Rules saved from `raqib web` live in the state directory (the config directory may be
# read-only, and a restart must keep them); they are merged with alerts.yaml everywhere rules
# are loaded (pipelines/alerts/context.py), with the same model and the same validation.
SAVED_RULES_FILE = "alerts.web.yaml"


def saved_rules_path(state_dir: Path) -> Path:
    return Path(state_dir) / SAVED_RULES_FILE


def load_saved_rules(state_dir: Path, *, taken: Iterable[str] = (), outlets: dict | None = None,
                     topics: set[str] | None = None) -> list[Rule]:
    """The rules saved from the web workspace; a name also used in alerts.yaml (`taken`) is an
    error naming both files, so one rule can never silently shadow the other."""
    path = saved_rules_path(state_dir)
    if not path.exists():
        return []
    rules = parse_rules(load_yaml(path), str(path), outlets=outlets, topics=topics)
    clash = sorted({r.name for r in rules} & set(taken))
    if clash:
        raise ConfigError([f"{path}: rule name(s) {', '.join(clash)} are also in alerts.yaml; "
                           f"rename or delete one of them"])
    return rules


def parse_rules(data: Any, file: str = "alerts.yaml", *, outlets: dict | None = None,
                topics: set[str] | None = None) -> list[Rule]:
    """Validate parsed YAML. `outlets` and `topics`, when given, are the known names, so a
    rule that could never match because of a misspelt outlet or topic is an error."""
    check = Checker(file)
    top = check.mapping(data, "", allowed=("alerts",))
    entries = top.get("alerts")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        check.add("alerts", "expected a list of rules (each starting with `- name: …`)")
        entries = []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(entries):
        label = f"alerts[{i}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label = f"alerts[{i}] ({raw['name']})"
        rule = _parse_rule(check, label, raw, outlets, topics)
        if rule is None:
            continue
        if rule.name in seen:
            check.add(join(label, "name"), f"{rule.name!r} is already the name of alerts[{seen[rule.name]}]; names must be unique")
            continue
        seen[rule.name] = i
        rules.append(rule)
    check.raise_if_any()
    return rules


def _parse_rule(check: Checker, path: str, raw: Any, outlets: dict | None, topics: set[str] | None) -> Rule | None:
    before = len(check.problems)
    raw = check.mapping(raw, path, allowed=RULE_KEYS, required=("name", "notify"))
    name = check.string(raw.get("name"), join(path, "name"), pattern=NAME_RE,
                        what="a name of letters, digits, '.', '_' or '-' (at most 64)")
    match = check.mapping(raw.get("match"), join(path, "match"), allowed=MATCH_KEYS)
    mpath = join(path, "match")
    topics_all = tuple(check.string_list(match.get("topics_all"), join(mpath, "topics_all")))
    topics_any = tuple(check.string_list(match.get("topics_any"), join(mpath, "topics_any")))
    rule_outlets = tuple(check.string_list(match.get("outlets"), join(mpath, "outlets")))
    languages = tuple(check.string_list(match.get("languages"), join(mpath, "languages")))
    query = match.get("query") or ""
    if not isinstance(query, str):
        check.add(join(mpath, "query"), f"expected a Lucene query string, got {type(query).__name__}")
        query = ""
    syntax = lucene_syntax_problem(query) if query.strip() else None
    if syntax:
        check.add(join(mpath, "query"), f"is not a valid Lucene query ({query!r}): {syntax}")
    for i, lang in enumerate(languages):
        if not re.fullmatch(r"[a-z]{2}", lang):
            check.add(f"{join(mpath, 'languages')}[{i}]", f"expected a two-letter language code such as ar or en, got {lang!r}")
    if outlets is not None:
        for i, o in enumerate(rule_outlets):
            if o not in outlets:
                check.add(f"{join(mpath, 'outlets')}[{i}]", f"no outlet named {o!r}; known outlets: {', '.join(sorted(outlets))}")
    if topics is not None:
        for key, values in (("topics_all", topics_all), ("topics_any", topics_any)):
            for i, t in enumerate(values):
                if t not in topics:
                    check.add(f"{join(mpath, key)}[{i}]", f"no topic named {t!r}; known topics: {', '.join(sorted(topics))}")
    digest = check.duration(raw.get("digest"), join(path, "digest"))
    enabled = check.boolean(raw.get("enabled"), join(path, "enabled"))
    copies = check.boolean(raw.get("copies"), join(path, "copies"))
    channels = _parse_channels(check, join(path, "notify"), raw.get("notify"))
    if len(check.problems) > before or name is None:
        return None  # a missing name has added its problem
    return Rule(name=name, topics_all=topics_all, topics_any=topics_any, outlets=rule_outlets,
                languages=languages, query=query.strip(), channels=tuple(channels), digest=digest or 0.0,
                enabled=True if enabled is None else enabled, copies=bool(copies))


def _parse_channels(check: Checker, path: str, raw: Any) -> list[ChannelSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        check.add(path, "expected a list of channels, e.g. - {type: file, path: alerts.jsonl}")
        return []
    out: list[ChannelSpec] = []
    keys: set[str] = set()
    for i, item in enumerate(raw):
        cpath = f"{path}[{i}]"
        if not isinstance(item, dict):
            check.add(cpath, "expected a mapping such as {type: webhook, url: https://…}")
            continue
        kind = item.get("type")
        if kind not in CHANNEL_KEYS:
            check.add(join(cpath, "type"), f"expected one of {', '.join(CHANNEL_KEYS)}, got {kind!r}")
            continue
        before = len(check.problems)
        item = check.mapping(item, cpath, allowed=CHANNEL_KEYS[kind])
        spec = _CHANNEL_PARSERS[kind](check, cpath, item)
        if spec is None or len(check.problems) > before:
            continue
        if spec.key in keys:
            check.add(cpath, f"the same channel ({spec.key}) is listed twice in this rule")
            continue
        keys.add(spec.key)
        out.append(spec)
    return out


def _url_or_env(check: Checker, path: str, item: dict, kind: str) -> tuple[dict, str] | None:
    url, env = item.get("url"), item.get("url_env")
    if (url is None) == (env is None):
        check.add(path, f"a {kind} channel needs exactly one of url or url_env")
        return None
    if url is not None:
        url = check.url(url, join(path, "url"))
        if url is None:
            return None
        # The URL of an incoming webhook is a credential: identify it by a hash, not in full.
        return {"url": url}, f"{kind}:{_host(url)}#{hashlib.sha256(url.encode()).hexdigest()[:10]}"
    env = check.string(env, join(path, "url_env"), pattern=_ENV_RE, what="an environment variable name")
    if env is None:
        return None
    return {"url_env": env}, f"{kind}:${env}"


def _timeout(check: Checker, path: str, item: dict) -> dict:
    t = check.number(item.get("timeout"), join(path, "timeout"), minimum=0.1, maximum=300)
    return {"timeout": float(t)} if t is not None else {}


def _webhook(check: Checker, path: str, item: dict) -> ChannelSpec | None:
    target = _url_or_env(check, path, item, "webhook")
    secret = check.string(item.get("secret_env"), join(path, "secret_env"), pattern=_ENV_RE,
                          what="the name of an environment variable holding the secret")
    if target is None:
        return None
    options, key = target
    options.update(_timeout(check, path, item))
    if secret:
        options["secret_env"] = secret
    return ChannelSpec("webhook", options, key)


def _slack(check: Checker, path: str, item: dict) -> ChannelSpec | None:
    target = _url_or_env(check, path, item, "slack")
    if target is None:
        return None
    options, key = target
    options.update(_timeout(check, path, item))
    return ChannelSpec("slack", options, key)


def _email(check: Checker, path: str, item: dict) -> ChannelSpec | None:
    to = check.string_list(item.get("to"), join(path, "to"),
                           item=lambda v, p: check.string(v, p, pattern=_EMAIL_RE, what="an email address"))
    if not to:
        if item.get("to") is None:
            check.add(join(path, "to"), "is required: the addresses that receive this rule's mail")
        return None
    prefix = item.get("subject_prefix", "[raqib]")
    if not isinstance(prefix, str) or "\n" in prefix or "\r" in prefix:
        check.add(join(path, "subject_prefix"), "expected one line of text")
        return None
    return ChannelSpec("email", {"to": tuple(to), "subject_prefix": prefix}, "email:" + ",".join(sorted(to)))


def _file(check: Checker, path: str, item: dict) -> ChannelSpec | None:
    p = check.string(item.get("path"), join(path, "path"), what="a file path (relative paths are in the state directory)")
    if p is None:
        if item.get("path") is None:
            check.add(join(path, "path"), "is required: the JSON-lines file that receives the alerts")
        return None
    return ChannelSpec("file", {"path": p}, f"file:{p}")


_CHANNEL_PARSERS = {"webhook": _webhook, "email": _email, "slack": _slack, "file": _file}


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"


def known_topics(config_dir: Path | None) -> set[str] | None:
    """Topic names from topics.yaml when it exists and has the expected shape; None otherwise
    (then topics in rules are not checked against it)."""
    path = resolve("topics.yaml", config_dir)
    if not path.exists():
        return None
    try:
        data = load_yaml(path)
    except ConfigError:
        return None   # topics.yaml reports its own problems where it is loaded
    topics = data.get("topics") if isinstance(data, dict) else None
    return set(topics) if isinstance(topics, dict) and topics else None

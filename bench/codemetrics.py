"""Code-shape figures for the architecture work (issue 16), and the import reader the
architecture contract test (tests/test_architecture.py) checks.

    python -m bench.codemetrics            # cycles, local imports, sizes, lines
    python -m bench.codemetrics --mypy     # ... and the mypy error count (slow: ~1 min)

The import graph is read with ast, never by importing the code, so it sees imports that
only run on one branch or inside a function. An edge goes to the most specific module
the statement names (``from crawler import stats`` is an edge to crawler.report.stats).
"""
from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("crawler", "pipelines", "bench")


@dataclass(frozen=True)
class Import:
    """One import statement's edge from `source` to the project module `target`."""
    source: str
    target: str
    path: Path
    line: int
    local: bool          # inside a function body: runs when called, not when imported
    type_only: bool      # under `if TYPE_CHECKING:`: never runs


def modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every importable .py file of the given packages (not
    those under a directory no import can name, such as bench/.peers-venv, which `make bench`
    creates: mypy passes over them the same way)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if not all(part.isidentifier() for part in parts):
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, local: bool, type_only: bool) -> Iterator[tuple[ast.AST, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, True, type_only)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, local, True
                yield from _walk(stmt, local, True)
            for stmt in child.orelse:
                yield stmt, local, type_only
                yield from _walk(stmt, local, type_only)
        else:
            yield child, local, type_only
            yield from _walk(child, local, type_only)


def _named(module: str, known: dict[str, Path]) -> str | None:
    """The longest prefix of `module` that is a project module (None: not ours)."""
    parts = module.split(".")
    while parts:
        name = ".".join(parts)
        if name in known:
            return name
        parts.pop()
    return None


def imports_of(source: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """Every edge from module `source` (file `path`) to another project module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    edges: list[Import] = []
    for node, local, type_only in _walk(tree, False, False):
        names: list[str] = []
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for name in names:
            target = _named(name, known)
            edge = Import(source, target or "", path, node.lineno, local, type_only)
            if target is not None and target != source and edge not in edges:
                edges.append(edge)
    return edges


def all_imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Import]:
    known = modules(root, packages)
    return [edge for name, path in known.items() for edge in imports_of(name, path, known)]


def local_imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[tuple[Path, int, str]]:
    """(file, line, imported module) for every import inside a function, project or not."""
    found: list[tuple[Path, int, str]] = []
    for path in modules(root, packages).values():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, local, type_only in _walk(tree, False, False):
            if not local or type_only:
                continue
            if isinstance(node, ast.Import):
                found += [(path, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((path, node.lineno, "." * node.level + (node.module or "")))
    return found


def cycles(edges: Iterable[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found, key=len, reverse=True)


def sizes(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(lines, qualified name) of every function and every class, largest first."""
    functions: list[tuple[int, str]] = []
    classes: list[tuple[int, str]] = []
    for name, path in modules(root, packages).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                target = classes if isinstance(node, ast.ClassDef) else functions
                target.append((length, f"{name}.{node.name}"))
    return sorted(functions, reverse=True), sorted(classes, reverse=True)


def line_count(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> int:
    return sum(len(path.read_text(encoding="utf-8").splitlines())
               for path in modules(root, packages).values())


def mypy_errors(root: Path = ROOT) -> int:
    """Errors mypy reports with the project's own configuration (pyproject.toml)."""
    run = subprocess.run([sys.executable, "-m", "mypy", *PACKAGES], cwd=root,
                         capture_output=True, text=True, check=False)
    return sum(1 for line in run.stdout.splitlines() if ": error:" in line)


def report(with_mypy: bool) -> str:
    edges = all_imports()
    runtime = [edge for edge in edges if not edge.type_only]
    import_time = [edge for edge in runtime if not edge.local]
    upward = [edge for edge in runtime if edge.source.startswith("pipelines")
              and edge.target.startswith("crawler")]
    functions, classes = sizes()
    all_cycles = cycles(runtime)
    lines = [
        f"lines (crawler, pipelines, bench): {line_count()}",
        f"lines (tests): {line_count(packages=('tests',))}",
        f"pipelines -> crawler imports: {len(upward)}",
        f"function-local imports: {len(local_imports())}",
        f"cycles counting function-local imports: {len(all_cycles)} "
        f"(largest {len(all_cycles[0]) if all_cycles else 0} modules)",
        f"cycles at import time: {len(cycles(import_time))}",
    ]
    lines += [f"  cycle: {' '.join(component)}" for component in all_cycles]
    lines += ["largest functions:"] + [f"  {n:4d} {name}" for n, name in functions[:6]]
    lines += ["largest classes:"] + [f"  {n:4d} {name}" for n, name in classes[:6]]
    lines.append(f"functions of 80 lines or more: {sum(1 for n, _ in functions if n >= 80)}; "
                 f"classes over 300 lines: {sum(1 for n, _ in classes if n > 300)}")
    if with_mypy:
        lines.append(f"mypy errors: {mypy_errors()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mypy", action="store_true", help="also count mypy errors (slow)")
    print(report(parser.parse_args(argv).mypy))
    return 0


if __name__ == "__main__":
    sys.exit(main())

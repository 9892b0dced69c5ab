"""The layout keeps the layers of docs/architecture.md, read from the source, never
imported.

The import graph of src/policylab is read with ``ast`` (no module is executed), with
imports inside functions counted like any other: a function-level import hides a circle
from Python's import machinery, not from the design. Checked:

- no import circles between modules (of any length);
- imports point down ``cli -> study -> estimators/inference -> data -> utilities``;
  ``engine`` imports nothing from policylab but itself and ``errors``; ``report`` is a
  leaf (it imports only ``errors`` and ``validation``) that estimators and inference
  may call only to draw (``report.figures``);
- no private engine names (``engine._x`` modules or ``_x`` names) imported outside the
  engine: the engine exposes what others need;
- no function over 100 lines (docstring excluded) in estimators/ and inference/.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "policylab"
MAX_LINES = 100

# layer of each top-level package or module of policylab (the second dotted part of a
# module's name): a module may import its own layer or a lower one. Anything not named
# here is a utility (rank 1, like validation).
RANK = {
    "ROOT": 6,  # policylab/__init__.py: the lazy facade
    "cli": 5, "__main__": 5,
    "study": 4,
    "estimators": 3, "inference": 3,
    # accounting computes from data (Panel, factor tables); data never from accounting
    "accounting": 2.5,
    "data": 2,
    "engine": 1, "validation": 1, "execution": 1, "messages": 1, "message_catalogue": 1,
    "errors": 0,
}
# the engine imports only itself and the exception classes
ENGINE_MAY_IMPORT = {"engine", "errors"}
# report is a leaf: it imports only these (besides itself; messages is the catalogue of
# the words of estimators' messages, which report words by key) ...
REPORT_MAY_IMPORT = {"report", "errors", "validation", "messages", "message_catalogue"}
# ... and the computing layers may import only these parts of it (tidy frames in,
# figure out)
DRAWING = ("policylab.report.figures",)
# named imports of report that are not drawing but allowed, with why
REPORT_EXCEPTIONS = {
    ("policylab.estimators.result", "policylab.report.tables"):
        "Result._repr_html_: Jupyter shows a result as the report's table",
}

# Functions other helpers are splitting at the time of writing (issue 15); the lead
# empties this list once their work has merged. An entry that is no longer too long
# gives a warning (remove it), not a failure.
LONG_FUNCTIONS_BEING_SPLIT: set[str] = set()


@dataclass
class Graph:
    modules: dict[str, Path]
    packages: set[str]
    # importer -> imported module -> line numbers
    edges: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    private: list[str] = field(default_factory=list)
    long: dict[str, int] = field(default_factory=dict)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ROOT"


def _targets(node: ast.AST, module: str, is_pkg: bool, modules: dict[str, Path]
             ) -> list[tuple[str, str | None]]:
    """(module imported, name imported or None) for one import statement; a name that
    is itself a module counts as that module."""
    out: list[tuple[str, str | None]] = []
    if isinstance(node, ast.Import):
        for a in node.names:
            out.append((a.name, None))
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            pkg = module.split(".") if is_pkg else module.split(".")[:-1]
            pkg = pkg[: len(pkg) - node.level + 1]
            base = ".".join(pkg + ([node.module] if node.module else []))
        for a in node.names:
            sub = f"{base}.{a.name}"
            out.append((sub, None) if sub in modules else (base, a.name))
    return out


def _function_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    n = (fn.end_lineno or fn.lineno) - fn.lineno + 1
    first = fn.body[0] if fn.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        n -= (first.end_lineno or first.lineno) - first.lineno + 1
    return n


def read_graph(src: Path = SRC) -> Graph:
    """The import graph, private engine imports and long functions of a source tree."""
    modules: dict[str, Path] = {}
    for f in sorted(src.rglob("*.py")):
        parts = f.relative_to(src.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    g = Graph(modules, {m for m, f in modules.items() if f.name == "__init__.py"})
    for m, f in modules.items():
        g.edges[m] = {}
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        in_engine = layer(m) == "engine"
        for node in ast.walk(tree):
            for target, name in _targets(node, m, m in g.packages, modules):
                if target.startswith("policylab.engine") and not in_engine:
                    private_mod = any(p.startswith("_") and p != "__init__"
                                      for p in target.split("."))
                    if private_mod or (name or "").startswith("_"):
                        g.private.append(f"{m} imports {target}"
                                         + (f".{name}" if name else "")
                                         + f" (line {node.lineno})")
                if target == "policylab" and name == "__version__":
                    continue  # a constant of the facade, not a dependency on it
                if target in modules and target != m:
                    g.edges[m].setdefault(target, []).append(node.lineno)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    layer(m) in ("estimators", "inference"):
                n = _function_lines(node)
                if n > MAX_LINES:
                    key = f"{m}.{node.name}"
                    g.long[key] = max(n, g.long.get(key, 0))
    return g


def circles(g: Graph) -> list[list[str]]:
    """Strongly connected sets of two or more modules (package __init__ files left
    out: importing a name a package re-exports is not a dependency on its siblings)."""
    nodes = [m for m in g.modules if m not in g.packages]
    succ = {m: [t for t in g.edges[m] if t not in g.packages] for m in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        # iterative Tarjan: (node, iterator over its successors)
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(succ[w])))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return sorted(found)


def layer_violations(g: Graph) -> list[str]:
    out = []
    for m, targets in sorted(g.edges.items()):
        a = layer(m)
        for t, lines in sorted(targets.items()):
            b = layer(t)
            if a == b:
                continue
            where = f"{m} -> {t} (line {lines[0]})"
            if a == "engine":
                if b not in ENGINE_MAY_IMPORT:
                    out.append(f"engine imports upward: {where}")
            elif a == "report":
                if b not in REPORT_MAY_IMPORT:
                    out.append(f"report (a leaf) imports {b}: {where}")
            elif b == "report":
                drawing = any(t == d or t.startswith(d + ".") for d in DRAWING)
                if RANK.get(a, 1) <= RANK["estimators"] and not drawing \
                        and (m, t) not in REPORT_EXCEPTIONS:
                    out.append(f"{a} may import report only to draw (report.figures): {where}")
            elif RANK.get(b, 1) > RANK.get(a, 1):
                out.append(f"upward import {a} -> {b}: {where}")
    return out


def test_no_import_circles():
    found = circles(read_graph())
    assert not found, "import circles (function-level imports included):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_imports_point_down_the_layers():
    bad = layer_violations(read_graph())
    assert not bad, "imports against the layers of docs/architecture.md:\n" + "\n".join(bad)


def test_no_private_engine_names_outside_the_engine():
    bad = read_graph().private
    assert not bad, ("private engine names imported outside the engine (make them public "
                     "in an engine module that chooses compiled or numpy itself):\n"
                     + "\n".join(bad))


def test_no_long_functions_in_estimators_and_inference():
    long = read_graph().long
    stale = sorted(LONG_FUNCTIONS_BEING_SPLIT - set(long))
    if stale:
        warnings.warn(f"no longer over {MAX_LINES} lines, remove from "
                      f"LONG_FUNCTIONS_BEING_SPLIT: {stale}", stacklevel=1)
    bad = sorted(f"{k}: {n} lines" for k, n in long.items()
                 if k not in LONG_FUNCTIONS_BEING_SPLIT)
    assert not bad, (f"functions over {MAX_LINES} lines (docstring excluded) in "
                     "estimators/ and inference/:\n" + "\n".join(bad))


def test_the_graph_reader_sees_what_it_checks(tmp_path):
    # a tiny tree with one of each problem, function-level imports included: the
    # checks above cannot pass by reading nothing
    pkg = tmp_path / "policylab"
    for sub in ("engine", "estimators", "study", "report"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "_k.py").write_text("x = 1\n")
    (pkg / "engine" / "bad.py").write_text("def f():\n    from policylab.study import s\n")
    (pkg / "study" / "s.py").write_text("from policylab.study import t\n")
    (pkg / "study" / "t.py").write_text("def g():\n    from policylab.study.s import y\n")
    (pkg / "report" / "tables.py").write_text("")
    body = "\n".join(f"    a{i} = {i}" for i in range(MAX_LINES))
    (pkg / "estimators" / "e.py").write_text(
        "from policylab.engine._k import x\nfrom policylab.report.tables import t\n"
        f'def long():\n    """doc"""\n{body}\n')
    g = read_graph(pkg)
    assert circles(g) == [["policylab.study.s", "policylab.study.t"]]
    bad = layer_violations(g)
    assert any("engine imports upward" in b for b in bad)
    assert any("only to draw" in b for b in bad)
    assert g.private == ["policylab.estimators.e imports policylab.engine._k.x (line 1)"]
    assert g.long == {"policylab.estimators.e.long": MAX_LINES + 1}

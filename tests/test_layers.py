"""The package's layers: each module imports only from its own layer or the ones below, with
imports inside functions counted (an import hidden in a function to dodge a cycle is still a
cycle); :mod:`prophet_grouped._util` imports nothing of ours. docs/architecture.md describes
the layers."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "prophet_grouped"

#: Bottom first. A module may import modules of its own layer (without a cycle) and below.
LAYERS = [
    ("leaf helpers", ["_util", "_version", "_imports", "_environ", "exceptions", "keys", "transforms",
                      "intervals", "metrics", "progress", "config"]),
    ("inputs and what is tuned", ["data", "frequency", "search_space", "covariates"]),
    ("model spec", ["spec"]),
    ("engines and the fast predictor", ["engines", "engines._base", "engines.features", "engines.stan", "engines.batch",
                                        "engines._one_series", "fastpredict", "ets"]),
    ("models, results, folds, forecasts", ["models", "studies", "results", "checkpoint", "forecast", "objective"]),
    ("the per-group study", ["retrain", "tuning"]),
    ("backends", ["backends", "backends.base", "backends.local", "backends.spark", "backends.ray",
                  "backends._ray_auth"]),
    ("driver side: persistence, previous fits, sources, the plan", ["persistence", "previous", "sources", "plan"]),
    ("a fit and its answers, as steps", ["fitting", "prediction", "backtest", "report"]),
    ("estimator and plots", ["plotting", "estimator"]),
    ("what users type and the tools they log to", ["mlflow_model", "tracking", "cli", "tables", "demo", "_apidoc", ""]),
]

#: Imports of our own modules allowed inside functions, with the reason.
DEFERRED = {
    ("cli", "estimator"): "`prophet-grouped --help` and usage errors answer without importing scikit-learn",
    ("cli", "tracking"): "the same (MLflow is optional)",
    ("cli", "backtest"): "the same",
    ("cli", "report"): "the same",
    ("tracking", "mlflow_model"): "mlflow_model subclasses mlflow's PythonModel: it imports MLflow, an optional extra",
}


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found[name.removesuffix("__init__").rstrip(".")] = path
    return found


def _imports() -> list[tuple[str, str, int, bool]]:
    """(importer, imported, line, inside a function) for every import of our own modules,
    TYPE_CHECKING blocks aside."""
    modules = _modules()
    edges = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                origin = ".".join([*base, *([node.module] if node.module else [])])
                targets = [f"{origin}.{a.name}".lstrip(".") if f"{origin}.{a.name}".lstrip(".") in modules
                           else origin for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "prophet_grouped":
                origin = node.module.partition(".")[2]
                targets = [f"{origin}.{a.name}".lstrip(".") if f"{origin}.{a.name}".lstrip(".") in modules
                           else origin for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == "prophet_grouped"]
            else:
                continue
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rpartition(".")[0]
                if target != name:
                    edges.append((name, target, node.lineno, id(node) not in top))
    return edges


def test_every_module_has_a_layer():
    placed = [m for _, members in LAYERS for m in members]
    assert sorted(placed) == sorted(_modules()), "add new modules to LAYERS (and docs/architecture.md)"


def test_modules_import_only_from_their_layer_or_below():
    layer = {m: i for i, (_, members) in enumerate(LAYERS) for m in members}
    upward = [f"{a} (layer {LAYERS[layer[a]][0]!r}) imports {b} (layer {LAYERS[layer[b]][0]!r}) at line {line}"
              for a, b, line, _ in _imports() if layer[b] > layer[a]]
    assert upward == []


def test_no_import_cycle_with_imports_inside_functions_counted():
    graph: dict[str, set[str]] = {}
    for a, b, _, _ in _imports():
        graph.setdefault(a, set()).add(b)
    cycles = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in done:
                visit(nxt, [*path, nxt], done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], done)
    assert cycles == []


def test_imports_inside_functions_only_where_a_reason_is_given():
    hidden = sorted({(a, b) for a, b, _, inside in _imports() if inside} - set(DEFERRED))
    assert hidden == [], "import at module level, or give the reason in DEFERRED"


@pytest.mark.parametrize("leaf", ["_util", "_version", "keys", "transforms", "intervals"])
def test_leaf_modules_import_nothing_of_ours(leaf):
    assert [b for a, b, _, _ in _imports() if a == leaf] == []

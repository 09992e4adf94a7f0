"""Write docs/api.md from the docstrings: ``python -m prophet_grouped._apidoc > docs/api.md``
(``make docs``). A test checks that docs/api.md is up to date."""

from __future__ import annotations

import importlib
import inspect
import sys

#: (module, names) documented, in order.
PUBLIC = (
    ("prophet_grouped", ["GroupedProphetTuner"]),
    ("prophet_grouped", ["make_retail_sales", "GroupFitWarning"]),
    ("prophet_grouped.tracking", ["log_to_mlflow", "log_model"]),
    ("prophet_grouped.backends.local", ["LocalBackend"]),
    ("prophet_grouped.backends.spark", ["SparkBackend"]),
    ("prophet_grouped.backends.ray", ["RayBackend"]),
    ("prophet_grouped.tuning", ["tune_group", "TrialTimeout"]),
    ("prophet_grouped.keys", ["group_key"]),
)
METHODS = ("fit", "forecast", "predict", "make_future_dataframe", "score", "save", "load", "plot_forecast",
           "plot_tuning_history")


def _section(level: str, title: str, obj: object) -> list[str]:
    try:
        signature = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        signature = ""
    doc = inspect.getdoc(obj) or "(no docstring)"
    return [f"{level} `{title}{signature}`", "", "```text", doc, "```", ""]


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `make docs` (`python -m prophet_grouped._apidoc`); "
        "`tests/test_docs.py` checks it is up to date and runs the docstrings' examples.",
        "",
    ]
    for module_name, names in PUBLIC:
        module = importlib.import_module(module_name)
        for name in names:
            obj = getattr(module, name)
            lines += _section("##", f"{module_name}.{name}", obj)
            if name == "GroupedProphetTuner":
                for method in METHODS:
                    lines += _section("###", f"{name}.{method}", getattr(obj, method))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

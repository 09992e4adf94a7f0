"""What the default fit costs: ``GroupedProphetTuner`` at its defaults on ``bench.py``'s default
shape (16 generated series x 730 days, every core), after a small warm-up fit in the same process.

Prints one JSON line: the library it ran (``PYTHONPATH`` picks another checkout's), the fit's wall
time, trials run and groups fitted on log1p(y). Compare two versions by alternating runs::

    for i in 1 2; do PYTHONPATH=/path/to/old python benchmarks/default_cost.py; python benchmarks/default_cost.py; done
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import GROUPS, make_data

import prophet_grouped
from prophet_grouped import GroupedProphetTuner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=16)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args(argv)
    df = make_data(args.series, args.days)
    warnings.simplefilter("ignore")
    GroupedProphetTuner(group_cols=GROUPS, n_trials=2, random_state=1, verbose=0).fit(df.head(2000))
    start = time.perf_counter()
    tuner = GroupedProphetTuner(group_cols=GROUPS, random_state=0, verbose=0).fit(df)
    wall = time.perf_counter() - start
    results = tuner.results_
    print(json.dumps({"library": prophet_grouped.__file__, "wall": round(wall, 2),
                      "trials": int(results["n_trials"].sum()),
                      "log1p_groups": int((results["transform"] == "log1p").sum()) if "transform" in results else 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The backend interface: a backend decides where :func:`~prophet_grouped.tuning.tune_group` runs."""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import InputTypeError
from ..forecast import batches, forecast_batch

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..config import TuningConfig
    from ..forecast import ForecastJob
    from ..progress import Progress
    from ..results import GroupResult

#: What starting a pool of predict workers costs (processes that import Prophet), in seconds:
#: :meth:`Backend.forecast` starts one only when it would save more than this.
POOL_START_SECONDS = 2.0
#: Groups :meth:`Backend.forecast` forecasts in this process, timed, before it decides.
PROBE_GROUPS = 8

#: One unit of work: a group key and its history (columns ds, y).
Task = tuple[tuple[Any, ...], "pd.DataFrame"]
#: Group key -> what the group takes from a previous fit (``retrain.GroupPrior``).
Priors = Mapping[tuple[Any, ...], Any]


class Backend(ABC):
    """Runs the per-group unit of work somewhere and yields its results as they finish.

    A backend is light and picklable: it finds its Spark session or Ray connection when it
    runs, not when it is built.
    """

    name: str = "base"
    #: Attributes a copy shares instead of copying: a SparkSession or a connection can't be
    #: copied, and scikit-learn's ``clone`` deep-copies the estimator's parameters.
    shared: tuple[str, ...] = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Backend:
        new = copy.copy(self)
        for name, value in vars(self).items():
            setattr(new, name, value if name in self.shared else copy.deepcopy(value, memo))
        return new

    @abstractmethod
    def run(self, tasks: Sequence[Task], config: TuningConfig, n_jobs: int | None,
            progress: Progress | None = None, priors: Priors | None = None) -> Iterator[GroupResult]:
        """Tune every task (already sorted longest first) and yield one result per task.

        ``priors`` maps group keys to what each group takes from a previous fit (warm start,
        champion: :class:`~prophet_grouped.retrain.GroupPrior`); each goes to its group's unit
        of work, ``tune_group(key, frame, config, prior)``.

        The caller counts each yielded result in ``progress``; a backend that yields only at the
        end of its work also reports groups to ``progress`` as they finish.
        """

    def run_spark(
        self, sdf: Any, group_cols: list[str], time_col: str, target_col: str,
        config: TuningConfig, n_jobs: int | None, progress: Progress | None = None,
        priors: Priors | None = None,
    ) -> Iterator[GroupResult]:
        """Tune the groups of a Spark DataFrame; only backends that read Spark data have it."""
        raise InputTypeError(
            f"backend={self.name!r} does not read Spark DataFrames; use backend='spark' (or 'ray'), "
            f"or pass a pandas DataFrame (sdf.toPandas())."
        )

    def forecast(self, jobs: list[ForecastJob], nonnegative: Any, random_state: int,
                 n_jobs: int | None) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
        """Forecast groups of a pandas frame (:func:`~prophet_grouped.forecast.forecast_batch`
        on batches of groups) and yield (key, forecasts) per group, in any order.

        The default runs the batches in this machine's joblib processes, the workers fit used.
        """
        from joblib import effective_n_jobs

        n_workers = min(effective_n_jobs(n_jobs), max(len(jobs), 1))
        if n_workers == 1 or len(batches(jobs, n_workers)) == 1:
            yield from forecast_batch(jobs, nonnegative, random_state)
            return
        # A few groups here, timed: the pool is worth starting only when the rest would take
        # longer here than starting it costs (loky's workers import Prophet: seconds). A few
        # dozen groups are done before a pool would have started.
        probe, rest = jobs[:PROBE_GROUPS], jobs[PROBE_GROUPS:]
        start = time.perf_counter()
        yield from forecast_batch(probe, nonnegative, random_state)
        here = (time.perf_counter() - start) / len(probe) * len(rest)
        if here * (1 - 1 / n_workers) <= self.pool_start_seconds():
            yield from forecast_batch(rest, nonnegative, random_state)
            return
        yield from self.forecast_in_pool(batches(rest, n_workers), nonnegative, random_state, n_workers)

    def pool_start_seconds(self) -> float:
        """What :meth:`forecast_in_pool` costs before its first forecast (workers started)."""
        return POOL_START_SECONDS

    def forecast_in_pool(self, parts: list[list[ForecastJob]], nonnegative: Any, random_state: int,
                         n_workers: int) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
        """The forecasts of ``parts`` (batches of groups) in ``n_workers`` joblib processes."""
        from joblib import Parallel, delayed, parallel_config

        with parallel_config(backend="loky", inner_max_num_threads=1):
            for done in Parallel(n_jobs=n_workers, return_as="generator_unordered")(
                delayed(forecast_batch)(part, nonnegative, random_state) for part in parts
            ):
                yield from done

    def predict_spark(self, tuner: Any, sdf: Any) -> Any:
        """Forecast a Spark DataFrame; only backends that read Spark data have it."""
        raise InputTypeError(
            f"backend={self.name!r} does not predict Spark DataFrames; use backend='spark', or pass a "
            f"pandas DataFrame (sdf.toPandas())."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

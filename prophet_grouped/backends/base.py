"""The backend interface: a backend decides where :func:`~prophet_grouped.tuning.tune_group` runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ..progress import Progress
    from ..results import GroupResult
    from ..tuning import TuningConfig

#: One unit of work: a group key and its history (columns ds, y).
Task = tuple[tuple[Any, ...], "pd.DataFrame"]


class Backend(ABC):
    """Runs the per-group unit of work somewhere and yields its results as they finish.

    A backend is light and picklable: it finds its Spark session or Ray connection when it
    runs, not when it is built.
    """

    name: str = "base"

    @abstractmethod
    def run(self, tasks: Sequence[Task], config: TuningConfig, n_jobs: int | None,
            progress: Progress | None = None) -> Iterator[GroupResult]:
        """Tune every task (already sorted longest first) and yield one result per task.

        The caller counts each yielded result in ``progress``; a backend that yields only at the
        end of its work also reports groups to ``progress`` as they finish.
        """

    def run_spark(
        self, sdf: Any, group_cols: list[str], time_col: str, target_col: str,
        config: TuningConfig, n_jobs: int | None, progress: Progress | None = None,
    ) -> Iterator[GroupResult]:
        """Tune the groups of a Spark DataFrame; only backends that read Spark data have it."""
        raise TypeError(
            f"backend={self.name!r} does not read Spark DataFrames; use backend='spark' (or 'ray'), "
            f"or pass a pandas DataFrame (sdf.toPandas())."
        )

    def predict_spark(self, tuner: Any, sdf: Any) -> Any:
        """Forecast a Spark DataFrame; only backends that read Spark data have it."""
        raise TypeError(
            f"backend={self.name!r} does not predict Spark DataFrames; use backend='spark', or pass a "
            f"pandas DataFrame (sdf.toPandas())."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

"""A fitted tuner as one MLflow pyfunc model (the ``[mlflow]`` extra; imported only by
:func:`prophet_grouped.tracking.log_model` and by MLflow when it loads such a model).

The model's one artifact is the saved tuner folder (:meth:`GroupedProphetTuner.save`); its
``predict`` takes a frame of group columns and dates (and the regressors' future values) and
returns ``yhat``, ``yhat_lower`` and ``yhat_upper`` row for row, so that
``mlflow.pyfunc.spark_udf`` can score it in Spark. The point forecast of a row does not depend
on the batch it comes in; the intervals are simulated over the dates of a group asked for
together (as ``Prophet.predict`` simulates them), seeded from the group key: the same rows in
one batch give the same intervals every time, other batches other (equally valid) draws.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from .estimator import GroupedProphetTuner

#: Columns the model returns, in the order of its input rows.
OUTPUT_COLUMNS = ["yhat", "yhat_lower", "yhat_upper"]


class GroupedProphetModel(mlflow.pyfunc.PythonModel):
    """``mlflow.pyfunc`` wrapper of a saved :class:`~prophet_grouped.GroupedProphetTuner`."""

    def load_context(self, context: Any) -> None:
        self.tuner = GroupedProphetTuner.load(context.artifacts["tuner"])

    @staticmethod
    def example_output() -> pd.DataFrame:
        """An output frame of the right columns and types (for the model's signature)."""
        return pd.DataFrame({col: [0.0] for col in OUTPUT_COLUMNS})

    # model_input is typed as a DataFrame: MLflow reads the hint as a schema, skips one it can't
    # infer from (a DataFrame) and warned about any other ("Any": at import and at every
    # log_model); the signature log_model gives is the schema.
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The forecast of ``model_input``'s rows: ``yhat``, ``yhat_lower``, ``yhat_upper``."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.tuner.predict(frame)[OUTPUT_COLUMNS].reset_index(drop=True)

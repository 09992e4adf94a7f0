"""A spark-submit job: tune every store x item group of a table inside Spark.

    spark-submit --master spark://HOST:7077 examples/spark_job.py INPUT.parquet OUTPUT_DIR [CV_FOLDS]

INPUT has columns store, item, ds, y. Writes OUTPUT_DIR/best_params.csv and results.csv.
CV_FOLDS: validation folds per group (default: the library's, 3 or fewer for short groups).
"""

import sys

from pyspark.sql import SparkSession

from prophet_grouped import GroupedProphetTuner


def main(source: str, out_dir: str, n_trials: int = 6, horizon: int = 30, cv_folds: int | None = None,
         metric: str = "mae") -> None:
    spark = SparkSession.builder.appName("prophet_grouped-job").getOrCreate()
    sdf = spark.read.parquet(source)
    tuner = GroupedProphetTuner(
        group_cols=["store", "item"], n_trials=n_trials, early_stopping_rounds=None,
        horizon=horizon, cv_folds=cv_folds, random_state=42, backend="spark", metric=metric,
    ).fit(sdf)
    tuner.best_params_.to_csv(f"{out_dir}/best_params.csv", index=False)
    tuner.results_.to_csv(f"{out_dir}/results.csv", index=False)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], cv_folds=int(sys.argv[3]) if len(sys.argv) > 3 else None,
         metric=sys.argv[4] if len(sys.argv) > 4 else "mae")

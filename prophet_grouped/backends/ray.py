"""Ray backend: on a local Ray, an existing cluster, or Ray started on top of Spark.

Three ways of spending the cluster, chosen by ``mode``:

- ``"groups"``: one Ray task per group runs the shared unit of work
  (:func:`~prophet_grouped.tuning.tune_group`) with its own Optuna study. Identical results to
  the local backend.
- ``"tune"``: a Ray Tune ``Tuner`` over the groups, one Tune trial per batch of groups (about
  four per CPU: Tune's bookkeeping costs about a second per trial, more than a Prophet fit), each
  running the same shared unit of work; a trial whose worker died is run again
  (``FailureConfig``). Identical results to the local backend; docs/backends.md compares its
  speed with plain tasks.
- ``"trials"``: for fewer groups than CPUs, the trials of one group run in parallel through Ray
  Tune with ``OptunaSearch`` (the same search space, as a define-by-run function) and a
  concurrency limit of the cluster's CPUs; the best parameters are refitted with the shared code.

``"auto"`` (default) picks ``"trials"`` when there are fewer groups than cluster CPUs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._imports import import_optional
from ..results import GroupResult
from .base import Backend, Priors, Task

if TYPE_CHECKING:
    from ..config import TuningConfig
    from ..progress import Progress

MODES = ("auto", "groups", "tune", "trials")
_RAY_ON_SPARK_MASTERS = ("local[", "local-cluster[", "spark://")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"backend='ray' needs Ray ({exc}). Install it with: pip install 'prophet_grouped[ray]'"
        ) from exc
    return ray


def _tune_slice(key: tuple[Any, ...], history: pd.DataFrame, start: int, stop: int, config: TuningConfig,
                prior: Any = None) -> GroupResult:
    """Ray task: the shared unit of work on rows [start, stop) of the history in the object store."""
    from ..tuning import tune_group

    return tune_group(key, history.iloc[start:stop].reset_index(drop=True), config, prior)


def _tune_batch(tune_config: dict[str, Any], history: pd.DataFrame, batches: list[list[Any]],
                config: TuningConfig, priors: Priors) -> dict[str, Any]:
    """Ray Tune trainable ("tune" mode): the shared unit of work on each group of one batch;
    the results travel back as the trial's one metric (pickled, base64 text: Tune keeps metrics
    as JSON)."""
    import base64
    import pickle

    from ..tuning import tune_group

    results = [tune_group(key, history.iloc[lo:hi].reset_index(drop=True), config, priors.get(key))
               for key, lo, hi in batches[tune_config["batch"]]]
    return {"results": base64.b64encode(pickle.dumps(results)).decode("ascii")}


def _evaluate_trial(tune_config: dict[str, Any], group: Any, config: TuningConfig) -> dict[str, float]:
    """Ray Tune trainable (trials mode): the shared trial on the group's shared folds."""
    from ..engines import quiet, stan_output_dir
    from ..tuning import run_trial, uncached_fits

    with quiet(), stan_output_dir() as out:
        loss = run_trial(tune_config["_prophet_params"], group, config, out)
    # Each trial has its own copy of the folds: it reports its own uncached fits.
    return {"loss": loss, "uncached_fits": uncached_fits(group, config)}


def _refit(key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig, best: dict[str, Any] | None,
           error: str | None) -> GroupResult:
    """Ray task (trials mode): refit a group's best parameters, or handle its failure, with the
    shared code; the result has no trial fields yet."""
    from ..engines import quiet, stan_output_dir
    from ..results import error_text
    from ..tuning import fail_group, finish_group, refit_best, usable_rows

    result = GroupResult(key=key, status="failed")
    with quiet(), stan_output_dir() as out:
        if best is None:
            fail_group(result, str(error), frame, config, out)
            return result
        try:
            usable, drivers = usable_rows(frame, config, key)
            result.dropped_regressors = ",".join(drivers.dropped) or None
            finish_group(result, refit_best(usable, config, best, out, drivers), config)
            result.status = "ok"
        except Exception as exc:
            fail_group(result, error_text(exc), frame, config, out)
    return result


def _check_answers(address: str, timeout: float = 5.0) -> None:
    """Raise ConnectionError at once if nothing listens at a host:port address (Ray itself
    retries for minutes)."""
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"Ray address {address!r} is not of the form 'host:port' or 'ray://host:port'."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(
            f"Could not connect to the Ray cluster at address={address!r}: nothing answers at "
            f"{host}:{port} ({exc}). Check that the cluster is up (ray status) and the address is "
            f"right; leave address out to start a local Ray."
        ) from None


@contextlib.contextmanager
def _node_auth() -> Iterator[None]:
    """While Ray on Spark starts and runs: when its head node would turn token authentication
    on (a token file exists and RAY_AUTH_MODE is unset, see :mod:`._ray_auth`), every node it
    starts gets the mode and the token, and this process authenticates too; with a start hook
    of the user's own (which can't be extended), authentication is turned off for this cluster,
    with a warning. The environment is restored on exit."""
    from ._ray_auth import HOOK_VARIABLE, token_auth_env

    if token_auth_env() is None:
        yield
        return
    saved = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE", HOOK_VARIABLE)}
    if os.environ.get(HOOK_VARIABLE):
        import warnings

        warnings.warn(
            f"A Ray token exists and RAY_AUTH_MODE is not set, so Ray would start the Ray-on-Spark head "
            f"node with token authentication, but {HOOK_VARIABLE}={os.environ[HOOK_VARIABLE]!r} names a start "
            f"hook of your own, through which this library can't give the token to the worker nodes: "
            f"token authentication is off for this cluster. Set RAY_AUTH_MODE ('token' with the token in "
            f"your hook's environment variables, or 'disabled') to decide yourself.",
            RuntimeWarning, stacklevel=4,
        )
        os.environ["RAY_AUTH_MODE"] = "disabled"
    else:
        os.environ[HOOK_VARIABLE] = "prophet_grouped.backends._ray_auth.TokenAuthStartHook"
        os.environ["RAY_AUTH_MODE"] = "token"
    _refresh_ray_config()  # this process read the mode when Ray was imported
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _refresh_ray_config()


def _refresh_ray_config() -> None:
    """Make this process's Ray read RAY_AUTH_MODE again (Ray caches its configuration; its own
    token set-up refreshes it the same way)."""
    from ray._raylet import Config

    Config.initialize("")


def check_ray_on_spark_master(master: str) -> None:
    """Raise if Ray on Spark cannot run on a Spark cluster with this master URL (the masters
    ``ray.util.spark`` accepts: local, local[...], local-cluster[...], spark://..., yarn)."""
    if not (master in ("local", "yarn") or master.startswith(_RAY_ON_SPARK_MASTERS)):
        raise ValueError(
            f"Ray on Spark runs on local, local-cluster, standalone (spark://) and YARN masters only; this "
            f"session's master is {master!r}. Start Ray separately and pass backend_options="
            f"{{'address': ...}}."
        )


class _DefineByRun:
    """OptunaSearch's define-by-run space: the shared search space's sampling function.

    The sampled Prophet parameters travel under one key, so a callable space's derived values
    are kept apart from the names Optuna suggests.
    """

    def __init__(self, space: Any) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        return {"_prophet_params": self.space.sample(trial)}


class RayBackend(Backend):
    """Tune groups on Ray.

    Parameters
    ----------
    address : str or None
        Address of an existing cluster to join (``"ray://host:10001"`` or ``"host:6379"``).
    spark : SparkSession or None
        Start Ray on this Spark cluster with ``ray.util.spark.setup_ray_cluster``.
    ray_on_spark : bool
        Start Ray on the active (or a new local) Spark session's cluster.
    max_worker_nodes, num_cpus_worker_node : int or None
        Ray-on-Spark sizing; defaults: one Ray worker node per Spark executor slot group, using
        every CPU of the Spark cluster (Ray's own defaults).
    num_cpus : int or None
        CPUs of a local Ray started here (default: every core).
    mode : {"auto", "groups", "tune", "trials"}
        How the cluster is spent (see the module doc).
    max_retries : int
        Retries of a group's task whose worker died.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        spark: Any = None,
        ray_on_spark: bool = False,
        max_worker_nodes: int | None = None,
        num_cpus_worker_node: int | None = None,
        num_cpus: int | None = None,
        mode: str = "auto",
        max_retries: int = 3,
    ) -> None:
        self.address = address
        self.spark = spark
        self.ray_on_spark = ray_on_spark
        self.max_worker_nodes = max_worker_nodes
        self.num_cpus_worker_node = num_cpus_worker_node
        self.num_cpus = num_cpus
        self.mode = mode
        self.max_retries = max_retries

    def __deepcopy__(self, memo: dict[int, Any]) -> RayBackend:
        # A SparkSession can't be copied; sklearn's clone deep-copies parameters.
        return RayBackend(**{k: getattr(self, k) for k in (
            "address", "spark", "ray_on_spark", "max_worker_nodes", "num_cpus_worker_node", "num_cpus",
            "mode", "max_retries")})

    def __repr__(self) -> str:
        return f"RayBackend(address={self.address!r}, ray_on_spark={self.ray_on_spark or self.spark is not None}, mode={self.mode!r})"

    # ------------------------------------------------------------------ cluster
    @contextlib.contextmanager
    def cluster(self) -> Iterator[Any]:
        """Connect to (or start) Ray; what is started here is shut down on exit."""
        if self.mode not in MODES:
            raise ValueError(f"Invalid Ray mode: {self.mode!r}, expected one of {list(MODES)}.")
        ray = _import_ray()
        if ray.is_initialized():
            yield ray
            return
        env = {"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}} if os.environ.get("PYTHONPATH") else None
        address = self._address()
        if address is not None:
            _check_answers(address)
            try:
                ray.init(address=address, logging_level="ERROR", runtime_env=env)
            except Exception as exc:
                raise ConnectionError(
                    f"Could not connect to the Ray cluster at address={address!r}: {exc}. Check that "
                    f"the cluster is up (ray status) and the address is right; leave address out to start "
                    f"a local Ray."
                ) from exc
            try:
                yield ray
            finally:
                ray.shutdown()
            return
        if self.spark is not None or self.ray_on_spark:
            with self._ray_on_spark(ray, env):
                yield ray
            return
        # address="local": a new Ray of our own, even when another Ray runs on this machine (without
        # it ray.init() joins any running one and refuses num_cpus).
        ray.init(address="local", num_cpus=self.num_cpus or len(os.sched_getaffinity(0)),
                 include_dashboard=False, logging_level="ERROR", runtime_env=env)
        try:
            yield ray
        finally:
            ray.shutdown()

    def _address(self) -> str | None:
        """The Ray cluster to join: ``address``, else ``RAY_ADDRESS`` (Ray's own convention for
        when no address is given), else None."""
        return self.address or os.environ.get("RAY_ADDRESS") or None

    @contextlib.contextmanager
    def _ray_on_spark(self, ray: Any, env: Any) -> Iterator[None]:
        if shutil.which("ray") is None:
            raise RuntimeError(
                "Ray on Spark launches the 'ray' command, which is not on PATH. Add the bin folder of the "
                "environment where Ray is installed to PATH (e.g. export PATH=\"$VIRTUAL_ENV/bin:$PATH\")."
            )
        spark = self.spark
        if spark is None:
            from .spark import SparkBackend

            spark_ctx: Any = SparkBackend().session()
        else:
            spark_ctx = contextlib.nullcontext(spark)
        with spark_ctx as spark:
            check_ray_on_spark_master(spark.sparkContext.master)
            from ray.util.spark import setup_ray_cluster, shutdown_ray_cluster

            import_optional("pyspark")
            options = self._ray_on_spark_sizing(spark)
            with _node_auth():
                setup_ray_cluster(num_cpus_head_node=0, **options)
                try:
                    ray.init(logging_level="ERROR", runtime_env=env)
                    try:
                        yield
                    finally:
                        ray.shutdown()
                finally:
                    shutdown_ray_cluster()

    def _ray_on_spark_sizing(self, spark: Any) -> dict[str, Any]:
        """setup_ray_cluster sizing: one Ray worker node per Spark executor, with its cores.

        Executor cores come from ``spark.executor.cores`` or a ``local-cluster[N,C,M]`` master;
        the node count from the cluster's total cores. Where neither is known, Ray's own
        default (every slot of the Spark cluster) applies.
        """
        import re

        from ray.util.spark import MAX_NUM_WORKER_NODES

        cores = self.num_cpus_worker_node
        if cores is None:
            conf = spark.sparkContext.getConf().get("spark.executor.cores")
            match = re.match(r"local-cluster\[\s*\d+\s*,\s*(\d+)\s*,", spark.sparkContext.master)
            cores = int(conf) if conf else int(match.group(1)) if match else None
        nodes = self.max_worker_nodes
        if cores is None:
            return {"max_worker_nodes": nodes or MAX_NUM_WORKER_NODES}
        if nodes is None:
            nodes = max(1, spark.sparkContext.defaultParallelism // cores)
        return {"max_worker_nodes": nodes, "min_worker_nodes": nodes,
                "num_cpus_worker_node": cores, "num_gpus_worker_node": 0}

    # ------------------------------------------------------------------ fit
    def run(self, tasks: Sequence[Task], config: TuningConfig, n_jobs: int | None,
            progress: Progress | None = None, priors: Priors | None = None) -> Iterator[GroupResult]:
        if not tasks:
            return
        if priors and self.mode == "trials":
            raise ValueError(
                "warm_start and champion run in Ray's 'groups' mode (one task per group); "
                "mode='trials' runs its own Ray Tune study per group, which does not take them. Use "
                "backend_options={'mode': 'groups'} (or 'auto')."
            )
        with self.cluster() as ray:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            mode = self.mode
            if mode == "auto":
                mode = "trials" if len(tasks) < cpus and not priors else "groups"
            if mode == "groups":
                yield from self._run_groups(ray, tasks, config, priors or {})
            elif mode == "tune":
                yield from self._run_tune(tasks, config, priors or {}, cpus)
            else:
                for key, frame in tasks:
                    yield self._run_trials(ray, key, frame, config, cpus)

    # ------------------------------------------------------------------ predict
    def forecast(self, jobs: list[Any], nonnegative: Any, random_state: int,
                 n_jobs: int | None) -> Iterator[tuple[tuple[Any, ...], Any]]:
        """Forecast batches of groups as Ray tasks on the Ray this process is connected to (or the
        cluster at ``address`` / ``RAY_ADDRESS``); without one, in local processes: starting a
        Ray only to forecast costs more than the forecasts."""
        ray = _import_ray()
        if not (ray.is_initialized() or self._address()):
            yield from super().forecast(jobs, nonnegative, random_state, n_jobs)
            return
        from ..forecast import batches, forecast_batch

        with self.cluster() as ray:
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(forecast_batch)
            pending = [remote.remote(part, nonnegative, random_state) for part in batches(jobs, cpus)]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield from ray.get(done[0])

    def run_spark(
        self, sdf: Any, group_cols: list[str], time_col: str, target_col: str,
        config: TuningConfig, n_jobs: int | None, progress: Progress | None = None,
        priors: Priors | None = None,
    ) -> Iterator[GroupResult]:
        """A Spark DataFrame comes to Ray as Arrow (``DataFrame.toArrow``), then runs as pandas."""
        from ..data import split_groups, validate_history

        functions = import_optional("pyspark.sql.functions")
        # timestamp_ntz: the session's wall-clock times, as Spark's pandas UDFs see them.
        extra = config.drivers.columns
        table = sdf.select(*group_cols, functions.col(time_col).cast("timestamp_ntz").alias(time_col),
                           target_col, *extra).toArrow()
        history = validate_history(table.to_pandas(), group_cols, time_col, target_col, extra=extra,
                                   numeric=config.drivers.future_columns)
        tasks = split_groups(history, group_cols, extra)
        if progress is not None:
            progress.set_total(len(tasks))
        yield from self.run(tasks, config, n_jobs, progress, priors)

    def _run_groups(self, ray: Any, tasks: Sequence[Task], config: TuningConfig, priors: Priors) -> Iterator[GroupResult]:
        # The data goes into the object store once; each task reads its slice of it.
        bounds = []
        start = 0
        for _, frame in tasks:
            bounds.append((start, start + len(frame)))
            start += len(frame)
        history_ref = ray.put(pd.concat([frame for _, frame in tasks], ignore_index=True))
        config_ref = ray.put(config)
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(_tune_slice)
        pending = [
            remote.remote(key, history_ref, lo, hi, config_ref, priors.get(key))
            for (key, _), (lo, hi) in zip(tasks, bounds)
        ]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done)

    def _run_tune(self, tasks: Sequence[Task], config: TuningConfig, priors: Priors, cpus: int) -> Iterator[GroupResult]:
        """One Ray Tune trial per batch of groups (about four batches per CPU, so that Tune's
        bookkeeping of about a second per trial is shared by several groups); trials whose worker
        died are run again (``FailureConfig``); the results come back with the ResultGrid."""
        import base64
        import pickle

        from ray import tune

        n_batches = min(len(tasks), 4 * max(1, cpus))
        batches: list[list[Any]] = [[] for _ in range(n_batches)]
        load = [0] * n_batches
        start = 0
        for key, frame in tasks:  # longest first (split_groups' order), each to the least loaded
            target = load.index(min(load))
            batches[target].append((key, start, start + len(frame)))
            load[target] += len(frame)
            start += len(frame)
        history = pd.concat([frame for _, frame in tasks], ignore_index=True)
        trainable = tune.with_parameters(_tune_batch, history=history, batches=batches, config=config, priors=priors)
        storage = tempfile.mkdtemp(prefix="prophet_grouped_tune_")
        saved = os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS")
        os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # no CSV/JSON copies of the results
        try:
            grid = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                param_space={"batch": tune.grid_search(list(range(n_batches)))},
                # reuse_actors: a batch runs in a worker that has imported Prophet already.
                tune_config=tune.TuneConfig(max_concurrent_trials=max(1, cpus), reuse_actors=True),
                run_config=tune.RunConfig(verbose=0, storage_path=storage,
                                          failure_config=tune.FailureConfig(max_failures=self.max_retries)),
            ).fit()
            lost = []
            for result in grid:
                if result.error is None and "results" in result.metrics:
                    yield from pickle.loads(base64.b64decode(result.metrics["results"]))
                else:
                    lost.append((result.config["batch"], result.error))
        finally:
            if saved is None:
                os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
            else:
                os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = saved
            shutil.rmtree(storage, ignore_errors=True)
        from ..results import error_text

        for index, error in lost:
            reason = error_text(error) if error is not None else "the Tune trial reported no results"
            for key, _, _ in batches[index]:
                yield GroupResult(key=key, status="failed",
                                  error=f"its Ray Tune trial failed {self.max_retries + 1} time(s): {reason}")

    def _run_trials(self, ray: Any, key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig, cpus: int) -> GroupResult:
        from ..checkpoint import checkpointed

        return checkpointed(config.checkpoint_dir, key, frame,
                            lambda: self._tune_trials(ray, key, frame, config, cpus), config.retry_failed)

    def _tune_trials(self, ray: Any, key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig, cpus: int) -> GroupResult:
        from ray import tune
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        from ..engines import quiet, stan_output_dir
        from ..results import error_text
        from ..tuning import group_seed, prepare_group, select_best, trial_failures

        started = time.perf_counter()
        storage = tempfile.mkdtemp(prefix="prophet_grouped_tune_")
        trials: list[float | None] = []
        n_failed = 0
        errors: list[str] = []
        n_uncached = 0
        n_folds = 0
        stopped = False
        best_params: dict[str, Any] | None = None
        best_score = default_score = float("nan")
        error = None
        try:
            group = prepare_group(frame, config, key)
            n_folds = len(group.folds)
            default_trial = group.space.default_trial()
            searcher = OptunaSearch(space=_DefineByRun(group.space), metric="loss", mode="min",
                                    seed=group_seed(config.random_state, key),
                                    points_to_evaluate=None if default_trial is None else [default_trial])
            algo = ConcurrencyLimiter(searcher, max_concurrent=max(1, cpus))
            trainable = tune.with_parameters(_evaluate_trial, group=group, config=config)
            stopper = None if config.early_stopping_rounds is None else _patience_stopper(config.early_stopping_rounds)
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                # reuse_actors: a trial runs in a worker that has imported Prophet already (Tune
                # starts a fresh process per trial by default).
                tune_config=tune.TuneConfig(search_alg=algo, num_samples=config.n_trials, reuse_actors=True),
                run_config=tune.RunConfig(
                    stop=stopper, verbose=0, storage_path=storage,
                    failure_config=tune.FailureConfig(max_failures=self.max_retries),
                ),
            )
            grid = tuner.fit()
            trials = [r.metrics.get("loss") if r.error is None else None for r in grid]
            n_failed = sum(1 for r in grid if r.error is not None)
            n_uncached = sum(int(r.metrics.get("uncached_fits") or 0) for r in grid if r.error is None)
            stopped = bool(stopper is not None and stopper.stop_all())
            errors = [error_text(r.error) for r in grid if r.error is not None]
            with quiet(), stan_output_dir() as out:
                best_params, best_score, default_score = select_best(
                    [(r.config["_prophet_params"], loss) for r, loss in zip(grid, trials)], group, config, out,
                    errors)
        except Exception as exc:
            error = error_text(exc)
        finally:
            shutil.rmtree(storage, ignore_errors=True)
        refit = ray.remote(num_cpus=1, max_retries=self.max_retries)(_refit)
        result = ray.get(refit.remote(key, frame, config, best_params, error))
        result.key = key
        result.trials = trials
        result.n_trials = len(trials)
        result.n_failed_trials = n_failed
        result.stopped_early = stopped
        result.n_folds = n_folds
        result.n_uncached_fits = n_uncached
        result.default_score = default_score
        if result.status == "ok":
            result.best_params = best_params or {}
            result.best_score = best_score
            result.error = trial_failures(errors, len(trials))
        result.seconds = time.perf_counter() - started
        return result


def _patience_stopper(patience: int) -> Any:
    """A Tune stopper ending the experiment after ``patience`` reported trials without a new best."""
    from ray import tune

    class PatienceStopper(tune.Stopper):
        def __init__(self) -> None:
            self.best = float("inf")
            self.since_best = 0

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            loss = result.get("loss")
            if loss is not None and loss < self.best:
                self.best, self.since_best = loss, 0
            else:
                self.since_best += 1
            return False

        def stop_all(self) -> bool:
            return self.since_best >= patience

    return PatienceStopper()

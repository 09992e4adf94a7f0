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
- ``"trials"``: for fewer groups than CPUs, each group's study (the shared one:
  :func:`~prophet_grouped.tuning.tune_group`, run in this process) evaluates its trials as many at
  a time as the cluster has CPUs (Optuna's ``n_jobs``), on long-lived Ray actors that hold the
  group's folds (the engine's feature cache stays warm). Parallel TPE sees the trials in another
  order than the local backend: results are not bit-identical to it.

``"auto"`` (default) picks ``"trials"`` when there are fewer groups than cluster CPUs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._environ import environ
from .._imports import import_optional
from ..engines import quiet, stan_output_dir
from ..forecast import batches, forecast_batch
from ..keys import group_key
from ..results import GroupResult, error_text
from ..tuning import (
    baseline_score,
    calibration,
    checked_rows,
    prepare_group,
    run_trial,
    tune_group,
    tune_rows,
    uncached_fits,
)
from ._ray_auth import HOOK_VARIABLE, token_auth_env
from .base import Backend, Priors, Task
from .spark import PARTITION_COL, SparkBackend, group_plan, spark_history

if TYPE_CHECKING:
    from ..config import TuningConfig
    from ..progress import Progress

logger = logging.getLogger(__name__)

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
    return tune_group(key, history.iloc[start:stop].reset_index(drop=True), config, prior)


def _tune_staged(path: str, group_cols: list[str], config: TuningConfig, priors: Priors) -> list[GroupResult]:
    """Ray task: the groups of one Parquet folder that Spark staged (whole groups), each through
    the shared unit of work on its raw rows (:func:`~prophet_grouped.tuning.tune_rows`)."""
    rows = pd.read_parquet(path)
    return [tune_rows(part.reset_index(drop=True), group_cols, config, priors)
            for _, part in rows.groupby(group_cols, sort=True, dropna=False)]


def _tune_batch(tune_config: dict[str, Any], history: pd.DataFrame, batches: list[list[Any]],
                config: TuningConfig, priors: Priors) -> dict[str, Any]:
    """Ray Tune trainable ("tune" mode): the shared unit of work on each group of one batch;
    the results travel back as the trial's one metric (pickled, base64 text: Tune keeps metrics
    as JSON)."""
    import base64
    import pickle

    results = [tune_group(key, history.iloc[lo:hi].reset_index(drop=True), config, priors.get(key))
               for key, lo, hi in batches[tune_config["batch"]]]
    return {"results": base64.b64encode(pickle.dumps(results)).decode("ascii")}


class _TrialWorker:
    """Ray actor of the "trials" mode: holds one group's prepared folds (its engine's feature
    cache stays warm across the group's trials) and runs the shared trial on them."""

    def prepare(self, key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig) -> None:
        self.config = config
        with quiet():
            self.group = prepare_group(frame, config, key)

    def evaluate(self, params: dict[str, Any]) -> tuple[bool, Any]:
        """(True, loss) or (False, the exception), so that the driver raises the trial's own error."""
        try:
            with quiet(), stan_output_dir() as out:
                return True, run_trial(params, self.group, self.config, out)
        except Exception as exc:  # noqa: BLE001  (the trial's failure, raised again in the study)
            return False, exc

    def uncached_fits(self) -> int:
        return uncached_fits(self.group, self.config)

    def naive_score(self) -> float:
        return baseline_score(self.group, self.config)

    def calibration(self, params: dict[str, Any]) -> tuple[float, float] | None:
        with quiet(), stan_output_dir() as out:
            return calibration(self.group, self.config, params, out)


class _RayTrialRunner:
    """:class:`~prophet_grouped.tuning.TrialRunner` on a pool of :class:`_TrialWorker` actors:
    each trial goes to a free actor; an actor that died is restarted by Ray, given the group
    again and the trial sent again (up to ``max_retries`` times)."""

    def __init__(self, ray: Any, actors: list[Any], max_retries: int) -> None:
        import queue

        self.ray = ray
        self.actors = actors
        self.parallel = len(actors)
        self.max_retries = max_retries
        self._free: Any = queue.Queue()
        for actor in actors:
            self._free.put(actor)
        self._group: tuple[Any, ...] = ()

    def prepare(self, key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig) -> None:
        refs = (self.ray.put(frame), self.ray.put(config))
        self._group = (key, *refs)
        self.ray.get([actor.prepare.remote(key, *refs) for actor in self.actors])

    def evaluate(self, params: Any) -> float:
        from ray.exceptions import RayActorError

        actor = self._free.get()
        try:
            for attempt in range(self.max_retries + 1):
                try:
                    ok, value = self.ray.get(actor.evaluate.remote(dict(params)))
                    break
                except RayActorError:
                    if attempt == self.max_retries:
                        raise
                    self.ray.get(actor.prepare.remote(*self._group))  # a restarted actor: the group again
            if not ok:
                raise value
            return float(value)
        finally:
            self._free.put(actor)

    def uncached_fits(self) -> int:
        return int(sum(self.ray.get([actor.uncached_fits.remote() for actor in self.actors])))

    def naive_score(self) -> float:
        return float(self.ray.get(self.actors[0].naive_score.remote()))

    def calibration(self, params: Any) -> tuple[float, float] | None:
        return self.ray.get(self.actors[0].calibration.remote(dict(params)))


def _runtime_env() -> dict[str, Any] | None:
    """Ray workers get this process's ``PYTHONPATH`` (a library run from a checkout)."""
    return {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}} if os.environ.get("PYTHONPATH") else None


class _DropThreadWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "current thread is not the main thread" not in record.getMessage()


@contextlib.contextmanager
def _quiet_thread_warning() -> Iterator[None]:
    """Without Ray's warning that ``ray.init`` off the main thread sets no SIGTERM handler (its
    handler only turns SIGTERM into ``sys.exit``; Ray's processes die with this one anyway)."""
    ray_logger = logging.getLogger("ray._private.worker")
    drop = _DropThreadWarning()
    ray_logger.addFilter(drop)
    try:
        yield
    finally:
        ray_logger.removeFilter(drop)


def _kill_monitor() -> None:
    """Kill the autoscaler monitor of the local Ray this process started, before ``ray.shutdown()``.

    ``ray.shutdown()`` stops that Ray's processes one after the other, each with SIGTERM and up to
    a second to exit; the monitor, stopped after the GCS, spends its second trying to tell the
    GCS that it was stopped, then gets SIGKILL: 1.0 of the 1.3 s ``ray.shutdown()`` takes, with
    the machine idle. A local Ray has nothing to autoscale; killed first, the monitor is gone at
    once and ``ray.shutdown()`` skips it (0.3 s). Reads Ray's private node record: on a Ray without
    it, nothing is done."""
    try:
        from ray._private import worker as ray_worker

        processes = ray_worker._global_node.all_processes.get("monitor", [])
    except Exception:  # noqa: BLE001  (another Ray's internals: shut down the ordinary way)
        return
    for info in processes:
        with contextlib.suppress(Exception):
            info.process.kill()
            info.process.wait(timeout=5)


def _stop_local(ray: Any) -> None:
    """Shut down the local Ray this process started (its monitor killed first)."""
    _kill_monitor()
    ray.shutdown()


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
    if token_auth_env() is None:
        yield
        return
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
        values = {"RAY_AUTH_MODE": "disabled"}
    else:
        values = {HOOK_VARIABLE: "prophet_grouped.backends._ray_auth.TokenAuthStartHook", "RAY_AUTH_MODE": "token"}
    try:
        with environ(values):
            _refresh_ray_config()  # this process read the mode when Ray was imported
            yield
    finally:
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
    staging_dir : str or None
        Where Spark writes a Spark DataFrame's groups as Parquet for the Ray tasks to read: a
        folder every Spark executor and Ray node reads and writes as a local path (on a
        cluster: NFS, ``/dbfs/...``). None: the temporary folder, right when Spark and Ray run on
        one machine. A subfolder is made for the fit and removed after it.
    """

    name = "ray"
    shared = ("spark",)

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
        staging_dir: str | None = None,
    ) -> None:
        self.address = address
        self.spark = spark
        self.ray_on_spark = ray_on_spark
        self.max_worker_nodes = max_worker_nodes
        self.num_cpus_worker_node = num_cpus_worker_node
        self.num_cpus = num_cpus
        self.mode = mode
        self.max_retries = max_retries
        self.staging_dir = staging_dir

    def __repr__(self) -> str:
        return f"RayBackend(address={self.address!r}, ray_on_spark={self.ray_on_spark or self.spark is not None}, mode={self.mode!r})"

    # ------------------------------------------------------------------ cluster
    @contextlib.contextmanager
    def cluster(self) -> Iterator[Any]:
        """Connect to (or start) Ray; what is started here is shut down on exit."""
        self._check_options()
        ray = _import_ray()
        if ray.is_initialized():
            yield ray
            return
        env = _runtime_env()
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
        self._init_local(ray)
        try:
            yield ray
        finally:
            _stop_local(ray)

    def _init_local(self, ray: Any) -> None:
        """Start a local Ray of our own with ``num_cpus`` (every core by default), even when another
        Ray runs on this machine (without ``address="local"``, ``ray.init()`` joins a running one
        and refuses ``num_cpus``)."""
        ray.init(address="local", num_cpus=self._local_cpus(), include_dashboard=False, logging_level="ERROR",
                 runtime_env=_runtime_env())

    def _local_cpus(self) -> int:
        """The CPUs of a local Ray this backend starts."""
        return self.num_cpus or len(os.sched_getaffinity(0))

    def _mode_for(self, n_groups: int, cpus: int) -> str:
        """The mode to run in: ``"auto"`` is ``"trials"`` for fewer groups than CPUs, else ``"groups"``."""
        if self.mode != "auto":
            return self.mode
        return "trials" if n_groups < cpus else "groups"

    def _check_options(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Invalid Ray mode: {self.mode!r}, expected one of {list(MODES)}.")
        if self.num_cpus is not None and (isinstance(self.num_cpus, bool) or not isinstance(self.num_cpus, int)
                                          or self.num_cpus < 1):
            raise ValueError(f"Invalid num_cpus for the Ray backend: {self.num_cpus!r}; give a whole number "
                             f">= 1 (the CPUs of the local Ray it starts), or leave it out for every core.")

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
        self._check_options()
        priors = priors or {}
        if self._shares_start(tasks):
            yield from self._run_while_starting(tasks, config, priors)
            return
        with self.cluster() as ray:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            mode = self._mode_for(len(tasks), cpus)
            if mode == "groups":
                yield from self._drain(ray, self._submit_groups(ray, tasks, config, priors))
            elif mode == "tune":
                yield from self._run_tune(tasks, config, priors, cpus)
            else:
                yield from self._run_trials(ray, tasks, config, priors, cpus)

    def _shares_start(self, tasks: Sequence[Task]) -> bool:
        """Whether this fit starts a local Ray in ``"groups"`` mode with groups to spare for this
        process while it starts (:meth:`_run_while_starting`)."""
        ray = _import_ray()
        if ray.is_initialized() or self._address() is not None or self.spark is not None or self.ray_on_spark:
            return False
        return len(tasks) > 1 and self._mode_for(len(tasks), self._local_cpus()) == "groups"

    def _run_while_starting(self, tasks: Sequence[Task], config: TuningConfig, priors: Priors) -> Iterator[GroupResult]:
        """``"groups"`` mode on a local Ray this fit starts, with this process tuning groups while
        Ray starts.

        ``ray.init`` of a local Ray keeps a 2-core machine about half busy for 2-3 s (its GCS,
        raylet and agents start) while this process waits in it (benchmarks/ray_startup.py). Here
        Ray starts in a thread while this thread tunes groups from the end of the list (the
        shortest: tasks come longest first), one at a time, through the same unit of work; once
        Ray is up (and the group in progress is done), the groups left go to Ray tasks. The
        tuning stays in the calling thread (the main one, usually): there a ``trial_timeout``
        timer can interrupt a trial, and the BLAS library is called from the thread it always is.
        """
        ray = _import_ray()
        started: dict[str, Any] = {}
        up, done = threading.Event(), threading.Event()

        def start() -> None:
            # The thread lives until Ray is shut down: Ray's processes are started with a
            # parent-death signal, which Linux sends when the *thread* that started them ends.
            try:
                with _quiet_thread_warning():
                    self._init_local(ray)
            except BaseException as exc:  # noqa: BLE001  (raised again in the fit's thread)
                started["error"] = exc
            up.set()
            done.wait()

        starter = threading.Thread(target=start, name="prophet_grouped: ray.init", daemon=True)
        starter.start()
        left = len(tasks)
        try:
            while left > 0 and not up.is_set():
                left -= 1
                key, frame = tasks[left]
                yield tune_group(key, frame, config, priors.get(key))
            up.wait()
            if "error" in started:
                raise started["error"]
            logger.debug("%d of %d groups tuned in this process while Ray started", len(tasks) - left, len(tasks))
            yield from self._drain(ray, self._submit_groups(ray, tasks[:left], config, priors))
        finally:
            up.wait()
            if "error" not in started:
                _stop_local(ray)
            done.set()
            starter.join()

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
        """A Spark DataFrame reaches Ray through Parquet files that Spark writes to
        ``staging_dir`` (each file whole groups), not through the driver: in ``"groups"`` mode
        each Ray task reads one file and tunes its groups. The ``"tune"`` and ``"trials"`` modes
        read the files in the driver. The files are removed after the fit."""
        functions = import_optional("pyspark.sql.functions")
        history = spark_history(sdf, group_cols, time_col, target_col, config)
        # timestamp_ntz: the session's wall-clock times in the files, as Spark's pandas UDFs see them.
        history = history.withColumn("ds", functions.col("ds").cast("timestamp_ntz"))
        slots = max(1, sdf.sparkSession.sparkContext.defaultParallelism)
        plan, plan_rows, n_parts = group_plan(history, group_cols, 4 * slots)
        if progress is not None:
            progress.set_total(len(plan_rows))
        root = self.staging_dir or tempfile.gettempdir()
        os.makedirs(root, exist_ok=True)
        folder = tempfile.mkdtemp(prefix="prophet_grouped_staging_", dir=root)
        try:
            (history.join(functions.broadcast(plan), on=group_cols).repartition(n_parts, PARTITION_COL)
             .write.mode("overwrite").partitionBy(PARTITION_COL).parquet(folder))
            parts = sorted(os.path.join(folder, d) for d in os.listdir(folder) if d.startswith(f"{PARTITION_COL}="))
            if self._mode_for(len(plan_rows), slots) != "groups":
                yield from self._run_staged_in_driver(parts, group_cols, config, n_jobs, progress, priors)
                return

            part_of = {group_key(row[:-1]): row[-1] for row in plan_rows}
            by_part: dict[Any, dict[Any, Any]] = {}
            for key, prior in (priors or {}).items():
                if key in part_of:
                    by_part.setdefault(part_of[key], {})[key] = prior
            with self.cluster() as ray:
                config_ref = ray.put(config)
                remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(_tune_staged)
                pending = [remote.remote(path, group_cols, config_ref, by_part.get(int(path.rsplit("=", 1)[1]), {}))
                           for path in parts]
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    yield from ray.get(done[0])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _run_staged_in_driver(self, parts: list[str], group_cols: list[str], config: TuningConfig,
                              n_jobs: int | None, progress: Progress | None, priors: Priors | None) -> Iterator[GroupResult]:
        # Each group checked on its own, as a "groups" mode task checks it (tune_rows): a group
        # whose rows can't be used fails alone.
        tasks = []
        for path in parts:
            for _, rows in pd.read_parquet(path).groupby(group_cols, sort=True, dropna=False):
                key, checked = checked_rows(rows.reset_index(drop=True), group_cols, config)
                if isinstance(checked, GroupResult):
                    yield checked
                else:
                    tasks.append((key, checked))
        tasks.sort(key=lambda task: -len(task[1]))  # longest first, as split_groups orders them
        yield from self.run(tasks, config, n_jobs, progress, priors)

    def _submit_groups(self, ray: Any, tasks: Sequence[Task], config: TuningConfig, priors: Priors) -> list[Any]:
        """``"groups"`` mode: one Ray task per group. The data goes into the object store once;
        each task reads its slice of it."""
        if not tasks:
            return []
        bounds = []
        start = 0
        for _, frame in tasks:
            bounds.append((start, start + len(frame)))
            start += len(frame)
        history_ref = ray.put(pd.concat([frame for _, frame in tasks], ignore_index=True))
        config_ref = ray.put(config)
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(_tune_slice)
        return [
            remote.remote(key, history_ref, lo, hi, config_ref, priors.get(key))
            for (key, _), (lo, hi) in zip(tasks, bounds)
        ]

    @staticmethod
    def _drain(ray: Any, pending: list[Any]) -> Iterator[Any]:
        """The results of Ray tasks, each as soon as it is done."""
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
        # No CSV/JSON copies of the results; Tune's older output engine, which verbose=0 silences
        # (Ray 2.60's new one prints its experiment table anyway).
        quiet_tune = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_AIR_NEW_OUTPUT": "0"}
        try:
            with environ(quiet_tune):
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
            shutil.rmtree(storage, ignore_errors=True)

        for index, error in lost:
            reason = error_text(error) if error is not None else "the Tune trial reported no results"
            for key, _, _ in batches[index]:
                yield GroupResult(key=key, status="failed",
                                  error=f"its Ray Tune trial failed {self.max_retries + 1} time(s): {reason}")

    def _run_trials(self, ray: Any, tasks: Sequence[Task], config: TuningConfig, priors: Priors,
                    cpus: int) -> Iterator[GroupResult]:
        """Each group's study (the shared :func:`~prophet_grouped.tuning.tune_group`, run here)
        with its trials evaluated ``cpus`` at a time by long-lived actors."""
        actor_cls = ray.remote(num_cpus=1, max_restarts=self.max_retries)(_TrialWorker)
        actors = [actor_cls.remote() for _ in range(max(1, cpus))]
        try:
            runner = _RayTrialRunner(ray, actors, self.max_retries)
            for key, frame in tasks:
                yield tune_group(key, frame, config, priors.get(key), runner)
        finally:
            for actor in actors:
                ray.kill(actor)

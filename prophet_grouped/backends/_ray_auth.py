"""Ray's token authentication for the Ray-on-Spark cluster the Ray backend starts.

Ray >= 2.5x starts a head node (``ray start --head``) with token authentication on when
``RAY_AUTH_MODE`` is unset and ``~/.ray/auth_token`` exists (any earlier local ``ray.init()``
writes that file). ``ray.util.spark`` starts the worker nodes in Spark tasks, whose environment
has neither the mode nor the token: they run without authentication and the head refuses them
("Launch Ray-on-Spark cluster failed", InvalidAuthToken in the worker logs).

:func:`token_auth_env` finds that case; :class:`TokenAuthStartHook` (named by
``RAY_ON_SPARK_START_HOOK`` while the cluster starts) hands the mode and the token to every
node Ray on Spark starts, head and workers, through the environment variables Ray reads
(``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN``). Imported only by ``ray.util.spark`` itself (it names
this module by path), so ``ray`` is importable whenever this module is.
"""

from __future__ import annotations

import os
from typing import Any

#: Ray's variable naming a start-hook class for the clusters ray.util.spark starts.
HOOK_VARIABLE = "RAY_ON_SPARK_START_HOOK"
#: Where Ray keeps its token unless RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH says otherwise.
DEFAULT_TOKEN_FILE = os.path.join("~", ".ray", "auth_token")


def read_token(environ: Any = None) -> str | None:
    """The token Ray would use: ``RAY_AUTH_TOKEN``, else the file ``RAY_AUTH_TOKEN_PATH`` names,
    else ``~/.ray/auth_token``; None when there is none."""
    environ = os.environ if environ is None else environ
    token = environ.get("RAY_AUTH_TOKEN")
    if not token:
        path = environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser(DEFAULT_TOKEN_FILE)
        try:
            with open(path) as fh:
                token = fh.read().strip()
        except OSError:
            return None
    return token or None


def token_auth_env(environ: Any = None) -> dict[str, str] | None:
    """The variables that give every Ray-on-Spark node the authentication its head node will
    use, or None when there is nothing to hand over (``RAY_AUTH_MODE`` set explicitly: the user
    decided; no token anywhere: Ray starts without authentication on every node)."""
    environ = os.environ if environ is None else environ
    token = read_token(environ)
    if environ.get("RAY_AUTH_MODE") is not None or token is None:
        return None
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}


def _base_hook() -> type:
    from ray.util.spark.databricks_hook import DefaultDatabricksRayOnSparkStartHook
    from ray.util.spark.start_hook_base import RayOnSparkStartHook
    from ray.util.spark.utils import is_in_databricks_runtime

    return DefaultDatabricksRayOnSparkStartHook if is_in_databricks_runtime() else RayOnSparkStartHook


class TokenAuthStartHook(_base_hook()):  # type: ignore[misc]
    """Ray on Spark's default start hook, plus token authentication (``RAY_AUTH_MODE=token``
    and the token of :func:`read_token`) in every node's environment."""

    def __init__(self, is_global: bool = False) -> None:
        super().__init__(is_global)

    def custom_environment_variables(self) -> dict[str, str]:
        token = read_token()
        auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token} if token else {}
        return {**super().custom_environment_variables(), **auth}

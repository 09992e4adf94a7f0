"""Backends: where the per-group unit of work runs. Optional ones are imported when chosen."""

from __future__ import annotations

import importlib
from typing import Any

from ..exceptions import InputTypeError
from .base import Backend

# name -> (module, class); modules are imported only when the backend is chosen.
BACKENDS: dict[str, tuple[str, str]] = {
    "local": (".local", "LocalBackend"),
    "spark": (".spark", "SparkBackend"),
    "ray": (".ray", "RayBackend"),
}


def get_backend(backend: object, options: dict[str, Any] | None = None) -> Backend:
    """The backend object for a name (built with ``options``) or a :class:`Backend` instance."""
    if isinstance(backend, Backend):
        if options:
            raise ValueError(
                "backend_options is only used with a backend name; configure the backend object "
                "itself instead."
            )
        return backend
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"Invalid backend: {backend!r}, expected one of {sorted(BACKENDS)} or a Backend instance.")
    if options is not None and not isinstance(options, dict):
        raise InputTypeError(f"backend_options must be a dict or None, got {type(options).__name__}.")
    module_name, class_name = BACKENDS[backend]
    module = importlib.import_module(module_name, __name__)
    cls = getattr(module, class_name)
    try:
        return cls(**(options or {}))
    except TypeError as exc:
        raise ValueError(f"Invalid backend_options for backend={backend!r}: {exc}.") from exc


__all__ = ["BACKENDS", "Backend", "get_backend"]

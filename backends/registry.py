"""Find backends by ``kind`` through Python entry points, loading each only when it is used.

Built-ins are registered in this project's ``pyproject.toml`` exactly as a third-party package would
register its own (``[project.entry-points."bluegreen_console.routers"]``), so a new router is one module
and one line of config. Listing kinds never imports a backend: ``bluegreen demo`` must not pay for
importing ``kubernetes``. A backend whose import fails is reported with its own error, not fatal to
the others.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from backends.base import ConfigError

ROUTERS = "bluegreen_console.routers"
METRICS = "bluegreen_console.metrics"

_GROUP_NOUN = {ROUTERS: "router", METRICS: "metrics source"}

# Registered at run time (tests, embedding applications); these win over entry points.
_runtime: dict[str, dict[str, Callable[..., Any]]] = {ROUTERS: {}, METRICS: {}}


_loaded: dict[
    tuple[str, str], Callable[..., Any]
] = {}  # (group, kind) -> what its entry point gave


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def available(group: str) -> list[str]:
    """Every kind in ``group``, sorted, without importing any of them."""
    return sorted(set(_entry_points(group)) | set(_runtime[group]))


def register(group: str, kind: str, factory: Callable[..., Any]) -> None:
    """Register ``factory`` for ``kind`` in this process (it shadows an entry point of that name)."""
    _runtime[group][kind] = factory


def unregister(group: str, kind: str) -> None:
    _runtime[group].pop(kind, None)


def resolve(group: str, kind: str) -> Callable[..., Any]:
    """The class (or factory) registered for ``kind``.

    Raises:
        ConfigError: no such kind (the message lists the known ones), or the backend failed to
            import (the message carries the import error and the package to install).
    """
    if kind in _runtime[group]:
        return _runtime[group][kind]
    if (group, kind) in _loaded:  # reading every installed package's entry points took 10 ms:
        return _loaded[group, kind]  # 2 s of a board of 200 services' start
    eps = _entry_points(group)
    noun = _GROUP_NOUN[group]
    if kind not in eps:
        known = (
            ", ".join(available(group)) or "none (is bluegreen-console installed? pip install -e .)"
        )
        raise ConfigError(f"unknown {noun} kind {kind!r}; known kinds: {known}")
    try:
        factory: Callable[..., Any] = eps[kind].load()
        _loaded[group, kind] = factory
        return factory
    except Exception as exc:  # a broken plugin must not take the console down with a traceback
        raise ConfigError(
            f"the {noun} kind {kind!r} ({eps[kind].value}) failed to load: "
            f"{type(exc).__name__}: {exc}. Is its package installed?"
        ) from exc

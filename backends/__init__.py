"""Pluggable edges of bluegreen-console: routers and metrics sources.

Importing this package imports no backend and nothing from Textual; see ``backends.registry``.
"""

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    BackendError,
    BackendTimeout,
    Colour,
    ColourMetrics,
    ColourState,
    ConfigError,
    Conflict,
    MetricsSource,
    PermissionDenied,
    QueryError,
    Router,
    RouterState,
    ServerState,
    ServerStatus,
    Unreachable,
    Unsupported,
    VerifyFailed,
)

__all__ = [
    "COLOURS",
    "ActionRefused",
    "BackendContext",
    "BackendError",
    "BackendTimeout",
    "Colour",
    "ColourMetrics",
    "ColourState",
    "ConfigError",
    "Conflict",
    "MetricsSource",
    "PermissionDenied",
    "QueryError",
    "Router",
    "RouterState",
    "ServerState",
    "ServerStatus",
    "Unreachable",
    "Unsupported",
    "VerifyFailed",
]

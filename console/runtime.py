"""Build a service's backends from its config: the one place that turns ``kind = "..."`` into objects."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from backends import registry
from backends.base import BackendContext, BackendError, MetricsSource, Router
from backends.clock import Clock, system_clock
from console.config import ConfigFileError, ServiceConfig
from console.guard import Guard


@dataclass
class ServiceRuntime:
    """A service's live backends, each behind its own deadline guard."""

    config: ServiceConfig
    router: Router
    metrics: MetricsSource | None
    clock: Clock
    router_guard: Guard = field(init=False)
    metrics_guard: Guard | None = field(init=False)

    def __post_init__(self) -> None:
        t = self.config.call_timeout
        self.router_guard = Guard(f"{self.router.kind} router", t)
        self.metrics_guard = Guard(f"{self.metrics.kind} metrics", t) if self.metrics else None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def warm_seconds(self) -> float:
        """The warm-rollback window after a switch: ``keep_warm`` when set; else the bake window,
        or longer when the router says clients may keep the old answer longer (a DNS-like router's
        ``keep_warm_hint()``: twice the record's TTL, from its last read; never I/O here)."""
        if self.config.keep_warm is not None:
            return self.config.keep_warm
        hint = None
        with contextlib.suppress(Exception):  # a plugin's hint must never break an action or a poll
            hint = self.router.keep_warm_hint()
        return max(self.config.bake_seconds, float(hint)) if hint else self.config.bake_seconds

    def close(self) -> None:
        for obj in (self.router, self.metrics):
            if obj is not None:
                with contextlib.suppress(
                    Exception
                ):  # closing must never turn an exit into a traceback
                    obj.close()
        self.router_guard.close()
        if self.metrics_guard:
            self.metrics_guard.close()


def build(
    service: ServiceConfig,
    *,
    clock: Clock | None = None,
    seed: int | None = None,
    source: str = "config",
) -> ServiceRuntime:
    """Resolve and construct the router (and metrics source) of ``service``.

    Raises:
        ConfigFileError: unknown kind, a backend that fails to import, or options the backend
            rejects; the message names the service and the table.
    """
    clock = clock or system_clock
    ctx = BackendContext(service=service.name, clock=clock, timeout=service.call_timeout, seed=seed)
    built: dict[str, Any] = {}
    for table, group, cfg in (
        ("router", registry.ROUTERS, service.router),
        ("metrics", registry.METRICS, service.metrics),
    ):
        if cfg is None:
            continue
        where = f"{source}: service {service.name!r} [service.{table}]"
        try:
            factory = registry.resolve(group, cfg.kind)
            built[table] = factory(cfg.options, ctx)
        except BackendError as exc:
            raise ConfigFileError(f"{where}: {exc}") from None
        except Exception as exc:
            raise ConfigFileError(
                f"{where} kind {cfg.kind!r}: {type(exc).__name__}: {exc}"
            ) from None
    return ServiceRuntime(service, built["router"], built.get("metrics"), clock)

"""The one place that builds the console's app, used by the CLI (``demo``, ``watch``) and the tests
(Pilot tests, snapshots and the screenshots) alike, and the demo's service, built in code.

    app = make_app(service, audit_path)                       # bluegreen watch
    app = make_app(demo_config("bad-release").service[0], ...)  # bluegreen demo
    app = make_app(service, path, clock=ManualClock(), options=AppOptions(auto_poll=False))  # tests

The caller closes the backends (``app.runtime.close()``) once the app has exited.
"""

from __future__ import annotations

import os

from backends.clock import Clock, system_clock
from console.app import AppOptions, BlueGreenApp
from console.audit import AuditLog
from console.config import ConsoleConfig, ServiceConfig, from_mapping
from console.recorder import Recorder, service_settings
from console.runtime import ServiceRuntime, build

DEMO_SERVICE = "shop"


def demo_config(
    scenario: str = "healthy", seed: int = 7, bake_seconds: float = 60.0, poll_interval: float = 1.0
) -> ConsoleConfig:
    """The demo's service on the simulator, built in code: no file needed."""
    return from_mapping(
        {
            "service": [
                {
                    "name": DEMO_SERVICE,
                    "poll_interval": poll_interval,
                    "bake_seconds": bake_seconds,
                    "router": {"kind": "simulator", "scenario": scenario, "seed": seed},
                    "metrics": {"kind": "simulator"},
                }
            ]
        },
        "demo",
    )


def make_app(
    service: ServiceConfig | ServiceRuntime,
    audit_path: str | os.PathLike[str],
    *,
    clock: Clock = system_clock,
    options: AppOptions | None = None,
    source: str = "config",
    recorder: Recorder | None = None,
) -> BlueGreenApp:
    """Build ``service``'s backends and the app that watches them.

    Args:
        service: the service to watch, or its backends already built (a test that keeps one
            router world across a restart of the console); ``clock`` is then the runtime's.
        audit_path: the audit log file (created on the first action).
        clock: the clock of the backends, the alarms, the bake window and the audit log; tests pass
            a ``ManualClock`` and advance it themselves.
        options: read-only, automatic polling, the subtitle.
        source: where the service came from (a config file's path), for error messages.
        recorder: the flight recorder to hand every frame and action to (started by the caller;
            the app registers the service with it and closes it on exit), or None: not recorded.

    Raises:
        ConfigFileError: a backend could not be built from the service's options.
    """
    if isinstance(service, ServiceRuntime):
        runtime, clock = service, service.clock
    else:
        runtime = build(service, clock=clock, source=source)
    if recorder is not None:
        recorder.add_service(
            runtime.name,
            runtime.router.kind,
            runtime.router.identity,
            service_settings(runtime.config),
        )
    return BlueGreenApp(runtime, AuditLog(audit_path, clock), options, recorder)

"""Live router worlds for the router contract suite (tests/contract/) and the per-router console tests.

A *world* is one router kind running for real, in the layout every console test uses: a service
``shop`` whose blue colour is live and whose green colour is idle, both healthy, with the audit log
in the test's directory. It builds the console's runtime from a config (``console.runtime.build``),
and it offers *hooks* the contract scenarios drive:

* independent views: ``live()``, ``draining()``, ``served()``, ``writes()`` read the router's world
  without the router under test (HAProxy's admin socket and map file, nginx's files and requests
  through it, the API objects, the simulated world), so a scenario checks what really happened, not what the router says;
* faults: ``switch_outside()`` / ``drain_outside()`` (someone else changed the routing),
  ``unhealthy()`` (a colour with no healthy server), ``unreachable()`` (the router is gone),
  ``denied()`` (reached, not allowed), ``race_on_write()`` (the routing changes between the
  router's own read and write), ``without_split()`` (no weighted split configured);
* ``restart()``: the runtime a restarted console builds (same config, same router, same audit log);
* ``cli_config()``: the TOML a CLI process (tests/support/cli.py) is pointed at.

A hook a kind truly cannot produce raises ``Cannot(reason)`` and the scenario skips with that
reason. A hook a world does not implement at all fails the scenario (``RouterWorld`` raises
NotImplementedError): a new router kind gets every scenario and cannot skip one silently.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backends.base import Colour
from console.config import ServiceConfig, from_mapping, load
from console.runtime import ServiceRuntime, build
from tests.support.cli import wait_for

BLUE, GREEN = Colour.BLUE, Colour.GREEN
SERVICE = "shop"


class Cannot(Exception):
    """This router kind cannot produce that fault or ability; the message says why."""


class RouterWorld:
    """One router kind, running, blue live. Subclasses implement every hook (or raise Cannot)."""

    kind = "?"

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.audit_path = tmp_path / "audit.jsonl"
        self._runtimes: list[ServiceRuntime] = []

    # -- the console's side ------------------------------------------------------------------

    def service_config(self) -> ServiceConfig:
        raise NotImplementedError(self._missing("service_config"))

    def cli_config(self) -> Path:
        """The TOML config file a CLI process (another process) is pointed at."""
        raise NotImplementedError(self._missing("cli_config"))

    def build(self) -> ServiceRuntime:
        """The runtime a console builds from this world's config (closed at teardown)."""
        return self._keep(build(self.service_config(), source=f"{self.kind} contract world"))

    def restart(self, old: ServiceRuntime) -> ServiceRuntime:
        """What a restarted console builds: ``old`` is closed, a new runtime reads the same router."""
        old.close()
        return self.build()

    def _keep(self, runtime: ServiceRuntime) -> ServiceRuntime:
        self._runtimes.append(runtime)
        return runtime

    def close(self) -> None:
        for rt in self._runtimes:
            rt.close()

    # -- independent views of the router's world ----------------------------------------------

    def live(self) -> Colour | None:
        """The colour new requests go to, read without the router under test."""
        raise NotImplementedError(self._missing("live"))

    def draining(self, colour: Colour) -> bool:
        raise NotImplementedError(self._missing("draining"))

    def assert_kept(self) -> None:
        """After the console's own verbs: what the router keeps beside the live colour agrees with
        it (HAProxy's map file, the Kubernetes preview Service)."""
        raise NotImplementedError(self._missing("assert_kept"))

    def served(self) -> set[str] | None:
        """Colours real requests reach now (None: this world has no data plane to ask)."""
        raise NotImplementedError(self._missing("served"))

    def writes(self) -> int | None:
        """How many writes the router has received so far (None: the world cannot count them)."""
        raise NotImplementedError(self._missing("writes"))

    # -- faults -------------------------------------------------------------------------------

    def switch_outside(self, to: Colour) -> None:
        """Someone else (an operator, another tool) sends new traffic to ``to``."""
        raise NotImplementedError(self._missing("switch_outside"))

    def drain_outside(self, colour: Colour) -> None:
        """Someone else drains ``colour`` the way this router's drain does."""
        raise NotImplementedError(self._missing("drain_outside"))

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        """Each way this kind has of leaving ``colour`` with no healthy server: make it so, yield
        the server counts the refusal names (for instance "2 MAINT"), then undo it."""
        raise NotImplementedError(self._missing("unhealthy"))

    def unreachable(self) -> contextlib.AbstractContextManager[str]:
        """The router is gone (stopped, killed, refused); yields words its error names."""
        raise NotImplementedError(self._missing("unreachable"))

    def denied(self) -> contextlib.AbstractContextManager[tuple[ServiceRuntime, str]]:
        """A runtime that can read but is not allowed to write; yields it and words its error names."""
        raise NotImplementedError(self._missing("denied"))

    def race_on_write(self, to: Colour) -> str:
        """Arrange that someone else changes the routing between the router's own read and its
        write of the next switch; returns words the router's Conflict names."""
        raise NotImplementedError(self._missing("race_on_write"))

    def without_split(self) -> ServiceRuntime:
        """A runtime of this kind with no weighted split configured."""
        raise NotImplementedError(self._missing("without_split"))

    def drift_persisted(self, to: Colour) -> None:
        """Make the router's persisted config (what a reload reads) name ``to`` while the running
        router keeps routing as it does; raise Cannot where the kind persists nothing apart."""
        raise NotImplementedError(self._missing("drift_persisted"))

    def persisted(self) -> Colour | None:
        """The colour the persisted config names (read independently of the router)."""
        raise NotImplementedError(self._missing("persisted"))

    def _missing(self, hook: str) -> str:
        return (
            f"the contract world for router kind {self.kind!r} does not implement {hook}(): "
            "implement it in tests/support/router_worlds.py, or raise Cannot('why this kind cannot')"
        )


# --------------------------------------------------------------------------------------------------
# The simulator: in this process.


class SimulatorWorld(RouterWorld):
    """The built-in simulator with its metrics source (as ``bluegreen demo``), on the real clock.

    Its world lives in this process: a console restart is new runtime, controller, monitor and audit
    log around the same simulated world (a new process would simulate a new one)."""

    kind = "simulator"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self._first: ServiceRuntime | None = None

    def service_config(self) -> ServiceConfig:
        return from_mapping(
            {
                "audit_log": str(self.audit_path),
                "service": [
                    {
                        "name": SERVICE,
                        "poll_interval": 1.0,
                        "bake_seconds": 60,
                        "router": {"kind": "simulator", "seed": 7, "servers": 3},
                        "metrics": {"kind": "simulator"},
                    }
                ],
            },
            "simulator contract world",
        ).pick(None)

    def build(self) -> ServiceRuntime:
        if self._first is None:
            self._first = super().build()
            return self._first
        first = self._first
        return self._keep(ServiceRuntime(first.config, first.router, first.metrics, first.clock))

    def restart(self, old: ServiceRuntime) -> ServiceRuntime:
        return self.build()  # closing ``old`` would close the simulated world's router object

    def cli_config(self) -> Path:
        raise Cannot(
            "the simulated world lives in this process: a CLI process would simulate a world of "
            "its own"
        )

    @property
    def world(self) -> Any:
        if self._first is None:
            self.build()
        assert self._first is not None
        return self._first.router.world  # type: ignore[attr-defined]

    def live(self) -> Colour | None:
        return self.world.live

    def draining(self, colour: Colour) -> bool:
        return self.world.router_state().colour(colour).draining

    def assert_kept(self) -> None:
        pass  # the simulated world is all there is

    def served(self) -> set[str] | None:
        return {c.value for c, m in self.world.sample().items() if (m.rate or 0) > 0}

    def writes(self) -> int | None:
        return None

    def switch_outside(self, to: Colour) -> None:
        self.world.switch(to)

    def drain_outside(self, colour: Colour) -> None:
        self.world.drain(colour)

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        world = self.world
        # SimWorld has no public verb for this: its servers fail only in the server-failure
        # scenario, at a time of its choosing (tests/unit/test_monitor.py does the same).
        servers = world.router_state().colour(colour).servers
        with world._lock:
            world._sides[colour].down = {s.name for s in servers}
        try:
            yield f"{len(servers)} DOWN"
        finally:
            with world._lock:
                world._sides[colour].down = set()

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[str]:
        self.world.set_fault("router", "down")
        try:
            yield "simulated router is down"
        finally:
            self.world.set_fault("router", None)

    def denied(self) -> contextlib.AbstractContextManager[tuple[ServiceRuntime, str]]:
        raise Cannot("the simulator has no permissions: every caller may do everything")

    def race_on_write(self, to: Colour) -> str:
        raise Cannot(
            "the simulator applies a verb under one lock: nothing can change between its read "
            "and its write (the console's own check between plan and execute is tested)"
        )

    def drift_persisted(self, to: Colour) -> None:
        raise Cannot("the simulator router persists nothing apart from what it runs")

    def persisted(self) -> Colour | None:
        raise Cannot("the simulator router persists nothing apart from what it runs")

    def without_split(self) -> ServiceRuntime:
        raise Cannot("the simulator always has a weighted split")


# --------------------------------------------------------------------------------------------------
# HAProxy: a real process (tests/integration/haproxy_fixture.py).


def haproxy_config(
    tmp_path: Path,
    socket_path: str | None,
    map_path: str,
    *,
    extra: str = "",
    split: bool = True,
    name: str = "console.toml",
) -> tuple[Path, Path]:
    """A console config for the HAProxy lab's layout; ``socket_path=None`` leaves the key out.
    Returns (config, audit log path)."""
    audit = tmp_path / "audit.jsonl"
    sock = "" if socket_path is None else f'socket = "{socket_path}"\n'
    split_line = 'split_backend = "split-backend"\n' if split else ""
    config = tmp_path / name
    config.write_text(
        f'audit_log = "{audit}"\n'
        "\n"
        "[[service]]\n"
        'name = "shop"\n'
        "poll_interval = 1.0\n"
        "timeout = 2.0\n"
        "bake_seconds = 60\n"
        "\n"
        "[service.router]\n"
        'kind = "haproxy"\n'
        f"{sock}"
        f'map = "{map_path}"\n'
        'map_key = "/"\n'
        f"{split_line}"
        f"{extra}"
        "\n"
        "[service.router.backends]\n"
        'blue = "blue-backend"\n'
        'green = "green-backend"\n'
    )
    return config, audit


class HAProxyWorld(RouterWorld):
    """A real HAProxy (``running_lab``: blue-1, blue-2 / green-1, green-2 behind it, a split
    backend) and the console config pointing at its admin socket."""

    kind = "haproxy"

    def __init__(self, tmp_path: Path, lab: Any) -> None:
        super().__init__(tmp_path)
        self.lab = lab
        self.config_file, _ = haproxy_config(tmp_path, str(lab.socket), str(lab.map))

    def service_config(self) -> ServiceConfig:
        return load(self.config_file).pick(None)

    def cli_config(self) -> Path:
        return self.config_file

    def _build_from(self, config: Path) -> ServiceRuntime:
        return self._keep(build(load(config).pick(None), source=str(config)))

    # -- views: the admin socket (a raw socket, not the router under test) and the map file

    def map_value(self) -> str:
        """The live map entry as HAProxy holds it in memory (``show map``)."""
        lines = [
            ln for ln in self.lab.command(f"show map {self.lab.map}").splitlines() if ln.strip()
        ]
        entries = {p[1]: p[2] for p in (ln.split() for ln in lines) if len(p) >= 3}
        return entries["/"]

    def map_file_value(self) -> str:
        for line in self.lab.map.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "/":
                return parts[1]
        raise AssertionError(f"no '/' entry in {self.lab.map}")

    def live(self) -> Colour | None:
        return {"blue-backend": BLUE, "green-backend": GREEN}.get(self.map_value())

    def assert_kept(self) -> None:
        # set map changes memory only: the file must say the same, or a reload would revert it
        value = self.map_value()
        assert self.map_file_value() == value, (value, self.lab.map.read_text())

    def statuses(self, colour: Colour) -> set[str]:
        return {
            s.split()[0] for (b, _), s in self.lab.statuses().items() if b == f"{colour}-backend"
        }

    def draining(self, colour: Colour) -> bool:
        return self.statuses(colour) == {"DRAIN"}

    def served(self) -> set[str] | None:
        from tests.integration.haproxy_fixture import get

        answers = get(self.lab.url, 10)
        assert all(status == 200 for status, _, _ in answers), answers
        return {colour for _, colour, _ in answers if colour}

    def writes(self) -> int | None:
        return None

    # -- faults

    def switch_outside(self, to: Colour) -> None:
        self.lab.command(f"set map {self.lab.map} / {to}-backend")  # as an operator with socat

    def drain_outside(self, colour: Colour) -> None:
        self.lab.command(
            "; ".join(f"set server {colour}-backend/{colour}-{i} state drain" for i in (1, 2))
        )

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        lab, names = self.lab, [f"{colour}-backend/{colour}-{i}" for i in (1, 2)]
        # An operator disables every server of the colour on the admin socket (MAINT).
        lab.command("; ".join(f"disable server {n}" for n in names))
        try:
            yield "2 MAINT"
        finally:
            lab.command("; ".join(f"enable server {n}" for n in names))
        # The servers really go DOWN: their processes stop, the health checks fail.
        old = lab.colour_apps(str(colour))
        for app in old:
            app.stop()
        try:
            assert wait_for(lambda: self.statuses(colour) == {"DOWN"}), self.statuses(colour)
            yield "2 DOWN"
        finally:
            from console.lab.fleet import FleetApp

            for app in old:
                lab.apps[app.name] = FleetApp(
                    app.colour, app.version, name=app.name, port=app.port, latency_ms=2.0
                ).start()
        assert wait_for(lambda: self.statuses(colour) == {"UP"}), self.statuses(colour)

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[str]:
        self.lab.kill()  # SIGKILL: HAProxy is gone, its socket file stays behind
        yield f"HAProxy admin socket {self.lab.socket}"

    @contextlib.contextmanager
    def denied(self) -> Iterator[tuple[ServiceRuntime, str]]:
        # The lab's `level user` socket: reading is allowed, changing anything is not.
        config, _ = haproxy_config(
            self.tmp, str(self.lab.user_socket), str(self.lab.map), name="user-level.toml"
        )
        yield self._build_from(config), "level admin"

    def race_on_write(self, to: Colour) -> str:
        raise Cannot(
            "HAProxy's `set map` has no precondition: HAProxy cannot tell a change made between "
            "the router's read and its write (the console's own check between plan and execute "
            "is tested)"
        )

    def drift_persisted(self, to: Colour) -> None:
        from backends.haproxy.io import rewrite_map_file

        rewrite_map_file(str(self.lab.map), "/", f"{to.value}-backend")  # by hand, no reload

    def persisted(self) -> Colour | None:
        value = self.map_file_value()
        return next((c for c in (Colour.BLUE, Colour.GREEN) if value == f"{c.value}-backend"), None)

    def without_split(self) -> ServiceRuntime:
        config, _ = haproxy_config(
            self.tmp, str(self.lab.socket), str(self.lab.map), split=False, name="no-split.toml"
        )
        return self._build_from(config)


def haproxy_fleet_config(
    tmp_path: Path,
    fleet: Any,
    *,
    user: bool = False,
    split: bool = True,
    name: str = "console.toml",
) -> Path:
    """A console config for a HAProxy fleet (``running_fleet``): one ``[[service.router.instances]]``
    per HAProxy, each with its own socket (``user``: the ``level user`` one) and map file."""
    audit = tmp_path / "audit.jsonl"
    instances = "".join(
        "\n[[service.router.instances]]\n"
        f'name = "{n}"\n'
        f'socket = "{lab.user_socket if user else lab.socket}"\n'
        f'map = "{lab.map}"\n'
        for n, lab in zip(fleet.names, fleet.labs, strict=True)
    )
    split_line = 'split_backend = "split-backend"\n' if split else ""
    config = tmp_path / name
    config.write_text(
        f'audit_log = "{audit}"\n'
        "\n"
        "[[service]]\n"
        'name = "shop"\n'
        "poll_interval = 1.0\n"
        "timeout = 2.0\n"
        "bake_seconds = 60\n"
        "\n"
        "[service.router]\n"
        'kind = "haproxy"\n'
        'map_key = "/"\n'
        f"{split_line}"
        "\n"
        "[service.router.backends]\n"
        'blue = "blue-backend"\n'
        'green = "green-backend"\n'
        f"{instances}"
    )
    return config


class HAProxyFleetWorld(RouterWorld):
    """Three real HAProxy processes (``running_fleet``: lb1..lb3, each with its own admin socket
    and map file, in front of the same blue-1, blue-2 / green-1, green-2) configured as one
    ``kind = "haproxy"`` router with ``instances``. The views read every instance; the outside
    changes are made on every instance (someone switching the whole fleet by hand)."""

    kind = "haproxy"

    def __init__(self, tmp_path: Path, fleet: Any) -> None:
        super().__init__(tmp_path)
        self.fleet = fleet
        self.config_file = haproxy_fleet_config(tmp_path, fleet)

    def service_config(self) -> ServiceConfig:
        return load(self.config_file).pick(None)

    def cli_config(self) -> Path:
        return self.config_file

    def _build_from(self, config: Path) -> ServiceRuntime:
        return self._keep(build(load(config).pick(None), source=str(config)))

    def live(self) -> Colour | None:
        values = set(self.fleet.map_values().values())
        if len(values) != 1:
            return None  # the instances disagree (or one does not answer)
        return {"blue-backend": BLUE, "green-backend": GREEN}.get(values.pop() or "")

    def assert_kept(self) -> None:
        memory, files = self.fleet.map_values(), self.fleet.file_values()
        assert memory == files and len(set(memory.values())) == 1, (memory, files)

    def statuses(self, colour: Colour) -> set[str]:
        return {
            s.split()[0]
            for lab in self.fleet.labs
            for (b, _), s in lab.statuses().items()
            if b == f"{colour}-backend"
        }

    def draining(self, colour: Colour) -> bool:
        return self.statuses(colour) == {"DRAIN"}

    def served(self) -> set[str] | None:
        from tests.integration.haproxy_fixture import get

        colours: set[str] = set()
        for lab in self.fleet.labs:
            answers = get(lab.url, 6)
            assert all(status == 200 for status, _, _ in answers), answers
            colours |= {colour for _, colour, _ in answers if colour}
        return colours

    def writes(self) -> int | None:
        return None

    def switch_outside(self, to: Colour) -> None:
        for lab in self.fleet.labs:
            lab.command(f"set map {lab.map} / {to}-backend")

    def drain_outside(self, colour: Colour) -> None:
        for lab in self.fleet.labs:
            lab.command(
                "; ".join(f"set server {colour}-backend/{colour}-{i} state drain" for i in (1, 2))
            )

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        names = [f"{colour}-backend/{colour}-{i}" for i in (1, 2)]
        for lab in self.fleet.labs:
            lab.command("; ".join(f"disable server {n}" for n in names))
        try:
            yield "2 MAINT"
        finally:
            for lab in self.fleet.labs:
                lab.command("; ".join(f"enable server {n}" for n in names))
        # The servers really go DOWN on every instance: their processes stop.
        old = [a for a in self.fleet.apps.values() if a.colour == str(colour)]
        for app in old:
            app.stop()
        try:
            assert wait_for(lambda: self.statuses(colour) == {"DOWN"}), self.statuses(colour)
            yield "2 DOWN"
        finally:
            from console.lab.fleet import FleetApp

            for app in old:
                self.fleet.apps[app.name] = FleetApp(
                    app.colour, app.version, name=app.name, port=app.port, latency_ms=2.0
                ).start()
        assert wait_for(lambda: self.statuses(colour) == {"UP"}), self.statuses(colour)

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[str]:
        for lab in self.fleet.labs:
            lab.kill()
        yield "no instance of the HAProxy fleet answered"

    @contextlib.contextmanager
    def denied(self) -> Iterator[tuple[ServiceRuntime, str]]:
        config = haproxy_fleet_config(self.tmp, self.fleet, user=True, name="user-level.toml")
        yield self._build_from(config), "level admin"

    def race_on_write(self, to: Colour) -> str:
        raise Cannot("HAProxy's `set map` has no precondition (see HAProxyWorld)")

    def drift_persisted(self, to: Colour) -> None:
        from backends.haproxy.io import rewrite_map_file

        for lab in self.fleet.labs:
            rewrite_map_file(str(lab.map), "/", f"{to.value}-backend")

    def persisted(self) -> Colour | None:
        values = set(self.fleet.file_values().values())
        if len(values) != 1:
            return None
        value = values.pop()
        return next((c for c in (Colour.BLUE, Colour.GREEN) if value == f"{c.value}-backend"), None)

    def without_split(self) -> ServiceRuntime:
        return self._build_from(
            haproxy_fleet_config(self.tmp, self.fleet, split=False, name="no-split.toml")
        )


# --------------------------------------------------------------------------------------------------
# Kubernetes: the fake API server (tests/support/k8s_fake.py) in this process, over HTTP.

ANN_DRAINED = "bluegreen-console/drained"  # what a drain leaves on the Deployment (kubectl sees it)
NO_COLOUR = "bluegreen-drained"  # the preview Service's selector value while its colour is drained
BLUE_PODS = [f"shop-blue-7d9f8-{i:02d}" for i in range(3)]
GREEN_PODS = [f"shop-green-7d9f8-{i:02d}" for i in range(3)]


@contextlib.contextmanager
def shop_cluster() -> Iterator[Any]:
    """The fake API server with Services shop (live: blue) and shop-preview (idle: green) and
    Deployments shop-blue (1.4.1) and shop-green (1.4.2) with 3 ready pods each. Callers keep
    proxies out of the way (127.0.0.1 only)."""
    from tests.support.k8s_fake import FakeKube

    with FakeKube() as fake:
        fake.add_service("shop", {"app": "shop", "version": "blue"})
        fake.add_service("shop-preview", {"app": "shop", "version": "green"})
        fake.add_deployment(
            "shop-blue", {"app": "shop", "version": "blue"}, image="registry:5000/shop:1.4.1"
        )
        fake.add_deployment(
            "shop-green", {"app": "shop", "version": "green"}, image="registry:5000/shop:1.4.2"
        )
        yield fake


def kubernetes_config(tmp_path: Path, host: str, *, deployments: bool = True) -> tuple[Path, Path]:
    """A console config for the fake's objects. Returns (config, audit log path)."""
    audit = tmp_path / "audit.jsonl"
    config = tmp_path / "console.toml"
    deps = 'deployments = { blue = "shop-blue", green = "shop-green" }\n' if deployments else ""
    config.write_text(
        f'audit_log = "{audit}"\n'
        "\n"
        "[[service]]\n"
        'name = "shop"\n'
        "poll_interval = 1.0\n"
        "timeout = 5.0\n"
        "bake_seconds = 60\n"
        "\n"
        "[service.router]\n"
        'kind = "kubernetes"\n'
        f'host = "{host}"\n'
        'namespace = "default"\n'
        'service = "shop"\n'
        'preview_service = "shop-preview"\n'
        'selector_label = "version"\n'
        'colours = { blue = "blue", green = "green" }\n'
        f"{deps}"
    )
    return config, audit


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


class KubernetesWorld(RouterWorld):
    """The fake API server in the shop layout and a console config pointing at it."""

    kind = "kubernetes"

    def __init__(self, tmp_path: Path, kube: Any) -> None:
        super().__init__(tmp_path)
        self.kube = kube
        self.config_file, _ = kubernetes_config(tmp_path, kube.url)

    def service_config(self) -> ServiceConfig:
        return load(self.config_file).pick(None)

    def cli_config(self) -> Path:
        return self.config_file

    def selected(self, name: str = "shop") -> str:
        """The colour label value a Service selects, read from the API's own object."""
        return self.kube.get("services", name)["spec"]["selector"]["version"]

    def annotations(self, deployment: str) -> dict[str, str]:
        return self.kube.get("deployments", deployment)["metadata"].get("annotations") or {}

    def live(self) -> Colour | None:
        return {"blue": BLUE, "green": GREEN}.get(self.selected())

    def draining(self, colour: Colour) -> bool:
        return ANN_DRAINED in self.annotations(f"shop-{colour}")

    def assert_kept(self) -> None:
        live = self.live()
        assert live is not None, self.selected()
        idle = live.other
        # the preview Service follows the idle colour, or selects no pod while it is drained
        preview = self.selected("shop-preview")
        assert preview == (NO_COLOUR if self.draining(idle) else idle.value), preview

    def served(self) -> set[str] | None:
        return None  # no data plane: the Service's selector is what decides (see live())

    def writes(self) -> int | None:
        # Writes that route: the Services and Deployments. The Lease an action holds is written
        # too, and says nothing about where traffic goes.
        return sum(
            self.kube.count(method, resource)
            for method in ("PATCH", "PUT", "POST")
            for resource in ("services", "deployments")
        )

    def switch_outside(self, to: Colour) -> None:
        # kubectl patch service shop -p '{"spec":{"selector":{"version":"green"}}}'
        self.kube.mutate(
            "services", "shop", lambda o: o["spec"]["selector"].update(version=to.value)
        )

    def drain_outside(self, colour: Colour) -> None:
        # What the router's drain leaves behind, written by another client.
        self.kube.mutate(
            "deployments",
            f"shop-{colour}",
            lambda o: (
                o["metadata"]
                .setdefault("annotations", {})
                .update({ANN_DRAINED: "2026-01-01T00:00:00Z"})
            ),
        )
        self.kube.mutate(
            "services", "shop-preview", lambda o: o["spec"]["selector"].update(version=NO_COLOUR)
        )

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        pods = GREEN_PODS if colour is GREEN else BLUE_PODS
        for pod in pods:
            self.kube.set_pod_ready(pod, False)
        try:
            yield f"{len(pods)} DOWN"
        finally:
            for pod in pods:
                self.kube.set_pod_ready(pod, True)

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[str]:
        url = self.kube.url
        self.kube.stop()  # the API server is gone: connections are refused
        yield f"cannot reach the Kubernetes API server at {url}"

    @contextlib.contextmanager
    def denied(self) -> Iterator[tuple[ServiceRuntime, str]]:
        self.kube.deny.update({("patch", "services"), ("patch", "deployments")})
        try:
            yield self.build(), "forbidden"
        finally:
            self.kube.deny.clear()

    def race_on_write(self, to: Colour) -> str:
        def another_operator(fake: Any) -> None:  # between the router's read and its write
            fake.mutate(
                "services", "shop", lambda o: o["spec"]["selector"].update(version="canary")
            )

        self.kube.on("PATCH", "services", another_operator)
        return "the Service shop changed since it was read"

    def drift_persisted(self, to: Colour) -> None:
        raise Cannot("the kubernetes router persists nothing apart from what it runs")

    def persisted(self) -> Colour | None:
        raise Cannot("the kubernetes router persists nothing apart from what it runs")

    def without_split(self) -> ServiceRuntime:
        return self.build()  # a Service has no weighted split


# --------------------------------------------------------------------------------------------------
# Nginx: a real process (tests/integration/nginx_fixture.py).


def nginx_config(tmp_path: Path, lab: Any, nginx: str, *, name: str = "console.toml") -> Path:
    """A console config for the nginx lab's layout, with ``nginx`` as the binary it runs."""
    opts = lab.router_options(nginx=nginx)
    config = tmp_path / name
    config.write_text(
        f'audit_log = "{tmp_path / "audit.jsonl"}"\n'
        "\n"
        "[[service]]\n"
        'name = "shop"\n'
        "poll_interval = 1.0\n"
        "timeout = 2.0\n"
        "bake_seconds = 60\n"
        "\n"
        "[service.router]\n"
        'kind = "nginx"\n'
        + "".join(
            f'{key} = "{opts[key]}"\n'
            for key in (
                "conf",
                "prefix",
                "nginx",
                "pid_file",
                "map",
                "probe_url",
                "probe_header",
                "stub_status_url",
                "error_log",
            )
        )
        + 'upstreams = { blue = "blue", green = "green" }\n'
        + "upstream_files = { "
        + ", ".join(f'{c} = "{p}"' for c, p in opts["upstream_files"].items())
        + " }\n"
    )
    return config


class NginxWorld(RouterWorld):
    """A real nginx (``running_nginx``: blue-1, blue-2 / green-1, green-2 behind it, blue live)
    and the console config pointing at its files. The config's ``nginx`` is a wrapper script that
    runs the real binary, and, once armed by ``race_on_write``, rewrites the map file while the
    router runs ``nginx -T`` (between its read and its write), as another writer would."""

    kind = "nginx"

    def __init__(self, tmp_path: Path, lab: Any) -> None:
        super().__init__(tmp_path)
        self.lab = lab
        self.trigger = tmp_path / "race-armed"
        self.wrapper = tmp_path / "nginx-wrapper"
        self.wrapper.write_text(
            "#!/bin/sh\n"
            f'if [ -e "{self.trigger}" ]; then case "$*" in *-T*)\n'
            f'  rm -f "{self.trigger}"; printf "default canary;\\n" > "{lab.map}" ;;\n'
            "esac; fi\n"
            f'exec "{lab.lab.nginx}" "$@"\n'
        )
        self.wrapper.chmod(0o755)
        self.config_file = nginx_config(tmp_path, lab, str(self.wrapper))

    def service_config(self) -> ServiceConfig:
        return load(self.config_file).pick(None)

    def cli_config(self) -> Path:
        return self.config_file

    # -- views: the files (read here, not by the router) and real requests through nginx

    def live(self) -> Colour | None:
        return {"blue": BLUE, "green": GREEN}.get(self.lab.map_value() or "")

    def draining(self, colour: Colour) -> bool:
        return all(self.lab.down(colour.value))

    def assert_kept(self) -> None:
        # The files name the live colour, and nginx has loaded them: requests go there.
        live = self.live()
        assert live is not None, self.lab.map.read_text()
        assert self.served() == {live.value}

    def served(self) -> set[str] | None:
        from tests.integration.haproxy_fixture import get

        answers = get(self.lab.url, 10)
        assert all(status == 200 for status, _, _ in answers), answers
        return {colour for _, colour, _ in answers if colour}

    def writes(self) -> int | None:
        # Not a count: a token that changes with every write of the files and every reload.
        files = [self.lab.map, *self.lab.files.values()]
        return hash((tuple(f.stat().st_mtime_ns for f in files), tuple(sorted(self.lab.workers()))))

    # -- faults

    def switch_outside(self, to: Colour) -> None:
        # An operator edits the map file and reloads nginx.
        self.lab.map.write_text(f"default {to.value};\n")
        self.lab.reload()

    def drain_outside(self, colour: Colour) -> None:
        self.lab.set_down(colour.value, True)
        self.lab.reload()

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        # The colour's servers stop: connections to them are refused (nginx has no health checks
        # of its own to ask; the router tries a TCP connection to each server).
        lab, old = self.lab, self.lab.colour_apps(colour.value)
        for app in old:
            app.stop()
        try:
            yield f"{len(old)} DOWN"
        finally:
            from console.lab.fleet import FleetApp

            for app in old:
                lab.apps[app.name] = FleetApp(
                    app.colour, app.version, name=app.name, port=app.port, latency_ms=2.0
                ).start()

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[str]:
        self.lab.kill()  # SIGKILL: the pid file stays behind, naming a dead master
        yield "nginx is not running"

    @contextlib.contextmanager
    def denied(self) -> Iterator[tuple[ServiceRuntime, str]]:
        # Even root may not create files in an immutable directory: the upstream files' one.
        import subprocess

        where = self.lab.files["green"].parent
        proc = subprocess.run(["chattr", "+i", str(where)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise Cannot(f"cannot make {where} unwritable here (chattr: {proc.stderr.strip()})")
        try:
            yield self.build(), "permission denied writing the upstream file of green"
        finally:
            subprocess.run(["chattr", "-i", str(where)], capture_output=True)

    def race_on_write(self, to: Colour) -> str:
        self.trigger.touch()
        return "changed since it was read"

    def drift_persisted(self, to: Colour) -> None:
        raise Cannot(
            "nginx's files are its persisted config, and the router writes them and reloads at "
            "every verb: there is nothing apart to sync (a file changed without a reload is "
            "reported as a pending reload; tests/integration/test_nginx.py)"
        )

    def persisted(self) -> Colour | None:
        raise Cannot("the nginx router persists nothing apart from nginx's own files")

    def without_split(self) -> ServiceRuntime:
        return self.build()  # a map names one upstream: no weighted split


def hook(world: RouterWorld, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or skip naming the kind when the world says it cannot."""
    import pytest

    try:
        return fn(*args)
    except Cannot as reason:
        pytest.skip(f"{world.kind}: {reason}")


def ways(world: RouterWorld, gen: Iterator[str]) -> Iterator[str]:
    """The items of a fault generator, skipping naming the kind when the world says it cannot."""
    import pytest

    try:
        yield from gen
    except Cannot as reason:
        pytest.skip(f"{world.kind}: {reason}")


# --------------------------------------------------------------------------------------------------
# Building a world per kind.


@contextlib.contextmanager
def simulator_world(tmp_path: Path) -> Iterator[RouterWorld]:
    world = SimulatorWorld(tmp_path)
    try:
        yield world
    finally:
        world.close()


@contextlib.contextmanager
def haproxy_world(tmp_path: Path) -> Iterator[RouterWorld]:
    from tests.integration.haproxy_fixture import running_lab

    with running_lab() as lab:
        world = HAProxyWorld(tmp_path, lab)
        try:
            yield world
        finally:
            world.close()


@contextlib.contextmanager
def haproxy_fleet_world(tmp_path: Path) -> Iterator[RouterWorld]:
    from tests.integration.haproxy_fixture import running_fleet

    with running_fleet(3) as fleet:
        world = HAProxyFleetWorld(tmp_path, fleet)
        try:
            yield world
        finally:
            world.close()


@contextlib.contextmanager
def kubernetes_world(tmp_path: Path) -> Iterator[RouterWorld]:
    with shop_cluster() as kube:
        world = KubernetesWorld(tmp_path, kube)
        try:
            yield world
        finally:
            world.close()


@contextlib.contextmanager
def nginx_world(tmp_path: Path) -> Iterator[RouterWorld]:
    from tests.integration.nginx_fixture import running_nginx

    with running_nginx() as lab:
        world = NginxWorld(tmp_path, lab)
        try:
            yield world
        finally:
            world.close()


def gateway_api_world(tmp_path: Path) -> contextlib.AbstractContextManager[RouterWorld]:
    from tests.support.mesh_worlds import mesh_world  # it builds on this module

    return mesh_world("gateway-api", tmp_path)


def istio_world(tmp_path: Path) -> contextlib.AbstractContextManager[RouterWorld]:
    from tests.support.mesh_worlds import mesh_world

    return mesh_world("istio", tmp_path)


def alb_world(tmp_path: Path) -> contextlib.AbstractContextManager[RouterWorld]:
    from tests.support.aws_worlds import alb_world as world  # moto: imported when used

    return world(tmp_path)


def route53_world(tmp_path: Path) -> contextlib.AbstractContextManager[RouterWorld]:
    from tests.support.aws_worlds import route53_world as world

    return world(tmp_path)


#: router kind -> a context manager building its live world in a test's directory
WORLDS: dict[str, Callable[[Path], contextlib.AbstractContextManager[RouterWorld]]] = {
    "simulator": simulator_world,
    "haproxy": haproxy_world,
    "kubernetes": kubernetes_world,
    "nginx": nginx_world,
    "gateway-api": gateway_api_world,
    "istio": istio_world,
    "alb": alb_world,
    "route53": route53_world,
}

#: more worlds of a registered kind in another layout (world id -> builder), run by the same suite
VARIANTS: dict[str, Callable[[Path], contextlib.AbstractContextManager[RouterWorld]]] = {
    "haproxy-fleet": haproxy_fleet_world,
}

__all__ = [
    "VARIANTS",
    "BLUE_PODS",
    "GREEN_PODS",
    "WORLDS",
    "Cannot",
    "RouterWorld",
    "closed_port_url",
    "hook",
    "ways",
    "haproxy_config",
    "kubernetes_config",
    "nginx_config",
    "shop_cluster",
]

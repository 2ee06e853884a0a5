"""The two contracts every backend implements, the plain data they exchange, and their errors.

Nothing here imports Textual, ``console`` or ``widgets``: a backend is usable from a script, a test or
the headless CLI without the TUI (``tests/unit/test_import_hygiene.py`` checks it).

A *router* decides which colour receives traffic (HAProxy, a Kubernetes Service, the simulator). A
*metrics source* measures each colour (Prometheus, the simulator). Both are built once per service
from that service's config table, and both are synchronous: the console calls them from worker
threads with a deadline (``console.guard``), never from the UI's event loop.

The three verbs mean the same to an operator on every router:

* **switch** ``to``: new requests go to ``to``, atomically; in-flight requests on the old colour finish.
* **drain** ``colour``: ``colour`` gets no new requests; its in-flight ones finish; it stays deployed.
* **ready** ``colour``: undo a drain.

What each verb does *mechanically* is written in each backend's class docstring and on its page in docs/.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar

from backends.clock import Clock


class Colour(str, Enum):
    """One of the two environments."""

    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Colour:
        return Colour.GREEN if self is Colour.BLUE else Colour.BLUE

    def __str__(self) -> str:  # f"{colour}" reads "blue", not "Colour.BLUE"
        return self.value

    @classmethod
    def parse(cls, text: str) -> Colour:
        """``"blue"`` / ``"Green"`` -> Colour; raises ValueError naming the two choices."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown colour {text!r}: expected 'blue' or 'green'") from None


COLOURS: tuple[Colour, Colour] = (Colour.BLUE, Colour.GREEN)


# --------------------------------------------------------------------------------------------------
# Plain data. Frozen: a worker hands these to the UI thread, which never copies defensively.


@dataclass(frozen=True)
class ColourMetrics:
    """What one colour is doing, as measured once.

    ``None`` means *no data* (no series, not measured by this source). A value can also be absent
    for a reason a person should read ("no traffic" when the rate is 0 and error % is 0/0): that goes
    in ``notes``.

    Attributes:
        rate: requests per second.
        error_pct: 5xx responses as a percentage of all responses (0..100).
        latency_ms: a latency figure in milliseconds; which one is in ``latency_stat``.
        latency_stat: ``"p99"`` for a real 99th percentile, or for instance ``"avg of last 1024"``
            when the only source is HAProxy's average. The UI prints it beside the figure.
        sessions: requests (or connections) in flight right now.
        notes: short human reasons for missing values, keyed by metric name.
        requests_total: responses counted so far by the router (a counter: it only grows, until
            the router restarts), when it counts them; the console takes the deltas between polls
            as the evidence behind error % (``console.evidence``).
        errors_total: of those, the 5xx responses.
        sources: where each figure came from, metric -> source (``{"error_pct": "prometheus",
            "requests_total": "haproxy"}``): the kind of the backend that measured it. Filled by
            the backend; ``merged_over`` keeps each figure's own. A figure missing here has no
            named source (the console then names the backend kind it read it from).
    """

    rate: float | None = None
    error_pct: float | None = None
    latency_ms: float | None = None
    sessions: float | None = None
    latency_stat: str = "p99"
    notes: Mapping[str, str] = field(default_factory=dict)
    requests_total: float | None = None
    errors_total: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    METRICS: ClassVar[tuple[str, ...]] = ("rate", "error_pct", "latency_ms", "sessions")

    def value(self, metric: str) -> float | None:
        v = getattr(self, metric)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return float(v)

    def with_sources(self, source: str) -> ColourMetrics:
        """These figures, each one present and not yet attributed named as from ``source``."""
        named = dict(self.sources)
        for name in (*self.METRICS, "requests_total", "errors_total"):
            if getattr(self, name) is not None:
                named.setdefault(name, source)
        return self if named == dict(self.sources) else replace(self, sources=named)

    def merged_over(self, base: ColourMetrics | None) -> ColourMetrics:
        """These values, with gaps filled from ``base`` (router-side figures under Prometheus ones).
        Each figure keeps its source (``sources``): a filled one brings the base's."""
        if base is None:
            return self
        filled: dict[str, Any] = {}
        for name in self.METRICS:
            # A gap this source explained ("no traffic") stays a gap: the router's figure for it
            # (HAProxy's average of its last 1024 requests, say) would be stale, not a fill-in.
            if self.value(name) is None and name not in self.notes and base.value(name) is not None:
                filled[name] = getattr(base, name)
                if name == "latency_ms":
                    filled["latency_stat"] = base.latency_stat
        if self.requests_total is None and base.requests_total is not None:
            # the router's counters, under any source
            filled["requests_total"] = base.requests_total
            filled["errors_total"] = base.errors_total
        sources = dict(self.sources)
        for name in filled:
            if name in base.sources:
                sources[name] = base.sources[name]
        notes = {**base.notes, **self.notes}
        for name in self.METRICS:
            # A note says why a figure is missing: beside a figure it would contradict it (the
            # router's "measuring" next to Prometheus's 47.3 %).
            if name in filled or self.value(name) is not None:
                notes.pop(name, None)
        return replace(self, notes=notes, sources=sources, **filled)


class ServerStatus(str, Enum):
    UP = "UP"
    DOWN = "DOWN"
    DRAIN = "DRAIN"
    MAINT = "MAINT"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ServerState:
    """One server (HAProxy server, Kubernetes pod, simulated instance) behind a colour."""

    name: str
    status: ServerStatus
    weight: int | None = None
    sessions: int | None = None
    check: str | None = None  # health-check result as the router words it, e.g. "L7OK"

    @property
    def healthy(self) -> bool:
        """Able to take traffic if asked to (DRAIN counts: a ready undoes it)."""
        return self.status in (ServerStatus.UP, ServerStatus.DRAIN)


@dataclass(frozen=True)
class ColourState:
    """What the router says about one colour.

    Attributes:
        colour: which colour.
        servers: the servers behind it, in the router's order.
        draining: the colour receives no new requests (drained by an operator).
        weight: share of new traffic in percent (0..100), or None if the router does not split.
        version: the release this colour runs, when the router knows it (image tag, label).
        metrics: what the router itself measures for this colour (HAProxy's stats, the simulator),
            or None. A metrics source's figures take precedence; these fill the gaps.
        detail: backend-specific facts worth showing, e.g. {"backend": "green-backend"}. For
            display only: the console decides nothing on these keys.
        scale_down_pending: the colour is drained, and the router will do more when drained again
            (Kubernetes with ``scale_down_after_drain``: a Service still routed to it, so the scale
            to 0 waits). A drain is then not refused as "already draining".
    """

    colour: Colour
    servers: tuple[ServerState, ...] = ()
    draining: bool = False
    weight: int | None = None
    version: str | None = None
    metrics: ColourMetrics | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
    scale_down_pending: bool = False

    @property
    def healthy_servers(self) -> int:
        return sum(1 for s in self.servers if s.healthy)


@dataclass(frozen=True)
class InstanceState:
    """One instance of a router made of several (a HAProxy fleet), as its own read found it.

    Attributes:
        name: the instance's name from config (``lb1``), or its address.
        live: the colour this instance sends new requests to, None when it points at neither or
            could not be read.
        error: why the instance could not be read (its routing is then unknown), else None.
        detail: backend-specific facts for display, e.g. {"socket": "...", "backend": "..."}.
    """

    name: str
    live: Colour | None
    error: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)


def instances_split(instances: Sequence[InstanceState]) -> str | None:
    """The sentence saying that the instances which answered do not all route to one colour
    ("2 of 3 instances route to green (lb1, lb2); lb3 routes to blue"), else None (they agree, or
    there is at most one)."""
    read = [i for i in instances if i.error is None]
    lives = {i.live for i in read}
    if len(read) < 2 or len(lives) < 2:
        return None
    groups: dict[Colour | None, list[str]] = {}
    for i in read:
        groups.setdefault(i.live, []).append(i.name)
    # The biggest group first (a tie: green, the colour a switch usually moves to, first).
    order = sorted(groups, key=lambda c: (-len(groups[c]), c is None, c != Colour.GREEN))
    first, rest = order[0], order[1:]
    total = len(instances)

    def where(c: Colour | None) -> str:
        return str(c) if c is not None else "neither colour"

    n = len(groups[first])
    head = (
        f"{n} of {total} instances route to {where(first)} ({', '.join(groups[first])})"
        if n > 1
        else f"{groups[first][0]} routes to {where(first)}"
    )
    tail = "; ".join(
        f"{', '.join(groups[c])} route{'s' if len(groups[c]) == 1 else ''} to {where(c)}"
        for c in rest
    )
    return f"{head}; {tail}"


@dataclass(frozen=True)
class RouterState:
    """The router's answer to "where does traffic go now?", read in one go.

    Attributes:
        live: the colour that receives new requests, or None when the router points at neither
            (a map value naming an unknown backend, a selector matching no colour).
        colours: one ColourState per colour.
        fingerprint: an opaque token that changes whenever the routing changes (a map value, a
            resourceVersion); used to notice changes made outside the console.
        detail: backend-specific facts for the header, e.g. {"map": "/etc/haproxy/backend.map"}.
        instances: for a router made of several instances (a HAProxy fleet), each one's own
            routing; empty for a single one. ``live`` is then the colour they all route to, or
            None while they disagree (``instances_split`` says how).
    """

    live: Colour | None
    colours: Mapping[Colour, ColourState]
    fingerprint: str = ""
    detail: Mapping[str, str] = field(default_factory=dict)
    instances: tuple[InstanceState, ...] = ()

    @property
    def split(self) -> str | None:
        """The instances that answered disagree: the sentence saying how (see instances_split)."""
        return instances_split(self.instances)

    def colour(self, colour: Colour) -> ColourState:
        return self.colours.get(colour) or ColourState(colour)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: used by the audit log ("before" / "after") and ``status --json``."""
        return {
            "live": self.live.value if self.live else None,
            "colours": {
                c.value: {
                    "draining": s.draining,
                    "weight": s.weight,
                    "version": s.version,
                    "servers": {sv.name: sv.status.value for sv in s.servers},
                }
                for c, s in self.colours.items()
            },
            **(
                {
                    "instances": {
                        i.name: (i.live.value if i.live else None)
                        if i.error is None
                        else f"unreadable: {i.error}"
                        for i in self.instances
                    }
                }
                if self.instances
                else {}
            ),
        }


@dataclass(frozen=True)
class BackendContext:
    """What the console hands every backend it builds.

    Attributes:
        service: the service's name from config (for labels and messages).
        clock: ``() -> float`` seconds since the epoch; injected so tests and the simulator never
            sleep. Backends that talk to real systems may ignore it.
        timeout: seconds a single call may take; backends pass it to their client libraries.
        seed: seed for anything random (the simulator).
    """

    service: str
    clock: Clock | None = None
    timeout: float = 2.0
    seed: int | None = None
    shared: dict[str, Any] = field(default_factory=dict)  # one world shared by router + metrics


# --------------------------------------------------------------------------------------------------
# Errors. Every message is for a person under pressure: what is wrong, then what to do.


class BackendError(Exception):
    """Base of every error a backend raises on purpose. ``str(err)`` is shown as-is to the user."""


class ConfigError(BackendError):
    """The backend's options are wrong (a missing key, a bad value). Raised while building."""


class Unreachable(BackendError):
    """The router or metrics source could not be reached (socket missing, connection refused)."""


class BackendTimeout(Unreachable):
    """A call did not answer within its deadline."""


class PermissionDenied(BackendError):
    """Reached, but not allowed to do this (socket level, RBAC)."""


class ActionRefused(BackendError):
    """A verb was refused before anything changed (preflight: unhealthy target, no-op, ...)."""


class Conflict(BackendError):
    """Someone else changed the router between our read and our write; nothing was written."""


class VerifyFailed(BackendError):
    """The write was sent but the read-back does not show what was asked."""


class Unsupported(BackendError):
    """This router does not implement that ability (e.g. weighted split)."""


class QueryError(BackendError):
    """A metrics query was rejected (bad PromQL); the message carries the source's own words."""


# --------------------------------------------------------------------------------------------------
# Contracts.


def percent_split(weights: Mapping[Colour, int]) -> dict[Colour, int]:
    """``weights`` as asked of ``Router.set_weights``, checked: both colours, each 0..100, adding up
    to 100. Raises ActionRefused naming what was asked otherwise. One check for every router."""
    try:
        asked = {Colour(c): int(w) for c, w in weights.items()}
    except (ValueError, TypeError):
        asked = {}
    if (
        set(asked) != set(COLOURS)
        or sum(asked.values()) != 100
        or any(not 0 <= w <= 100 for w in asked.values())
    ):
        raise ActionRefused(
            f"weights {dict(weights)!r}: expected both colours, each 0..100, adding up to 100."
        )
    return asked


class Router(abc.ABC):
    """Moves traffic between the two colours of one service.

    Implementations are built with ``Router(options, context)`` where ``options`` is the service's
    ``[service.router]`` table without ``kind``. Build must not do network I/O that can hang; the
    first ``state()`` is where an unreachable router shows up.

    Optional abilities are declared with class flags and default methods that raise ``Unsupported``
    (the console hides the keys of an ability a router lacks).
    """

    #: the ``kind`` this class is registered under (for messages and the header)
    kind: ClassVar[str] = "?"
    #: ``set_weights`` is implemented (a weighted canary split is configured)
    SUPPORTS_WEIGHTS: ClassVar[bool] = False
    #: ``sync`` is implemented: the router keeps its routing in a file (or store) of its own as well
    #: as in the running process, and the two can drift (HAProxy's map file)
    SUPPORTS_SYNC: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        self.options = dict(options)
        self.context = context

    @property
    def supports_weights(self) -> bool:
        """Per instance: a router class may support weights only when a split is configured."""
        return self.SUPPORTS_WEIGHTS

    @property
    def identity(self) -> str:
        """What names this router in the real world (its kind plus its address: an admin socket and
        map, an API server, namespace and Service). The audit log records it, and rollback looks its
        target up by service *and* identity, so two services of one name on two routers never mix.
        The default is the kind; built-in routers override it."""
        return self.kind

    @abc.abstractmethod
    def state(self) -> RouterState:
        """Read the whole routing state in one go.

        Returns:
            The live colour, each colour's servers, weights and router-side metrics.
        Raises:
            Unreachable: the router cannot be reached (the message says where and why).
            PermissionDenied: reached but not allowed to read.
        """

    @abc.abstractmethod
    def switch(self, to: Colour) -> RouterState:
        """Send all new traffic to ``to``, atomically, and return the state read back afterwards.

        Raises:
            Unreachable, PermissionDenied, Conflict: nothing (or not everything) was written.
            ActionRefused: the router itself refuses (e.g. the target backend does not exist).
        """

    @abc.abstractmethod
    def drain(self, colour: Colour) -> RouterState:
        """Stop new traffic to ``colour``; its in-flight requests finish. Returns the read-back."""

    @abc.abstractmethod
    def ready(self, colour: Colour) -> RouterState:
        """Undo a drain of ``colour``. Returns the read-back."""

    def set_weights(self, weights: Mapping[Colour, int]) -> RouterState:
        """Split new traffic by percent (the two values add up to 100). Returns the read-back.

        Raises:
            Unsupported: this router (or this configuration) has no weighted split.
        """
        raise Unsupported(f"the {self.kind} router has no weighted split configured")

    def sync_preview(self) -> str | None:
        """What ``sync`` would do, in one sentence for the confirmation ("map file says
        blue-backend, HAProxy routes to green-backend: rewrite the file, traffic does not move"),
        or None when the persisted config already agrees with the running router.

        Raises:
            Unsupported: this router keeps nothing persisted apart from what it runs.
            Unreachable, PermissionDenied: the router cannot be read.
        """
        raise Unsupported(self._no_sync())

    def sync(self) -> RouterState:
        """Make the persisted config (the file a reload reads) agree with what the running router
        does now, without moving traffic; read both back. Returns the router's state.

        Raises:
            Unsupported: this router keeps nothing persisted apart from what it runs.
            ActionRefused: the persisted config cannot be written (the message says why).
            VerifyFailed: written, but the read-back differs (or the routing moved meanwhile).
        """
        raise Unsupported(self._no_sync())

    def _no_sync(self) -> str:
        return (
            f"the {self.kind} router keeps no routing config apart from the running one, so there "
            "is nothing to sync"
        )

    def poll_state(self) -> RouterState:
        """``state()`` as a poll reads it: from the read its group shares this poll, when
        ``share_reads`` put it in one (several services on one HAProxy socket, one Kubernetes
        namespace), else ``state()`` itself. Actions never use it: their reads stay direct."""
        return self.state()

    @classmethod
    def share_reads(cls, routers: Sequence[tuple[Router, float]]) -> list[Any]:
        """Put those of ``routers`` (all of this class; each with the age in seconds a shared read
        may have when its poll asks: half its poll interval) that can read together into groups
        reading once per poll for all their members (``backends.shared.SharedRead``), so that
        their ``poll_state()`` answers from it. A router's writes must invalidate its group's
        read. Returns the groups made (tests count their reads). The default shares nothing."""
        return []

    def keep_warm_hint(self) -> float | None:
        """Seconds the colour that was live before a change may still receive clients after it,
        whatever the router says (cached DNS answers: Route 53 returns 2 x the records' TTL), so
        the warm-rollback window can default to it; None (the default) when the router's change
        takes effect for every new request at once. Never does I/O: from what was last read."""
        return None

    def hold(self, holder: str) -> contextlib.AbstractContextManager[None]:
        """Hold the router's own cross-machine lock for one action (a Kubernetes Lease, say).

        ``holder`` names who acts (user@host pid N), for the operator who has to wait. The default
        holds nothing: routers without a lock of their own rely on the console's lock on this
        machine and on the invariants read back after every action.

        Raises:
            ActionRefused: someone else holds it; the message names them and since when.
        """
        return contextlib.nullcontext()

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release sockets, threads or clients. Called once when the console exits."""


class MetricsSource(abc.ABC):
    """Measures both colours of one service.

    Built with ``MetricsSource(options, context)``; ``options`` is ``[service.metrics]`` minus ``kind``.
    """

    kind: ClassVar[str] = "?"

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        self.options = dict(options)
        self.context = context

    @abc.abstractmethod
    def sample(self) -> Mapping[Colour, ColourMetrics]:
        """Measure both colours now: one query per metric, covering every colour.

        Returns:
            A ColourMetrics per colour (missing values are None with a note saying why).
        Raises:
            Unreachable: the source cannot be reached or did not answer in time.
            QueryError: the source rejected a query (its own error text in the message).
        """

    #: ``history()`` reads past figures (a source with a time-series store, e.g. Prometheus)
    SUPPORTS_HISTORY: ClassVar[bool] = False

    def history(
        self,
        colour: Colour,
        metrics: Sequence[str],
        start: float,
        end: float,
        step: float,
    ) -> Mapping[str, Sequence[float | None]]:
        """Optional (``SUPPORTS_HISTORY``): one colour's figures over a past span, one sample every
        ``step`` seconds, as ``sample()`` would have measured them. The console reads the old colour's
        figures before a switch with it (the bake's baseline) when it started too recently to have
        polled them itself. Called from a poll's worker thread, under the source's deadline guard.

        Args:
            colour: the colour to read.
            metrics: metric keys ("rate", "error_pct", "latency_ms", "sessions").
            start: the span's start, wall clock (epoch seconds).
            end: the span's end, wall clock (epoch seconds).
            step: seconds between samples.
        Returns:
            Per metric key, the samples oldest first (None where there was no figure); a metric the
            source has no figures for maps to an empty sequence.
        Raises:
            Unsupported: the source keeps no history (the default).
            Unreachable, QueryError: as ``sample()``.
        """
        raise Unsupported(f"the {self.kind} metrics source keeps no history")

    def describe(self) -> Mapping[str, str]:
        """The exact queries (or method) behind each metric, for the "why did it fire" view."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients. Called once when the console exits."""

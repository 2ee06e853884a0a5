"""Many services polled at once, each on its own: the board's and ``status``'s poll of a fleet.

Every service has its own ``ServiceRuntime`` (its own deadline guards) and its own ``Monitor``; a
round of polls runs them side by side, one thread each, and waits for each one no longer than its
own deadline allows. A service whose poll has not come back by then (a hung router behind a guard
that is itself waiting) is reported as such and skipped until its poll returns: it never delays
another service's figures.

Services that share a Prometheus are read together (``share_prometheus``): one query per metric per
server per poll, split per service by the label their ``matchers`` name
(``backends.prometheus.batch``). Services whose routers read one thing (one HAProxy stats socket, one
Kubernetes namespace) read it once per poll for all of them (``share_routers``, each router kind's
``Router.share_reads``); their actions still go straight to their own router.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from backends.base import Router
from backends.clock import Clock, system_clock
from console.audit import AuditLog
from console.board_config import BoardConfig, BoardEntry
from console.config import ConfigFileError
from console.model import Frame
from console.monitor import Monitor
from console.runtime import ServiceRuntime, build
from console.verdicts import VerdictStore

MAX_THREADS = 64  # polls run side by side at most; more services wait their turn in the pool


@dataclass
class Slot:
    """One service of the board: its backends and monitor, or why it has none (``error``)."""

    entry: BoardEntry
    runtime: ServiceRuntime | None = None
    monitor: Monitor | None = None
    audit: AuditLog | None = None
    error: str | None = None  # the config or the build failed: the row says so, nothing polls
    frame: Frame | None = None  # the last frame
    late: str | None = None  # the last poll did not come back in time (still running)
    _future: Future[Frame] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.entry.name

    def deadline(self) -> float:
        """Seconds one poll of this service may take: its two calls' deadline and a margin."""
        if self.runtime is None:
            return 0.0
        return self.runtime.config.call_timeout + 1.0


def build_slots(
    board: BoardConfig,
    audit_for: Callable[[BoardEntry], AuditLog | None],
    verdicts: VerdictStore | None = None,
    *,
    clock: Clock = system_clock,
    share: bool = True,
) -> list[Slot]:
    """A slot per entry of ``board``; a service whose backends cannot be built keeps its error.
    ``share``: services sharing a Prometheus read it together (``share_prometheus``), and so do
    services sharing a router's read (``share_routers``)."""
    slots: list[Slot] = []
    for entry in board:
        if not entry.ok or entry.service is None:
            slots.append(Slot(entry, error=entry.error))
            continue
        try:
            runtime = build(entry.service, clock=clock, source=entry.source)
        except ConfigFileError as exc:
            slots.append(Slot(entry, error=str(exc)))
            continue
        audit = audit_for(entry)
        slots.append(Slot(entry, runtime, Monitor(runtime, audit, verdicts), audit))
    if share:
        runtimes = [s.runtime for s in slots if s.runtime is not None]
        share_prometheus(runtimes)
        share_routers(runtimes)
    return slots


def share_routers(runtimes: Sequence[ServiceRuntime]) -> list[object]:
    """Routers of one kind that read the same thing read it once per poll for all their services:
    each kind groups its own (``Router.share_reads``), with half each service's poll interval as
    the age a shared read may have. Returns the groups made (tests count their reads). A kind
    whose grouping fails is left unshared: its services read on their own, as before."""
    by_kind: dict[type[Router], list[tuple[Router, float]]] = {}
    for rt in runtimes:
        by_kind.setdefault(type(rt.router), []).append((rt.router, 0.5 * rt.config.poll_interval))
    groups: list[object] = []
    for kind, routers in by_kind.items():
        if len(routers) < 2:
            continue
        with contextlib.suppress(Exception):  # a plugin's grouping must never stop the board
            groups += kind.share_reads(routers)
    return groups


def share_prometheus(runtimes: Sequence[ServiceRuntime]) -> list[object]:
    """Services whose Prometheus sources can be read together read them together: each one's
    ``metrics`` becomes a view of a shared batch (``backends.prometheus.batch``). Returns the
    batches made (tests count their queries)."""
    try:
        from backends.prometheus.batch import share
    except ImportError:  # pragma: no cover - the prometheus extra is part of the base install
        return []
    sources = {rt.name: rt.metrics for rt in runtimes if rt.metrics is not None}
    ages = {rt.name: 0.5 * rt.config.poll_interval for rt in runtimes}
    views, batches = share(sources, ages)
    for rt in runtimes:
        if rt.name in views:
            rt.metrics = views[rt.name]
    return list(batches)


class BoardPoller:
    """Polls every slot side by side (headless ``status``; the board runs its own workers)."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = list(slots)
        live = [s for s in self.slots if s.monitor is not None]
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(MAX_THREADS, len(live))), thread_name_prefix="board-poll"
        )

    def poll(self, wait: float | None = None) -> list[Slot]:
        """One round: every service whose last poll has returned is polled again; each is waited
        for at most its own deadline (from the round's start), and at most ``wait`` seconds when
        given (``status --watch``: the poll interval, so a slow service never holds up the
        others' next lines). Returns the slots, each holding its newest frame (or ``late`` set
        when its poll is still out; it is collected at a later round)."""
        started = time.monotonic()
        for slot in self.slots:
            if slot.monitor is None:
                continue
            if slot._future is None or slot._future.done():
                slot._future = self._pool.submit(slot.monitor.poll)
        for slot in self.slots:
            future = slot._future
            if future is None:
                continue
            limit = slot.deadline() if wait is None else min(wait, slot.deadline())
            left = limit - (time.monotonic() - started)
            try:
                slot.frame = future.result(timeout=max(0.0, left))
                slot.late = None
                slot._future = None
            except TimeoutError:
                slot.late = f"no poll came back within {limit:g}s"
            except Exception as exc:  # a monitor bug must not stop the other services
                slot.late = f"internal error: {type(exc).__name__}: {exc}"
                slot._future = None
        return self.slots

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        close_slots(self.slots)


def close_slots(slots: Sequence[Slot]) -> None:
    for slot in slots:
        with contextlib.suppress(Exception):
            if slot.monitor is not None:
                slot.monitor.close()
        with contextlib.suppress(Exception):
            if slot.runtime is not None:
                slot.runtime.close()

"""One read shared by a group of services per poll: what the board's batched reads have in common.

Several services often read the same thing: one Prometheus (``backends.prometheus.batch``), one
HAProxy stats socket (``backends.haproxy.shared``), one Kubernetes namespace
(``backends.kubernetes.shared``). :class:`SharedRead` runs the group's read for all of them:

* a read is reused by every member that asks within ``max_age`` seconds of it (the board passes half
  the shortest poll interval of the group, so every poll still gets its own read);
* a read under way is waited for (at most the asker's ``timeout``), never sent twice;
* a failure is shared the same way: every member asking meanwhile gets the same typed error;
* ``invalidate()`` (after an action wrote to what the group reads) forgets the last read and the one
  under way: the next ask reads afresh, so no poll shows the state from before the action.

Nothing here imports Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Generic, TypeVar

from backends.base import BackendError, BackendTimeout

__all__ = ["SharedGroup", "SharedRead"]

T = TypeVar("T")


class SharedRead(Generic[T]):
    """``read()`` run once for every member asking within ``max_age`` (see the module docstring)."""

    def __init__(
        self,
        read: Callable[[], T],
        max_age: float,
        name: str,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        """``name``: what is read, for a timeout's message ("HAProxy /run/haproxy/admin.sock").
        ``pool``: where reads run (default: one of its own, shut down by ``close()``)."""
        self._read = read
        self.max_age = max_age
        self.name = name
        self._own_pool = pool is None
        self._pool = pool or ThreadPoolExecutor(max_workers=2, thread_name_prefix="shared-read")
        self._lock = threading.Lock()
        self._answer: tuple[float, T | BackendError] | None = None
        self._inflight: Future[T] | None = None
        self.reads = 0  # reads started (tests and the docs count them)
        self._generation = 0  # bumped at each read started and at each invalidate()

    def _run(self, generation: int) -> T:
        """The read itself, on the pool: its answer is kept as it comes back (not when a waiter
        collects it: an asker arriving between the two would otherwise send a second read)."""
        with self._lock:
            self.reads += 1
        try:
            result = self._read()
        except BackendError as exc:
            self._keep(generation, exc)
            raise
        self._keep(generation, result)
        return result

    def get(self, timeout: float) -> T:
        """The group's read, at most ``max_age`` old: the last one, the one under way, or a new one.
        Raises the read's BackendError (shared with every member asking meanwhile), or
        BackendTimeout when it does not come back within ``timeout`` seconds."""
        with self._lock:
            last = self._answer
            if last is not None and time.monotonic() - last[0] <= self.max_age:
                if isinstance(last[1], BackendError):
                    raise last[1]
                return last[1]
            if self._inflight is None or self._inflight.done():
                self._generation += 1
                self._inflight = self._pool.submit(self._run, self._generation)
            future = self._inflight
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise BackendTimeout(
                f"the shared read of {self.name} did not come back within {timeout:g} s"
            ) from None

    def _keep(self, generation: int, answer: T | BackendError) -> None:
        with self._lock:
            if self._generation == generation:  # not invalidated (nor read again) meanwhile
                self._answer = (time.monotonic(), answer)

    def invalidate(self) -> None:
        """Something the group reads was just written: the next ask reads afresh (a read under way
        is left to finish for those already waiting, but not kept)."""
        with self._lock:
            self._answer = None
            self._inflight = None
            self._generation += 1

    def close(self) -> None:
        if self._own_pool:
            self._pool.shutdown(wait=False, cancel_futures=True)


class SharedGroup:
    """What a group of routers reading one thing together holds: its ``SharedRead`` (``shared``)
    and a count of the members still open; the last member to close closes the group
    (``_close_group``: the shared read, and the socket or client the group reads with)."""

    shared: SharedRead[Any]

    def __init__(self) -> None:
        self._members_lock = threading.Lock()
        self._open = 0

    @property
    def reads(self) -> int:
        """Reads the group has sent (tests and the docs count them)."""
        return self.shared.reads

    def invalidate(self) -> None:
        self.shared.invalidate()

    def join(self) -> None:
        with self._members_lock:
            self._open += 1

    def release(self) -> None:
        """One member closed; the last one closes the group."""
        with self._members_lock:
            self._open -= 1
            last = self._open <= 0
        if last:
            self.shared.close()
            self._close_group()

    def _close_group(self) -> None:
        """Close what the group reads with (its socket, its API client)."""

"""Deadlines around blocking backend calls.

Client libraries block (sockets, HTTP). Each backend object gets one ``Guard``: its calls run one at a
time, on a daemon thread of the guard's, and the caller waits at most ``timeout`` seconds. A call that hangs past
its deadline is abandoned (a thread cannot be killed), and until it returns every later call fails at
once with a message saying so. So polls never pile up behind a hung router, and an action never runs
concurrently with a poll on the same backend (haproxyadmin, for one, is not thread-safe).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Generic, TypeVar

from backends.base import BackendError, BackendTimeout

T = TypeVar("T")


class Guard:
    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        self._lock = threading.Lock()
        self._inflight: Future[Any] | None = None
        self._started = 0.0
        self._worker_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] | None = None

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run ``fn(*args)`` on the guard's thread and wait at most ``timeout`` seconds.

        Raises:
            BackendTimeout: the call (or an earlier, still hung one) did not finish in time.
            BackendError: whatever typed error the backend raised.
            BackendError: any other exception, wrapped with its type so no traceback escapes.
        """
        return self.begin(fn, *args, timeout=timeout).result()

    def begin(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> Pending[T]:
        """Start ``fn(*args)`` on the guard's thread and return (once the guard is free: at most
        ``timeout`` seconds). ``result()`` of what is returned waits for it (at most ``timeout``
        seconds from its start) and must be called: the guard takes no other call until then. So a poll starts its router and metrics reads side by side
        on their own guards' threads, with no thread of its own in between.

        Raises (at once): BackendTimeout, as ``call``, when the guard is busy or an earlier call
        is still hung."""
        limit = self.timeout if timeout is None else timeout
        if not self._lock.acquire(timeout=limit):
            raise BackendTimeout(f"{self.name}: busy with another call for more than {limit:g}s")
        try:
            if self._inflight is not None and not self._inflight.done():
                hung = time.monotonic() - self._started
                raise BackendTimeout(
                    f"{self.name}: an earlier call has not returned after {hung:.0f}s; "
                    "waiting for it before trying again"
                )
            self._started = time.monotonic()
            try:
                future = self._spawn(fn, args)
            except Exception as exc:  # no thread could be started: said, never a traceback
                raise BackendError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
            self._inflight = future
        except BaseException:
            self._lock.release()
            raise
        return Pending(self, future, limit, self._started)

    def _finish(self) -> None:
        self._lock.release()

    def _spawn(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Future[Any]:
        """Hand the call to this guard's worker, a daemon thread (a call hung in a socket must never
        keep the process from exiting: an executor's threads are joined at exit).

        One worker per guard, kept while calls keep coming (its calls never overlap: ``call`` runs
        one at a time and refuses while one is hung) and ended after ``IDLE`` seconds without one.
        A thread started per call cost more than the call itself on a board of fifty simulated
        services (two thread starts per service per second: a quarter of the polls' CPU)."""
        future: Future[Any] = Future()
        with self._worker_lock:
            if self._queue is None:
                calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(calls,), name=f"guard-{self.name}", daemon=True
                ).start()  # first: a thread that failed to start leaves no queue nobody reads
                self._queue = calls
            self._queue.put((future, fn, args))
        return future

    IDLE = 30.0  # seconds without a call before the worker thread ends (a new one starts on demand)

    def _serve(self, calls: queue.SimpleQueue[Any]) -> None:
        while True:
            try:
                item = calls.get(timeout=self.IDLE)
            except queue.Empty:
                with self._worker_lock:
                    if calls.empty():  # no call slipped in meanwhile: end; the next starts anew
                        self._queue = None
                        return
                continue
            if item is None:  # close()
                return
            future, fn, args = item
            del item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the caller through the future
                    future.set_exception(exc)
            del future, fn, args  # hold nothing of the call while waiting for the next

    def close(self) -> None:
        """End the worker once the call it may be running returns (it ends on its own when idle
        too); a later call starts a new one."""
        with self._worker_lock:
            if self._queue is not None:
                self._queue.put(None)
                self._queue = None


class Pending(Generic[T]):
    """A call started by ``Guard.begin``: ``result()`` waits for it within its deadline (once)."""

    def __init__(self, guard: Guard, future: Future[T], limit: float, started: float) -> None:
        self._guard, self._future, self._limit, self._started = guard, future, limit, started
        self._done = False

    def result(self) -> T:
        if self._done:
            raise RuntimeError("Pending.result() called twice")
        self._done = True
        name, limit = self._guard.name, self._limit
        try:
            left = limit - (time.monotonic() - self._started)
            return self._future.result(timeout=max(0.0, left))
        except FutureTimeout:
            raise BackendTimeout(f"{name}: no answer within {limit:g}s") from None
        except BackendError:
            raise
        except Exception as exc:  # a backend bug or an unmapped library error
            raise BackendError(f"{name}: {type(exc).__name__}: {exc}") from exc
        finally:
            self._guard._finish()

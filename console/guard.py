"""Deadlines around blocking backend calls.

Client libraries block (sockets, HTTP). Each backend object gets one ``Guard``: its calls run one at a
time, each on a daemon thread of its own, and the caller waits at most ``timeout`` seconds. A call that hangs past
its deadline is abandoned (a thread cannot be killed), and until it returns every later call fails at
once with a message saying so. So polls never pile up behind a hung router, and an action never runs
concurrently with a poll on the same backend (haproxyadmin, for one, is not thread-safe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from backends.base import BackendError, BackendTimeout

T = TypeVar("T")


class Guard:
    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        self._lock = threading.Lock()
        self._inflight: Future[Any] | None = None
        self._started = 0.0

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run ``fn(*args)`` on the guard's thread and wait at most ``timeout`` seconds.

        Raises:
            BackendTimeout: the call (or an earlier, still hung one) did not finish in time.
            BackendError: whatever typed error the backend raised.
            BackendError: any other exception, wrapped with its type so no traceback escapes.
        """
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
            future = self._spawn(fn, args)
            self._inflight = future
            try:
                return future.result(timeout=limit)
            except FutureTimeout:
                raise BackendTimeout(f"{self.name}: no answer within {limit:g}s") from None
            except BackendError:
                raise
            except Exception as exc:  # a backend bug or an unmapped library error
                raise BackendError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        finally:
            self._lock.release()

    def _spawn(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Future[Any]:
        """Run on a daemon thread: a call hung in a socket must never keep the process from exiting
        (an executor's threads are joined at exit; quitting would wait for the hung call)."""
        future: Future[Any] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)

        threading.Thread(target=run, name=f"guard-{self.name}", daemon=True).start()
        return future

    def close(self) -> None:
        """Nothing to release: each call has its own daemon thread."""

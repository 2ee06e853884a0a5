"""The deadline guard around backend calls: one worker thread per guard, kept while calls come."""

from __future__ import annotations

import threading
import time

import pytest

from backends.base import BackendError, BackendTimeout
from console.guard import Guard


def test_calls_run_on_one_worker_thread_kept_between_calls():
    guard = Guard("r", timeout=1.0)
    names = {guard.call(lambda: threading.current_thread().ident) for _ in range(20)}
    assert len(names) == 1 and threading.get_ident() not in names
    guard.close()


def test_a_thread_that_cannot_start_is_an_error_once_not_a_dead_guard(monkeypatch):
    guard = Guard("r", timeout=0.5)
    real_start = threading.Thread.start

    def refuse(self):  # the machine is out of threads, once
        monkeypatch.setattr(threading.Thread, "start", real_start)
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(BackendError, match="can't start new thread"):
        guard.call(lambda: 1)
    assert guard.call(lambda: 2) == 2  # the next call starts a worker and runs
    guard.close()


def test_a_hung_call_refuses_the_next_until_it_returns_then_the_worker_goes_on():
    guard = Guard("r", timeout=0.2)
    release = threading.Event()
    with pytest.raises(BackendTimeout, match="no answer within"):
        guard.call(release.wait, 5)
    with pytest.raises(BackendTimeout, match="has not returned"):
        guard.call(lambda: 1)
    release.set()
    deadline = time.monotonic() + 5
    while True:  # bounded: the hung call returns at once once released
        try:
            assert guard.call(lambda: 3) == 3
            break
        except BackendTimeout:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    guard.close()


def test_a_call_started_with_begin_holds_the_guard_until_its_result_is_taken():
    guard = Guard("r", timeout=0.2)
    pending = guard.begin(lambda: 7)
    with pytest.raises(BackendTimeout, match="busy"):
        guard.call(lambda: 8)
    assert pending.result() == 7
    assert guard.call(lambda: 8) == 8
    guard.close()


def test_a_poll_whose_router_read_raises_anything_still_frees_the_metrics_guard(tmp_path):
    from console.audit import AuditLog
    from console.factory import demo_config
    from console.monitor import Monitor
    from console.runtime import build

    runtime = build(demo_config("healthy", 7, 60.0, 1.0).service[0])
    monitor = Monitor(runtime, AuditLog(tmp_path / "audit.jsonl"))

    class Boom(BaseException):
        pass

    def explode():
        raise Boom()

    runtime.router.poll_state = explode  # type: ignore[method-assign]
    with pytest.raises(Boom):
        monitor.poll()
    assert runtime.metrics_guard is not None
    assert runtime.metrics_guard.call(lambda: "free") == "free"  # not left taken
    runtime.close()

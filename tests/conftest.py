"""Shared fixtures: a manual clock, the demo service on the simulator, a temporary audit log."""

from __future__ import annotations

import os
import time

import pytest

from backends.clock import ManualClock
from console.audit import AuditLog
from console.factory import demo_config
from console.runtime import build

# The header shows the clock: draw it in UTC so snapshots are the same on every machine.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory, monkeypatch):
    """Every test's default audit log and recordings live in a directory of its own, never in the
    user's ~/.local/state (a CLI test that records by default must not fill the real one)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def audit(tmp_path, clock) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl", clock)


def make_runtime(clock, scenario: str = "healthy", bake: float = 60.0, interval: float = 1.0):
    cfg = demo_config(scenario, 7, bake, interval)
    return build(cfg.service[0], clock=clock)


@pytest.fixture
def runtime(clock):
    rt = make_runtime(clock)
    yield rt
    rt.close()

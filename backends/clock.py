"""Injected time. Everything that reasons about time (alarms, bake windows, the simulator)
takes a clock, so tests advance time by hand and never sleep.

A clock reads two times:

* calling it gives the **wall** time (seconds since the epoch): for display and for records (the
  audit log, ``status --json``, the clock in the header);
* ``monotonic(clock)`` gives a **monotonic** reading: for durations (the bake window, alarm
  sustains, the age of figures). It never jumps when the wall clock is stepped (NTP, an operator's
  ``date -s``), so a step neither passes a bake nor fires or clears an alarm.

A plain callable is still a clock (a third-party backend may pass ``time.time``); it has no
monotonic reading of its own and ``monotonic()`` falls back to its wall reading.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> float:
        """Seconds since the epoch (wall time: display and records)."""
        ...


class SystemClock:
    """The machine's clocks: ``time.time`` for the wall, ``time.monotonic`` for durations."""

    def __call__(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "system_clock"


system_clock = SystemClock()


def monotonic(clock: Clock) -> float:
    """A monotonic reading of ``clock``: its own ``monotonic()`` when it has one, else its wall
    reading (a plain callable)."""
    reading = getattr(clock, "monotonic", None)
    return float(reading()) if callable(reading) else float(clock())


class ManualClock:
    """A clock that moves only when told to. Thread-safe.

    ``advance()`` moves both readings, as time passing does; ``step_wall()`` moves only the wall
    clock, as an NTP step does. The monotonic reading starts at the wall reading, so until the wall
    is stepped the two agree.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self._mono = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            self._mono += seconds
            return self._now

    def step_wall(self, seconds: float) -> float:
        """Step the wall clock by ``seconds`` (either sign); the monotonic reading does not move."""
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Set the wall clock (a step: the monotonic reading does not move)."""
        with self._lock:
            self._now = float(now)

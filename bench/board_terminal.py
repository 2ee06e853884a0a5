"""The board in a real terminal: ``bluegreen demo --services N`` in a tmux pane (issue 13).

Used by ``bench/board_load.py`` (``--terminal``). The process is the real command, drawing into a
pane of 120x36 of a private tmux server (``tmux -L``: no other session is touched), polling every
service once a second. Measured from outside, as an operator sees it:

* the first full frame: from spawning the process until the pane shows the heading and a figure
  of age on every row it has room for (read with ``tmux capture-pane`` every 20 ms);
* CPU (utime + stime of the process, /proc/<pid>/stat) over ``seconds`` after the first frame, and
  RSS (VmRSS, /proc/<pid>/status) at the end;
* the help key: ``?`` sent with ``tmux send-keys`` until the help's first line is on the pane
  (``capture-pane`` in a loop, a few ms each: part of what is measured), then Escape until it is
  gone; ``presses`` times, 0.25 s apart.

Bounded: every wait has a deadline; the session is killed at the end whatever happened.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
SIZE = (120, 36)
AGE = re.compile(r"\d+[smh]\s*$")  # a row that holds a frame ends with the data's age
HELP = "The board"  # the help's first line


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10
    ).stdout


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _full(screen: str, n: int) -> bool:
    lines = screen.splitlines()
    if not lines or f"{n} services" not in lines[0] and not (n == 1 and "1 service" in lines[0]):
        return False
    rows = [ln for ln in lines[2 : SIZE[1] - 3] if ln.strip()]
    want = min(n, SIZE[1] - 5)
    return sum(1 for ln in rows if AGE.search(ln)) >= want


def run(n: int, seconds: float, presses: int) -> dict[str, float | list[float]]:
    if not shutil.which("tmux"):
        raise SystemExit("tmux is needed: apt-get install tmux")
    bluegreen = shutil.which("bluegreen") or str(Path(sys.executable).with_name("bluegreen"))
    socket = f"bgboard{os.getpid()}"
    audit = Path(tempfile.mkdtemp(prefix="bluegreen-board-")) / "audit.jsonl"
    cmd = f"exec {bluegreen} demo --services {n} --audit-log {audit}"
    spawned = time.monotonic()
    _tmux(socket, "new-session", "-d", "-s", "board", "-x", str(SIZE[0]), "-y", str(SIZE[1]), cmd)
    try:
        pid = int(_tmux(socket, "list-panes", "-t", "board", "-F", "#{pane_pid}").split()[0])
        first = None
        while time.monotonic() < spawned + 60:
            if _full(_tmux(socket, "capture-pane", "-p", "-t", "board"), n):
                first = time.monotonic() - spawned
                break
            time.sleep(0.02)
        if first is None:
            raise SystemExit(
                f"{n} services: no full frame within 60 s:\n"
                + _tmux(socket, "capture-pane", "-p", "-t", "board")
            )
        time.sleep(2)  # past the start-up
        cpu0, t0 = _cpu(pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = _cpu(pid), time.monotonic()
        out: dict[str, float | list[float]] = {
            "first_frame": first,
            "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
            "rss_mb": _rss_mb(pid),
        }
        opens: list[float] = []
        for _ in range(presses):
            opens.append(_press(socket, "?", lambda s: HELP in s))
            _press(socket, "Escape", lambda s: HELP not in s)
        out["help"] = opens
        return out
    finally:
        _tmux(socket, "kill-server")


def _press(socket: str, key: str, shown: object) -> float:
    """Seconds from sending ``key`` until ``shown(screen)`` holds (at most 5 s)."""
    time.sleep(0.25)
    sent = time.monotonic()
    _tmux(socket, "send-keys", "-t", "board", key)
    while time.monotonic() - sent < 5:
        if shown(_tmux(socket, "capture-pane", "-p", "-t", "board")):  # type: ignore[operator]
            return time.monotonic() - sent
    return float("nan")

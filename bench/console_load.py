"""Benchmark: the console itself, in a real terminal, on the simulator.

Runs ``bluegreen demo`` (1 s polls) inside a tmux pane of 100x30 for --seconds (default 60) and reports:

* time to first full frame: from spawning the process until the screen shows figures for both colours
  (read with ``tmux capture-pane``, every 20 ms);
* CPU % of one core, over the steady window (after the first frame) and over the whole run, from
  /proc/<pid>/stat;
* peak RSS (VmHWM from /proc/<pid>/status).

    python bench/console_load.py [--seconds 60] [--runs 1] [--out docs/benchmarks.md]

Needs tmux (Debian package). Nothing leaves the machine: the demo has no network at all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from report import write_section  # noqa: E402

FIGURE = re.compile(r"\d")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


def full_frame(screen: str) -> bool:
    """Both panels drawn with data: the titles, a rate figure and the footer keys."""
    return (
        "BLUE" in screen
        and "GREEN" in screen
        and "LIVE" in screen
        and "Switch" in screen
        and "req/s" in screen
        and "no data yet" not in screen
    )


def one_run(seconds: float, session: str) -> dict[str, float]:
    bluegreen = shutil.which("bluegreen") or str(Path(sys.executable).with_name("bluegreen"))
    audit = Path(tempfile.mkdtemp()) / "audit.jsonl"
    cmd = f"exec {bluegreen} demo --audit-log {audit}"
    spawned = time.monotonic()
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", cmd)
    try:
        pid = int(tmux("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])
        first = None
        deadline = spawned + 30
        while time.monotonic() < deadline:
            if full_frame(tmux("capture-pane", "-p", "-t", session)):
                first = time.monotonic() - spawned
                break
            time.sleep(0.02)
        if first is None:
            raise SystemExit(
                "the console never drew a full frame within 30 s:\n"
                + tmux("capture-pane", "-p", "-t", session)
            )
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        end = t0 + seconds
        while time.monotonic() < end:  # bounded: the run lasts `seconds`
            time.sleep(min(1.0, end - time.monotonic()))
        cpu1, t1 = cpu_seconds(pid), time.monotonic()
        rss = peak_rss_mb(pid)
        total_cpu = cpu1
        screen = tmux("capture-pane", "-p", "-t", session)
        tmux("send-keys", "-t", session, "q")
        time.sleep(0.5)
        return {
            "first_frame_s": first,
            "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
            "cpu_pct_total": 100 * total_cpu / (t1 - spawned),
            "peak_rss_mb": rss,
            "alive": float("BLUE" in screen),
        }
    finally:
        tmux("kill-session", "-t", session)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out", type=Path, help="markdown file whose 'Console' section is rewritten")
    a = ap.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("tmux is needed: apt-get install tmux")
    results = [one_run(a.seconds, f"bgbench{os.getpid()}-{i}") for i in range(max(1, a.runs))]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    cpu_model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    rows = [
        ("time to first full frame", f"{med('first_frame_s'):.2f} s", "≤ 1.5 s"),
        (
            f"CPU, steady ({a.seconds:.0f} s at 1 s polls)",
            f"{med('cpu_pct'):.2f} % of one core",
            "≤ 2 %",
        ),
        ("CPU, whole run incl. start-up", f"{med('cpu_pct_total'):.2f} % of one core", ""),
        ("peak RSS", f"{med('peak_rss_mb'):.1f} MB", "≤ 120 MB"),
    ]
    table = "\n".join(f"| {n} | {v} | {t} |" for n, v, t in rows)
    section = (
        "## Console on the simulator\n\n"
        f"`python bench/console_load.py --seconds {a.seconds:.0f} --runs {len(results)}`: the real `bluegreen demo` "
        "in a tmux pane of 100x30, polling every 1 s; median of the runs.\n\n"
        f"Measured {dt.date.today().isoformat()} on {os.cpu_count()} cores ({cpu_model}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.\n\n"
        "| measure | result | target |\n|---|---|---|\n" + table + "\n"
    )
    print(section)
    if a.out:
        write_section(section, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

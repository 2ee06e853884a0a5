"""Benchmark: a 24-hour recording: its report's render time, replay's open time, its size per day.

Makes the recording the way the console does, only faster than real time: the demo service on the
simulator (scenario bad-release) under a manual clock, polled --hours x 3600 times a second apart
(86,400 polls for a day) and written through ``Recorder``, with a switch to green after 10 minutes
and a rollback 30 minutes later (its actions, alarm and failed bake are in the timeline). Then:

* report render: ``bluegreen report FILE --format html -o OUT`` run in-process (open, build the
  timeline, alarms, verdicts and the four charts from ``Recording.series()``, write the page), and
  the same for ``--format md`` (with its four SVG files); median of --runs; plus the whole
  ``bluegreen report`` command as a new process (Python start-up and imports included);
* replay open: ``Recording(path)`` + ``service()`` + the first frame from ``frames()``; median;
* size: the file (and any WAL left) after the recorder closed, per service per day.

    python bench/report_recording.py [--hours 24] [--runs 5] [--out docs/benchmarks.md]

Bounded: recording stops at --max-seconds (default 900) whatever --hours says, and the section
says how many polls it holds. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from report import write_section  # noqa: E402

from backends.clock import ManualClock  # noqa: E402
from console.actions import ActionController  # noqa: E402
from console.audit import AuditLog  # noqa: E402
from console.factory import demo_config  # noqa: E402
from console.monitor import Monitor  # noqa: E402
from console.recorder import Recorder, service_settings  # noqa: E402
from console.recording import Recording  # noqa: E402
from console.runtime import build  # noqa: E402

TARGET_REPORT_S = 3.0
TARGET_OPEN_S = 1.0
TARGET_MB_PER_DAY = 5.0


def make_recording(path: Path, hours: float, max_seconds: float) -> tuple[int, float]:
    """Record ``hours`` of 1 s polls of the bad release; returns (polls, seconds it took)."""
    clock = ManualClock()
    cfg = demo_config("bad-release", 7, 60.0, 1.0)
    rt = build(cfg.service[0], clock=clock)
    audit = AuditLog(path.parent / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="bench")
    rec = Recorder(path, command="bench", audit_log=audit.path, wall=clock).start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(cfg.service[0]))
    polls = int(hours * 3600)
    actions = {600: "switch", 2400: "rollback"}
    began = time.perf_counter()
    done = 0
    try:
        for i in range(polls):
            clock.advance(1.0)
            rec.frame(mon.poll(), rt.router.identity)
            done += 1
            verb = actions.get(i)
            if verb:
                out = ctl.execute(ctl.plan(verb))
                rec.action(rt.name, rt.router.identity, out.audit, out.result, out.message, verb)
                if out.frame is not None:
                    rec.frame(out.frame, rt.router.identity)
            if i % 5000 == 0:
                rec.flush(60)  # keep the queue short
                if time.perf_counter() - began > max_seconds:
                    break
        rec.flush(600)
    finally:
        rec.close()
        mon.close()
        rt.close()
    if rec.problem:
        raise SystemExit(f"recording failed: {rec.problem}")
    return done, time.perf_counter() - began


def _report(path: Path, fmt: str, out: Path) -> float:
    from console import cli

    began = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["report", str(path), "--format", fmt, "-o", str(out), "--tz", "UTC"])
    took = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"bluegreen report exited {code}")
    return took


def _open(path: Path) -> float:
    began = time.perf_counter()
    with Recording(path) as rec:
        svc = rec.service()
        next(iter(rec.frames(svc)))
    return time.perf_counter() - began


def _cli_process(path: Path, out: Path) -> float:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "console", "report", str(path), "--format", "html", "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    return time.perf_counter() - began


def _help() -> float:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "console", "report", "--help"],
        check=True,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
    )
    return time.perf_counter() - began


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="recording time bound")
    ap.add_argument("--keep", metavar="DIR", help="make the recording here and keep it")
    ap.add_argument("--reuse", action="store_true", help="with --keep: use the recording there")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section only")
    a = ap.parse_args()

    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench-report-"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "day.sqlite"
    if a.reuse and path.exists():  # measure again on the recording --keep made before
        with Recording(path) as rec:
            polls, record_s = rec.service().polls, float("nan")
    else:
        for p in tmp.glob("day.sqlite*"):
            p.unlink()
        polls, record_s = make_recording(path, a.hours, a.max_seconds)
    size = sum(p.stat().st_size for p in tmp.glob("day.sqlite*"))
    days = polls / 86400
    print(f"recorded {polls} polls in {record_s:.1f} s, {size / 1e6:.2f} MB", file=sys.stderr)

    opens = [_open(path) for _ in range(a.runs)]
    html = [_report(path, "html", tmp / "report.html") for _ in range(a.runs)]
    md = [_report(path, "md", tmp / "report.md") for _ in range(a.runs)]
    proc = [_cli_process(path, tmp / "report-cli.html") for _ in range(max(1, a.runs // 2))]
    helps = [_help() for _ in range(3)]
    html_kb = (tmp / "report.html").stat().st_size / 1024

    med = statistics.median
    mb_day = size / 1e6 / days if days else float("nan")
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpus = os.cpu_count()

    def verdict(value: float, target: float) -> str:
        return "met" if value <= target else "**missed**"

    section = f"""## Report and replay of a 24-hour recording

`python bench/report_recording.py --hours {a.hours:g} --runs {a.runs}`: the demo service on the simulator (scenario bad-release, a switch after 10 minutes and a rollback 30 minutes later) polled every second under a manual clock and written through `Recorder`, exactly as the console records, only faster than real time ({polls:,} polls{f" recorded in {record_s:.0f} s" if record_s == record_s else ""}). Then the report of the whole recording is rendered in-process (`bluegreen report FILE --format html|md -o OUT`: open, timeline, alarms, verdicts, four charts from `Recording.series()` at 360 columns each, write), and replay's opening is timed (`Recording(path)` + `service()` + the first frame from `frames()`); medians of {a.runs} runs.

Measured {now} on {cpus} CPUs ({platform.processor() or platform.machine()}), Python {platform.python_version()}, Linux {platform.release()}.

| measure | result | target |
|---|---|---|
| report render, HTML (one {html_kb:.0f} KB page) | {med(html):.2f} s | ≤ {TARGET_REPORT_S:g} s ({verdict(med(html), TARGET_REPORT_S)}) |
| report render, Markdown + 4 SVG files | {med(md):.2f} s | ≤ {TARGET_REPORT_S:g} s ({verdict(med(md), TARGET_REPORT_S)}) |
| `bluegreen report --format html` as a new process (start-up included) | {med(proc):.2f} s | |
| replay open: `Recording()` + `service()` + first frame | {med(opens) * 1000:.0f} ms | ≤ {TARGET_OPEN_S:g} s ({verdict(med(opens), TARGET_OPEN_S)}) |
| file size per service per day (1 s polls) | {mb_day:.2f} MB | ≤ {TARGET_MB_PER_DAY:g} MB ({verdict(mb_day, TARGET_MB_PER_DAY)}) |

The render is the in-process time of `bluegreen report`; the new process adds Python's start-up and imports (`bluegreen report --help` alone took {med(helps):.2f} s here). The size is the file `Recorder` wrote, one commit per poll, as the console does: the recorder's own figure, measured on the same day of polls. The machine is shared with other jobs: timings vary by a few tenths of a second from run to run.
"""
    print(section)
    if not a.no_write:
        write_section(section, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

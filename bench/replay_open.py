"""How long `bluegreen replay` takes to open a 24-hour recording (1 s polls: 86,400 of them) and
draw its first frame, and to jump across it. Target (issue 10): at most 1 s to open.

    python -m bench.replay_open [--hours 24] [--keep PATH]

The recording is made the way the console makes it: the demo's simulator polled under a manual
clock, each frame handed to the real Recorder (a switch every hour, so there are events).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from backends.clock import ManualClock
from console.actions import ActionController
from console.audit import AuditLog
from console.factory import demo_config
from console.monitor import Monitor
from console.recorder import Recorder, service_settings
from console.recording import Recording
from console.runtime import build

START = 1_767_268_800.0


def make(path: Path, hours: float) -> float:
    clock = ManualClock(START)
    rt = build(demo_config("bad-release", 7, 60.0, 1.0).service[0], clock=clock)
    audit = AuditLog(path.parent / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="bench")
    rec = Recorder(path, command="bench", wall=clock).start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
    started = time.perf_counter()
    try:
        for i in range(int(hours * 3600)):
            clock.advance(1.0)
            frame = mon.poll()
            rec.frame(frame, rt.router.identity)
            if i % 3600 == 1800:
                out = ctl.execute(ctl.plan("switch"))
                rec.action(
                    rt.name, rt.router.identity, out.audit, out.result, out.message, "switch"
                )
                if out.frame is not None:
                    rec.frame(out.frame, rt.router.identity)
            if i % 5000 == 0:
                rec.flush()
        rec.flush()
    finally:
        rec.close()
        mon.close()
        rt.close()
    return time.perf_counter() - started


async def open_replay(path: Path) -> dict[str, float]:
    from console.replay import ReplayApp

    t0 = time.perf_counter()
    rec = Recording(path)
    svc = rec.service()
    t_cli = time.perf_counter() - t0
    app = ReplayApp(rec, svc, play=False)
    out: dict[str, float] = {"open_file_s": t_cli}
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(2000):  # bounded: at most ~20 s
            if app.cursor >= 0:
                break
            await pilot.pause(0.01)
        out["first_frame_s"] = time.perf_counter() - t0
        out["polls"] = len(app.times)
        t1 = time.perf_counter()
        await pilot.press("n")
        for _ in range(2000):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if app._want is None:
                break
        out["jump_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        await pilot.press("left")
        for _ in range(2000):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if app._want is None:
                break
        out["step_back_s"] = time.perf_counter() - t2
    rec.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--keep", help="make the recording here (reused when it exists)")
    ap.add_argument("--runs", type=int, default=3, help="openings; the median is reported")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bluegreen-bench-")
    path = Path(args.keep) if args.keep else Path(tmp) / "day.sqlite"
    if not path.exists():
        print(f"recording {args.hours} h into {path} …", flush=True)
        print(f"  made in {make(path, args.hours):.1f} s, {os.path.getsize(path) / 1e6:.1f} MB")
    runs = [asyncio.run(open_replay(path)) for _ in range(args.runs)]
    size = os.path.getsize(path) / 1e6
    print(f"\n{int(runs[0]['polls'])} polls, {size:.1f} MB; median of {args.runs} openings:\n")
    print("| measure | result | target |\n|---|---|---|")
    for key, label, target in (
        ("open_file_s", "open the file, pick the service (the CLI, before the screen)", ""),
        ("first_frame_s", "from opening the file to the first frame on screen", "≤ 1 s"),
        ("jump_s", "`n`: jump to the first event (30 min in), history rebuilt", ""),
        ("step_back_s", "`←`: one poll back, history and log rebuilt", ""),
    ):
        print(f"| {label} | {statistics.median(r[key] for r in runs):.2f} s | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

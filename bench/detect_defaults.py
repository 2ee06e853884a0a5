"""Detection with default settings (issue 11): the lab's console.toml exactly as ``lab up`` writes it.

Where ``bench/detect_prometheus.py`` measures the query window with no sustain (``for = 0``), this
bench changes nothing in the console's config: default alarm rules, the lab's window and poll. It
reuses that bench's lab, watch stream (``bluegreen status --watch --json`` as a subprocess, read line
by line), settling and fault injection (``POST /-/fault`` on both green instances), and measures:

* ``errors50``: 50 % errors on live green -> the first line whose ``alarms`` holds ``error_pct`` on
  green at level critical (``--runs`` runs, a fresh stream each, bounded by ``--limit``);
* ``errors6``: 6 % errors -> a warning or critical ``error_pct`` alarm on green (``--runs6`` runs,
  each bounded by ``--limit6``; a run that reaches the bound is reported as missed, not dropped);
* ``healthy``: no fault for ``--healthy-minutes``, green live with the lab's load; every alarm that
  starts firing in the stream (any rule, either colour) is counted and listed;
* ``flapping``: the simulator's ``flapping`` scenario (green swings between ~2 % and ~8 % errors,
  period 30 s) polled by the console's own ``Monitor`` once a simulated second under a manual clock
  (``--flap-cycles`` periods, no waiting); every alarm that starts firing while the scenario's own
  function (``backends.simulator.scenarios.effects``) puts green in its low phase is counted;
* ``raw``: ``PrometheusMetrics.sample()`` alone, polled every second, until green's error % passes
  the default critical threshold (``detect_prometheus.raw_run``), to say what the console adds.

Results go to a section of ``--out`` (docs/benchmarks.md by default) under ``--label`` (say "before
the evidence change"): the section keeps every label's figures side by side (in a JSON comment it
reads back), so a re-run under a new label adds a column. ``--parts`` runs a subset; the parts not
run keep their figures of the same label. ``--dir DIR`` uses a lab already up (and leaves it up);
without it the bench starts its own in a temporary dir. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):  # the project of this checkout, and the sibling benches
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import detect_prometheus as dp  # noqa: E402
from report import write_section  # noqa: E402

from backends.base import BackendContext, Colour  # noqa: E402
from backends.prometheus import PrometheusMetrics  # noqa: E402
from console.config import DEFAULT_ALARMS  # noqa: E402
from console.lab import stack  # noqa: E402

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PARTS = ("errors50", "errors6", "healthy", "flapping", "raw")
HEADING = "## Detection with default settings"
TARGETS = {
    "errors50": "median ≤ 1.5 s",
    "errors6": "within 60 s",
    "healthy": "0",
    "flapping": "0",
}
_STORE = re.compile(r"<!-- detect_defaults (\{.*?\}) -->", re.S)


# --------------------------------------------------------------------------------------------------
# Alarms as the stream shows them: the ones that start firing


RANK = {"warning": 1, "critical": 2}


def started(
    before: Mapping[tuple[str, str], int], alarms: Iterable[Mapping[str, Any]]
) -> tuple[dict[tuple[str, str], int], list[Mapping[str, Any]]]:
    """(each firing (rule, colour) and its level's rank, the alarms among ``alarms`` that fire at a
    level they were not at in ``before``: new ones, and warnings that became critical)."""
    alarms = list(alarms)
    now = {(a["rule"], a["colour"]): RANK.get(a["level"], 3) for a in alarms}
    return now, [
        a for a in alarms if now[a["rule"], a["colour"]] > before.get((a["rule"], a["colour"]), 0)
    ]


def said(alarm: Mapping[str, Any], at: float) -> dict[str, Any]:
    return {
        "at": round(at, 1),
        "rule": alarm["rule"],
        "colour": alarm["colour"],
        "level": alarm["level"],
        "message": alarm.get("message"),
    }


class GreenErrorAlarm:
    """The detection predicate: ``error_pct`` on green at one of ``levels``; keeps the level seen."""

    def __init__(self, *levels: str) -> None:
        self.levels = levels
        self.level: str | None = None

    def __call__(self, line: dp.Line) -> bool:
        level = dp.green_alarm(line)
        if level in self.levels:
            self.level = level
            return True
        return False


# --------------------------------------------------------------------------------------------------
# The lab parts


def detections(
    state: stack.LabState,
    config: Path,
    *,
    tag: str,
    runs: int,
    error_rate: float,
    levels: tuple[str, ...],
    poll: float,
    settle: float,
    limit: float,
    rng: random.Random,
    work: Path,
) -> list[dict[str, Any]]:
    """``runs`` detections, a fresh watch stream each (a new phase against the scrape clock)."""
    out: list[dict[str, Any]] = []
    for run in range(runs):
        stream = dp.WatchStream(config, settle + limit + 30, work / f"watch-{tag}-{run}.err")
        hit = GreenErrorAlarm(*levels)
        try:
            want = f"{' or '.join(levels)} error_pct alarm on green"
            d = dp.console_run(
                stream, state, poll=poll, error_rate=error_rate, rng=rng, settle=settle,
                limit=limit, detected=hit, wanted=want,
            )  # fmt: skip
            result = {"seconds": round(d.seconds, 3), "error_pct": d.error_pct, "level": hit.level}
        except dp.Missed as exc:
            result = {"seconds": None, "missed": str(exc)[:400]}
        finally:
            code = stream.close()
        if code != 0:
            raise dp.BenchError(f"the watch stream ended with status {code}, not 0")
        out.append(result)
        shown = f"{result['seconds']:.2f} s ({result['level']})" if result["seconds"] else "missed"
        print(f"{tag} run {run + 1}/{runs}: {shown}", flush=True)
    return out


def healthy(
    state: stack.LabState, config: Path, *, minutes: float, poll: float, settle: float, work: Path
) -> dict[str, Any]:
    """One watch stream for ``minutes`` of healthy traffic: every alarm that starts firing."""
    seconds = minutes * 60
    stream = dp.WatchStream(config, settle + seconds + 30, work / "watch-healthy.err")
    try:
        first = dp.wait_line(stream, dp.settled, settle, "green live, 0 % errors and no alarm")
        begin = first.at
        firing, standing = started({}, first.data.get("alarms", ()))
        fired: list[dict[str, Any]] = []
        lines = idle = 0
        for line in stream.lines(begin + seconds):
            lines += 1
            if not (dp.green(line)["rate"] or 0) > 0:
                idle += 1
            firing, new = started(firing, line.data.get("alarms", ()))
            fired += [said(a, line.at - begin) for a in new]
            for a in new:
                print(f"healthy: alarm at {line.at - begin:.0f} s: {a.get('message')}", flush=True)
    finally:
        stream.close()
    if lines < seconds / poll / 2:
        raise dp.BenchError(f"healthy: {lines} lines in {seconds:g} s (polls every {poll:g} s)")
    if idle > lines / 10:
        raise dp.BenchError(
            f"healthy: green had no traffic on {idle} of {lines} lines: has the lab's load stopped?"
        )
    return {
        "minutes": minutes,
        "lines": lines,
        "fired": fired,
        "standing": [said(a, 0) for a in standing],
    }


def raw(
    state: stack.LabState,
    service: Mapping[str, Any],
    *,
    runs: int,
    poll: float,
    threshold: float,
    settle: float,
    limit: float,
    rng: random.Random,
) -> list[float]:
    options = {k: v for k, v in service["metrics"].items() if k != "kind"}
    source = PrometheusMetrics(options, BackendContext(service="lab", timeout=2.0))
    times = []
    try:
        for run in range(runs):
            t = dp.raw_run(
                source,
                state,
                poll=poll,
                error_rate=0.5,
                threshold=threshold,
                rng=rng,
                settle=settle,
                limit=limit,
            )
            times.append(round(t, 3))
            print(f"raw run {run + 1}/{runs}: {t:.2f} s", flush=True)
    finally:
        source.close()
    return times


# --------------------------------------------------------------------------------------------------
# The simulator part: the console's Monitor on the flapping scenario, under a manual clock


def flapping(cycles: int, seed: int) -> dict[str, Any]:
    from backends.clock import ManualClock
    from backends.simulator.scenarios import ScenarioDraw, effects
    from console.factory import demo_config
    from console.monitor import Monitor
    from console.runtime import build

    clock = ManualClock()
    runtime = build(demo_config("flapping", seed, 60.0, 1.0).service[0], clock=clock)
    monitor = Monitor(runtime)
    world = runtime.router.world  # type: ignore[attr-defined]
    draw = ScenarioDraw.draw(random.Random(seed), 1)  # the flapping scenario uses none of it
    fired: list[dict[str, Any]] = []
    firing: dict[tuple[str, str], int] = {}
    standing = [0, 0, 0]  # low-phase polls: all, with an alarm firing, with a critical one
    try:
        for _ in range(30):  # blue live: the alarm engine and the world warm up
            clock.advance(1.0)
            monitor.poll()
        runtime.router.switch(Colour.GREEN)
        since = world.t  # green takes traffic now: the scenario's elapsed time starts here
        phase_start, low_before = 0.0, None
        for _ in range(cycles * 30):
            clock.advance(1.0)
            frame = monitor.poll()
            elapsed = world.t - since
            low = effects("flapping", draw, elapsed, None)[0] < 5.0  # the lower half of the swing
            if low != low_before:
                phase_start, low_before = elapsed, low
            firing, new = started(firing, frame.to_json()["alarms"])
            if low:  # how much of the healthy time an alarm stands (fired then, or held over)
                standing[0] += 1
                standing[1] += bool(firing)
                standing[2] += max(firing.values(), default=0) >= RANK["critical"]
            for a in new:
                event = said(a, elapsed)
                event["phase"] = "low" if low else "high"
                event["into_phase"] = round(elapsed - phase_start, 1)
                fired.append(event)
    finally:
        monitor.close()
        runtime.close()
    low_fired = [e for e in fired if e["phase"] == "low"]
    print(f"flapping: {len(low_fired)} alarm(s) in low phases, {len(fired)} in all", flush=True)
    return {"cycles": cycles, "seed": seed, "fired": fired, "low_polls": standing}


# --------------------------------------------------------------------------------------------------
# Report: one section, one column per label


def _rank(times: list[float | None], q: float) -> float:
    """The ``q`` quantile, interpolated between the closest ranks as ``dp.percentile`` does, with a
    missed run (None) counted as slower than any run: infinite when the quantile reaches one."""
    s = sorted(math.inf if t is None else t for t in times)
    pos = (len(s) - 1) * q
    lo, frac = int(pos), pos - int(pos)
    if frac == 0 or s[lo] == s[min(lo + 1, len(s) - 1)]:
        return s[lo]
    return s[lo] + (s[lo + 1] - s[lo]) * frac  # infinite when the next rank is a missed run


def _secs(value: float, bound: float | None = None) -> str:
    if value == math.inf:
        return f"> {bound:g} s (missed)" if bound else "missed"
    return f"{value:.2f} s"


def _cells(r: Mapping[str, Any]) -> dict[str, str]:
    cells: dict[str, str] = {}
    if "errors50" in r:
        times = [x["seconds"] for x in r["errors50"]]
        missed = sum(1 for t in times if t is None)
        cells["errors50"] = (
            f"**{_secs(_rank(times, 0.5), r.get('limit'))}** (p95 "
            f"{_secs(_rank(times, 0.95), r.get('limit'))}, {len(times)} runs"
            + (f", {missed} missed" if missed else "")
            + ")"
        )
    if "errors6" in r:
        times = [x["seconds"] for x in r["errors6"]]
        within = sum(1 for t in times if t is not None and t <= 60)
        cells["errors6"] = (
            f"**{within} of {len(times)}** within 60 s (median "
            f"{_secs(_rank(times, 0.5), r.get('limit6'))}, slowest "
            f"{_secs(_rank(times, 1.0), r.get('limit6'))})"
        )
    if "healthy" in r:
        h = r["healthy"]
        cells["healthy"] = f"**{len(h['fired'])}** in {h['minutes']:g} min ({h['lines']} polls)"
    if "flapping" in r:
        f = r["flapping"]
        low = [e for e in f["fired"] if e["phase"] == "low"]
        cells["flapping"] = (
            f"**{len(low)}** in {f['cycles']} cycles ({len(f['fired'])} fired in all; of those "
            f"in low phases, {sum(1 for e in low if e['level'] == 'critical')} critical and "
            f"{sum(1 for e in low if e['into_phase'] >= 5)} at 5 s or more into the phase; an alarm "
            f"stood on {f['low_polls'][1]} of {f['low_polls'][0]} low-phase polls)"
        )
    if "raw" in r:
        cells["raw"] = f"{_secs(_rank(r['raw'], 0.5))} ({len(r['raw'])} runs)"
        if "errors50" in r:
            gap = _rank([x["seconds"] for x in r["errors50"]], 0.5) - _rank(r["raw"], 0.5)
            if gap != math.inf:
                faster = " (faster than Prometheus alone)" if gap < 0 else ""
                cells["adds"] = f"{gap:+.2f} s{faster}"
    return cells


ROWS = (
    ("errors50", "50 % errors on green → critical `error_pct` alarm, median"),
    ("errors6", "6 % errors on green → warning or critical `error_pct` alarm"),
    ("healthy", "false alarms in healthy traffic (any rule, either colour)"),
    ("flapping", "alarms fired in the `flapping` scenario's healthy (low) phases"),
    ("raw", "Prometheus alone: `sample()` every 1 s until error % > 5, median"),
    ("adds", "what the console adds over Prometheus alone (50 % errors, medians)"),
)


def _details(label: str, r: Mapping[str, Any]) -> list[str]:
    lines = [
        f"### {label}",
        "",
        f"Measured {r['date']} on {r['machine']}, commit {r['commit']}, with "
        + "; then ".join(f"`{c}`" for c in r["commands"])
        + ".",
        "",
    ]
    for key, what, shown in (
        ("errors50", "50 % errors, each run (s; green's error % on the line)", "{:.2f} ({:.1f})"),
        ("errors6", "6 % errors, each run (s, level)", "{:.1f} {}"),
    ):
        if key in r:
            each = (
                shown.format(x["seconds"], x.get("error_pct" if key == "errors50" else "level"))
                if x["seconds"] is not None
                else "missed"
                for x in r[key]
            )
            lines.append(f"- {what}: {', '.join(each)}.")
            missed = [x["missed"] for x in r[key] if x["seconds"] is None]
            lines += [f"  The first run missed: {missed[0]}"] if missed else []
    if "healthy" in r:
        h = r["healthy"]
        shown = "; ".join(f"{a['at']:g} s: {a['message']}" for a in h["fired"]) or "none"
        lines.append(f"- Healthy {h['minutes']:g} min, alarms that fired: {shown}.")
        if h["standing"]:
            lines.append(
                "  Already firing when it began (not counted): "
                + "; ".join(str(a["message"]) for a in h["standing"])
                + "."
            )
    if "flapping" in r:
        f = r["flapping"]
        low = [e for e in f["fired"] if e["phase"] == "low"]
        shown = "; ".join(
            f"{e['at']:g} s ({e['into_phase']:g} s into the phase): {e['message']}"
            for e in low[:12]
        )
        more = f" and {len(low) - 12} more" if len(low) > 12 else ""
        lines.append(
            f"- Flapping, seed {f['seed']}, {f['cycles']} cycles of 30 s: "
            f"{len(low)} alarm(s) started in a low phase{': ' + shown + more if low else ''}; "
            f"{len(f['fired']) - len(low)} in a high phase."
        )
        polls, alarmed, critical = f["low_polls"]
        lines.append(
            f"  Of {polls} polls in low phases, {alarmed} had an alarm firing (fired then or held "
            f"over from a high phase), {critical} a critical one."
        )
    if "raw" in r:
        lines.append(
            "- Prometheus alone, each run (s): " + ", ".join(f"{t:.2f}" for t in r["raw"]) + "."
        )
    return [*lines, ""]


def markdown(store: Mapping[str, Mapping[str, Any]]) -> str:
    labels = list(store)
    cells = {label: _cells(r) for label, r in store.items()}
    lines = [
        HEADING,
        "",
        "`python bench/detect_defaults.py --label LABEL` (the commands and dates of each column are "
        "below the table). The lab (`bluegreen lab up`: real HAProxy, Prometheus scraping every "
        "1 s, two fleets of 2, 50 req/s through HAProxy) with its `console.toml` unchanged: the "
        "default alarm rules of the checkout measured (before the evidence change: error % "
        "warning 2, critical 5, each sustained 5 s), the lab's 10 s window and 1 s poll, "
        "read through `bluegreen status --config F --watch --json` as in "
        "[Prometheus detection](#prometheus-detection) (its method: a fresh stream per run, "
        "green settled at 0 % errors and no alarm before each injection, a random phase against "
        "the poll). Healthy: green live with the lab's load and no fault, one stream; an alarm "
        "counts when it starts firing at a level (a rule and colour absent from the line before, "
        "or a warning that becomes critical). Flapping: "
        "the console's `Monitor` on the simulator's `flapping` scenario (the demo's service, "
        "green live), polled once a simulated second under a manual clock; the low phase is "
        "where the scenario's own `effects()` adds less than 5 % (the lower half of the swing "
        "between ~2 % and ~8 %). A run that reaches its bound counts as missed.",
        "",
        "| measure | " + " | ".join(labels) + " | target |",
        "|---|" + "---|" * len(labels) + "---|",
    ]
    for key, title in ROWS:
        if any(key in c for c in cells.values()):
            row = [cells[label].get(key, "") for label in labels]
            lines.append(f"| {title} | " + " | ".join(row) + f" | {TARGETS.get(key, '')} |")
    lines.append("")
    for label, r in store.items():
        lines += _details(label, r)
    data = json.dumps(store, separators=(",", ":")).replace("-->", "--\\u003e")  # stays a comment
    lines += [f"<!-- detect_defaults {data} -->", ""]
    return "\n".join(lines)


def load_store(out: Path) -> dict[str, dict[str, Any]]:
    if not out.exists():
        return {}
    found = _STORE.search(out.read_text())
    return json.loads(found.group(1)) if found else {}


# --------------------------------------------------------------------------------------------------


def commit() -> str:
    """HEAD of the checkout measured, and whether its code (not docs/) had uncommitted changes."""

    def git(*args: str) -> str:
        cmd = ["git", "-C", str(ROOT), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        head, dirty = (
            git("rev-parse", "--short", "HEAD"),
            git("status", "--porcelain", "--", ".", ":!docs"),
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (head or "?") + (" with uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", help="use the lab already up in DIR (default: start one in a temp dir)")
    p.add_argument("--label", default="after the evidence change", help="this run's column")
    p.add_argument("--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS)}")
    p.add_argument("--runs", type=int, default=7, help="50 %% error runs (at least 7; default 7)")
    p.add_argument("--runs6", type=int, default=3, help="6 %% error runs (default 3)")
    p.add_argument("--raw-runs", type=int, default=7, help="Prometheus-alone runs (default 7)")
    p.add_argument("--healthy-minutes", type=float, default=30.0, help="default 30")
    p.add_argument("--flap-cycles", type=int, default=40, help="flapping periods of 30 s (40)")
    p.add_argument("--settle", type=float, default=90.0, help="max seconds to wait before a run")
    p.add_argument("--limit", type=float, default=30.0, help="bound of a 50 %% run (s)")
    p.add_argument("--limit6", type=float, default=90.0, help="bound of a 6 %% run (s)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if unknown := sorted(set(parts) - set(PARTS)):
        p.error(f"--parts: unknown {', '.join(unknown)}; expected any of {', '.join(PARTS)}")
    if "errors50" in parts and args.runs < 7:
        p.error("--runs must be at least 7")
    rng = random.Random(args.seed)
    measured = commit()  # the code as it is now, not after the run (edits may come meanwhile)
    result: dict[str, Any] = {}
    if "flapping" in parts:  # no lab, no waiting: first, so a broken lab still leaves this
        result["flapping"] = flapping(args.flap_cycles, args.seed)

    per = args.settle + args.limit
    budget = (  # the lab's load, when the lab is started here: every part at its bound
        120
        + (args.runs + args.raw_runs) * per
        + args.runs6 * (args.settle + args.limit6)
        + args.healthy_minutes * 60
        + args.settle
    )
    up = contextlib.ExitStack()
    lab_parts = [x for x in parts if x != "flapping"]
    state = up.enter_context(dp.lab(args.dir, budget)) if lab_parts else None
    work = Path(tempfile.mkdtemp(prefix="bg-bench-defaults-"))
    try:
        if state is not None:
            cfg = Path(state.console_config)  # unchanged: the defaults are what is measured
            service = tomllib.loads(cfg.read_text())["service"][0]
            poll = float(service.get("poll_interval", 1.0))
            print(f"green is live ({dp.switch_to_green(state, service)})", flush=True)
            window = service["metrics"].get("window", stack.QUERY_WINDOW)
            dp.prometheus_holds_green(service, window, args.settle)
            common = {"poll": poll, "settle": args.settle}
            for key, runs, rate, levels, limit in (
                ("errors50", args.runs, 0.5, ("critical",), args.limit),
                ("errors6", args.runs6, 0.06, ("warning", "critical"), args.limit6),
            ):
                if key in parts:
                    result[key] = detections(
                        state, cfg, tag=key, runs=runs, error_rate=rate, levels=levels,
                        limit=limit, rng=rng, work=work, **common,
                    )  # fmt: skip
            result["limit"], result["limit6"] = args.limit, args.limit6
            if "healthy" in parts:
                result["healthy"] = healthy(
                    state, cfg, minutes=args.healthy_minutes, work=work, **common
                )
            if "raw" in parts:
                critical = DEFAULT_ALARMS["error_pct"]["critical"]
                result["raw"] = raw(
                    state, service, runs=args.raw_runs, limit=args.limit, rng=rng,
                    threshold=critical, **common,
                )  # fmt: skip
            stack.set_live(state, "blue")
    except dp.BenchError as exc:
        print(f"detect_defaults: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        up.close()  # a lab started here stops
    given = list(argv if argv is not None else sys.argv[1:])
    for i, a in enumerate(given[:-1]):  # where, not what: no temporary paths in the docs
        if a in ("--dir", "--out"):
            given[i + 1] = a[2:].upper()
    command = shlex.join(["python", "bench/detect_defaults.py", *given])
    result.update(
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        machine=f"{platform.system()} {platform.release()}, {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}",
        commit=measured,
        command=command.strip(),
    )
    out = Path(args.out)
    store = load_store(out)
    before = store.get(args.label, {})
    command = result.pop("command")  # a part re-run with the same command is listed once
    result["commands"] = [*(c for c in before.get("commands", ()) if c != command), command]
    store[args.label] = {**before, **result}
    text = markdown(store)
    write_section(text, out)  # only this section of the shared file
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

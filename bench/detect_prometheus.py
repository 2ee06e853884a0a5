"""Detection benchmark (issue 4): how long after 50 % errors hit the live colour does the console
report the error-rate alarm firing?

Measured through the console itself: ``bluegreen status --config F --watch --json`` runs as a
subprocess on the lab (real HAProxy, Prometheus scraping every 1 s, two fleets, steady load through
HAProxy) and the bench reads its JSON stream line by line, as a pipeline or a bot would.

1. switch HAProxy to green (``backends.haproxy`` when it is there, else ``set map`` on the admin
   socket);
2. write a copy of the lab's ``console.toml`` with ``poll_interval = --poll``, the metrics source's
   ``window`` set to the window measured, and ``[service.alarms.error_pct]`` with ``for = 0`` (no
   sustain), ``clear_for = 0`` and ``critical = --threshold``; each run starts its own watch
   stream on it (so the console's poll clock meets Prometheus's scrape clock at a new phase each
   time) and stops it with SIGINT once it has reported;
3. before the first run, wait until Prometheus itself holds green's series, then one window more
   (a younger series gives ``rate()`` over part of the window only);
   per run: read the stream until a line shows green live, green with traffic, green's figures from
   Prometheus (a p99 latency), green's error % at exactly 0 (no error left in the rate window) and
   no error_pct alarm on green; wait a random fraction of a poll interval (the fault is not
   synchronised with the console's poll clock), inject ``--error-rate`` into both green instances
   (``POST /-/fault``, the lab's fault mechanism), then read the stream until a line's ``alarms``
   holds ``error_pct`` on green at level ``critical``. That line's arrival time minus the injection
   time is one detection time. Reset the fault, repeat;
4. median and p95 per query window.

``--raw`` also times ``PrometheusMetrics.sample()`` directly (the source alone, polled by the bench
on the same 1 s clock), to show what the console adds on top.

``python bench/detect_prometheus.py`` starts its own lab in a temporary dir and stops it at the end;
``--dir DIR`` uses a lab already up there (and leaves it up). Writes a markdown section to ``--out``.
Every wait is bounded (``--settle`` before a run, ``--limit`` for a detection).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):  # the project, and bench/report.py
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from backends.base import BackendContext, BackendError, Colour  # noqa: E402
from backends.prometheus import PrometheusMetrics  # noqa: E402
from console.lab import stack  # noqa: E402

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class BenchError(Exception):
    """The bench could not measure: the message says what was not reached."""


class Missed(BenchError):
    """A detection run reached its ``--limit`` with no alarm: a result, not a broken bench."""


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "?"


@contextlib.contextmanager
def lab(lab_dir: str | None, budget: float) -> Iterator[stack.LabState]:
    """The lab up in ``lab_dir`` (left up), or, with None, one started in a temporary dir with
    ``budget`` seconds of load and stopped (its dir removed) when the block ends."""
    if lab_dir is not None:
        yield stack.require(Path(lab_dir))
        return
    root = Path(tempfile.mkdtemp(prefix="bg-bench-")) / "lab"
    try:
        yield stack.up(root, duration=budget, rate=50, install=True, say=print)
    finally:
        stack.down(root, say=lambda _: None)
        with contextlib.suppress(OSError):
            root.parent.rmdir()  # the temporary dir made above, empty once the lab is down


def switch_to_green(state: stack.LabState, config: dict[str, Any]) -> str:
    """Make green live; returns how it was done."""
    try:
        from backends.haproxy import HAProxyRouter
    except ImportError:
        HAProxyRouter = None  # noqa: N806
    if HAProxyRouter is not None:
        try:
            options = {k: v for k, v in config["router"].items() if k != "kind"}
            router = HAProxyRouter(options, BackendContext(service="lab"))
            after = router.switch(Colour.GREEN)
            router.close()
            if after.live == Colour.GREEN:
                return "backends.haproxy (HAProxyRouter.switch)"
        except BackendError as exc:
            print(f"HAProxyRouter.switch failed ({exc}); using `set map` directly", flush=True)
    stack.set_live(state, "green")
    return "`set map` on the admin socket"


# --------------------------------------------------------------------------------------------------
# The console's config for the bench: the lab's, with the poll interval, window and alarm stated.


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_table(prefix: str, table: dict[str, Any], header: str) -> list[str]:
    lines = [header]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in nested:
        lines.append("")
        lines += _toml_table(f"{prefix}.{key}", value, f"[{prefix}.{key}]")
    return lines


def bench_config(
    lab_config: Path, out: Path, *, poll: float, window: str, threshold: float
) -> dict[str, Any]:
    """Write the lab's console config with the bench's settings to ``out``; return the service."""
    data = tomllib.loads(lab_config.read_text())
    service = data["service"][0]
    service["poll_interval"] = poll
    service["metrics"]["window"] = window
    alarms = service.setdefault("alarms", {})
    alarms["error_pct"] = {
        "warning": min(2.0, threshold),
        "critical": threshold,
        "for": 0,
        "clear_for": 0,
    }
    text = [f"# The lab's {lab_config.name} with the detection bench's settings.", ""]
    text += _toml_table("service", service, "[[service]]")
    out.write_text("\n".join(text) + "\n")
    return service


# --------------------------------------------------------------------------------------------------
# The watch stream, read line by line


def console_command() -> list[str]:
    """``bluegreen`` next to this Python (the venv's), else ``python -m console``."""
    exe = Path(sys.executable).with_name("bluegreen")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("bluegreen")
    return [found] if found else [sys.executable, "-m", "console"]


@dataclass
class Line:
    at: float  # time.monotonic() when the bench read the line
    data: dict[str, Any]


class WatchStream:
    """``bluegreen status --config F --watch --json --duration D`` as a subprocess. A reader thread
    stamps each line with the time it arrived; ``lines(until)`` yields them, never past ``until``."""

    def __init__(self, config: Path, duration: float, stderr_path: Path) -> None:
        self.cmd = [
            *console_command(),
            "status",
            "--config",
            str(config),
            "--watch",
            "--json",
            "--duration",
            f"{duration:g}",
        ]
        self._stderr = open(stderr_path, "w")  # noqa: SIM115 - closed in close()
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            cwd=ROOT,
            # This checkout's project, even under another checkout's venv (whose editable
            # install's finder comes after the path entries)
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))
                ),
            },
        )
        self._queue: queue.Queue[Line | None] = queue.Queue()
        self.bad_lines = 0
        self._reader = threading.Thread(target=self._read, name="watch-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            at = time.monotonic()
            try:
                data = json.loads(raw)
            except ValueError:
                self.bad_lines += 1
                continue
            self._queue.put(Line(at, data))
        self._queue.put(None)

    def lines(self, until: float) -> Iterator[Line]:
        """Lines as they arrive, until the monotonic time ``until``; raises when the stream ends."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                return
            if line is None:
                raise BenchError(
                    f"the watch stream ended (status {self.proc.poll()}); its stderr:\n"
                    + stack.tail(self.stderr_path)
                )
            yield line

    def drain(self) -> None:
        """Drop the lines already read, so the next read starts from now."""
        with contextlib.suppress(queue.Empty):
            while True:
                line = self._queue.get_nowait()
                if line is None:
                    self._queue.put(None)
                    return

    def close(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # the CLI stops on Ctrl-C with status 0
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()
        return self.proc.returncode


def green(line: Line) -> dict[str, Any]:
    return line.data["metrics"]["green"]


def green_alarm(line: Line, rule: str = "error_pct") -> str | None:
    """The level of ``rule`` on green in this line's firing alarms, or None."""
    for a in line.data.get("alarms", ()):
        if a.get("rule") == rule and a.get("colour") == "green":
            return a.get("level")
    return None


def wait_line(stream: WatchStream, ok: Callable[[Line], bool], timeout: float, what: str) -> Line:
    deadline = time.monotonic() + timeout
    last = None
    for line in stream.lines(deadline):
        last = line
        if ok(line):
            return line
    shown = None
    if last is not None:
        shown = {
            "live": last.data.get("live"),
            "green": green(last),
            "alarms": last.data.get("alarms"),
            "metrics_error": last.data.get("metrics_error"),
        }
    raise BenchError(f"{what}: not reached within {timeout:g} s (last line: {shown})")


def settled(line: Line) -> bool:
    """Green live with traffic, 0 % errors, no error-rate alarm, and its figures from Prometheus.

    The JSON does not say where an error % comes from, and the console may show the router's own
    figures where Prometheus has none (HAProxy's error %, an "avg" latency). A p99 latency is
    Prometheus's: with it, green's series are in Prometheus and its error % is Prometheus's too.
    """
    g = green(line)
    return (
        line.data.get("live") == "green"
        and g["latency_stat"] == "p99"
        and g["error_pct"] == 0.0
        and (g["rate"] or 0) > 0
        and green_alarm(line) is None
    )


def window_seconds(window: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", window)
    return sum(int(n) * units[u] for n, u in parts)


def prometheus_holds_green(config: dict[str, Any], window: str, timeout: float) -> None:
    """Wait until Prometheus itself has green's series, then a whole window more, so that no run
    measures a series younger than the window (or the router's figures standing in for it)."""
    metrics = {k: v for k, v in config["metrics"].items() if k != "kind"}
    metrics["window"] = window
    source = PrometheusMetrics(metrics, BackendContext(service="lab", timeout=2.0))
    try:
        wait_green(
            source,
            lambda m: (m.rate or 0) > 0 and m.error_pct == 0.0 and not m.notes,
            timeout,
            "Prometheus holding green's series",
        )
    finally:
        source.close()
    time.sleep(window_seconds(window) + 2 * window_seconds(stack.SCRAPE_INTERVAL))


@dataclass
class Detection:
    seconds: float
    error_pct: float | None  # green's error % on the line that reported the alarm
    lines: int  # lines read after the injection, that one included


def console_run(
    stream: WatchStream,
    state: stack.LabState,
    *,
    poll: float,
    error_rate: float,
    rng: random.Random,
    settle: float,
    limit: float,
    detected: Callable[[Line], bool] | None = None,
    wanted: str = "a critical error_pct alarm on green",
) -> Detection:
    """One detection: settle, inject ``error_rate`` into green, read until a line is ``detected``
    (default: error_pct on green at level critical). bench/detect_defaults.py passes its own."""
    if detected is None:
        detected = lambda line: green_alarm(line) == "critical"  # noqa: E731
    wait_line(stream, settled, settle, "green live, with traffic, 0 % errors and no alarm")
    time.sleep(rng.uniform(0, poll))  # a random phase against the console's poll clock
    stream.drain()
    injected = time.monotonic()
    stack.fault(state.dir, "green", error_rate=error_rate, say=lambda _: None)
    try:
        count = 0
        deadline = injected + limit
        last = None
        for line in stream.lines(deadline):
            if line.at < injected:
                continue
            count += 1
            last = line
            if detected(line):
                return Detection(line.at - injected, green(line)["error_pct"], count)
        raise Missed(
            f"no {wanted} within {limit:g} s "
            f"(last line: {green(last) if last else None}, alarms {last.data['alarms'] if last else None})"
        )
    finally:
        stack.fault(state.dir, None, reset=True, say=lambda _: None)


# --------------------------------------------------------------------------------------------------
# The source alone (--raw): PrometheusMetrics.sample() polled by the bench


def wait_green(source: PrometheusMetrics, ok: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = source.sample()[Colour.GREEN]
            if ok(last):
                return
        except BackendError as exc:
            last = exc
        time.sleep(0.5)
    raise BenchError(f"{what}: not reached within {timeout:g} s (last: {last})")


def raw_run(
    source: PrometheusMetrics,
    state: stack.LabState,
    *,
    poll: float,
    error_rate: float,
    threshold: float,
    rng: random.Random,
    settle: float,
    limit: float,
) -> float:
    wait_green(
        source,
        lambda m: m.error_pct == 0.0 and (m.rate or 0) > 0,
        settle,
        "green at 0 % errors before a run",
    )
    time.sleep(rng.uniform(0, 1.0))  # a random phase against Prometheus's scrape clock
    injected = time.monotonic()
    stack.fault(state.dir, "green", error_rate=error_rate, say=lambda _: None)
    tick = injected + rng.uniform(0, poll)
    try:
        for _ in range(int(limit / poll) + 2):  # bounded in count as well as in time
            pause = tick - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            m = source.sample()[Colour.GREEN]
            done = time.monotonic()
            if m.error_pct is not None and m.error_pct > threshold:
                return done - injected
            if done - injected > limit:
                break
            tick += poll
            while tick < time.monotonic():  # a slow poll skips ticks, as the console's poller does
                tick += poll
        raise BenchError(f"sample(): no error % above {threshold:g} within {limit:g} s")
    finally:
        stack.fault(state.dir, None, reset=True, say=lambda _: None)


# --------------------------------------------------------------------------------------------------
# Report


def _row(label: str, times: list[float]) -> str:
    return (
        f"| {label} | {len(times)} | {statistics.median(times):.2f} s | "
        f"{percentile(times, 0.95):.2f} s | {min(times):.2f} s | {max(times):.2f} s | "
        f"{', '.join(f'{t:.2f}' for t in times)} |"
    )


def markdown(
    results: dict[str, list[Detection]],
    raw: dict[str, list[float]],
    meta: dict[str, str],
    args: argparse.Namespace,
) -> str:
    command = f"python bench/detect_prometheus.py --runs {args.runs} --windows {args.windows}"
    if args.raw:
        command += " --raw"
    lines = [
        "## Prometheus detection",
        "",
        f"Measured {meta['date']} with `{command}` on {meta['machine']}.",
        "",
        "Measured through the console: `bluegreen status --config F --watch --json` runs as a "
        "subprocess on the lab (real HAProxy, real Prometheus, both colours' fleets, steady load "
        "through HAProxy) and the bench reads its JSON stream line by line. With green live, 50 % "
        "errors are injected into both green instances with the lab's fault mechanism "
        "(`POST /-/fault`, what `bluegreen lab fault green --error-rate 0.5` sends). One detection "
        "time runs from just before the injection until the bench has read the first line whose "
        "`alarms` holds `error_pct` on green at level `critical`. Each run starts a fresh watch "
        "stream (stopped with SIGINT, as Ctrl-C would, once it has reported), so the console's "
        "poll clock falls at a random phase of Prometheus's 1 s scrape clock (within one stream "
        "both tick every second and their phase hardly moves), and the injection happens at a "
        "random phase of the poll clock. Before the first run the bench waits until Prometheus "
        "has held green's series for a whole window, so every run reads `rate()` over a full "
        "window of them. Before each run it waits (bounded) until "
        "a line shows green live with traffic, green's figures from Prometheus (a p99 latency, "
        "not HAProxy's average), green's error % at exactly 0 (no error left in the rate window) "
        "and no error-rate alarm on green, so every run starts from a clear alarm.",
        "",
        "| setting | value |",
        "|---|---|",
        f"| scrape interval | {stack.SCRAPE_INTERVAL} (fleets and HAProxy) |",
        f"| poll interval | {args.poll:g} s (`poll_interval`; one call may take {meta['timeout']}) |",
        f"| query window (`rate(...[W])`) | {', '.join(results)} |",
        "| sustain | `[service.alarms.error_pct] for = 0`, `clear_for = 0`: fires on the first "
        "poll above the threshold |",
        f"| threshold | `critical = {args.threshold:g}` (error % above {args.threshold:g}) |",
        f"| injected | {args.error_rate:.0%} errors on green (live) |",
        f"| load | {meta['rate']} req/s through HAProxy, all to green |",
        f"| switch to green | {meta['switch']} |",
        f"| console | `{meta['command']}`, one per run (`--duration` only as a bound) |",
        f"| versions | {meta['prometheus']}; {meta['haproxy']}; Python {meta['python']} |",
        "",
        "Through the console (the watch stream):",
        "",
        "| window | runs | median | p95 | min | max | each run (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for window, runs in results.items():
        lines.append(_row(window, [d.seconds for d in runs]))
    lines += [
        "",
        "Green's error % on the line that reported the alarm: "
        + "; ".join(
            f"{w}: "
            + ", ".join(f"{d.error_pct:.1f}" if d.error_pct is not None else "—" for d in runs)
            for w, runs in results.items()
        )
        + ".",
    ]
    if raw:
        lines += [
            "",
            "The source alone, for comparison (`--raw`: `PrometheusMetrics.sample()` called by the "
            f"bench every {args.poll:g} s, the first call at a random phase after the injection, "
            "until green's error % is above the threshold):",
            "",
            "| window | runs | median | p95 | min | max | each run (s) |",
            "|---|---|---|---|---|---|---|",
        ]
        for window, times in raw.items():
            lines.append(_row(window, times))
    lines += [
        "",
        "p95 is interpolated between the closest ranks, so with few runs it sits near the maximum. "
        "Target (issue 4): median <= 2.5 s at a 1 s scrape and a 1 s poll with no sustain (Flagger's "
        "default analysis interval, for reference, is 60 s). Through the console: "
        + "; ".join(
            f"{w} window {'meets' if statistics.median([d.seconds for d in r]) <= 2.5 else 'misses'}"
            f" it (median {statistics.median([d.seconds for d in r]):.2f} s)"
            for w, r in results.items()
        )
        + f'. The lab\'s console.toml uses `window = "{stack.QUERY_WINDOW}"`.',
        "",
        "Where the time goes: up to one scrape interval before Prometheus holds a sample with the new "
        "errors; then the window's share of errors has to pass 5 % (with 50 % errors, a tenth of "
        "the window's requests), which takes longer for a longer window; then up to one poll "
        "interval before the console asks, plus the console's own poll (HAProxy and Prometheus "
        "read side by side, the alarm engine, one JSON line on a pipe)."
        + (
            " The gap between the two tables is what the console adds over calling the source "
            "directly, within the spread of a few runs."
            if raw
            else ""
        ),
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", help="use the lab already up in DIR (default: start one in a temp dir)")
    p.add_argument("--runs", type=int, default=7, help="runs per window (at least 5; default 7)")
    p.add_argument(
        "--windows",
        default=stack.QUERY_WINDOW,
        help=f"comma-separated rate windows to measure (default {stack.QUERY_WINDOW})",
    )
    p.add_argument(
        "--poll", type=float, default=1.0, help="the console's poll interval (default 1)"
    )
    p.add_argument("--error-rate", type=float, default=0.5)
    p.add_argument("--threshold", type=float, default=5.0, help="critical error %% (default 5)")
    p.add_argument("--settle", type=float, default=90.0, help="max seconds to wait before a run")
    p.add_argument("--limit", type=float, default=30.0, help="give up a run after this many s")
    p.add_argument("--raw", action="store_true", help="also time PrometheusMetrics.sample() alone")
    p.add_argument("--seed", type=int, default=4)
    p.add_argument(
        "--out",
        default="docs/benchmarks.md",
        help="markdown file to write; a file named benchmarks.md gets only this section replaced",
    )
    args = p.parse_args(argv)
    if args.runs < 5:
        p.error("--runs must be at least 5")
    if args.threshold <= 0:
        p.error("--threshold must be above 0")
    windows = [w.strip() for w in args.windows.split(",") if w.strip()]

    rng = random.Random(args.seed)
    per_run = args.settle + args.limit + args.poll
    budget = 60 + len(windows) * args.runs * per_run * (2 if args.raw else 1)
    up = contextlib.ExitStack()
    state = up.enter_context(lab(args.dir, budget))
    work = Path(tempfile.mkdtemp(prefix="bg-bench-console-"))
    results: dict[str, list[Detection]] = {}
    raw: dict[str, list[float]] = {}
    command = ""
    timeout = "?"
    try:
        lab_config = Path(state.console_config)
        config = tomllib.loads(lab_config.read_text())["service"][0]
        how = switch_to_green(state, config)
        print(f"green is live ({how})", flush=True)
        for window in windows:
            prometheus_holds_green(config, window, args.settle)
            cfg_path = work / f"console-{window}.toml"
            service = bench_config(
                lab_config, cfg_path, poll=args.poll, window=window, threshold=args.threshold
            )
            timeout = f"{min(5.0, max(1.0, service['poll_interval'])):g} s"
            runs: list[Detection] = []
            for run in range(args.runs):
                # A fresh stream per run: the console's poll clock and Prometheus's scrape clock
                # both tick every second, so within one stream their phase barely moves and every
                # run would sample the same phase. A new process starts at an arbitrary phase.
                stream = WatchStream(cfg_path, per_run + 30, work / f"watch-{window}-{run}.err")
                command = " ".join(
                    [Path(stream.cmd[0]).name, *stream.cmd[1:]][: len(stream.cmd) - 2]
                ).replace(str(cfg_path), "F")
                try:
                    d = console_run(
                        stream,
                        state,
                        poll=args.poll,
                        error_rate=args.error_rate,
                        rng=rng,
                        settle=args.settle,
                        limit=args.limit,
                    )
                finally:
                    code = stream.close()
                    if stream.bad_lines:
                        print(f"watch stream: {stream.bad_lines} line(s) not JSON", flush=True)
                if code != 0:
                    raise BenchError(f"the watch stream ended with status {code}, not 0")
                runs.append(d)
                print(
                    f"console, window {window} run {run + 1}/{args.runs}: {d.seconds:.2f} s "
                    f"(error % {d.error_pct}, line {d.lines} after the injection)",
                    flush=True,
                )
            results[window] = runs
            times = [d.seconds for d in runs]
            print(
                f"console, window {window}: median {statistics.median(times):.2f} s, "
                f"p95 {percentile(times, 0.95):.2f} s",
                flush=True,
            )
            if args.raw:
                metrics = {k: v for k, v in config["metrics"].items() if k != "kind"}
                metrics["window"] = window
                source = PrometheusMetrics(metrics, BackendContext(service="lab", timeout=2.0))
                try:
                    raw_times = []
                    for run in range(args.runs):
                        t = raw_run(
                            source,
                            state,
                            poll=args.poll,
                            error_rate=args.error_rate,
                            threshold=args.threshold,
                            rng=rng,
                            settle=args.settle,
                            limit=args.limit,
                        )
                        raw_times.append(t)
                        print(
                            f"sample(), window {window} run {run + 1}/{args.runs}: {t:.2f} s",
                            flush=True,
                        )
                finally:
                    source.close()
                raw[window] = raw_times
        stack.set_live(state, "blue")
    except BenchError as exc:
        print(f"detect_prometheus: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        up.close()  # a lab started here stops
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.release()}, {platform.machine()}",
        "prometheus": tool_version([stack.find_tool("prometheus") or "prometheus", "--version"]),
        "haproxy": tool_version([stack.find_tool("haproxy") or "haproxy", "-v"]),
        "python": platform.python_version(),
        "rate": f"{state.rate:g}",
        "switch": how,
        "command": command,
        "timeout": timeout,
    }
    out = Path(args.out)
    text = markdown(results, raw, meta, args)
    if out.name == "benchmarks.md":  # the shared file: rewrite only this section
        from report import write_section

        write_section(text, out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

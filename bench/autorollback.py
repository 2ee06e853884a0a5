"""Armed auto-rollback on the lab (issue 12): from 50 % errors injected on live green to traffic back
on blue, with no key pressed.

The guard is ``bluegreen bake`` with ``auto_rollback = "armed"`` (what a pipeline runs after its
switch, and what an armed console does: the same AutoRollback and the same rollback). Per run:

1. blue live (``set map`` on the lab's admin socket), faults reset, a short settle;
2. ``bluegreen switch --config F --to green --yes`` (audited, so the bake window opens);
3. ``bluegreen bake --config F --timeout 120`` started as a subprocess; once it has polled a few
   times, 50 % errors are injected into both green instances (``POST /-/fault``), t0;
4. the bench reads HAProxy's map through the admin socket every 20 ms until it names blue's
   backend again, t1. One time is t1 - t0; the bake must then exit 1.

Two settings: the lab's defaults plus ``auto_rollback = "armed"`` (countdown 5 s), and ``for = 0``
on the error rule with a 0 s countdown. Targets: median ≤ 10 s and ≤ 3 s. ``--dir DIR`` uses a lab
already up; without it the bench starts its own. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import detect_prometheus as dp  # noqa: E402
from report import write_section  # noqa: E402

from console.lab import stack  # noqa: E402
from console.lab.state import BACKENDS  # noqa: E402

HEADING = "## Armed auto-rollback"
VARIANTS = {
    "defaults": ('the lab\'s defaults, `auto_rollback = "armed"` (5 s countdown)', "median ≤ 10 s"),
    "fast": ("`for = 0` on the error rule, `auto_rollback_countdown = 0`", "median ≤ 3 s"),
}


def write_config(lab_config: Path, out: Path, variant: str) -> None:
    text = lab_config.read_text()
    extra = 'auto_rollback = "armed"\n'
    if variant == "fast":
        extra += "auto_rollback_countdown = 0\n"
    text = text.replace("bake_seconds = 60\n", "bake_seconds = 60\n" + extra, 1)
    if variant == "fast":
        text += "\n[service.alarms.error_pct]\nfor = 0\n"
    out.write_text(text)


def live(state: Any) -> str | None:
    return stack.live_backend(state)


def one_run(state: Any, config: Path, env: dict[str, str], limit: float) -> tuple[float, int, str]:
    stack.fault(state.dir, None, reset=True, say=lambda _: None)
    stack.set_live(state, "blue")
    time.sleep(3)
    cmd = dp.console_command()
    sw = subprocess.run(
        [*cmd, "switch", "--config", str(config), "--to", "green", "--yes"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if sw.returncode != 0:
        raise RuntimeError(f"switch failed: {sw.stderr.strip()}")
    bake = subprocess.Popen(
        [*cmd, "bake", "--config", str(config), "--timeout", "120", "--no-record"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(4)  # the guard has polled a few times: green serves, its window is open
        stack.fault(state.dir, "green", error_rate=0.5, say=lambda _: None)
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            if live(state) == BACKENDS["blue"]:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"traffic not back on blue within {limit:g} s")
        took = time.monotonic() - t0
        out, err = bake.communicate(timeout=60)
        last = (out.strip().splitlines() or [""])[-1]
        return took, bake.returncode, last
    finally:
        if bake.poll() is None:
            bake.kill()
            bake.wait(10)
        stack.fault(state.dir, None, reset=True, say=lambda _: None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="a lab already up (left up)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--limit", type=float, default=60.0, help="seconds a run may take")
    ap.add_argument("--variants", default="defaults,fast")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args(argv)
    results: dict[str, list[tuple[float, int, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="bg-autorollback-") as tmp:
        env = dict(os.environ)
        env["XDG_STATE_HOME"] = tmp  # its own audit log
        env["PYTHONPATH"] = str(ROOT)
        with dp.lab(args.dir, budget=900) as state:
            for variant in args.variants.split(","):
                config = Path(tmp) / f"{variant}.toml"
                write_config(Path(state.console_config), config, variant)
                results[variant] = []
                for i in range(args.runs):
                    took, code, last = one_run(state, config, env, args.limit)
                    print(f"{variant} run {i + 1}/{args.runs}: {took:.2f} s (bake exit {code})")
                    results[variant].append((took, code, last))
    lines = [
        HEADING,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} with `python bench/autorollback.py --runs "
        f"{args.runs}` on {platform.system()} {platform.release()}, {platform.machine()}.",
        "",
        "The lab (real HAProxy, Prometheus, fleets and load at 50 req/s); the guard is `bluegreen "
        'bake` with `auto_rollback = "armed"`, started right after an audited `bluegreen switch '
        "--to green`. One time runs from 50 % errors injected into both green instances to "
        "HAProxy's map naming blue's backend again (read on the admin socket every 20 ms), with no "
        "key pressed; the bake then exits 1 saying it rolled back.",
        "",
        "| setting | runs | median | p95 | bake exit codes | target |",
        "|---|---|---|---|---|---|",
    ]
    for variant, rows in results.items():
        times = [r[0] for r in rows]
        what, target = VARIANTS[variant]
        codes = ", ".join(str(r[1]) for r in rows)
        lines.append(
            f"| {what} | {len(rows)} | {statistics.median(times):.2f} s | "
            f"{dp.percentile(times, 0.95):.2f} s | {codes} | {target} |"
        )
    lines += ["", "Each run's last line from `bluegreen bake`:", ""]
    for variant, rows in results.items():
        lines.append(f"- {variant}: `{rows[-1][2]}`")
    write_section("\n".join(lines), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

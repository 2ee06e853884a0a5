"""Benchmark: Prometheus queries per poll for N services on one Prometheus (issue 13).

Starts Debian's ``prometheus`` on 127.0.0.1 (a temporary directory, a free port) behind a counting
HTTP proxy (``tests/support/http_proxy.py``), builds N board services whose metrics sources differ
only in ``matchers = { service = "svc-NNN" }`` (simulated routers), and polls them with the board's
headless poller (``console.board_poll.BoardPoller``, every service on its own thread, as ``bluegreen
status`` over several services does) for ``--polls`` rounds, once with the board's sharing
(``build_slots``, which batches them) and once without, counting the HTTP requests that reach
Prometheus per round.

Target (issue 13): for 50 services sharing one server, queries per poll equal to the number of
metrics (rate, error %, p99, sessions: 4).

    python bench/board_prometheus.py [--services 50] [--polls 5] [--out docs/benchmarks.md]

Bounded: a fixed number of rounds, each waited for at most its services' deadline. Nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from report import write_section  # noqa: E402

from console.board_config import BoardConfig, BoardEntry  # noqa: E402
from console.board_poll import BoardPoller, build_slots  # noqa: E402
from console.config import from_mapping  # noqa: E402
from tests.integration.prom_fixture import PrometheusServer  # noqa: E402
from tests.support.http_proxy import CountingProxy  # noqa: E402

METRICS = 4  # rate, error %, p99, sessions


def board(n: int, url: str) -> BoardConfig:
    services: list[dict[str, Any]] = [
        {
            "name": f"svc-{i:03d}",
            "poll_interval": 1.0,
            "router": {"kind": "simulator", "seed": i},
            "metrics": {"kind": "prometheus", "url": url, "matchers": {"service": f"svc-{i:03d}"}},
        }
        for i in range(n)
    ]
    cfg = from_mapping({"service": services, "recording": {"enabled": False}}, "bench")
    return BoardConfig(
        Path("bench"), tuple(BoardEntry(s.name, "bench", s, cfg) for s in cfg.service)
    )


def rounds(
    n: int, polls: int, url: str, proxy: CountingProxy, share: bool
) -> tuple[list[int], list[int]]:
    """Queries reaching Prometheus per round, and services whose metrics failed per round."""
    slots = build_slots(board(n, url), lambda e: None, share=share)
    poller = BoardPoller(slots)
    counts, failed = [], []
    try:
        for _ in range(polls):
            before = len(proxy.seen)
            poller.poll()
            late = [s.name for s in slots if s.late]
            if late:
                raise SystemExit(f"{len(late)} services did not come back in time: {late[:3]}")
            counts.append(sum(1 for path, _ in proxy.seen[before:] if path == "/api/v1/query"))
            failed.append(sum(1 for s in slots if s.frame and s.frame.snapshot.metrics_error))
            time.sleep(1.0)  # the poll interval: the next round reads again
    finally:
        poller.close()
    return counts, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--polls", type=int, default=5)
    ap.add_argument("--out", default=None, help="rewrite this section of docs/benchmarks.md")
    a = ap.parse_args()
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is needed: apt-get install prometheus")
    server = PrometheusServer(binary, Path(tempfile.mkdtemp(prefix="bluegreen-prom-")), []).start()
    proxy = CountingProxy(server.url)
    try:
        shared_run = rounds(a.services, a.polls, proxy.url, proxy, share=True)
        alone_run = rounds(a.services, a.polls, proxy.url, proxy, share=False)
    finally:
        proxy.close()
        server.stop()
    (shared, shared_failed), (alone, alone_failed) = shared_run, alone_run
    print({"shared": shared_run, "alone": alone_run})
    ok = max(shared) == METRICS
    section = "\n".join(
        [
            "## Board: Prometheus queries per poll",
            "",
            f"`python bench/board_prometheus.py --services {a.services} --polls {a.polls}` on "
            f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: {a.services} services on one "
            "real Prometheus (Debian's, on 127.0.0.1), told apart by `matchers = { service = ... }`, "
            "polled by the board's poller (every service on its own thread) once a second; the "
            "instant queries reaching Prometheus counted per round by a proxy in front of it.",
            "",
            "| | queries per poll (median, max) | services whose metrics failed (most in a poll) |",
            "|---|---:|---:|",
            f"| read together (the board, `bluegreen status`) | {statistics.median(shared):.0f}, "
            f"{max(shared)} | {max(shared_failed)} |",
            f"| each service on its own | {statistics.median(alone):.0f}, {max(alone)} | "
            f"{max(alone_failed)} |",
            "",
            f"Each on its own, a poll would send {METRICS * a.services} queries; through the proxy "
            "(a Python HTTP server, one thread per request) they queue, reads run past their "
            "deadline, and a service whose last read is still out sends nothing at its next poll "
            "(its guard refuses until that read returns): fewer queries, and metrics missing.",
            "",
            f"Target (issue 13): for 50 services sharing one server, as many queries per poll as "
            f"metrics ({METRICS}): {'met' if ok else 'NOT met'} ({max(shared)}).",
        ]
    )
    print(section)
    if a.out:
        write_section(section, a.out)


if __name__ == "__main__":
    main()

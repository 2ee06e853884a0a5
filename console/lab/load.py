"""The lab's load generator: a steady, bounded stream of GET requests through HAProxy.

``python -m console.lab.load --url http://127.0.0.1:8080/ --rate 50 --duration 3600``

``--url`` may be given several times (the two-service lab: ``.../shop/`` and ``.../cart/``): each URL
gets ``--rate`` requests per second. A few worker threads share the total rate (so one slow answer
does not stall the stream), each sending to the URLs in turn over one keep-alive connection per
host, and the whole thing stops by itself after ``--duration`` seconds or ``rate * duration``
requests per URL, whichever comes first. Failed connections (HAProxy restarting, a fleet
down) are retried after a short pause, still within the same bounds. SIGTERM stops it at once.
"""

from __future__ import annotations

import argparse
import http.client
import signal
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit


def _target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"


def run(url: str | Sequence[str], rate: float, duration: float, workers: int = 8) -> dict[str, int]:
    """Send ``rate`` requests per second to each of ``url`` (one URL or several) for ``duration``
    seconds; return counts by code."""
    targets = [_target(u) for u in ([url] if isinstance(url, str) else url)]
    total = rate * len(targets)
    workers = max(1, min(workers, int(total) or 1))
    per_worker = total / workers
    limit = int(total * duration / workers) + 1
    stop = threading.Event()
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def count(key: str) -> None:
        with lock:
            counts[key] = counts.get(key, 0) + 1

    def worker(index: int, offset: float) -> None:
        started = time.monotonic() + offset
        conns: dict[tuple[str, int], http.client.HTTPConnection] = {}
        for n in range(limit):
            pause = started + n / per_worker - time.monotonic()
            if pause > 0 and stop.wait(pause):
                break
            if stop.is_set() or time.monotonic() - started >= duration:
                break
            host, port, path = targets[(index + n) % len(targets)]
            conn = conns.get((host, port))
            try:
                if conn is None:
                    conn = conns[host, port] = http.client.HTTPConnection(host, port, timeout=10)
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                count(str(resp.status))
                if resp.getheader("Connection", "").lower() == "close":
                    conns.pop((host, port)).close()
            except (OSError, http.client.HTTPException):
                count("error")
                if conn is not None:
                    conns.pop((host, port), None)
                    conn.close()
                stop.wait(0.2)
        for conn in conns.values():
            conn.close()

    def on_term(signum: int, frame: object) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    threads = [
        threading.Thread(target=worker, args=(i, i / total), daemon=True) for i in range(workers)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + duration + 15
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    stop.set()
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m console.lab.load", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--url",
        required=True,
        action="append",
        help="where to send GET requests (HAProxy's frontend); several: each gets --rate",
    )
    p.add_argument(
        "--rate", type=float, default=50.0, help="requests per second per URL (default 50)"
    )
    p.add_argument("--duration", type=float, default=3600.0, help="seconds (default 3600)")
    p.add_argument("--workers", type=int, default=8)
    a = p.parse_args(argv)
    if a.rate <= 0 or a.duration <= 0:
        p.error("--rate and --duration must be above 0")
    counts = run(a.url, a.rate, a.duration, a.workers)
    print("load finished:", " ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A tiny real application for one colour: the lab's fleets and the integration tests' backends.

Each instance is a real HTTP server on 127.0.0.1 that:

* answers any ``GET`` with ``200 <colour> <version>`` (headers ``X-Colour``, ``X-Server``), or a
  ``500`` with probability ``error_rate``, after ``latency_ms`` (plus a little noise);
* exports Prometheus metrics at ``/metrics``: ``http_requests_total{colour,code}``,
  ``http_request_duration_seconds`` (a histogram, label ``colour``) and ``http_requests_in_flight``;
* answers ``/healthz`` (for HAProxy's checks) without counting it as traffic;
* takes faults at run time: ``POST /-/fault?error_rate=0.5&latency_ms=300`` and ``POST /-/reset``.

Run one from a shell: ``python -m console.lab.fleet --colour green --version v2 --port 9102``.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Seconds. Fine enough around 1 s for the p99 alarm, coarse enough to stay a small exposition.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_code: dict[str, int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total_seconds = 0.0
        self.in_flight = 0

    def observe(self, code: int, seconds: float) -> None:
        with self.lock:
            key = str(code)
            self.by_code[key] = self.by_code.get(key, 0) + 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1
            self.count += 1
            self.total_seconds += seconds


class FleetApp:
    """One instance of one colour. ``start()`` serves in a daemon thread; ``stop()`` ends it."""

    def __init__(
        self,
        colour: str,
        version: str = "v1",
        *,
        name: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 5.0,
        error_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.colour = colour
        self.version = version
        self.name = name or f"{colour}-1"
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.stats = _Stats()
        self._base_latency_ms = latency_ms
        self._rng = random.Random(seed)
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        # A health check that hangs up early is routine, not worth a traceback on stderr.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FleetApp:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fleet-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def set_fault(self, error_rate: float | None = None, latency_ms: float | None = None) -> None:
        if error_rate is not None:
            self.error_rate = max(0.0, min(1.0, error_rate))
        if latency_ms is not None:
            self.latency_ms = max(0.0, latency_ms)

    def reset(self) -> None:
        self.error_rate = 0.0
        self.latency_ms = self._base_latency_ms

    def metrics_text(self) -> str:
        s = self.stats
        lines = [
            "# HELP http_requests_total Requests answered, by status code.",
            "# TYPE http_requests_total counter",
        ]
        with s.lock:
            for code, n in sorted(s.by_code.items()):
                lines.append(
                    f'http_requests_total{{colour="{self.colour}",code="{code}",server="{self.name}"}} {n}'
                )
            lines += [
                "# HELP http_request_duration_seconds Request latency.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for bound, n in zip(BUCKETS, s.buckets, strict=True):
                lines.append(
                    f'http_request_duration_seconds_bucket{{colour="{self.colour}",le="{bound}"}} {n}'
                )
            lines.append(
                f'http_request_duration_seconds_bucket{{colour="{self.colour}",le="+Inf"}} {s.count}'
            )
            lines.append(
                f'http_request_duration_seconds_sum{{colour="{self.colour}"}} {s.total_seconds}'
            )
            lines.append(f'http_request_duration_seconds_count{{colour="{self.colour}"}} {s.count}')
            lines += [
                "# TYPE http_requests_in_flight gauge",
                f'http_requests_in_flight{{colour="{self.colour}"}} {s.in_flight}',
            ]
        return "\n".join(lines) + "\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else Nagle + delayed ACK adds ~44 ms per request

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _send(self, code: int, body: str, ctype: str = "text/plain") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Colour", app.colour)
                self.send_header("X-Server", app.name)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = urlsplit(self.path).path
                if path == "/metrics":
                    self._send(200, app.metrics_text(), "text/plain; version=0.0.4")
                    return
                if path == "/healthz":
                    self._send(200, "ok\n")
                    return
                started = time.monotonic()
                with app.stats.lock:
                    app.stats.in_flight += 1
                try:
                    delay = app.latency_ms * (0.8 + 0.4 * app._rng.random()) / 1000.0
                    if delay > 0:
                        time.sleep(delay)
                    code = 500 if app._rng.random() < app.error_rate else 200
                    self._send(code, f"{app.colour} {app.version} {app.name}\n")
                finally:
                    with app.stats.lock:
                        app.stats.in_flight -= 1
                    app.stats.observe(code, time.monotonic() - started)

            def do_POST(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if parts.path == "/-/reset":
                    app.reset()
                    self._send(200, "reset\n")
                    return
                if parts.path == "/-/fault":
                    q = parse_qs(parts.query)
                    try:
                        err = float(q["error_rate"][0]) if "error_rate" in q else None
                        lat = float(q["latency_ms"][0]) if "latency_ms" in q else None
                    except ValueError:
                        self._send(400, "error_rate and latency_ms must be numbers\n")
                        return
                    app.set_fault(error_rate=err, latency_ms=lat)
                    self._send(200, f"error_rate={app.error_rate} latency_ms={app.latency_ms}\n")
                    return
                self._send(404, "unknown path\n")

        return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m console.lab.fleet", description=__doc__.split("\n")[0]
    )
    p.add_argument("--colour", required=True, choices=["blue", "green"])
    p.add_argument("--version", default="v1")
    p.add_argument("--name")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--latency-ms", type=float, default=5.0)
    p.add_argument("--error-rate", type=float, default=0.0)
    a = p.parse_args(argv)
    app = FleetApp(
        a.colour,
        a.version,
        name=a.name,
        port=a.port,
        latency_ms=a.latency_ms,
        error_rate=a.error_rate,
    )
    try:
        app._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app._server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

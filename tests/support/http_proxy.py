"""An HTTP proxy that counts what reaches a server (the Prometheus tests and the board's
benchmark count the queries of a poll with it). 127.0.0.1 only."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    """An HTTP server on 127.0.0.1 (a free port) answering with ``handler`` on a daemon thread."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class CountingProxy(LocalServer):
    """Forwards every request to ``upstream`` and records (path, query string) of each."""

    def __init__(self, upstream: str, together: int = 0) -> None:
        self.upstream = upstream
        self.seen: list[tuple[str, dict[str, list[str]]]] = []
        # with ``together``: each request waits (at most 2 s) until that many are in flight
        self.barrier = threading.Barrier(together, timeout=2) if together else None
        self.met = 0  # requests that found the others in flight
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                parts = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(parts.query)
                if body:
                    params.update(urllib.parse.parse_qs(body.decode()))
                proxy.seen.append((parts.path, params))
                if proxy.barrier is not None:
                    try:
                        proxy.barrier.wait()
                        proxy.met += 1
                    except threading.BrokenBarrierError:
                        pass
                req = urllib.request.Request(
                    proxy.upstream + self.path, data=body, method=self.command
                )
                if body:
                    req.add_header("Content-Type", "application/x-www-form-urlencoded")
                try:
                    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _forward  # noqa: N815
            do_POST = _forward  # noqa: N815

        self._serve(Handler)

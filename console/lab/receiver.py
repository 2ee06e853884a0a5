"""The lab's notification receiver: a JSON webhook on 127.0.0.1 that the lab's console config
points ``[notify]`` at (``json://127.0.0.1:PORT/lab`` through apprise), so the whole story of a
self-guarding bake (critical alarm, auto-rollback, verdict) can be watched arriving with no account
anywhere: ``tail -f .lab/notifications.jsonl``.

Written by hand (http.server, a few lines) rather than a dependency: it only appends each POST's
JSON body to a file, one line each, with the time it arrived. Bounded: at most ``--max`` lines, and
bodies of at most 64 KiB.

Run: ``python -m console.lab.receiver --port 9000 --out notifications.jsonl``."""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 64 * 1024


def serve(port: int, out: Path, max_lines: int = 10_000) -> ThreadingHTTPServer:
    """A started server (in a daemon thread) appending to ``out``; ``shutdown()`` stops it."""
    lock = threading.Lock()
    count = {"lines": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode("utf-8", "replace")}
            line = {"received": time.strftime("%H:%M:%S"), "path": self.path, "body": body}
            with lock:
                if count["lines"] < max_lines:
                    count["lines"] += 1
                    with out.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="lab-receiver", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max", type=int, default=10_000, help="lines kept at most")
    parser.add_argument("--duration", type=float, default=24 * 3600, help="seconds, then exit")
    args = parser.parse_args(argv)
    server = serve(args.port, args.out, args.max)
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(max(0.0, args.duration))
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

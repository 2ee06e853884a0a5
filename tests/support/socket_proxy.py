"""A unix socket in front of another one (HAProxy's stats socket) that counts the commands sent.

The router under test is pointed at ``CountingProxy.path``; every connection is relayed to the real
socket byte for byte, and each line a client sends is recorded (``commands``), so a test can assert
how many ``show stat`` reached HAProxy per poll. Every wait is bounded: ``accept`` wakes every
0.1 s to see whether it should stop, and a relayed connection lives at most ``CONNECTION_LIMIT``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

CONNECTION_LIMIT = 10.0  # seconds one relayed connection may last


def accept_each(
    server: socket.socket, stop: threading.Event, handle: Callable[[socket.socket], None]
) -> None:
    """Accept connections on ``server`` (which has a timeout) until ``stop``; each handled on a
    daemon thread of its own."""
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


class CountingProxy:
    """Relays ``path`` -> ``target`` (both unix sockets) and records each command line sent."""

    def __init__(self, target: str | Path, path: str | Path) -> None:
        self.target = str(target)
        self.path = str(path)
        self.commands: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(64)
        self._server.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True, name="counting-proxy")

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()

    def count(self, *, since: int = 0) -> Counter[str]:
        """Commands seen (``show info`` probes left out) from index ``since`` on, by their first
        two words ("show stat", "show map", "set map", ...)."""
        with self._lock:
            seen = self.commands[since:]
        return Counter(" ".join(c.split()[:2]) for c in seen if not c.startswith("show info"))

    def mark(self) -> int:
        """The index of the next command (for ``count(since=...)``)."""
        with self._lock:
            return len(self.commands)

    def _accept(self) -> None:
        accept_each(self._server, self._stop, self._relay)

    def _record(self, data: bytes) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            with self._lock:
                self.commands += [c.strip() for c in line.split(";") if c.strip()]

    def _relay(self, conn: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sent = b""
        try:
            upstream.settimeout(2)
            upstream.connect(self.target)
            deadline = time.monotonic() + CONNECTION_LIMIT
            ends = {conn: upstream, upstream: conn}
            while time.monotonic() < deadline and not self._stop.is_set():
                ready, _, _ = select.select(list(ends), [], [], 0.1)
                for src in ready:
                    data = src.recv(65536)
                    if not data and src is conn and upstream in ends:  # half-closed: answer on
                        ends.pop(conn)
                        with contextlib.suppress(OSError):
                            upstream.shutdown(socket.SHUT_WR)
                        continue
                    if not data:
                        return
                    if src is conn:
                        sent += data
                    ends[src].sendall(data)
        except OSError:
            return
        finally:
            # recorded before the client sees the connection close: a poll that returned is counted
            self._record(sent)
            with contextlib.suppress(OSError):
                upstream.close()
            with contextlib.suppress(OSError):
                conn.close()

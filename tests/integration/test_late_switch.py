"""A switch HAProxy applies late, through the real ``bluegreen`` CLI and a real HAProxy.

A small UNIX-socket proxy sits between the console and HAProxy's admin socket and holds one
``set map`` command past the call's deadline (as a frozen HAProxy that resumes would): the CLI's
switch times out with "outcome unknown", then the command lands. Afterwards ``status`` records the
switch as applied late, ``sync`` makes the map file agree without moving traffic, and ``rollback``
goes back to blue.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import Colour
from tests.support.cli import audit_records, cli, no_traceback, wait_for
from tests.support.router_worlds import haproxy_config, haproxy_world
from tests.support.socket_proxy import accept_each

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
HOLD = 3.5  # seconds the proxy holds `set map`: past the 2 s socket timeout of the config


class HoldingProxy:
    """Accepts on ``path``, forwards each connection's command to ``upstream``; the first command
    starting with ``hold_prefix`` is forwarded only after ``hold`` seconds (the client has given up
    by then; HAProxy still runs it). Each connection is one command, as HAProxy's non-interactive
    CLI is. Every wait is bounded."""

    def __init__(self, path: Path, upstream: Path, hold_prefix: str, hold: float) -> None:
        self.path, self.upstream = path, upstream
        self.hold_prefix, self.hold = hold_prefix.encode(), hold
        self.armed = True
        self.held = threading.Event()  # the held command was received
        self.landed = threading.Event()  # the held command was forwarded and answered
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        accept_each(self._server, self._stop, self._serve)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            with contextlib.suppress(OSError):
                while b"\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            if not data:
                return
            held = False
            with self._lock:
                if self.armed and data.lstrip().startswith(self.hold_prefix):
                    self.armed, held = False, True
            if held:
                self.held.set()
                self._stop.wait(self.hold)  # the client times out meanwhile
            answer = b""
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
                up.settimeout(5)
                up.connect(str(self.upstream))
                up.sendall(data)
                with contextlib.suppress(OSError):
                    while chunk := up.recv(65536):
                        answer += chunk
            if held:
                self.landed.set()
            with contextlib.suppress(OSError):  # the client may be gone: HAProxy ran it anyway
                conn.sendall(answer)

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=2)


@contextlib.contextmanager
def holding_proxy(path: Path, upstream: Path, prefix: str, hold: float) -> Iterator[HoldingProxy]:
    proxy = HoldingProxy(path, upstream, prefix, hold)
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_switch_haproxy_applies_late_is_recorded_synced_and_rolled_back(tmp_path):
    with haproxy_world(tmp_path) as world:
        # a short path: AF_UNIX paths are limited to 107 bytes
        sock = Path(f"/tmp/bg-late-{time.monotonic_ns()}.sock")
        config, audit = haproxy_config(tmp_path, str(sock), str(world.lab.map), split=False)
        with holding_proxy(sock, world.lab.socket, "set map", HOLD) as proxy:
            try:
                switched = cli(config, "switch", "--to", "green", "--yes")
                no_traceback(switched)
                assert switched.returncode == 1, switched.stdout + switched.stderr
                assert "unknown" in switched.stderr, switched.stderr
                assert proxy.held.is_set()
                outcome = [r for r in audit_records(audit) if r.get("record") == "outcome"][-1]
                assert outcome["unknown"] is True and outcome["result"] == "failed"

                # HAProxy "resumes": the held command lands; the map file still says blue
                assert proxy.landed.wait(HOLD + 5)
                assert wait_for(lambda: world.map_value() == "green-backend")
                assert world.map_file_value() == "blue-backend"

                status = cli(config, "status")
                no_traceback(status)
                assert "the switch to green sent at" in status.stdout, status.stdout
                assert "took effect late; recorded" in status.stdout, status.stdout
                assert "bluegreen sync" in status.stdout  # the map file drift says what to do
                late = [r for r in audit_records(audit) if r.get("record") == "reconciled"]
                assert len(late) == 1 and late[0]["applied"] is True and late[0]["late"] is True
                assert late[0]["intent"] == outcome["intent"]
                assert late[0]["after"]["live"] == "green"

                synced = cli(config, "sync", "--yes")
                no_traceback(synced)
                assert synced.returncode == 0, synced.stdout + synced.stderr
                assert "map file says blue-backend, HAProxy routes to green-backend" in (
                    synced.stdout
                )
                assert world.map_file_value() == "green-backend"
                assert world.map_value() == "green-backend"  # traffic did not move

                rolled = cli(config, "rollback", "--yes")
                no_traceback(rolled)
                assert rolled.returncode == 0, rolled.stdout + rolled.stderr
                assert world.map_value() == "blue-backend"
                assert world.map_file_value() == "blue-backend"
            finally:
                with contextlib.suppress(FileNotFoundError):
                    sock.unlink()

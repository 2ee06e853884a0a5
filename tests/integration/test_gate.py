"""The pre-switch gate against a real HTTP server on 127.0.0.1: smoke checks pass and fail with
the reason a person needs, a hung endpoint costs its timeout, the warm-up reports errors and the
latency at its start and its end."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backends.base import Colour
from console.config import ConfigFileError, from_mapping
from console.gate import SmokeCheck, Warmup, gate_from_config, run_gate


class _App:
    """A colour's fleet: /healthz says ok, /broken answers 500, /hang never answers in time, the
    first ``cold`` requests to / are slow (a cold cache), ``error_every`` makes every Nth a 503."""

    def __init__(self) -> None:
        self.cold = 0
        self.error_every = 0
        self.count = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()


@pytest.fixture
def app() -> Iterator[tuple[_App, str]]:
    state = _App()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            with state.lock:
                state.count += 1
                n = state.count
            code, body = 200, b"ok: green v2"
            if self.path == "/broken":
                code, body = 500, b"boom"
            elif self.path == "/hang":
                state.stop.wait(5)
            elif self.path == "/":
                if n <= state.cold:
                    time.sleep(0.05)
                if state.error_every and n % state.error_every == 0:
                    code = 503
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()


def test_smoke_checks_pass_and_fail_with_the_reason(app):
    _, url = app
    res = run_gate(
        Colour.GREEN,
        url,
        [
            SmokeCheck("/healthz", 200, "green v2"),
            SmokeCheck("/healthz", 200, "blue v1", name="right version"),
            SmokeCheck("/broken"),
        ],
        None,
    )
    assert not res.ok
    ok, version, broken = res.checks
    assert ok.ok and ok.reason.startswith("200 in ")
    assert not version.ok and "without 'blue v1' in the body" in version.reason
    assert not broken.ok and "answered 500, expected 200" in broken.reason
    assert (
        res.reason == "smoke check right version failed: answered 200 without 'blue v1' in the body"
    )
    assert res.lines()[0] == f"gate on green ({url}): FAILED"


def test_a_hung_smoke_check_costs_its_timeout_and_says_so(app):
    _, url = app
    started = time.monotonic()
    res = run_gate(Colour.GREEN, url, [SmokeCheck("/hang", timeout=0.5)], None)
    assert time.monotonic() - started < 4.5  # a hang guard: the server would hold it 5 s
    assert not res.ok and res.checks[0].reason == "no answer within 0.5 s"


def test_a_colour_that_is_not_up_fails_with_a_hint(app):
    _, url = app
    res = run_gate(Colour.BLUE, "http://127.0.0.1:9", [SmokeCheck("/healthz")], None)
    assert not res.ok
    assert "connection refused" in res.checks[0].reason and "preview URL" in res.checks[0].reason


def test_the_warm_up_reports_its_errors_and_the_latency_at_start_and_end(app):
    state, url = app
    state.cold = 20
    res = run_gate(Colour.GREEN, url, [SmokeCheck("/healthz")], Warmup(200, 4))
    assert res.ok, res.lines()
    w = res.warmup
    assert w is not None and (w.sent, w.errors, w.cut) == (200, 0, False)
    assert w.first_ms is not None and w.last_ms is not None
    assert w.first_ms > w.last_ms  # the cold first tenth was the slow one
    assert "latency" in w.line and "ms at the start" in w.line


def test_a_warm_up_with_too_many_errors_fails_the_gate(app):
    state, url = app
    state.error_every = 10  # 10 % of 503s
    res = run_gate(Colour.GREEN, url, [], Warmup(100, 4, max_error_pct=1.0))
    assert not res.ok
    assert res.warmup is not None and res.warmup.errors >= 8
    assert res.reason.startswith("warm-up: 100 requests, ")


def test_the_warm_up_stops_at_its_deadline(app):
    _, url = app
    res = run_gate(Colour.GREEN, url, [], Warmup(50, 2, ("/hang",), timeout=0.3, deadline=1.0))
    w = res.warmup
    assert w is not None and w.cut and w.sent < 50 and not w.ok
    assert "cut at the deadline" in w.line


@pytest.fixture
def trickler() -> Iterator[str]:
    """A server that answers one byte every 0.1 s, never stalling long enough for a per-read
    timeout: /head trickles its status line and headers, /body sends them at once and trickles the
    body. Each connection gives up after 40 s (a bound for the test, not for the code)."""
    import socket

    stop = threading.Event()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                req = conn.recv(4096)
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"
                slow = b"X-Pad: " + b"a" * 1000 if b"/head" in req else b"v2 " * 1000
                if b"/body" in req:
                    conn.sendall(head + b"\r\n")
                end = time.monotonic() + 40
                for byte in (head if b"/head" in req else b"") + slow:
                    if stop.is_set() or time.monotonic() > end:
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(0.1)
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        srv.close()


def test_a_trickling_server_costs_the_smoke_checks_and_the_warm_ups_timeouts(trickler):
    started = time.monotonic()
    res = run_gate(
        Colour.GREEN,
        trickler,
        [SmokeCheck("/head", timeout=1.0), SmokeCheck("/body", body="v3", timeout=1.0)],
        Warmup(8, 2, ("/head", "/body"), timeout=1.0, deadline=2.0),
    )
    assert time.monotonic() - started < 20  # a hang guard: the server would trickle for 40 s
    assert not res.ok
    assert [c.reason for c in res.checks] == ["no answer within 1 s"] * 2
    assert res.warmup is not None and res.warmup.cut and not res.warmup.ok


def _service(gate: dict) -> dict:
    return {"service": [{"name": "shop", "router": {"kind": "simulator"}, "gate": gate}]}


def test_the_gate_is_configured_per_colour_and_a_missing_preview_is_named(app):
    _, url = app
    with pytest.raises(ConfigFileError, match="no preview URL for blue"):
        from_mapping(_service({"preview": {"green": url}}))
    with pytest.raises(ConfigFileError, match=r"service\[0\]\.gate\.preview: missing"):
        from_mapping(_service({"smoke": [{"path": "/healthz"}]}))
    cfg = from_mapping(
        _service(
            {
                "preview": {"blue": "http://127.0.0.1:9", "green": url},
                "smoke": [{"path": "/healthz", "body": "v2"}],
                "warmup": {"requests": 20, "concurrency": 2},
            }
        )
    )
    gate = cfg.service[0].gate
    assert gate is not None
    res = gate_from_config(gate, Colour.GREEN)
    assert res.ok and res.warmup is not None and res.warmup.sent == 20


def test_a_gate_that_checks_nothing_or_one_url_for_both_colours_is_refused(app):
    _, url = app
    with pytest.raises(ConfigFileError, match=r"add a \[\[service.gate.smoke\]\].*warmup.requests"):
        from_mapping(_service({"preview": {"blue": "http://127.0.0.1:9", "green": url}}))
    with pytest.raises(ConfigFileError, match="preview.blue and preview.green are the same URL"):
        from_mapping(_service({"preview": {"blue": url, "green": url + "/"}, "smoke": [{}]}))
    with pytest.raises(ConfigFileError, match="must start with '/'"):
        from_mapping(
            _service(
                {
                    "preview": {"blue": "http://127.0.0.1:9", "green": url},
                    "smoke": [{"path": "http://elsewhere.example/healthz"}],
                }
            )
        )


def test_bluegreen_gate_exits_0_on_a_pass_and_1_on_a_failure_with_the_reason(app, tmp_path):
    from tests.support.cli import cli, no_traceback

    _, url = app

    def config(body: str) -> Path:
        path = tmp_path / f"gate-{body}.toml"
        path.write_text(
            '[[service]]\nname = "shop"\n[service.router]\nkind = "simulator"\n'
            f'[service.gate]\npreview = {{ blue = "http://127.0.0.1:9", green = "{url}" }}\n'
            f'smoke = [{{ path = "/healthz", body = "{body}" }}]\n'
            "warmup = { requests = 30, concurrency = 3 }\n"
        )
        return path

    ok = cli(config("green v2"), "gate", "--colour", "green")
    no_traceback(ok)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[0] == f"gate on green ({url}): PASSED"
    assert "warm-up: 30 requests, 0 errors" in ok.stdout
    bad = cli(config("v3"), "gate", "--colour", "green", "--json")
    no_traceback(bad)
    assert bad.returncode == 1
    result = json.loads(bad.stdout)
    assert result["ok"] is False
    assert (
        result["reason"] == "smoke check GET /healthz failed: answered 200 without 'v3' in the body"
    )
    # the idle colour by default: the simulator's blue is live, so green is gated
    idle = cli(config("green v2"), "gate")
    assert idle.returncode == 0 and "gate on green" in idle.stdout, idle.stderr

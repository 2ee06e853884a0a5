"""`s` runs the pre-switch gate first (a real HTTP server on 127.0.0.1 stands for the idle colour's
preview URL): the confirmation shows each check and the warm-up; a failed gate asks twice, and
switching over it is audited as an override."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from backends.base import Colour
from console.config import from_mapping
from console.screens import ConfirmScreen
from tests.support.pilot import console_app, poll, press

SIZE = (110, 36)


@contextmanager
def preview(body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _service(url: str):  # type: ignore[no-untyped-def]
    return from_mapping(
        {
            "service": [
                {
                    "name": "shop",
                    "router": {"kind": "simulator", "scenario": "healthy", "seed": 7},
                    "metrics": {"kind": "simulator"},
                    "gate": {
                        "preview": {"blue": "http://127.0.0.1:9", "green": url},
                        "smoke": [{"path": "/healthz", "body": "green v2"}],
                        "warmup": {"requests": 20, "concurrency": 2},
                    },
                }
            ]
        }
    ).service[0]


async def test_the_confirmation_shows_the_gate_passed_and_the_switch_is_audited_with_it(tmp_path):
    with preview(b"ok: green v2") as url:
        app = console_app(_service(url), tmp_path / "a.jsonl")
        async with app.run_test(size=SIZE) as pilot:
            await poll(pilot, 3)
            await press(pilot, "s")
            assert isinstance(app.screen, ConfirmScreen)
            lines = "\n".join(app.screen.plan.lines)
            assert f"gate on green ({url}): PASSED" in lines
            assert "pass  GET /healthz: 200 in" in lines
            assert "pass  warm-up: 20 requests, 0 errors" in lines
            await press(pilot, "y")
            assert app.frame.snapshot.live == Colour.GREEN
    switch = [e for e in app.audit.entries() if e["action"] == "switch"][-1]
    assert switch["gate"] == "passed" and switch["result"] == "ok"


async def test_a_failed_gate_asks_twice_and_the_override_is_audited(tmp_path):
    with preview(b"ok: blue v1") as url:
        app = console_app(_service(url), tmp_path / "a.jsonl")
        async with app.run_test(size=SIZE) as pilot:
            await poll(pilot, 3)
            await press(pilot, "s")
            assert app.screen.plan.title.startswith("Gate FAILED: Switch shop to GREEN")
            assert "FAIL  GET /healthz: answered 200 without 'green v2'" in "\n".join(
                app.screen.plan.lines
            )
            await press(pilot, "y")
            assert isinstance(app.screen, ConfirmScreen)  # asked again, with the reason
            assert app.screen.plan.title.startswith("Override the failed gate")
            await press(pilot, "n")
            assert app.frame.snapshot.live == Colour.BLUE  # refused by the operator: nothing moved
            await press(pilot, "s", "y", "y")
            assert app.frame.snapshot.live == Colour.GREEN
    switch = [e for e in app.audit.entries() if e["action"] == "switch"][-1]
    assert switch["gate"] == "failed" and switch["gate_overridden"] is True

"""The recording under faults: a kill -9 loses at most the poll in flight, and no secret of the config
ever reaches the file, even from a server that echoes the credentials back in its errors."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from console.config import from_mapping
from console.monitor import Monitor
from console.recorder import Recorder, service_settings
from console.recording import Recording
from console.runtime import build

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys
from console.factory import demo_config
from console.monitor import Monitor
from console.recorder import Recorder, service_settings
from console.runtime import build

cfg = demo_config("bad-release", 7, 60.0, 0.01)
rt = build(cfg.service[0])
rec = Recorder(sys.argv[1], command="watch").start()
rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
mon = Monitor(rt)
for i in range(100_000):
    rec.frame(mon.poll(), rt.router.identity)
    rec.flush()  # committed: only now is it announced
    if rec.problem:
        print("problem", rec.problem, flush=True)
        break
    print(rec.written, flush=True)
"""


def test_kill_9_loses_at_most_the_poll_in_flight(tmp_path):
    path = tmp_path / "rec.sqlite"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    announced = 0
    deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
    try:
        assert child.stdout is not None
        for line in child.stdout:
            assert not line.startswith("problem"), line
            announced = int(line)
            if announced >= 150 or time.monotonic() > deadline:
                break
        child.send_signal(signal.SIGKILL)  # mid-poll: the child never stops polling on its own
        rest, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, err
    for line in rest.splitlines():  # what it announced before the kill landed
        announced = int(line)
    assert announced >= 150
    with Recording(path) as rec:  # the file opens as it is: no repair step, no damage
        assert rec.damage is None
        polls = rec.service("shop").polls
        frames = list(rec.frames(rec.service("shop")))
    assert announced <= polls <= announced + 1  # every committed poll; at most one more in flight
    assert len(frames) == polls


# ---------------------------------------------------------------------- secrets

PASSWORD = "hunter2-Pa55word-Z"
TOKEN = "tok-SeCrEt-4815162342"


class EchoingProxy(BaseHTTPRequestHandler):
    """A broken Prometheus (or a proxy in front of one) that echoes the request's Authorization
    header in its errors, in every form an error can take."""

    answers = 0

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        EchoingProxy.answers += 1
        n = EchoingProxy.answers % 4
        if n == 0:
            code, body = 500, json.dumps({"status": "error", "error": f"upstream said {auth}"})
        elif n == 1:
            code, body = 502, f"<html>bad gateway for {auth}</html>"
        elif n == 2:
            code, body = 200, f"not json: {auth}"
        else:
            code, body = 401, "{}"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), EchoingProxy)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize(
    "auth",
    [
        {"basic_auth_user": "ops", "basic_auth_password_env": "BG_TEST_PASSWORD"},
        {"bearer_token_env": "BG_TEST_TOKEN"},
    ],
    ids=["basic-auth", "bearer-token"],
)
def test_no_secret_of_the_config_reaches_the_recording(tmp_path, proxy, monkeypatch, auth):
    monkeypatch.setenv("BG_TEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("BG_TEST_TOKEN", TOKEN)
    cfg = from_mapping(
        {
            "service": [
                {
                    "name": "shop",
                    "router": {"kind": "simulator"},
                    "metrics": {"kind": "prometheus", "url": proxy, "timeout": 5, **auth},
                }
            ]
        },
        "test",
    )
    rt = build(cfg.service[0])
    path = tmp_path / "rec.sqlite"
    rec = Recorder(path, command="watch").start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
    mon = Monitor(rt)
    errors = []
    try:
        for _ in range(8):
            frame = mon.poll()
            errors.append(frame.snapshot.metrics_error)
            rec.frame(frame, rt.router.identity)
        assert rec.flush()
        raw = b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()
        )  # before close: the WAL still holds the session
    finally:
        rec.close()
        mon.close()
        rt.close()
    assert rec.problem is None
    assert sum("[redacted]" in (e or "") for e in errors) >= 3  # the echoes came, scrubbed
    raw += path.read_bytes()
    basic = base64.b64encode(f"ops:{PASSWORD}".encode())
    for secret in (PASSWORD.encode(), TOKEN.encode(), basic):
        assert secret not in raw
    for e in errors:
        assert PASSWORD not in (e or "") and TOKEN not in (e or "")

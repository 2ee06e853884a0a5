"""End to end on Kubernetes: the headless CLI (a real ``python -m console`` process per command) and
the Textual console (Pilot, the real app) switch, drain, ready and roll back through the real
``kubernetes`` client against the fake API server (tests/support/k8s_fake.py) on 127.0.0.1.

The fake runs in this process; the CLI processes reach it over HTTP like any client. What the console
says is checked against the API objects themselves: the Services' selectors, the Deployments'
annotations. Every subprocess has a timeout; nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from backends.base import Colour
from backends.kubernetes import ANN_DRAINED
from console.app import AppOptions, BlueGreenApp
from console.audit import AuditLog
from console.config import load
from console.monitor import Monitor
from console.runtime import build
from console.screens import ConfirmScreen
from console.screenshots import press, settle
from tests.support.cli import audit_entries, cli, log_text, no_traceback
from tests.support.k8s_fake import FakeKube

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
SIZE = (100, 30)
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
BLUE_PODS = [f"shop-blue-7d9f8-{i:02d}" for i in range(3)]
GREEN_PODS = [f"shop-green-7d9f8-{i:02d}" for i in range(3)]


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch):
    """Services shop (live: blue) and shop-preview (idle: green), Deployments shop-blue (1.4.1) and
    shop-green (1.4.2) with 3 ready pods each."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 only, never through a proxy
    with FakeKube() as fake:
        fake.add_service("shop", {"app": "shop", "version": "blue"})
        fake.add_service("shop-preview", {"app": "shop", "version": "green"})
        fake.add_deployment(
            "shop-blue", {"app": "shop", "version": "blue"}, image="registry:5000/shop:1.4.1"
        )
        fake.add_deployment(
            "shop-green", {"app": "shop", "version": "green"}, image="registry:5000/shop:1.4.2"
        )
        yield fake


# --------------------------------------------------------------------------------------------------
# helpers


def write_config(tmp_path: Path, host: str, *, deployments: bool = True) -> tuple[Path, Path]:
    """A console config for the fake's objects. Returns (config, audit log path)."""
    audit = tmp_path / "audit.jsonl"
    config = tmp_path / "console.toml"
    deps = 'deployments = { blue = "shop-blue", green = "shop-green" }\n' if deployments else ""
    config.write_text(
        f'audit_log = "{audit}"\n'
        "\n"
        "[[service]]\n"
        'name = "shop"\n'
        "poll_interval = 1.0\n"
        "timeout = 5.0\n"
        "bake_seconds = 60\n"
        "\n"
        "[service.router]\n"
        'kind = "kubernetes"\n'
        f'host = "{host}"\n'
        'namespace = "default"\n'
        'service = "shop"\n'
        'preview_service = "shop-preview"\n'
        'selector_label = "version"\n'
        'colours = { blue = "blue", green = "green" }\n'
        f"{deps}"
    )
    return config, audit










def selected(kube: FakeKube, name: str = "shop") -> str:
    """The colour label value a Service selects, read from the API's own object."""
    return kube.get("services", name)["spec"]["selector"]["version"]


def annotations(kube: FakeKube, deployment: str) -> dict[str, str]:
    return kube.get("deployments", deployment)["metadata"].get("annotations") or {}




# --------------------------------------------------------------------------------------------------
# status


def test_status_human_and_json_show_the_live_colour_versions_and_pods(kube, tmp_path):
    config, _ = write_config(tmp_path, kube.url)

    human = cli(config, "status")
    assert human.returncode == 0, human.stderr
    no_traceback(human)
    lines = human.stdout.splitlines()
    assert lines[0].startswith("shop  live BLUE")
    blue = next(ln for ln in lines if ln.strip().startswith("blue "))
    green = next(ln for ln in lines if ln.strip().startswith("green "))
    assert "LIVE" in blue and "1.4.1" in blue and "3/3 up" in blue
    assert "idle" in green and "1.4.2" in green and "3/3 up" in green

    proc = cli(config, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["service"] == "shop" and data["live"] == "blue"
    assert data["router_error"] is None and data["external_change"] is None
    assert data["router"]["colours"]["blue"]["version"] == "1.4.1"
    assert data["router"]["colours"]["green"]["version"] == "1.4.2"
    for colour in ("blue", "green"):
        m = data["metrics"][colour]
        assert {"rate", "error_pct", "latency_ms", "latency_stat", "sessions", "notes"} <= set(m)
    assert [(s["name"], s["status"], s["check"]) for s in data["servers"]["blue"]] == [
        (name, "UP", "Ready") for name in BLUE_PODS
    ]
    assert [(s["name"], s["status"]) for s in data["servers"]["green"]] == [
        (name, "UP") for name in GREEN_PODS
    ]
    assert data["weights"] == {"blue": None, "green": None}  # a Service has no weighted split
    assert data["alarms"] == [] and data["bake"]["verdict"] == "none"
    assert kube.count("PATCH") == 0  # status writes nothing


def test_status_watch_json_prints_one_object_per_poll_until_the_duration(kube, tmp_path):
    config, _ = write_config(tmp_path, kube.url)
    started = time.monotonic()
    proc = cli(config, "status", "--watch", "--json", "--duration", "3")
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    objects = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert 3 <= len(objects) <= 5, proc.stdout  # polls at 0, 1, 2 (and 3) s
    assert all(o["live"] == "blue" and o["router_error"] is None for o in objects)
    times = [o["time"] for o in objects]
    assert times == sorted(times) and times[-1] - times[0] >= 1.5
    assert 2.5 <= elapsed < 20


# --------------------------------------------------------------------------------------------------
# switch and rollback


def test_switch_needs_yes_then_switches_audits_and_a_new_process_rolls_back(kube, tmp_path):
    config, audit = write_config(tmp_path, kube.url)

    unconfirmed = cli(config, "switch")  # stdin is not a terminal
    assert unconfirmed.returncode == 2
    assert "pass --yes" in unconfirmed.stderr
    assert "live: BLUE → GREEN" in unconfirmed.stdout
    assert kube.count("PATCH") == 0 and selected(kube) == "blue"
    assert audit_entries(audit)[-1]["result"] == "cancelled"

    done = cli(config, "switch", "--yes")
    assert done.returncode == 0, done.stderr
    assert "switched shop blue → green: done (read back)" in done.stdout
    assert selected(kube) == "green"
    assert selected(kube, "shop-preview") == "blue"  # the preview follows the idle colour
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["target"], entry["result"]) == ("switch", "green", "ok")
    assert entry["router"] == "kubernetes" and entry["service"] == "shop"
    assert entry["before"]["live"] == "blue" and entry["after"]["live"] == "green"

    status = cli(config, "status")
    assert status.returncode == 0 and status.stdout.startswith("shop  live GREEN")

    back = cli(config, "rollback", "--yes")  # a new process: the target is in the audit log
    assert back.returncode == 0, back.stderr
    assert "rolled shop back green → blue: done (read back)" in back.stdout
    assert selected(kube) == "blue" and selected(kube, "shop-preview") == "green"
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["target"], entry["result"]) == ("rollback", "blue", "ok")


def test_switch_to_a_colour_that_is_not_ready_is_refused(kube, tmp_path):
    config, audit = write_config(tmp_path, kube.url)

    kube.set_pod_ready(GREEN_PODS[0], False)  # the Deployment is 2 of 3 ready
    proc = cli(config, "switch", "--yes")
    assert proc.returncode == 1
    no_traceback(proc)
    assert "only 2 of 3 replicas of Deployment shop-green are ready" in proc.stderr
    assert "nothing was written" in proc.stderr
    assert kube.count("PATCH") == 0 and selected(kube) == "blue"
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["result"]) == ("switch", "refused")
    assert "only 2 of 3" in entry["error"]

    for pod in GREEN_PODS:
        kube.set_pod_ready(pod, False)
    proc = cli(config, "switch", "--yes")
    assert proc.returncode == 1
    assert "refused: green has no healthy server (3 DOWN): nothing would serve" in proc.stderr
    assert kube.count("PATCH") == 0 and selected(kube) == "blue"

    for pod in GREEN_PODS:
        kube.set_pod_ready(pod, True)
    proc = cli(config, "switch", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert selected(kube) == "green"


# --------------------------------------------------------------------------------------------------
# drain and ready


def test_drain_and_ready_the_idle_colour(kube, tmp_path):
    config, audit = write_config(tmp_path, kube.url)

    live = cli(config, "drain", "--colour", "blue", "--yes")
    assert live.returncode == 1
    assert "blue is live: draining it would stop all traffic" in live.stderr
    assert kube.count("PATCH") == 0

    drained = cli(config, "drain", "--yes")
    assert drained.returncode == 0, drained.stderr
    assert "green draining: done (read back)" in drained.stdout
    assert ANN_DRAINED in annotations(kube, "shop-green")
    assert selected(kube, "shop-preview") == "bluegreen-drained"  # selects no pod
    assert selected(kube) == "blue"
    data = json.loads(cli(config, "status", "--json").stdout)
    assert data["router"]["colours"]["green"]["draining"] is True
    assert {s["status"] for s in data["servers"]["green"]} == {"DRAIN"}

    refused = cli(config, "switch", "--yes")
    assert refused.returncode == 1 and "green is draining: ready it first" in refused.stderr
    assert selected(kube) == "blue"

    readied = cli(config, "ready", "--yes")
    assert readied.returncode == 0, readied.stderr
    assert "green ready: done (read back)" in readied.stdout
    assert ANN_DRAINED not in annotations(kube, "shop-green")
    assert selected(kube, "shop-preview") == "green"
    data = json.loads(cli(config, "status", "--json").stdout)
    assert {s["status"] for s in data["servers"]["green"]} == {"UP"}
    assert [(e["action"], e["target"], e["result"]) for e in audit_entries(audit)] == [
        ("drain", "blue", "refused"),
        ("drain", "green", "ok"),
        ("switch", None, "refused"),
        ("ready", "green", "ok"),
    ]


# --------------------------------------------------------------------------------------------------
# changes made outside the console


def test_a_change_made_outside_the_console_shows_in_the_next_poll(kube, tmp_path):
    config, _ = write_config(tmp_path, kube.url)
    runtime = build(load(config).pick(None), source=str(config))
    monitor = Monitor(runtime)
    try:
        first = monitor.poll()
        assert first.snapshot.live is BLUE and first.snapshot.external_change is None
        assert monitor.poll().snapshot.external_change is None

        # kubectl patch service shop -p '{"spec":{"selector":{"version":"green"}}}'
        kube.mutate("services", "shop", lambda o: o["spec"]["selector"].update(version="green"))
        frame = monitor.poll()
        assert frame.snapshot.live is GREEN
        assert frame.snapshot.external_change == (
            "routing changed outside the console: live blue → green"
        )
        assert monitor.poll().snapshot.external_change is None  # said once

        other = cli(config, "switch", "--yes")  # another console, another process
        assert other.returncode == 0, other.stderr
        frame = monitor.poll()
        assert frame.snapshot.live is BLUE
        change = frame.snapshot.external_change
        assert change is not None
        assert change.startswith("routing changed outside the console: live green → blue")
    finally:
        monitor.close()
        runtime.close()


# --------------------------------------------------------------------------------------------------
# configuration and reachability


def test_a_bad_router_config_exits_2_naming_the_key(kube, tmp_path):
    config, audit = write_config(tmp_path, kube.url, deployments=False)
    for args in (("status",), ("switch", "--yes")):
        proc = cli(config, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"bluegreen: {config}: service 'shop' [service.router]")
        assert "option `deployments`: found nothing" in proc.stderr
        no_traceback(proc)
    assert not audit.exists() and kube.requests == []


def test_an_unreachable_api_server_gives_status_1_with_a_clear_message(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens there
    config, audit = write_config(tmp_path, url)

    proc = cli(config, "status")
    assert proc.returncode == 1
    no_traceback(proc)
    assert proc.stdout.startswith("shop  live NONE")
    assert f"router: cannot reach the Kubernetes API server at {url}" in proc.stdout

    data = json.loads(cli(config, "status", "--json").stdout)
    assert data["live"] is None and "connection refused" in data["router_error"]

    action = cli(config, "switch", "--yes")
    assert action.returncode == 1
    assert action.stderr.startswith("bluegreen switch: refused: cannot reach")
    no_traceback(action)
    assert audit_entries(audit)[-1]["result"] == "refused"


# --------------------------------------------------------------------------------------------------
# the console (Pilot), real app on the fake API server


async def poll_app(pilot) -> None:
    pilot.app.request_poll()
    await settle(pilot)


async def test_console_s_then_y_switches_the_service_and_r_rolls_back_after_a_restart(
    kube, tmp_path
):
    config, audit = write_config(tmp_path, kube.url)
    cfg = load(config)

    runtime = build(cfg.pick(None), source=str(config))
    try:
        app = BlueGreenApp(runtime, AuditLog(cfg.audit_log), AppOptions(auto_poll=False))
        async with app.run_test(size=SIZE) as pilot:
            await poll_app(pilot)
            assert app.frame is not None and app.frame.snapshot.live is BLUE
            assert app.frame.snapshot.router_error is None

            await press(pilot, "s")
            assert isinstance(app.screen, ConfirmScreen)
            assert "live: BLUE → GREEN" in app.screen.plan.lines
            await press(pilot, "y")
            assert not isinstance(app.screen, ConfirmScreen)

            assert selected(kube) == "green" and selected(kube, "shop-preview") == "blue"
            assert "switched shop blue → green: done (read back)" in log_text(app)
            assert app.frame.snapshot.live is GREEN

            await poll_app(pilot)  # our own switch is not reported as someone else's
            assert app.frame.snapshot.external_change is None
            assert "outside the console" not in log_text(app)
        entry = audit_entries(audit)[-1]
        assert (entry["action"], entry["target"], entry["result"]) == ("switch", "green", "ok")
    finally:
        runtime.close()

    runtime = build(load(config).pick(None), source=str(config))  # a restart
    try:
        app = BlueGreenApp(runtime, AuditLog(audit), AppOptions(auto_poll=False))
        async with app.run_test(size=SIZE) as pilot:
            await poll_app(pilot)
            assert app.frame.snapshot.live is GREEN
            await press(pilot, "r")
            assert isinstance(app.screen, ConfirmScreen)
            assert app.screen.plan.lines[0].startswith("live: GREEN → BLUE")
            await press(pilot, "y")
            assert selected(kube) == "blue" and selected(kube, "shop-preview") == "green"
            assert "rolled shop back green → blue: done (read back)" in log_text(app)
    finally:
        runtime.close()

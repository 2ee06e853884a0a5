"""End to end on a real HAProxy: the headless CLI (a real ``python -m console`` process per command)
and the Textual console (Pilot, the real app on the real router) switch, drain, ready and roll back.

Each test gets its own HAProxy on 127.0.0.1 (``haproxy_lab``: blue-1, blue-2 / green-1, green-2,
blue live) and a TOML config in ``tmp_path`` pointing at it, with the audit log in ``tmp_path``.
What the console says is checked against what HAProxy really does: ``show map`` on the admin socket
(a raw socket, independent of the router under test), the map file, server states, and real
requests through the frontend. Every subprocess has a timeout; every wait is bounded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from backends.base import Colour
from console.app import AppOptions, BlueGreenApp
from console.audit import AuditLog
from console.config import load
from console.monitor import Monitor
from console.runtime import build
from console.screens import ConfirmScreen
from console.screenshots import press, settle
from tests.integration.haproxy_fixture import get
from tests.support.cli import audit_entries, cli, log_text, no_traceback, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
SIZE = (100, 30)


# --------------------------------------------------------------------------------------------------
# helpers


def write_config(
    tmp_path: Path, socket: str | None, map_path: str, *, extra: str = ""
) -> tuple[Path, Path]:
    """A console config for the lab's layout; ``socket=None`` leaves the key out. Returns (config,
    audit log path)."""
    audit = tmp_path / "audit.jsonl"
    sock = "" if socket is None else f'socket = "{socket}"\n'
    config = tmp_path / "console.toml"
    config.write_text(
        f'audit_log = "{audit}"\n'
        "\n"
        "[[service]]\n"
        'name = "shop"\n'
        "poll_interval = 1.0\n"
        "timeout = 2.0\n"
        "bake_seconds = 60\n"
        "\n"
        "[service.router]\n"
        'kind = "haproxy"\n'
        f"{sock}"
        f'map = "{map_path}"\n'
        'map_key = "/"\n'
        'split_backend = "split-backend"\n'
        f"{extra}"
        "\n"
        "[service.router.backends]\n"
        'blue = "blue-backend"\n'
        'green = "green-backend"\n'
    )
    return config, audit


def lab_config(lab, tmp_path: Path) -> tuple[Path, Path]:
    return write_config(tmp_path, str(lab.socket), str(lab.map))










def map_value(lab) -> str:
    """The live map entry as HAProxy holds it in memory (``show map`` on the admin socket)."""
    lines = [ln for ln in lab.command(f"show map {lab.map}").splitlines() if ln.strip()]
    entries = {parts[1]: parts[2] for parts in (ln.split() for ln in lines) if len(parts) >= 3}
    return entries["/"]


def served_colours(lab, n: int = 10) -> set[str | None]:
    """The X-Colour of ``n`` real requests through HAProxy's frontend."""
    answers = get(lab.url, n)
    assert all(status == 200 for status, _, _ in answers), answers
    return {colour for _, colour, _ in answers}


def colour_statuses(lab, colour: str) -> set[str]:
    return {s for (b, _), s in lab.statuses().items() if b == f"{colour}-backend"}






# --------------------------------------------------------------------------------------------------
# status


def test_status_human_and_json_show_the_live_colour_servers_metrics_and_weights(
    haproxy_lab, tmp_path
):
    config, _ = lab_config(haproxy_lab, tmp_path)
    assert served_colours(haproxy_lab, 20) == {"blue"}  # some traffic for HAProxy's counters

    human = cli(config, "status")
    assert human.returncode == 0, human.stderr
    no_traceback(human)
    lines = human.stdout.splitlines()
    assert lines[0].startswith("shop  live BLUE")
    blue = next(ln for ln in lines if ln.strip().startswith("blue "))
    green = next(ln for ln in lines if ln.strip().startswith("green "))
    assert "LIVE" in blue and "2/2 up" in blue and "weight 100%" in blue
    assert "idle" in green and "2/2 up" in green and "weight 0%" in green
    assert "avg of last 1024" in blue  # HAProxy's latency figure is labelled as the average it is

    proc = cli(config, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["service"] == "shop" and data["live"] == "blue"
    assert data["router_error"] is None and data["external_change"] is None
    assert data["router"]["live"] == "blue"
    for colour in ("blue", "green"):
        m = data["metrics"][colour]
        assert {"rate", "error_pct", "latency_ms", "latency_stat", "sessions", "notes"} <= set(m)
        assert m["latency_stat"] == "avg of last 1024"
        assert m["sessions"] == 0
    assert data["metrics_age"] is not None and data["router_age"] is not None
    assert [(s["name"], s["status"]) for s in data["servers"]["blue"]] == [
        ("blue-1", "UP"),
        ("blue-2", "UP"),
    ]
    assert [(s["name"], s["status"]) for s in data["servers"]["green"]] == [
        ("green-1", "UP"),
        ("green-2", "UP"),
    ]
    assert all(s["check"] == "L7OK" for c in ("blue", "green") for s in data["servers"][c])
    assert data["weights"] == {"blue": 100, "green": 0}
    assert data["alarms"] == [] and data["bake"]["verdict"] == "none"


def test_status_watch_json_prints_one_object_per_poll_until_the_duration(haproxy_lab, tmp_path):
    config, _ = lab_config(haproxy_lab, tmp_path)
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


def test_switch_needs_yes_then_switches_audits_and_a_new_process_rolls_back(haproxy_lab, tmp_path):
    config, audit = lab_config(haproxy_lab, tmp_path)

    nothing = cli(config, "rollback", "--yes")
    assert nothing.returncode == 1
    assert "refused: nothing to roll back" in nothing.stderr
    no_traceback(nothing)

    unconfirmed = cli(config, "switch")  # stdin is not a terminal
    assert unconfirmed.returncode == 2
    assert "pass --yes" in unconfirmed.stderr
    assert "live: BLUE → GREEN" in unconfirmed.stdout  # the plan is shown before it asks
    assert map_value(haproxy_lab) == "blue-backend"
    assert audit_entries(audit)[-1]["result"] == "cancelled"

    done = cli(config, "switch", "--yes")
    assert done.returncode == 0, done.stderr
    assert "switched shop blue → green: done (read back)" in done.stdout
    assert map_value(haproxy_lab) == "green-backend"
    assert "/ green-backend" in haproxy_lab.map.read_text()  # a reload would keep it
    assert served_colours(haproxy_lab) == {"green"}
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["target"], entry["result"]) == ("switch", "green", "ok")
    assert entry["router"] == "haproxy" and entry["service"] == "shop"
    assert entry["before"]["live"] == "blue" and entry["after"]["live"] == "green"

    status = cli(config, "status")
    assert status.returncode == 0 and status.stdout.startswith("shop  live GREEN")

    again = cli(config, "switch", "--to", "green", "--yes")
    assert again.returncode == 1 and "green is already live" in again.stderr

    # A new process: the colour to go back to comes from the audit log.
    back = cli(config, "rollback", "--yes")
    assert back.returncode == 0, back.stderr
    assert "rolled shop back green → blue: done (read back)" in back.stdout
    assert map_value(haproxy_lab) == "blue-backend"
    assert "/ blue-backend" in haproxy_lab.map.read_text()
    assert served_colours(haproxy_lab) == {"blue"}
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["target"], entry["result"]) == ("rollback", "blue", "ok")
    assert [(e["action"], e["result"]) for e in audit_entries(audit)] == [
        ("rollback", "refused"),
        ("switch", "cancelled"),
        ("switch", "ok"),
        ("switch", "refused"),
        ("rollback", "ok"),
    ]


def test_status_after_a_switch_says_when_the_switch_was(haproxy_lab, tmp_path):
    config, audit = lab_config(haproxy_lab, tmp_path)
    assert cli(config, "switch", "--yes").returncode == 0
    switched_at = audit_entries(audit)[-1]["epoch"]
    data = json.loads(cli(config, "status", "--json").stdout)
    assert data["last_switch"] == pytest.approx(switched_at, abs=0.01)
    assert " switched " in cli(config, "status").stdout.splitlines()[0]


def test_switch_to_a_colour_without_an_up_server_is_refused(haproxy_lab, tmp_path):
    config, audit = lab_config(haproxy_lab, tmp_path)

    # An operator disables every green server on the admin socket (MAINT).
    haproxy_lab.command(
        "disable server green-backend/green-1; disable server green-backend/green-2"
    )
    data = json.loads(cli(config, "status", "--json").stdout)
    assert {s["status"] for s in data["servers"]["green"]} == {"MAINT"}
    refused = cli(config, "switch", "--yes")
    assert refused.returncode == 1
    assert "refused: green has no healthy server (2 MAINT): nothing would serve" in refused.stderr
    no_traceback(refused)
    assert map_value(haproxy_lab) == "blue-backend"
    assert audit_entries(audit)[-1]["result"] == "refused"

    # Green's servers really go DOWN: their processes stop, the health checks fail.
    haproxy_lab.command("enable server green-backend/green-1; enable server green-backend/green-2")
    for app in haproxy_lab.colour_apps("green"):
        app.stop()
    assert wait_for(
        lambda: all(s.startswith("DOWN") for s in colour_statuses(haproxy_lab, "green"))
    )
    refused = cli(config, "switch", "--yes")
    assert refused.returncode == 1
    assert "refused: green has no healthy server (2 DOWN): nothing would serve" in refused.stderr
    no_traceback(refused)
    assert map_value(haproxy_lab) == "blue-backend"
    assert served_colours(haproxy_lab) == {"blue"}
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["result"]) == ("switch", "refused")
    assert "no healthy server" in entry["error"]


# --------------------------------------------------------------------------------------------------
# drain and ready


def test_drain_and_ready_the_idle_colour(haproxy_lab, tmp_path):
    config, audit = lab_config(haproxy_lab, tmp_path)

    live = cli(config, "drain", "--colour", "blue", "--yes")
    assert live.returncode == 1
    assert "blue is live: draining it would stop all traffic" in live.stderr

    drained = cli(config, "drain", "--yes")  # default: the colour that is not live
    assert drained.returncode == 0, drained.stderr
    assert "green draining: done (read back)" in drained.stdout
    assert {s.split()[0] for s in colour_statuses(haproxy_lab, "green")} == {"DRAIN"}
    assert {s.split()[0] for s in colour_statuses(haproxy_lab, "blue")} == {"UP"}
    data = json.loads(cli(config, "status", "--json").stdout)
    assert data["router"]["colours"]["green"]["draining"] is True
    assert {s["status"] for s in data["servers"]["green"]} == {"DRAIN"}
    human = cli(config, "status").stdout
    assert "draining" in next(ln for ln in human.splitlines() if ln.strip().startswith("green "))

    assert "green is draining: ready it first" in cli(config, "switch", "--yes").stderr
    twice = cli(config, "drain", "--yes")
    assert twice.returncode == 1 and "green is already draining" in twice.stderr
    assert map_value(haproxy_lab) == "blue-backend"

    readied = cli(config, "ready", "--yes")  # default: the colour that is draining
    assert readied.returncode == 0, readied.stderr
    assert "green ready: done (read back)" in readied.stdout
    assert {s.split()[0] for s in colour_statuses(haproxy_lab, "green")} == {"UP"}
    again = cli(config, "ready", "--yes")
    assert again.returncode == 1 and "no colour is draining" in again.stderr

    switched = cli(config, "switch", "--yes")
    assert switched.returncode == 0 and served_colours(haproxy_lab) == {"green"}
    assert [(e["action"], e["target"], e["result"]) for e in audit_entries(audit)] == [
        ("drain", "blue", "refused"),
        ("drain", "green", "ok"),
        ("switch", None, "refused"),
        ("drain", None, "refused"),
        ("ready", "green", "ok"),
        ("ready", None, "refused"),
        ("switch", "green", "ok"),
    ]


# --------------------------------------------------------------------------------------------------
# changes made outside the console


def test_a_change_made_outside_the_console_shows_in_the_next_poll(haproxy_lab, tmp_path):
    config, _ = lab_config(haproxy_lab, tmp_path)
    runtime = build(load(config).pick(None), source=str(config))
    monitor = Monitor(runtime)
    try:
        first = monitor.poll()
        assert first.snapshot.live is BLUE and first.snapshot.external_change is None
        assert monitor.poll().snapshot.external_change is None  # nothing changed: nothing said

        # set map on the admin socket, as an operator would with socat
        haproxy_lab.command(f"set map {haproxy_lab.map} / green-backend")
        frame = monitor.poll()
        assert frame.snapshot.live is GREEN
        change = frame.snapshot.external_change
        assert change is not None
        assert change.startswith("routing changed outside the console: live blue → green")
        assert "green weight 0 → 100" in change  # the split's weights follow the map
        assert frame.to_json()["external_change"] == frame.snapshot.external_change
        assert monitor.poll().snapshot.external_change is None  # said once

        # another console (the CLI, another process) switching is a change outside this one
        other = cli(config, "switch", "--yes")
        assert other.returncode == 0, other.stderr
        frame = monitor.poll()
        assert frame.snapshot.live is BLUE
        change = frame.snapshot.external_change
        assert change is not None
        assert change.startswith("routing changed outside the console: live green → blue")

        haproxy_lab.command(
            "set server green-backend/green-1 state drain; "
            "set server green-backend/green-2 state drain"
        )
        frame = monitor.poll()
        assert frame.snapshot.external_change == (
            "routing changed outside the console: green drained"
        )
    finally:
        monitor.close()
        runtime.close()


# --------------------------------------------------------------------------------------------------
# configuration and reachability


@pytest.mark.parametrize(
    ("socket_line", "extra", "words"),
    [
        (None, "", ["[service.router]", "option `socket`", "found nothing"]),
        ("/run/x.sock", 'sokcet = "/run/x.sock"\n', ["unknown option", "`sokcet`"]),
    ],
)
def test_a_bad_router_config_exits_2_naming_the_key(tmp_path, socket_line, extra, words):
    config, audit = write_config(tmp_path, socket_line, "/tmp/backend.map", extra=extra)
    for args in (("status",), ("switch", "--yes")):
        proc = cli(config, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"bluegreen: {config}: service 'shop'")
        for word in words:
            assert word in proc.stderr
        no_traceback(proc)
    assert not audit.exists()  # nothing was attempted


def test_an_unreachable_router_gives_status_1_with_a_clear_message(tmp_path):
    missing = tmp_path / "missing.sock"
    config, audit = write_config(tmp_path, str(missing), "/tmp/backend.map")

    started = time.monotonic()
    proc = cli(config, "status")
    assert proc.returncode == 1
    no_traceback(proc)
    assert proc.stdout.startswith("shop  live NONE")
    assert f"router: HAProxy admin socket {missing} does not exist" in proc.stdout

    data = json.loads(cli(config, "status", "--json").stdout)
    assert data["live"] is None and data["router"] is None
    assert f"{missing} does not exist" in data["router_error"]

    action = cli(config, "switch", "--yes")
    assert action.returncode == 1
    assert action.stderr.startswith("bluegreen switch: refused: HAProxy admin socket")
    no_traceback(action)
    assert audit_entries(audit)[-1]["result"] == "refused"
    assert time.monotonic() - started < 30  # fails fast, no retries


# --------------------------------------------------------------------------------------------------
# the console (Pilot), real app on the real router


async def poll_app(pilot) -> None:
    pilot.app.request_poll()
    await settle(pilot)


async def test_console_s_then_y_switches_haproxy_and_r_rolls_back_after_a_restart(
    haproxy_lab, tmp_path
):
    config, audit = lab_config(haproxy_lab, tmp_path)
    cfg = load(config)
    assert cfg.audit_log == audit

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

            assert map_value(haproxy_lab) == "green-backend"
            assert served_colours(haproxy_lab) == {"green"}
            assert "switched shop blue → green: done (read back)" in log_text(app)
            assert app.frame.snapshot.live is GREEN
            assert app.frame.bake.colour is GREEN

            await poll_app(pilot)  # our own switch is not reported as someone else's
            assert app.frame.snapshot.live is GREEN
            assert app.frame.snapshot.external_change is None
            assert "outside the console" not in log_text(app)
        entry = audit_entries(audit)[-1]
        assert (entry["action"], entry["target"], entry["result"]) == ("switch", "green", "ok")
    finally:
        runtime.close()

    # A restart: a new runtime and app; rollback's target comes from the audit log.
    runtime = build(load(config).pick(None), source=str(config))
    try:
        app = BlueGreenApp(runtime, AuditLog(audit), AppOptions(auto_poll=False))
        async with app.run_test(size=SIZE) as pilot:
            await poll_app(pilot)
            assert app.frame.snapshot.live is GREEN
            assert app.frame.last_switch == entry["epoch"]  # read from the audit log
            await press(pilot, "r")
            assert isinstance(app.screen, ConfirmScreen)
            assert app.screen.plan.lines[0].startswith("live: GREEN → BLUE")
            await press(pilot, "y")
            assert map_value(haproxy_lab) == "blue-backend"
            assert served_colours(haproxy_lab) == {"blue"}
            assert "rolled shop back green → blue: done (read back)" in log_text(app)
    finally:
        runtime.close()
    assert [(e["action"], e["result"]) for e in audit_entries(audit)] == [
        ("switch", "ok"),
        ("rollback", "ok"),
    ]

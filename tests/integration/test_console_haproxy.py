"""The console on a real HAProxy: what only HAProxy shows (its average latency, its split weights,
health-check results) and its options. The headless CLI runs as a real ``python -m console``
process per command.

The scenarios every router shares (switch and read-back, rollback after a restart, drain and ready,
changes made outside the console, refusals, an unreachable router, the Textual console's keys) run
on HAProxy in the router contract suite: tests/contract/ (world: tests/support/router_worlds.py).
"""

from __future__ import annotations

import json

import pytest

from tests.integration.haproxy_fixture import get
from tests.support.cli import cli, no_traceback
from tests.support.router_worlds import haproxy_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_status_shows_haproxy_s_average_latency_weights_and_checks(haproxy_lab, tmp_path):
    config, _ = haproxy_config(tmp_path, str(haproxy_lab.socket), str(haproxy_lab.map))
    answers = get(haproxy_lab.url, 20)  # some traffic for HAProxy's counters
    assert {(status, colour) for status, colour, _ in answers} == {(200, "blue")}

    human = cli(config, "status")
    assert human.returncode == 0, human.stderr
    no_traceback(human)
    lines = human.stdout.splitlines()
    blue = next(ln for ln in lines if ln.strip().startswith("blue "))
    green = next(ln for ln in lines if ln.strip().startswith("green "))
    assert "2/2 up" in blue and "weight 100%" in blue
    assert "2/2 up" in green and "weight 0%" in green
    assert "avg of last 1024" in blue  # HAProxy's latency figure is labelled as the average it is

    proc = cli(config, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for colour in ("blue", "green"):
        m = data["metrics"][colour]
        assert m["latency_stat"] == "avg of last 1024"
        assert m["sessions"] == 0
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


@pytest.mark.parametrize(
    ("socket_line", "extra", "words"),
    [
        (None, "", ["[service.router]", "option `socket`", "found nothing"]),
        ("/run/x.sock", 'sokcet = "/run/x.sock"\n', ["unknown option", "`sokcet`"]),
    ],
)
def test_a_bad_router_config_exits_2_naming_the_key(tmp_path, socket_line, extra, words):
    config, audit = haproxy_config(tmp_path, socket_line, "/tmp/backend.map", extra=extra)
    for args in (("status",), ("switch", "--yes")):
        proc = cli(config, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"bluegreen: {config}: service 'shop'")
        for word in words:
            assert word in proc.stderr
        no_traceback(proc)
    assert not audit.exists()  # nothing was attempted


def test_one_server_drained_by_hand_is_reported_as_an_outside_change(haproxy_lab, tmp_path):
    """`set server green-backend/green-1 state drain` on the admin socket, by someone else: the
    console's next poll says the routing changed outside it, naming the server (and so again when it
    is readied)."""
    from console.config import load
    from console.monitor import Monitor
    from console.runtime import build

    config, _ = haproxy_config(tmp_path, str(haproxy_lab.socket), str(haproxy_lab.map))
    runtime = build(load(config).pick(None), source=str(config))
    monitor = Monitor(runtime)
    try:
        assert monitor.poll().snapshot.external_change is None
        haproxy_lab.command("set server green-backend/green-1 state drain")
        change = monitor.poll().snapshot.external_change
        assert change is not None and change.startswith("routing changed outside the console: ")
        assert "green-1" in change and "DRAIN" in change, change
        haproxy_lab.command("set server green-backend/green-1 state ready")
        change = monitor.poll().snapshot.external_change
        assert change is not None and "green-1 DRAIN →" in change, change
    finally:
        haproxy_lab.command("set server green-backend/green-1 state ready")
        monitor.close()
        runtime.close()

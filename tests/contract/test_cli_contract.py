"""The headless CLI (a real ``python -m console`` process per command) on every router kind a
process other than the test's can reach: what an operator types, what it prints, how it exits.

The verbs' rules are checked in-process by test_router_contract.py; here each scenario checks the
CLI's side of them (confirmation, exit status, where a message goes, no traceback, status output)
against the router's world. A kind whose world lives in the test process (the simulator) skips,
saying so.
"""

from __future__ import annotations

import json
import time

import pytest

from backends.base import Colour
from tests.support.cli import audit_entries, cli, no_traceback
from tests.support.router_worlds import hook, ways

pytestmark = [pytest.mark.timeout(120)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def colour_line(text: str, colour: str) -> str:
    return next(ln for ln in text.splitlines() if ln.strip().startswith(f"{colour} "))


def test_status_prints_what_the_router_reads(world):
    config = hook(world, world.cli_config)
    runtime = world.build()
    state = runtime.router.state()  # read in this process, for comparison
    writes = world.writes()

    human = cli(config, "status")
    assert human.returncode == 0, human.stderr
    no_traceback(human)
    lines = human.stdout.splitlines()
    assert lines[0].startswith("shop  live BLUE")
    for colour, badge in ((BLUE, "LIVE"), (GREEN, "idle")):
        cs = state.colour(colour)
        line = colour_line(human.stdout, colour.value)
        assert badge in line and f"{cs.healthy_servers}/{len(cs.servers)} up" in line
        if cs.version:
            assert cs.version in line

    proc = cli(config, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["service"] == "shop" and data["live"] == "blue"
    assert data["router_error"] is None and data["external_change"] is None
    assert data["router"]["live"] == "blue"
    for colour in (BLUE, GREEN):
        m = data["metrics"][colour.value]
        assert {"rate", "error_pct", "latency_ms", "latency_stat", "sessions", "notes"} <= set(m)
        cs = state.colour(colour)
        assert data["router"]["colours"][colour.value]["version"] == cs.version
        assert [(s["name"], s["status"]) for s in data["servers"][colour.value]] == [
            (s.name, "UP") for s in cs.servers
        ]
    assert data["weights"] == {c.value: state.colour(c).weight for c in (BLUE, GREEN)}
    assert data["metrics_age"] is not None and data["router_age"] is not None
    assert data["alarms"] == [] and data["bake"]["verdict"] == "none"
    assert world.writes() == writes  # status writes nothing


def test_status_watch_json_prints_one_object_per_poll_until_the_duration(world):
    config = hook(world, world.cli_config)
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


def test_switch_needs_yes_then_switches_and_a_new_process_rolls_back(world):
    config = hook(world, world.cli_config)
    audit = world.audit_path

    nothing = cli(config, "rollback", "--yes")
    assert nothing.returncode == 1
    assert "refused: nothing to roll back" in nothing.stderr
    no_traceback(nothing)

    writes = world.writes()
    unconfirmed = cli(config, "switch")  # stdin is not a terminal
    assert unconfirmed.returncode == 2
    assert "switch: cancelled: " in unconfirmed.stderr and "pass --yes" in unconfirmed.stderr
    assert "live: BLUE → GREEN" in unconfirmed.stdout  # the plan is shown before it asks
    assert world.live() is BLUE and world.writes() == writes
    assert audit_entries(audit)[-1]["result"] == "cancelled"

    done = cli(config, "switch", "--yes")
    assert done.returncode == 0, done.stderr
    assert "switched shop blue → green: done (read back)" in done.stdout
    assert world.live() is GREEN
    world.assert_kept()
    served = world.served()
    assert served is None or served == {"green"}
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["target"], entry["result"]) == ("switch", "green", "ok")
    assert entry["router"] == world.kind and entry["service"] == "shop"
    assert entry["before"]["live"] == "blue" and entry["after"]["live"] == "green"

    status = cli(config, "status")
    assert status.returncode == 0 and status.stdout.startswith("shop  live GREEN")
    assert " switched " in status.stdout.splitlines()[0]  # when, from the audit log
    data = json.loads(cli(config, "status", "--json").stdout)
    assert data["last_switch"] == pytest.approx(entry["epoch"], abs=0.01)

    again = cli(config, "switch", "--to", "green", "--yes")
    assert again.returncode == 1 and "green is already live" in again.stderr

    back = cli(config, "rollback", "--yes")  # a new process: the target is in the audit log
    assert back.returncode == 0, back.stderr
    assert "rolled shop back green → blue: done (read back)" in back.stdout
    assert world.live() is BLUE
    world.assert_kept()
    served = world.served()
    assert served is None or served == {"blue"}
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["target"], entry["result"]) == ("rollback", "blue", "ok")
    assert [(e["action"], e["result"]) for e in audit_entries(audit)] == [
        ("rollback", "refused"),
        ("switch", "cancelled"),
        ("switch", "ok"),
        ("switch", "refused"),
        ("rollback", "ok"),
    ]


def test_drain_and_ready_the_idle_colour(world):
    config = hook(world, world.cli_config)

    live = cli(config, "drain", "--colour", "blue", "--yes")
    assert live.returncode == 1
    assert "blue is live: draining it would stop all traffic" in live.stderr
    no_traceback(live)

    drained = cli(config, "drain", "--yes")  # default: the colour that is not live
    assert drained.returncode == 0, drained.stderr
    assert "green draining: done (read back)" in drained.stdout
    assert world.draining(GREEN) and not world.draining(BLUE) and world.live() is BLUE
    world.assert_kept()
    data = json.loads(cli(config, "status", "--json").stdout)
    assert data["router"]["colours"]["green"]["draining"] is True
    assert {s["status"] for s in data["servers"]["green"]} == {"DRAIN"}
    assert "draining" in colour_line(cli(config, "status").stdout, "green")

    readied = cli(config, "ready", "--yes")  # default: the colour that is draining
    assert readied.returncode == 0, readied.stderr
    assert "green ready: done (read back)" in readied.stdout
    assert not world.draining(GREEN)
    world.assert_kept()
    assert [(e["action"], e["target"], e["result"]) for e in audit_entries(world.audit_path)] == [
        ("drain", "blue", "refused"),
        ("drain", "green", "ok"),
        ("ready", "green", "ok"),
    ]


def test_a_switch_to_a_colour_with_no_healthy_server_exits_1(world):
    config = hook(world, world.cli_config)
    unhealthy = ways(world, world.unhealthy(GREEN))
    try:
        counts = next(unhealthy)
        writes = world.writes()
        refused = cli(config, "switch", "--yes")
        assert refused.returncode == 1
        assert (
            f"refused: green has no healthy server ({counts}): nothing would serve"
            in refused.stderr
        )
        no_traceback(refused)
        assert world.live() is BLUE and world.writes() == writes
        entry = audit_entries(world.audit_path)[-1]
        assert (entry["action"], entry["result"]) == ("switch", "refused")
    finally:
        unhealthy.close()


def test_an_unreachable_router_gives_status_1_with_a_clear_message(world):
    config = hook(world, world.cli_config)
    with world.unreachable() as words:
        proc = cli(config, "status")
        assert proc.returncode == 1
        no_traceback(proc)
        assert proc.stdout.startswith("shop  live NONE")
        router_line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("  router: "))
        assert words in router_line

        data = json.loads(cli(config, "status", "--json").stdout)
        assert data["live"] is None and data["router"] is None
        assert words in data["router_error"]

        action = cli(config, "switch", "--yes")
        assert action.returncode == 1
        assert action.stderr.startswith("bluegreen switch: refused: ")
        assert words in action.stderr
        no_traceback(action)
        assert audit_entries(world.audit_path)[-1]["result"] == "refused"
        # How fast it fails (no retries) is each router's own test, not a wall-clock bound here.


def test_sync_exits_0_where_it_rewrote_and_1_where_it_is_unsupported(world):
    """``bluegreen sync --yes``: on a router that persists its routing apart, a drift is rewritten
    (status 0, traffic stays); elsewhere it is refused as unsupported, naming the kind (status 1)."""
    config = hook(world, world.cli_config)
    runtime = world.build()
    if not runtime.router.SUPPORTS_SYNC:
        proc = cli(config, "sync", "--yes")
        no_traceback(proc)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"refused: the {world.kind} router keeps no routing config" in proc.stderr
        assert audit_entries(world.audit_path)[-1]["result"] == "refused"
        assert world.live() is BLUE
        return
    world.drift_persisted(GREEN)
    proc = cli(config, "sync", "--yes")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "traffic does not move" in proc.stdout and "done (read back)" in proc.stdout
    assert world.persisted() is BLUE and world.live() is BLUE
    again = cli(config, "sync", "--yes")
    assert again.returncode == 1 and "nothing to sync" in again.stderr, again.stderr

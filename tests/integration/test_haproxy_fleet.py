"""A HAProxy fleet (``instances = [...]``) against three real HAProxy 2.6 processes on 127.0.0.1.

Each test gets its own fleet (``haproxy_fleet``): lb1, lb2, lb3, each with its own admin socket,
map file and port, all in front of the same blue-1, blue-2 (v1) and green-1, green-2 (v2); blue
live everywhere. Faults are real: an instance SIGKILLed (mid-switch too), SIGSTOPped (hung), or
switched by hand on its own socket. Loads are bounded; every wait is bounded in time.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager

import pytest

from backends.base import (
    ActionRefused,
    BackendContext,
    Colour,
    ConfigError,
    PermissionDenied,
    Unreachable,
)
from backends.haproxy import HAProxyRouter
from backends.haproxy.fleet import FleetActionFailed
from backends.haproxy.io import StatsSocket
from console.actions import ActionController
from console.audit import AuditLog
from console.monitor import Monitor
from console.runtime import build
from tests.integration.haproxy_fixture import Load, get
from tests.support.cli import audit_entries
from tests.support.router_worlds import haproxy_fleet_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
ALL_BLUE = {"lb1": "blue-backend", "lb2": "blue-backend", "lb3": "blue-backend"}
ALL_GREEN = {"lb1": "green-backend", "lb2": "green-backend", "lb3": "green-backend"}


def router(fleet, **overrides) -> HAProxyRouter:
    return HAProxyRouter(fleet.router_options(**overrides), BackendContext("shop", timeout=1.0))


def served(fleet) -> dict[str, set[str]]:
    """The colours real requests through each instance reach now."""
    return {
        name: {colour for _, colour, _ in get(lab.url, 6) if colour}
        for name, lab in zip(fleet.names, fleet.labs, strict=True)
    }


@contextmanager
def kill_on(member: HAProxyRouter, lab, word: str, *, after: bool = False):
    """SIGKILL ``lab`` (the whole HAProxy) when ``member`` sends a command starting with ``word``:
    before it is sent, or (``after``) once HAProxy answered it."""
    sock: StatsSocket = member._sock
    real = sock.command
    killed: list[str] = []

    def command(cmd: str) -> list[str]:
        if cmd.startswith(word) and not killed and not after:
            killed.append(cmd)
            lab.kill()
        out = real(cmd)
        if cmd.startswith(word) and not killed and after:
            killed.append(cmd)
            lab.kill()
        return out

    sock.command = command  # type: ignore[method-assign]
    try:
        yield killed
    finally:
        sock.command = real  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------------
# reading


def test_state_reads_every_instance_and_names_where_each_routes(haproxy_fleet):
    r = router(haproxy_fleet)
    state = r.state()
    assert state.live is BLUE and state.split is None
    assert [(i.name, i.live, i.error) for i in state.instances] == [
        ("lb1", BLUE, None),
        ("lb2", BLUE, None),
        ("lb3", BLUE, None),
    ]
    assert state.detail["instances"] == "lb1 → blue, lb2 → blue, lb3 → blue"
    assert r.identity.startswith("haproxy fleet lb1=")
    assert len(state.colour(BLUE).servers) == 2
    r.close()


def test_instances_that_disagree_make_no_live_colour_and_say_how(haproxy_fleet):
    lab3 = haproxy_fleet.lab("lb3")
    lab3.command(f"set map {lab3.map} / green-backend")  # someone on lb3's socket
    state = router(haproxy_fleet).state()
    assert state.live is None
    assert state.split == "2 of 3 instances route to blue (lb1, lb2); lb3 routes to green"
    assert "instances disagree: 2 of 3 instances route to blue" in state.detail["problem"]


def test_two_of_three_on_green_is_a_critical_routing_alarm_and_an_outside_change(haproxy_fleet):
    runtime = build(_service(haproxy_fleet, haproxy_fleet.labs[0].dir.parent), source="fleet test")
    monitor = Monitor(runtime)
    try:
        assert monitor.poll().snapshot.live is BLUE
        for name in ("lb1", "lb2"):
            lab = haproxy_fleet.lab(name)
            lab.command(f"set map {lab.map} / green-backend")
        frame = monitor.poll()
        assert frame.snapshot.external_change is not None
        assert "lb1 blue → green" in frame.snapshot.external_change
        assert "lb2 blue → green" in frame.snapshot.external_change
        firing = [a for a in frame.alarms.firing if a.rule == "invariant:instances_split"]
        assert len(firing) == 1 and firing[0].level.name == "CRITICAL"
        assert "2 of 3 instances route to green (lb1, lb2); lb3 routes to blue" in firing[0].message
        assert firing[0].colour is GREEN
    finally:
        monitor.close()
        runtime.close()


def _service(fleet, tmp):
    from console.config import load

    return load(haproxy_fleet_config(tmp, fleet)).pick(None)


def test_a_hung_instance_is_read_within_the_timeout_and_named(haproxy_fleet):
    lab2 = haproxy_fleet.lab("lb2")
    assert lab2.proc is not None
    r = router(haproxy_fleet)
    r.state()  # connected to each
    os.killpg(lab2.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        state = r.state()
        took = time.monotonic() - started
        assert state.live is BLUE  # the two that answer agree
        lb2 = next(i for i in state.instances if i.name == "lb2")
        assert lb2.error is not None and "lb2" in lb2.error
        assert "lb2 could not be read, its routing is unknown" in state.detail["warning"]
        assert took < 10  # hang guard only: the read gives up on lb2 at 0.8 x the 1 s timeout
        with pytest.raises(ActionRefused, match="refusing to switch to green on the fleet: lb2"):
            r.switch(GREEN)
        assert haproxy_fleet.map_values()["lb1"] == "blue-backend"
    finally:
        os.killpg(lab2.proc.pid, signal.SIGCONT)
    assert haproxy_fleet.map_values() == ALL_BLUE
    r.close()


# --------------------------------------------------------------------------------------------------
# verbs on every instance


def test_switch_moves_every_instance_under_load_with_no_failed_request(haproxy_fleet):
    r = router(haproxy_fleet)
    loads = [
        Load(lab.url, clients=2, max_requests=600, max_seconds=4.0).start()
        for lab in haproxy_fleet.labs
    ]
    time.sleep(0.3)
    state = r.switch(GREEN)
    time.sleep(0.3)
    results = [res for load in loads for res in load.stop()]
    assert state.live is GREEN and state.split is None
    assert haproxy_fleet.map_values() == ALL_GREEN
    assert haproxy_fleet.file_values() == ALL_GREEN  # a restart of any of them stays green
    assert [r_ for r_ in results if r_.error] == []
    assert served(haproxy_fleet) == {"lb1": {"green"}, "lb2": {"green"}, "lb3": {"green"}}


def test_drain_ready_and_weights_run_on_every_instance(haproxy_fleet):
    r = router(haproxy_fleet)
    state = r.drain(GREEN)
    assert state.colour(GREEN).draining
    for lab in haproxy_fleet.labs:
        assert {s.split()[0] for (b, _), s in lab.statuses().items() if b == "green-backend"} == {
            "DRAIN"
        }
    assert not r.ready(GREEN).colour(GREEN).draining
    state = r.set_weights({BLUE: 90, GREEN: 10})
    assert state.colour(GREEN).weight == 10 and state.live is BLUE
    assert set(haproxy_fleet.map_values().values()) == {"split-backend"}


def test_disagreeing_instances_refuse_every_verb_but_the_pick(haproxy_fleet, tmp_path):
    lab2 = haproxy_fleet.lab("lb2")
    lab2.command(f"set map {lab2.map} / green-backend")
    r = router(haproxy_fleet)
    with pytest.raises(ActionRefused) as err:
        r.drain(GREEN)
    assert (
        "the instances disagree (2 of 3 instances route to blue (lb1, lb3); lb2 routes to green)"
        in str(err.value)
    )
    assert "bluegreen switch --service shop --to green" in str(err.value)

    # The console's own switch (no colour named) refuses too, showing the state; --to picks.
    runtime = build(_service(haproxy_fleet, tmp_path), source="fleet test")
    ctl = ActionController(runtime, AuditLog(tmp_path / "audit.jsonl"))
    try:
        with pytest.raises(ActionRefused, match="instances disagree .*--to green"):
            ctl.plan("switch")
        outcome = ctl.execute(ctl.plan("switch", GREEN))
        assert outcome.ok, outcome.message
    finally:
        runtime.close()
    assert haproxy_fleet.map_values() == ALL_GREEN


# --------------------------------------------------------------------------------------------------
# one instance down


def test_one_instance_dead_before_a_switch_refuses_it_and_changes_none(haproxy_fleet):
    r = router(haproxy_fleet)
    haproxy_fleet.lab("lb3").kill()
    state = r.state()
    assert state.live is BLUE and "lb3 could not be read" in state.detail["warning"]
    with pytest.raises(ActionRefused) as err:
        r.switch(GREEN)
    assert "lb3: HAProxy admin socket" in str(err.value)
    assert "nothing was changed on any instance" in str(err.value)
    values = haproxy_fleet.map_values()
    assert values["lb1"] == values["lb2"] == "blue-backend"


@pytest.mark.parametrize(
    "after", [False, True], ids=["killed-before-set-map", "killed-after-set-map"]
)
def test_an_instance_killed_mid_switch_leaves_every_instance_on_blue_and_names_each(
    haproxy_fleet, after
):
    r = router(haproxy_fleet)
    assert r.fleet is not None
    lb2 = next(m for m in r.fleet.members if m.name == "lb2")
    with (
        kill_on(lb2, haproxy_fleet.lab("lb2"), "set map", after=after) as killed,
        pytest.raises(FleetActionFailed) as err,
    ):
        r.switch(GREEN)
    assert killed, "lb2 was not killed mid-switch"
    message = str(err.value)
    assert message.startswith("switch to green failed on lb2 of the fleet")
    assert "lb1: changed; put back, reads blue-backend" in message
    assert "lb3: changed; put back, reads blue-backend" in message
    assert "lb2: failed:" in message and "its map file says blue-backend again" in message
    assert "Every instance that answers routes to blue as before" in message
    values = haproxy_fleet.map_values()
    assert values == {"lb1": "blue-backend", "lb2": None, "lb3": "blue-backend"}
    assert haproxy_fleet.file_values() == ALL_BLUE
    # lb2 restarted (its supervisor, say) comes back on its map file: blue like the others.
    haproxy_fleet.lab("lb2").start()
    assert haproxy_fleet.map_values() == ALL_BLUE
    assert r.state().live is BLUE


def test_an_instance_hung_mid_switch_fails_it_loudly_and_the_others_stay_blue(haproxy_fleet):
    r = router(haproxy_fleet)
    assert r.fleet is not None
    lb2 = next(m for m in r.fleet.members if m.name == "lb2")
    lab2 = haproxy_fleet.lab("lb2")
    assert lab2.proc is not None
    sock: StatsSocket = lb2._sock
    real = sock.command

    def command(cmd: str) -> list[str]:
        if cmd.startswith("set map"):
            os.killpg(lab2.proc.pid, signal.SIGSTOP)  # hangs just as the switch reaches it
        return real(cmd)

    sock.command = command  # type: ignore[method-assign]
    try:
        with pytest.raises(FleetActionFailed) as err:
            r.switch(GREEN)
    finally:
        sock.command = real  # type: ignore[method-assign]
        os.killpg(lab2.proc.pid, signal.SIGCONT)
    message = str(err.value)
    assert "lb2: failed: HAProxy did not answer `" in message  # `set map` or its read-back
    assert "not put back (it did not answer in time: its routing is unknown)" in message
    assert "its map file says blue-backend again" in message
    assert "lb1: changed; put back, reads blue-backend" in message
    assert haproxy_fleet.file_values() == ALL_BLUE
    # lb2 resumed: whatever it did with the command it was sent, the fleet's state says so.
    state = r.state()
    values = haproxy_fleet.map_values()
    if values["lb2"] == "blue-backend":
        assert state.live is BLUE and state.split is None
    else:  # it took the switch after all: the disagreement is the critical alarm's
        assert state.live is None
        assert state.split == "2 of 3 instances route to blue (lb1, lb3); lb2 routes to green"


def test_a_killed_instance_mid_switch_is_a_failed_audited_action_naming_each(
    haproxy_fleet, tmp_path
):
    runtime = build(_service(haproxy_fleet, tmp_path), source="fleet test")
    ctl = ActionController(runtime, AuditLog(tmp_path / "audit.jsonl"))
    router_ = runtime.router
    assert isinstance(router_, HAProxyRouter) and router_.fleet is not None
    lb3 = router_.fleet.members[2]
    try:
        plan = ctl.plan("switch")
        with kill_on(lb3, haproxy_fleet.lab("lb3"), "set map"):
            outcome = ctl.execute(plan)
        assert not outcome.ok and outcome.result == "failed"
        assert "failed on lb3 of the fleet" in outcome.message
        entry = audit_entries(tmp_path / "audit.jsonl")[-1]
        assert (entry["action"], entry["result"]) == ("switch", "failed")
        for name in ("lb1", "lb2", "lb3"):
            assert f"{name}: " in entry["error"]
        assert entry["after"]["live"] == "blue"
        assert entry["after"]["instances"]["lb1"] == "blue"
        assert entry["after"]["instances"]["lb3"].startswith("unreadable: ")
    finally:
        runtime.close()
    assert haproxy_fleet.file_values() == ALL_BLUE


def test_every_instance_refusing_writes_is_permission_denied(haproxy_fleet):
    options = haproxy_fleet.router_options()
    for inst, lab in zip(options["instances"], haproxy_fleet.labs, strict=True):
        inst["socket"] = str(lab.user_socket)
    r = HAProxyRouter(options, BackendContext("shop", timeout=1.0))
    with pytest.raises(PermissionDenied, match="level admin"):
        r.drain(GREEN)


def test_every_instance_gone_is_unreachable(haproxy_fleet):
    r = router(haproxy_fleet)
    for lab in haproxy_fleet.labs:
        lab.kill()
    with pytest.raises(Unreachable, match="no instance of the HAProxy fleet answered: lb1: "):
        r.state()


def test_bad_fleet_options_are_config_errors(haproxy_fleet):
    options = haproxy_fleet.router_options()
    options["instances"][1]["socket"] = options["instances"][0]["socket"]
    with pytest.raises(ConfigError, match=r"option `instances\[1\]\.socket`: found .* twice"):
        HAProxyRouter(options, BackendContext("shop"))

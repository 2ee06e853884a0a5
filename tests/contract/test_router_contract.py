"""The router contract (backends/base.py), checked the same way on every registered router kind.

Every scenario runs once per kind in ``backends.registry.available(ROUTERS)`` on a live world
(tests/support/router_worlds.py: the simulator in process, a real HAProxy, the Kubernetes API fake),
through the console's own layers: ``console.runtime.build``, ``ActionController.plan/execute``,
``Monitor.poll``, ``AuditLog``. What the router reads back is checked against what its world really
holds (HAProxy's admin socket and map file, the API objects, the simulated world). A scenario
skips only where the world says the kind cannot produce that fault, and names the kind.

Scenarios driven through a CLI process (another process, as an operator would) are in
``test_cli_contract.py``; the Textual console's keys in ``test_console_contract.py``.
"""

from __future__ import annotations

import time

import pytest

from backends import registry
from backends.base import (
    ActionRefused,
    Colour,
    Conflict,
    PermissionDenied,
    ServerStatus,
    Unreachable,
    Unsupported,
)
from console.actions import ActionController
from console.audit import AuditLog
from console.model import Level
from console.monitor import Monitor
from tests.contract.conftest import world_factory
from tests.support.cli import audit_entries
from tests.support.router_worlds import WORLDS, hook, ways

pytestmark = [pytest.mark.timeout(90)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def controller(world, runtime) -> ActionController:
    return ActionController(runtime, AuditLog(world.audit_path))


def results(world) -> list[tuple[str, str | None, str]]:
    return [(e["action"], e["target"], e["result"]) for e in audit_entries(world.audit_path)]


def last_entry(world) -> dict:
    return audit_entries(world.audit_path)[-1]


def assert_served(world, colours: set[str]) -> None:
    served = world.served()
    if served is not None:  # real requests (HAProxy) or the simulated split
        assert served == colours


# --------------------------------------------------------------------------------------------------
# every registered router has a world


def test_every_registered_router_kind_has_a_contract_world():
    missing = [k for k in registry.available(registry.ROUTERS) if k not in WORLDS]
    assert not missing, (
        f"router kinds {missing} are registered but have no world in "
        "tests/support/router_worlds.py WORLDS: add one so the contract suite runs them"
    )


def test_a_kind_without_a_world_fails_the_suite_with_what_to_add():
    registry.register(registry.ROUTERS, "contract-probe", object)
    try:
        assert "contract-probe" in registry.available(registry.ROUTERS)
        with pytest.raises(pytest.fail.Exception) as failed:
            world_factory("contract-probe")
        assert "router kind 'contract-probe' is registered" in str(failed.value)
        assert "add one to WORLDS in tests/support/router_worlds.py" in str(failed.value)
    finally:
        registry.unregister(registry.ROUTERS, "contract-probe")


# --------------------------------------------------------------------------------------------------
# switch, read back


def test_switch_is_reported_done_only_as_the_read_back_shows_it(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    assert world.live() is BLUE
    writes = world.writes()

    plan = ctl.plan("switch")  # default: the colour that is not live
    assert plan.target is GREEN
    assert "live: BLUE → GREEN" in plan.lines
    ctl.cancel(plan)  # the confirmation answered "no"
    assert world.live() is BLUE and world.writes() == writes
    assert results(world) == [("switch", "green", "cancelled")]

    outcome = ctl.execute(ctl.plan("switch"))
    assert outcome.ok, outcome.message
    assert outcome.message == "switched shop blue → green: done (read back)"
    assert outcome.after is not None and outcome.after.live is GREEN
    assert runtime.router.state().live is GREEN  # the read-back is what the router says now...
    assert world.live() is GREEN  # ...and what its world really holds
    world.assert_kept()
    assert_served(world, {"green"})
    entry = last_entry(world)
    assert outcome.audit == entry
    assert (entry["action"], entry["target"], entry["result"]) == ("switch", "green", "ok")
    assert entry["router"] == world.kind and entry["service"] == "shop"
    assert entry["before"]["live"] == "blue" and entry["after"]["live"] == "green"

    monitor = Monitor(runtime)
    try:
        frame = monitor.poll()
        assert frame.snapshot.live is GREEN and frame.snapshot.router_error is None
    finally:
        monitor.close()


def test_a_no_op_switch_is_refused_and_writes_nothing(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    writes = world.writes()
    with pytest.raises(ActionRefused, match="blue is already live: nothing to switch"):
        ctl.plan("switch", BLUE)
    assert world.live() is BLUE and world.writes() == writes
    entry = last_entry(world)
    assert (entry["action"], entry["target"], entry["result"]) == ("switch", "blue", "refused")
    assert "already live" in entry["error"]


# --------------------------------------------------------------------------------------------------
# rollback after a restart


def test_rollback_after_a_restart_finds_its_target_in_the_audit_log(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    with pytest.raises(ActionRefused, match="nothing to roll back"):
        ctl.plan("rollback")
    switched = ctl.execute(ctl.plan("switch"))
    assert switched.ok and world.live() is GREEN

    # A restart: a fresh runtime, controller, monitor and audit log reading the same file.
    runtime = world.restart(runtime)
    monitor = Monitor(runtime, AuditLog(world.audit_path))
    try:
        frame = monitor.poll()
        assert frame.snapshot.live is GREEN
        assert frame.last_switch == pytest.approx(switched.audit["epoch"])  # from the audit log
    finally:
        monitor.close()
    ctl = controller(world, runtime)
    plan = ctl.plan("rollback")
    assert plan.target is BLUE and plan.lines[0].startswith("live: GREEN → BLUE")
    outcome = ctl.execute(plan)
    assert outcome.ok, outcome.message
    assert outcome.message == "rolled shop back green → blue: done (read back)"
    assert world.live() is BLUE
    world.assert_kept()
    assert_served(world, {"blue"})
    assert results(world) == [
        ("rollback", None, "refused"),
        ("switch", "green", "ok"),
        ("rollback", "blue", "ok"),
    ]


# --------------------------------------------------------------------------------------------------
# drain, then ready


def test_drain_then_ready_the_idle_colour(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    monitor = Monitor(runtime)
    try:
        writes = world.writes()
        with pytest.raises(ActionRefused, match="blue is live: draining it would stop all traffic"):
            ctl.plan("drain", BLUE)
        assert not world.draining(BLUE) and world.writes() == writes

        drained = ctl.execute(ctl.plan("drain"))  # default: the colour that is not live
        assert drained.ok, drained.message
        assert drained.message == "green draining: done (read back)"
        assert world.draining(GREEN) and not world.draining(BLUE)
        assert world.live() is BLUE
        world.assert_kept()
        green = monitor.poll().snapshot.router.colour(GREEN)
        assert green.draining
        assert {s.status for s in green.servers} == {ServerStatus.DRAIN}
        assert green.healthy_servers == len(green.servers)  # drained, not broken

        with pytest.raises(ActionRefused, match="green is draining: ready it first"):
            ctl.plan("switch")
        with pytest.raises(ActionRefused, match="green is already draining"):
            ctl.plan("drain")
        assert world.live() is BLUE

        readied = ctl.execute(ctl.plan("ready"))  # default: the colour that is draining
        assert readied.ok, readied.message
        assert readied.message == "green ready: done (read back)"
        assert not world.draining(GREEN)
        world.assert_kept()
        green = monitor.poll().snapshot.router.colour(GREEN)
        assert not green.draining and {s.status for s in green.servers} == {ServerStatus.UP}
        with pytest.raises(ActionRefused, match="no colour is draining"):
            ctl.plan("ready")

        switched = ctl.execute(ctl.plan("switch"))
        assert switched.ok and world.live() is GREEN
        world.assert_kept()
        assert_served(world, {"green"})
    finally:
        monitor.close()
    assert results(world) == [
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


def test_a_change_made_outside_the_console_is_reported_once_by_the_next_poll(world, tmp_path):
    runtime = world.build()
    monitor = Monitor(runtime)
    try:
        first = monitor.poll()
        assert first.snapshot.live is BLUE and first.snapshot.external_change is None
        assert monitor.poll().snapshot.external_change is None  # nothing changed: nothing said

        world.switch_outside(GREEN)
        frame = monitor.poll()
        assert frame.snapshot.live is GREEN
        change = frame.snapshot.external_change
        assert change is not None
        assert change.startswith("routing changed outside the console: live blue → green")
        if frame.snapshot.router.colour(GREEN).weight is not None:
            assert "green weight 0 → 100" in change  # weights follow the live colour
        else:
            assert change == "routing changed outside the console: live blue → green"
        assert frame.to_json()["external_change"] == change
        assert monitor.poll().snapshot.external_change is None  # said once

        # Another console (its own runtime and audit log) switching is someone else too.
        other = world.build()
        other_ctl = ActionController(other, AuditLog(tmp_path / "other-console.jsonl"))
        assert other_ctl.execute(other_ctl.plan("switch")).ok
        frame = monitor.poll()
        assert frame.snapshot.live is BLUE
        change = frame.snapshot.external_change
        assert change is not None
        assert change.startswith("routing changed outside the console: live green → blue")

        world.drain_outside(GREEN)
        frame = monitor.poll()
        assert frame.snapshot.external_change == (
            "routing changed outside the console: green drained"
        )
    finally:
        monitor.close()


def test_the_live_colour_drained_outside_is_a_critical_alarm_on_the_very_next_poll(world):
    """A broken routing invariant is alarmed whoever caused it, on the first poll that sees it (the
    router answers 503 to every request, which no application metric shows), and clears when the
    routing is sound again."""
    runtime = world.build()
    monitor = Monitor(runtime)
    try:
        frame = monitor.poll()
        live = frame.snapshot.live
        assert live is not None
        assert not [a for a in frame.alarms.firing if a.invariant]

        world.drain_outside(live)
        frame = monitor.poll()
        (alarm,) = [a for a in frame.alarms.firing if a.invariant]
        assert (alarm.level, alarm.colour) == (Level.CRITICAL, live)
        assert alarm.message.startswith(f"CRITICAL {live} is live and drained: ")
        assert "503" in alarm.message
        assert [e.alarm.message for e in frame.alarms.events if e.raised] == [alarm.message]
        assert alarm.message in [a["message"] for a in frame.to_json()["alarms"]]
        assert monitor.poll().alarms.events == ()  # raised once, held while it stands

        runtime.router.ready(live)
        frame = monitor.poll()
        assert not [a for a in frame.alarms.firing if a.invariant]
        assert [e.alarm.rule for e in frame.alarms.events if not e.raised] == [alarm.rule]
    finally:
        monitor.close()


# --------------------------------------------------------------------------------------------------
# refusal on an unhealthy target


def test_a_switch_to_a_colour_with_no_healthy_server_is_refused_and_changes_nothing(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    monitor = Monitor(runtime)
    try:
        seen = 0
        for counts in ways(world, world.unhealthy(GREEN)):
            seen += 1
            writes = world.writes()
            green = monitor.poll().snapshot.router.colour(GREEN)
            assert green.healthy_servers == 0
            assert {str(s.status) for s in green.servers} == {counts.split()[1]}
            with pytest.raises(ActionRefused) as refused:
                ctl.plan("switch")
            assert str(refused.value) == (
                f"green has no healthy server ({counts}): nothing would serve"
            )
            entry = last_entry(world)
            assert (entry["action"], entry["result"]) == ("switch", "refused")
            assert "no healthy server" in entry["error"]
            assert world.live() is BLUE and world.writes() == writes
            assert_served(world, {"blue"})
        assert seen >= 1

        # Healthy again: the same switch goes through.
        assert ctl.execute(ctl.plan("switch")).ok
        assert world.live() is GREEN
    finally:
        monitor.close()


def test_a_target_that_turns_unhealthy_after_the_plan_is_refused_at_execute(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    plan = ctl.plan("switch")  # confirmed while green was healthy
    unhealthy = ways(world, world.unhealthy(GREEN))
    try:
        counts = next(unhealthy)
        writes = world.writes()
        outcome = ctl.execute(plan)
        assert not outcome.ok
        assert outcome.message == f"green has no healthy server ({counts}): nothing would serve"
        assert outcome.audit is not None and outcome.audit["result"] == "refused"
        assert world.live() is BLUE and world.writes() == writes
    finally:
        unhealthy.close()  # undoes the fault


# --------------------------------------------------------------------------------------------------
# weights


def test_weights_split_new_traffic_where_the_router_supports_it(world):
    runtime = world.build()
    if not runtime.router.supports_weights:
        pytest.skip(f"{world.kind}: supports_weights is False (no weighted split)")
    ctl = controller(world, runtime)
    before = runtime.router.state()
    assert (before.colour(BLUE).weight, before.colour(GREEN).weight) == (100, 0)

    outcome = ctl.execute(ctl.plan("weights", weights={BLUE: 70, GREEN: 30}))
    assert outcome.ok, outcome.message
    assert outcome.message == "weights blue 70%, green 30%: done (read back)"
    after = outcome.after
    assert after is not None
    assert abs(after.colour(BLUE).weight - 70) <= 2 and abs(after.colour(GREEN).weight - 30) <= 2
    assert after.live is BLUE  # the colour with more than half
    assert_served(world, {"blue", "green"})
    monitor = Monitor(runtime)
    try:
        snap = monitor.poll().snapshot
        assert abs(snap.router.colour(GREEN).weight - 30) <= 2
    finally:
        monitor.close()
    with pytest.raises(ActionRefused, match="the weights are already"):
        ctl.plan(
            "weights", weights={BLUE: after.colour(BLUE).weight, GREEN: after.colour(GREEN).weight}
        )
    assert results(world) == [("weights", None, "ok"), ("weights", None, "refused")]


# --------------------------------------------------------------------------------------------------
# each error class of the contract


def test_an_unreachable_router_raises_unreachable_fast_and_nothing_is_done(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    monitor = Monitor(runtime)
    try:
        assert monitor.poll().snapshot.live is BLUE
        with world.unreachable() as words:
            started = time.monotonic()
            with pytest.raises(Unreachable) as err:
                runtime.router.state()
            assert words in str(err.value)

            frame = monitor.poll()
            assert frame.snapshot.router_error is not None
            assert words in frame.snapshot.router_error

            fresh = Monitor(world.build())  # a console that starts while the router is gone
            try:
                snap = fresh.poll().snapshot
                assert snap.live is None and snap.router is None and words in snap.router_error
            finally:
                fresh.close()

            with pytest.raises(Unreachable):
                ctl.plan("switch")
            entry = last_entry(world)
            assert (entry["action"], entry["result"]) == ("switch", "refused")
            assert words in entry["error"]
            assert time.monotonic() - started < 20  # fails fast: no retries
    finally:
        monitor.close()


def test_routing_changed_between_plan_and_execute_is_refused_and_nothing_is_done(world):
    runtime = world.build()
    ctl = controller(world, runtime)
    plan = ctl.plan("switch")
    world.switch_outside(GREEN)  # someone else, while the dialog was open
    writes = world.writes()
    outcome = ctl.execute(plan)
    assert not outcome.ok
    assert outcome.message.startswith("the routing changed since the preflight (live blue → green")
    assert outcome.message.endswith("nothing was done: look again and retry")
    assert outcome.audit is not None and outcome.audit["result"] == "refused"
    assert world.live() is GREEN and world.writes() == writes  # theirs, untouched


def test_routing_changed_during_the_router_s_own_write_is_a_conflict(world):
    runtime = world.build()
    words = hook(world, world.race_on_write, GREEN)
    with pytest.raises(Conflict) as err:
        runtime.router.switch(GREEN)
    assert words in str(err.value)
    assert world.live() is not GREEN  # the other writer's change stands, ours was not written


def test_a_router_that_may_read_but_not_write_raises_permission_denied(world):
    with hook(world, world.denied) as (runtime, words):
        assert runtime.router.state().live is BLUE  # reading is allowed
        with pytest.raises(PermissionDenied) as err:
            runtime.router.drain(GREEN)
        assert words in str(err.value)
        assert not world.draining(GREEN)

        ctl = controller(world, runtime)
        outcome = ctl.execute(ctl.plan("drain"))
        assert not outcome.ok and words in outcome.message
        assert outcome.audit is not None and outcome.audit["result"] == "failed"
        assert not world.draining(GREEN) and world.live() is BLUE


def test_weights_without_a_split_are_unsupported(world):
    runtime = hook(world, world.without_split)
    assert not runtime.router.supports_weights
    with pytest.raises(Unsupported, match="no weighted split"):
        runtime.router.set_weights({BLUE: 50, GREEN: 50})
    ctl = controller(world, runtime)
    with pytest.raises(ActionRefused, match=f"the {world.kind} router has no weighted split"):
        ctl.plan("weights", weights={BLUE: 50, GREEN: 50})
    entry = last_entry(world)
    assert (entry["action"], entry["result"]) == ("weights", "refused")
    assert world.live() is BLUE


def test_sync_makes_the_persisted_config_agree_without_moving_traffic(world):
    """Where the router persists its routing apart (HAProxy's map file), ``sync`` rewrites what
    drifted to what the router routes by, and the routing does not move; elsewhere it is
    Unsupported, naming the kind, and the console refuses it (audited)."""
    from console.model import routing_key

    runtime = world.build()
    router = runtime.router
    if not router.SUPPORTS_SYNC:
        with pytest.raises(Unsupported, match=f"the {world.kind} router keeps no routing config"):
            router.sync()
        with pytest.raises(Unsupported, match=f"the {world.kind} router"):
            router.sync_preview()
        with pytest.raises(Unsupported, match=f"the {world.kind} router"):
            controller(world, runtime).plan("sync")
        assert (last_entry(world)["action"], last_entry(world)["result"]) == ("sync", "refused")
        assert world.live() is BLUE
        return
    ctl = controller(world, runtime)
    with pytest.raises(ActionRefused, match="nothing to sync"):  # nothing drifted yet
        ctl.plan("sync")
    world.drift_persisted(GREEN)
    assert world.persisted() is GREEN and world.live() is BLUE
    before = routing_key(router.state())
    plan = ctl.plan("sync")
    assert any("traffic does not move" in line for line in plan.lines), plan.lines
    outcome = ctl.execute(plan)
    assert outcome.ok, outcome.message
    assert world.persisted() is BLUE and world.live() is BLUE
    assert routing_key(router.state()) == before
    records = [r for r in audit_entries(world.audit_path) if r["action"] == "sync"]
    assert records[-1]["result"] == "ok" and records[-1]["intent"]

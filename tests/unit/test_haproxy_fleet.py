"""A HAProxy fleet's pure parts: its options (bad input), the disagreement sentence and alarm, and
how an outside change on one instance is worded. The real processes are in
tests/integration/test_haproxy_fleet.py."""

from __future__ import annotations

import pytest

from backends.base import (
    BackendContext,
    Colour,
    ColourState,
    ConfigError,
    InstanceState,
    RouterState,
    ServerState,
    ServerStatus,
)
from backends.haproxy import HAProxyRouter
from console.model import describe_change, invariant_breaches, routing_key, violations

BLUE, GREEN = Colour.BLUE, Colour.GREEN
BACKENDS = {"blue": "blue-backend", "green": "green-backend"}


def build(**options):
    return HAProxyRouter({"backends": BACKENDS, **options}, BackendContext("shop"))


def error(**options) -> str:
    with pytest.raises(ConfigError) as err:
        build(**options)
    return str(err.value)


# -- options ----------------------------------------------------------------------------------------


def test_a_fleet_is_a_list_of_instances_each_with_its_socket_and_map():
    r = build(
        map="/etc/haproxy/backend.map",
        instances=[
            {"name": "lb1", "socket": "/run/haproxy-1/admin.sock"},
            {"name": "lb2", "socket": "10.0.0.2:9999", "map": "/srv/lb2.map", "map_file": "/x"},
        ],
    )
    assert r.fleet is not None
    (one, two) = r.fleet.members
    assert (one.name, one.opts.socket, one.opts.map, one.opts.file) == (
        "lb1",
        "/run/haproxy-1/admin.sock",
        "/etc/haproxy/backend.map",
        "/etc/haproxy/backend.map",
    )
    assert (two.name, two.opts.socket, two.opts.map, two.opts.file) == (
        "lb2",
        "10.0.0.2:9999",
        "/srv/lb2.map",
        "/x",
    )
    assert r.identity == (
        "haproxy fleet lb1=/run/haproxy-1/admin.sock map /etc/haproxy/backend.map, "
        "lb2=10.0.0.2:9999 map /srv/lb2.map key /"
    )


def test_a_single_instance_config_is_unchanged():
    r = build(socket="/run/haproxy/admin.sock", map="/etc/haproxy/backend.map")
    assert r.fleet is None
    assert r.identity == "haproxy /run/haproxy/admin.sock map /etc/haproxy/backend.map key /"
    # a list of one instance is the single router too
    one = build(map="/m", instances=[{"socket": "/run/a.sock"}])
    assert one.fleet is None and one.identity == "haproxy /run/a.sock map /m key /"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"map": "/m"}, "option `socket`: found nothing; expected admin stats socket"),
        ({"socket": "/s"}, "option `map`: found nothing"),
        ({"map": "/m", "instances": []}, "option `instances`: found []; expected a list of tables"),
        ({"map": "/m", "instances": "lb1"}, "option `instances`: found 'lb1'"),
        (
            {"map": "/m", "instances": [{"name": "lb1"}]},
            "option `instances[0].socket`: found nothing",
        ),
        (
            {"map": "/m", "instances": [{"socket": "/a"}, {"socket": "host:port"}]},
            "option `instances[1].socket`: found 'host:port'; expected a unix socket path, or "
            '"host:port" with a numeric port',
        ),
        (
            {"map": "/m", "instances": [{"socket": "/a", "weight": 3}]},
            "option `instances[0].weight`: found the key 'weight'; expected only the keys name, "
            "socket, map, map_file",
        ),
        (
            {"instances": [{"socket": "/a", "map": "/m"}, {"socket": "/b"}]},
            "option `instances[1].map`: found nothing",
        ),
        (
            {
                "map": "/m",
                "instances": [{"name": "lb", "socket": "/a"}, {"name": "lb", "socket": "/b"}],
            },
            "option `instances[1].name`: found 'lb' twice; expected each instance with its own name",
        ),
        (
            {"map": "/m", "socket": "/s", "instances": [{"socket": "/a"}, {"socket": "/b"}]},
            "option `socket`: found '/s'; expected either `socket` (one HAProxy) or `instances`",
        ),
        (
            {"map": "/m", "map_file": "/f", "instances": [{"socket": "/a"}, {"socket": "/b"}]},
            "option `map_file`: found '/f'; expected `map_file` inside each entry of `instances`",
        ),
        (
            {"map": "/m", "instances": [{"socket": "/a", "map": "two words"}]},
            "option `instances[0].map`: found 'two words'",
        ),
    ],
)
def test_bad_fleet_options_say_which_key_and_what_is_expected(options, says):
    assert says in error(**options)


# -- disagreement -----------------------------------------------------------------------------------


def fleet_state(*lives: Colour | None, error: str | None = None) -> RouterState:
    servers = (ServerState("s1", ServerStatus.UP),)
    instances = tuple(
        InstanceState(f"lb{n + 1}", live, error if live is None and error else None)
        for n, live in enumerate(lives)
    )
    agreed = {i.live for i in instances if i.error is None}
    return RouterState(
        live=agreed.pop() if len(agreed) == 1 else None,
        colours={c: ColourState(c, servers) for c in (BLUE, GREEN)},
        instances=instances,
    )


def test_instances_that_disagree_are_one_critical_routing_invariant_worded_by_count():
    state = fleet_state(GREEN, BLUE, GREEN)
    assert state.split == "2 of 3 instances route to green (lb1, lb3); lb2 routes to blue"
    (v,) = invariant_breaches(state)
    assert (v.rule, v.colour) == ("instances_split", GREEN)
    assert v.message.startswith("2 of 3 instances route to green (lb1, lb3); lb2 routes to blue")
    assert "bluegreen switch --to blue|green" in v.message
    assert violations(fleet_state(BLUE, BLUE, BLUE)) == ()


def test_an_unreadable_instance_is_not_a_disagreement():
    state = fleet_state(BLUE, None, BLUE, error="no answer")
    assert state.split is None and state.live is BLUE
    assert violations(state) == ()
    assert state.summary()["instances"] == {
        "lb1": "blue",
        "lb2": "unreadable: no answer",
        "lb3": "blue",
    }


def test_an_outside_change_on_one_instance_names_it_and_changes_the_routing_key():
    before, after = fleet_state(BLUE, BLUE, BLUE), fleet_state(BLUE, GREEN, BLUE)
    assert routing_key(before) != routing_key(after)
    assert describe_change(before, after) == "live blue → none, lb2 blue → green"
    later = fleet_state(BLUE, GREEN, GREEN)  # a second one moves while they disagree
    assert routing_key(after) != routing_key(later)
    assert describe_change(after, later) == "lb3 blue → green"


def test_the_header_status_and_json_show_where_each_instance_routes_and_the_alarm_fires():
    from console.alarms import AlarmEngine
    from console.cli import _human_status
    from console.model import BakeState, Frame, Snapshot
    from console.views import header_view

    state = fleet_state(GREEN, GREEN, BLUE)
    snap = Snapshot("shop", 100.0, router=state, mono=1.0)
    report = AlarmEngine([]).evaluate(snap)
    (alarm,) = report.firing
    assert alarm.level.name == "CRITICAL" and alarm.colour is GREEN
    assert alarm.message.startswith(
        "CRITICAL 2 of 3 instances route to green (lb1, lb2); lb3 routes to blue"
    )
    frame = Frame(snap, report, BakeState())
    view = header_view(frame, "shop", "haproxy", 100.0, False, "")
    assert view.live == "" and view.instances == (
        ("lb1", "green"),
        ("lb2", "green"),
        ("lb3", "blue"),
    )
    text = _human_status(frame)
    assert "shop  live NONE" in text
    assert "instances: lb1 → green, lb2 → green, lb3 → blue" in text
    assert "ALARM CRITICAL 2 of 3 instances route to green" in text
    assert frame.to_json()["router"]["instances"] == {"lb1": "green", "lb2": "green", "lb3": "blue"}
    # agreeing again: the alarm clears on the next snapshot
    again = Snapshot("shop", 101.0, router=fleet_state(GREEN, GREEN, GREEN), mono=2.0)
    engine = AlarmEngine([])
    engine.evaluate(snap)
    assert engine.evaluate(again).firing == ()

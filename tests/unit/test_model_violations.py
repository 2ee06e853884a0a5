"""The routing invariants, as a pure function of one router read."""

from __future__ import annotations

from backends.base import Colour, ColourState, RouterState, ServerState, ServerStatus
from console.model import violations

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def state(
    live: Colour | None,
    *,
    draining: tuple[Colour, ...] = (),
    weights: dict[Colour, int] | None = None,
    live_status: ServerStatus = ServerStatus.UP,
) -> RouterState:
    colours = {}
    for c in (BLUE, GREEN):
        status = live_status if c == live else ServerStatus.UP
        if c in draining:
            status = ServerStatus.DRAIN
        colours[c] = ColourState(
            c,
            servers=(ServerState(f"{c}-1", status),),
            draining=c in draining,
            weight=(weights or {}).get(c),
        )
    return RouterState(live, colours)


def test_a_healthy_routing_breaks_nothing() -> None:
    assert violations(state(BLUE)) == ()
    assert violations(state(BLUE, draining=(GREEN,))) == ()  # the idle colour may drain
    assert violations(state(GREEN, weights={BLUE: 0, GREEN: 100}, draining=(BLUE,))) == ()


def test_the_live_colour_drained_is_a_violation_naming_the_503s() -> None:
    (v,) = violations(state(GREEN, draining=(GREEN,)))
    assert v.startswith("green is live and drained") and "503" in v


def test_the_live_colour_without_a_healthy_server_is_a_violation() -> None:
    (v,) = violations(state(BLUE, live_status=ServerStatus.DOWN))
    assert v.startswith("blue is live and has no healthy server")


def test_weights_to_a_drained_colour_are_a_violation() -> None:
    (v,) = violations(state(BLUE, weights={BLUE: 70, GREEN: 30}, draining=(GREEN,)))
    assert "30 % of new requests to green, which is drained" in v

"""What counts as a change of routing (someone else's, or between a plan and its execution)."""

from __future__ import annotations

from backends.base import Colour, ColourState, RouterState, ServerState, ServerStatus
from console.model import describe_change, routing_key

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def state(green: tuple[ServerStatus, ...], *, green_draining: bool = False) -> RouterState:
    blue = ColourState(BLUE, servers=(ServerState("blue-1", ServerStatus.UP),))
    servers = tuple(ServerState(f"green-{i}", st) for i, st in enumerate(green, 1))
    return RouterState(
        BLUE, {BLUE: blue, GREEN: ColourState(GREEN, servers=servers, draining=green_draining)}
    )


def test_one_server_drained_by_hand_is_a_routing_change_and_says_which() -> None:
    before = state((ServerStatus.UP, ServerStatus.UP))
    after = state((ServerStatus.DRAIN, ServerStatus.UP))
    assert routing_key(after) != routing_key(before)
    assert describe_change(before, after) == "green-1 UP → DRAIN"


def test_health_is_not_routing() -> None:
    before = state((ServerStatus.UP, ServerStatus.UP))
    assert routing_key(state((ServerStatus.DOWN, ServerStatus.UP))) == routing_key(before)
    # MAINT is health too here: a tracked server inherits it, and the preflight's "no healthy
    # server" is the refusal an operator should read, not "the routing changed".
    assert routing_key(state((ServerStatus.MAINT, ServerStatus.UP))) == routing_key(before)


def test_a_colour_drained_as_a_whole_is_one_change_not_one_per_server() -> None:
    # Servers coming and going under a drained colour (a scale-down) change nothing more.
    drained = state((ServerStatus.DRAIN, ServerStatus.DRAIN), green_draining=True)
    fewer = state((ServerStatus.DRAIN,), green_draining=True)
    assert routing_key(drained) == routing_key(fewer)
    assert routing_key(drained) != routing_key(state((ServerStatus.UP, ServerStatus.UP)))

"""``bluegreen demo --services N``: N simulated services on one board, seeded, no infrastructure.

Every service runs on the simulator with its own seed (``seed + i``). So that the board has something
to show at once, a few are set up before the first frame: a few bad releases (green takes the traffic
and its errors or latency climb within seconds: trouble), one switched to green a moment ago (mid-bake,
healthy), one whose idle colour is draining. Those changes are made on the simulator itself, as a
colleague would make them, so the board reports them as changes made outside the console.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backends.base import Colour
from console.board_config import BoardConfig, BoardEntry
from console.board_poll import Slot
from console.config import from_mapping

NAMES = (
    "shop", "cart", "checkout", "payments", "search", "auth", "catalog", "inventory", "orders",
    "shipping", "reviews", "recommend", "profile", "notify", "billing", "pricing", "media",
    "gateway", "ledger", "tax", "coupons", "wishlist", "returns", "loyalty", "support",
)  # fmt: skip
TROUBLE = {1: "bad-release", 4: "slow-release", 7: "bad-release"}  # index -> scenario
BAKING, DRAINING = 2, 3


def demo_name(i: int) -> str:
    return NAMES[i] if i < len(NAMES) else f"svc-{i + 1:03d}"


def demo_board_config(
    n: int, seed: int = 7, bake_seconds: float = 60.0, poll_interval: float = 1.0
) -> BoardConfig:
    """N demo services (``demo_name(i)``), built in code: no file needed."""
    services: list[dict[str, Any]] = []
    for i in range(n):
        services.append(
            {
                "name": demo_name(i),
                "poll_interval": poll_interval,
                "bake_seconds": bake_seconds,
                "router": {
                    "kind": "simulator",
                    "scenario": TROUBLE.get(i, "healthy"),
                    "seed": seed + i,
                },
                "metrics": {"kind": "simulator"},
            }
        )
    cfg = from_mapping({"service": services, "recording": {"enabled": False}}, "demo")
    return BoardConfig(
        Path("demo"),
        tuple(BoardEntry(s.name, "demo", s, cfg) for s in cfg.service),
    )


def stage(slots: list[Slot]) -> None:
    """Set the scene: each service polled once (what it looked like before), then the bad releases
    and the mid-bake service switched to green and the draining one's idle colour drained."""
    for i, slot in enumerate(slots):
        rt, monitor = slot.runtime, slot.monitor
        world = getattr(rt.router, "world", None) if rt is not None else None
        if monitor is None or world is None:
            continue
        if i in TROUBLE or i == BAKING:
            slot.frame = monitor.poll()
            world.switch(Colour.GREEN)
        elif i == DRAINING:
            world.drain(Colour.GREEN)

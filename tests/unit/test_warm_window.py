"""The warm-rollback window's length: ``keep_warm`` when set, else the bake window, or twice a
DNS-like router's TTL when that is longer (the router's ``keep_warm_hint()``)."""

from __future__ import annotations

from backends.clock import ManualClock
from console.config import from_mapping
from console.runtime import build


def _runtime(**extra: float):  # type: ignore[no-untyped-def]
    service = {"name": "shop", "bake_seconds": 60, "router": {"kind": "simulator"}, **extra}
    cfg = from_mapping({"service": [service]}, "test")
    return build(cfg.service[0], clock=ManualClock(1000.0))


def test_the_bake_window_by_default_and_keep_warm_when_set():
    assert _runtime().warm_seconds == 60
    assert _runtime(keep_warm=15).warm_seconds == 15
    assert _runtime(keep_warm=0).warm_seconds == 0


def test_a_dns_like_router_keeps_the_old_colour_warm_for_twice_its_ttl():
    rt = _runtime()
    rt.router.keep_warm_hint = lambda: 600.0  # type: ignore[attr-defined]  # TTL 300 s
    assert rt.warm_seconds == 600
    rt.router.keep_warm_hint = lambda: 20.0  # type: ignore[attr-defined]  # shorter: the bake window
    assert rt.warm_seconds == 60
    rt.router.keep_warm_hint = lambda: 1 / 0  # type: ignore[attr-defined]  # a broken hint
    assert rt.warm_seconds == 60

"""One live router world per registered router kind (tests/support/router_worlds.py).

The ``world`` fixture is parametrized over every kind registered in the entry-point group
``bluegreen_console.routers`` (``backends.registry.available``), so a new router runs the whole
contract suite as soon as it is registered. A kind with no world fails every scenario, telling its
author what to add: it cannot skip the suite by accident.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from backends import registry
from tests.support.cli import PROXY_VARS
from tests.support.router_worlds import VARIANTS, WORLDS, RouterWorld

KINDS = registry.available(registry.ROUTERS)
REAL = {"haproxy", "kubernetes", "nginx"}  # worlds that start processes or servers on 127.0.0.1
REAL |= set(VARIANTS)  # a HAProxy fleet: three HAProxy processes
REAL |= {"gateway-api", "istio"}  # the Kubernetes API fake, with the route custom objects
REAL |= {"alb", "route53"}  # moto's server on 127.0.0.1


def world_factory(kind: str) -> Callable[[Path], contextlib.AbstractContextManager[RouterWorld]]:
    """The world builder for ``kind``; fails (not skips) when the suite has none."""
    if kind in VARIANTS:
        return VARIANTS[kind]
    if kind not in WORLDS:
        pytest.fail(
            f"router kind {kind!r} is registered ({registry.ROUTERS}) but the router contract "
            f"suite has no world for it: add one to WORLDS in tests/support/router_worlds.py "
            "(a RouterWorld subclass that starts the router, reads it independently and "
            "produces its faults). Every router kind must pass tests/contract/.",
            pytrace=False,
        )
    return WORLDS[kind]


@pytest.fixture(
    params=[
        pytest.param(kind, id=kind, marks=[pytest.mark.integration] if kind in REAL else [])
        for kind in [*KINDS, *VARIANTS]
    ]
)
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 only, never through a proxy
    with world_factory(request.param)(tmp_path) as built:
        yield built

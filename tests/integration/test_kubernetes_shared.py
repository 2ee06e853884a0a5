"""Five Kubernetes services in one namespace, polled by the board: one read of the namespace per poll
for all five (issue 13), counted at the fake API server (``tests/support/k8s_fake.py``, through the
real ``kubernetes`` client); each service still sees its own live colour; an action is seen at the
very next poll; with the minimal Role (``get`` by name only on Services and Deployments) the group
gets each object once per poll instead."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import Colour
from console.board_config import load_board
from console.board_poll import BoardPoller, Slot, build_slots
from tests.support.board import expected as board_expected
from tests.support.board import live
from tests.support.k8s_fake import FakeKube

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
N = 5

SERVICE = """
[[service]]
name = "s{i}"
poll_interval = 10
[service.router]
kind = "kubernetes"
host = "{host}"
service = "s{i}"
timeout = 10
[service.router.deployments]
blue = "s{i}-blue"
green = "s{i}-green"
"""


@pytest.fixture
def five(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[FakeKube, Path]]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 only, never through a proxy
    with FakeKube(role=None) as fake:
        for i in range(N):
            live = "green" if i % 2 else "blue"
            fake.add_service(f"s{i}", {"app": f"s{i}", "version": live})
            for colour in ("blue", "green"):
                fake.add_deployment(f"s{i}-{colour}", {"app": f"s{i}", "version": colour})
        fake.settle()
        cfg = tmp_path / "board.toml"
        text = 'audit_log = "audit.jsonl"\n[recording]\nenabled = false\n'
        cfg.write_text(text + "".join(SERVICE.format(i=i, host=fake.url) for i in range(N)))
        yield fake, cfg


def requests(fake: FakeKube, since: int) -> Counter[str]:
    """The requests since index ``since``: "list pods", "get services", "patch services"..."""
    out: Counter[str] = Counter()
    for method, path, _ in fake.requests[since:]:
        resource, _, name = path.split("/namespaces/default/")[-1].partition("/")
        verb = {"GET": "get" if name else "list"}.get(method, method.lower())
        out[f"{verb} {resource}"] += 1
    return out


def expected(green: set[int]) -> dict[str, Colour | None]:
    return board_expected(green, N)


LISTS = {"list services": 1, "list deployments": 1, "list pods": 1, "list endpointslices": 1}


def polled(cfg: Path, **kw: Any) -> tuple[list[Slot], BoardPoller]:
    slots = build_slots(load_board(cfg), lambda e: None, **kw)
    return slots, BoardPoller(slots)


def test_five_services_in_one_namespace_cost_four_lists_per_poll_not_25_requests(five):
    fake, cfg = five
    slots, poller = polled(cfg)
    try:
        mark = len(fake.requests)
        poller.poll()
        assert requests(fake, mark) == LISTS
        assert live(slots) == expected({1, 3})
        servers = slots[1].frame.snapshot.router.colour(GREEN).servers  # type: ignore[union-attr]
        assert len(servers) == 3 and all(s.name.startswith("s1-green") for s in servers)
        mark = len(fake.requests)
        poller.poll()  # within the shared read's age (half the 10 s poll interval)
        assert requests(fake, mark) == {}
    finally:
        poller.close()
    slots, poller = polled(cfg, share=False)
    try:
        mark = len(fake.requests)
        poller.poll()
        assert sum(requests(fake, mark).values()) == 5 * N  # a Service, 2 Deployments, 2 lists each
        assert live(slots) == expected({1, 3})
    finally:
        poller.close()


def test_an_action_on_one_service_shows_at_the_very_next_poll(five):
    fake, cfg = five
    slots, poller = polled(cfg)
    try:
        poller.poll()
        s0 = slots[0].runtime
        assert s0 is not None
        assert s0.router.switch(GREEN).live is GREEN  # straight to the router, its own read-back
        mark = len(fake.requests)
        poller.poll()  # well within the shared read's age: read afresh all the same
        assert requests(fake, mark) == LISTS
        assert live(slots) == expected({0, 1, 3})
    finally:
        poller.close()


def test_with_get_only_on_services_and_deployments_the_group_gets_each_once_per_poll(five):
    fake, cfg = five
    names = {"services": [f"s{i}" for i in range(N)]}
    names["deployments"] = [f"s{i}-{c}" for i in range(N) for c in ("blue", "green")]
    fake.use_role(
        {
            "rules": [
                {"apiGroups": [g], "resources": [r], "resourceNames": names[r], "verbs": ["get"]}
                for g, r in (("", "services"), ("apps", "deployments"))
            ]
            + [
                {"apiGroups": [g], "resources": [r], "verbs": ["list"]}
                for g, r in (("", "pods"), ("discovery.k8s.io", "endpointslices"))
            ]
        }
    )
    slots, poller = polled(cfg)
    try:
        poller.poll()  # the lists of Services and Deployments are refused once (403)...
        assert live(slots) == expected({1, 3})
        group = slots[0].runtime.router._group  # type: ignore[union-attr]
        group.shared.max_age = 0.0
        mark = len(fake.requests)
        poller.poll()  # ... then each object is read by name, once for the group
        assert requests(fake, mark) == {
            "get services": N,
            "get deployments": 2 * N,
            "list pods": 1,
            "list endpointslices": 1,
        }
        assert live(slots) == expected({1, 3})
    finally:
        poller.close()

"""Shared router reads (issue 13): ``backends.shared.SharedRead`` (reuse, a read under way, a shared
failure, invalidation) and which routers the board groups (``console.board_poll.share_routers``).
No I/O: building a router does not touch its socket."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from backends.base import BackendContext, BackendTimeout, Unreachable
from backends.haproxy import HAProxyRouter
from backends.haproxy.shared import SocketGroup
from backends.shared import SharedRead
from backends.simulator.router import SimulatorRouter
from console.board_poll import share_routers

# --------------------------------------------------------------------------------------------------
# SharedRead


class Counted:
    """A read that counts its calls, answers the call number, and can be held or made to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.release.set()
        self.fail: Exception | None = None

    def __call__(self) -> int:
        self.calls += 1
        self.release.wait(5)
        if self.fail is not None:
            raise self.fail
        return self.calls


def test_a_read_is_reused_within_its_age_and_read_again_after_it():
    fn = Counted()
    shared = SharedRead(fn, max_age=60.0, name="x")
    assert [shared.get(1.0) for _ in range(5)] == [1] * 5 and fn.calls == 1
    shared.max_age = 0.0
    assert shared.get(1.0) == 2 and shared.reads == 2
    shared.close()


def test_askers_during_a_read_wait_for_it_rather_than_sending_another():
    fn = Counted()
    fn.release.clear()
    shared = SharedRead(fn, max_age=60.0, name="x")
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(shared.get, 5.0) for _ in range(5)]
        fn.release.set()
        assert [f.result(5) for f in futures] == [1] * 5
    assert fn.calls == 1
    shared.close()


def test_a_failure_is_shared_by_the_group_for_that_poll():
    fn = Counted()
    fn.fail = Unreachable("socket gone")
    shared = SharedRead(fn, max_age=60.0, name="x")
    for _ in range(3):
        with pytest.raises(Unreachable, match="socket gone"):
            shared.get(1.0)
    assert fn.calls == 1
    shared.close()


def test_a_read_that_does_not_come_back_in_time_is_a_timeout_naming_what_was_read():
    fn = Counted()
    fn.release.clear()
    shared = SharedRead(fn, max_age=60.0, name="HAProxy /run/a.sock")
    with pytest.raises(BackendTimeout, match="shared read of HAProxy /run/a.sock"):
        shared.get(0.05)
    fn.release.set()
    shared.close()


def test_after_invalidate_the_next_ask_reads_afresh_and_a_read_under_way_is_not_kept():
    fn = Counted()
    shared = SharedRead(fn, max_age=60.0, name="x")
    assert shared.get(1.0) == 1
    shared.invalidate()  # an action wrote: no reuse of read 1
    fn.release.clear()
    with ThreadPoolExecutor(1) as pool:
        before = pool.submit(shared.get, 5.0)  # read 2 starts before the next action's write
        while fn.calls < 2:
            threading.Event().wait(0.01)
        shared.invalidate()
        fn.release.set()
        assert before.result(5) == 2  # those already waiting get it...
    assert shared.get(1.0) == 3  # ...but the next poll does not
    shared.close()


# --------------------------------------------------------------------------------------------------
# Which routers share


def haproxy(name: str, **options: Any) -> HAProxyRouter:
    opts = {"map": "/etc/haproxy/a.map", "backends": {"blue": "b", "green": "g"}, **options}
    return HAProxyRouter(opts, BackendContext(service=name, timeout=2.0))


def runtime(router: Any, poll_interval: float = 1.0) -> Any:
    return SimpleNamespace(router=router, config=SimpleNamespace(poll_interval=poll_interval))


def test_haproxy_routers_share_by_stats_socket_and_fleets_by_instance(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = str(tmp_path / "a.sock")
    routers = {
        "shop": haproxy("shop", socket=a, map_key="/shop"),
        # the same map, another key: one `show map` for both
        "cart": haproxy("cart", socket="./a.sock", map_key="/cart", timeout=0.5),
        # another map on the same socket: its own `show map`, the same `show stat`
        "blog": haproxy("blog", socket=a, map="/etc/haproxy/b.map"),
        # a fleet: lb1 shares a.sock's read, lb2 is alone on its socket
        "fleet": haproxy(
            "fleet",
            instances=[{"name": "lb1", "socket": a}, {"name": "lb2", "socket": "/run/c.sock"}],
        ),
        # alone on its socket: reads on its own, as before
        "alone": haproxy("alone", socket="127.0.0.1:9999"),
        # another kind: never grouped with HAProxy
        "sim": SimulatorRouter({"scenario": "healthy"}, BackendContext(service="sim")),
    }
    intervals = {"shop": 4.0, "cart": 1.0}
    groups = share_routers([runtime(r, intervals.get(n, 2.0)) for n, r in routers.items()])
    try:
        (group,) = groups
        assert isinstance(group, SocketGroup)
        assert group.maps == ["/etc/haproxy/a.map", "/etc/haproxy/b.map"]
        assert group.commands_per_read == 4  # two `show map`, `show stat`, `show servers state`
        assert group.shared.max_age == 0.5  # half the shortest poll interval of the group
        assert group.sock.timeout == 0.5  # the smallest timeout of the group
        fleet = routers["fleet"].fleet
        assert fleet is not None
        lb1, lb2 = fleet.members
        for r in (routers["shop"], routers["cart"], routers["blog"], lb1):
            assert r._group is group
        for r in (lb2, routers["alone"]):
            assert r._group is None
    finally:
        for r in routers.values():
            r.close()
    assert group._open == 0  # the last member closed it


def test_a_service_alone_on_its_socket_or_on_the_board_shares_nothing():
    one = haproxy("one", socket="/run/one.sock")
    two = haproxy("two", socket="/run/two.sock")
    assert share_routers([runtime(one)]) == []
    assert share_routers([runtime(one), runtime(two)]) == []
    assert one._group is None and two._group is None


def kube(name: str, **options: Any) -> Any:
    from backends.kubernetes import KubernetesRouter

    opts = {
        "host": "https://10.0.0.1:6443",
        "service": name,
        "deployments": {"blue": f"{name}-blue", "green": f"{name}-green"},
        **options,
    }
    return KubernetesRouter(opts, BackendContext(service=name, timeout=2.0))


def test_kubernetes_routers_share_by_cluster_access_and_namespace():
    from backends.kubernetes.shared import NamespaceGroup

    routers = {
        "shop": kube("shop", namespace="prod", preview_service="shop-preview"),
        "cart": kube("cart", namespace="prod", colours={"blue": "b", "green": "g"}),
        "blog": kube("blog", namespace="prod", selector_label="track"),
        # another namespace, another API server, another credential: read on their own
        "dev": kube("dev", namespace="dev"),
        "far": kube("far", namespace="prod", host="https://10.9.9.9:6443"),
        "token": kube("token", namespace="prod", token="t0ken"),
    }
    groups = share_routers([runtime(r) for r in routers.values()])
    try:
        (group,) = groups
        assert isinstance(group, NamespaceGroup)
        assert [r._group is group for r in routers.values()] == [True] * 3 + [False] * 3
        assert group.names["services"] == ["blog", "cart", "shop", "shop-preview"]
        assert len(group.names["deployments"]) == 6
        # two selector labels in the group: the pods are listed whole, and split per service
        assert group.pod_selector is None
    finally:
        for r in routers.values():
            r.close()
    one, two = kube("one"), kube("two", colours={"blue": "b", "green": "g"})
    (group,) = share_routers([runtime(one), runtime(two)])
    assert group.pod_selector == "version in (b,blue,g,green)"  # one label: one selector
    one.close()
    two.close()


def test_a_read_that_came_back_is_reused_even_if_nobody_was_waiting_for_it():
    fn = Counted()
    fn.release.clear()
    shared = SharedRead(fn, max_age=60.0, name="x")
    with pytest.raises(BackendTimeout):
        shared.get(0.05)  # the asker gave up; the read goes on and comes back later
    fn.release.set()
    deadline = time.monotonic() + 5
    while shared._inflight is not None and not shared._inflight.done():  # bounded
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert shared.get(1.0) == 1 and fn.calls == 1  # that read, not a second one
    shared.close()

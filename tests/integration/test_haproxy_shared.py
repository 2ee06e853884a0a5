"""Five services on one real HAProxy stats socket, polled by the board: one read of the socket per
poll for all five (issue 13), each service still seeing its own live colour, and an action seen at
the very next poll (no stale shared read).

The services' routers talk to a counting proxy in front of HAProxy's admin socket
(``tests.support.socket_proxy``), so the commands that reach HAProxy are counted, not inferred.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import BackendContext, Colour
from backends.haproxy import HAProxyRouter
from console.board_config import load_board
from console.board_poll import BoardPoller, build_slots
from tests.support.board import expected as board_expected
from tests.support.board import live
from tests.support.socket_proxy import CountingProxy

pytestmark = pytest.mark.integration

BLUE, GREEN = Colour.BLUE, Colour.GREEN
N = 5
READ = {"show map": 1, "show stat": 1, "show servers": 1}  # one map: three commands a read

SERVICE = """
[[service]]
name = "s{i}"
poll_interval = 10
[service.router]
kind = "haproxy"
socket = "{socket}"
map = "{map}"
map_key = "/s{i}"
timeout = 1.0
[service.router.backends]
blue = "blue-backend"
green = "green-backend"
"""


@pytest.fixture
def five(haproxy_lab, tmp_path: Path) -> Iterator[tuple[object, CountingProxy, Path]]:
    """Five map keys /s0../s4 on the lab's map (odd ones green), a board config of five services
    on them, all through one counting proxy of the admin socket."""
    lines = []
    for i in range(N):
        backend = "green-backend" if i % 2 else "blue-backend"
        haproxy_lab.command(f"add map {haproxy_lab.map} /s{i} {backend}")
        lines.append(f"/s{i} {backend}\n")
    with open(haproxy_lab.map, "a", encoding="utf-8") as fh:
        fh.writelines(lines)
    with CountingProxy(haproxy_lab.socket, tmp_path / "proxy.sock") as proxy:
        cfg = tmp_path / "board.toml"
        text = 'audit_log = "audit.jsonl"\n[recording]\nenabled = false\n'
        text += "".join(
            SERVICE.format(i=i, socket=proxy.path, map=haproxy_lab.map) for i in range(N)
        )
        cfg.write_text(text)
        yield haproxy_lab, proxy, cfg


def expected(green: set[int]) -> dict[str, Colour | None]:
    return board_expected(green, N)


def test_five_services_on_one_socket_cost_one_read_per_poll_not_five(five):
    lab, proxy, cfg = five
    slots = build_slots(load_board(cfg), lambda e: None)
    poller = BoardPoller(slots)
    try:
        mark = proxy.mark()
        poller.poll()
        assert proxy.count(since=mark) == READ  # 3 commands, not 15
        assert live(slots) == expected({1, 3})  # each one its own map key
        # another poll within the shared read's age (half the 10 s poll interval): no command
        mark = proxy.mark()
        poller.poll()
        assert proxy.count(since=mark) == {}
        assert live(slots) == expected({1, 3})
    finally:
        poller.close()


def test_unshared_the_same_board_sends_each_command_once_per_service(five):
    lab, proxy, cfg = five
    slots = build_slots(load_board(cfg), lambda e: None, share=False)
    poller = BoardPoller(slots)
    try:
        mark = proxy.mark()
        poller.poll()
        assert proxy.count(since=mark) == {k: N for k in READ}
        assert live(slots) == expected({1, 3})
    finally:
        poller.close()


def test_an_action_on_one_service_shows_at_the_very_next_poll(five):
    lab, proxy, cfg = five
    slots = build_slots(load_board(cfg), lambda e: None)
    poller = BoardPoller(slots)
    try:
        poller.poll()
        assert live(slots) == expected({1, 3})
        s0 = slots[0].runtime
        assert s0 is not None
        mark = proxy.mark()
        after = s0.router.switch(GREEN)  # straight to the router: its read-back is its own read
        assert after.live is GREEN
        sent = proxy.count(since=mark)
        assert sent["set map"] == 1 and sent["show stat"] == 2  # preflight and read-back
        mark = proxy.mark()
        poller.poll()  # well within the shared read's age: read afresh all the same
        assert proxy.count(since=mark) == READ
        assert live(slots) == expected({0, 1, 3})
        # a change from outside the console shows once the shared read is older than its age
        lab.command(f"set map {lab.map} /s3 blue-backend")
        s0.router._group.shared.max_age = 0.0  # type: ignore[attr-defined]
        poller.poll()
        assert live(slots) == expected({0, 1})
    finally:
        poller.close()


def test_a_map_haproxy_does_not_know_fails_its_service_only(five, tmp_path):
    lab, proxy, cfg = five
    wrong = SERVICE.format(i=9, socket=proxy.path, map=tmp_path / "nope.map")
    cfg.write_text(cfg.read_text() + wrong)
    slots = build_slots(load_board(cfg), lambda e: None)
    poller = BoardPoller(slots)
    try:
        poller.poll()
        assert live(slots[:N]) == expected({1, 3})
        bad = slots[N].frame
        assert bad is not None and bad.snapshot.router is None
        assert "HAProxy does not know the map" in str(bad.snapshot.router_error)
    finally:
        poller.close()


def test_two_fleets_on_the_same_instances_share_each_instances_read(haproxy_fleet):
    """Fleets share per instance: two services on lb1..lb3 (map keys / and /cart) read each
    instance once per poll; a switch of one fleet shows at its very next poll."""
    for lab in haproxy_fleet.labs:
        lab.command(f"add map {lab.map} /cart green-backend")
    shop = HAProxyRouter(haproxy_fleet.router_options(), BackendContext("shop", timeout=1.0))
    cart = HAProxyRouter(
        haproxy_fleet.router_options(map_key="/cart", map_file_write=False),
        BackendContext("cart", timeout=1.0),
    )
    groups = HAProxyRouter.share_reads([(shop, 5.0), (cart, 5.0)])
    try:
        assert len(groups) == 3  # one per instance's socket
        assert (shop.poll_state().live, cart.poll_state().live) == (BLUE, GREEN)
        assert [g.reads for g in groups] == [1, 1, 1]  # one read of each instance for both
        assert shop.switch(GREEN).live is GREEN  # straight to every instance, read back there
        assert shop.poll_state().live is GREEN  # within the age: read afresh all the same
        assert cart.poll_state().live is GREEN
        assert [g.reads for g in groups] == [2, 2, 2]
    finally:
        shop.close()
        cart.close()

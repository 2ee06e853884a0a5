"""``bluegreen lab up --services 2``: shop and cart behind the one HAProxy, each reaching its own
fleets; the written console.toml is a board of two services read from Prometheus together; a switch
of one service moves only that one. Real HAProxy, Prometheus and fleet processes on 127.0.0.1;
about 20 s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import Colour
from backends.prometheus.batch import SharedView
from console.board_config import load_board
from console.board_poll import BoardPoller, Slot, build_slots
from console.lab.stack import LabState
from tests.support.lab import bluegreen, down_leaves_nothing, get, lab_dir_for

pytestmark = pytest.mark.integration

NAMES = ["shop", "cart"]


@pytest.fixture
def lab_dir(tmp_path: Path) -> Iterator[Path]:
    yield from lab_dir_for(tmp_path)


def served_by(url: str, n: int = 6) -> set[str]:
    """The instances (``X-Server`` names, from the body) that answered ``n`` GETs of ``url``."""
    servers = set()
    for _ in range(n):
        status, body = get(url)
        assert status == 200, (url, status, body)
        colour, version, server = body.split()
        servers.add(f"{colour} {version} {server}")
    return servers


def live_and_rates(slots: list[Slot]) -> dict[str, tuple[str | None, float, float]]:
    """Per service: the live colour of its last frame, that colour's request rate on the frame,
    and the same from the service's share of the batched Prometheus read alone (the frame's
    figure may come from HAProxy's own counters when Prometheus has none)."""
    out: dict[str, tuple[str | None, float, float]] = {}
    for slot in slots:
        frame = slot.frame
        assert frame is not None and slot.runtime is not None, (slot.name, slot.late)
        snap = frame.snapshot
        assert snap.router_error is None and snap.metrics_error is None, snap
        live = snap.live
        if live is None:
            out[slot.name] = (None, 0.0, 0.0)
            continue
        assert slot.runtime.metrics is not None
        prom = slot.runtime.metrics.sample().get(live)
        out[slot.name] = (
            live.value,
            (snap.metrics[live].rate or 0.0) if live in snap.metrics else 0.0,
            (prom.rate if prom else None) or 0.0,
        )
    return out


def poll_until(poller: BoardPoller, want: dict[str, str], timeout: float = 20.0) -> None:
    """Board polls (bounded) until each service shows the wanted live colour with its own traffic:
    about the 20 req/s the load sends it (not both services' 40)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, tuple[str | None, float, float]] = {}
    while time.monotonic() < deadline:
        seen = live_and_rates(poller.poll())
        if all(seen[n][0] == c and seen[n][1] > 0 and 0 < seen[n][2] < 30 for n, c in want.items()):
            return
        time.sleep(0.5)
    pytest.fail(f"the board never showed {want} with its own traffic on the live colour: {seen}")


def test_two_services_behind_one_haproxy_make_a_board(lab_dir: Path) -> None:
    bad = bluegreen("lab", "up", "--services", "3", "--dir", str(lab_dir), "--no-install")
    assert bad.returncode == 1 and "--services must be from 1 to 2, not 3" in bad.stderr
    assert "--services 2" in bad.stderr and not lab_dir.exists()

    up = bluegreen(
        "lab",
        "up",
        "--services",
        "2",
        "--dir",
        str(lab_dir),
        "--duration",
        "60",
        "--rate",
        "20",
        "--no-install",
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"bluegreen watch --config {lab_dir / 'console.toml'}" in up.stdout
    state = LabState.load(lab_dir)
    assert state is not None
    services = {s.name: s for s in state.layout()}
    assert list(services) == NAMES
    assert sum(p.name == "haproxy" for p in state.processes) == 1  # one HAProxy for both

    # Each service's traffic through HAProxy reaches its own blue fleet; another path, neither.
    for name, svc in services.items():
        assert served_by(state.url_of(svc)) <= {f"blue v1 {name}-blue-{i}" for i in (1, 2)}
    status, body = get(state.frontend_url)
    assert status == 404 and "/shop/ and /cart/" in body

    # Faults name their service when there are two.
    fault = bluegreen("lab", "fault", "green", "--error-rate", "0.5", "--dir", str(lab_dir))
    assert fault.returncode == 1
    assert "--service shop or --service cart" in fault.stderr, fault.stderr
    fault = bluegreen(
        "lab", "fault", "green", "--service", "cart", "--latency-ms", "1", "--dir", str(lab_dir)
    )
    assert fault.returncode == 0, fault.stderr
    assert "cart-green-1: " in fault.stdout and "shop" not in fault.stdout

    # The console.toml is a board of two services whose Prometheus sources are read together.
    board = load_board(lab_dir / "console.toml")
    assert [e.name for e in board] == NAMES and all(e.ok for e in board)
    slots = build_slots(board, lambda e: None)
    poller = BoardPoller(slots)
    try:
        views = [s.runtime.metrics if s.runtime else None for s in slots]
        assert all(isinstance(v, SharedView) for v in views), views
        assert isinstance(views[0], SharedView) and isinstance(views[1], SharedView)
        assert views[0].batch is views[1].batch and views[0].batch.label == "service"
        poll_until(poller, {"shop": "blue", "cart": "blue"})

        # A switch of cart through its own router moves cart only.
        cart = next(s for s in slots if s.name == "cart")
        assert cart.runtime is not None
        assert cart.runtime.router.switch(Colour.GREEN).live == Colour.GREEN
        assert served_by(state.url_of(services["cart"])) <= {
            f"green v2 cart-green-{i}" for i in (1, 2)
        }
        assert served_by(state.url_of(services["shop"])) <= {
            f"blue v1 shop-blue-{i}" for i in (1, 2)
        }
        assert Path(services["cart"].map).read_text().split() == ["/cart", "cart_green"]
        assert Path(services["shop"].map).read_text().split() == ["/shop", "shop_blue"]
        poll_until(poller, {"shop": "blue", "cart": "green"})
    finally:
        poller.close()

    st = bluegreen("lab", "status", "--dir", str(lab_dir), "--json")
    assert st.returncode == 0, st.stderr
    info = json.loads(st.stdout)
    assert {n: s["live"] for n, s in info["services"].items()} == {"shop": "blue", "cart": "green"}
    st = bluegreen("lab", "status", "--service", "nope", "--dir", str(lab_dir))
    assert st.returncode == 1 and "--service shop or --service cart" in st.stderr

    down_leaves_nothing(lab_dir, state)

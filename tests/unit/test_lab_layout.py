"""The lab's layout for one service (unchanged) and for two (``up --services 2``), the files written
for them, and the load generator's split over several URLs. No HAProxy or Prometheus here (the
integration tests start them); the load generator runs against two in-process fleet apps."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backends.base import BackendContext
from backends.prometheus import PrometheusMetrics
from backends.prometheus.batch import share
from console.board_config import load_board
from console.lab import load
from console.lab.configs import console_config, haproxy_config, prometheus_config
from console.lab.fleet import FleetApp
from console.lab.layout import plan
from console.lab.state import LabError, LabState


def two(tmp_path: Path) -> LabState:
    return plan(tmp_path, 2, duration=60, rate=20)


def test_one_service_keeps_the_lab_as_it_was(tmp_path: Path) -> None:
    state = plan(tmp_path, 1, duration=60, rate=20)
    (svc,) = state.layout()
    assert (svc.name, svc.map, svc.map_key) == ("lab", str(tmp_path / "backend.map"), "/")
    assert svc.backends == {"blue": "bg_blue", "green": "bg_green"}
    assert [i["name"] for i in state.instances()] == ["blue-1", "blue-2", "green-1", "green-2"]
    assert state.url_of(svc) == state.frontend_url
    assert state.service(None) is not None and state.service("lab").name == "lab"
    state.save()
    assert "services" not in json.loads((tmp_path / "state.json").read_text())
    assert "sessions_backends.blue" in console_config(state) and "matchers" not in console_config(
        state
    )


def test_two_services_each_have_their_own_map_backends_fleets_and_path(tmp_path: Path) -> None:
    state = two(tmp_path)
    shop, cart = state.layout()
    assert (shop.name, shop.map, shop.map_key) == ("shop", str(tmp_path / "shop.map"), "/shop")
    assert cart.backends == {"blue": "cart_blue", "green": "cart_green"}
    assert [i["name"] for i in state.instances("green", "cart")] == ["cart-green-1", "cart-green-2"]
    ports = [i["port"] for i in state.instances()]
    assert len(ports) == 8 == len(set(ports))
    assert state.url_of(cart) == state.frontend_url + "cart/"
    cfg = haproxy_config(state)
    assert cfg.count("use_backend") == 2 and "if { path /cart } or { path_beg /cart/ }" in cfg
    assert "backend shop_green" in cfg and "server shop-green-2 " in cfg
    fleet = json.loads(prometheus_config(state))["scrape_configs"][0]["static_configs"]
    assert [c["labels"]["service"] for c in fleet] == ["shop", "cart"]
    state.save()
    assert LabState.load(tmp_path) == state  # the record round-trips with its services


def test_a_service_must_be_named_when_there_are_two(tmp_path: Path) -> None:
    state = two(tmp_path)
    with pytest.raises(
        LabError,
        match="runs 2 services .shop, cart.: say which with --service shop or --service cart",
    ):
        state.service(None)
    with pytest.raises(LabError, match="no service 'lab': give --service shop or --service cart"):
        state.instances("green", "lab")


@pytest.mark.parametrize("n", [0, 3, -1])
def test_a_number_of_services_the_lab_cannot_run_names_the_fix(tmp_path: Path, n: int) -> None:
    with pytest.raises(LabError, match=f"--services must be from 1 to 2, not {n}: .*--services 2"):
        plan(tmp_path, n, duration=60, rate=20)


def test_the_two_services_console_toml_is_a_board_read_from_prometheus_together(
    tmp_path: Path,
) -> None:
    state = two(tmp_path)
    Path(state.notify_urls).write_text("json://127.0.0.1:9/lab\n")
    Path(state.console_config).write_text(console_config(state))
    board = load_board(state.console_config)
    assert [e.name for e in board] == ["shop", "cart"] and all(e.ok for e in board)
    sources = {}
    for e in board:
        assert e.service is not None and e.service.metrics is not None
        opts = e.service.metrics.options
        sources[e.name] = PrometheusMetrics(opts, BackendContext(service=e.name))
    views, batches = share(sources)
    assert sorted(views) == ["cart", "shop"] and len(batches) == 1
    assert batches[0].label == "service" and batches[0].values == {"shop": "shop", "cart": "cart"}


def test_the_load_generator_sends_its_rate_to_each_url() -> None:
    apps = [FleetApp("blue", name=f"{n}-blue-1", latency_ms=0).start() for n in ("shop", "cart")]
    try:
        # In a thread: on the main thread the generator takes SIGTERM over (its process's own)
        with ThreadPoolExecutor(1) as pool:
            counts = pool.submit(load.run, [f"{a.url}/{a.name}/" for a in apps], 20, 1.0)
            got = counts.result(timeout=30)
        served = [sum(a.stats.by_code.values()) for a in apps]
    finally:
        for a in apps:
            a.stop()
    assert got.get("200", 0) == sum(served) and "error" not in got
    assert all(15 <= n <= 21 for n in served), served  # 20 req/s each for 1 s, bounded

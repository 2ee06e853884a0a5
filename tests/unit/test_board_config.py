"""Several services: one config with many ``[[service]]`` tables or ``--config DIR``; ``status``
over all of them; polls side by side, each under its own deadline."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from backends.base import BackendContext
from backends.prometheus import PrometheusMetrics
from backends.prometheus.batch import share
from console.board_config import load_board, pick
from console.board_poll import BoardPoller, build_slots
from console.config import ConfigFileError
from tests.support.cli import ROOT, cli_env

SERVICE = """
[[service]]
name = "{name}"
poll_interval = 0.2
[service.router]
kind = "simulator"
scenario = "{scenario}"
[service.metrics]
kind = "simulator"
"""


def write_dir(tmp_path: Path) -> Path:
    d = tmp_path / "conf.d"
    d.mkdir()
    head = 'audit_log = "audit.jsonl"\n[recording]\nenabled = false\n'
    (d / "a-shop.toml").write_text(head + SERVICE.format(name="shop", scenario="healthy"))
    (d / "b-cart.toml").write_text(head + SERVICE.format(name="cart", scenario="bad-release"))
    (d / "c-broken.toml").write_text("service = [")
    (d / "d-again.toml").write_text(head + SERVICE.format(name="shop", scenario="healthy"))
    (d / "notes.txt").write_text("not a config")
    return d


def test_a_directory_loads_the_good_files_and_names_the_broken_and_the_duplicate(tmp_path):
    board = load_board(write_dir(tmp_path))
    assert [e.name for e in board] == ["shop", "cart", "c-broken.toml", "shop (d-again.toml)"]
    assert [e.ok for e in board] == [True, True, False, False]
    broken, dup = board.entries[2], board.entries[3]
    assert "not valid TOML" in str(broken.error)
    assert "'shop' is already used by a-shop.toml" in str(dup.error)
    # a single-service command on a directory needs --service, and finds it there
    with pytest.raises(ConfigFileError, match="several services: say which with --service"):
        pick(board, None)
    assert pick(board, "cart")[1].name == "cart"
    with pytest.raises(ConfigFileError, match="not valid TOML"):
        pick(board, "c-broken.toml")


def test_an_empty_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigFileError, match=r"no \*\.toml file"):
        load_board(tmp_path)


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        cwd=ROOT,
        env=cli_env(tmp_path),
    )


def test_status_json_without_service_reports_every_service_one_line_each(tmp_path):
    d = write_dir(tmp_path)
    out = run("status", "--config", str(d), "--json", tmp_path=tmp_path)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [x["service"] for x in lines] == ["shop", "cart", "c-broken.toml", "shop (d-again.toml)"]
    assert lines[0]["live"] == "blue" and lines[0]["source"].endswith("a-shop.toml")
    assert "not valid TOML" in lines[2]["error"]
    assert out.returncode == 1  # a service could not be loaded: said in the exit status
    # --service still names one service, as before (one object, not a list)
    one = run("status", "--config", str(d), "--service", "cart", "--json", tmp_path=tmp_path)
    assert one.returncode == 0, one.stderr
    assert [json.loads(x)["service"] for x in one.stdout.splitlines()] == ["cart"]


def test_status_watch_streams_one_line_per_service_per_poll(tmp_path):
    d = tmp_path / "one"
    d.mkdir()
    text = 'audit_log = "audit.jsonl"\n[recording]\nenabled = false\n'
    text += SERVICE.format(name="shop", scenario="healthy")
    text += SERVICE.format(name="cart", scenario="healthy")
    (d / "c.toml").write_text(text)
    out = run(
        "status", "--config", str(d / "c.toml"), "--json", "--watch", "--duration", "1.5",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    names = [json.loads(x)["service"] for x in out.stdout.splitlines()]
    assert len(names) >= 4 and names[:4] == ["shop", "cart", "shop", "cart"]
    assert names.count("shop") == names.count("cart")


def test_a_hung_router_never_holds_up_another_services_lines(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    text = 'audit_log = "audit.jsonl"\n[recording]\nenabled = false\n'
    for name in ("fast", "hung"):
        text += SERVICE.format(name=name, scenario="healthy").replace(
            "poll_interval = 0.2", "poll_interval = 0.2\ntimeout = 30"
        )
    (d / "c.toml").write_text(text)
    slots = build_slots(load_board(d / "c.toml"), lambda e: None)
    release = threading.Event()
    hung = slots[1].runtime
    assert hung is not None
    real = hung.router.state

    def stuck():  # hangs until the test ends (bounded: 60 s)
        release.wait(60)
        return real()

    hung.router.state = stuck  # type: ignore[method-assign]
    poller = BoardPoller(slots)
    try:
        for _ in range(3):  # three rounds while the hung service's first poll is still out
            poller.poll(wait=0.3)
            assert slots[0].frame is not None and slots[0].frame.snapshot.router is not None
            assert slots[1].frame is None and "no poll came back" in str(slots[1].late)
    finally:
        release.set()
        poller.close()


def prom(service: str, **extra) -> PrometheusMetrics:
    opts = {"url": "http://127.0.0.1:9", "matchers": {"job": "app", "service": service}, **extra}
    return PrometheusMetrics(opts, BackendContext(service=service))


def test_services_on_one_prometheus_share_one_query_per_metric_grouped_by_their_label():
    sources = {f"s{i}": prom(f"s{i}") for i in range(5)}
    sources["own-queries"] = prom("x", queries={"rate": "sum by (colour) (up{selector})"})
    sources["other-server"] = prom("y", url="http://127.0.0.1:10")
    views, batches = share(sources)
    assert sorted(views) == [f"s{i}" for i in range(5)]  # the two others are read on their own
    (batch,) = batches
    assert batch.label == "service" and batch.queries_per_read == 4
    for promql in batch.queries.describe().values():
        assert 'service=~"s0|s1|s2|s3|s4"' in promql and 'job="app"' in promql
        assert "by (colour, service" in promql
    for src in sources.values():
        src.close()

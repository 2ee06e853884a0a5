"""The real console (``BlueGreenApp``, and the ``status --watch --json`` stream) on a ``prometheus``
metrics source that fails in every way issue 4 lists, with the simulator as the router.

Each failing Prometheus is real enough for the client library to meet it: a port nothing listens on
(refused), a socket server that accepts and never answers (hung), an HTTP server answering 500, one
answering a 200 that is not JSON (garbage), and a real Prometheus 2.42 asked a query with a PromQL
syntax error. For each, after a poll both panels say why in plain words, and the app answers a key at
once, even while a poll is stuck on the hung server.

The app is built by ``tests.support.pilot.console_app`` (the product's ``console.factory.make_app``
with a manual clock, no automatic polling: polls are driven by hand) from a config built with
``console.config.from_mapping``, with a 1 s call timeout. Everything listens on 127.0.0.1; every loop is
bounded in count and time. The module takes about 15 s (a Prometheus start, a 4 s watch stream).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from console.app import BlueGreenApp
from console.config import from_mapping
from console.screens import HelpScreen
from tests.integration.prom_fixture import PrometheusServer, free_port
from tests.support.http_proxy import LocalServer
from tests.support.pilot import clock_of, console_app, poll, settle
from widgets import ColourPanel

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SIZE = (100, 30)
TIMEOUT = 1.0  # seconds one backend call may take (the service's `timeout`)
HUNG_TIMEOUT = 5.0  # the same, where a poll must still hang while keys are pressed
# A rate query missing its last ")": Prometheus answers 400 with a parse error.
BROKEN_RATE = "sum by ({colour_label}) (rate(http_requests_total{selector}[{window}])"


# --------------------------------------------------------------------------------------------------
# Small servers on 127.0.0.1


class HungServer:
    """Accepts connections and never answers. Bounded: at most ``max_held`` connections, and the
    accept loop stops after ``lifetime`` seconds or at ``close()``, which closes everything."""

    def __init__(self, lifetime: float = 60.0, max_held: int = 32) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.1)
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._lifetime = lifetime
        self._max_held = max_held
        self._thread = threading.Thread(target=self._accept, name="hung-prometheus", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        deadline = time.monotonic() + self._lifetime
        for _ in range(int(self._lifetime / 0.1) + 1):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            if len(self.held) < self._max_held:
                self.held.append(conn)  # read nothing, answer nothing
            else:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self.held:
            conn.close()
        self.listener.close()


@dataclass
class Canned:
    """What the canned server answers to every request; changeable while it runs."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    requests: list[str] = field(default_factory=list)
    by_query: Callable[[str], bytes] | None = None  # the body per PromQL query, when set


class CannedServer(LocalServer):
    def __init__(self) -> None:
        answer = self.answer = Canned()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                answer.requests.append(self.path)
                body = answer.body
                if answer.by_query is not None:
                    sent = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                    params = parse_qs(urlsplit(self.path).query) | parse_qs(sent)
                    body = answer.by_query(params.get("query", [""])[0])
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

        self._serve(Handler)


EMPTY_VECTOR = b'{"status":"success","data":{"resultType":"vector","result":[]}}'


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """A real Prometheus that scrapes nothing: every query answers, with no series."""
    server = PrometheusServer(prometheus_binary, tmp_path_factory.mktemp("prom-console"), [])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    server = HungServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer()
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------------------------------
# The app from a config


def service_mapping(metrics: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
    return {
        "name": "shop",
        "poll_interval": 1.0,
        "timeout": timeout,
        "bake_seconds": 120,
        "stale_after": 3,
        "router": {"kind": "simulator", "scenario": "healthy", "seed": 7},
        "metrics": {"kind": "prometheus", **metrics},
    }


def make_console(
    metrics: dict[str, Any], audit_path: Path, timeout: float = TIMEOUT
) -> BlueGreenApp:
    """The console on a manual clock, from a config with a Prometheus metrics source."""
    service = from_mapping({"service": [service_mapping(metrics, timeout)]}, "test").service[0]
    return console_app(service, audit_path, subtitle="prometheus failures")


def panels(app: BlueGreenApp) -> dict[str, Any]:
    return {c: app.query_one(f"#panel-{c}", ColourPanel).view for c in ("blue", "green")}


def poll_worker(app: BlueGreenApp) -> Any:
    running = [w for w in app.workers if w.group == "poll"]
    return running[0] if running else None


async def help_answers_at_once(pilot: Any) -> float:
    """Press ``?``: the help screen must open. Returns how long it took (for messages only: how fast
    is measured in bench/, never asserted here; that it opened *while a poll hangs* is asserted by
    the caller, which checks the poll worker is still running)."""
    app = pilot.app
    started = time.monotonic()
    await pilot.press("question_mark")
    for _ in range(50):  # bounded: 50 short pauses
        if isinstance(app.screen, HelpScreen):
            break
        await pilot.pause(0.01)
    took = time.monotonic() - started
    assert isinstance(app.screen, HelpScreen), "? did not open the help"
    return took


async def leave_help(pilot: Any) -> None:
    await pilot.press("escape")
    await pilot.pause()
    assert not isinstance(pilot.app.screen, HelpScreen)


# --------------------------------------------------------------------------------------------------
# Each failure, in the panel, with the keys answering


@dataclass
class Case:
    metrics: dict[str, Any]
    reason: Callable[[str], bool]  # does the panel's error say why, plainly?
    wanted: str  # what the reason should say, for the assertion message


@pytest.fixture(params=["refused", "hung", "http-500", "garbage", "promql-syntax-error"])
def case(request: pytest.FixtureRequest) -> Case:
    kind = request.param
    if kind == "refused":
        url = f"http://127.0.0.1:{free_port()}"
        text = f"metrics: Prometheus at {url} refused the connection"
        return Case({"url": url}, lambda e: text in e, text)
    if kind == "hung":
        server: HungServer = request.getfixturevalue("hung")
        # The guard's deadline and the source's own read timeout are both 1 s: either may speak.
        # A poll that starts while the abandoned call has not returned yet says that instead.
        pattern = re.compile(
            r"metrics: (prometheus metrics: no answer within 1s"
            r"|prometheus metrics: an earlier call has not returned after \d+s"
            rf"|Prometheus at {re.escape(server.url)} did not answer the \w+ query within 1\.0 s)"
        )
        return Case({"url": server.url}, lambda e: bool(pattern.search(e)), pattern.pattern)
    if kind == "http-500":
        canned: CannedServer = request.getfixturevalue("canned")
        canned.answer.status, canned.answer.content_type = 500, "text/plain"
        canned.answer.body = b"internal oops\n"
        text = f"metrics: Prometheus at {canned.url} answered HTTP 500"
        return Case(
            {"url": canned.url}, lambda e: text in e and "internal oops" in e, text + " ...oops"
        )
    if kind == "garbage":
        canned = request.getfixturevalue("canned")
        canned.answer.status, canned.answer.content_type = 200, "text/html"
        canned.answer.body = b"<html><body>Welcome to nginx</body></html>"
        text = "with something that is not Prometheus's JSON (HTTP 200, text/html)"
        return Case(
            {"url": canned.url},
            lambda e: text in e and "is url a Prometheus server?" in e and canned.url in e,
            text,
        )
    prom: PrometheusServer = request.getfixturevalue("prometheus")
    text = "metrics: Prometheus rejected the rate query: "
    return Case(
        {"url": prom.url, "queries": {"rate": BROKEN_RATE}},
        # PromQL's own words, then the query that ran
        lambda e: text in e and "parse error" in e and "query: sum by (colour) (rate(" in e,
        text + "... parse error ...",
    )


async def test_a_failing_prometheus_is_shown_plainly_and_keys_answer_at_once(
    case: Case, tmp_path: Path
) -> None:
    app = make_console(case.metrics, tmp_path / "audit.jsonl")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await poll(pilot)
            for colour, view in panels(app).items():
                assert case.reason(view.error), f"{colour}: {view.error!r}; wanted {case.wanted}"
            assert app.frame is not None and app.frame.snapshot.router_error is None
            # The router still reads: the live colour and its own figures are there.
            assert panels(app)["blue"].badge == "live"

            # The next poll tries again; a key answers at once while it runs.
            clock_of(app).advance(1.0)
            app.request_poll()
            await pilot.pause()
            await help_answers_at_once(pilot)
            await leave_help(pilot)
            await settle(pilot)
            assert app.polls == 2
            for colour, view in panels(app).items():
                assert case.reason(view.error), f"{colour}, 2nd poll: {view.error!r}"
            # Failing metrics never step the alarms (no data is not "healthy").
            assert app.frame.alarms.firing == ()
    finally:
        app.runtime.close()


async def test_keys_answer_while_a_poll_hangs_on_prometheus(
    hung: HungServer, tmp_path: Path
) -> None:
    # A deadline long enough that the poll surely still hangs while the keys are pressed, however
    # loaded the machine: what is checked is that keys answer during it, not how fast.
    app = make_console({"url": hung.url}, tmp_path / "audit.jsonl", timeout=HUNG_TIMEOUT)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            clock_of(app).advance(1.0)
            started = time.monotonic()
            app.request_poll()  # blocks in the metrics source until its deadline
            await pilot.pause()
            worker = poll_worker(app)
            assert worker is not None and worker.is_running
            took = await help_answers_at_once(pilot)
            assert worker.is_running, "the poll should still hang on Prometheus"
            await leave_help(pilot)
            await pilot.press("w")  # the why page opens too, with the PromQL that runs
            await pilot.pause()
            assert type(app.screen).__name__ == "WhyScreen"
            await pilot.press("escape")
            await settle(pilot)
            elapsed = time.monotonic() - started
            assert elapsed >= HUNG_TIMEOUT * 0.9, (
                elapsed
            )  # the poll waited for its deadline, not less
            assert len(hung.held) >= 1
            error = panels(app)["green"].error
            assert re.search(r"no answer within 5s|did not answer the \w+ query within", error), (
                error,
                took,
            )
    finally:
        app.runtime.close()


async def test_metrics_that_stop_answering_go_stale_and_say_why(
    canned: CannedServer, tmp_path: Path
) -> None:
    # First Prometheus answers (no series: "no data"), then it answers 500 on every query.
    canned.answer.body = EMPTY_VECTOR
    app = make_console({"url": canned.url}, tmp_path / "audit.jsonl")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await poll(pilot)
            green = panels(app)["green"]
            assert green.error == "" and not green.stale
            notes = {m.key: m.note for m in green.metrics}
            assert set(notes.values()) == {"no data"}, notes
            assert len(canned.answer.requests) == 4  # one query per metric

            canned.answer.status, canned.answer.content_type = 500, "text/plain"
            canned.answer.body = b"storage is on fire\n"
            await poll(pilot, 3)  # 3 s after the last answer: not yet more than stale_after
            assert not panels(app)["green"].stale
            await poll(pilot, 1)  # 4 s: stale
            for colour, view in panels(app).items():
                assert view.stale, colour
                assert "answered HTTP 500" in view.error and "storage is on fire" in view.error
                assert view.age_text == "4.0s ago", view.age_text

            canned.answer.status, canned.answer.body = 200, EMPTY_VECTOR
            await poll(pilot)
            assert not panels(app)["green"].stale and panels(app)["green"].error == ""
    finally:
        app.runtime.close()


async def test_a_real_prometheus_without_series_shows_no_data_not_an_error(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    app = make_console({"url": prometheus.url}, tmp_path / "audit.jsonl")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await poll(pilot, 2)
            for colour, view in panels(app).items():
                assert view.error == "" and not view.stale, colour
                rows = {m.key: m for m in view.metrics}
                for key in ("rate", "error_pct", "latency_ms", "sessions"):
                    assert rows[key].value == "—" and rows[key].note == "no data", (colour, key)
            await help_answers_at_once(pilot)
            await leave_help(pilot)
    finally:
        app.runtime.close()


# --------------------------------------------------------------------------------------------------
# The watch stream


def test_watch_stream_on_a_prometheus_without_data(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    config = tmp_path / "console.toml"
    config.write_text(
        f"""[[service]]
name = "shop"
poll_interval = 1.0
timeout = {TIMEOUT}

[service.router]
kind = "simulator"
scenario = "healthy"

[service.metrics]
kind = "prometheus"
url = {json.dumps(prometheus.url)}
window = "5s"
"""
    )
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "status",
            "--config",
            str(config),
            "--watch",
            "--json",
            "--duration",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert 4 <= len(lines) <= 6, (len(lines), elapsed)  # one per 1 s poll for 4 s, plus the first
    assert elapsed < 20
    times = [line["time"] for line in lines]
    assert times == sorted(times)
    for line in lines:
        assert line["service"] == "shop" and line["live"] == "blue"
        assert line["metrics_error"] is None and line["router_error"] is None
        assert line["alarms"] == []
        for colour in ("blue", "green"):
            m = line["metrics"][colour]
            # Prometheus has no series: every figure is null and says "no data" (the simulator
            # router's own rate and sessions do not stand in for a gap the source explained).
            for metric in ("rate", "error_pct", "latency_ms", "sessions"):
                assert m[metric] is None and m["notes"][metric] == "no data", (colour, metric, m)
            assert m["latency_stat"] == "p99"
        assert set(line["servers"]) == {"blue", "green"}


# --------------------------------------------------------------------------------------------------
# Strict JSON, and a query that matches nothing


def vector(per_colour: dict[str, str]) -> bytes:
    """An instant vector answer: one series per colour, with the value as Prometheus writes it."""
    result = [{"metric": {"colour": c}, "value": [1767225600.0, v]} for c, v in per_colour.items()]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def strict_loads(line: str) -> Any:
    """json.loads that refuses bare Infinity, -Infinity and NaN, as strict parsers do."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: bare {name}")

    return json.loads(line, parse_constant=refuse)


def test_status_json_stays_strict_when_prometheus_answers_inf(canned: CannedServer, tmp_path: Path):
    """Prometheus answers +Inf when the p99 lies above the histogram's top bucket: the stream says
    null and why, and every line parses with a strict parser."""

    def answer(query: str) -> bytes:
        if query.startswith("histogram_quantile"):
            return vector({"blue": "12.5", "green": "+Inf"}).encode()
        return vector({"blue": "50", "green": "40"}).encode()

    canned.answer.by_query = answer
    config = tmp_path / "console.toml"
    config.write_text(
        f"""[[service]]
name = "shop"
poll_interval = 1.0
timeout = {TIMEOUT}

[service.router]
kind = "simulator"
scenario = "healthy"

[service.metrics]
kind = "prometheus"
url = {json.dumps(canned.url)}
"""
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "status",
            "--config",
            str(config),
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
            "--watch",
            "--json",
            "--duration",
            "1.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) >= 2
    for raw in lines:
        line = strict_loads(raw)
        green, blue = line["metrics"]["green"], line["metrics"]["blue"]
        assert green["latency_ms"] is None
        assert green["notes"]["latency_ms"] == "above the histogram's top bucket"
        assert blue["latency_ms"] == 12.5 and "latency_ms" not in blue["notes"]
        for alarm in line["alarms"]:  # p99 > 1000 ms on green: the alarm's figures are strict too
            assert alarm["value"] is None or isinstance(alarm["value"], float)


def test_a_query_matching_nothing_on_a_serving_colour_is_not_no_traffic(canned: CannedServer):
    """A misspelt metric in a `queries` override finds no series while the rate query shows 50 req/s:
    the figure says to check the query, never "no traffic"."""
    from backends.base import BackendContext, Colour
    from backends.prometheus import PrometheusMetrics

    misspelt = 'sum by (colour) (rate(http_requets_total{code=~"5.."}[1m]))'

    def answer(query: str) -> bytes:
        if "http_requets_total" in query:
            return EMPTY_VECTOR
        if query.startswith("histogram_quantile"):
            return vector({"blue": "80"}).encode()  # green has no histogram: nothing on it yet
        return vector({"blue": "50", "green": "0"}).encode()

    canned.answer.by_query = answer
    source = PrometheusMetrics(
        {"url": canned.url, "queries": {"error_pct": misspelt}}, BackendContext(service="shop")
    )
    try:
        sample = source.sample()
    finally:
        source.close()
    blue, green = sample[Colour.BLUE], sample[Colour.GREEN]
    assert blue.rate == 50.0 and blue.error_pct is None
    assert blue.notes["error_pct"] == "no series for this query: check the query"
    # a colour with no traffic (rate 0) is still "no traffic"
    assert green.rate == 0.0 and green.notes["error_pct"] == "no traffic"

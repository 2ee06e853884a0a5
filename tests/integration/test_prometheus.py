"""``kind = "prometheus"`` against a real Prometheus 2.42 scraping small real apps every second.

One Prometheus for the module scrapes four scenarios, each a blue + green pair of
``console.lab.fleet.FleetApp`` told apart by a target label ``scenario`` (the source's ``matchers``
option selects one):

* ``traffic``: steady bounded load on both colours (blue ~70 ms, green ~170 ms with 25 % errors);
  the four figures are checked against what the test computes from the traffic it sent.
* ``idle``: green answered 5 requests before the first scrape and nothing since: rate 0,
  error % and p99 are 0/0 (NaN) -> "no traffic".
* ``sessions``: three slow requests held open on blue -> blue's sessions is 3, green's 0.
* ``alarm``: steady load on both; the test injects 50 % errors into green through ``/-/fault``.

Failures (refused, hung, 500, 503, garbage, 401) run against tiny local servers. Everything listens
on 127.0.0.1; every load loop is bounded in count and in time. The module takes about 25 s.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backends.base import (
    BackendContext,
    BackendTimeout,
    Colour,
    ConfigError,
    PermissionDenied,
    QueryError,
    Unreachable,
)
from backends.prometheus import PrometheusMetrics
from console.lab.fleet import BUCKETS, FleetApp
from tests.integration.prom_fixture import PrometheusServer, ScrapeJob, free_port
from tests.support.http_proxy import CountingProxy

pytestmark = pytest.mark.integration

BLUE, GREEN = Colour.BLUE, Colour.GREEN
WINDOW = "5s"
WINDOW_S = 5.0
LOAD_SECONDS = 40.0  # hard bound on every background load thread (the module ends well before)

# Tolerances, stated once:
RATE_TOLERANCE = 0.25  # relative: Prometheus extrapolates rate() to the window's edges
ERROR_TOLERANCE_POINTS = 8.0  # absolute percentage points: window edges fall on different requests
LATENCY_TOLERANCE = 0.10  # relative, against histogram_quantile over the app's own buckets


# --------------------------------------------------------------------------------------------------
# Load: each thread keeps one keep-alive connection and sends at most `limit` requests within
# `seconds`, recording (finish time, status) of every answer.


@dataclass
class Load:
    app: FleetApp
    threads: int
    rate_per_thread: float
    limit: int
    seconds: float = LOAD_SECONDS
    answers: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name=f"load-{self.app.name}-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.app.port, timeout=10)
        started = time.monotonic()
        try:
            for n in range(self.limit):
                if self.stop.is_set() or time.monotonic() - started > self.seconds:
                    return
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                with self._lock:
                    self.answers.append((time.monotonic(), resp.status))
                pause = started + (n + 1) / self.rate_per_thread - time.monotonic()
                if pause > 0:
                    self.stop.wait(pause)
        except OSError:
            return
        finally:
            conn.close()

    def halt(self) -> None:
        self.stop.set()
        for t in self._workers:
            t.join(timeout=12)

    def window(self, end: float, seconds: float = WINDOW_S) -> list[int]:
        with self._lock:
            return [code for (t, code) in self.answers if end - seconds < t <= end]


def histogram_p99_ms(app: FleetApp) -> float:
    """histogram_quantile(0.99, ...) as Prometheus computes it, over the app's own buckets."""
    with app.stats.lock:
        cumulative = list(app.stats.buckets)
        total = app.stats.count
    rank = 0.99 * total
    lower, below = 0.0, 0
    for bound, count in zip(BUCKETS, cumulative, strict=True):
        if count >= rank:
            in_bucket = count - below
            return 1000 * (lower + (bound - lower) * (rank - below) / in_bucket)
        lower, below = bound, count
    return 1000 * BUCKETS[-1]  # rank in +Inf: Prometheus answers the highest finite bound


def post(url: str) -> str:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - 127.0.0.1
        return r.read().decode()


# --------------------------------------------------------------------------------------------------
# The module's stack


@dataclass
class Stack:
    prometheus: PrometheusServer
    apps: dict[str, dict[Colour, FleetApp]]
    loads: dict[str, dict[Colour, Load]]
    scraping_since: float  # monotonic time when every target had been scraped once

    def source(self, scenario: str, **options: Any) -> PrometheusMetrics:
        opts: dict[str, Any] = {
            "url": self.prometheus.url,
            "window": WINDOW,
            "matchers": {"scenario": scenario},
            "timeout": 3,
        }
        opts.update(options)
        return PrometheusMetrics(opts, BackendContext(service=f"test-{scenario}"))


def wait_sample(source: PrometheusMetrics, ready: Any, timeout: float, interval: float = 0.25):
    """Poll ``source.sample()`` until ``ready(sample)``; bounded. Returns (sample, seconds)."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        last = source.sample()
        if ready(last):
            return last, time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"not ready within {timeout:g} s; last sample: {last}")


@pytest.fixture(scope="module")
def stack(prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    apps = {
        "traffic": {
            BLUE: FleetApp("blue", "v1", name="t-blue", latency_ms=70, seed=1),
            GREEN: FleetApp("green", "v2", name="t-green", latency_ms=170, error_rate=0.25, seed=2),
        },
        "idle": {
            BLUE: FleetApp("blue", "v1", name="i-blue", latency_ms=5),
            GREEN: FleetApp("green", "v2", name="i-green", latency_ms=5),
        },
        "sessions": {
            BLUE: FleetApp("blue", "v1", name="s-blue", latency_ms=2500),
            GREEN: FleetApp("green", "v2", name="s-green", latency_ms=5),
        },
        "alarm": {
            BLUE: FleetApp("blue", "v1", name="a-blue", latency_ms=5, seed=3),
            GREEN: FleetApp("green", "v2", name="a-green", latency_ms=5, seed=4),
        },
    }
    for pair in apps.values():
        for app in pair.values():
            app.start()
    jobs = [
        ScrapeJob(
            f"fleet-{name}",
            [f"127.0.0.1:{app.port}" for app in pair.values()],
            labels={"scenario": name},
        )
        for name, pair in apps.items()
    ]
    prometheus = PrometheusServer(prometheus_binary, tmp_path_factory.mktemp("prom"), jobs)
    loads: dict[str, dict[Colour, Load]] = {}
    try:
        # Green of "idle" answers 5 requests now, before the first scrape, and never again.
        idle_green = Load(apps["idle"][GREEN], threads=1, rate_per_thread=100, limit=5).start()
        idle_green.halt()
        loads["traffic"] = {
            BLUE: Load(apps["traffic"][BLUE], threads=2, rate_per_thread=12, limit=480).start(),
            GREEN: Load(apps["traffic"][GREEN], threads=3, rate_per_thread=5, limit=200).start(),
        }
        loads["alarm"] = {
            BLUE: Load(apps["alarm"][BLUE], threads=1, rate_per_thread=20, limit=800).start(),
            GREEN: Load(apps["alarm"][GREEN], threads=1, rate_per_thread=20, limit=800).start(),
        }
        loads["idle"] = {
            BLUE: Load(apps["idle"][BLUE], threads=1, rate_per_thread=10, limit=400).start()
        }
        prometheus.start()
        # Prometheus hands targets to the scrape loop about 5 s after start.
        prometheus.wait_for_targets_up(8, timeout=20)
        yield Stack(prometheus, apps, loads, time.monotonic())
    finally:
        for pair in loads.values():
            for load in pair.values():
                load.stop.set()
        for pair in loads.values():
            for load in pair.values():
                load.halt()
        prometheus.stop()
        # FleetApp.stop() waits up to 0.5 s for serve_forever's poll: stop the eight at once.
        stoppers = [
            threading.Thread(target=app.stop) for pair in apps.values() for app in pair.values()
        ]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=10)


# --------------------------------------------------------------------------------------------------
# The four figures


def test_four_metrics_per_colour_match_the_traffic_sent(stack: Stack) -> None:
    source = stack.source("traffic")
    loads = stack.loads["traffic"]
    # Wait until the rate window lies entirely inside the scraped load (window + 2 scrapes).
    time.sleep(max(0.0, stack.scraping_since + WINDOW_S + 2.0 - time.monotonic()))
    sample = source.sample()
    at = time.monotonic()

    for colour, load in loads.items():
        got = sample[colour]
        codes = load.window(at)
        assert len(codes) > 20, f"{colour}: too little traffic in the window ({len(codes)})"
        sent_rate = len(codes) / WINDOW_S
        sent_errors = 100.0 * sum(1 for c in codes if c >= 500) / len(codes)
        expected_p99 = histogram_p99_ms(stack.apps["traffic"][colour])

        assert got.rate == pytest.approx(sent_rate, rel=RATE_TOLERANCE), (colour, got, sent_rate)
        assert got.error_pct == pytest.approx(sent_errors, abs=ERROR_TOLERANCE_POINTS), (
            colour,
            got,
            sent_errors,
        )
        assert got.latency_ms == pytest.approx(expected_p99, rel=LATENCY_TOLERANCE), (
            colour,
            got,
            expected_p99,
        )
        assert got.latency_stat == "p99"
        # In flight at the scrape instant: between 0 and the number of client threads.
        assert got.sessions is not None and 0 <= got.sessions <= load.threads
        assert dict(got.notes) == {}

    # Blue never fails: a colour with traffic and no 5xx series at all reads 0 %, not "no data".
    assert sample[BLUE].error_pct == 0.0
    assert sample[GREEN].error_pct > 5


def test_sessions_count_requests_in_flight(stack: Stack) -> None:
    source = stack.source("sessions")
    blue = stack.apps["sessions"][BLUE]  # answers after 2.0 to 3.0 s
    held = [
        threading.Thread(target=lambda: urllib.request.urlopen(blue.url + "/", timeout=10).read())
        for _ in range(3)
    ]
    for t in held:
        t.start()
    try:
        sample, _ = wait_sample(source, lambda s: s[BLUE].sessions == 3, timeout=1.8)
        assert sample[GREEN].sessions == 0
    finally:
        for t in held:
            t.join(timeout=10)


def test_no_traffic_and_no_data_are_told_apart(stack: Stack) -> None:
    sample, _ = wait_sample(
        stack.source("idle"), lambda s: s[GREEN].rate is not None and s[BLUE].rate, timeout=5
    )
    green = sample[GREEN]
    assert green.rate == 0.0
    assert green.error_pct is None and green.notes["error_pct"] == "no traffic"
    assert green.latency_ms is None and green.notes["latency_ms"] == "no traffic"
    assert green.sessions == 0.0
    assert "rate" not in green.notes
    assert sample[BLUE].error_pct == 0.0 and sample[BLUE].rate > 0

    # Green of "sessions" is scraped but never served a request: a histogram of zeros and no
    # request counter at all. That is no traffic too, not missing data.
    never = stack.source("sessions").sample()[GREEN]
    assert never.rate is None and never.notes["rate"] == "no traffic"
    assert never.notes["error_pct"] == "no traffic" and never.notes["latency_ms"] == "no traffic"
    assert never.sessions == 0.0

    nothing = stack.source("no-such-scenario").sample()
    for colour in (BLUE, GREEN):
        for metric in ("rate", "error_pct", "latency_ms", "sessions"):
            assert nothing[colour].value(metric) is None
            assert nothing[colour].notes[metric] == "no data"


def test_injected_error_rate_raises_green_error_pct_above_5(stack: Stack) -> None:
    source = stack.source("alarm")
    green = stack.apps["alarm"][GREEN]
    wait_sample(source, lambda s: s[GREEN].error_pct == 0.0 and s[BLUE].error_pct == 0.0, 10)
    assert "error_rate=0.5" in post(green.url + "/-/fault?error_rate=0.5")
    try:
        sample, seconds = wait_sample(
            source, lambda s: (s[GREEN].error_pct or 0) > 5, timeout=10, interval=0.2
        )
        assert sample[BLUE].error_pct == 0.0
        assert seconds < 5, f"5 % crossed only after {seconds:.1f} s"
    finally:
        post(green.url + "/-/reset")


# --------------------------------------------------------------------------------------------------
# One query per metric per poll: count the HTTP requests Prometheus receives through a proxy.


def test_one_query_per_metric_per_poll_for_both_colours(stack: Stack) -> None:
    proxy = CountingProxy(stack.prometheus.url)
    try:
        source = stack.source("traffic", url=proxy.url)
        for poll in range(3):
            before = len(proxy.seen)
            sample = source.sample()
            sent = proxy.seen[before:]
            assert [path for path, _ in sent] == ["/api/v1/query"] * 4, sent
            queries = sorted(params["query"][0] for _, params in sent)
            assert queries == sorted(source.describe().values())
            assert sample[BLUE].rate and sample[GREEN].rate, f"poll {poll}: {sample}"
        # Every query names both colours at once, never one colour.
        for promql in source.describe().values():
            assert 'colour=~"blue|green"' in promql
            assert "by (colour" in promql
    finally:
        proxy.close()


def test_the_queries_of_a_poll_are_in_flight_together(stack: Stack) -> None:
    """A poll waits for its slowest query, not for the sum of the four."""
    proxy = CountingProxy(stack.prometheus.url, together=4)
    try:
        source = stack.source("traffic", url=proxy.url, timeout=8)
        sample = source.sample()
        assert proxy.met == 4  # sent one after another, each would have waited alone
        assert sample[BLUE].rate and sample[GREEN].rate
    finally:
        proxy.close()


def test_history_reads_a_colours_past_figures_with_the_polls_own_queries(stack: Stack) -> None:
    """The bake's baseline when the console started too recently: one range query per metric over
    the span, with the PromQL a poll sends, giving what polls over that span would have read."""
    # A span that lies inside the scraped load, one rate window in
    time.sleep(max(0.0, stack.scraping_since + WINDOW_S + 8.0 - time.monotonic()))
    proxy = CountingProxy(stack.prometheus.url)
    try:
        source = stack.source("traffic", url=proxy.url)
        assert source.SUPPORTS_HISTORY
        end = time.time()
        start = end - 6.0
        keys = ("rate", "error_pct", "latency_ms", "sessions")
        green = source.history(GREEN, keys, start, end, 1.0)
        blue = source.history(BLUE, keys, start, end, 1.0)
        sent = proxy.seen
        assert [path for path, _ in sent] == ["/api/v1/query_range"] * 8, sent
        assert sorted(params["query"][0] for _, params in sent[:4]) == sorted(
            source.describe().values()
        )
        assert {params["step"][0] for _, params in sent} == {"1"}
    finally:
        proxy.close()
    for key in keys:
        assert 5 <= len(green[key]) <= 8, (key, green[key])  # one sample a second over 6 s
    # green answers 25 % errors at ~170 ms, blue none at ~70 ms (as the instant queries say)
    assert all(v is not None and 8.0 < v < 45.0 for v in green["error_pct"]), green["error_pct"]
    assert all(v == 0.0 for v in blue["error_pct"]), blue["error_pct"]
    assert min(v for v in green["latency_ms"] if v) > max(v for v in blue["latency_ms"] if v)
    assert all(v and v > 0 for v in green["rate"])
    # A colour without traffic over the span has no figures (NaN: None), never zeros
    idle = stack.source("idle").history(GREEN, ("error_pct",), start, end, 1.0)
    assert all(v is None for v in idle["error_pct"])
    # Nothing scraped for that colour: no samples at all
    assert stack.source("no-such-scenario").history(BLUE, keys, start, end, 1.0) == {
        k: () for k in keys
    }


def test_a_console_started_at_a_switch_judges_green_against_blues_history(stack: Stack) -> None:
    """The Monitor, through its deadline guard and the wall clock: a console that saw one poll of
    blue before the switch takes blue's baseline from Prometheus's history, and green's 25 % errors
    fail against blue's none."""
    from console.config import from_mapping
    from console.monitor import Monitor
    from console.runtime import build

    time.sleep(max(0.0, stack.scraping_since + WINDOW_S + 10.0 - time.monotonic()))
    metrics = {"kind": "prometheus", "url": stack.prometheus.url, "window": WINDOW, "timeout": 3}
    metrics["matchers"] = {"scenario": "traffic"}
    service = {"name": "traffic", "router": {"kind": "simulator"}, "metrics": metrics}
    service["bake"] = {"baseline_span": "10s"}
    rt = build(from_mapping({"service": [service]}).service[0])
    try:
        monitor = Monitor(rt)
        monitor.poll()
        monitor.observe_action(rt.router.switch(GREEN))
        c = None
        for _ in range(40):  # bounded: about 10 s at most
            c = monitor.poll().comparison
            if c is not None and c.source == "history" and c.get("error_pct").samples[1] >= 6:
                break
            time.sleep(0.25)
    finally:
        rt.close()
    assert c is not None and c.source == "history", c
    err = c.get("error_pct")
    assert 9 <= err.samples[0] <= 12  # blue's samples over the 10 s span, one a second
    assert err.baseline == 0.0 and err.current is not None and err.current > 8.0
    assert err.score == "fail" and c.score == "fail"


def test_describe_shows_the_exact_promql(stack: Stack) -> None:
    source = stack.source("traffic")
    d = source.describe()
    sel = '{colour=~"blue|green",scenario="traffic"}'
    assert d["rate"] == f"sum by (colour) (rate(http_requests_total{sel}[5s]))"
    assert d["latency_ms"] == (
        "histogram_quantile(0.99, sum by (colour, le) "
        f"(rate(http_request_duration_seconds_bucket{sel}[5s]))) * 1000"
    )
    assert 'code=~"5.."' in d["error_pct"] and d["error_pct"].endswith("* 100")
    assert d["sessions"] == f"sum by (colour) (http_requests_in_flight{sel})"
    # What describe() says is what runs: each one answers on the real Prometheus.
    for promql in d.values():
        stack.prometheus.query(promql)


def test_matcher_values_are_escaped_so_config_cannot_change_the_query(stack: Stack) -> None:
    evil = 'traffic"} or vector(1) or up{job="'
    source = stack.source(evil)
    assert '\\"' in source.describe()["rate"]
    sample = source.sample()  # a valid query that matches nothing, not an injected vector(1)
    assert sample[BLUE].notes["rate"] == "no data"
    assert sample[GREEN].notes["rate"] == "no data"


def test_colour_label_values_are_configurable(stack: Stack) -> None:
    # Colours mapped to other label values: blue reads green's series and green reads nothing.
    source = stack.source("traffic", colours={"blue": "green", "green": "teal"})
    sample, _ = wait_sample(source, lambda s: s[BLUE].rate is not None, timeout=3)
    assert sample[BLUE].error_pct > 5  # the green app's errors
    assert sample[GREEN].notes["rate"] == "no data"


# --------------------------------------------------------------------------------------------------
# Rejected queries


def test_syntax_error_raises_query_error_with_promqls_words(stack: Stack) -> None:
    broken = "sum by ({colour_label}) (rate(http_requests_total{selector}[{window}])"  # no ")"
    source = stack.source("traffic", queries={"rate": broken})
    with pytest.raises(QueryError) as err:
        source.sample()
    text = str(err.value)
    assert "rejected the rate query" in text
    assert "parse error" in text  # Prometheus's own words
    assert source.describe()["rate"] in text  # and the query that ran


def test_a_query_that_returns_a_scalar_is_rejected_plainly(stack: Stack) -> None:
    source = stack.source("traffic", queries={"sessions": "scalar(vector(1))"})
    with pytest.raises(QueryError, match="returned a scalar"):
        source.sample()


# --------------------------------------------------------------------------------------------------
# Prometheus down, hung, or not Prometheus


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def canned() -> Iterator[tuple[Canned, str]]:
    """An HTTP server on 127.0.0.1 answering every request with one canned answer."""
    answer = Canned()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802
            answer.requests.append(dict(self.headers))
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield answer, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make(url: str, **options: Any) -> PrometheusMetrics:
    return PrometheusMetrics({"url": url, **options}, BackendContext(service="checkout"))


def test_refused_connection_fails_fast_and_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    source = make(url, timeout=2)
    started = time.monotonic()
    with pytest.raises(Unreachable) as err:
        source.sample()
    assert time.monotonic() - started < 0.5  # no retry, no backoff (the library's default: 6 s)
    assert (
        str(err.value)
        == f"Prometheus at {url} refused the connection (is it running? is the port right?)"
    )


def test_hung_prometheus_times_out_within_the_timeout() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_say_nothing() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept_and_say_nothing, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        source = make(url, timeout=1)
        started = time.monotonic()
        with pytest.raises(BackendTimeout) as err:
            source.sample()
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 1.6, elapsed
        assert url in str(err.value) and "did not answer" in str(err.value)
        assert isinstance(err.value, Unreachable)  # the console treats both alike
        assert 1 <= len(held) <= 4  # one attempt per query (sent side by side), no retry
    finally:
        stop.set()
        t.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def test_answering_500_is_unreachable_with_the_status(canned: tuple[Canned, str]) -> None:
    answer, url = canned
    answer.status, answer.content_type, answer.body = 500, "text/plain", b"internal oops\n"
    with pytest.raises(Unreachable) as err:
        make(url).sample()
    assert "answered HTTP 500" in str(err.value) and "internal oops" in str(err.value)
    assert url in str(err.value)
    assert 1 <= len(answer.requests) <= 4  # one attempt per query (sent side by side), no retry


def test_repeated_503_fails_fast_without_retries(canned: tuple[Canned, str]) -> None:
    answer, url = canned
    answer.status = 503
    answer.body = b'{"status":"error","errorType":"unavailable","error":"not ready"}'
    started = time.monotonic()
    with pytest.raises(Unreachable, match="HTTP 503.*not ready"):
        make(url, timeout=2).sample()
    assert time.monotonic() - started < 0.5
    assert 1 <= len(answer.requests) <= 4  # one attempt per query (sent side by side), no retry


@pytest.mark.parametrize(
    ("status", "ctype", "body", "expected"),
    [
        (200, "text/html", b"<html><body>Welcome to nginx</body></html>", "not Prometheus's JSON"),
        (200, "application/json", b'{"hello": "world"}', "not Prometheus's JSON"),
        (
            200,
            "application/json",
            b'{"status":"success","data":{"resultType":"vector","result":[{"oops":1}]}}',
            "unexpected shape",
        ),
        (200, "application/json", b"", "not Prometheus's JSON"),
        (404, "text/plain", b"404 page not found", "is url the Prometheus base URL?"),
    ],
)
def test_garbage_answers_are_reported_plainly(
    canned: tuple[Canned, str], status: int, ctype: str, body: bytes, expected: str
) -> None:
    answer, url = canned
    answer.status, answer.content_type, answer.body = status, ctype, body
    with pytest.raises(Unreachable) as err:
        make(url).sample()
    assert expected in str(err.value)
    assert url in str(err.value)


def test_bearer_token_is_sent_and_never_shown(
    canned: tuple[Canned, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answer, url = canned
    secret = "s3cr3t-t0ken-value"
    monkeypatch.setenv("BG_TEST_PROM_TOKEN", secret)
    answer.status, answer.body = 401, b"Unauthorized"
    source = make(url, bearer_token_env="BG_TEST_PROM_TOKEN")
    with pytest.raises(PermissionDenied) as err:
        source.sample()
    assert answer.requests[0]["Authorization"] == f"Bearer {secret}"
    assert secret not in str(err.value)
    assert secret not in repr(source) and secret not in json.dumps(source.options)


def test_basic_auth_from_a_file(canned: tuple[Canned, str], tmp_path: Any) -> None:
    answer, url = canned
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    answer.body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
    source = make(url, basic_auth_user="console", basic_auth_password_file=str(pw))
    sample = source.sample()
    assert sample[BLUE].notes["rate"] == "no data"
    assert answer.requests[0]["Authorization"].startswith("Basic ")
    assert len(answer.requests) == 4


# --------------------------------------------------------------------------------------------------
# Options are checked when the source is built (no network)


@pytest.mark.parametrize(
    ("options", "key", "found"),
    [
        ({}, "`url`", "found nothing"),
        ({"url": "ftp://x"}, "`url`", "'ftp://x'"),
        ({"url": "http://u:pw@127.0.0.1:9"}, "`url`", "credentials"),
        ({"url": "http://127.0.0.1:9", "windw": "1m"}, "`windw`", "an unknown option"),
        ({"url": "http://127.0.0.1:9", "window": "5 minutes"}, "`window`", "'5 minutes'"),
        ({"url": "http://127.0.0.1:9", "colour_label": "col-our"}, "`colour_label`", "col-our"),
        ({"url": "http://127.0.0.1:9", "colours": {"red": "x"}}, "`colours.red`", "the key 'red'"),
        ({"url": "http://127.0.0.1:9", "matchers": {"job": ["a"]}}, "`matchers.job`", "['a']"),
        ({"url": "http://127.0.0.1:9", "queries": {"p50": "x"}}, "`queries.p50`", "'p50'"),
        ({"url": "http://127.0.0.1:9", "queries": {"rate": "up{sel}"}}, "`queries.rate`", "{sel}"),
        ({"url": "http://127.0.0.1:9", "timeout": 0}, "`timeout`", "0"),
        ({"url": "http://127.0.0.1:9", "tls_verify": "yes"}, "`tls_verify`", "'yes'"),
        ({"url": "http://127.0.0.1:9", "ca_file": "/nope.pem"}, "`ca_file`", "no such file"),
        (
            {"url": "http://127.0.0.1:9", "sessions_backends": {"blue": "b"}},
            "`sessions_backends.green`",
            "found nothing",
        ),
        (
            {"url": "http://127.0.0.1:9", "bearer_token_env": "BG_TEST_UNSET_VAR"},
            "`bearer_token_env`",
            "BG_TEST_UNSET_VAR unset",
        ),
        (
            {"url": "http://127.0.0.1:9", "basic_auth_user": "u"},
            "`basic_auth_password_env`",
            "nothing",
        ),
    ],
)
def test_bad_options_name_the_key_what_was_found_and_what_is_expected(
    options: dict[str, Any], key: str, found: str
) -> None:
    os.environ.pop("BG_TEST_UNSET_VAR", None)
    with pytest.raises(ConfigError) as err:
        make(**options) if "url" in options else PrometheusMetrics(options, BackendContext("svc"))
    text = str(err.value)
    assert key in text and found in text and "expected" in text, text
    assert "pw@" not in text


@pytest.mark.parametrize(
    "options",
    [
        {"basic_auth_password": "hunter2-secret"},  # not an option: its value is not echoed
        {"bearer_token_env": "eyJhbGciOi.hunter2-secret"},  # the token pasted in place of a name
        {"bearer_token_env": 12345},
    ],
)
def test_config_errors_never_echo_what_may_be_a_secret(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        make("http://127.0.0.1:9", **options)
    assert "hunter2" not in str(err.value) and "12345" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        make("http://127.0.0.1:9/?token=hunter2-secret")
    assert "hunter2" not in str(err.value)


def test_sessions_from_haproxy_backends_query_by_proxy() -> None:
    source = make("http://127.0.0.1:9", sessions_backends={"blue": "bg_blue", "green": 'g"x'})
    assert source.describe()["sessions"] == (
        'sum by (proxy) (haproxy_backend_current_sessions{proxy=~"bg_blue|g\\"x"})'
    )


def test_ten_services_on_one_prometheus_cost_one_query_per_metric_per_poll(stack: Stack) -> None:
    """The board's batched read (backends.prometheus.batch): ten services told apart by the
    ``scenario`` label (four scraped, six with no series) read with four queries per poll in all,
    each service's figures the ones its own source reads."""
    from backends.prometheus.batch import share

    proxy = CountingProxy(stack.prometheus.url)
    names = ["traffic", "idle", "sessions", "alarm"] + [f"ghost-{i}" for i in range(6)]
    sources = {n: stack.source(n, url=proxy.url) for n in names}
    views, batches = share(sources, {n: 0.5 for n in names})
    try:
        assert sorted(views) == sorted(names) and len(batches) == 1
        time.sleep(max(0.0, stack.scraping_since + WINDOW_S + 2.0 - time.monotonic()))
        for poll in range(2):
            before = len(proxy.seen)
            samples = {n: views[n].sample() for n in names}
            sent = proxy.seen[before:]
            assert [path for path, _ in sent] == ["/api/v1/query"] * 4, (poll, sent)
            for _, params in sent:
                assert "scenario=~" in params["query"][0]
            assert samples["traffic"][BLUE].rate and samples["traffic"][GREEN].rate
            assert samples["idle"][GREEN].notes.get("error_pct") == "no traffic"
            assert samples["sessions"][BLUE].sessions is not None  # scraped, though idle
            for n in names[4:]:
                assert samples[n][BLUE].rate is None
                assert samples[n][BLUE].notes.get("rate") == "no data"
            time.sleep(0.6)  # past the shared read's age: the next poll reads again
        alone = stack.source("traffic").sample()  # the same figures, read on its own
        shared = views["traffic"].sample()
        assert shared[GREEN].error_pct == pytest.approx(
            alone[GREEN].error_pct, abs=ERROR_TOLERANCE_POINTS
        )
    finally:
        for view in views.values():
            view.close()
        proxy.close()

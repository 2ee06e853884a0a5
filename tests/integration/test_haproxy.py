"""The HAProxy router against a real HAProxy 2.6 and real FleetApp servers, all on 127.0.0.1.

Each test gets its own HAProxy (``haproxy_lab``): blue-1, blue-2 (v1) and green-1, green-2 (v2),
blue live. Loads are bounded (<= 2000 requests, <= 5 s); every wait is bounded in time.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import tempfile
import time

import pytest

from backends.base import (
    ActionRefused,
    BackendContext,
    BackendError,
    BackendTimeout,
    Colour,
    ConfigError,
    PermissionDenied,
    ServerStatus,
    Unreachable,
    Unsupported,
)
from backends.haproxy import HAProxyRouter, MapUnknown
from backends.registry import ROUTERS, resolve
from tests.integration.haproxy_fixture import Load, get

pytestmark = pytest.mark.integration

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def router(lab, **overrides) -> HAProxyRouter:
    return HAProxyRouter(lab.router_options(**overrides), BackendContext("shop", timeout=1.0))


def wait_for(predicate, timeout: float = 5.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


def failures(results):
    return [r for r in results if r.error]


def map_value(lab) -> str:
    lines = [ln for ln in lab.command(f"show map {lab.map}").splitlines() if ln.strip()]
    return lines[0].split()[2]


# --------------------------------------------------------------------------------------------------
# Options (no HAProxy needed)


def test_entry_point_resolves_to_the_router():
    assert resolve(ROUTERS, "haproxy") is HAProxyRouter


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"map": "/m", "backends": {"blue": "b", "green": "g"}}, ["`socket`", "nothing"]),
        ({"socket": "/s", "backends": {"blue": "b", "green": "g"}}, ["`map`", "nothing"]),
        ({"socket": "/s", "map": "/m"}, ["`backends`", "both colours"]),
        ({"socket": "/s", "map": "/m", "backends": {"blue": "b"}}, ["backends.green"]),
        ({"socket": "/s", "map": "/m", "backends": {"blue": "b", "red": "r"}}, ["backends.red"]),
        ({"socket": "/s", "map": "/m", "backends": {"blue": "b", "green": "b"}}, ["different"]),
        (
            {"socket": "/s", "map": "/m", "backends": {"blue": "b", "green": "g"}, "sokcet": 1},
            ["unknown option", "`sokcet`", "socket"],
        ),
        (
            {"socket": "/s", "map": "/m", "backends": {"blue": "b", "green": "g"}, "timeout": 0},
            ["`timeout`", "found 0"],
        ),
        (
            {
                "socket": "/s",
                "map": "/m",
                "backends": {"blue": "b", "green": "g"},
                "map_file_write": "yes",
            },
            ["`map_file_write`", "true or false"],
        ),
        (
            {"socket": "host:port", "map": "/m", "backends": {"blue": "b", "green": "g"}},
            ["numeric port"],
        ),
        (
            {"socket": "/s", "map": "/m x", "backends": {"blue": "b", "green": "g"}},
            ["`map`", "one word"],
        ),
    ],
)
def test_bad_options_name_the_key_and_what_is_expected(options, words):
    with pytest.raises(ConfigError) as err:
        HAProxyRouter(options, BackendContext("shop"))
    for word in words:
        assert word in str(err.value)
    assert "service 'shop'" in str(err.value)


def test_weights_need_a_split_backend():
    r = HAProxyRouter(
        {"socket": "/s", "map": "/m", "backends": {"blue": "b", "green": "g"}}, BackendContext("x")
    )
    assert not r.supports_weights
    with pytest.raises(Unsupported):
        r.set_weights({BLUE: 50, GREEN: 50})


# --------------------------------------------------------------------------------------------------
# State


def test_state_reads_live_colour_servers_and_router_metrics(haproxy_lab):
    r = router(haproxy_lab)
    haproxy_lab.apps["blue-1"].set_fault(error_rate=1.0)  # half of blue's traffic fails
    first = r.state()
    assert first.live is BLUE
    assert first.detail["map"] == str(haproxy_lab.map)
    assert first.detail["backend"] == "blue-backend"
    blue = first.colour(BLUE)
    assert [s.name for s in blue.servers] == ["blue-1", "blue-2"]
    assert all(s.status is ServerStatus.UP and s.check == "L7OK" for s in blue.servers)
    assert blue.weight == 100 and first.colour(GREEN).weight == 0
    assert blue.metrics.error_pct is None and blue.metrics.notes["error_pct"] == "measuring"
    assert blue.metrics.latency_stat == "avg of last 1024"

    answers = get(haproxy_lab.url, 100)
    assert {c for _, c, _ in answers} == {"blue"}
    second = r.state()
    m = second.colour(BLUE).metrics
    assert m.error_pct == pytest.approx(50.0, abs=5)
    assert m.latency_ms is not None and m.latency_stat == "avg of last 1024"
    assert m.rate is not None and m.rate > 0
    assert m.sessions == 0
    assert second.colour(GREEN).metrics.notes.get("error_pct") == "no traffic"
    r.close()


def test_the_response_counters_count_every_answer_and_every_5xx(haproxy_lab):
    """The evidence behind error %: HAProxy's own counters, read at every poll."""
    r = router(haproxy_lab)
    haproxy_lab.apps["blue-1"].set_fault(error_rate=1.0)
    before = r.state().colour(BLUE).metrics
    answers = get(haproxy_lab.url, 60)
    after = r.state().colour(BLUE).metrics
    failed = sum(1 for status, _, _ in answers if status >= 500)
    assert after.requests_total - before.requests_total == len(answers)
    assert after.errors_total - before.errors_total == failed > 0
    assert r.state().colour(GREEN).metrics.requests_total == 0  # counted, and nothing came
    r.close()


def test_tcp_stats_socket(haproxy_lab):
    r = router(haproxy_lab, socket=haproxy_lab.tcp_socket)
    assert r.state().live is BLUE
    assert r.switch(GREEN).live is GREEN
    assert map_value(haproxy_lab) == "green-backend"


def test_a_change_made_outside_the_console_shows_in_the_next_state(haproxy_lab):
    r = router(haproxy_lab)
    before = r.state()
    haproxy_lab.command(f"set map {haproxy_lab.map} / green-backend")
    after = r.state()
    assert after.live is GREEN
    assert after.fingerprint != before.fingerprint
    assert "out of date" in after.detail["map_file"]  # nobody rewrote the file: a reload reverts
    haproxy_lab.command("set server blue-backend/blue-2 state drain")
    assert r.state().fingerprint != after.fingerprint


# --------------------------------------------------------------------------------------------------
# Verbs


def test_switch_and_switch_back_under_load_lose_nothing(haproxy_lab):
    r = router(haproxy_lab)
    with Load(haproxy_lab.url, clients=4, max_requests=2000, max_seconds=5.0) as load:
        assert wait_for(lambda: len(load.snapshot()) >= 50, timeout=2)
        t_green = time.monotonic()
        state = r.switch(GREEN)
        t_green_back = time.monotonic()
        assert state.live is GREEN
        assert wait_for(
            lambda: sum(x.sent > t_green_back for x in load.snapshot()) >= 50, timeout=2
        )
        t_blue = time.monotonic()
        state = r.switch(BLUE)  # rollback is a switch back
        t_blue_back = time.monotonic()
        assert state.live is BLUE
        assert wait_for(lambda: sum(x.sent > t_blue_back for x in load.snapshot()) >= 50, timeout=2)
    results = load.stop()

    assert len(results) <= 2000
    assert failures(results) == []
    after_green = [x for x in results if t_green_back < x.sent and x.done < t_blue]
    after_blue = [x for x in results if x.sent > t_blue_back]
    assert after_green and {x.colour for x in after_green} == {"green"}
    assert after_blue and {x.colour for x in after_blue} == {"blue"}
    # both switches wrote the file: a reload keeps the colour
    assert "/ blue-backend" in haproxy_lab.map.read_text()
    print(
        f"\n{len(results)} requests, switch to green took {1000 * (t_green_back - t_green):.1f} ms"
    )


def test_switch_rewrites_the_map_file_atomically_keeping_other_lines(haproxy_lab):
    haproxy_lab.map.write_text("# keep me\n/ blue-backend\n/static blue-backend\n")
    os.chmod(haproxy_lab.map, 0o640)
    r = router(haproxy_lab)
    state = r.switch(GREEN)
    assert state.live is GREEN and "map_file" not in state.detail
    assert haproxy_lab.map.read_text() == "# keep me\n/ green-backend\n/static blue-backend\n"
    assert oct(os.stat(haproxy_lab.map).st_mode & 0o777) == "0o640"
    assert not [p for p in haproxy_lab.dir.iterdir() if p.name.endswith(".tmp")]


def test_reload_after_a_switch_keeps_the_new_colour(haproxy_lab):
    r = router(haproxy_lab)
    r.switch(GREEN)
    haproxy_lab.reload()
    assert r.state().live is GREEN
    assert {c for _, c, _ in get(haproxy_lab.url, 20)} == {"green"}

    # Without the file rewrite, the reload undoes the switch: why map_file_write defaults to true.
    memory_only = router(haproxy_lab, map_file_write=False)
    state = memory_only.switch(BLUE)
    assert state.live is BLUE and "out of date" in state.detail["map_file"]
    haproxy_lab.reload()
    assert memory_only.state().live is GREEN


def test_drain_and_ready_during_a_split(haproxy_lab):
    r = router(haproxy_lab)
    state = r.set_weights({BLUE: 50, GREEN: 50})
    assert state.detail["backend"] == "split-backend" and state.live is None
    for app in haproxy_lab.colour_apps("green"):
        app.set_fault(latency_ms=300)  # requests in flight on green when it is drained
    with Load(haproxy_lab.url, clients=6, max_requests=2000, max_seconds=5.0) as load:
        assert wait_for(
            lambda: sum(app.stats.in_flight for app in haproxy_lab.colour_apps("green")) > 0,
            timeout=2,
            every=0.01,
        )
        state = r.drain(GREEN)
        t_drained = time.monotonic()
        green = state.colour(GREEN)
        assert green.draining and {s.status for s in green.servers} == {ServerStatus.DRAIN}
        assert state.live is BLUE or state.colour(BLUE).weight == 50

        # In-flight requests finish: green's sessions fall to 0 (bounded wait).
        def idle():
            m = r.state().colour(GREEN).metrics
            return m.sessions == 0

        assert wait_for(idle, timeout=3)
        counts = {app.name: app.stats.count for app in haproxy_lab.colour_apps("green")}
        assert wait_for(
            lambda: sum(x.sent > t_drained + 0.4 for x in load.snapshot()) >= 50, timeout=2
        )
        # No new request reached a drained server.
        assert {app.name: app.stats.count for app in haproxy_lab.colour_apps("green")} == counts

        t_ready_called = time.monotonic()
        state = r.ready(GREEN)
        t_ready = time.monotonic()
        assert not state.colour(GREEN).draining
        assert wait_for(
            lambda: any(x.sent > t_ready and x.colour == "green" for x in load.snapshot()),
            timeout=3,
        )
    results = load.stop()
    assert failures(results) == []
    assert {x.colour for x in results if t_drained < x.sent < t_ready_called} == {"blue"}


def test_drain_and_ready_the_idle_colour(haproxy_lab):
    r = router(haproxy_lab)
    state = r.drain(GREEN)
    assert state.live is BLUE and state.colour(GREEN).draining and not state.colour(BLUE).draining
    assert "DRAIN" in haproxy_lab.statuses()[("green-backend", "green-1")]
    # A drained colour still counts as healthy (a ready undoes it) but a switch needs an UP server.
    with pytest.raises(ActionRefused, match="no server UP"):
        r.switch(GREEN)
    state = r.ready(GREEN)
    assert not state.colour(GREEN).draining
    assert {s.status for s in state.colour(GREEN).servers} == {ServerStatus.UP}
    assert r.switch(GREEN).live is GREEN


def test_weights(haproxy_lab):
    r = router(haproxy_lab)
    assert r.supports_weights
    state = r.set_weights({BLUE: 70, GREEN: 30})
    assert (state.colour(BLUE).weight, state.colour(GREEN).weight) == (70, 30)
    assert state.live is BLUE and state.detail["backend"] == "split-backend"
    answers = get(haproxy_lab.url, 200)
    green = sum(c == "green" for _, c, _ in answers)
    assert all(status == 200 for status, _, _ in answers)
    assert 45 <= green <= 75  # 30 % of 200, weighted round robin
    assert "/ split-backend" in haproxy_lab.map.read_text()

    state = r.set_weights({BLUE: 0, GREEN: 100})
    assert state.live is GREEN and state.colour(GREEN).weight == 100
    assert {c for _, c, _ in get(haproxy_lab.url, 20)} == {"green"}
    weights = haproxy_lab.command("show stat").splitlines()
    assert any(line.startswith("split-backend,green-1,") for line in weights)

    state = r.switch(BLUE)  # a switch ends the split
    assert state.live is BLUE and state.detail["backend"] == "blue-backend"
    assert (state.colour(BLUE).weight, state.colour(GREEN).weight) == (100, 0)

    with pytest.raises(ActionRefused, match="adding up to 100"):
        r.set_weights({BLUE: 50, GREEN: 60})


# --------------------------------------------------------------------------------------------------
# Refusals and errors (item 5 of issue 3)


def test_switch_to_a_backend_without_an_up_server_is_refused(haproxy_lab):
    r = router(
        haproxy_lab, backends={"blue": "blue-backend", "green": "dead-backend"}, split_backend=None
    )
    with pytest.raises(ActionRefused) as err:
        r.switch(GREEN)
    assert "no server UP" in str(err.value) and "dead-1 DOWN" in str(err.value)
    assert map_value(haproxy_lab) == "blue-backend"


def test_switch_to_a_backend_haproxy_does_not_have_is_refused(haproxy_lab):
    r = router(
        haproxy_lab, backends={"blue": "blue-backend", "green": "nope-backend"}, split_backend=None
    )
    state = r.state()
    assert state.colour(GREEN).detail["problem"] == "HAProxy has no backend 'nope-backend'"
    with pytest.raises(ActionRefused, match="no backend 'nope-backend'.*default backend"):
        r.switch(GREEN)
    assert map_value(haproxy_lab) == "blue-backend"


def test_unknown_map_path(haproxy_lab):
    r = router(haproxy_lab, map="/etc/haproxy/nope.map")
    with pytest.raises(MapUnknown) as err:
        r.state()
    message = str(err.value)
    assert "does not know the map '/etc/haproxy/nope.map'" in message
    assert str(haproxy_lab.map) in message  # lists the maps HAProxy knows
    with pytest.raises(ActionRefused):
        r.switch(GREEN)
    assert map_value(haproxy_lab) == "blue-backend"


def test_missing_socket_fails_fast_with_a_clear_message(haproxy_lab):
    r = router(haproxy_lab, socket=str(haproxy_lab.dir / "missing.sock"))
    started = time.monotonic()
    with pytest.raises(Unreachable, match="does not exist.*level admin"):
        r.state()
    assert time.monotonic() - started < 1.0  # not haproxyadmin's 6 s of retries


def test_a_socket_that_never_answers_times_out_within_the_timeout():
    directory = tempfile.mkdtemp(prefix="bg-stuck-", dir="/tmp")
    path = os.path.join(directory, "stuck.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(8)  # never accepts: connects succeed, nothing is ever answered
        r = HAProxyRouter(
            {"socket": path, "map": "/m", "backends": {"blue": "b", "green": "g"}, "timeout": 0.5},
            BackendContext("shop"),
        )
        started = time.monotonic()
        with pytest.raises(BackendTimeout, match="did not answer within 0.5 s"):
            r.state()
        assert time.monotonic() - started < 1.2
    finally:
        listener.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_socket_vanishing_mid_session(haproxy_lab):
    r = router(haproxy_lab)
    assert r.state().live is BLUE
    haproxy_lab.socket.unlink()
    started = time.monotonic()
    with pytest.raises(Unreachable, match="does not exist"):
        r.state()
    with pytest.raises(Unreachable):
        r.switch(GREEN)
    assert time.monotonic() - started < 2.0


def test_haproxy_killed_then_restarted(haproxy_lab):
    r = router(haproxy_lab)
    r.switch(GREEN)
    get(haproxy_lab.url, 10)
    r.state()
    haproxy_lab.kill()  # SIGKILL: the socket file stays, stale
    started = time.monotonic()
    with pytest.raises(Unreachable) as err:
        r.state()
    assert "nothing answers" in str(err.value) and "stale" in str(err.value)
    with pytest.raises(Unreachable):
        r.drain(BLUE)
    assert time.monotonic() - started < 2.0

    haproxy_lab.start()
    haproxy_lab.wait_until_up()
    state = r.state()  # the same router object reconnects
    assert state.live is GREEN  # the map file kept the switch
    assert state.colour(GREEN).metrics.error_pct is None  # counters were reset: measuring again


def test_user_level_socket_cannot_drain(haproxy_lab):
    r = router(haproxy_lab, socket=str(haproxy_lab.user_socket))
    assert r.state().live is BLUE  # reading works at level user
    with pytest.raises(PermissionDenied) as err:
        r.drain(GREEN)
    assert "level admin" in str(err.value)
    assert "DRAIN" not in haproxy_lab.statuses()[("green-backend", "green-1")]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_permission_denied_on_the_socket(haproxy_lab):
    """A real EACCES: a child process drops to nobody and meets the socket's mode 600 (root)."""
    r = router(haproxy_lab)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: everything it needs is imported already
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                r.state()
                out = "no error"
            except BackendError as exc:
                out = f"{type(exc).__name__}: {exc}"
            except BaseException as exc:  # a raw exception is a failure of the test
                out = f"RAW {type(exc).__name__}: {exc}"
            os.write(write_end, out.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 10)
        out = os.read(read_end, 65536).decode() if ready else "child did not answer"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert out.startswith("PermissionDenied: permission denied on ")
    assert "read/write access" in out and "level admin" in out

"""The Nginx router against a real Debian nginx on 127.0.0.1 (tests/integration/nginx_fixture.py):
each verb, read back from nginx's files, its workers and real requests, and each fault."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path

import pytest

from backends.base import (
    ActionRefused,
    BackendContext,
    Colour,
    Conflict,
    PermissionDenied,
    ServerStatus,
    Unreachable,
    Unsupported,
    VerifyFailed,
)
from backends.nginx.router import NginxRouter
from tests.integration.haproxy_fixture import Load, get
from tests.integration.nginx_fixture import NginxWithApps

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def router(lab: NginxWithApps, **overrides) -> NginxRouter:
    return NginxRouter(lab.router_options(**overrides), BackendContext("shop", timeout=2.0))


def served(lab: NginxWithApps, n: int = 6) -> set[str | None]:
    answers = get(lab.url, n)
    assert all(status == 200 for status, _, _ in answers), answers
    return {colour for _, colour, _ in answers}


@contextlib.contextmanager
def immutable(directory: Path):
    """Even root may not create or rename files in ``directory`` (chattr +i), or skip."""
    proc = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot make {directory} immutable here (chattr: {proc.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], capture_output=True)


# --------------------------------------------------------------------------------------------------
# reading


def test_state_reads_the_map_the_upstream_files_workers_and_stub_status(nginx_lab):
    state = router(nginx_lab).state()
    assert state.live is BLUE
    assert state.detail["upstream"] == "blue" and state.detail["workers"] == "1"
    assert state.detail["connections"].startswith("active ")
    assert "warning" not in state.detail and "problem" not in state.detail
    for colour in (BLUE, GREEN):
        cs = state.colour(colour)
        assert [s.name for s in cs.servers] == [f"{colour}-1", f"{colour}-2"]
        assert {s.status for s in cs.servers} == {ServerStatus.UP} and not cs.draining
        assert cs.weight is None


def test_a_server_that_refuses_connections_reads_down(nginx_lab):
    nginx_lab.apps["green-1"].stop()
    green = router(nginx_lab).state().colour(GREEN)
    assert [(s.name, s.status) for s in green.servers] == [
        ("green-1", ServerStatus.DOWN),
        ("green-2", ServerStatus.UP),
    ]


def test_a_file_changed_without_a_reload_is_reported_as_a_pending_reload(nginx_lab):
    r = router(nginx_lab)
    time.sleep(0.1)  # the file is written after the running workers started
    nginx_lab.map.write_text("default green;\n")
    state = r.state()
    assert state.detail["warning"].startswith(f"reload pending: {nginx_lab.map} changed after")
    assert "nginx -s reload" in state.detail["warning"]
    assert served(nginx_lab) == {"blue"}  # nginx still routes by the file it loaded
    nginx_lab.reload()
    assert "warning" not in r.state().detail
    assert served(nginx_lab) == {"green"}


# --------------------------------------------------------------------------------------------------
# switch


def test_switch_rewrites_the_map_reloads_and_reads_back_new_workers_and_the_probe(nginx_lab):
    r = router(nginx_lab)
    before = set(nginx_lab.workers(old=False))
    state = r.switch(GREEN)
    assert state.live is GREEN and state.detail["upstream"] == "green"
    assert nginx_lab.map_value() == "green"
    assert not set(nginx_lab.workers(old=False)) & before  # a new generation of workers
    assert served(nginx_lab) == {"green"}
    assert "# the live colour" in nginx_lab.map.read_text()  # other lines kept
    assert r.switch(BLUE).live is BLUE and served(nginx_lab) == {"blue"}


def test_switch_with_reload_command_instead_of_a_signal(nginx_lab):
    r = router(nginx_lab, reload="command")
    assert r.switch(GREEN).live is GREEN
    assert served(nginx_lab) == {"green"}


def test_switch_under_load_answers_no_5xx_and_only_idle_keep_alives_are_closed(nginx_lab):
    """nginx's reload closes the old workers' *idle* kept-alive connections: a client that sends
    on one at that moment sees it closed without an answer (a request nginx never read, which a
    client may retry). No request nginx read fails, and none is answered 5xx."""
    with Load(nginx_lab.url, clients=4, max_seconds=10, rate=200) as load:
        time.sleep(0.3)
        router(nginx_lab).switch(GREEN)
        time.sleep(0.3)
    results = load.stop()
    errors = [r.error for r in results if r.error]
    assert results and not [e for e in errors if e.startswith("HTTP")], errors
    assert all(e.startswith("RemoteDisconnected") for e in errors), errors
    assert {r.colour for r in results if not r.error} == {"blue", "green"}
    assert results[-1].colour == "green"


def test_a_switch_whose_new_map_fails_nginx_t_is_refused_and_the_old_file_is_back(nginx_lab):
    # A `default` in the map block itself: a second one from the map file is a config error.
    conf = nginx_lab.conf.read_text()
    nginx_lab.conf.write_text(
        conf.replace("map $host $backend {\n", "map $host $backend {\n        default blue;\n")
    )
    nginx_lab.map.write_text("shop.example blue;\n")
    nginx_lab.reload()
    r = router(nginx_lab, map_key="default", probe_url=None)
    old_text = nginx_lab.map.read_text()
    with pytest.raises(ActionRefused) as err:
        r.switch(GREEN)
    assert "duplicate default map parameter" in str(err.value)  # nginx's own words
    assert "The old file is back; nginx was not reloaded" in str(err.value)
    assert nginx_lab.map.read_text() == old_text
    assert served(nginx_lab) == {"blue"}


def test_a_config_that_fails_nginx_t_already_is_refused_before_any_change(nginx_lab):
    nginx_lab.files["green"].write_text("server 127.0.0.1:1 weight=oops;\n")
    r = router(nginx_lab)
    with pytest.raises(ActionRefused, match="fails `nginx -t` before any change: .*weight"):
        r.switch(GREEN)
    assert nginx_lab.map_value() == "blue" and served(nginx_lab) == {"blue"}


def test_an_upstream_name_nginx_does_not_define_is_refused(nginx_lab):
    r = router(nginx_lab, upstreams={"blue": "blue", "green": "gren"})
    state = r.state()
    assert state.live is BLUE
    with pytest.raises(ActionRefused) as err:
        r.switch(GREEN)
    assert "defines no upstream 'gren' (router option `upstreams.green`)" in str(err.value)
    assert "Upstreams nginx has: blue, green" in str(err.value)
    assert nginx_lab.map_value() == "blue"


def test_a_map_file_the_config_does_not_include_is_refused(nginx_lab, tmp_path):
    other = tmp_path / "other.map"
    other.write_text("default blue;\n")
    r = router(nginx_lab, map=str(other))
    with pytest.raises(ActionRefused, match="does not include the map file"):
        r.switch(GREEN)
    assert other.read_text() == "default blue;\n"


def test_a_map_naming_neither_colour_is_a_problem_in_the_state(nginx_lab):
    nginx_lab.map.write_text("default canary;\n")
    state = router(nginx_lab).state()
    assert state.live is None
    assert state.detail["problem"] == "the map names 'canary', which is neither colour's upstream"


def test_a_probe_that_never_reaches_the_new_colour_fails_the_read_back(nginx_lab):
    r = router(nginx_lab, probe_header="X-Nothing")
    with pytest.raises(VerifyFailed, match="does not reach green"):
        r.switch(GREEN)


def test_a_change_between_read_and_write_is_a_conflict(nginx_lab, tmp_path):
    # Another writer rewrites the map while the router runs `nginx -T` (between read and write).
    wrapper = tmp_path / "nginx"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *-T*) printf "default canary;\\n" > {nginx_lab.map} ;; esac\n'
        f'exec {nginx_lab.lab.nginx} "$@"\n'
    )
    wrapper.chmod(0o755)
    with pytest.raises(Conflict, match="changed since it was read"):
        router(nginx_lab, nginx=str(wrapper)).switch(GREEN)
    assert nginx_lab.map_value() == "canary"  # theirs stands


# --------------------------------------------------------------------------------------------------
# drain, ready; old workers


def test_drain_marks_every_server_down_reloads_and_ready_undoes_it(nginx_lab):
    r = router(nginx_lab)
    state = r.drain(GREEN)
    assert state.colour(GREEN).draining and not state.colour(BLUE).draining
    assert {s.status for s in state.colour(GREEN).servers} == {ServerStatus.DRAIN}
    assert nginx_lab.down("green") == [True, True] and nginx_lab.down("blue") == [False, False]
    assert "# green-1" in nginx_lab.files["green"].read_text()  # the names stay
    with pytest.raises(ActionRefused, match="every server of green is `down`"):
        r.switch(GREEN)
    state = r.ready(GREEN)
    assert not state.colour(GREEN).draining and nginx_lab.down("green") == [False, False]
    assert r.switch(GREEN).live is GREEN and served(nginx_lab) == {"green"}


def test_old_workers_finish_in_flight_requests_and_are_counted_while_they_do(nginx_lab):
    for app in nginx_lab.colour_apps("blue"):
        app.set_fault(latency_ms=2500)
    answers: list = []
    slow = threading.Thread(target=lambda: answers.extend(get(nginx_lab.url, 1)))
    slow.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
        a.stats.in_flight for a in nginx_lab.colour_apps("blue")
    ):
        time.sleep(0.01)
    r = router(nginx_lab, old_workers_after=0.05)
    r.switch(GREEN)
    time.sleep(0.1)
    state = r.state()
    assert state.detail["workers"] == "1 (+1 old)"
    assert state.detail["warning"].startswith("1 old worker still alive ")
    assert "worker_shutdown_timeout" in state.detail["warning"]
    slow.join(timeout=10)
    assert answers and answers[0][:2] == (200, "blue")  # finished on the old worker
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and nginx_lab.workers(old=True):
        time.sleep(0.02)
    assert "warning" not in r.state().detail


# --------------------------------------------------------------------------------------------------
# faults


def test_nginx_not_running_is_unreachable_naming_the_pid_file(nginx_lab):
    r = router(nginx_lab)
    nginx_lab.kill()
    with pytest.raises(Unreachable, match="nginx is not running: its pid file .* names pid"):
        r.state()
    with pytest.raises(Unreachable, match="nginx is not running"):
        r.switch(GREEN)
    assert nginx_lab.map_value() == "blue"
    nginx_lab.pid_file.unlink()
    with pytest.raises(Unreachable, match="no master pid file"):
        r.state()


def test_a_directory_the_console_may_not_write_is_permission_denied(nginx_lab):
    r = router(nginx_lab)
    with immutable(nginx_lab.files["green"].parent):
        assert r.state().live is BLUE  # reading works
        with pytest.raises(PermissionDenied, match="permission denied writing the upstream file"):
            r.drain(GREEN)
    assert nginx_lab.down("green") == [False, False]


def test_weights_and_sync_are_unsupported(nginx_lab):
    r = router(nginx_lab)
    assert not r.supports_weights
    with pytest.raises(Unsupported, match="no weighted split"):
        r.set_weights({BLUE: 50, GREEN: 50})
    with pytest.raises(Unsupported, match="the nginx router keeps no routing config"):
        r.sync()

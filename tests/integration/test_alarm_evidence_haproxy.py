"""Issue 11 on a real HAProxy: the deltas of its response counters (``show stat``'s hrsp_* columns)
are the evidence behind the error alarm, read at every poll with no Prometheus at all; a server
whose health check fails raises a warning."""

from __future__ import annotations

import time

import pytest

from tests.integration.haproxy_fixture import get
from tests.support.router_worlds import haproxy_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _monitor(haproxy_lab, tmp_path):
    from console.config import load
    from console.monitor import Monitor
    from console.runtime import build

    config, _ = haproxy_config(tmp_path, str(haproxy_lab.socket), str(haproxy_lab.map))
    runtime = build(load(config).pick(None), source=str(config))
    return runtime, Monitor(runtime)


def test_haproxy_s_counter_deltas_fire_the_error_alarm_on_the_next_poll(haproxy_lab, tmp_path):
    runtime, monitor = _monitor(haproxy_lab, tmp_path)
    try:
        assert runtime.metrics is None  # HAProxy's own figures only
        get(haproxy_lab.url, 20)  # healthy traffic
        first = monitor.poll()  # the counters' first read: a base
        assert not first.alarms.firing
        for app in haproxy_lab.colour_apps("blue"):
            app.set_fault(error_rate=0.5)
        answers = get(haproxy_lab.url, 60)
        failed = sum(1 for status, _, _ in answers if status >= 500)
        assert 10 <= failed <= 50, failed  # half of them fail, give or take luck
        frame = monitor.poll()
        alarm = next(a for a in frame.alarms.firing if a.rule == "error_pct")
        assert (alarm.colour.value, alarm.level.label) == ("blue", "critical")
        assert alarm.evidence.startswith(f"60 requests, {failed} errors: 99.9 % sure")
        assert alarm.evidence_source == "haproxy counters, last 1 poll"
        counted = frame.to_json()["metrics"]["blue"]["counted"]
        assert counted["source"] == "haproxy counters"
        assert (counted["requests"], counted["errors"]) == (60, failed)
        assert frame.to_json()["metrics"]["blue"]["sources"]["error_pct"] == "haproxy"
    finally:
        for app in haproxy_lab.colour_apps("blue"):
            app.reset()
        monitor.close()
        runtime.close()


def test_a_server_whose_check_fails_raises_a_warning_on_haproxy(haproxy_lab, tmp_path):
    runtime, monitor = _monitor(haproxy_lab, tmp_path)
    try:
        assert not monitor.poll().alarms.firing
        haproxy_lab.apps["green-1"].stop()  # its checks fail: DOWN after three (200 ms apart)
        deadline = time.monotonic() + 15
        firing = ()
        while time.monotonic() < deadline:
            firing = tuple(a for a in monitor.poll().alarms.firing if a.metric == "servers")
            if firing:
                break
            time.sleep(0.2)
        (alarm,) = firing
        assert (alarm.colour.value, alarm.level.label) == ("green", "warning")
        assert alarm.message == "WARNING green servers down: green-1 (1/2 up)"
    finally:
        monitor.close()
        runtime.close()

"""One table of metrics (console.model.METRICS): the panels, the alarm messages, the "why" page, the
CLI's status and the config's rule validation all word a metric from it."""

from __future__ import annotations

import pytest

from backends.base import COLOURS, Colour, ColourMetrics
from console.alarms import AlarmEngine, AlarmRule
from console.config import ConfigFileError, from_mapping
from console.model import (
    METRIC_KEYS,
    METRICS,
    AlarmReport,
    BakeState,
    Frame,
    Snapshot,
    format_value,
    metric,
)
from console.views import History, panel_view


def test_the_table():
    rows = {m.key: (m.label, m.heading, m.unit, m.decimals, m.direction) for m in METRICS}
    assert rows == {
        "rate": ("rate", "rate", "req/s", 1, "below"),
        "error_pct": ("error %", "errors", "%", 2, "above"),
        "latency_ms": ("p99", "p99", "ms", 0, "above"),
        "sessions": ("sessions", "sessions", "", 0, "above"),
    }
    assert METRIC_KEYS == ColourMetrics.METRICS  # every figure a backend measures has a row


def test_figures_alone_and_in_a_sentence():
    err = metric("error_pct")
    assert err.figure(26.2149) == "26.21" and err.text(26.2149) == "26.2%"
    assert (
        metric("latency_ms").figure(1480.4) == "1,480"
        and format_value("latency_ms", 1480.4) == "1480 ms"
    )
    assert metric("rate").text(12.34) == "12.3 req/s" and metric("sessions").text(3) == "3"
    assert metric("rate").figure(None) == "—" and format_value("rate", None) == "no data"
    assert metric("made_up").label == "made_up"  # an unknown key is worded plainly, never a crash


def frame_with(errors: float) -> Frame:
    m = ColourMetrics(rate=100.0, error_pct=errors, latency_ms=120.0, sessions=4)
    snap = Snapshot(
        "shop", 10.0, router_time=10.0, metrics={c: m for c in COLOURS}, metrics_time=10.0
    )
    engine = AlarmEngine(
        [AlarmRule("error_pct", "error_pct", warning=2.0, critical=5.0, for_seconds=0)]
    )
    return Frame(snap, engine.evaluate(snap), BakeState())


def test_the_panel_the_alarm_and_the_status_line_read_the_same_row():
    from console.cli import _metric_cells

    frame = frame_with(26.2149)
    rows = {r.key: r for r in panel_view(frame, Colour.GREEN, History(), 10.0, 3.0).metrics}
    err = metric("error_pct")
    assert (rows["error_pct"].label, rows["error_pct"].value, rows["error_pct"].unit) == (
        "errors",
        "26.21",
        "%",
    )
    assert [r.key for r in rows.values()] == list(METRIC_KEYS)
    message = frame.alarms.firing[0].message
    assert message.startswith(f"CRITICAL blue {err.label} 26.2% > 5%")
    cells = _metric_cells(frame.snapshot.colour_metrics(Colour.GREEN))
    assert "rate 100.0 req/s" in cells and "errors 26.21%" in cells and "p99 120 ms" in cells
    assert cells.endswith("sessions 4")


def test_a_latency_that_is_not_a_p99_is_named_for_what_it_is_in_status():
    from console.cli import _metric_cells

    m = ColourMetrics(rate=1.0, error_pct=0.0, latency_ms=80.0, sessions=0, latency_stat="avg")
    assert "avg 80 ms" in _metric_cells(m) and "p99" not in _metric_cells(m)


def test_the_config_accepts_the_table_keys_and_names_them_when_a_rule_has_none():
    svc = {"name": "shop", "router": {"kind": "simulator"}}
    for key in METRIC_KEYS:
        cfg = from_mapping(
            {"service": [{**svc, "alarms": {"x": {"metric": key, "critical": 1.0}}}]}
        )
        assert cfg.service[0].alarms["x"].metric == key
    with pytest.raises(ConfigFileError) as err:
        from_mapping({"service": [{**svc, "alarms": {"floor": {"critical": 1.0}}}]})
    assert "metric = one of 'rate', 'error_pct', 'latency_ms', 'sessions'" in str(err.value)
    assert AlarmReport().firing == ()

"""The hand-written SVG chart: round ticks in local time, gaps, and a well-formed element that
holds its series, thresholds and markers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from console.svgchart import Line, Marker, Point, Series, Threshold, nice_ticks, render, time_ticks

T0 = 1767225600.0  # 2026-01-01 00:00:00 UTC
NS = "{http://www.w3.org/2000/svg}"


def test_value_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 25.5) == [0, 10, 20, 30]
    assert nice_ticks(0, 1.08) == [0, 0.25, 0.5, 0.75, 1.0, 1.25]
    ticks = nice_ticks(0, 1234)
    assert ticks[0] == 0 and ticks[-1] >= 1234 and len(ticks) <= 8


def test_time_ticks_fall_on_round_local_times():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: a round local minute is not a round UTC hour
    ticks = time_ticks(T0 + 7, T0 + 7 + 3 * 3600, kolkata)
    assert 2 <= len(ticks) <= 9
    for t in ticks:
        local = datetime.fromtimestamp(t, timezone.utc).astimezone(kolkata)
        assert local.second == 0 and local.minute % 30 == 0
        assert T0 + 7 <= t <= T0 + 7 + 3 * 3600


def _chart(points, **kw):
    return Line(
        "error %",
        "%",
        T0,
        T0 + 100,
        [Series("green", "#1a9e4a", points)],
        thresholds=[
            Threshold(5, "critical > 5%", "critical"),
            Threshold(2, "warning > 2%", "warning"),
        ],
        markers=[
            Marker(T0 + 10, "switch → green"),
            Marker(T0 + 30, "alarm", "alarm"),
            Marker(T0 + 500, "x"),
        ],
        tz=timezone.utc,
        **kw,
    )


def test_a_chart_is_one_svg_with_its_parts():
    pts = [Point(T0 + i, T0 + i + 1, i % 7, i % 7 + 1, i % 7) for i in range(100)]
    root = ET.fromstring(render(_chart(pts), standalone=True))
    assert root.tag == f"{NS}svg" and root.get("viewBox")
    classes = [e.get("class") for e in root.iter() if e.get("class")]
    assert classes.count("series green") == 1 and classes.count("band green") == 1
    assert "threshold critical" in classes and "threshold warning" in classes
    assert classes.count("marker action") == 1  # the marker outside the range is not drawn
    assert classes.count("marker alarm") == 1
    assert root.find(f"{NS}title").text == "error %"
    labels = [e.text for e in root.iter(f"{NS}text") if e.get("class") == "xtick"]
    assert labels and all(len(lb) == 8 for lb in labels)  # HH:MM:SS for a 100 s span
    assert "http" not in render(_chart(pts))  # inline (HTML) form: no namespace URL


def test_a_gap_longer_than_max_gap_breaks_the_line_and_a_short_one_does_not():
    pts = [Point(T0 + i, T0 + i + 1, 1, 1, 1) for i in range(10)]
    pts += [Point(T0 + i, T0 + i + 1, None, None, None) for i in range(10, 20)]
    pts += [Point(T0 + i, T0 + i + 1, 1, 1, 1) for i in range(20, 30)]
    broken = ET.fromstring(render(_chart(pts, max_gap=3), standalone=True))
    assert [e.get("class") for e in broken.iter(f"{NS}polyline")].count("series green") == 2
    bridged = ET.fromstring(render(_chart(pts, max_gap=20), standalone=True))
    assert [e.get("class") for e in bridged.iter(f"{NS}polyline")].count("series green") == 1


def test_a_spike_inside_a_column_reaches_the_top_of_its_band():
    pts = [Point(T0, T0 + 50, 0.1, 40.0, 0.2), Point(T0 + 50, T0 + 100, 0.1, 0.3, 0.2)]
    svg = render(_chart(pts), standalone=True)
    root = ET.fromstring(svg)
    band = next(e for e in root.iter(f"{NS}polygon") if e.get("class") == "band green")
    ys = [float(p.split(",")[1]) for p in band.get("points").split()]
    ticks = [e.text for e in root.iter(f"{NS}text") if e.get("class") == "ytick"]
    assert "40" in ticks  # the value axis reaches the spike
    assert min(ys) < 80  # near the top of the plot (which starts at y=40)

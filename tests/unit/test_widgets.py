"""The widgets' drawing, checked as text, and their classes as a person would see them (colours)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from widgets import (
    AlarmBanner,
    BakeTimer,
    BakeView,
    BannerItem,
    ColourPanel,
    HeaderView,
    MetricView,
    PanelView,
    StatusHeader,
    render_sparkline,
)
from widgets.alarm_banner import banner_lines
from widgets.bake_timer import bake_text
from widgets.status_header import header_parts

BLOCKS = " ▁▂▃▄▅▆▇█"


def test_sparkline_is_exactly_width_by_height_with_the_newest_at_the_right():
    rows = render_sparkline([1, 2, 3, 4, 8], width=10, height=3)
    assert len(rows) == 3 and all(len(r) == 10 for r in rows)
    assert rows[-1][-1] == "█" and rows[0][-1] == "█"  # the peak fills all three rows
    assert rows[0][:5] == "     "  # older than the data: blank


def test_sparkline_draws_gaps_and_grows_monotonically():
    (row,) = render_sparkline([1, None, 2, 3, 4, 5, 6, 7, 8], width=9, height=1)
    assert row[1] == " "
    levels = [BLOCKS.index(ch) for ch in row if ch != " "]
    assert levels == sorted(levels)


def test_sparkline_of_a_flat_series_and_of_nothing():
    assert render_sparkline([], width=4, height=2) == ["    ", "    "]
    (row,) = render_sparkline([5, 5, 5], width=3, height=1)
    assert set(row) <= set(BLOCKS[1:4])  # a low flat line, not a wall


def test_banner_is_calm_without_alarms_and_puts_critical_first_with_a_count():
    assert banner_lines((), 60) == ["✔ no alarms"]
    items = (
        BannerItem("warning", "WARNING blue p99 600 ms > 500 ms"),
        BannerItem("critical", "CRITICAL green error % 23.1% > 5%"),
        BannerItem("warning", "WARNING green p99 700 ms > 500 ms"),
    )
    lines = banner_lines(items, 60)
    assert lines[0].startswith("▲ CRITICAL green") and lines[1].endswith("+1 more")


def test_bake_texts():
    assert "no switch yet" in bake_text(BakeView(), 80)
    baking = bake_text(BakeView("baking", "green", 133, 300), 60)
    assert baking.startswith("BAKING GREEN  02:13 left") and len(baking) <= 60
    assert "BAKE PASSED GREEN" in bake_text(BakeView("passed", "green", 0, 300), 80)
    assert "BAKE FAILED GREEN: error % 9%" in bake_text(
        BakeView("failed", "green", reason="error % 9%"), 80
    )


def test_header_names_the_live_colour_and_read_only():
    left, right = header_parts(
        HeaderView("shop", "haproxy", "green", "2m13s", "14:02:11", True, "changed")
    )
    assert (
        "shop · haproxy" in left.plain
        and "LIVE GREEN" in left.plain
        and "switched 2m13s ago" in left.plain
    )
    assert (
        "READ-ONLY" in right.plain and "changed" in right.plain and right.plain.endswith("14:02:11")
    )


def view(level="ok", stale=False, error="", badge="live") -> PanelView:
    metrics = tuple(
        MetricView(
            key, key, "1.0", "", level=level if key == "error_pct" else "ok", history=(1.0, 2.0)
        )
        for key in ("rate", "error_pct", "latency_ms", "sessions")
    )
    return PanelView(
        "green", "v1.5.0", badge, 100, 3, 3, "", "0.4s ago", stale, level, metrics, error
    )


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ColourPanel("green", id="p")
        yield AlarmBanner(id="b")
        yield BakeTimer(id="t")
        yield StatusHeader(id="h")


async def test_panel_classes_follow_the_view():
    app = PanelApp()
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(ColourPanel)
        panel.view = view()
        await pilot.pause()
        assert panel.has_class("-live") and not panel.has_class("-critical")
        panel.view = view(
            level="critical", stale=True, error="router: no answer within 1s", badge="idle"
        )
        await pilot.pause()
        assert (
            panel.has_class("-critical")
            and panel.has_class("-stale")
            and panel.has_class("-has-error")
        )
        assert not panel.has_class("-live")
        blocks = panel.blocks
        assert len(blocks) == 4 and blocks[1].has_class("-critical")
        panel.view = view()  # updated in place: the same blocks, not new ones
        await pilot.pause()
        assert panel.blocks == blocks


async def test_compact_panels_take_one_row_per_metric():
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(ColourPanel)
        panel.view = view()
        await pilot.pause()
        tall = panel.outer_size.height
        panel.add_class("-compact")
        await pilot.pause()
        assert all(b.outer_size.height == 1 for b in panel.blocks)
        assert panel.outer_size.height <= tall - 8


async def test_banner_and_bake_colour_classes():
    app = PanelApp()
    async with app.run_test(size=(100, 30)) as pilot:
        banner, bake = app.query_one(AlarmBanner), app.query_one(BakeTimer)
        banner.items = (BannerItem("warning", "w"),)
        bake.view = BakeView("failed", "green", reason="x")
        await pilot.pause()
        assert banner.has_class("-warning") and bake.has_class("-failed")
        banner.items = (BannerItem("critical", "c"),)
        await pilot.pause()
        assert banner.has_class("-critical") and not banner.has_class("-warning")


def test_header_of_a_fleet_names_where_each_instance_routes_in_its_colour():
    view = HeaderView(
        "shop",
        "haproxy",
        "",
        clock="14:02:11",
        instances=(("lb1", "green"), ("lb2", "green"), ("lb3", "blue"), ("lb4", "?")),
    )
    left, _ = header_parts(view)
    assert left.plain.endswith("live unknown · lb1 green lb2 green lb3 blue lb4 ?")
    styles = {left.plain[s.start : s.end]: str(s.style) for s in left.spans}
    assert styles["blue"] == "bold #4a9eff" and styles["green"] == "bold #3fcf6a"  # ACCENT
    assert "warning" in styles["?"]
    assert header_parts(HeaderView("shop", "haproxy", "blue"))[0].plain.endswith("LIVE BLUE ")

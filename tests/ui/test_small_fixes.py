"""The console's smaller faults of issue 9, each as a person at the keyboard meets it."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from console.screens import HelpScreen
from tests.support.pilot import demo_app, poll, press
from widgets import ActionLog, HeaderView, MetricView, StatusHeader
from widgets.metric_block import MetricBlock

SMALL = (80, 24)


def log_text(app) -> str:
    return "\n".join(app.query_one(ActionLog).lines_text)


async def test_help_shows_the_weight_keys_and_scrolls_to_its_end_at_80x24(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SMALL) as pilot:
        await poll(pilot, 1)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one(Static).render())
        assert "  [ ]    shift 10 % of traffic" in text and "[/b]" not in text
        box = app.screen.query_one("#help")
        assert box.max_scroll_y > 0  # the text is taller than 24 rows
        await press(pilot, "end")
        assert box.scroll_y == box.max_scroll_y  # the last lines (the audit log path) are reachable


async def test_weight_keys_say_why_they_do_nothing_without_a_split(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=(100, 30)) as pilot:
        app.runtime.router.SUPPORTS_WEIGHTS = False  # as HAProxy without a split_backend
        await poll(pilot, 1)
        await press(pilot, "left_square_bracket", "right_square_bracket")
        lines = [x for x in app.query_one(ActionLog).lines_text if "no weighted split" in x]
        assert len(lines) == 2, log_text(app)
        assert "simulator router" in lines[0]
        assert not app.audit.path.exists() or "weights" not in app.audit.path.read_text()


class _Blocks(App[None]):
    def compose(self) -> ComposeResult:
        yield MetricBlock(MetricView("rate", "rate", "12.3", "req/s"), id="ok")
        yield MetricBlock(MetricView("err", "error %", "45.0", "%", level="critical"), id="crit")


def _grey(widget) -> float:
    """The grey level (0..1) a monochrome terminal shows for the widget's text."""
    colour = widget.rich_style.color
    r, g, b = colour.get_truecolor() if colour else (255, 255, 255)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255  # as textual.filter.Monochrome


async def test_no_color_critical_figures_stand_out_rather_than_dim(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = _Blocks()
    async with app.run_test(size=(60, 8)):
        assert app.no_color
        ok, crit = app.query_one("#ok", MetricBlock), app.query_one("#crit", MetricBlock)
        for part in (".mb-figure", ".mb-text"):
            normal, critical = ok.query_one(part), crit.query_one(part)
            assert critical.rich_style.bold
            # reversed (a block of light) or at least as light as a normal figure
            assert critical.rich_style.reverse or _grey(critical) >= _grey(normal), part


async def test_header_keeps_the_live_colour_when_a_notice_is_shown():
    class _Header(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusHeader()

    app = _Header()
    async with app.run_test(size=SMALL) as pilot:
        header = app.query_one(StatusHeader)
        header.view = HeaderView(
            service="shop",
            router_kind="simulator",
            live="green",
            since_switch="2m13s",
            clock="12:00:00",
            notice="routing changed outside the console",
        )
        await pilot.pause()
        line = header.render().plain
        assert "LIVE GREEN" in line and "⚠ routing changed" in line and "12:00:00" in line

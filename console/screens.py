"""Modal screens: the one confirmation every action asks for, the help page and why an alarm fired.

The app builds each of them once and shows it again with new content (``show``): a dialog composed
afresh at every key press cost two layouts and two draws of the whole tinted dashboard behind it,
and left its widgets to the garbage collector (see ``BlueGreenApp._dialog``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from textual import events, messages
from textual._compositor import LayoutUpdate
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.styles import RulesMap
from textual.geometry import Region
from textual.renderables.background_screen import BackgroundScreen
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import RenderOptions, Visual
from textual.widgets import Static
from typing_extensions import Self

from backends.base import Colour
from console.actions import Plan
from widgets import ActionLog, AlarmBanner, BakeTimer, ColourPanel, KeyFooter, StatusHeader


class Backdrop(Visual):
    """The dimmed dashboard behind a dialog, drawn straight from the dashboard's composited lines.

    Textual draws a dialog's translucent background as a Rich renderable (``BackgroundScreen``):
    the screen behind is composited into lines, turned into one stream of segments, each segment
    tinted (a colour blend and two new styles), then the stream is split into lines again by Rich.
    At every frame that repaints the dialog's screen (the frame that opens it, and every poll while
    it is open) that cost 15-20 ms on the soak benchmark's machine, most of a dialog's first frame.
    This ``Visual`` takes the composited lines as they are and swaps each segment's style for its
    tinted one, kept per style (at most ``KEEP``): the same segments, line for line, as Textual's.
    """

    KEEP = 4096
    _tinted: dict[tuple[Style | None, Color, Style], Style] = {}

    def __init__(self, screen: Screen[Any], color: Color) -> None:
        self.screen = screen
        self.color = color

    @classmethod
    def tint(cls, style: Style | None, color: Color, base: Style) -> Style:
        """``style`` as ``BackgroundScreen`` tints it under ``color``, on the dialog's ``base``."""
        key = (style, color, base)
        new = cls._tinted.get(key)
        if new is None:
            if len(cls._tinted) >= cls.KEEP:
                cls._tinted.clear()
            dimmed = next(iter(BackgroundScreen.process_segments([Segment(" ", style)], color)))
            new = cls._tinted[key] = base + dimmed.style if base else dimmed.style or Style()
        return new

    # The tinted line last drawn at each row, with the line, tint and base it was drawn from
    _drawn: dict[int, tuple[Strip, Color, Style, Strip]] = {}

    def render_strips(
        self, width: int, height: int | None, style: VisualStyle, options: RenderOptions
    ) -> list[Strip]:
        base, color, tint, drawn = style.rich_style, self.color, self.tint, self._drawn
        behind = self.screen
        if isinstance(behind, DashboardScreen):
            lines = behind.picture()
        else:
            lines = behind._compositor.render_strips()
        strips = []
        for y, line in enumerate(lines[:height] if height is not None else lines):
            if line.cell_length > width:
                line = line.crop(0, width)
            last = drawn.get(y)
            if last is not None and last[0] is line and last[1] == color and last[2] == base:
                strips.append(last[3])  # the same line as last time: the same tinted line
                continue
            segments = [
                Segment(text, tint(seg_style, color, base))
                for text, seg_style, control in line
                if not control
            ]
            strips.append(Strip(segments, line.cell_length))
            drawn[y] = (line, color, base, strips[-1])
        return strips

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.screen._compositor.size.height


class DashboardScreen(Screen[None]):
    """The app's first screen (the dashboard), which hands its changes to a dialog over it once.

    Textual 8.2: a screen seen through a dialog's translucent background passes the regions that
    changed on it to the dialog (which draws it again, dimmed), then marks those regions dirty on
    itself and asks for a repaint of itself; that repaint passes the same regions to the dialog
    again, and so on at every message the screen handles. Most of those regions are the whole
    screen (the dashboard is refreshed as a dialog opens), so a dialog drew the whole dashboard
    behind it three times on opening and again at each poll and log line: the same picture, one
    full frame (15-20 ms on the soak benchmark's machine) each. Here the regions are passed once;
    the dashboard is drawn whole anyway when the dialog closes (``ScreenResume`` refreshes it).

    And Textual refreshes the screen below as a whole when it pushes a screen over it; when that
    screen is a dialog, which draws the whole dashboard behind it at its first frame anyway, that
    refresh only drew the same picture once more (often just after the dialog's first frame, as a
    second full frame). ``covered()`` skips it (see ``BlueGreenApp._push_dialog``).
    """

    _covering = False

    @contextmanager
    def covered(self) -> Iterator[None]:
        """While a dialog is pushed over this screen: skip the refresh of the whole screen."""
        self._covering = True
        try:
            yield
        finally:
            self._covering = False

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if self._covering and not (regions or layout or recompose):
            return self  # the dialog pushed over it draws it whole, dimmed, at its first frame
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    _picture: list[Strip] | None = None  # the screen's lines as last drawn (see picture())
    _stale: set[int] | None = None  # rows of _picture that changed since

    def picture(self) -> list[Strip]:
        """The screen's lines as they are now, for a dialog's backdrop: the lines last drawn, with
        only the rows that changed since composited again (a whole screen composited at each
        dialog opened was most of its first frame), and the rows of widgets changed since the
        screen's last update. Composited whole when there is nothing to start from, or while a
        layout, scroll or repaint of the whole screen is waiting for its next update."""
        compositor = self._compositor
        size = compositor.size
        picture, stale = self._picture, self._stale
        pending = self._layout_required or self._repaint_required or self._scroll_required
        if picture is None or stale is None or len(picture) != size.height or pending:
            self._picture, self._stale = compositor.render_strips(), set()
            return list(self._picture)
        # Widgets changed since the screen's last update: their rows (it hands them over later)
        shown = compositor.visible_widgets
        for widget in self._dirty_widgets:
            if widget in shown:
                region, clip = shown[widget]
                stale.update(region.intersection(clip).line_range)
        rows = sorted(y for y in stale if 0 <= y < size.height)
        if rows:
            crop = Region(0, rows[0], size.width, rows[-1] - rows[0] + 1)
            chops = compositor._render_chops(crop, stale.__contains__)
            for y in rows:
                picture[y] = Strip.join(chops[y].values())
        stale.clear()
        return list(picture)

    async def _on_update(self, message: messages.Update) -> None:
        """A widget asks for a repaint: its rows of the picture are stale (Textual may later drop
        it from the widgets to update when the whole screen is repainted instead)."""
        shown = self._compositor.visible_widgets
        if self._stale is not None and message.widget in shown:
            region, clip = shown[message.widget]
            self._stale.update(region.intersection(clip).line_range)

    def _changed(self, regions: Iterable[Region]) -> None:
        """Rows of the picture that ``regions`` (of the screen) cover are stale."""
        if self._stale is not None:
            for region in regions:
                self._stale.update(region.line_range)

    def _compositor_refresh(self) -> None:
        app = self.app
        compositor = self._compositor
        changed = compositor._dirty_regions
        if app.is_inline or (app.screen is not self and self not in app._background_screens):
            self._picture = None
            super()._compositor_refresh()
            return
        if app.screen is self:  # Textual's own update, keeping the lines of a whole one
            size = compositor.size
            full = size.region in changed
            update: RenderableType | None
            if not full:
                self._changed(changed)
                update = compositor.render_update(screen_stack=app._background_screens)
            elif self._picture is not None and len(self._picture) == size.height:
                # The whole screen again (back from under a dialog): the lines last drawn, with
                # the rows that changed since composited again, not every widget composited anew
                changed.clear()
                update = LayoutUpdate([[line] for line in self.picture()], size.region)
            else:
                update = compositor.render_update(screen_stack=app._background_screens)
                if isinstance(update, LayoutUpdate):
                    self._picture = [Strip.join(line) for line in update.strips]
                    self._stale = set()
            app._display(self, update)
            self._dirty_widgets.clear()
        elif changed:  # under a dialog: hand the dialog what changed, once
            self._changed(changed)
            app.screen.refresh(*changed)
            changed.clear()
            self._dirty_widgets.clear()
        app._update_mouse_over(self)


ResultT = TypeVar("ResultT")


def dashboard_widgets() -> ComposeResult:
    """One service's dashboard, top to bottom (the console's, and a service's opened from the
    board): header, alarm banner, the two colour panels, bake timer, action log, keys."""
    yield StatusHeader(id="header")
    yield AlarmBanner(id="banner")
    with Horizontal(id="panels"):
        yield ColourPanel("blue", id="panel-blue")
        yield ColourPanel("green", id="panel-green")
    yield BakeTimer(id="bake")
    yield ActionLog(id="log")
    yield KeyFooter()  # Textual's Footer minus the leak of textual#6666 (see widgets/key_footer.py)


def push_dialog(app: App[Any], screen: Screen[Any], answered: Any = None) -> None:
    """Show a dialog over the screen on top, which it draws whole (dimmed) at its first frame:
    without Textual's refresh of the whole screen as it goes under (see DashboardScreen)."""
    below = app.screen
    if isinstance(below, DashboardScreen):
        with below.covered():
            app.push_screen(screen, answered)
    else:
        app.push_screen(screen, answered)


class Dialog(ModalScreen[ResultT]):
    """A modal screen whose dimmed dashboard behind is drawn by ``Backdrop``.

    Shown again and again (see ``BlueGreenApp._dialog``): Textual applies the whole stylesheet to
    every node of a screen each time it is pushed, for a stylesheet that may have changed while the
    screen was off the stack; it is applied again only when it has changed (a theme) since. Class
    and focus changes inside the dialog restyle what they touch as always.
    """

    _styled_for: int | None = None  # the app's stylesheet update the nodes were styled with

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        updates = self.app._css_update_count
        if self._styled_for == updates:
            event.refresh_styles = False
        self._styled_for = updates

    def render(self) -> RenderableType:
        drawn = super().render()
        if type(drawn) is BackgroundScreen:
            # A Visual: Widget.render may return one (Screen.render's annotation is narrower)
            return Backdrop(drawn.screen, drawn.color)  # type: ignore[return-value]
        return drawn


class ConfirmScreen(Dialog[bool | Colour]):
    """Before -> after, then ``y`` / Enter to go ahead or Escape / ``n`` to cancel. A plan with
    ``choices`` (a fleet whose instances disagree) asks for a colour instead: ``b`` / ``g`` answer
    with it, ``y`` / Enter do nothing."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 72; max-width: 95%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    ConfirmScreen .confirm--title { text-style: bold; margin-bottom: 1; }
    ConfirmScreen .confirm--line { margin-left: 2; }
    ConfirmScreen .confirm--keys { margin-top: 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Confirm"),
        Binding("enter", "answer(True)", "Confirm", show=False),
        Binding("n", "answer(False)", "Cancel", show=False),
        Binding("escape", "answer(False)", "Cancel"),
        Binding("b", "pick('blue')", "Blue", show=False),
        Binding("g", "pick('green')", "Green", show=False),
    ]
    KEYS = "[b]y[/b] / [b]Enter[/b] confirm    [b]Esc[/b] / [b]n[/b] cancel"
    PICK_KEYS = "[b]b[/b] blue    [b]g[/b] green    [b]Esc[/b] / [b]n[/b] cancel"

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.plan.title, classes="confirm--title", markup=False)
            for line in self.plan.lines:
                yield self._line(line)
            yield Static(self._keys(self.plan), classes="confirm--keys")

    def _keys(self, plan: Plan) -> str:
        return self.PICK_KEYS if plan.choices else self.KEYS

    @staticmethod
    def _line(line: str) -> Static:
        return Static(f"• {line}", classes="confirm--line", markup=False)

    @staticmethod
    def _update(widget: Static, text: str) -> None:
        """``Static.update`` lays the dialog out again each time: only when the text changed (the
        same action asked again shows the same lines)."""
        if getattr(widget, "_bg_text", None) != text:
            widget._bg_text = text  # type: ignore[attr-defined]
            widget.update(text)

    def show(self, plan: Plan) -> None:
        """Ask about ``plan`` next time the screen is shown: the same widgets with new text (only
        where it changed), one widget added or removed per line more or less."""
        self.plan = plan
        if not self.is_mounted:
            return  # compose() reads self.plan
        self._update(self.query_one(".confirm--title", Static), plan.title)
        self._update(self.query_one(".confirm--keys", Static), self._keys(plan))
        lines = list(self.query(".confirm--line").results(Static))
        for widget, line in zip(lines, plan.lines, strict=False):
            self._update(widget, f"• {line}")
        if len(lines) > len(plan.lines):
            self.query_one("#confirm").remove_children(lines[len(plan.lines) :])
        elif len(lines) < len(plan.lines):
            self.query_one("#confirm").mount_all(
                [self._line(line) for line in plan.lines[len(lines) :]],
                before=self.query_one(".confirm--keys"),
            )

    def action_answer(self, yes: bool) -> None:
        if yes and self.plan.choices:
            return  # a colour must be picked: b / g
        self.dismiss(yes)

    def action_pick(self, colour: str) -> None:
        if Colour(colour) in self.plan.choices:
            self.dismiss(Colour(colour))


HELP = """\
[b]Keys[/b]
  [b]s[/b]      switch: new traffic to the other colour (one confirmation); on a fleet whose
         instances disagree it asks which colour first ([b]b[/b] / [b]g[/b])
  [b]d[/b]      drain the colour that is not live (no new requests; in-flight ones finish);
         on a colour already draining, [b]d[/b] offers to ready it again
  [b]r[/b]      rollback: back to the colour that was live before the last switch
         (from the audit log, so it works after a restart; re-readied if drained)
  [b]\\[[/b] [b]][/b]    shift 10 % of traffic towards blue / green (routers with a weighted split)
  [b]a[/b]      arm / disarm the auto-rollback (a critical alarm in the bake window rolls back
         after a countdown); [b]x[/b] cancels a countdown
  [b]w[/b]      why did it fire: each rule, its thresholds, the exact query, the last samples
  [b]c[/b]      chart: one metric, both colours, thresholds and markers over 1m to all
         (in it: [b]1[/b]-[b]4[/b] or [b]m[/b] metric, [b]←[/b] [b]→[/b] range, [b]Esc[/b] closes)
  [b]?[/b]      this help           [b]q[/b]  quit
  In a dialog: [b]y[/b] or [b]Enter[/b] confirms, [b]Esc[/b] or [b]n[/b] cancels.

[b]Reading the screen[/b]
  Each panel shows its data's age; [b]STALE[/b] means no fresh data for {stale} polls.
  Alarms fire after a sustained breach and clear only with a margin; critical ones ring the bell.
  The bake window starts at every switch and fails on a critical alarm on the baked colour.

[b]This session[/b]
  service {service} · router {router}{readonly}
  audit log {audit}
"""

REPLAY_HELP = """\
[b]Replay[/b] (a recording: nothing here reaches a router)
  [b]space[/b]  pause / resume          [b]← →[/b]  one poll back / forward (pauses)
  [b]n[/b] [b]p[/b]    next / previous event: an alarm, an action, a bake verdict, an outside change
  [b]+[/b] [b]-[/b]    faster / slower: 1x 2x 5x 10x 30x 60x
  [b]s d r \\[ ][/b] are refused: a replay moves no traffic. The clock is the recording's.
  file {replay}

"""


class HelpScreen(Dialog[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 92; max-width: 98%; height: auto; max-height: 95%; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(
        self,
        service: str,
        router: str,
        audit: str,
        stale: int,
        read_only: bool,
        replay: str | None = None,
    ) -> None:
        super().__init__()
        self._text = (REPLAY_HELP.format(replay=replay) if replay else "") + HELP.format(
            service=service,
            router=router,
            audit=audit,
            stale=stale,
            readonly=" · REPLAY: actions are disabled"
            if replay
            else (" · READ-ONLY: actions are disabled" if read_only else ""),
        )

    def compose(self) -> ComposeResult:
        # Scrolls (arrows, PgUp/PgDn, Home/End) when the terminal is shorter than the text (80x24).
        with VerticalScroll(id="help"):
            yield Static(self._text)

    def show(self) -> None:
        """Open at the top again, as a new help page would."""
        if self.is_mounted:
            self.query_one("#help").scroll_home(animate=False, immediate=True)


class WhyScreen(Dialog[None]):
    """Why did it fire: each rule, its thresholds, the exact query and the last samples per colour."""

    DEFAULT_CSS = """
    WhyScreen { align: center middle; }
    WhyScreen > VerticalScroll {
        width: 96%; height: auto; max-height: 95%; padding: 1 2;
        border: thick $error; background: $surface;
    }
    WhyScreen .why--title { text-style: bold; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("w", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="why"):
            yield Static("Why did it fire?  (Esc closes)", classes="why--title")
            yield Static(self.text, markup=False, id="why--text")

    def show(self, text: str) -> None:
        """Show ``text`` from the top next time the screen is shown."""
        changed, self.text = text != self.text, text
        if not self.is_mounted:
            return  # compose() reads self.text
        if changed:
            self.query_one("#why--text", Static).update(text)
        self.query_one("#why").scroll_home(animate=False, immediate=True)

"""The bake window: one row with a countdown and a bar while baking, then PASSED or FAILED; under it,
while a window is judged, a second row with the baked colour against its reference ("vs blue's
baseline (10 min): error % 0.2 → 24.1% FAIL · p99 210 → 255 ms pass")."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from widgets._common import fit

__all__ = ["BakeTimer", "BakeView", "bake_text", "comparison_text"]


@dataclass(frozen=True)
class BakeView:
    verdict: str = "none"  # none | baking | passed | failed
    colour: str = ""
    remaining_s: float = 0.0
    duration_s: float = 0.0
    reason: str = ""
    comparison: str = ""  # the comparison row ("vs blue's baseline ..."), "" when there is none
    comparison_score: str = ""  # pass | marginal | fail | no data: the row's class


def _clock(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 60:02d}:{s % 60:02d}"


def bake_text(view: BakeView, width: int) -> str:
    """The row as plain text (the widget styles it by verdict)."""
    if (
        view.verdict == "baking" and view.reason
    ):  # the window ran out but there was nothing to judge
        return f"BAKING {view.colour.upper()}  00:00 left: {view.reason}"
    if view.verdict == "baking":
        head = f"BAKING {view.colour.upper()}  {_clock(view.remaining_s)} left  "
        room = max(0, width - len(head) - 2)
        done = 0.0 if view.duration_s <= 0 else 1 - view.remaining_s / view.duration_s
        filled = int(round(room * min(1.0, max(0.0, done))))
        return head + "▕" + "█" * filled + "░" * (room - filled) + "▏"
    if view.verdict == "passed":
        return f"✔ BAKE PASSED {view.colour.upper()}  ({_clock(view.duration_s)} with no critical alarm)"
    if view.verdict == "failed":
        return f"✖ BAKE FAILED {view.colour.upper()}: {view.reason}  (r rolls back)"
    return "bake: no switch yet (the bake window starts at the next switch)"


def comparison_text(view: BakeView) -> str:
    """The comparison row as plain text, or "" (no window being judged)."""
    return view.comparison


class BakeTimer(Widget):
    """Classes ``-baking``, ``-passed`` (green), ``-failed`` (red) follow the verdict; the row is
    two lines high while a comparison is shown (``-compared``), and ``-compare-fail`` marks one
    whose comparison fails."""

    DEFAULT_CSS = """
    BakeTimer {
        height: auto;
        padding: 0 1;
        color: $foreground-muted;
        &.-baking { color: $accent; text-style: bold; }
        &.-passed { color: $success; text-style: bold; }
        &.-failed { background: $error; color: $text; text-style: bold; }
    }
    """

    view: reactive[BakeView] = reactive(BakeView)
    """Where the bake window stands."""

    def watch_view(self, view: BakeView) -> None:
        for verdict in ("baking", "passed", "failed"):
            self.set_class(view.verdict == verdict, f"-{verdict}")
        if self.has_class("-compared") != bool(view.comparison):
            self.refresh(layout=True)  # one row or two: only then is a layout pass needed
        self.set_class(bool(view.comparison), "-compared")
        self.set_class(view.comparison_score == "fail", "-compare-fail")

    def render(self) -> RenderResult:
        width = max(1, self.content_size.width or 80)
        row = fit(Content(bake_text(self.view, width)), width)
        compared = comparison_text(self.view)
        if not compared:
            return row
        return Content("\n").join([row, fit(Content(compared), width)])

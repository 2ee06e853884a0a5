"""The bake window: one row with a countdown and a bar while baking, then PASSED or FAILED."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from widgets._common import fit

__all__ = ["BakeTimer", "BakeView", "bake_text"]


@dataclass(frozen=True)
class BakeView:
    verdict: str = "none"  # none | baking | passed | failed
    colour: str = ""
    remaining_s: float = 0.0
    duration_s: float = 0.0
    reason: str = ""


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


class BakeTimer(Widget):
    """Classes ``-baking``, ``-passed`` (green), ``-failed`` (red) follow the verdict."""

    DEFAULT_CSS = """
    BakeTimer {
        height: 1;
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

    def render(self) -> RenderResult:
        width = max(1, self.content_size.width or 80)
        return fit(Content(bake_text(self.view, width)), width)

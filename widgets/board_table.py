"""The board: one row per service, trouble first; and its pure renderer.

``render_board`` draws plain ``BoardCells`` into lines of ``Content`` of an exact width, dropping the
least needed columns first as the terminal narrows (kind, trend, weights, then bake, rate and age) and
scrolling to keep the selected row in sight; a test can read it as text. ``BoardTable`` only draws
those lines at its own size. It never polls: the app hands it rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from widgets._common import accent, fit, level_rank
from widgets.sparkline import render_sparkline

__all__ = ["BoardCells", "BoardTable", "render_board"]


@dataclass(frozen=True)
class BoardCells:
    """One service's row as text (the console formats the figures)."""

    name: str
    kind: str = ""
    live: str = ""  # "blue" / "green" / ""
    weights: str = ""
    bake: str = ""
    alarm: str = ""
    level: str = "ok"  # "ok" | "warning" | "critical"
    rate: str = ""
    error_pct: str = ""
    p99: str = ""
    trend: tuple[float | None, ...] = ()
    age: str = ""
    stale: bool = False


# (key, heading, width, priority): a larger priority is dropped first; "alarm" takes what is left
COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("name", "SERVICE", 16, 0),
    ("kind", "ROUTER", 10, 5),
    ("live", "LIVE", 6, 0),
    ("weights", "B/G %", 8, 4),
    ("bake", "BAKE", 18, 2),
    ("alarm", "ALARM", 0, 0),
    ("rate", "REQ/S", 8, 3),
    ("error_pct", "ERR %", 7, 1),
    ("p99", "P99", 8, 1),
    ("trend", "TREND", 8, 4),
    ("age", "AGE", 5, 3),
)
MIN_ALARM = 12
TREND_FLOOR = 5.0  # error %: the trend's scale reaches at least this (the default critical level)
LEVEL_STYLE = {"critical": "bold $error", "warning": "bold $warning", "ok": ""}


def layout(width: int) -> list[tuple[str, str, int]]:
    """The columns that fit in ``width`` cells and their widths (one space between columns)."""
    cols = list(COLUMNS)
    while True:
        fixed = sum(w for _, _, w, _ in cols) + len(cols) - 1
        if fixed + MIN_ALARM <= width or len(cols) <= 3:
            break
        drop = max((c for c in cols if c[3] > 0), key=lambda c: c[3], default=None)
        if drop is None:
            break
        cols.remove(drop)
    fixed = sum(w for _, _, w, _ in cols) + len(cols) - 1
    name_w = next(w for k, _, w, _ in cols if k == "name")
    out = []
    for key, head, w, _ in cols:
        if key == "alarm":
            w = max(1, width - fixed)
        elif key == "name" and fixed + MIN_ALARM > width:  # very narrow: the name gives way
            w = max(4, name_w - (fixed + MIN_ALARM - width))
        out.append((key, head, w))
    return out


def _cell(cells: BoardCells, key: str, width: int) -> Content:
    if key == "trend":
        present = [v for v in cells.trend if v is not None]
        top = max([TREND_FLOOR, *present])  # a calm 0.2 % draws low, not as a full bar
        return Content(
            render_sparkline(cells.trend, width, 1, minimum=0.0, maximum=top)[0]
        ).stylize(LEVEL_STYLE.get(cells.level) or "$text-muted")
    text = str(getattr(cells, key))
    style = ""
    if key == "live" and cells.live:
        text, style = cells.live.upper(), f"bold {accent(cells.live)}"
    elif key in ("name", "alarm"):
        style = LEVEL_STYLE.get(cells.level, "")
    elif key == "bake" and text.startswith("FAILED"):
        style = "bold $error"
    elif key == "age" and cells.stale:
        style = "bold $warning"
    content = fit(Content(text), width)
    if key in ("rate", "error_pct", "p99", "age"):
        content = Content(" " * max(0, width - content.cell_length)) + content
    else:
        content = content + Content(" " * max(0, width - content.cell_length))
    return content.stylize(style) if style else content


def render_board(
    rows: Sequence[BoardCells], width: int, height: int, selected: int = 0, note: str = ""
) -> list[Content]:
    """The board in ``height`` lines of ``width`` cells: a heading, then the rows from the one that
    keeps ``selected`` in sight; ``note`` (e.g. "no service matches 'x'") when there is no row."""
    if width <= 0 or height <= 0:
        return []
    cols = layout(width)
    head = Content(" ").join(
        fit(Content(h), w) + Content(" " * max(0, w - len(h))) for _, h, w in cols
    )
    lines = [fit(head, width).stylize("bold $text-muted")]
    room = height - 1
    if not rows:
        lines.append(fit(Content(note or "no service"), width).stylize("$text-muted"))
        return lines[:height]
    selected = min(max(0, selected), len(rows) - 1)
    top = 0 if selected < room else selected - room + 1
    for i, cells in enumerate(rows[top : top + room], start=top):
        line = Content(" ").join(_cell(cells, key, w) for key, _, w in cols)
        line = fit(line, width)
        if i == selected:
            line = line.stylize("reverse")
        lines.append(line)
    return lines


class BoardTable(Widget, can_focus=True):
    """Draws ``rows`` with the ``selected`` one highlighted.

    COMPONENT_CLASSES: none; the levels use the theme's ``$error`` / ``$warning``.
    """

    DEFAULT_CSS = """
    BoardTable { height: 1fr; padding: 0 1; }
    """

    rows: reactive[tuple[BoardCells, ...]] = reactive(())
    """The rows in the order they are drawn."""
    selected: reactive[int] = reactive(0)
    """The index of the highlighted row."""
    note: reactive[str] = reactive("")
    """Said when there is no row."""

    _drawn: tuple[object, Content] | None = None

    def render(self) -> RenderResult:
        size = self.content_size
        key = (self.rows, size.width, size.height, self.selected, self.note)
        if (
            self._drawn is None or self._drawn[0] != key
        ):  # Textual renders more often than rows change
            lines = render_board(self.rows, size.width, size.height, self.selected, self.note)
            self._drawn = (key, Content("\n").join(lines))
        return self._drawn[1]

    @staticmethod
    def worst(rows: Sequence[BoardCells]) -> int:
        return max((level_rank(r.level) for r in rows), default=0)

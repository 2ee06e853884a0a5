"""The board: one row per service, trouble first; and its pure renderer.

``board_lines`` draws plain ``BoardCells`` into lines (spans of text and style) of an exact width,
dropping the least needed columns first as the terminal narrows (kind, trend, weights, then bake,
rate and age) and scrolling to keep the selected row in sight; ``render_board`` gives them as
``Content``, which a test can read as text. ``BoardTable`` only draws those lines at its own size, a
``Strip`` per line. It never polls: the app hands it rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widget import Widget

from widgets._common import accent, level_rank
from widgets.sparkline import render_sparkline

__all__ = ["BoardCells", "BoardTable", "board_lines", "render_board"]


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


Span = tuple[str, str]  # (text, style): a run of text and its Textual style ("bold $error")
Line = tuple[Span, ...]  # one line of the board, exactly ``width`` cells


def _fit_text(text: str, width: int, right: bool = False) -> str:
    """``text`` in exactly ``width`` cells: cut with "…", padded on the right (left if ``right``)."""
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - length)
    return pad + text if right else text + pad


def _cell(cells: BoardCells, key: str, width: int) -> Span:
    if key == "trend":
        present = [v for v in cells.trend if v is not None]
        top = max([TREND_FLOOR, *present])  # a calm 0.2 % draws low, not as a full bar
        bars = render_sparkline(cells.trend, width, 1, minimum=0.0, maximum=top)[0]
        return _fit_text(bars, width), LEVEL_STYLE.get(cells.level) or "$text-muted"
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
    return _fit_text(text, width, right=key in ("rate", "error_pct", "p99", "age")), style


def board_lines(
    rows: Sequence[BoardCells], width: int, height: int, selected: int = 0, note: str = ""
) -> list[Line]:
    """The board in ``height`` lines of ``width`` cells, as spans of text and style: a heading,
    then the rows from the one that keeps ``selected`` in sight; ``note`` (e.g. "no service
    matches 'x'") when there is no row. The selected row's spans carry "reverse"."""
    if width <= 0 or height <= 0:
        return []
    cols = layout(width)
    head = " ".join(_fit_text(h, w) for _, h, w in cols)
    lines: list[Line] = [((_fit_text(head, width), "bold $text-muted"),)]
    room = height - 1
    if not rows:
        lines.append(((_fit_text(note or "no service", width), "$text-muted"),))
        return lines[:height]
    selected = min(max(0, selected), len(rows) - 1)
    top = 0 if selected < room else selected - room + 1
    for i, cells in enumerate(rows[top : top + room], start=top):
        lines.append(_row(cells, tuple(cols), width, i == selected))
    return lines


@lru_cache(maxsize=2048)
def _row(cells: BoardCells, cols: tuple[tuple[str, str, int], ...], width: int, sel: bool) -> Line:
    """One service's line (kept: most rows are drawn again unchanged)."""
    spans: list[Span] = []
    used = 0
    for n, (key, _, w) in enumerate(cols):
        if n:
            if used >= width:
                break
            spans.append((" ", ""))
            used += 1
        w = min(w, width - used)
        if w <= 0:
            break
        spans.append(_cell(cells, key, w))
        used += w
    if used < width:
        spans.append((" " * (width - used), ""))
    if sel:
        spans = [(text, f"{style} reverse".strip()) for text, style in spans]
    return tuple(spans)


def render_board(
    rows: Sequence[BoardCells], width: int, height: int, selected: int = 0, note: str = ""
) -> list[Content]:
    """``board_lines`` as Textual ``Content`` (tests read it as text)."""
    return [
        Content.assemble(*((text, style) if style else text for text, style in line))
        for line in board_lines(rows, width, height, selected, note)
    ]


class BoardTable(Widget, can_focus=True):
    """Draws ``rows`` with the ``selected`` one highlighted.

    Line by line (Textual's line API): each line is turned into a ``Strip`` once and kept while it
    is unchanged, so a board of fifty services redrawn every second styles only the rows whose
    figures moved (a whole ``Content`` of the board styled at every draw cost 35 ms of the UI
    thread a second at 50 services).

    COMPONENT_CLASSES: none; the levels use the theme's ``$error`` / ``$warning``.
    """

    DEFAULT_CSS = """
    BoardTable { height: 1fr; padding: 0 1; }
    """

    # Not repainted whole on a change: ``_repaint_changed`` marks only the lines that differ.
    rows: reactive[tuple[BoardCells, ...]] = reactive((), repaint=False)
    """The rows in the order they are drawn."""
    selected: reactive[int] = reactive(0, repaint=False)
    """The index of the highlighted row."""
    note: reactive[str] = reactive("", repaint=False)
    """Said when there is no row."""

    KEEP = 512  # lines kept as strips (a few screens' worth)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lines: tuple[object, list[Line]] | None = None
        self._strips: dict[tuple[Line, object], Strip] = {}
        self._styles: dict[tuple[str, object], Style] = {}

    def lines(self) -> list[Line]:
        size = self.content_size
        key = (self.rows, size.width, size.height, self.selected, self.note)
        if self._lines is None or self._lines[0] != key:
            self._lines = (key, board_lines(*key))
        return self._lines[1]

    def watch_rows(self) -> None:
        self._repaint_changed()

    def watch_selected(self) -> None:
        self._repaint_changed()

    def watch_note(self) -> None:
        self._repaint_changed()

    def _repaint_changed(self) -> None:
        """Repaint the lines that changed since the last ones worked out (all of them when their
        number changed): fifty rows polled each second mostly keep their text."""
        before = self._lines[1] if self._lines is not None else None
        after = self.lines()
        if before is None or len(before) != len(after):
            self.refresh()
            return
        width = self.content_size.width  # refresh() takes regions of the content area
        changed = [
            Region(0, y, width, 1)
            for y, (a, b) in enumerate(zip(before, after, strict=True))
            if a != b
        ]
        if changed:
            self.refresh(*changed)

    def _style(self, name: str, base: VisualStyle) -> Style:
        """The Rich style of a span's Textual style on this widget (theme variables resolved)."""
        key = (name, base)
        style = self._styles.get(key)
        if style is None:
            style = (base + self._get_style(name)).rich_style if name else base.rich_style
            self._styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        base = self.visual_style
        width = self.content_size.width
        lines = self.lines()
        if y >= len(lines):
            return Strip.blank(width, base.rich_style)
        line = lines[y]
        key = (line, base)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) >= self.KEEP:
                self._strips.clear()
            segments = [Segment(text, self._style(style, base)) for text, style in line]
            strip = self._strips[key] = Strip(segments, width)
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # the theme changed: its variables resolve to other colours
        self._styles.clear()

    @staticmethod
    def worst(rows: Sequence[BoardCells]) -> int:
        return max((level_rank(r.level) for r in rows), default=0)

"""Colours and small text helpers shared by the widgets (no Textual widgets here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content

if TYPE_CHECKING:
    from textual.widgets import Static

ACCENT = {"blue": "#4a9eff", "green": "#3fcf6a"}
"""Each colour's accent: borders, badges, sparklines. Bright enough to read on a dark terminal."""

LEVELS = ("ok", "warning", "critical")
"""Alarm levels, mildest first."""

MISSING = ("", "—", "-", "None", "nan")
"""Values that mean "no figure"."""


def accent(colour: str) -> str:
    """The accent colour of ``colour`` ("blue" / "green"), or the foreground for anything else."""
    return ACCENT.get(colour, "$foreground")


def level_rank(level: str) -> int:
    """0 for ok (and anything unknown), 1 for warning, 2 for critical."""
    return LEVELS.index(level) if level in LEVELS else 0


def fit(content: Content, width: int) -> Content:
    """``content`` cut to ``width`` cells, ending in "…" when something was cut."""
    if width <= 0:
        return Content("")
    if content.cell_length <= width:
        return content
    return content.truncate(width - 1) + "…"


def join_left_right(left: Content, right: Content, width: int, gap: int = 2) -> Content:
    """One line of ``width`` cells: ``left`` at the start, ``right`` flush at the end.

    When both do not fit, ``left`` is cut first (it keeps at least a few cells), then ``right``.
    """
    room = width - right.cell_length - gap
    if room < min(left.cell_length, 6):
        right = fit(right, max(0, width - min(left.cell_length, 6) - gap))
        room = width - right.cell_length - gap
    left = fit(left, max(0, room))
    pad = max(0, width - left.cell_length - right.cell_length)
    return fit(left + " " * pad + right, width)


def update_if_changed(static: Static, content: Content) -> None:
    """``Static.update`` asks for a layout pass every time; skip it when nothing changed (panels are
    refreshed every second, and a needless relayout of the screen is most of the console's CPU)."""
    key = (content.plain, tuple(content.spans))
    if getattr(static, "_bg_last", None) != key:
        static._bg_last = key  # type: ignore[attr-defined]
        # A text that changes but wraps to as many rows (a panel's error: "an earlier call has not
        # returned after 3s", "...4s", at every poll while a backend is frozen) is repainted, not
        # laid out: a relayout of the dashboard under a dialog redrew the whole screen behind it
        # (up to 300 ms of a help screen's key press, issue 13).
        width = static.content_size.width
        rows = len(content.wrap(width)) if width > 0 else None
        same = rows is not None and getattr(static, "_bg_rows", None) == rows
        static._bg_rows = rows  # type: ignore[attr-defined]
        static.update(content, layout=not same)

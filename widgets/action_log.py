"""The action log: actions, refusals, alarms and external changes, newest at the bottom."""

from __future__ import annotations

from collections import deque

from textual.content import Content
from textual.widgets import RichLog
from typing_extensions import Self

__all__ = ["ActionLog"]

MARKS = {"info": "·", "ok": "✔", "warning": "⚠", "critical": "▲", "error": "✖"}
STYLES = {
    "info": "",
    "ok": "$success",
    "warning": "$warning",
    "critical": "bold $error",
    "error": "$error",
}
KEEP = 200


class ActionLog(RichLog):
    DEFAULT_CSS = """
    ActionLog {
        border: round $foreground 30%;
        border-title-align: left;
        padding: 0 1;
        background: $surface;
        scrollbar-size-vertical: 0;  /* it follows the newest line; a scrollbar only adds noise */
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id, classes=classes, max_lines=KEEP, wrap=True, markup=False, auto_scroll=True
        )
        self.border_title = "action log"
        self._plain: deque[str] = deque(maxlen=KEEP)

    @property
    def lines_text(self) -> tuple[str, ...]:
        return tuple(self._plain)

    def clear(self) -> Self:
        """Empty the log (a replay that jumps rebuilds it from the recording)."""
        self._plain.clear()
        super().clear()
        return self

    def add(self, when: str, level: str, text: str) -> None:
        """Append one line: ``14:02:11  ✔ switch blue → green: done (read back)``."""
        mark = MARKS.get(level, "·")
        self._plain.append(f"{when}  {mark} {text}")
        style = STYLES.get(level, "")
        line = Content.assemble(
            (when, "dim"), "  ", (f"{mark} {text}", style) if style else f"{mark} {text}"
        )
        self.write(line)

"""The alarm banner: every firing alarm on one or two rows, critical first; calm when there is none."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from widgets._common import fit, level_rank

__all__ = ["AlarmBanner", "BannerItem", "banner_lines"]


@dataclass(frozen=True)
class BannerItem:
    level: str  # "warning" | "critical"
    text: str  # e.g. "CRITICAL green error % 23.1% > 5% for 6s"


def banner_lines(items: tuple[BannerItem, ...], width: int, rows: int = 2) -> list[str]:
    """The banner's text: worst first, one alarm per row, "+N more" when they do not all fit."""
    if not items:
        return ["✔ no alarms"]
    ordered = sorted(items, key=lambda i: -level_rank(i.level))
    shown = ordered[:rows]
    lines = [("▲ " if level_rank(i.level) == 2 else "△ ") + i.text for i in shown]
    rest = len(ordered) - len(shown)
    if rest:
        suffix = f"  +{rest} more"
        lines[-1] = fit(Content(lines[-1]), max(1, width - len(suffix))).plain + suffix
    return [fit(Content(line), width).plain for line in lines]


class AlarmBanner(Widget):
    """Classes ``-critical`` (red) / ``-warning`` (amber) follow the worst item; none: a quiet line."""

    DEFAULT_CSS = """
    AlarmBanner {
        height: auto;
        max-height: 2;
        padding: 0 1;
        color: $success;
        &.-warning { background: $warning 35%; color: $text; text-style: bold; }
        &.-critical { background: $error; color: $text; text-style: bold; }
    }
    """

    items: reactive[tuple[BannerItem, ...]] = reactive((), layout=True)
    """The firing alarms; empty means all clear."""

    def watch_items(self, items: tuple[BannerItem, ...]) -> None:
        worst = max((level_rank(i.level) for i in items), default=0)
        self.set_class(worst == 2, "-critical")
        self.set_class(worst == 1, "-warning")

    def render(self) -> RenderResult:
        width = max(1, self.content_size.width or 80)
        return Content("\n".join(banner_lines(self.items, width)))

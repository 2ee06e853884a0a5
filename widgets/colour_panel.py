"""One colour's panel: its badge and weight, its servers and data age, and a block per metric.

The panel is built once and updated in place every poll: setting ``view`` updates the child widgets'
content and the panel's classes; blocks are only mounted or removed when the set of metrics changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult, RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from widgets._common import ACCENT, LEVELS, join_left_right, level_rank, update_if_changed
from widgets.metric_block import MetricBlock, MetricView

__all__ = ["ColourPanel", "MetricView", "PanelLine", "PanelView"]

BADGES = {"live": "LIVE", "idle": "IDLE", "draining": "DRAINING", "unknown": "UNKNOWN"}


@dataclass(frozen=True)
class PanelView:
    """Everything a colour panel shows, already formatted.

    Attributes:
        colour: "blue" | "green".
        version: the version deployed on that colour, or "".
        badge: "live" | "idle" | "draining" | "unknown".
        weight: the share of traffic in percent, or None when the router has no weights.
        servers_up / servers_total: healthy servers out of all of them.
        servers_text: replaces "3/3 up" when set (e.g. "3/3 up, 1 draining").
        age_text: how old the figures are ("0.4s ago").
        stale: the figures are too old to trust: a STALE badge, and the figures are dimmed.
        level: the colour's alarm level; a metric's own level also counts toward the border.
        metrics: one block each, in order.
        error: why the data could not be read ("router unreachable: ..."), shown in red.
        warm_text: the old colour's warm-rollback countdown after a switch ("kept warm 09:12:
            rollback is instant"), "" outside the window.
    """

    colour: str  # "blue" | "green"
    version: str = ""
    badge: str = "idle"  # "live" | "idle" | "draining" | "unknown"
    weight: int | None = None
    servers_up: int = 0
    servers_total: int = 0
    servers_text: str = ""
    age_text: str = ""
    stale: bool = False
    level: str = "ok"
    metrics: tuple[MetricView, ...] = ()
    error: str = ""
    warm_text: str = ""

    @property
    def effective_level(self) -> str:
        """The worst of the panel's level and its metrics' levels: what the border shows."""
        ranks = [level_rank(self.level), *(level_rank(m.level) for m in self.metrics)]
        return LEVELS[max(ranks)]


def title_parts(view: PanelView) -> tuple[Content, Content]:
    """The title row: colour name and version at the left; badge and weight at the right."""
    left = Content.styled(view.colour.upper(), ".colour-panel--accent")
    if view.version:
        left += Content.assemble("  ", (view.version, "bold"))
    badge = view.badge if view.badge in BADGES else "unknown"
    right = Content.styled(f" {BADGES[badge]} ", f".colour-panel--badge-{badge}")
    if view.weight is not None:
        right += Content.assemble("  weight ", (f"{view.weight}%", "bold"))
    return left, right


def status_parts(view: PanelView) -> tuple[Content, Content]:
    """The second row: servers at the left; a STALE badge and the data's age at the right."""
    if view.servers_text or view.servers_total:
        text = view.servers_text or f"{view.servers_up}/{view.servers_total} up"
        down = view.servers_up < view.servers_total
        left = Content.assemble(
            "servers ", (text, ".colour-panel--servers-down" if down else "bold")
        )
    else:
        left = Content.styled("servers —", "dim")
    if view.warm_text:
        left += Content.assemble("  ", (view.warm_text, ".colour-panel--warm"))
    right = Content("")
    if view.stale:
        right += Content.styled(" STALE ", ".colour-panel--stale")
        if view.age_text:
            right += " "
    if view.age_text:
        right += Content.styled(view.age_text, "$warning" if view.stale else "dim")
    return left, right


def error_content(view: PanelView) -> Content:
    """The red error line, or empty content when there is no error."""
    return Content.styled(f"✖ {view.error}", "bold") if view.error else Content("")


class PanelLine(Widget):
    """One row with content at the left and content flush right, cut to fit the width."""

    DEFAULT_CSS = """
    PanelLine { height: 1; width: 1fr; }
    """

    parts: reactive[tuple[Content, Content]] = reactive((Content(""), Content("")))
    """The (left, right) content of the row."""

    def render_content(self, width: int | None = None) -> Content:
        """The row as drawn at ``width`` cells (default: the widget's width)."""
        left, right = self.parts
        return join_left_right(left, right, self.content_size.width if width is None else width)

    def render(self) -> RenderResult:
        return self.render_content()


class ColourPanel(Widget):
    """One colour of a blue-green pair: badges, servers, data age, and its metrics.

    Classes: ``-blue`` / ``-green`` (from the constructor); ``-warning`` / ``-critical`` (the worst
    level, which colours the border), ``-stale``, ``-has-error``, ``-live`` (set from ``view``).
    The app adds ``-compact`` on short terminals: every metric then takes one row.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "colour-panel--accent",
        "colour-panel--badge-live",
        "colour-panel--badge-idle",
        "colour-panel--badge-draining",
        "colour-panel--badge-unknown",
        "colour-panel--servers-down",
        "colour-panel--stale",
        "colour-panel--warm",
    }
    """
    | Class | Description |
    | :- | :- |
    | `colour-panel--accent` | The colour's name in the title row. |
    | `colour-panel--badge-live` | The LIVE badge (reverse, in the colour). |
    | `colour-panel--badge-idle` | The IDLE badge. |
    | `colour-panel--badge-draining` | The DRAINING badge (amber). |
    | `colour-panel--badge-unknown` | The UNKNOWN badge. |
    | `colour-panel--servers-down` | The server count when fewer are healthy than exist. |
    | `colour-panel--stale` | The STALE badge. |
    | `colour-panel--warm` | The warm-rollback countdown of the old colour after a switch. |
    """

    DEFAULT_CSS = (
        """
    ColourPanel {
        width: 1fr;
        height: auto;
        border: round $foreground 40%;
        border-title-align: left;
        padding: 0 1;
        & > .colour-panel--accent { text-style: bold; }
        & > .colour-panel--badge-live { text-style: bold reverse; }
        & > .colour-panel--badge-idle { color: $foreground-muted; text-style: dim; }
        & > .colour-panel--badge-draining { color: $warning; text-style: bold reverse; }
        & > .colour-panel--badge-unknown { color: $foreground-muted; text-style: italic; }
        & > .colour-panel--servers-down { color: $error; text-style: bold; }
        & > .colour-panel--stale { color: $warning; text-style: bold reverse; }
        & > .colour-panel--warm { color: $accent; }
        & > .cp-status { margin-bottom: 1; }
        & > .cp-error { color: $error; height: auto; max-height: 2; display: none; }
        &.-has-error > .cp-error { display: block; }
        &.-stale > MetricBlock { opacity: 55%; }
        &.-compact > .cp-status { margin-bottom: 0; }
        /* Short terminals: one row per metric. Here, not in MetricBlock's CSS, because Textual
           scopes a widget's DEFAULT_CSS to that widget, so an ancestor's class cannot be matched there. */
        &.-compact > MetricBlock {
            height: 1;
            & > .mb-label { height: 1; }
            & > .mb-figure { display: none; }
            & > .mb-missing { display: none; }
            & > .mb-text { display: block; }
            & > .mb-spark { height: 1; }
        }
    """
        + "".join(
            f"""
        &.-{name} {{ border: round {hex_}; }}
        &.-{name} > .colour-panel--accent {{ color: {hex_}; }}
        &.-{name} > .colour-panel--badge-live {{ color: {hex_}; }}
        &.-{name} SparkChart {{ color: {hex_}; }}
    """
            for name, hex_ in ACCENT.items()
        )
        + """
        &.-warning { border: round $warning; }
        &.-critical { border: heavy $error; }
    }
    """
    )

    # No repaint or relayout of its own: the children repaint what changed, and class changes
    # (level, stale, error) restyle the panel through CSS.
    view: reactive[PanelView | None] = reactive(None, repaint=False)
    """What the panel shows; ``None`` until the first poll (an empty panel with its colour)."""

    def __init__(
        self,
        colour: str,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.colour = colour
        self.add_class(f"-{colour}")
        self._title = PanelLine(classes="cp-title")
        self._status = PanelLine(classes="cp-status")
        self._error = Static(classes="cp-error")
        self._blocks: dict[str, MetricBlock] = {}
        self._title.parts = title_parts(PanelView(colour=colour, badge="unknown"))

    @property
    def blocks(self) -> tuple[MetricBlock, ...]:
        """The metric blocks, in order."""
        return tuple(self._blocks.values())

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._status
        yield self._error
        yield from self._blocks.values()

    def watch_view(self, view: PanelView | None) -> None:
        view = view or PanelView(colour=self.colour, badge="unknown")
        level = view.effective_level
        for name in LEVELS[1:]:
            self.set_class(level == name, f"-{name}")
        self.set_class(view.stale, "-stale")
        self.set_class(bool(view.error), "-has-error")
        self.set_class(view.badge == "live", "-live")
        self._title.parts = title_parts(view)
        self._status.parts = status_parts(view)
        update_if_changed(self._error, error_content(view))
        self._sync_blocks(view.metrics)

    def _sync_blocks(self, metrics: tuple[MetricView, ...]) -> None:
        """Update the blocks in place; mount or remove blocks only when the metric keys change."""
        keys = [metric.key for metric in metrics]
        if keys != list(self._blocks):
            old = list(self._blocks.values())
            self._blocks = {key: self._blocks.get(key) or MetricBlock() for key in keys}
            if self.is_mounted:
                gone = [block for block in old if block not in self._blocks.values()]
                if gone:
                    self.remove_children(gone)
                for block in self._blocks.values():
                    if block.parent is None:
                        self.mount(block)
                    elif self.children[-1] is not block:
                        self.move_child(block, after=self.children[-1])
        for metric in metrics:
            self._blocks[metric.key].metric = metric

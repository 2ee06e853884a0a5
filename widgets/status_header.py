"""The header row: service, router, the live colour, time since the last switch, the clock."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from widgets._common import accent, fit, join_left_right

__all__ = ["HeaderView", "StatusHeader", "header_line", "header_parts"]


@dataclass(frozen=True)
class HeaderView:
    service: str = ""
    router_kind: str = ""
    live: str = ""  # "blue" | "green" | ""
    since_switch: str = ""  # e.g. "2m13s"
    clock: str = ""
    read_only: bool = False
    notice: str = ""  # e.g. "routing changed outside the console"
    replay: str = ""  # e.g. "REPLAY ▶ 5x": a recording is on screen (the clock is its time)
    # a router of several instances (a HAProxy fleet): (name, "blue" | "green" | "" | "?") each
    instances: tuple[tuple[str, str], ...] = ()


def header_parts(view: HeaderView) -> tuple[Content, Content]:
    left = Content.assemble(("bluegreen", "bold"), " · ", (view.service or "—", "bold"))
    if view.router_kind:
        left += Content(f" · {view.router_kind}")
    if view.live:
        left += Content.assemble(
            " · ", (f" LIVE {view.live.upper()} ", f"bold reverse {accent(view.live)}")
        )
    else:
        left += Content.assemble(" · ", ("live unknown", "italic"))
    if view.instances:
        left += Content(" ·")
        for name, colour in view.instances:
            style = f"bold {accent(colour)}" if colour in ("blue", "green") else "bold $warning"
            left += Content.assemble(f" {name} ", (colour or "neither", style))
    if view.since_switch:
        left += Content(f" · switched {view.since_switch} ago")
    right = Content("")
    if view.notice:
        right += Content.styled(f"⚠ {view.notice}  ", "bold $warning")
    if view.replay:
        right += Content.styled(f" {view.replay} ", "bold reverse $accent") + "  "
    elif view.read_only:
        right += Content.styled("READ-ONLY  ", "bold reverse $warning")
    right += Content(view.clock)
    return left, right


def header_line(view: HeaderView, width: int) -> Content:
    """The header in ``width`` cells. When it does not fit, the live colour is the last thing to go:
    first the time since the switch and the router kind are left out, then the notice is cut."""
    left, right = header_parts(view)
    if left.cell_length + right.cell_length + 2 <= width:
        return join_left_right(left, right, width)
    left, _ = header_parts(replace(view, since_switch="", router_kind=""))
    _, rest = header_parts(replace(view, notice=""))  # READ-ONLY and the clock
    room = width - left.cell_length - rest.cell_length - 4  # two gaps of two cells
    if view.notice and room >= 8:
        rest = fit(Content.styled(f"⚠ {view.notice}", "bold $warning"), room) + "  " + rest
    return join_left_right(left, rest, width)


class StatusHeader(Widget):
    DEFAULT_CSS = """
    StatusHeader { height: 1; padding: 0 1; background: $panel; }
    """

    view: reactive[HeaderView] = reactive(HeaderView)
    """What the header says."""

    def render(self) -> RenderResult:
        return header_line(self.view, max(1, self.content_size.width or 100))

"""What the board keeps on its UI thread: its options, each service it watches (``Watched``) and a
poll's result as a pool thread hands it over (``Polled``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from console import views
from console.actions import ActionController
from console.board_poll import Slot
from console.model import Frame


@dataclass
class BoardOptions:
    read_only: bool = False
    auto_poll: bool = True  # tests turn it off and call poll_all() themselves
    title: str = "bluegreen"
    subtitle: str = ""
    freeze_startup: bool = True  # gc.freeze() once the first frame is drawn (console.app)


@dataclass
class Watched:
    """What the board keeps of one service on the UI thread."""

    slot: Slot
    controller: ActionController | None = None
    history: views.History = field(default_factory=views.History)
    trend: list[float | None] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (clock, level, text)
    busy: str | None = None
    polling: bool = False
    polls: int = 0

    @property
    def name(self) -> str:
        return self.slot.name


@dataclass(frozen=True)
class Polled:
    """One poll of a service, as a pool thread leaves it in the board's inbox."""

    name: str
    frame: Frame | None
    error: str | None
    elapsed: float

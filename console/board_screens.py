"""The board's screens: the board itself, a service's dashboard opened from it, its help and its
command palette (Ctrl+P). They draw what the board app (``console.board.BoardApp``) hands them and
call it for every key; they never poll.

Keys on the board: arrows / j k move, ``/`` filters by name, Enter opens the service's dashboard
(``ServiceScreen``; Escape returns), ``s`` / ``d`` / ``r`` switch, drain (or ready) and roll back,
``[`` / ``]`` shift weights, ``w`` says why, Ctrl+P lists services and actions, ``?`` help, ``q``
quits."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Input, Static

from console.board_state import BoardOptions, Watched
from console.screens import DashboardScreen, Dialog, dashboard_widgets
from widgets import ActionLog, KeyFooter
from widgets.board_table import BoardTable

# A service's keys, on the board (for the selected row) and on a dashboard opened from it
SERVICE_KEYS = (
    Binding("s", "act('switch')", "Switch"),
    Binding("d", "act('drain')", "Drain/ready"),
    Binding("r", "act('rollback')", "Rollback"),
    Binding("left_square_bracket", "act('more_blue')", "+blue", show=False),
    Binding("right_square_bracket", "act('more_green')", "+green", show=False),
    Binding("w", "why", "Why"),
    Binding("question_mark", "app.help", "Help"),
    Binding("q", "app.quit", "Quit"),
)


class Board(Protocol):
    """What the screens use of ``console.board.BoardApp`` (which they never import: it imports
    them)."""

    watched: dict[str, Watched]
    opts: BoardOptions
    selected: str | None

    def draw(self) -> None: ...
    def draw_service(self, screen: ServiceScreen) -> None: ...
    def move(self, by: int) -> None: ...
    def set_filter(self, text: str) -> None: ...
    def open_selected(self) -> None: ...
    def open_service(self, name: str) -> None: ...
    def act_selected(self, action: str) -> None: ...
    def act(self, name: str, action: str) -> None: ...
    def why(self, name: str) -> None: ...


def board_of(node: DOMNode | Provider) -> Board:
    """The board app ``node`` runs in."""
    return cast(Board, node.app)


class BoardScreen(DashboardScreen):
    """The board: a heading, the table, a filter line (after ``/``), a status line, the keys.
    A ``DashboardScreen``: a dialog over it (help, a confirmation) draws it dimmed from its lines
    as last drawn, not composited afresh (see ``console.screens``)."""

    DEFAULT_CSS = """
    BoardScreen { layout: vertical; }
    BoardScreen #board-head { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    BoardScreen #board-filter { dock: bottom; display: none; height: 3; }
    BoardScreen #board-filter.-open { display: block; }
    BoardScreen #board-status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("pagedown", "move(10)", show=False),
        Binding("pageup", "move(-10)", show=False),
        Binding("home", "move(-100000)", show=False),
        Binding("end", "move(100000)", show=False),
        Binding("enter", "open", "Open"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        *SERVICE_KEYS,
    ]

    def on_mount(self) -> None:
        self.board.draw()

    def action_why(self) -> None:
        if self.board.selected is not None:
            self.board.why(self.board.selected)

    def compose(self) -> ComposeResult:
        yield Static("", id="board-head", markup=False)
        yield BoardTable(id="board")
        yield Static("", id="board-status", markup=False)
        yield Input(placeholder="filter by name (Enter keeps it, Esc clears)", id="board-filter")
        yield KeyFooter()

    @property
    def board(self) -> Board:
        return board_of(self)

    def action_move(self, by: int) -> None:
        self.board.move(by)

    def action_open(self) -> None:
        self.board.open_selected()

    def action_act(self, action: str) -> None:
        self.board.act_selected(action)

    def action_filter(self) -> None:
        box = self.query_one("#board-filter", Input)
        box.add_class("-open")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#board-filter", Input)
        box.value = ""
        box.remove_class("-open")
        self.query_one(BoardTable).focus()
        self.board.set_filter("")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.board.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("-open")
        self.query_one(BoardTable).focus()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#board-filter", Input)
        if box.has_focus and event.key == "escape":
            self.action_clear_filter()
            event.stop()


class ServiceScreen(Screen[None]):
    """One service's dashboard, opened from the board (Enter); Escape returns to the board. The
    same widgets as the single-service console, fed from the board's frames of this service."""

    DEFAULT_CSS = """
    ServiceScreen { layout: vertical; }
    ServiceScreen #header { height: 1; }
    ServiceScreen #panels { height: auto; }
    ServiceScreen #panels > ColourPanel { width: 1fr; }
    ServiceScreen #log { height: 1fr; min-height: 3; }
    """
    BINDINGS = [
        Binding("escape", "back", "Board"),
        *SERVICE_KEYS,
    ]

    def action_why(self) -> None:
        app = board_of(self)
        app.why(self.service)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.service = name

    def compose(self) -> ComposeResult:
        yield from dashboard_widgets()

    def on_mount(self) -> None:
        app = board_of(self)
        log = self.query_one(ActionLog)
        for clock, level, text in app.watched[self.service].log:
            log.add(clock, level, text)
        app.draw_service(self)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_act(self, action: str) -> None:
        app = board_of(self)
        app.act(self.service, action)


class BoardHelp(Dialog[None]):
    DEFAULT_CSS = """
    BoardHelp { align: center middle; }
    BoardHelp > Static { width: 80; max-width: 98%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface; }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]
    TEXT = """\
[b]The board[/b]: one row per service, trouble first
(critical, warning, baking, then the rest)
  [b]↑ ↓[/b] / [b]j k[/b]  select        [b]/[/b]  filter by name ([b]Esc[/b] clears)
  [b]Enter[/b]    open the service's dashboard ([b]Esc[/b] returns)
  [b]s d r[/b]    switch, drain (or ready), roll back the selected service,
           with its dashboard's preflight, confirmation and audit
  [b][ ][/b]      10 points more traffic to blue / green
  [b]w[/b]        why its alarms fired
  [b]Ctrl+P[/b]   services and actions by name   [b]?[/b] this help   [b]q[/b] quit
Columns: live colour and weights (blue/green %), bake with time left,
the worst alarm, the live colour's req/s, error % and p99 with its
error % trend, and the data's age."""

    def compose(self) -> ComposeResult:
        yield Static(self.TEXT)


class BoardCommands(Provider):
    """Ctrl+P: open, switch, drain or roll back any service by name."""

    VERBS = (
        ("open", "Open"),
        ("switch", "Switch"),
        ("drain", "Drain/ready"),
        ("rollback", "Rollback"),
        ("why", "Why"),
    )

    def _commands(self) -> list[tuple[str, Callable[[], None], str]]:
        app = board_of(self)
        out: list[tuple[str, Callable[[], None], str]] = []
        for name in sorted(app.watched):
            for verb, label in self.VERBS:
                if verb not in ("open", "why") and app.opts.read_only:
                    continue
                if verb in ("open", "why"):
                    run = partial(app.open_service if verb == "open" else app.why, name)
                else:
                    run = partial(app.act, name, verb)
                out.append((f"{label} {name}", run, f"{label.lower()} the service {name}"))
        return out

    async def discover(self) -> Hits:
        for text, run, help_text in self._commands():
            yield DiscoveryHit(text, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, run, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, help=help_text)

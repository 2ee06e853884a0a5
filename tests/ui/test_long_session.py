"""A console left open all night: opening and closing dialogs must not leave anything behind.

Textual 8.2 keeps the watchers registered by ``data_bind`` after their widget is removed (upstream
issue Textualize/textual#6666); the Footer's keys are bound that way and the footer is rebuilt each
time a dialog opens or closes. See ``widgets/key_footer.py`` for the workaround this test guards.
"""

from __future__ import annotations

import gc
import weakref

from textual._styles_cache import StylesCache
from textual.widget import Widget
from textual.widgets import Static

from console.screens import ConfirmScreen, HelpScreen, WhyScreen
from tests.support.pilot import demo_app, poll, press

SIZE = (100, 30)
CYCLES = 20  # per dialog: one cycle leaked 12 widgets, so 20 show any leak; each costs ~1 s
DIALOGS = {
    "help": ("question_mark", "escape"),
    "confirm switch, declined": ("s", "n"),
    "why": ("w", "escape"),
}


def live_widgets(others: weakref.WeakSet) -> int:
    """Widgets alive in this process, less ``others`` (those of earlier tests, freed at any time)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Widget) and o not in others)


def registered_watchers(app) -> int:
    """Every watcher registered through ``watch`` / ``data_bind`` on the app and on any node of any
    screen on the stack (Textual keeps them in each watched object's ``__watchers`` mapping)."""
    nodes = [app]
    for screen in app.screen_stack:
        nodes.extend(screen.walk_children(with_self=True))
    return sum(
        len(callbacks) for node in nodes for callbacks in getattr(node, "__watchers", {}).values()
    )


async def test_opening_and_closing_every_dialog_leaves_no_widget_or_watcher_behind(tmp_path):
    gc.collect()
    others = weakref.WeakSet(o for o in gc.get_objects() if isinstance(o, Widget))
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        for keys in DIALOGS.values():  # one warm-up round: first-use caches are not a leak
            await press(pilot, *keys)
        widgets, watchers = live_widgets(others), registered_watchers(app)
        for name, keys in DIALOGS.items():
            for _ in range(CYCLES):
                await press(pilot, *keys)
            assert len(app.screen_stack) == 1, name
            now = live_widgets(others), registered_watchers(app)
            # flat: nothing grows (a dialog closed just before the baseline may be freed since)
            assert now[0] <= widgets and now[1] <= watchers, (f"after {CYCLES} × {name}", now)


def styles_caches(others: weakref.WeakSet) -> int:
    """Per-widget caches of rendered lines alive in this process, less ``others``."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, StylesCache) and o not in others)


async def test_dialogs_leave_no_rendered_lines_of_removed_widgets_behind(tmp_path):
    # Textual memoises StylesCache.get_inner_outer in an lru_cache(1024) whose keys hold the cache
    # of rendered lines of every widget drawn lately, removed ones too: each dialog and each
    # rebuilt footer left its lines in memory (and in every full garbage collection) until a
    # thousand more widgets had been drawn.
    gc.collect()
    others = weakref.WeakSet(o for o in gc.get_objects() if isinstance(o, StylesCache))
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        for keys in DIALOGS.values():  # warm-up round
            await press(pilot, *keys)
        await poll(pilot, 1)
        before = styles_caches(others)
        for _ in range(10):
            for keys in DIALOGS.values():
                await press(pilot, *keys)
        await poll(pilot, 1)
        assert styles_caches(others) <= before, "rendered lines of removed widgets are kept"


async def test_a_dialog_shown_again_shows_the_new_content_from_the_top(tmp_path):
    # Each dialog is built once and shown again: what it shows must be what a new one would show.
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=(80, 24)) as pilot:
        await poll(pilot, 2)
        for keys in (("s", "n"), ("d", "n"), ("s", "n"), ("right_square_bracket", "n"), ("d",)):
            await press(pilot, keys[0])
            assert isinstance(app.screen, ConfirmScreen), keys
            plan = app.screen.plan
            shown = [str(w.render()) for w in app.screen.query(Static)]
            assert shown[0] == plan.title and shown[-1].endswith("n cancel"), shown
            assert shown[1:-1] == [f"• {line}" for line in plan.lines], (keys, shown)
            await press(pilot, *keys[1:])
        await press(pilot, "n")
        for _ in range(2):
            await press(pilot, "question_mark")
            box = app.screen.query_one("#help")
            assert isinstance(app.screen, HelpScreen) and box.scroll_y == 0
            await press(pilot, "end")
            assert box.scroll_y == box.max_scroll_y > 0
            await press(pilot, "escape")
        await press(pilot, "w")
        first = app.screen.text
        await press(pilot, "escape")
        await poll(pilot, 3)
        await press(pilot, "w")
        assert isinstance(app.screen, WhyScreen)
        assert str(app.screen.query_one("#why--text", Static).render()) == app.screen.text
        assert app.screen.query_one("#why").scroll_y == 0 and app.screen.text != first


async def test_the_dimmed_dashboard_behind_a_dialog_is_the_one_textual_draws(tmp_path):
    # console.screens.Backdrop draws the dashboard behind a dialog from its composited lines (the
    # Rich round trip of Textual's BackgroundScreen cost most of a dialog's first frame); what the
    # operator sees must be the same, segment for segment, whatever the dashboard shows.
    from textual.renderables.background_screen import BackgroundScreen
    from textual.visual import Visual, visualize

    from console.screens import Backdrop

    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 8)
        for keys in DIALOGS.values():
            await press(pilot, keys[0])
            for _ in range(2):  # as the dialog opens, and after a poll that changed the dashboard
                dialog, behind = app.screen, app.screen_stack[0]
                color, (width, height) = dialog.styles.background, dialog.size
                ours, textuals = (
                    Visual.to_strips(dialog, visual, width, height, dialog.visual_style)
                    for visual in (
                        Backdrop(behind, color),
                        visualize(dialog, BackgroundScreen(behind, color)),
                    )
                )
                assert [list(s) for s in ours] == [list(s) for s in textuals], keys
                assert len(ours) == height and any("LIVE" in s.text for s in ours)
                await poll(pilot, 1)
            await press(pilot, *keys[1:])


async def test_a_dialog_draws_the_dashboard_behind_it_once_per_change(tmp_path, monkeypatch):
    # Textual 8.2 handed each change of the screen under a dialog to the dialog again at every
    # message that screen handled, and refreshed the whole of it as the dialog was pushed: the
    # dialog drew the whole dimmed dashboard three times on opening and again after each change,
    # the same picture each time (console.screens.DashboardScreen).
    from console.screens import Backdrop

    drawn = 0
    draw = Backdrop.render_strips

    def counted(self, *args, **kwargs):
        nonlocal drawn
        drawn += 1
        return draw(self, *args, **kwargs)

    monkeypatch.setattr(Backdrop, "render_strips", counted)
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        for keys in DIALOGS.values():  # warm-up round
            await press(pilot, *keys)
        for open_key, *close_keys in DIALOGS.values():
            drawn = 0
            await press(pilot, open_key)
            for _ in range(5):  # messages handled by the dashboard, nothing changed on it
                await pilot.pause(0.02)
            assert drawn == 1, (open_key, drawn)
            await poll(pilot, 1)  # the dashboard changes under the dialog: drawn again, once
            for _ in range(5):
                await pilot.pause(0.02)
            assert drawn == 2, (open_key, drawn)
            await press(pilot, *close_keys)


async def test_the_dashboard_drawn_again_as_a_dialog_closes_is_the_one_textual_draws(tmp_path):
    # As a dialog closes the dashboard is drawn whole again from its lines as last drawn, with the
    # rows that changed under the dialog composited again (console.screens.DashboardScreen): what
    # the operator sees must be what Textual composites from every widget.
    from textual._compositor import LayoutUpdate
    from textual.strip import Strip

    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    frames: list[tuple[list[Strip], list[Strip]]] = []  # (drawn, composited at that moment)
    shown = app._display

    def display(screen, update):
        shown(screen, update)
        if isinstance(update, LayoutUpdate):
            drawn = [Strip.join(line) for line in update.strips]
            frames.append((drawn, screen._compositor.render_strips()))

    app._display = display
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 3)
        for keys in DIALOGS.values():
            for polls in (0, 2):  # closed at once, and after polls that changed the dashboard
                await press(pilot, keys[0])
                await poll(pilot, polls)
                frames.clear()
                await press(pilot, *keys[1:])
                assert len(app.screen_stack) == 1 and frames, keys
                for drawn, composited in frames:
                    assert [list(s) for s in drawn] == [list(s) for s in composited], keys


async def test_a_declined_confirmation_is_drawn_once_with_its_cancellation(tmp_path, monkeypatch):
    # The dialog closed, Textual drew the dashboard back, then a frame later the same dashboard
    # with "cancelled" in the log (written once the audit record was, in a thread): two frames and
    # a wait for one answer. Now nothing is drawn until the cancellation is logged (at most
    # BlueGreenApp.HOLD; a long one here, so that a loaded machine cannot make this test flaky).
    from console.app import BlueGreenApp
    from widgets import ActionLog

    monkeypatch.setattr(BlueGreenApp, "HOLD", 10.0)
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    first: list[str] = []
    shown = app._display

    def display(screen, update):
        shown(screen, update)
        if update is not None and not first:
            first.append(app.query_one(ActionLog).lines_text[-1])

    app._display = display
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        for _ in range(2):
            await press(pilot, "s")
            assert isinstance(app.screen, ConfirmScreen)
            first.clear()
            await press(pilot, "n")
            assert len(app.screen_stack) == 1 and app.busy is None
            assert first and first[0].endswith("switch: cancelled"), first

"""A console left open all night: opening and closing dialogs must not leave anything behind.

Textual 8.2 keeps the watchers registered by ``data_bind`` after their widget is removed (upstream
issue Textualize/textual#6666); the Footer's keys are bound that way and the footer is rebuilt each
time a dialog opens or closes. See ``widgets/key_footer.py`` for the workaround this test guards.
"""

from __future__ import annotations

import gc
import weakref

from textual.widget import Widget

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

"""Keystrokes while a backend is frozen (issue 13): the panel's error line changes at every poll
("an earlier call has not returned after 2s", "... 3s") but wraps to as many rows, so the dashboard
is repainted where it changed, never laid out again: a relayout under an open dialog redrew the whole
screen behind it, which is where the slow presses of the help screen went."""

from __future__ import annotations

from console.screens import DashboardScreen, HelpScreen
from tests.support.pilot import demo_app, poll, press


async def test_a_hung_router_relays_out_nothing_under_the_help_screen(tmp_path):
    app = demo_app("healthy", audit_path=tmp_path / "audit.jsonl")
    world = None
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await poll(pilot, 2)
            world = app.runtime.router.world
            world.hang_timeout = 30.0  # a hang guard: released when the test ends
            world.set_fault("router", "hang")
            await poll(pilot, 2)  # the first hung call, then the guard's "has not returned"
            await press(pilot, "question_mark")
            assert isinstance(app.screen, HelpScreen)
            dashboard = app.screen_stack[0]
            assert isinstance(dashboard, DashboardScreen)
            layouts = []
            real = dashboard._refresh_layout

            def counted(*args, **kwargs):
                layouts.append(args)
                return real(*args, **kwargs)

            dashboard._refresh_layout = counted  # type: ignore[method-assign]
            errors = set()
            for _ in range(3):
                await poll(pilot, 1, step=1.0)
                errors.add(app.frame.snapshot.router_error if app.frame else None)
                await pilot.pause(1.05)  # the guard's "after Ns" counts in real seconds
            assert len(errors) >= 2, errors  # the error line did change from poll to poll
            assert layouts == []
    finally:
        if world is not None:
            world.release("router")

"""``bluegreen replay``: a recorded bad release (switch, alarm, failed bake, rollback) drawn again by
the live app, frame for frame, its events one key apart; every key of the replay; action keys
refused; ages and countdowns on the recording's clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backends.base import Colour
from console.model import BakeVerdict, Level
from console.screens import ConfirmScreen, HelpScreen
from tests.support.pilot import START, press, settle
from tests.support.recordings import as_recorded, close_replay, record_release, replay_app
from widgets import ActionLog, BakeTimer, StatusHeader

GREEN = Colour.GREEN
SIZE = (100, 30)


@pytest.fixture
def recording(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGNAME", "ops")  # the operator the audit log (and the recording) names
    path = tmp_path / "rec.sqlite"
    live = record_release(path)
    return path, live


def _header(app) -> str:
    return app.query_one(StatusHeader).view.replay


def _log(app) -> list[str]:
    return list(app.query_one(ActionLog).lines_text)


def _without_router_figures(frame):
    """The router state as recorded: without the router's own figures (they are in the poll) and
    each server's session count (not recorded since schema 2: no screen shows it)."""
    r = frame.snapshot.router
    return replace(
        r,
        colours={
            c: replace(
                cs, metrics=None, servers=tuple(replace(s, sessions=None) for s in cs.servers)
            )
            for c, cs in r.colours.items()
        },
    )


async def test_the_replay_draws_the_live_frames_and_its_events_are_one_key_apart(recording):
    path, live = recording
    app = replay_app(path)
    applied = []
    draw = app.apply_frame

    def spy(frame):
        applied.append(frame)
        draw(frame)

    app.apply_frame = spy  # the one way a frame reaches the screen, live or replayed
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.cursor == 0 and "❚❚" in _header(app)
            for _ in range(len(live) - 1):
                await pilot.press("right")
            await settle(pilot)
            assert len(applied) == len(live)
            for a, b in zip(live, applied, strict=True):
                assert b.snapshot.time == pytest.approx(a.snapshot.time, abs=0.002)
                assert b.snapshot.router == _without_router_figures(a)
                assert b.alarms.states == as_recorded(a.alarms.states)  # evidence: when firing
                assert b.bake == a.bake
                assert b.last_switch == a.last_switch
                assert b.snapshot.external_change == a.snapshot.external_change
            assert "■ end" in _header(app)
    finally:
        close_replay(app)

    # From the start again: n goes event by event.
    app = replay_app(path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.frame.snapshot.live == Colour.BLUE
            await press(pilot, "n")  # the switch: its read-back, green live, the bake started
            assert app.frame.snapshot.live == GREEN
            assert app.frame.bake.verdict == BakeVerdict.BAKING
            assert "switched shop blue → green" in _log(app)[-2] + _log(app)[-1]
            assert "(by ops)" in "".join(_log(app))
            await press(pilot, "n")  # green's errors: the critical alarm, the bake fails with it
            assert [a.level for a in app.frame.alarms.firing] == [Level.CRITICAL]
            assert app.frame.bake.verdict == BakeVerdict.FAILED
            assert "CRITICAL green error" in _log(app)[-2]
            assert "BAKE FAILED green" in _log(app)[-1]
            await press(pilot, "n")  # the rollback
            assert app.frame.snapshot.live == Colour.BLUE
            assert "rolled shop back green → blue" in "\n".join(_log(app)[-2:])
            await press(
                pilot, "n"
            )  # green's alarm ends after the rollback: no traffic, not recovered
            assert "green error % alarm ended: green has no traffic now" in _log(app)[-1]
            await press(pilot, "n")  # blue's bake passes
            assert app.frame.bake.verdict == BakeVerdict.PASSED
            assert "BAKE PASSED blue" in _log(app)[-1]
            await press(pilot, "n")
            assert "no next event" in _log(app)[-1]
            # ... and back, one press each
            await press(pilot, "p")
            assert "alarm ended: green has no traffic now" in _log(app)[-1]
            await press(pilot, "p")
            assert app.frame.snapshot.live == Colour.BLUE and app.frame.snapshot.time == (
                pytest.approx(START + 51.001, abs=0.002)
            )
            await press(pilot, "p")
            assert app.frame.bake.verdict == BakeVerdict.FAILED
            # stepping back rebuilt the log: nothing after the cursor's time is in it
            assert not any("rolled" in line or "PASSED" in line for line in _log(app))
            await press(pilot, "p")
            assert app.frame.snapshot.live == GREEN
            assert app.frame.bake.verdict == BakeVerdict.BAKING
            await press(pilot, "p")
            assert "no previous event" in _log(app)[-1]
    finally:
        close_replay(app)


async def test_stepping_back_shows_the_sparklines_as_they_were(recording):
    path, live = recording
    app = replay_app(path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for _ in range(40):
                await pilot.press("right")
            await settle(pilot)
            at_40 = app.history.series(GREEN, "error_pct")
            assert len(at_40) == 41
            await press(pilot, "right", "right", "right", "left", "left", "left")
            assert app.cursor == 40
            assert app.history.series(GREEN, "error_pct") == at_40
            expected = [f.snapshot.colour_metrics(GREEN).error_pct for f in live[:41]]
            assert [
                pytest.approx(v, abs=0.001) if v is not None else None for v in expected
            ] == list(at_40)
            # the header's clock is the recording's, and so are the ages and countdowns
            assert app.query_one(StatusHeader).view.clock == "01 Jan 12:00:40"
            assert app.query_one(StatusHeader).view.since_switch == "29s"
            remaining = app.query_one(BakeTimer).view.remaining_s
            assert remaining == pytest.approx(0.0) or app.frame.bake.verdict != BakeVerdict.BAKING
    finally:
        close_replay(app)


async def test_the_bake_countdown_runs_on_the_recorded_clock(recording):
    path, _ = recording
    app = replay_app(path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await press(pilot, "n")  # the switch's read-back: a 30 s bake has just begun
            assert app.query_one(BakeTimer).view.remaining_s == pytest.approx(30.0, abs=0.01)
            await press(pilot, "right", "right", "right", "right", "right")
            assert app.query_one(BakeTimer).view.remaining_s == pytest.approx(25.0, abs=0.01)
            assert app.query_one(StatusHeader).view.since_switch == "5s"
    finally:
        close_replay(app)


async def test_space_pauses_and_resumes(recording):
    path, _ = recording
    app = replay_app(path, speed=2, play=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(300):  # a hang guard, not a timing assertion: playback moves on its own
                await pilot.pause(0.05)
                if app.cursor >= 2:
                    break
            assert app.cursor >= 2 and "▶ 2x" in _header(app)
            await press(pilot, "space")
            assert not app.playing and "❚❚ 2x" in _header(app)
            at = app.cursor
            await pilot.pause(0.3)
            assert app.cursor == at  # paused: nothing moves
            await press(pilot, "space")
            assert app.playing and "▶" in _header(app)
    finally:
        close_replay(app)


async def test_plus_and_minus_change_the_speed_from_1x_to_60x(recording):
    path, _ = recording
    app = replay_app(path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            seen = []
            for _ in range(7):
                await press(pilot, "plus")
                seen.append(_header(app).split()[-1])
            assert seen == ["2x", "5x", "10x", "30x", "60x", "60x", "60x"]
            await press(pilot, "minus", "minus")
            assert _header(app) == "REPLAY ❚❚ 10x"
            for _ in range(6):
                await press(pilot, "minus")
            assert _header(app) == "REPLAY ❚❚ 1x"
    finally:
        close_replay(app)


@pytest.mark.parametrize("key", ["s", "d", "r", "left_square_bracket", "right_square_bracket"])
async def test_every_action_key_is_refused_as_in_a_replay(recording, key):
    path, _ = recording
    app = replay_app(path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await press(pilot, "n")  # green live: s, d and r would all have something to do
            await press(pilot, key)
            assert not isinstance(app.screen, ConfirmScreen)
            assert app.busy is None
            assert _log(app)[-1].endswith(
                "replay: actions are disabled (this is a recording: nothing here reaches a router)"
            )
    finally:
        close_replay(app)


async def test_the_help_names_the_replay_keys_and_they_wait_while_it_is_open(recording):
    path, _ = recording
    app = replay_app(path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await press(pilot, "question_mark")
            assert isinstance(app.screen, HelpScreen)
            text = app.screen._text
            assert "next / previous event" in text and "faster / slower" in text
            assert "REPLAY: actions are disabled" in text
            await press(pilot, "right", "n")
            assert app.cursor == 0  # the help has the keys while it is open
            await press(pilot, "escape")
            await press(pilot, "right")
            assert app.cursor == 1
    finally:
        close_replay(app)


async def test_from_starts_at_that_poll_with_the_history_before_it(recording):
    path, live = recording
    app = replay_app(path, start=START + 30)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.frame.snapshot.time == pytest.approx(START + 30)
            assert len(app.history.series(GREEN, "rate")) == 31  # 30 polls and the read-back
            assert any("switched shop" in line for line in _log(app))
    finally:
        close_replay(app)


async def test_a_damaged_recording_replays_what_is_left_with_a_warning(tmp_path):
    path = tmp_path / "rec.sqlite"
    record_release(path, polls=1500, rollback_at=None)
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size * 2 // 3)
    from console.recorder import RecordingError

    try:
        app = replay_app(path)
    except RecordingError as exc:  # the damage hit the schema: the CLI says so in one line
        assert "damaged" in str(exc)
        return
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.frame is not None
            assert "damaged recording" in app.query_one(StatusHeader).view.notice
            assert any("damaged" in line for line in _log(app))
            await press(pilot, "n", "right", "left")
            assert app.frame is not None
    finally:
        close_replay(app)


async def test_polls_the_file_cannot_give_back_are_passed_over_never_a_hang(recording):
    path, live = recording
    app = replay_app(path)
    real = app.recording.frames
    lost = {round(f.snapshot.time, 3) for f in live[20:24]}  # polls 20-23: unreadable

    def frames(svc, start=None, end=None):
        return (f for f in real(svc, start, end) if round(f.snapshot.time, 3) not in lost)

    app.recording.frames = frames
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for _ in range(30):
                await pilot.press("right")
            await settle(pilot)
            assert app.cursor == 30
            await press(pilot, "left", "left", "left", "left", "left", "left", "left", "left")
            # back to 22 (lost): the poll before it that could be read is drawn
            assert app.frame is live[19] or app.frame.snapshot.time == pytest.approx(
                live[19].snapshot.time, abs=0.002
            )
    finally:
        close_replay(app)


async def test_the_chart_in_a_replay_reads_the_recording_up_to_the_recorded_time(recording):
    from tests.support.recorded import wait_for_chart

    path, live = recording
    app = replay_app(path, play=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for _ in range(3):  # the switch, the alarm (and the failed bake), the rollback
                await press(pilot, "n")
            await pilot.press("c")
            screen = await wait_for_chart(pilot)
            title = screen.result.title
            assert "in memory" not in title  # read from the file being replayed
            kinds = {m.kind for m in screen.result.view.markers}
            assert {"switch", "rollback"} <= kinds, kinds
            assert screen.result.view.end == pytest.approx(app.frame.snapshot.time, abs=1.5)
    finally:
        close_replay(app)

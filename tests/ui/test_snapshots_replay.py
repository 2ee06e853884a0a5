"""Snapshot of the replay screen: a recorded bad release, replayed to green's critical alarm (the
header says REPLAY and the recorded time; the log shows the switch by its operator, the alarm and
the failed bake). After an intended UI change: `pytest --snapshot-update`, then look at the SVG."""

from __future__ import annotations

from tests.support.recordings import close_replay, record_release, replay_app, scene_replay_alarm
from tests.support.scenes import SIZE


def test_replay_at_a_firing_alarm(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("LOGNAME", "ops")  # the operator the recording names, on every machine
    path = tmp_path / "rec.sqlite"
    record_release(path)
    app = replay_app(path)
    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=scene_replay_alarm)
    finally:
        close_replay(app)

"""The flight recorder: what a session records reads back as the frames the console drew, with its
events in order; bad files and disk faults give a clear word and never stop the console."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from backends.base import Colour
from console.actions import ActionController
from console.audit import AuditLog
from console.model import BakeVerdict, Frame, Level
from console.monitor import Monitor
from console.recorder import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    Recorder,
    RecordingError,
)
from console.recording import Recording
from tests.conftest import make_runtime
from tests.support.disk import fill, small_filesystem
from tests.support.recordings import as_recorded
from tests.support.recordings import record_session as record_actions

GREEN = Colour.GREEN


def record_session(
    clock, path: Path, scenario: str = "bad-release", polls: int = 120, switch_at: int = 10
):
    """Poll the demo service ``polls`` times a second apart, switching at ``switch_at``; record it.
    Returns the frames the console would have drawn, in order."""
    return record_actions(clock, path, {switch_at: "switch"}, scenario=scenario, polls=polls)


def _without_router_figures(frame: Frame):
    r = frame.snapshot.router
    if r is None:
        return None
    return replace(
        r,
        colours={
            c: replace(
                cs,
                metrics=None,
                servers=tuple(replace(s, sessions=None) for s in cs.servers),
            )
            for c, cs in r.colours.items()
        },
    )


def test_a_recorded_session_reads_back_as_the_frames_the_console_drew(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    live = record_session(clock, path)
    with Recording(path) as rec:
        svc = rec.service("shop")
        replayed = list(rec.frames(svc))
    assert len(replayed) == len(live)  # the action's read-back too, a millisecond after its poll
    for a, b in zip(live, replayed, strict=True):
        assert b.snapshot.time == pytest.approx(a.snapshot.time, abs=0.002)
        assert b.snapshot.router == _without_router_figures(a)  # and per-server session counts
        # levels, thresholds, values and the banner lines; the evidence of firing or pending alarms
        # (an idle rule's counts are not recorded: they would change the blob at every poll)
        assert b.alarms.states == as_recorded(a.alarms.states)
        assert b.bake == a.bake
        assert b.last_switch == a.last_switch
        assert b.snapshot.external_change == a.snapshot.external_change
        for c in (Colour.BLUE, GREEN):
            ma, mb = a.snapshot.colour_metrics(c), b.snapshot.colour_metrics(c)
            assert mb.rate == pytest.approx(ma.rate, abs=0.005) if ma.rate is not None else True
            assert mb.error_pct == pytest.approx(ma.error_pct, abs=0.0005) if ma.error_pct else True
            assert mb.notes == ma.notes
        assert [(e.alarm.rule, e.alarm.level, e.previous) for e in b.alarms.events] == [
            (e.alarm.rule, e.alarm.level, e.previous) for e in a.alarms.events
        ]
    # The bad release: the critical alarm on green fails the bake, and the replay says so too.
    assert any(f.bake.verdict == BakeVerdict.FAILED for f in replayed)
    assert any(a.level == Level.CRITICAL for f in replayed for a in f.alarms.states)


def test_the_events_tell_the_story_in_order(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    record_session(clock, path)
    with Recording(path) as rec:
        svc = rec.service()
        events = rec.events(svc)
        bakes = rec.bakes(svc)
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["action", "bake"], kinds  # the switch, then its bake window
    action = events[0]
    assert action.level == "ok" and "blue → green" in action.message
    assert action.data["audit_id"] and action.data["operator"]  # the audit log's record, referenced
    raised = [e for e in events if e.kind == "alarm" and e.data.get("change") == "raised"]
    assert raised and raised[0].colour == "green" and raised[0].metric == "error_pct"
    assert raised[0].value is not None and raised[0].value > raised[0].threshold
    verdict = [e for e in events if e.kind == "bake" and e.level == "failed"]
    assert len(verdict) == 1 and verdict[0].t >= raised[0].t
    assert len(bakes) == 1 and bakes[0].verdict == "failed" and bakes[0].colour == "green"
    assert "error %" in (bakes[0].reason or "")
    assert [e.t for e in events] == sorted(e.t for e in events)


def test_a_series_keeps_a_spike_at_any_zoom(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    frames = record_session(clock, path, polls=90)
    start, end = frames[0].snapshot.time, frames[-1].snapshot.time
    top = max(f.snapshot.colour_metrics(GREEN).error_pct or 0 for f in frames)
    with Recording(path) as rec:
        svc = rec.service()
        for buckets in (3, 10, 90):
            series = rec.series(svc, "error_pct", start, end, buckets)
            assert len(series[GREEN]) == buckets
            highs = [b.high for b in series[GREEN] if b.high is not None]
            assert max(highs) == pytest.approx(top, abs=0.001)  # min/max: never averaged away


def test_a_second_session_appends_and_both_are_listed(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    record_session(clock, path, polls=20)
    record_session(clock, path, polls=20, switch_at=5)
    with Recording(path) as rec:
        assert [s["command"] for s in rec.sessions()] == ["test", "test"]
        assert all(s["ended"] is not None for s in rec.sessions())
        assert rec.service().polls == 42  # 2 x (20 polls + one action read-back)


# ------------------------------------------------------------------ bad files


def test_a_file_from_a_newer_bluegreen_is_refused_with_the_fix(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    record_session(clock, path, polls=3)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="newer bluegreen.*upgrade"):
        Recording(path)
    # ... and a console recording into it turns recording off, saying why, and never raises
    rec = Recorder(path, command="test", wall=clock).start()
    rec.flush()
    rec.close()
    assert rec.problem and "newer bluegreen" in rec.problem


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty file"),
        (b"this is the audit log, not a recording\n" * 50, "not a bluegreen recording"),
    ],
)
def test_a_file_that_is_not_a_recording_says_what_it_is(tmp_path, content, words):
    path = tmp_path / "x.sqlite"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=words):
        Recording(path)


def test_another_sqlite_file_is_named_as_foreign(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="SQLite file, but not a bluegreen recording"):
        Recording(path)
    with pytest.raises(RecordingError, match="no such recording"):
        Recording(tmp_path / "missing.sqlite")


def test_a_truncated_recording_reads_what_is_left(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    record_session(clock, path, polls=1500)  # enough pages that a cut leaves some polls
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size * 2 // 3)
    try:
        rec = Recording(path)
    except RecordingError as exc:  # the damage hit the schema itself: a clear word, no traceback
        assert "damaged" in str(exc)
        return
    with rec:
        svc = rec.service()
        frames = list(rec.frames(svc))
    assert 0 < len(frames) < 1501
    assert rec.damage and "damaged" in rec.damage


def test_an_unwritable_path_turns_recording_off_and_the_caller_carries_on(clock, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    rec = Recorder(blocker / "rec.sqlite", command="test", wall=clock).start()
    rt = make_runtime(clock)
    try:
        mon = Monitor(rt)
        for _ in range(3):
            clock.advance(1)
            rec.frame(mon.poll(), rt.router.identity)  # never raises
        rec.flush()
    finally:
        rec.close()
        rt.close()
    assert rec.problem and rec.problem.startswith("recording off:")
    assert str(blocker) in rec.problem and "--record PATH" in rec.problem


def test_a_full_disk_turns_recording_off_with_the_right_advice(clock, tmp_path):
    with small_filesystem(tmp_path / "fs", "1m") as fs:
        rt = make_runtime(clock)
        rec = Recorder(fs / "rec.sqlite", command="test", wall=clock).start()
        try:
            mon = Monitor(rt)
            clock.advance(1)
            rec.frame(mon.poll(), rt.router.identity)
            assert rec.flush() and rec.problem is None
            fill(fs)
            for _ in range(200):  # bounded: the WAL grows until the disk refuses a page
                clock.advance(1)
                rec.frame(mon.poll(), rt.router.identity)
                rec.flush()
                if rec.problem:
                    break
        finally:
            rec.close()
            rt.close()
        assert rec.problem and "disk is full" in rec.problem
        assert "permissions" not in rec.problem


V1_SCHEMA = """
CREATE TABLE sessions (id INTEGER PRIMARY KEY, started REAL NOT NULL, ended REAL,
    command TEXT NOT NULL, operator TEXT NOT NULL, pid INTEGER NOT NULL, audit_log TEXT);
CREATE TABLE services (id INTEGER PRIMARY KEY, name TEXT NOT NULL, router_kind TEXT NOT NULL,
    router_identity TEXT NOT NULL, settings TEXT NOT NULL, UNIQUE (name, router_identity));
CREATE TABLE blobs (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE polls (service INTEGER NOT NULL, session INTEGER NOT NULL, t INTEGER NOT NULL,
    mono INTEGER NOT NULL, state INTEGER, router_age INTEGER, metrics_age INTEGER,
    router_error INTEGER, metrics_error INTEGER, extra INTEGER, alarms INTEGER, bake INTEGER,
    blue_rate, blue_error_pct, blue_latency_ms, blue_sessions,
    green_rate, green_error_pct, green_latency_ms, green_sessions,
    PRIMARY KEY (service, session, t)) WITHOUT ROWID;
CREATE INDEX polls_by_time ON polls (service, t);
CREATE TABLE events (id INTEGER PRIMARY KEY, service INTEGER NOT NULL, session INTEGER NOT NULL,
    t REAL NOT NULL, kind TEXT NOT NULL, colour TEXT, metric TEXT, level TEXT, value REAL,
    threshold REAL, message TEXT NOT NULL, data TEXT);
CREATE TABLE bakes (id INTEGER PRIMARY KEY, service INTEGER NOT NULL, colour TEXT NOT NULL,
    started REAL NOT NULL, duration REAL NOT NULL, verdict TEXT, reason TEXT, decided REAL,
    session INTEGER NOT NULL);
"""


def test_a_schema_1_recording_is_migrated_and_keeps_what_it_held(clock, tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 1")
    base = clock() - 600  # a session ten minutes ago: within the retention
    db.execute("INSERT INTO sessions VALUES (1, ?, ?, 'watch', 'old@host', 1, NULL)", (base, base))
    db.execute("INSERT INTO services VALUES (1, 'shop', 'simulator', 'simulator', '{}')")
    for i in range(3):  # schema 1 kept the plain monotonic reading
        db.execute(
            "INSERT INTO polls (service, session, t, mono, green_rate) VALUES (1, 1, ?, ?, 500)",
            (int(base * 1000) + 1000 * i, 7_000 + 1000 * i),
        )
    db.execute(
        "INSERT INTO bakes VALUES (1, 1, 'green', ?, 60, 'failed', 'CRITICAL ...', ?, 1)",
        (base, base + 5),
    )
    db.commit()
    db.close()
    record_session(clock, path, polls=40)  # opens, migrates and appends
    with Recording(path) as rec:
        svc = rec.service("shop")
        assert rec.version == SCHEMA_VERSION
        assert svc.polls == 3 + 41
        old = list(rec.frames(svc, base - 1, base + 3))
        assert [f.snapshot.mono_time for f in old] == [7.0, 8.0, 9.0]
        assert old[0].snapshot.colour_metrics(GREEN).rate == 5.0
        bakes = rec.bakes(svc)
    assert (bakes[0].verdict, bakes[0].decided_by) == ("failed", None)
    assert bakes[-1].decided_by  # the new session's window: who decided it


def test_a_replay_without_from_starts_where_the_newest_session_began(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    first = record_session(clock, path, polls=20)
    clock.advance(3600)  # an hour later, the demo is run again into the same file
    second = record_session(clock, path, polls=20, switch_at=5)
    with Recording(path) as rec:
        rec.only_session(rec.pick_session(rec.service()))  # what replay does without --from
        start = rec.service().first
    assert start == pytest.approx(second[0].snapshot.time, abs=0.002)
    assert start > first[-1].snapshot.time


def test_a_file_another_console_holds_a_while_loses_nothing(clock, tmp_path):
    """Another console's start-up (its pruning of a big file) can hold the file past the busy
    timeout: the polls meanwhile are written with the next ones; recording stays on."""
    import threading

    path = tmp_path / "rec.sqlite"
    record_session(clock, path, polls=3)  # the file exists, in WAL mode
    rt = make_runtime(clock)
    rec = Recorder(path, command="test", wall=clock).start()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        mon = Monitor(rt)
        clock.advance(1)
        rec.frame(mon.poll(), rt.router.identity)
        assert rec.flush(10)
        other.execute("BEGIN IMMEDIATE")  # the other console's write transaction
        release = threading.Timer(6.0, lambda: other.execute("COMMIT"))
        release.start()
        for _ in range(3):  # polls while the file is held (one waits out the busy timeout)
            clock.advance(1)
            rec.frame(mon.poll(), rt.router.identity)
        release.join(10)
        clock.advance(1)
        rec.frame(mon.poll(), rt.router.identity)  # after: it goes in with the held ones
        assert rec.flush(20)
    finally:
        rec.close()
        rt.close()
        other.close()
    assert rec.problem is None
    with Recording(path) as r:
        assert r.service().polls == 3 + 5  # the first session's, and every one of this session's


def test_an_error_of_ours_in_the_writer_turns_recording_off_and_says_so(clock, tmp_path):
    rec = Recorder(tmp_path / "rec.sqlite", command="test", wall=clock).start()
    try:
        rec.frame("not a frame", "simulator")  # type: ignore[arg-type]
        rec.flush(10)
    finally:
        rec.close()
    assert rec.problem and "internal error" in rec.problem and "carry on" in rec.problem


def test_two_consoles_recording_at_once_are_read_one_session_at_a_time(clock, tmp_path):
    """Two consoles on one service, recording into one file at the same time: a replay or a report
    reads one of them (the newest by default), never both in turn with each event twice."""
    from console.report import build

    path = tmp_path / "rec.sqlite"
    rt = make_runtime(clock, "bad-release")
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    mons = [Monitor(rt, audit), Monitor(rt, audit)]
    recs = [Recorder(path, command="watch", wall=clock).start() for _ in mons]
    ctl = ActionController(rt, audit, mons[0].observe_action, command="test")
    try:
        for i in range(40):
            clock.advance(0.5)
            for mon, rec in zip(mons, recs, strict=True):
                rec.frame(mon.poll(), rt.router.identity)
            if i == 4:
                ctl.execute(ctl.plan("switch"))
        for rec in recs:
            assert rec.flush(10)
    finally:
        for rec in recs:
            rec.close()
        for mon in mons:
            mon.close()
        rt.close()
    with Recording(path) as r:
        svc = r.service()
        assert svc.polls == 80  # both consoles' polls are in the file
        chosen = r.pick_session(svc)
        assert chosen == max(s["id"] for s in r.sessions())
        r.only_session(chosen)
        svc = r.service()
        assert svc.polls == 40
        assert len(list(r.frames(svc))) == 40
        raised = [
            e for e in r.events(svc) if e.kind == "alarm" and e.data.get("change") == "raised"
        ]
        assert raised and len({(e.t, e.level) for e in raised}) == len(raised)  # none twice
        data = build(r, svc.name)
        kinds = [row.kind for row in data.rows]
        assert kinds.count("alarm raised") == len(raised)
        with pytest.raises(RecordingError, match="no session '9'"):
            r.pick_session(svc, "9")
        r.only_session(r.pick_session(svc, "all"))
        assert r.service().polls == 80


def test_a_server_down_alarm_replays_as_it_was_shown(clock, tmp_path):
    """The servers alarm (issue 11) is rebuilt from the recorded router state, word for word."""
    path = tmp_path / "rec.sqlite"
    live = record_actions(clock, path, {2: "switch"}, scenario="server-failure", polls=20)
    with Recording(path) as rec:
        replayed = list(rec.frames(rec.service("shop")))
    shown = [a.message for f in live for a in f.alarms.firing if a.metric == "servers"]
    assert shown and shown[-1].startswith("WARNING live green servers down: green-")
    for a, b in zip(live, replayed, strict=True):
        assert b.alarms.states == as_recorded(a.alarms.states)

"""``bluegreen replay`` on what is not a replayable recording: one clear line and exit 2, never a
traceback; ``--from`` in its three forms; no FILE opens the newest recording of the default place."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime

import pytest

from console import cli
from console.recorder import Recorder, RecordingError, service_settings
from console.replay import latest_recording, parse_from
from tests.conftest import make_runtime
from tests.support.pilot import START
from tests.support.recordings import record_release

FIRST, LAST = START + 1, START + 90


def run(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["replay", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def recorded(tmp_path):
    path = tmp_path / "rec.sqlite"
    record_release(path, polls=30, rollback_at=None)
    return path


def test_a_missing_file(capsys, tmp_path):
    code, err = run(capsys, str(tmp_path / "nope.sqlite"))
    assert code == 2
    assert "no such recording" in _one_line(err)


def test_an_empty_file(capsys, tmp_path):
    path = tmp_path / "empty.sqlite"
    path.write_bytes(b"")
    code, err = run(capsys, str(path))
    assert code == 2 and "empty file, not a recording" in _one_line(err)


def test_a_text_file(capsys, tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text('{"record": "outcome"}\n' * 100)
    code, err = run(capsys, str(path))
    assert code == 2 and "not a bluegreen recording" in _one_line(err)


def test_a_foreign_sqlite_file(capsys, tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    code, err = run(capsys, str(path))
    assert code == 2 and "SQLite file, but not a bluegreen recording" in _one_line(err)


def test_a_directory(capsys, tmp_path):
    code, err = run(capsys, str(tmp_path))
    assert code == 2 and "a directory, not a recording" in _one_line(err)


def test_a_recording_with_no_poll(capsys, tmp_path, clock):
    path = tmp_path / "rec.sqlite"
    rt = make_runtime(clock)
    rec = Recorder(path, command="test", wall=clock).start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
    assert rec.flush()
    rec.close()
    rt.close()
    code, err = run(capsys, str(path))
    assert code == 2 and "no poll of 'shop' was recorded" in _one_line(err)


def test_an_unknown_service(capsys, recorded):
    code, err = run(capsys, str(recorded), "--service", "cart")
    assert code == 2
    assert "no service named 'cart' in this recording; it holds: shop" in _one_line(err)


@pytest.mark.parametrize(
    "when, words",
    [("yesterday", "say an ISO time"), ("11:00", "outside the recording"), ("25:00", "not a time")],
)
def test_a_bad_from(capsys, recorded, when, words):
    code, err = run(capsys, str(recorded), "--from", when)
    assert code == 2 and words in _one_line(err)


@pytest.mark.parametrize("speed", ["0", "61", "fast"])
def test_a_bad_speed_is_a_usage_error(capsys, recorded, speed):
    with pytest.raises(SystemExit) as exc:
        cli.main(["replay", str(recorded), "--speed", speed])
    assert exc.value.code == 2
    assert "--speed" in capsys.readouterr().err


def test_from_in_its_three_forms():
    # the test session runs in UTC (tests/conftest.py): local time is UTC here
    assert parse_from("+5s", FIRST, LAST) == FIRST + 5
    assert parse_from("+1m10s", FIRST, LAST) == FIRST + 70
    assert parse_from("12:00:30", FIRST, LAST) == START + 30
    assert parse_from("12:01", FIRST, LAST) == START + 60
    assert parse_from("2026-01-01T12:00:45", FIRST, LAST) == START + 45
    assert parse_from("2026-01-01T13:00:45+01:00", FIRST, LAST) == START + 45
    with pytest.raises(ValueError, match="outside the recording"):
        parse_from("+2m", FIRST, LAST)
    with pytest.raises(ValueError, match="outside the recording"):
        parse_from("2025-12-31T12:00:00", FIRST, LAST)


def test_a_time_of_day_after_midnight_is_the_next_day():
    first = datetime(2026, 1, 1, 23, 50).timestamp()
    last = first + 3600
    assert parse_from("00:10", first, last) == datetime(2026, 1, 2, 0, 10).timestamp()


def test_no_file_opens_the_newest_recording_of_the_default_place(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    where = tmp_path / "state" / "bluegreen-console" / "recordings"
    with pytest.raises(RecordingError, match="no recording in .*give a FILE"):
        latest_recording()
    code, err = run(capsys)
    assert code == 2 and "give a FILE" in _one_line(err)
    where.mkdir(parents=True)
    old, new = where / "demo.sqlite", where / "prod-1234abcd.sqlite"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (START, START))
    os.utime(new, (START + 60, START + 60))
    assert latest_recording() == new

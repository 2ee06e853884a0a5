"""Notifications: what is sent, to a real HTTP receiver through apprise, and that an endpoint
that is down, slow or failing costs a line in the log, never a poll or a keystroke."""

from __future__ import annotations

import threading
import time

import pytest

from console.config import ConfigFileError, from_mapping
from console.notify import Message, Notifier, NotifyFeed, probe_message
from tests.support.receiver import receiver
from tests.support.recordings import record_session


@pytest.fixture
def release(clock, tmp_path):
    """The demo's bad release, switched to green at poll 10: green's errors fire a critical alarm
    and fail the bake."""
    return record_session(clock, tmp_path / "rec.sqlite", {10: "switch"}, polls=40)


def test_a_bad_release_tells_of_the_critical_alarm_and_the_failed_bake_once(release):
    feed = NotifyFeed("shop")
    sent = [m for f in release for m in feed.frame(f)]
    kinds = [(m.kind, m.severity) for m in sent]
    assert ("alarm", "failure") in kinds
    assert ("bake", "failure") in kinds
    assert kinds.count(("bake", "failure")) == 1  # the verdict persists in later frames: told once
    alarm = next(m for m in sent if m.kind == "alarm")
    assert alarm.title.startswith("shop: CRITICAL green error %")
    bake = next(m for m in sent if m.kind == "bake")
    assert bake.title == "shop: BAKE FAILED green" and "error %" in bake.body
    # only critical levels and verdicts: no message for the warning the alarm passed through
    assert not any("WARNING" in m.title for m in sent)


def test_events_not_asked_for_are_not_sent(release):
    feed = NotifyFeed("shop", kinds=("bake",))
    assert {m.kind for f in release for m in feed.frame(f)} == {"bake"}
    assert NotifyFeed("shop", kinds=("bake",)).action(True, "ok", "switched") == []


def test_an_action_outcome_says_who_ran_it():
    (m,) = NotifyFeed("shop").action(False, "failed", "rollback failed: socket gone", by="auto")
    assert (m.severity, m.title, m.body) == (
        "failure",
        "shop: action FAILED (auto)",
        "rollback failed: socket gone",
    )


def test_messages_reach_a_json_webhook_through_apprise():
    with receiver() as rx:
        n = Notifier([rx.url()])
        try:
            n.send(Message("alarm", "failure", "shop: CRITICAL green error %", "23 % > 5 %"))
            n.send(probe_message("shop"))
            got = rx.wait_for(2)
        finally:
            n.close()
    assert len(got) == 2
    first = got[0]["body"]
    assert first["title"] == "shop: CRITICAL green error %"
    assert first["message"] == "23 % > 5 %"
    assert first["type"] == "failure"
    assert got[1]["body"]["title"] == "shop: test notification"
    assert got[0]["path"] == "/hook"


def test_an_endpoint_answering_500_costs_a_log_line_after_bounded_tries():
    waits: list[float] = []
    with receiver(status=500) as rx:
        n = Notifier([rx.url()], attempts=3, backoff=0.5, sleep=waits.append)
        try:
            n.send(Message("bake", "failure", "shop: BAKE FAILED green", "why"))
            assert n.flush(20)
        finally:
            n.close()
        assert rx.hits == 3  # three tries, then given up: no loop
    assert waits == [0.5, 1.0]
    (line,) = n.problems()
    assert "not sent after 3 attempt(s): shop: BAKE FAILED green" in line
    assert n.problems() == []  # told once


def test_an_endpoint_that_is_down_is_reported_with_the_reason():
    with receiver() as rx:
        port = rx.port
    n = Notifier([f"json://127.0.0.1:{port}/hook"], attempts=1)  # nothing listens there now
    try:
        n.send(Message("action", "success", "shop: action done", "switched"))
        assert n.flush(20)
    finally:
        n.close()
    (line,) = n.problems()
    assert "not sent after 1 attempt(s): shop: action done" in line


def test_a_hung_endpoint_never_blocks_the_sender_and_a_full_queue_drops_with_a_line():
    release = threading.Event()

    def hung(msg: Message) -> tuple[bool, str]:
        release.wait(10)
        return True, ""

    n = Notifier([], sender=hung, queue_size=2)
    try:
        started = time.monotonic()
        results = [n.send(Message("alarm", "failure", f"m{i}", "")) for i in range(5)]
        assert time.monotonic() - started < 5  # a hang guard, not a timing claim
        # one is being sent (hung), two wait in the queue, the other two are dropped
        assert results.count(False) >= 2
        lines = n.problems()
        assert len(lines) == results.count(False)
        assert "notification dropped" in lines[0] and "slow or down" in lines[0]
    finally:
        release.set()
        n.close()


def test_a_slow_endpoint_is_cut_at_the_timeout():
    with receiver(delay=3.0) as rx:
        n = Notifier([rx.url()], attempts=1, timeout=0.5)
        try:
            n.send(Message("alarm", "failure", "shop: slow", ""))
            assert n.flush(15)
        finally:
            n.close()
    (line,) = n.problems()
    assert "not sent after 1 attempt(s): shop: slow" in line


def _config(notify: dict) -> dict:
    return {"notify": notify, "service": [{"name": "shop", "router": {"kind": "simulator"}}]}


def test_the_config_names_where_the_urls_are_never_the_urls(tmp_path, monkeypatch):
    with pytest.raises(ConfigFileError, match="urls_env .* or urls_file"):
        from_mapping(_config({"events": ["bake"]}))
    with pytest.raises(ConfigFileError, match="unknown key"):
        from_mapping(_config({"urls": ["slack://token"]}))
    cfg = from_mapping(_config({"urls_env": "BG_NOTIFY"}))
    assert cfg.notify is not None
    monkeypatch.delenv("BG_NOTIFY", raising=False)
    with pytest.raises(ConfigFileError, match="BG_NOTIFY is empty or not set"):
        cfg.notify.urls()
    monkeypatch.setenv("BG_NOTIFY", "json://127.0.0.1:1/a, json://127.0.0.1:1/b")
    assert cfg.notify.urls() == ["json://127.0.0.1:1/a", "json://127.0.0.1:1/b"]
    f = tmp_path / "urls"
    f.write_text("# the team channel\njson://127.0.0.1:1/c\n\n")
    cfg = from_mapping(_config({"urls_file": str(f)}))
    assert cfg.notify is not None and cfg.notify.urls() == ["json://127.0.0.1:1/c"]
    f.write_text("# nothing\n")
    with pytest.raises(ConfigFileError, match="holds no URL"):
        cfg.notify.urls()


def test_a_hash_inside_a_url_is_the_urls_and_an_empty_events_list_is_refused(tmp_path):
    f = tmp_path / "urls"
    f.write_text("  # the team\njson://127.0.0.1:1/c#frag  # the on-call\njson://h/t#ok\n")
    cfg = from_mapping(_config({"urls_file": str(f)}))
    assert cfg.notify is not None
    assert cfg.notify.urls() == ["json://127.0.0.1:1/c#frag", "json://h/t#ok"]
    with pytest.raises(ConfigFileError, match=r"events = \[\] sends nothing"):
        from_mapping(_config({"urls_env": "X", "events": []}))


def test_armed_without_a_bake_window_and_an_endless_keep_warm_are_refused():
    def svc(**keys):
        return {"service": [{"name": "shop", "router": {"kind": "simulator"}, **keys}]}

    with pytest.raises(ConfigFileError, match='auto_rollback = "armed" with bake_seconds = 0'):
        from_mapping(svc(auto_rollback="armed", bake_seconds=0))
    with pytest.raises(ConfigFileError, match="keep_warm"):
        from_mapping(svc(keep_warm=30 * 86400))
    assert from_mapping(svc(keep_warm=86400)).service[0].keep_warm == 86400


def test_a_url_apprise_does_not_know_is_refused_by_scheme_only():
    with pytest.raises(ValueError, match="'nosuchservice'://") as err:
        Notifier(["nosuchservice://secret-token@host"])
    assert "secret-token" not in str(err.value)


def test_a_url_with_no_scheme_is_not_printed_at_all():
    with pytest.raises(ValueError, match="a URL with no scheme") as err:
        Notifier(["hooks.example.com/T000/secret-token"])
    assert "secret-token" not in str(err.value) and "hooks.example" not in str(err.value)


def test_a_dead_endpoint_is_retried_alone_and_named_without_its_token():
    with receiver() as ok, receiver(status=500) as dead:
        bad_url = f"json://user:secret-token@127.0.0.1:{dead.port}/hook"
        n = Notifier([ok.url(), bad_url], attempts=3, backoff=0.0, sleep=lambda _s: None)
        try:
            n.send(Message("bake", "failure", "shop: BAKE FAILED green", "why"))
            assert n.flush(30)
        finally:
            n.close()
        assert (ok.hits, dead.hits) == (1, 3)  # the healthy one got it once
    (line,) = n.problems()
    assert f"127.0.0.1:{dead.port}" in line and "secret-token" not in line
    assert "(to json://" in line


def test_a_cli_gives_up_on_a_hung_send_says_so_and_its_exit_is_bounded(tmp_path):
    import subprocess
    import sys

    from console.notify import within

    assert within(15.0, 3, 5.0) == (2, 5.0)  # 3 x 5 s + back-offs would overrun the 15 s
    assert within(15.0, 1, 60.0) == (1, 15.0)
    script = tmp_path / "hung.py"
    script.write_text(
        "import threading\n"
        "from console.config import NotifyConfig\n"
        "from console.notify import Message, Notifications, Notifier, leave_if_hung\n"
        "stuck = threading.Event()\n"
        "def hung(msg):\n"
        "    # a send stuck in a pool thread Python joins at exit (apprise's concurrent.futures)\n"
        "    t = threading.Thread(target=stuck.wait)\n"
        "    t.start()\n"
        "    t.join()\n"
        "    return True, ''\n"
        "cfg = NotifyConfig(urls_env='X')\n"
        "notes = Notifications('shop', cfg, Notifier([], sender=hung))\n"
        "notes.notifier.send(Message('action', 'success', 'shop: action done', ''))\n"
        "for line in notes.close(flush=0.5):\n"
        "    print(line, flush=True)\n"
        "leave_if_hung(notes, 4)\n"
    )
    from tests.support.cli import ROOT

    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 4, proc.stderr
    assert "1 notification(s) not sent: gave up after 0.5 s" in proc.stdout


def test_a_change_the_audit_log_explains_is_not_told_as_outside(tmp_path, release):
    import dataclasses

    from backends.clock import ManualClock
    from console.audit import AuditLog
    from console.notify import explained_by_audit

    frame = release[5]
    changed = dataclasses.replace(
        frame, snapshot=dataclasses.replace(frame.snapshot, external_change="live blue -> green")
    )
    assert [m.kind for m in NotifyFeed("shop").frame(changed)] == ["outside"]
    clock = ManualClock()
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    explained = explained_by_audit(audit, "shop", 5.0)
    feed = NotifyFeed("shop", explained=explained)
    assert [m.kind for m in feed.frame(changed)] == ["outside"]  # nothing in the log explains it
    audit.append(service="shop", action="switch", record="outcome", result="ok")
    clock.advance(2)
    assert [m.kind for m in feed.frame(changed)] == []  # a CLI's switch of 2 s ago explains it
    clock.advance(30)
    assert [m.kind for m in feed.frame(changed)] == ["outside"]  # too old to explain it


def test_only_a_full_recovery_from_critical_is_a_success(release):
    import dataclasses

    from backends.base import Colour
    from console.model import AlarmEvent, AlarmState, Level

    frame = release[5]

    def told(level: Level, reason: str = "") -> str:
        state = AlarmState("error_pct", "error_pct", Colour.GREEN, level, 3.0, 1.0, message="x")
        ev = AlarmEvent(0.0, state, Level.CRITICAL, reason)
        alarms = dataclasses.replace(frame.alarms, events=(ev,))
        (msg,) = NotifyFeed("shop", kinds=("alarm",)).frame(
            dataclasses.replace(frame, alarms=alarms)
        )
        return msg.severity

    assert told(Level.OK) == "success"
    assert told(Level.WARNING) == "warning"
    assert told(Level.OK, reason="no traffic") == "info"

"""Two bluegreen processes watching one service (two operators' consoles, a console and a `bake`)
page the on-call once per event, not once each: claims beside the shared audit log."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from console.notify import Notifier, NotifyFeed
from console.notifyclaims import Claims, claims_path
from tests.support.receiver import receiver
from tests.support.recordings import record_session


def test_two_watchers_of_one_bad_release_send_each_event_once(clock, tmp_path):
    frames = record_session(clock, tmp_path / "rec.sqlite", {10: "switch"}, polls=40)
    shared = claims_path(tmp_path / "audit.jsonl")
    with receiver() as rx:
        senders = [Notifier([rx.url()], claims=Claims(shared)) for _ in range(2)]
        feeds = [NotifyFeed("shop"), NotifyFeed("shop")]
        try:
            for f in frames:  # both see every frame, as two consoles polling one router do
                for feed, n in zip(feeds, senders, strict=True):
                    n.send_all(feed.frame(f))
            for n in senders:
                assert n.flush(10)
            got = rx.wait_for(99, timeout=1)
        finally:
            for n in senders:
                n.close()
    titles = [g["body"]["title"] for g in got]
    assert sum(t.startswith("shop: CRITICAL green error %") for t in titles) == 1, titles
    assert titles.count("shop: BAKE FAILED green") == 1, titles
    assert sum(n.told_elsewhere for n in senders) >= 2


def test_one_process_may_tell_an_event_again_another_only_after_a_minute(tmp_path):
    now = [1000.0]
    a = Claims(tmp_path / "c.sqlite", clock=lambda: now[0])
    b = Claims(tmp_path / "c.sqlite", clock=lambda: now[0])
    assert a.claim("shop alarm green error_pct raised")
    assert not b.claim("shop alarm green error_pct raised")
    assert b.claim("shop alarm blue error_pct raised")  # another event
    now[0] += 20
    assert a.claim("shop alarm green error_pct raised")  # it fired again: told again
    now[0] += 61
    assert b.claim("shop alarm green error_pct raised")


def _claim(path: str, start, out) -> None:  # type: ignore[no-untyped-def]
    start.wait(10)
    out.put(Claims(path).claim("shop bake green FAILED"))


def test_processes_claiming_at_the_same_moment_let_exactly_one_send(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_claim, args=(str(tmp_path / "c.sqlite"), start, out)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)
    assert sorted(results) == [False, False, False, True]


def test_a_file_that_cannot_be_written_sends_and_says_so(tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    c = Claims(Path(blocked) / "c.sqlite")
    assert c.claim("shop alarm green error_pct raised")  # twice is better than never
    assert c.problem and "may be sent twice" in c.problem

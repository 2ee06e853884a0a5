"""Two operators and kill -9 on a real HAProxy, through the real ``bluegreen`` CLI.

* Operator A runs ``switch --to green`` while B runs ``drain --colour green``: never may both say done
  with green live and drained (HAProxy would answer 503 to every request). With the service's lock
  the second waits, and its preflight sees the first one's result.
* A switch killed (SIGKILL) at random points: afterwards ``status`` reconciles an intent left without
  outcome, the log says whether the switch happened, and ``rollback`` goes to the right colour.
* ``sync``, the same way: two at once, beside a switch, and killed at random points.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.base import Colour
from console.audit import AuditLog
from tests.support.cli import ROOT, audit_records, cli, cli_env, no_traceback, wait_for
from tests.support.router_worlds import haproxy_world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
PAIRS = 8
KILLS = 10


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "console", *args, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=cli_env(config.parent),
    )


def unanswered(path: Path) -> list[dict]:
    """Intents no outcome or reconciled record answers (read here, not through AuditLog)."""
    records = audit_records(path)
    answered = {r.get("intent") for r in records if r.get("record") != "intent"}
    return [r for r in records if r.get("record") == "intent" and r["id"] not in answered]


def reset(world) -> None:  # type: ignore[no-untyped-def]
    """Blue live, green ready, as an operator with socat would leave it."""
    world.switch_outside(BLUE)
    world.lab.command("; ".join(f"set server green-backend/green-{i} state ready" for i in (1, 2)))
    assert wait_for(lambda: world.live() == BLUE and not world.draining(GREEN))


def test_switch_and_drain_at_the_same_moment_never_both_say_done(tmp_path):
    with haproxy_world(tmp_path) as world:
        config = world.cli_config()
        for _ in range(PAIRS):
            reset(world)
            a = start(config, "switch", "--to", "green", "--yes")
            b = start(config, "drain", "--colour", "green", "--yes")
            (a_out, a_err), (b_out, b_err) = a.communicate(timeout=60), b.communicate(timeout=60)
            said = f"A {a.returncode}: {a_out}{a_err}\nB {b.returncode}: {b_out}{b_err}"
            assert "Traceback" not in said, said
            live, drained = world.live(), world.draining(GREEN)
            assert not (a.returncode == 0 and b.returncode == 0), said
            assert not (live == GREEN and drained), said  # 503 for every request
            # One of them went first; the other waited for it and its preflight refused.
            if a.returncode == 0:
                assert live == GREEN and not drained, said
                assert "refused: green is live: draining it would stop all traffic" in b_err, said
            else:
                assert b.returncode == 0 and live == BLUE and drained, said
                assert "refused: green is draining" in a_err, said
        records = audit_records(world.audit_path)
        assert unanswered(world.audit_path) == [], records
        assert not [
            r
            for r in records
            if r["result"] == "ok"
            and r["action"] == "drain"
            and (r["after"] or {}).get("live") == "green"
        ], records


def test_kill_9_at_random_points_of_a_switch_leaves_the_audit_and_rollback_right(tmp_path):
    rng = random.Random(9)
    with haproxy_world(tmp_path) as world:
        config, audit = world.cli_config(), AuditLog(world.audit_path)
        started = time.monotonic()
        whole = cli(config, "switch", "--yes")
        took = time.monotonic() - started
        assert whole.returncode == 0, whole.stderr
        assert cli(config, "rollback", "--yes").returncode == 0
        for i in range(KILLS):
            before = world.live()
            assert before is not None
            proc = start(config, "switch", "--yes")
            if i % 2:  # anywhere in the verb
                time.sleep(rng.uniform(0.0, took))
            else:  # just after HAProxy moved: between the router and the outcome record
                wait_for(
                    lambda b=before, p=proc: world.live() != b or p.poll() is not None, 30, 0.002
                )
            proc.kill()
            proc.wait(timeout=30)
            now = world.live()

            status = cli(config, "status")
            no_traceback(status)
            assert status.returncode == 0, status.stderr
            assert unanswered(world.audit_path) == [], audit_records(world.audit_path)
            last = audit.last_switch("shop")
            if now != before:  # the switch happened: the log says so and rollback undoes it
                assert last is not None and last["after"]["live"] == now.value, last
                back = cli(config, "rollback", "--yes")
                assert back.returncode == 0, back.stdout + back.stderr
                assert world.live() == before
                world.assert_kept()  # the map file agrees, so a reload keeps it
            else:  # it did not: nothing in the log claims it did
                assert last is None or last["after"]["live"] == now.value, last
        reconciled = [r for r in audit_records(world.audit_path) if r["record"] == "reconciled"]
        for r in reconciled:
            assert r["applied"] in (True, False) and r["intent"], r


SYNCS = 3


def test_sync_with_two_operators_and_killed_leaves_traffic_the_file_and_the_audit_right(tmp_path):
    """``sync`` is an action like the others: two at once, sync beside a switch, and kill -9 at
    random points never move traffic, never leave the map file disagreeing with HAProxy once the
    survivors are done, and leave no intent unanswered."""
    rng = random.Random(11)
    with haproxy_world(tmp_path) as world:
        config = world.cli_config()
        for _ in range(SYNCS):  # two operators sync the same drift: one rewrites, one finds none
            world.drift_persisted(GREEN)
            a, b = start(config, "sync", "--yes"), start(config, "sync", "--yes")
            (a_out, a_err), (b_out, b_err) = a.communicate(timeout=60), b.communicate(timeout=60)
            said = f"A {a.returncode}: {a_out}{a_err}\nB {b.returncode}: {b_out}{b_err}"
            assert "Traceback" not in said, said
            assert sorted((a.returncode, b.returncode)) == [0, 1], said
            assert "nothing to sync" in a_err + b_err, said
            assert world.live() == BLUE and world.persisted() == BLUE, said
        for _ in range(SYNCS):  # sync beside a switch: whichever goes first, the file ends right
            reset(world)
            world.drift_persisted(GREEN)
            a = start(config, "sync", "--yes")
            b = start(config, "switch", "--to", "green", "--yes")
            (a_out, a_err), (b_out, b_err) = a.communicate(timeout=60), b.communicate(timeout=60)
            said = f"sync {a.returncode}: {a_out}{a_err}\nswitch {b.returncode}: {b_out}{b_err}"
            assert "Traceback" not in said, said
            assert b.returncode == 0 and world.live() == GREEN, said
            world.assert_kept()  # the map file says what HAProxy routes to
        reset(world)
        started = time.monotonic()
        world.drift_persisted(GREEN)
        assert cli(config, "sync", "--yes").returncode == 0
        took = time.monotonic() - started
        for _ in range(KILLS // 2):
            world.drift_persisted(GREEN)
            proc = start(config, "sync", "--yes")
            time.sleep(rng.uniform(0.0, took))
            proc.kill()
            proc.wait(timeout=30)
            assert world.live() == BLUE  # a sync never moves traffic, even cut short
            status = cli(config, "status")
            no_traceback(status)
            assert unanswered(world.audit_path) == [], audit_records(world.audit_path)
            again = cli(config, "sync", "--yes")
            assert again.returncode in (0, 1), again.stdout + again.stderr
            assert again.returncode == 0 or "nothing to sync" in again.stderr, again.stderr
            assert world.persisted() == BLUE and world.live() == BLUE
        assert unanswered(world.audit_path) == [], audit_records(world.audit_path)

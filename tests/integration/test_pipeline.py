"""``bluegreen bake`` and ``bluegreen gate`` as a CI/CD job runs them, against a real HAProxy: the
exit code is the verdict (0 passed, 1 failed, 2 nothing to wait for, 3 timed out)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backends.base import Colour
from tests.support.cli import ROOT, audit_records, cli, cli_env, no_traceback
from tests.support.router_worlds import haproxy_world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _short_bake(config: Path, seconds: float) -> Path:
    out = config.with_name("bake.toml")
    out.write_text(config.read_text().replace("bake_seconds = 60", f"bake_seconds = {seconds:g}"))
    return out


def _bake(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "bake", "--config", str(config), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        cwd=ROOT,
        env=cli_env(config.parent),
    )


def test_bake_exits_0_when_the_window_passes_and_2_when_there_is_none(tmp_path):
    with haproxy_world(tmp_path) as world:
        config = _short_bake(world.cli_config(), 4)
        none = _bake(config, "--timeout", "20")
        no_traceback(none)
        assert none.returncode == 2, none.stdout + none.stderr
        assert "no bake window open for shop" in none.stderr
        assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
        passed = _bake(config, "--timeout", "60", "--json")
        no_traceback(passed)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        lines = [json.loads(ln) for ln in passed.stdout.splitlines()]
        assert lines[0]["bake"]["verdict"] == "baking" and lines[0]["bake"]["colour"] == "green"
        assert lines[-1]["result"] == "BAKE PASSED green"
        assert all(ln["result"] is None for ln in lines[:-1])
        # the verdict is stored: asked again, the same answer at once
        again = _bake(config, "--timeout", "20")
        assert again.returncode == 0 and "BAKE PASSED green" in again.stdout, again.stderr


def test_bake_exits_1_when_the_window_fails_and_3_when_the_timeout_comes_first(tmp_path):
    with haproxy_world(tmp_path) as world:
        config = world.cli_config()  # a 60 s window
        assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
        waited = _bake(config, "--timeout", "2")
        no_traceback(waited)
        assert waited.returncode == 3, waited.stdout + waited.stderr
        assert "no verdict within --timeout 2 s; the bake of green has" in waited.stderr
        # someone drains the live colour: every request would get a 503; the bake fails
        world.lab.command(
            "; ".join(f"set server green-backend/green-{i} state drain" for i in (1, 2))
        )
        failed = _bake(config, "--timeout", "60")
        no_traceback(failed)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "BAKE FAILED green" in failed.stdout
        assert world.live() == Colour.GREEN  # bake only judges; it never acts


def test_bake_after_a_rollback_exits_1_saying_who_rolled_back(tmp_path):
    with haproxy_world(tmp_path) as world:
        config = _short_bake(world.cli_config(), 4)
        assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
        assert cli(config, "rollback", "--yes").returncode == 0
        # the rollback opened a window for blue: it is not the switch's verdict
        proc = _bake(config, "--timeout", "60")
        no_traceback(proc)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "bake of green: rolled back by" in proc.stdout
        assert "PASSED" not in proc.stdout


def test_bake_says_when_the_router_cannot_be_read(tmp_path):
    import re

    with haproxy_world(tmp_path) as world:
        config = world.cli_config()
        assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
        text = re.sub(
            r'socket = ".*"', f'socket = "{tmp_path / "no-such.sock"}"', config.read_text()
        )
        config.write_text(text)
        proc = _bake(config, "--timeout", "3")
        no_traceback(proc)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "bluegreen bake: the router cannot be read: " in proc.stderr
        assert "no verdict within --timeout 3 s" in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].count("the router cannot be read") == 1


def test_gate_without_a_gate_section_is_a_usage_error_naming_the_fix(tmp_path):
    with haproxy_world(tmp_path) as world:
        proc = cli(world.cli_config(), "gate")
        no_traceback(proc)
        assert proc.returncode == 2
        assert "has no [service.gate]" in proc.stderr


def test_a_cli_switch_and_the_bake_gate_notify_a_local_receiver(tmp_path):
    from tests.support.receiver import receiver

    with receiver() as rx, haproxy_world(tmp_path) as world:
        urls = tmp_path / "notify-urls"
        urls.write_text(f"# the team's webhook\n{rx.url('/team')}\n")
        # a window long enough that a loaded machine still starts bake inside it (3 s was not)
        config = _short_bake(world.cli_config(), 15)
        config.write_text(config.read_text() + f'\n[notify]\nurls_file = "{urls}"\n')
        test = cli(config, "notify-test")
        assert test.returncode == 0, test.stderr
        assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
        assert _bake(config, "--timeout", "60").returncode == 0
        got = rx.wait_for(3)
    titles = [m["body"]["title"] for m in got]
    assert titles == [
        "shop: test notification",
        "shop: action done",
        "shop: BAKE PASSED green",
    ], titles
    assert "blue → green" in got[1]["body"]["message"]
    assert {m["path"] for m in got} == {"/team"}
    assert got[2]["body"]["type"] == "success"


def test_a_broken_notify_section_warns_but_never_stops_a_switch(tmp_path):
    with haproxy_world(tmp_path) as world:
        config = world.cli_config()
        config.write_text(config.read_text() + '\n[notify]\nurls_env = "BG_NOTIFY_NOT_SET"\n')
        proc = cli(config, "switch", "--to", "green", "--yes")
        no_traceback(proc)
        assert proc.returncode == 0, proc.stderr
        assert "warning: no notifications will be sent" in proc.stderr
        assert "BG_NOTIFY_NOT_SET" in proc.stderr
        assert world.live() == Colour.GREEN
        # a watcher (bake) keeps it a hard error: it exists to tell
        assert _bake(config, "--timeout", "5").returncode == 2


def test_notify_test_names_a_missing_url_variable(tmp_path):
    with haproxy_world(tmp_path) as world:
        config = world.cli_config()
        config.write_text(config.read_text() + '\n[notify]\nurls_env = "BG_TEST_HOOK"\n')
        missing = cli(config, "notify-test")
        assert missing.returncode == 2 and "BG_TEST_HOOK is empty or not set" in missing.stderr


def test_armed_bake_gate_rolls_back_a_failing_green_by_itself_and_exits_1(tmp_path):
    from tests.integration.haproxy_fixture import Load

    with haproxy_world(tmp_path) as world:
        config = world.cli_config()
        text = config.read_text().replace(
            "bake_seconds = 60",
            'bake_seconds = 60\nauto_rollback = "armed"\nauto_rollback_countdown = 1',
        )
        config.write_text(text)
        with Load(world.lab.url, clients=2, rate=40, max_seconds=90, max_requests=3600) as load:
            assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
            for app in world.lab.colour_apps("green"):
                app.set_fault(error_rate=0.5)
            failed = _bake(config, "--timeout", "60")
            load.stop()
        no_traceback(failed)
        said = failed.stdout + failed.stderr
        assert failed.returncode == 1, said
        assert "AUTO-ROLLBACK of green in 1 s" in failed.stderr, said
        last = failed.stdout.strip().splitlines()[-1]
        assert last.startswith("BAKE FAILED green: CRITICAL green error %"), said
        assert "; then AUTO-ROLLBACK: " in last, said
        assert world.live() == Colour.BLUE  # traffic is back on blue, with no key pressed
        auto = [r for r in audit_records(world.audit_path) if r.get("by") == "auto"]
        assert [r["record"] for r in auto] == ["intent", "outcome"], auto
        assert auto[-1]["result"] == "ok" and auto[-1]["cause"].startswith("CRITICAL green")


@pytest.mark.parametrize(("countdown", "timeout"), [(0, "60"), (40, "20")])
def test_the_armed_bake_reports_its_rollback_whatever_the_countdown_and_timeout(
    tmp_path, countdown, timeout
):
    # countdown 0: rolled back in the poll that saw the alarm; countdown 40 outlives --timeout 20
    from tests.integration.haproxy_fixture import Load

    with haproxy_world(tmp_path) as world:
        config = world.cli_config()
        text = config.read_text().replace(
            "bake_seconds = 60",
            f'bake_seconds = 120\nauto_rollback = "armed"\nauto_rollback_countdown = {countdown}',
        )
        config.write_text(text)
        with Load(world.lab.url, clients=2, rate=40, max_seconds=120, max_requests=5000) as load:
            assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
            for app in world.lab.colour_apps("green"):
                app.set_fault(error_rate=0.5)
            failed = _bake(config, "--timeout", timeout)
            load.stop()
        no_traceback(failed)
        said = failed.stdout + failed.stderr
        assert failed.returncode == 1, said
        last = failed.stdout.strip().splitlines()[-1]
        assert last.startswith("BAKE FAILED green"), said
        assert "; then AUTO-ROLLBACK: " in last, said
        assert world.live() == Colour.BLUE


def test_draining_the_old_colour_inside_its_warm_window_needs_cold_as_well_as_yes(tmp_path):
    with haproxy_world(tmp_path) as world:
        config = world.cli_config()  # keep_warm: the 60 s bake window
        assert cli(config, "switch", "--to", "green", "--yes").returncode == 0
        plain = cli(config, "drain", "--colour", "blue", "--yes")
        no_traceback(plain)
        assert plain.returncode == 1
        assert "CAUTION: blue is inside its warm-rollback window" in plain.stdout
        assert "pass --cold as well as --yes" in plain.stderr
        assert not world.draining(Colour.BLUE)
        cold = cli(config, "drain", "--colour", "blue", "--yes", "--cold")
        assert cold.returncode == 0, cold.stderr
        assert world.draining(Colour.BLUE)
        drains = [r for r in audit_records(world.audit_path) if r.get("action") == "drain"]
        assert [r["result"] for r in drains if r["record"] != "intent"] == ["refused", "ok"]
        assert "pass --cold" in drains[0]["error"]
        assert drains[-1]["inside_warm_window"] is True


def test_a_negative_timeout_is_refused(tmp_path):
    proc = _bake(tmp_path / "none.toml", "--timeout", "-5")
    assert proc.returncode == 2 and "-5 is negative" in proc.stderr, proc.stderr

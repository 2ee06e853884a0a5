"""A bad config names the file, the key, what was found and what was expected; exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from console.config import ConfigFileError, load
from console.runtime import build

GOOD = """
audit_log = "audit.jsonl"
[[service]]
name = "shop"
poll_interval = 2
bake_seconds = 120
[service.router]
kind = "simulator"
scenario = "bad-release"
[service.metrics]
kind = "simulator"
[service.alarms.error_pct]
critical = 3
for = 10
[service.alarms.rate_floor]
metric = "rate"
direction = "below"
critical = 5
"""


def write(tmp_path, text):
    p = tmp_path / "console.toml"
    p.write_text(text)
    return p


def test_a_good_file_loads_with_defaults_merged(tmp_path):
    cfg = load(write(tmp_path, GOOD))
    svc = cfg.pick("shop")
    assert svc.poll_interval == 2 and svc.bake_seconds == 120
    assert (
        svc.alarms["error_pct"].critical == 3 and svc.alarms["error_pct"].warning == 2
    )  # default kept
    assert svc.alarms["error_pct"].for_seconds == 10
    assert svc.alarms["latency_ms"].critical == 1000  # default rule present
    assert svc.alarms["rate_floor"].direction == "below"
    assert cfg.audit_log == (tmp_path / "audit.jsonl").resolve()  # relative to the file
    rt = build(svc)
    assert rt.router.kind == "simulator"
    rt.close()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[[service]]\nname = 'x'\n", "service[0].router: missing"),
        (
            "[[service]]\nname='x'\npoll_interval='fast'\n[service.router]\nkind='simulator'\n",
            "service[0].poll_interval: found 'fast'; expected a valid number",
        ),
        (
            "[[service]]\nname='x'\ncolor='blue'\n[service.router]\nkind='simulator'\n",
            "service[0].color: unknown key",
        ),
        (
            "[[service]]\nname='x'\n[service.router]\nkind='simulator'\n[service.alarms.error_pct]\nwarning=9\ncritical=5\n",
            "service[0].alarms.error_pct: 'critical' (5.0) must be above 'warning' (9.0)",
        ),
        (
            "[[service]]\nname='x'\n[service.router]\nkind='simulator'\n[[service]]\nname='x'\n[service.router]\nkind='simulator'\n",
            "two services are named 'x'",
        ),
        ("service = [", "not valid TOML"),
    ],
)
def test_bad_files_name_the_key_and_the_expected_form(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as err:
        load(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_backend_options_are_checked_when_the_service_is_built(tmp_path):
    cfg = load(
        write(
            tmp_path,
            "[[service]]\nname='x'\n[service.router]\nkind='simulator'\nscenario='bogus'\n",
        )
    )
    with pytest.raises(ConfigFileError) as err:
        build(cfg.service[0], source="f.toml")
    assert "service 'x' [service.router]" in str(err.value) and "scenario" in str(err.value)


def test_unknown_kind_lists_the_known_ones(tmp_path):
    cfg = load(write(tmp_path, "[[service]]\nname='x'\n[service.router]\nkind='f5'\n"))
    with pytest.raises(
        ConfigFileError, match=r"unknown router kind 'f5'; known kinds: .*haproxy.*simulator"
    ):
        build(cfg.service[0])


def test_missing_file_and_unknown_service(tmp_path):
    with pytest.raises(ConfigFileError, match="no such file"):
        load(tmp_path / "nope.toml")
    cfg = load(write(tmp_path, GOOD))
    with pytest.raises(
        ConfigFileError, match="no service named 'cart' in the config; services: 'shop'"
    ):
        cfg.pick("cart")


def test_the_cli_exits_2_with_the_message_and_no_traceback(tmp_path):
    path = write(
        tmp_path, "[[service]]\nname='x'\npoll_interval=-1\n[service.router]\nkind='simulator'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "console", "status", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "service[0].poll_interval: found -1; expected greater than 0" in proc.stderr
    assert "Traceback" not in proc.stderr

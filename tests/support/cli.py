"""Running the real ``bluegreen`` CLI from tests, and reading what it left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 60
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment less anything that would point the CLI elsewhere than the test's config."""
    env = dict(os.environ)
    for var in ("BLUEGREEN_AUDIT_LOG", "BLUEGREEN_CONFIG", "KUBECONFIG", *PROXY_VARS):
        env.pop(var, None)  # the config's audit_log and host must be the ones used
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # never the real default audit log
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
    return env


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m console ARGS --config CONFIG`` in a new process, no terminal on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "console", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=CLI_TIMEOUT,
        cwd=ROOT,
        env=cli_env(config.parent),
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def audit_records(path: Path) -> list[dict[str, Any]]:
    """Every record of the audit log: intents, outcomes and reconciled ones."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def audit_entries(path: Path) -> list[dict[str, Any]]:
    """The attempts: one outcome record each (an intent is written ahead of every change)."""
    return [r for r in audit_records(path) if r.get("record", "outcome") == "outcome"]


def wait_for(predicate, timeout: float = 5.0, every: float = 0.05):  # type: ignore[no-untyped-def]
    """``predicate()`` until it is truthy or ``timeout`` runs out; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


def log_text(app: Any) -> str:
    from widgets import ActionLog

    return "\n".join(app.query_one(ActionLog).lines_text)

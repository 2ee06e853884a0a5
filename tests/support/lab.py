"""Driving ``bluegreen lab`` from tests: the real CLI in a child process, one GET, and a lab dir
whose recorded processes are stopped after the test whatever happened in it."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.lab import stack
from console.lab.stack import LabState
from tests.support.cli import ROOT


def bluegreen(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``bluegreen ARGS`` through the real CLI entry point, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - 127.0.0.1 only
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def lab_dir_for(tmp_path: Path) -> Iterator[Path]:
    """A lab dir under ``tmp_path`` (skips without haproxy or prometheus); afterwards every
    process the lab recorded is stopped (bounded: stop() waits at most 10 s each)."""
    for tool in ("haproxy", "prometheus"):
        if stack.find_tool(tool) is None:
            pytest.skip(
                f"{tool} is not installed: `sudo apt-get install -y {tool}` (CI installs it)"
            )
    d = tmp_path / "lab"
    yield d
    state = LabState.load(d) if (d / stack.STATE_FILE).exists() else None
    if state is not None:
        for proc in state.processes:
            stack.stop(proc)


def down_leaves_nothing(lab_dir: Path, state: LabState) -> None:
    """``bluegreen lab down``: every recorded process gone, the state and the dir removed, the
    frontend's port closed."""
    down = bluegreen("lab", "down", "--dir", str(lab_dir))
    assert down.returncode == 0, down.stderr
    for proc in state.processes:
        assert not stack.is_ours(proc), f"{proc.name} (pid {proc.pid}) still runs"
    assert not (lab_dir / stack.STATE_FILE).exists()
    assert not lab_dir.exists()  # nothing else was in it
    with pytest.raises(OSError):
        urllib.request.urlopen(state.frontend_url, timeout=1)  # noqa: S310

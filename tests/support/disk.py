"""A filesystem that fills up or turns read-only, for the audit log's and the recorder's disk
faults: a small tmpfs (needs root; skipped, saying why, where it cannot be had)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest


def _mount(*args: str) -> bool:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    return proc.returncode == 0


@contextlib.contextmanager
def small_filesystem(where: Path, size: str = "64k"):
    """A tmpfs of ``size`` (64 KiB) at ``where``, or skip saying why it cannot be had."""
    where.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)):
        pytest.skip("mounting a small tmpfs needs root (or a bind mount of /dev/full): not here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory: Path) -> None:
    with (directory / "ballast").open("wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"x" * 4096)
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"x")

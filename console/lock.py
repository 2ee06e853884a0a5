"""One action at a time per service on this machine: an advisory lock beside the audit log.

``ServiceLock`` is an ``fcntl.flock`` on a small file next to the audit log, named for the service and
the router's identity (``audit.jsonl.shop.3f2a9c1e7b.lock``). The kernel drops a flock when its holder
closes the file or dies (kill -9 included), so a crashed console never leaves it held. While held, the
file says who holds it (user@host, pid, command, since when), for the operator who has to wait.

Another machine does not see this lock: the router's own lock (``Router.hold``) and the invariants
read back after every action cover that.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from backends.base import ActionRefused

LOCK_WAIT = 30.0  # seconds an operator waits for another action on the same service
POLL_EVERY = 0.05


def who() -> str:
    """``user@host pid N``: who acts, for the operator who has to wait."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def lock_path(audit_path: Path, service: str, router_identity: str) -> Path:
    """The lock file for ``service`` on ``router_identity``, beside the audit log."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", service)[:40] or "service"
    digest = hashlib.sha256(f"{service}\0{router_identity}".encode()).hexdigest()[:10]
    return audit_path.with_name(f"{audit_path.name}.{slug}.{digest}.lock")


class ServiceLock:
    """The advisory lock of one service on one router, on this machine.

    Args:
        path: the lock file (``lock_path``).
        service: for messages.
        wait: seconds ``hold`` waits for another holder before refusing.
        sleep, monotonic: injected by tests.
    """

    def __init__(
        self,
        path: Path,
        service: str,
        wait: float = LOCK_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.service = service
        self.wait = wait
        self._sleep = sleep
        self._monotonic = monotonic

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise ActionRefused(
                f"cannot open the action lock {self.path}: {exc.strerror or exc}; it lives beside "
                "the audit log: fix that directory or choose another log with --audit-log PATH"
            ) from None

    def holder(self) -> str:
        """Who holds it, as its holder wrote it ("" when unknown)."""
        with contextlib.suppress(OSError):
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        return ""

    def _busy_text(self, waited: float | None) -> str:
        held = self.holder() or "another process (it did not say who)"
        text = f"another action on {self.service} is under way: {held}"
        if waited is not None:
            text += f"; waited {waited:.0f} s for it: try again when it has finished"
        return text

    @contextlib.contextmanager
    def hold(self, command: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the lock for the block. Waits up to ``wait`` seconds (calling ``on_wait`` once
        with who holds it), then raises ActionRefused naming the holder."""
        fd = self._open()
        try:
            started = self._monotonic()
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = self._monotonic() - started
                    if waited >= self.wait:
                        raise ActionRefused(self._busy_text(waited)) from None
                    if not told and on_wait is not None:
                        on_wait(self._busy_text(None))
                        told = True
                    self._sleep(POLL_EVERY)
            since = datetime.now(timezone.utc).isoformat(timespec="seconds")
            with contextlib.suppress(OSError):  # a full disk: the lock holds all the same
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{who()}, {command}, since {since}\n".encode(), 0)
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing drops the flock

    @contextlib.contextmanager
    def try_hold(self, command: str) -> Iterator[bool]:
        """Hold it if free, without waiting: yields whether it is held (False: someone acts)."""
        try:
            fd = self._open()
        except ActionRefused:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

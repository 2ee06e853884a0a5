"""The audit log: one JSON line per action attempt, on disk before the screen says "done".

Each line: ``time`` (ISO 8601, UTC), ``epoch``, ``user``, ``host``, ``service``, ``router``, ``action``,
``target``, ``before``, ``after``, ``result`` (``ok`` | ``refused`` | ``failed`` | ``cancelled``) and
``error``. Lines are appended with O_APPEND and fsync'd, so a process killed right after an action
leaves its line intact, and two consoles appending to one file do not interleave within a line.

Rollback's target comes from this file (the colour that was live before the last successful switch
of the service), so rollback works after the console restarts.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs

from backends.base import Colour
from backends.clock import Clock
from console.model import json_safe

APP_NAME = "bluegreen-console"
SWITCHING_ACTIONS = ("switch", "rollback")


def default_path() -> Path:
    """``$XDG_STATE_HOME/bluegreen-console/audit.jsonl`` (``~/.local/state/...`` on Linux)."""
    return Path(platformdirs.user_state_dir(APP_NAME)) / "audit.jsonl"


class AuditError(Exception):
    """The audit line could not be written; the message names the path and the fix."""


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid())


class AuditLog:
    def __init__(self, path: str | os.PathLike[str], clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> AuditError:
        return AuditError(
            f"cannot write the audit log {self.path}: {exc.strerror or exc}; "
            "fix its permissions or choose another file with --audit-log PATH"
        )

    def check_writable(self) -> None:
        """Raise AuditError unless a line could be appended now (checked before an action runs)."""
        os.close(self._open())

    def append(self, **fields: Any) -> dict[str, Any]:
        """Write one entry and fsync it. Returns the entry as written."""
        epoch = self._clock() if self._clock else datetime.now(timezone.utc).timestamp()
        entry = {
            "time": datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds"),
            "epoch": round(epoch, 3),
            "user": _user(),
            "host": socket.gethostname(),
            "service": None,
            "router": None,
            "action": None,
            "target": None,
            "before": None,
            "after": None,
            "result": None,
            "error": None,
        }
        entry.update(fields)
        # strict JSON: a non-finite figure is written as null, never as a bare NaN or Infinity
        text = json.dumps(json_safe(entry), default=str, separators=(",", ":"), allow_nan=False)
        line = (text + "\n").encode()
        fd = self._open()
        try:
            os.write(fd, line)  # one write(2) on an O_APPEND fd: the line lands whole
            os.fsync(fd)
        except OSError as exc:
            raise self._error(exc) from None
        finally:
            os.close(fd)
        return entry

    def entries(self, service: str | None = None) -> Iterator[dict[str, Any]]:
        """Every well-formed entry, oldest first; a torn or foreign line is skipped, not fatal."""
        try:
            fh = self.path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError:
            return
        with fh:
            for raw in fh:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(entry, dict) and (service is None or entry.get("service") == service):
                    yield entry

    def last_switch(self, service: str) -> dict[str, Any] | None:
        """The newest switch or rollback of ``service`` that moved the live colour: a successful one,
        or a failed one whose read-back shows the colour moved all the same."""
        last = None
        for e in self.entries(service):
            if e.get("action") not in SWITCHING_ACTIONS or e.get("result") not in ("ok", "failed"):
                continue
            before, after = e.get("before") or {}, e.get("after") or {}
            if (
                isinstance(before, dict)
                and isinstance(after, dict)
                and after.get("live") not in (None, before.get("live"))
            ):
                last = e
        return last

    def rollback_target(self, service: str) -> tuple[Colour, dict[str, Any]] | None:
        """The colour that was live before the last successful switch, with that entry."""
        entry = self.last_switch(service)
        if not entry:
            return None
        before = entry.get("before") or {}
        try:
            return Colour.parse(str(before.get("live"))), entry
        except ValueError:
            return None

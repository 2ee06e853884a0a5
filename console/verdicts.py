"""One verdict per bake window, shared by every console, ``status`` and replay on this machine.

The recording (``console.recorder``'s ``bakes`` table) is the store: one row per bake window, keyed
by the service (name + router identity, the ``services`` row) and the switch that opened it, with the
verdict of whoever decided first. Deciding is atomic across processes (``BEGIN IMMEDIATE``: the
first decision wins); a console that would decide differently adopts the stored verdict and says so
("bake verdict from alice@host's console at 14:02: FAILED green: ..."). A console started late shows
the stored verdict, never a second opinion.

A window is the same window when its service and colour match and either both know the audit record
of the switch (its ``id``) and it is the same one, or one of them does not know it and they started
within ``tolerance(poll_interval)`` of each other (a switch seen only by polls is seen a poll
interval apart by two consoles).

``VerdictStore`` is used synchronously by ``Monitor.poll()`` (a worker thread, never the UI loop)
with its own connection to the recording file; ``Recorder`` calls the same row functions inside its
own transaction, so there is exactly one row per window whoever writes first. No Textual here.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.recorder import (
    SCHEMA_VERSION,
    RecordingError,
    StoredVerdict,
    bake_row,
    check_header,
    connect,
    decide,
    find_window,
    migrate,
    open_window,
    operator_name,
    read_header,
    service_id,
    tolerance,
)

__all__ = ["StoredVerdict", "VerdictStore", "for_recorder", "tolerance"]


class VerdictStore:
    """The Monitor's door to the stored verdicts: its own connection to the recording file, opened
    on first use (in the poll's worker thread). ``read_only``: never writes (one-shot ``status``),
    and a file that does not exist yet has nothing to say.

    Nothing here raises: a store that cannot be read or written (disk full, a foreign file) sets
    ``problem`` and answers None, and the console decides on its own as without a recording."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        operator: str | None = None,
        session: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.operator = operator or operator_name()
        self.problem: str | None = None
        self._session = session
        self._db: sqlite3.Connection | None = None
        self._services: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self.problem is not None:
            return self._db
        try:
            if self.read_only:
                if not self.path.exists():
                    return None
                db = connect(self.path, write=False)
                if read_header(db, self.path, creating=False) < 2:
                    db.close()
                    return None  # an older recording: it holds no decisions to share
            else:
                db = connect(self.path, write=True)
                if read_header(db, self.path, creating=True) < SCHEMA_VERSION:
                    db.execute("BEGIN IMMEDIATE")
                    try:  # a new file, or an older one: the same steps as the recorder's
                        migrate(db, check_header(db, self.path, creating=True))
                        db.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                        raise
        except (RecordingError, sqlite3.Error, OSError) as exc:
            if not _transient(exc):
                self.problem = f"bake verdicts not shared: {self.path}: {exc}"
            return None
        self._db = db
        return db

    def _service(self, db: sqlite3.Connection, name: str, identity: str, kind: str) -> int | None:
        sid = self._services.get((name, identity))
        if sid is None:
            if self.read_only:
                row = db.execute(
                    "SELECT id FROM services WHERE name = ? AND router_identity = ?",
                    (name, identity),
                ).fetchone()
                if row is None:
                    return None
                sid = int(row[0])
            else:
                sid = service_id(db, name, identity, kind)
            self._services[(name, identity)] = sid
        return sid

    def _run(self, work: Callable[[sqlite3.Connection], Any], write: bool) -> Any:
        with self._lock:
            db = self._connect()
            if db is None:
                return None
            try:
                if not write or self.read_only:
                    return work(db)
                db.execute("BEGIN IMMEDIATE")
                try:
                    out = work(db)
                    db.execute("COMMIT")
                    return out
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                if not _transient(exc):  # else: another console held the file too long; next time
                    self.problem = f"bake verdicts not shared: {self.path}: {exc}"
                with contextlib.suppress(sqlite3.Error):
                    db.close()
                self._db = None
                return None

    def window(
        self,
        service: str,
        identity: str,
        router_kind: str,
        colour: str,
        started: float,
        duration: float,
        switch: str | None,
        tol: float,
        create: bool = True,
    ) -> StoredVerdict | None:
        """The window's stored row (created when ``create`` and the store is not read-only): its
        verdict, if one was decided."""

        def work(db: sqlite3.Connection) -> StoredVerdict | None:
            sid = self._service(db, service, identity, router_kind)
            if sid is None:
                return None
            if self.read_only or not create:
                return find_window(db, sid, colour, started, switch, tol)
            return open_window(db, sid, colour, started, duration, switch, self._session(), tol)

        return self._run(work, write=True)

    def read(self, row: int) -> StoredVerdict | None:
        return self._run(
            lambda db: bake_row(db, row),
            write=False,
        )

    def decide(
        self, row: int, verdict: str, reason: str, decided: float
    ) -> tuple[StoredVerdict | None, bool]:
        """Store this console's verdict unless one is stored: (the stored row, whether it is ours).
        (None, True) when nothing could be stored: the console keeps its own verdict."""
        if self.read_only:
            return self.read(row), False
        out = self._run(lambda db: decide(db, row, verdict, reason, decided, self.operator), True)
        return out if out is not None else (None, True)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
            self._db = None


def _transient(exc: BaseException) -> bool:
    """A lock another console held past the busy timeout: worth trying again at the next poll."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def for_recorder(recorder: Any) -> VerdictStore | None:
    """The store beside a session's ``Recorder`` (same file, its session and operator), or None
    when the session is not recorded: then each console decides on its own, as before."""
    if recorder is None:
        return None
    return VerdictStore(recorder.path, session=lambda: recorder.session)

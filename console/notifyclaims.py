"""Who tells it: one notification per event across the bluegreen processes that share an audit log.

Two consoles on one service (two operators), or a console and a ``bake`` in a pipeline, see the same
critical alarm within a poll of each other; each would page the on-call once. A message that names
an event (``Message.key``: "alarm green error_pct raised critical") is claimed here first, by the
sender's thread, just before it is sent: the first process to claim a key sends it; another process
that claims the same key within ``within`` seconds does not. A process is never kept from telling
something twice itself (an alarm that clears and fires again is told again).

The store is a small SQLite file beside the audit log (``<audit log>.notified.sqlite``): the audit
log is what the processes of one team already share. Written by hand (a table of two columns):
nothing kept elsewhere does "the first of several processes wins" on a file. Anything wrong with the
file answers "send": a page twice is better than none.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

WITHIN = 60.0  # seconds: two processes see one event at most a few polls apart
KEEP = 86400.0  # rows older than this are removed when a claim is made


def claims_path(audit_path: str | os.PathLike[str]) -> Path:
    p = Path(audit_path)
    return p.with_name(p.name + ".notified.sqlite")


class Claims:
    """``claim(key)``: True when this process should send the message keyed ``key``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        within: float = WITHIN,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.within = within
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.problem: str | None = None
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            db.execute(
                "CREATE TABLE IF NOT EXISTS claims "
                "(key TEXT PRIMARY KEY, owner TEXT NOT NULL, at REAL NOT NULL)"
            )
            self._db = db
        return self._db

    def claim(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            try:
                db = self._connect()
                db.execute("BEGIN IMMEDIATE")
                try:
                    row = db.execute(
                        "SELECT owner, at FROM claims WHERE key = ?", (key,)
                    ).fetchone()
                    mine = row is None or row[0] == self.owner or now - float(row[1]) > self.within
                    if mine:
                        db.execute(
                            "INSERT OR REPLACE INTO claims (key, owner, at) VALUES (?, ?, ?)",
                            (key, self.owner, now),
                        )
                        db.execute("DELETE FROM claims WHERE at < ?", (now - KEEP,))
                    db.execute("COMMIT")
                    return mine
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                self.problem = f"notifications may be sent twice: {self.path}: {exc}"
                self.close()
                return True

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

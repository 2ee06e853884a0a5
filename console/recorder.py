"""The flight recorder: every poll's figures, alarms, bake windows, actions and outside changes of a
session, kept in one local SQLite file per config, for replay, charts over time and reports.

Written by hand on the standard library's ``sqlite3`` (WAL mode): a recording is a time series of a
few numbers per poll plus rare events, which SQLite stores compactly and reads by range with no
server. Writes never run on the caller's thread: ``Recorder.frame()`` and friends put the immutable
``Frame`` (or action) on a queue and return; one writer thread turns it into rows and commits each
poll on its own, so a kill -9 loses at most the last poll. A write that fails (disk full, a path
that cannot be written) turns recording off with ``Recorder.problem`` set: the console keeps
running and actions keep working (the audit log rules actions).

Compact by design (at most 5 MB per service per day at 1 s polls; ``bench/recorder_cost.py``
measures about 51 bytes a poll): one row per poll in a ``WITHOUT ROWID`` table keyed by (service,
time, session) with no other index, figures stored as scaled integers (see ``SCALE``), the
monotonic reading as its distance from the session's clock offset (``clocks``: 0, no bytes), and
everything that repeats from poll to poll (the router's state, the active alarms, the bake window,
notes, error texts) stored once in ``blobs`` and referenced by id. The schema carries its version (``PRAGMA user_version``): a newer one is refused, an older one
migrated. Reading is :mod:`console.recording`.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from backends.base import COLOURS, Colour, ColourMetrics, RouterState
from console.model import METRIC_KEYS, BakeState, Frame, json_safe

SCHEMA_VERSION = 2  # 2: bakes.switch and bakes.decided_by (one verdict per window)
APPLICATION_ID = 0x42474331  # "BGC1": tells a recording from any other SQLite file

# Figures are stored as integers: value * SCALE[key], rounded. 0.01 req/s, 0.001 %, 0.1 ms and one
# session are finer than any panel, alarm or chart shows them.
SCALE: dict[str, int] = {"rate": 100, "error_pct": 1000, "latency_ms": 10, "sessions": 1}

BUSY_FOR = 60.0  # seconds a file may stay locked by another console before recording turns off
MAX_HELD = 600  # polls (and events) kept meanwhile, newest first
DEFAULT_DAYS = 14.0
DEFAULT_MAX_MB = 500.0

CLOCKS = """CREATE TABLE IF NOT EXISTS clocks (
    service INTEGER NOT NULL,
    session INTEGER NOT NULL,
    skew INTEGER NOT NULL,
    PRIMARY KEY (service, session)
)"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    ended REAL,
    command TEXT NOT NULL,
    operator TEXT NOT NULL,
    pid INTEGER NOT NULL,
    audit_log TEXT
);
CREATE TABLE IF NOT EXISTS services (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    router_kind TEXT NOT NULL,
    router_identity TEXT NOT NULL,
    settings TEXT NOT NULL,
    UNIQUE (name, router_identity)
);
CREATE TABLE IF NOT EXISTS blobs (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS polls (
    service INTEGER NOT NULL,
    session INTEGER NOT NULL,
    t INTEGER NOT NULL,
    mono INTEGER NOT NULL,
    state INTEGER,
    router_age INTEGER,
    metrics_age INTEGER,
    router_error INTEGER,
    metrics_error INTEGER,
    extra INTEGER,
    alarms INTEGER,
    bake INTEGER,
    blue_rate, blue_error_pct, blue_latency_ms, blue_sessions,
    green_rate, green_error_pct, green_latency_ms, green_sessions,
    PRIMARY KEY (service, t, session)
) WITHOUT ROWID;
{CLOCKS};
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    service INTEGER NOT NULL,
    session INTEGER NOT NULL,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    colour TEXT,
    metric TEXT,
    level TEXT,
    value REAL,
    threshold REAL,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (service, t);
CREATE TABLE IF NOT EXISTS bakes (
    id INTEGER PRIMARY KEY,
    service INTEGER NOT NULL,
    colour TEXT NOT NULL,
    started REAL NOT NULL,
    duration REAL NOT NULL,
    verdict TEXT,
    reason TEXT,
    decided REAL,
    session INTEGER NOT NULL,
    switch TEXT,
    decided_by TEXT
);
CREATE INDEX IF NOT EXISTS bakes_by_service ON bakes (service, started);
"""

EVENT_KINDS = (
    "alarm",  # an alarm raised or cleared (level, value, threshold)
    "action",  # an action of this console (the audit log's record is referenced in data)
    "external",  # routing changed outside the console, or an action of ours took effect late
    "router",  # the router's state changed (health, versions: what is not routing)
    "error",  # a backend could not be read (and "recovered" when it could again)
    "bake",  # a bake window started, or its verdict was decided
    "session",  # recording started or stopped
)


class RecordingError(Exception):
    """A recording cannot be opened or written: the message says what and what to do."""


def default_path(config: str | os.PathLike[str] | None) -> Path:
    """The recording of ``config`` (None: the demo) under the user's state directory
    (``$XDG_STATE_HOME/bluegreen-console/recordings/``): one file per config, named after it plus a
    digest of its absolute path (two ``prod.toml`` never share one)."""
    from platformdirs import user_state_dir

    base = Path(user_state_dir("bluegreen-console"))
    if config is None:
        return base / "recordings" / "demo.sqlite"
    p = Path(config).expanduser().resolve()
    digest = hashlib.sha256(str(p).encode()).hexdigest()[:8]
    return base / "recordings" / f"{p.stem}-{digest}.sqlite"


def connect(path: Path, *, write: bool) -> sqlite3.Connection:
    """A connection with the recording's settings (WAL, a busy timeout for a second console)."""
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{path}?mode=rwc"
    else:
        uri = f"file:{path}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 5000")
    if write:
        # Turning a new file to WAL takes a lock the busy timeout does not wait for: two consoles
        # opening a new file at once would see "database is locked". Tried again, for up to 5 s.
        for attempt in range(250):
            try:
                db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 249:
                    db.close()
                    raise
                time.sleep(0.02)
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a kill -9 loses no commit
    return db


def check_header(db: sqlite3.Connection, path: Path, *, creating: bool) -> int:
    """The file's schema version, after checking it is a recording (application_id). A new, empty
    file is stamped when ``creating``. Raises RecordingError for a foreign or newer file."""
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        with contextlib.suppress(OSError), path.open("rb") as fh:
            if fh.read(16) == b"SQLite format 3\0":
                raise  # an SQLite file that is damaged: the reader tries what is left of it
        raise RecordingError(
            f"{path}: not a bluegreen recording ({exc}); pass the file `bluegreen watch` or "
            "`demo` recorded (see `--record`)"
        ) from None
    if app_id == 0 and tables == 0:
        if not creating:
            raise RecordingError(
                f"{path}: an empty file, not a recording yet (nothing was recorded)"
            )
        return 0
    if app_id != APPLICATION_ID:
        raise RecordingError(
            f"{path}: an SQLite file, but not a bluegreen recording (application_id {app_id:#x}); "
            "pass the file `bluegreen watch` or `demo` recorded"
        )
    if version > SCHEMA_VERSION:
        raise RecordingError(
            f"{path}: recorded by a newer bluegreen (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}); upgrade bluegreen-console to read it, or record to another file "
            "with --record PATH"
        )
    return int(version)


def read_header(db: sqlite3.Connection, path: Path, *, creating: bool) -> int:
    """``check_header`` in one read transaction: its three reads agree even while another console
    creates the file (else it could read no application_id yet, and tables already there)."""
    db.execute("BEGIN")
    try:
        return check_header(db, path, creating=creating)
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.execute("COMMIT")


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a file of schema ``version`` up to SCHEMA_VERSION (0: a new file, made at once in the
    current schema). Call inside a write transaction (the recorder's and ``console.verdicts``'
    openers both do).

    Schema 2: one verdict per bake window (``bakes.switch``: the audit record of the switch that
    opened it; ``bakes.decided_by``); polls keyed by (service, t, session), which serves the reads by
    time, so the second index goes (16 bytes a poll); a poll's ``mono`` is its distance from its
    session's wall-minus-monotonic offset (``clocks.skew``): 0, no bytes, until the wall clock
    steps. Schema 1's polls keep their plain ``mono`` (no ``clocks`` row for their sessions)."""
    if version < 1:
        for statement in SCHEMA.split(";"):  # not executescript: it would commit our transaction
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    elif version < 2:
        db.execute("ALTER TABLE bakes ADD COLUMN switch TEXT")
        db.execute("ALTER TABLE bakes ADD COLUMN decided_by TEXT")
        schema = SCHEMA.split("CREATE TABLE IF NOT EXISTS polls")[1].split(";")[0]
        db.execute(f"CREATE TABLE polls_v2 {schema}")
        cols = ", ".join(r[1] for r in db.execute("PRAGMA table_info(polls)"))
        db.execute(f"INSERT INTO polls_v2 ({cols}) SELECT {cols} FROM polls")
        db.execute("DROP TABLE polls")  # and its index polls_by_time
        db.execute("ALTER TABLE polls_v2 RENAME TO polls")
        db.execute(CLOCKS)
    # version 3 and later: ALTER TABLE steps here, each guarded by `if version < N`.
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


_migrate = migrate


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def scaled(key: str, value: float | None) -> int | float | None:
    """A figure as stored: an integer of ``SCALE`` units; +/-Inf kept as a float, NaN as NULL."""
    if value is None or value != value:
        return None
    if value in (float("inf"), float("-inf")):
        return value
    return int(round(value * SCALE[key]))


def _digest(body: str) -> bytes:
    return hashlib.blake2b(body.encode(), digest_size=12).digest()


def state_json(state: RouterState) -> dict[str, Any]:
    """A router state as stored: everything but the router's own figures (the colours' are in the
    poll; each server's session count is not kept: it changes at every poll, so the state would be
    a new blob each time, and no screen shows it)."""
    return {
        "live": state.live.value if state.live else None,
        "fingerprint": state.fingerprint,
        "detail": dict(state.detail),
        "colours": {
            c.value: {
                "draining": cs.draining,
                "weight": cs.weight,
                "version": cs.version,
                "detail": dict(cs.detail),
                "scale_down_pending": cs.scale_down_pending,
                "servers": [[s.name, s.status.value, s.weight, s.check] for s in cs.servers],
            }
            for c in COLOURS
            for cs in [state.colour(c)]
        },
    }


def bake_json(bake: BakeState, last_switch: float | None) -> dict[str, Any]:
    out = {
        "verdict": bake.verdict.name.lower(),
        "colour": bake.colour.value if bake.colour else None,
        "started": bake.started,
        "duration": bake.duration,
        "reason": bake.reason,
        "last_switch": last_switch,
    }
    if bake.origin:  # decided by another console (one verdict per window): who, and when
        out["origin"] = bake.origin
    return out


def extra_json(metrics: Mapping[Colour, ColourMetrics]) -> dict[str, Any] | None:
    """The per-colour notes and latency statistic: what the figures alone do not say."""
    out: dict[str, Any] = {}
    for c in COLOURS:
        m = metrics.get(c)
        if m is None:
            continue
        item: dict[str, Any] = {}
        if m.notes:
            item["notes"] = dict(m.notes)
        if m.latency_stat != "p99":
            item["latency_stat"] = m.latency_stat
        if item:
            out[c.value] = item
    return out or None


@dataclass(frozen=True)
class ServiceInfo:
    """What a recording says about the service it watched: for replay and reports."""

    name: str
    router_kind: str
    router_identity: str
    settings: Mapping[str, Any]  # poll_interval, bake_seconds, stale_after, rules


def service_settings(config: Any) -> dict[str, Any]:
    """What a replay or a report needs of a ``ServiceConfig``: never the backends' options (they may
    hold secrets), only the poll interval, the bake window and the alarm rules."""
    rules = []
    for name, rule in config.alarms.items():
        if not rule.enabled:
            continue
        rules.append(
            {
                "name": name,
                "metric": rule.metric or name,
                "direction": rule.direction,
                "warning": rule.warning,
                "critical": rule.critical,
                "for": rule.sustain_seconds(name)[0],
                "colours": [str(c) for c in rule.colours],
                # issue 11: how it decides (a replay's "why" page describes the rule as it ran)
                "decide": rule.decides_by(name),
                "confidence": rule.confidence,
                "for_requests": rule.requests_needed(name),
                "clear_for": rule.sustain_seconds(name)[1],
            }
        )
    return {
        "poll_interval": config.poll_interval,
        "bake_seconds": config.bake_seconds,
        "stale_after": config.stale_after,
        "rules": rules,
        "router_kind": config.router.kind,
        "metrics_kind": config.metrics.kind if config.metrics else None,
    }


# ---------------------------------------------------------------- one verdict per bake window
# The ``bakes`` rows, shared by this recorder, the Monitor's ``console.verdicts.VerdictStore`` and
# every other console on the machine (each function runs inside its caller's write transaction).


def tolerance(poll_interval: float) -> float:
    """How far apart (seconds) two consoles may date the start of the same window: a couple of poll
    intervals (each sees a switch it did not make at its next poll), and at least 2 s."""
    return max(2.0, 2.0 * poll_interval + 1.0)


@dataclass(frozen=True)
class StoredVerdict:
    """A bake window's row: ``verdict`` is None while undecided, else "passed" / "failed"."""

    id: int
    verdict: str | None
    reason: str
    decided: float | None  # wall time
    decided_by: str | None  # "alice@host"

    def origin(self) -> str:
        """ "alice@host's console at 14:02" (local time), for ``BakeState.origin``."""
        who = self.decided_by or "another"
        when = (
            datetime.fromtimestamp(self.decided).strftime(" at %H:%M")
            if self.decided is not None
            else ""
        )
        return f"{who}'s console{when}"


_COLUMNS = "id, verdict, reason, decided, decided_by"


def _bake(r: tuple[Any, ...] | None) -> StoredVerdict | None:
    if r is None:
        return None
    return StoredVerdict(int(r[0]), r[1], str(r[2] or ""), r[3], r[4])


def service_id(db: sqlite3.Connection, name: str, identity: str, router_kind: str = "?") -> int:
    """The ``services`` row of (name, router identity), created if missing (the recorder fills in its
    settings when it registers the service)."""
    db.execute(
        "INSERT OR IGNORE INTO services (name, router_kind, router_identity, settings) "
        "VALUES (?,?,?,?)",
        (name, router_kind, identity, "{}"),
    )
    row = db.execute(
        "SELECT id FROM services WHERE name = ? AND router_identity = ?", (name, identity)
    ).fetchone()
    return int(row[0])


def find_window(
    db: sqlite3.Connection,
    service: int,
    colour: str,
    started: float,
    switch: str | None,
    tol: float,
) -> StoredVerdict | None:
    """The stored window matching (colour, start, switch), the closest in time first."""
    rows = db.execute(
        f"SELECT {_COLUMNS}, switch, started FROM bakes WHERE service = ? AND colour = ? "
        "AND started BETWEEN ? AND ? ORDER BY abs(started - ?), id",
        (service, colour, started - tol, started + tol, started),
    ).fetchall()
    if switch is not None:  # the same switch wins even when the two consoles dated it apart
        row = db.execute(
            f"SELECT {_COLUMNS}, switch, started FROM bakes WHERE service = ? AND colour = ? "
            "AND switch = ? ORDER BY id LIMIT 1",
            (service, colour, switch),
        ).fetchone()
        if row is not None:
            return _bake(row[:5])
    for r in rows:
        if switch is None or r[5] is None or r[5] == switch:
            return _bake(r[:5])
    return None


def open_window(
    db: sqlite3.Connection,
    service: int,
    colour: str,
    started: float,
    duration: float,
    switch: str | None,
    session: int | None,
    tol: float,
) -> StoredVerdict:
    """The window's row, inserted if no console stored it yet. Call inside a write transaction."""
    found = find_window(db, service, colour, started, switch, tol)
    if found is not None:
        if switch is not None:  # learnt the switch's audit record: later matches use it
            db.execute(
                "UPDATE bakes SET switch = ? WHERE id = ? AND switch IS NULL", (switch, found.id)
            )
        return found
    cur = db.execute(
        "INSERT INTO bakes (service, colour, started, duration, session, switch) "
        "VALUES (?,?,?,?,?,?)",
        (service, colour, started, duration, session or 0, switch),
    )
    return StoredVerdict(int(cur.lastrowid or 0), None, "", None, None)


def decide(
    db: sqlite3.Connection,
    row: int,
    verdict: str,
    reason: str,
    decided: float,
    decided_by: str,
) -> tuple[StoredVerdict | None, bool]:
    """Store ``verdict`` unless the window already has one. Call inside a write transaction.
    Returns the stored row and whether it is ours (False: someone decided first)."""
    cur = db.execute(
        "UPDATE bakes SET verdict = ?, reason = ?, decided = ?, decided_by = ? "
        "WHERE id = ? AND verdict IS NULL",
        (verdict, reason, decided, decided_by, row),
    )
    stored = bake_row(db, row)
    return stored, cur.rowcount == 1


def bake_row(db: sqlite3.Connection, row: int) -> StoredVerdict | None:
    return _bake(db.execute(f"SELECT {_COLUMNS} FROM bakes WHERE id = ?", (row,)).fetchone())


_STOP = object()


class Recorder:
    """Records one console session (any number of services) into ``path``.

    Every ``frame()`` / ``action()`` call is a queue put: safe from the UI thread. ``problem`` is
    None while recording works, else the sentence to show ("recording off: ... disk is full").
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        command: str,
        audit_log: str | os.PathLike[str] | None = None,
        days: float = DEFAULT_DAYS,
        max_mb: float = DEFAULT_MAX_MB,
        wall: Any = time.time,
    ) -> None:
        self.path = Path(path)
        self.command = command
        self.audit_log = str(audit_log) if audit_log else None
        self.days, self.max_mb = days, max_mb
        self.problem: str | None = None
        self._wall = wall
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._services: dict[tuple[str, str], int] = {}
        self._pending_services: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._blob_ids: dict[bytes, int] = {}
        self._directions: dict[str, str] = {}  # rule -> "above" / "below", from add_service
        self._intervals: dict[int, float] = {}  # service id -> poll interval (bake window matching)
        self._last: dict[int, dict[str, Any]] = {}  # per service: last errors, bake, state
        self._db: sqlite3.Connection | None = None
        self.session: int | None = None
        self.written = 0  # polls committed (for tests and the benchmark)
        self._thread: threading.Thread | None = None
        self._started = 0.0  # set by start()
        self._retry: list[Any] = []  # a batch the busy file refused, written with the next one
        self._busy_since: float | None = None
        self._flushed = threading.Condition()
        self._taken = 0
        self._done = 0

    # ---------------------------------------------------------------- the caller's side

    def start(self) -> Recorder:
        """Open (create, migrate, prune) and start the writer thread. A failure to open sets
        ``problem`` and leaves recording off; it never raises."""
        # taken here, not when the writer thread gets the file open (a prune on a big file, a
        # second console holding it): the session begins before its first poll, whatever happens
        self._started = self._wall()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        return self

    def add_service(
        self, name: str, router_kind: str, identity: str, settings: Mapping[str, Any]
    ) -> None:
        self._put(("service", name, router_kind, identity, dict(settings)))

    def frame(self, frame: Frame, identity: str) -> None:
        """Record one frame (a poll, or an action's read-back) of the service ``identity`` runs on."""
        self._put(("frame", frame, identity))

    def action(
        self,
        service: str,
        identity: str,
        entry: Mapping[str, Any] | None,
        result: str,
        message: str,
        action: str,
        when: float | None = None,
    ) -> None:
        """Record an action of this console: what it did and how it ended; ``entry`` is the audit
        log's outcome record (its id and operator are kept: the audit log stays the truth)."""
        self._put(
            (
                "action",
                service,
                identity,
                dict(entry or {}),
                result,
                message,
                action,
                when if when is not None else self._wall(),
            )
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written (tests, the benchmark, exit)."""
        with self._flushed:
            target = self._taken
            return self._flushed.wait_for(
                lambda: self._done >= target or self._thread is None or not self._thread.is_alive(),
                timeout,
            )

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._put(("close",))
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def _put(self, item: tuple[Any, ...]) -> None:
        if self.problem is not None and item[0] != "close":
            return
        with self._flushed:
            self._taken += 1
        self._queue.put(item)

    # ---------------------------------------------------------------- the writer thread

    def _run(self) -> None:
        try:
            self._open()
        except RecordingError as exc:
            self._fail(str(exc))
        except (sqlite3.Error, OSError) as exc:
            self._fail(self._advice(exc))
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            while True:  # what queued meanwhile goes in the same transaction
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(more)
            taken = len(batch)
            if self._db is not None and self.problem is None:
                batch = self._retry + batch
                self._retry = []
                try:
                    self._write(batch)
                    self._busy_since = None
                except sqlite3.OperationalError as exc:
                    if not self._hold_while_busy(batch, exc):
                        self._fail(self._advice(exc))
                except (sqlite3.Error, OSError) as exc:
                    self._fail(self._advice(exc))
                except Exception as exc:  # a bug of ours: say so, never a silent dead thread
                    self._fail(
                        f"recording off: {self.path}: internal error {type(exc).__name__}: {exc} "
                        "(the console and its actions carry on)"
                    )
            with self._flushed:
                self._done += taken  # held ones were counted when they came (flush never waits on a busy file)
                self._flushed.notify_all()
        with contextlib.suppress(sqlite3.Error):
            if self._db is not None:
                self._db.close()
        with self._flushed:
            self._flushed.notify_all()

    def _hold_while_busy(self, batch: list[Any], exc: sqlite3.OperationalError) -> bool:
        """Another console holds the file past the busy timeout (its start-up pruning, a long
        read): keep the batch and write it with the next one, for up to BUSY_FOR seconds; a file
        busy longer than that turns recording off. Returns whether the batch is kept."""
        text = str(exc).lower()
        if "locked" not in text and "busy" not in text:
            return False
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
        if now - self._busy_since > BUSY_FOR:
            return False
        self._retry = batch[-MAX_HELD:]
        return True

    def _fail(self, problem: str) -> None:
        self.problem = problem
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def _advice(self, exc: BaseException) -> str:
        text = str(exc)
        low = text.lower()
        if "full" in low or getattr(exc, "errno", None) == 28:
            why = "the disk is full; free space there, or record elsewhere with --record PATH"
        elif "readonly" in low or "read-only" in low or getattr(exc, "errno", None) in (13, 30):
            why = "the path cannot be written; fix its permissions, or record elsewhere with --record PATH"
        elif "unable to open" in low:
            why = "the file cannot be created there; check the directory, or pass --record PATH"
        else:
            why = "pass --record PATH to record elsewhere, or --no-record"
        return f"recording off: {self.path}: {text}: {why} (the console and its actions carry on)"

    def _open(self) -> None:
        db = connect(self.path, write=True)
        self._db = db
        version = read_header(db, self.path, creating=True)
        db.execute("BEGIN IMMEDIATE")
        try:
            version = check_header(db, self.path, creating=True)  # a second console may have won
            migrate(db, version)
            self._prune(db)
            cur = db.execute(
                "INSERT INTO sessions (started, command, operator, pid, audit_log) VALUES (?,?,?,?,?)",
                (self._started, self.command, operator_name(), os.getpid(), self.audit_log),
            )
            self.session = cur.lastrowid
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _prune(self, db: sqlite3.Connection) -> None:
        """Retention, at start: drop what is older than ``days``, then the oldest polls until the
        file is under ``max_mb`` (events and verdicts are kept longer: they are small)."""
        cutoff = self._wall() - self.days * 86400
        db.execute("DELETE FROM polls WHERE t < ?", (_ms(cutoff),))
        db.execute("DELETE FROM events WHERE t < ?", (cutoff,))
        db.execute("DELETE FROM bakes WHERE started < ?", (cutoff,))
        db.execute(
            "DELETE FROM sessions WHERE started < ? AND id NOT IN "
            "(SELECT DISTINCT session FROM polls)",
            (cutoff,),
        )
        page = db.execute("PRAGMA page_size").fetchone()[0]
        used = (
            db.execute("PRAGMA page_count").fetchone()[0]
            - db.execute("PRAGMA freelist_count").fetchone()[0]
        ) * page
        limit = self.max_mb * 1024 * 1024
        if used > limit:
            total = db.execute("SELECT count(*) FROM polls").fetchone()[0] or 1
            drop = int(total * (1 - 0.9 * limit / used)) + 1
            row = db.execute("SELECT t FROM polls ORDER BY t LIMIT 1 OFFSET ?", (drop,)).fetchone()
            if row:
                db.execute("DELETE FROM polls WHERE t < ?", (row[0],))

    def _write(self, batch: Iterable[tuple[Any, ...]]) -> None:
        db = self._db
        assert db is not None
        db.execute(
            "BEGIN IMMEDIATE"
        )  # the write lock first: bake rows are found-or-inserted inside
        try:
            for item in batch:
                kind = item[0]
                if kind == "service":
                    self._service(db, *item[1:])
                elif kind == "frame":
                    self._frame(db, item[1], item[2])
                elif kind == "action":
                    self._action(db, *item[1:])
                elif kind == "close":
                    db.execute(
                        "UPDATE sessions SET ended = ? WHERE id = ?", (self._wall(), self.session)
                    )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            self._blob_ids.clear()  # ids taken in the rolled-back transaction are gone
            raise

    def _service(
        self, db: sqlite3.Connection, name: str, kind: str, identity: str, settings: dict[str, Any]
    ) -> int:
        body = json.dumps(json_safe(settings), sort_keys=True, allow_nan=False)
        db.execute(
            "INSERT INTO services (name, router_kind, router_identity, settings) VALUES (?,?,?,?) "
            "ON CONFLICT (name, router_identity) DO UPDATE SET settings = excluded.settings, "
            "router_kind = excluded.router_kind",
            (name, kind, identity, body),
        )
        sid = db.execute(
            "SELECT id FROM services WHERE name = ? AND router_identity = ?", (name, identity)
        ).fetchone()[0]
        self._services[(name, identity)] = sid
        with contextlib.suppress(TypeError, ValueError):
            self._intervals[sid] = float(settings.get("poll_interval") or 1.0)
        for spec in settings.get("rules") or []:
            self._directions[str(spec.get("name"))] = str(spec.get("direction", "above"))
        return int(sid)

    def _service_id(self, db: sqlite3.Connection, name: str, identity: str) -> int:
        sid = self._services.get((name, identity))
        if sid is None:  # a frame before add_service (a test, a library user): record it anyway,
            # under the service as an earlier session described it, when one did
            db.execute(
                "INSERT OR IGNORE INTO services (name, router_kind, router_identity, settings) "
                "VALUES (?, '?', ?, '{}')",
                (name, identity),
            )
            row = db.execute(
                "SELECT id FROM services WHERE name = ? AND router_identity = ?", (name, identity)
            ).fetchone()
            sid = self._services[(name, identity)] = int(row[0])
        return sid

    def _blob(self, db: sqlite3.Connection, data: Any) -> int | None:
        if data is None:
            return None
        body = (
            data
            if isinstance(data, str)
            else json.dumps(json_safe(data), sort_keys=True, allow_nan=False)
        )
        digest = _digest(body)
        bid = self._blob_ids.get(digest)
        if bid is None:
            db.execute("INSERT OR IGNORE INTO blobs (digest, body) VALUES (?, ?)", (digest, body))
            bid = db.execute("SELECT id FROM blobs WHERE digest = ?", (digest,)).fetchone()[0]
            if len(self._blob_ids) > 50_000:
                self._blob_ids.clear()
            self._blob_ids[digest] = bid
        return bid

    def _event(
        self,
        db: sqlite3.Connection,
        sid: int,
        t: float,
        kind: str,
        message: str,
        colour: str | None = None,
        metric: str | None = None,
        level: str | None = None,
        value: float | None = None,
        threshold: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO events (service, session, t, kind, colour, metric, level, value, threshold,"
            " message, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                sid,
                self.session,
                t,
                kind,
                colour,
                metric,
                level,
                _finite(value),
                _finite(threshold),
                message,
                json.dumps(json_safe(dict(data)), allow_nan=False) if data else None,
            ),
        )

    def _frame(self, db: sqlite3.Connection, frame: Frame, identity: str) -> None:
        snap = frame.snapshot
        sid = self._service_id(db, snap.service, identity)
        last = self._last.setdefault(sid, {})
        t, mono = snap.time, snap.mono_time
        state = state_json(snap.router) if snap.router else None
        # Every rule's state, without its value and message (rebuilt on reading from the figures and
        # ``alarm_message``): the entry stays the same blob from poll to poll until a level moves.
        alarms = [
            [
                a.rule,
                a.metric,
                a.colour.value,
                int(a.level),
                int(a.pending),
                _finite(a.threshold),
                a.since,
                self._directions.get(a.rule, "above"),
            ]
            # issue 11: an alarm firing or pending keeps its figure and evidence (the counts'
            # figure, not the panel's); an idle rule's would change the blob at every poll
            + ([_finite(a.value), a.evidence, a.evidence_source] if a.firing or a.pending else [])
            for a in frame.alarms.states
        ]
        bake = bake_json(frame.bake, frame.last_switch)
        t_ms = _ms(t)
        if t_ms <= last.get("t_ms", -1):  # an action's read-back in the same millisecond as a poll
            t_ms = last["t_ms"] + 1
        last["t_ms"] = t_ms
        skew = last.get("skew")
        if skew is None:  # the session's offset of wall over monotonic time, once per service
            skew = last["skew"] = t_ms - _ms(mono)
            db.execute(
                "INSERT OR REPLACE INTO clocks (service, session, skew) VALUES (?,?,?)",
                (sid, self.session, skew),
            )
        row: list[Any] = [
            sid,
            self.session,
            t_ms,
            t_ms - _ms(mono) - skew,  # 0 while the wall clock is not stepped: mono = t - skew
            self._blob(db, state),
            _age_ms(snap.router_time, mono),
            _age_ms(snap.metrics_time, mono),
            self._blob(db, snap.router_error),
            self._blob(db, snap.metrics_error),
            self._blob(db, extra_json(snap.metrics)),
            self._blob(db, alarms or None),
            self._blob(db, bake),
        ]
        for c in COLOURS:
            m = snap.colour_metrics(c)
            row.extend(scaled(k, m.value(k)) for k in METRIC_KEYS)
        db.execute(f"INSERT OR REPLACE INTO polls VALUES ({','.join('?' * len(row))})", row)
        self.written += 1
        self._frame_events(db, sid, frame, last, state)

    def _frame_events(
        self,
        db: sqlite3.Connection,
        sid: int,
        frame: Frame,
        last: dict[str, Any],
        state: dict[str, Any] | None,
    ) -> None:
        snap = frame.snapshot
        t = snap.time
        for ev in frame.alarms.events:
            a = ev.alarm
            word = "raised" if ev.raised else "cleared"
            data = {"rule": a.rule, "previous": ev.previous.label, "change": word}
            if ev.reason:  # "no traffic": the alarm ended with the colour's traffic, not recovered
                data["reason"] = ev.reason
            self._event(
                db,
                sid,
                t,
                "alarm",
                ev.text,
                a.colour.value,
                a.metric,
                a.level.label,
                a.value,
                a.threshold,
                data,
            )
        if snap.external_change:
            self._event(db, sid, t, "external", snap.external_change)
        for key, text in (("router", snap.router_error), ("metrics", snap.metrics_error)):
            before = last.get(key)
            if text != before:
                if text:
                    self._event(db, sid, t, "error", text, data={"source": key})
                elif before:
                    self._event(
                        db,
                        sid,
                        t,
                        "error",
                        f"the {key} answers again",
                        data={"source": key, "recovered": True},
                    )
                last[key] = text
        if state is not None:
            health = {c: [(s[0], s[1]) for s in v["servers"]] for c, v in state["colours"].items()}
            versions = {c: v["version"] for c, v in state["colours"].items()}
            prev = last.get("health")
            if (
                prev is not None
                and (prev[0] != health or prev[1] != versions)
                and not snap.external_change
            ):
                self._event(db, sid, t, "router", _health_change(prev, (health, versions)))
            last["health"] = (health, versions)
        self._bake_events(db, sid, frame, last)

    def _bake_events(
        self, db: sqlite3.Connection, sid: int, frame: Frame, last: dict[str, Any]
    ) -> None:
        """The bake window's row (one per window, whoever stores it first: this recorder, the
        Monitor's ``VerdictStore`` or another console; see ``console.verdicts``), its verdict unless
        one is stored, and this session's "started" and "decided" events."""
        bake = frame.bake
        if bake.colour is None or bake.started is None:
            return
        snap = frame.snapshot
        t, mono = snap.time, snap.mono_time
        key = (bake.colour.value, round(bake.started, 3))
        verdict = bake.verdict.name.lower()
        seen = last.get("bake")
        if seen is None or seen[0] != key:
            started_wall = t - (mono - bake.started)
            tol = tolerance(self._intervals.get(sid, 1.0))
            row = open_window(
                db, sid, bake.colour.value, started_wall, bake.duration, None, self.session, tol
            )
            last["bake"] = seen = [key, row.id, None]
            if verdict == "baking":
                self._event(
                    db,
                    sid,
                    started_wall,
                    "bake",
                    f"bake of {bake.colour} started ({bake.duration:.0f} s window)",
                    bake.colour.value,
                    data={"bake": row.id},
                )
        if verdict in ("passed", "failed") and seen[2] != verdict:
            if not bake.origin:  # a verdict read from the store is stored already
                decide(db, seen[1], verdict, bake.reason, t, operator_name())
            text = f"BAKE {verdict.upper()} {bake.colour}" + (
                f": {bake.reason}" if bake.reason else ""
            )
            data: dict[str, Any] = {"bake": seen[1], "verdict": verdict}
            if bake.origin:
                text += f" (decided by {bake.origin})"
                data["decided_by"] = bake.origin
            self._event(db, sid, t, "bake", text, bake.colour.value, level=verdict, data=data)
            seen[2] = verdict

    def _action(
        self,
        db: sqlite3.Connection,
        service: str,
        identity: str,
        entry: dict[str, Any],
        result: str,
        message: str,
        action: str,
        when: float,
    ) -> None:
        sid = self._service_id(db, service, identity)
        data = {
            "action": action,
            "result": result,
            "audit_id": entry.get("id"),
            "intent": entry.get("intent"),
            "operator": entry.get("operator") or entry.get("user"),
            "target": entry.get("target"),
        }
        self._event(
            db,
            sid,
            float(entry.get("epoch") or when),
            "action",
            message,
            str(entry.get("target")) if entry.get("target") else None,
            level=result,
            data={k: v for k, v in data.items() if v is not None},
        )


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def _age_ms(then: float | None, mono: float) -> int | None:
    return None if then is None else max(0, _ms(mono - then))


def _health_change(prev: tuple[Any, Any], now: tuple[Any, Any]) -> str:
    parts: list[str] = []
    for c in ("blue", "green"):
        old = dict(prev[0].get(c, []))
        for name, status in now[0].get(c, []):
            if name in old and old[name] != status:
                parts.append(f"{name} {old[name]} → {status}")
            elif name not in old:
                parts.append(f"{name} appeared ({status})")
        new_names = {n for n, _ in now[0].get(c, [])}
        parts.extend(f"{name} gone" for name in old if name not in new_names)
        if prev[1].get(c) != now[1].get(c):
            parts.append(f"{c} version {prev[1].get(c)} → {now[1].get(c)}")
    return "router: " + (", ".join(parts) or "state changed")


def operator_name() -> str:
    """ "alice@host": who runs this console, as sessions and bake verdicts name them."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in a container: the uid says enough
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


_operator = operator_name

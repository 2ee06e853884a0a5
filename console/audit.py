"""The audit log: JSON lines, written ahead of every change and fsync'd.

Each line: ``time`` (ISO 8601, UTC), ``epoch``, ``user``, ``host``, ``service``, ``router`` (the kind),
``router_id`` (the router's identity: kind plus address), ``action``, ``target``, ``before``,
``after``, ``result``, ``error``, and ``id`` / ``record`` / ``intent``:

* ``record = "intent"`` (``result`` null): written and fsync'd *before* the router is touched. A
  failed write refuses the action: nothing was done.
* ``record = "outcome"``: what came of an attempt (``result`` ``ok`` | ``refused`` | ``failed`` |
  ``cancelled``); ``intent`` holds the id of its intent when one was written (a preflight refusal or
  a cancel has none: the router was not touched).
* ``record = "reconciled"``: an intent found without an outcome (the process died between the router
  and the log), checked against what the router shows now; ``intent`` names it, ``after`` is the
  router's state, ``error`` says whether the action took effect, ``applied`` true / false / null.
* An outcome whose verb timed out after it was sent says ``unknown: true`` and ``reconcile_until``
  (epoch seconds): the router may still apply it late (a frozen HAProxy that resumes). Until then,
  whoever reads the router next (the console's polls, ``status``, a preflight) records a
  ``reconciled`` entry with ``late: true`` and ``applied: true`` once the router shows what the
  action asked; rollback then finds that switch. Nothing is recorded if it never shows.

Lines are appended with O_APPEND, one write(2) each, and fsync'd. A torn last line (a crash in the
middle of a write, a full disk) is ended with a newline before the next append, so it never swallows
the next entry; readers skip it with a note.

Rollback's target comes from this file (the colour that was live before the last switch of the
service *on the same router* that moved the live colour), so rollback works after a restart.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from backends.base import Colour, RouterState
from backends.clock import Clock
from console.model import json_safe

if TYPE_CHECKING:
    from console.runtime import ServiceRuntime

APP_NAME = "bluegreen-console"
SWITCHING_ACTIONS = ("switch", "rollback")


def default_path() -> Path:
    """``$XDG_STATE_HOME/bluegreen-console/audit.jsonl`` (``~/.local/state/...`` on Linux)."""
    return Path(platformdirs.user_state_dir(APP_NAME)) / "audit.jsonl"


def demo_default_path() -> Path:
    """``bluegreen demo``'s own log beside the default (``demo-audit.jsonl``): a demo never writes
    into the real log under a service name a real config may use too."""
    return default_path().with_name("demo-audit.jsonl")


def _mount_point(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return p


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
        self.notes: list[str] = []  # what the last read skipped (torn or foreign lines), for people

    def _open(self, flags: int = os.O_WRONLY) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, flags | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> AuditError:
        where = f"the audit log {self.path}"
        other = "or choose another file with --audit-log PATH"
        if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
            return AuditError(
                f"cannot write {where}: the disk is full (no space left on the filesystem at "
                f"{_mount_point(self.path)}); free some space there {other}"
            )
        if exc.errno == errno.EROFS:
            return AuditError(
                f"cannot write {where}: the filesystem at {_mount_point(self.path)} is mounted "
                f"read-only; remount it read-write {other}"
            )
        if exc.errno in (errno.EACCES, errno.EPERM):
            return AuditError(
                f"cannot write {where}: {exc.strerror or exc}; fix its permissions {other}"
            )
        return AuditError(f"cannot write {where}: {exc.strerror or exc}; fix it {other}")

    def check_writable(self) -> None:
        """Raise AuditError unless the file can be opened for appending now (checked first thing in a
        preflight; the intent record, written before the router is touched, is the real test)."""
        os.close(self._open())

    def append(self, **fields: Any) -> dict[str, Any]:
        """Write one entry and fsync it. Returns the entry as written.

        If the file does not end with a newline (a torn last line), one is written first, in the
        same write(2), so the torn line never swallows this entry."""
        epoch = self._clock() if self._clock else datetime.now(timezone.utc).timestamp()
        entry = {
            "time": datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds"),
            "epoch": round(epoch, 3),
            "user": _user(),
            "host": socket.gethostname(),
            "id": uuid.uuid4().hex[:16],
            "record": "outcome",
            "intent": None,
            "service": None,
            "router": None,
            "router_id": None,
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
        fd = self._open(os.O_RDWR)
        try:
            # Appenders take turns (a flock, dropped if one dies), so that the check for a torn last
            # line does not see another writer's line half-copied.
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            written = os.write(fd, line)  # one write(2) on an O_APPEND fd: the line lands whole
            if written != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        except OSError as exc:
            raise self._error(exc) from None
        finally:
            os.close(fd)
        return entry

    def entries(self, service: str | None = None) -> Iterator[dict[str, Any]]:
        """Every well-formed entry, oldest first. A torn or foreign line is skipped with a note in
        ``notes``, never fatal, and never at the cost of the entry after it."""
        self.notes = []
        try:
            fh = self.path.open(encoding="utf-8", errors="replace")
        except OSError:
            return
        with fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw)
                except ValueError:
                    self.notes.append(
                        f"{self.path} line {n} is not a whole JSON record (torn by a crash?): skipped"
                    )
                    continue
                if not isinstance(entry, dict):
                    self.notes.append(f"{self.path} line {n} is not an audit record: skipped")
                    continue
                if service is None or entry.get("service") == service:
                    yield entry

    @staticmethod
    def _same_router(entry: dict[str, Any], router: str | None) -> bool:
        """``router``: an identity, or None for any. A record from before identities were written
        (no ``router_id``) matches by kind: the identity's first word."""
        if router is None:
            return True
        rid = entry.get("router_id")
        if rid is not None:
            return bool(rid == router)
        return bool(entry.get("router") == router.split(" ", 1)[0])

    def last_switch(self, service: str, router: str | None = None) -> dict[str, Any] | None:
        """The newest switch or rollback of ``service`` (on the router named ``router``, an identity)
        that moved the live colour: a successful one, a failed one whose read-back shows the colour
        moved all the same, or an unfinished one the router was found to have applied
        (``reconciled``)."""
        last = None
        for e in self.entries(service):
            if e.get("action") not in SWITCHING_ACTIONS or e.get("result") not in (
                "ok",
                "failed",
                "reconciled",
            ):
                continue
            if not self._same_router(e, router):
                continue
            before, after = e.get("before") or {}, e.get("after") or {}
            if (
                isinstance(before, dict)
                and isinstance(after, dict)
                and after.get("live") not in (None, before.get("live"))
            ):
                last = e
        return last

    def rollback_target(
        self, service: str, router: str | None = None
    ) -> tuple[Colour, dict[str, Any]] | None:
        """The colour that was live before the last switch of ``service`` on ``router``, with that
        entry."""
        entry = self.last_switch(service, router)
        if not entry:
            return None
        before = entry.get("before") or {}
        try:
            return Colour.parse(str(before.get("live"))), entry
        except ValueError:
            return None

    def unfinished(self, service: str, router: str | None = None) -> list[dict[str, Any]]:
        """Intents of ``service`` on ``router`` that no outcome or reconciled record answers."""
        intents: dict[str, dict[str, Any]] = {}
        for e in self.entries(service):
            if not self._same_router(e, router):
                continue
            if e.get("record") == "intent" and e.get("id"):
                intents[str(e["id"])] = e
            elif e.get("intent"):
                intents.pop(str(e["intent"]), None)
        return list(intents.values())

    def now(self) -> float:
        return self._clock() if self._clock else datetime.now(timezone.utc).timestamp()

    def late(
        self, service: str, router: str | None = None, now: float | None = None
    ) -> list[dict[str, Any]]:
        """Intents of ``service`` on ``router`` whose outcome is unknown (the verb timed out after it
        was sent), that no ``reconciled`` record answers yet and whose ``reconcile_until`` has not
        passed at ``now`` (default: the log's clock). Each is the intent record, plus
        ``reconcile_until``."""
        now = self.now() if now is None else now
        intents: dict[str, dict[str, Any]] = {}
        open_: dict[str, dict[str, Any]] = {}
        for e in self.entries(service):
            if not self._same_router(e, router):
                continue
            rid, ref = e.get("id"), e.get("intent")
            if e.get("record") == "intent" and rid:
                intents[str(rid)] = e
            elif e.get("record") == "outcome" and ref and e.get("unknown"):
                until = e.get("reconcile_until")
                intent = intents.get(str(ref))
                if intent is not None and isinstance(until, (int, float)):
                    open_[str(ref)] = {**intent, "reconcile_until": float(until)}
            elif e.get("record") == "reconciled" and ref:
                open_.pop(str(ref), None)
        return [i for i in open_.values() if i["reconcile_until"] >= now]

    def reconcile_late(
        self, service: str, router: str, kind: str, state: RouterState
    ) -> list[dict[str, Any]]:
        """For every action of ``service`` on ``router`` whose outcome was unknown and that the
        router now shows applied (``late``), record it (``reconciled``, ``late: true``, ``applied:
        true``, ``after`` the state read). One not applied yet is left open until its
        ``reconcile_until``. Returns the records written (AuditError if they cannot be)."""
        written = []
        for intent in self.late(service, router):
            took, _text = took_effect(intent, state)
            if took is not True:
                continue
            written.append(
                self._reconciled(
                    intent,
                    service,
                    router,
                    kind,
                    state,
                    late_text(intent),
                    applied=True,
                    late=True,
                    sent=intent.get("epoch"),
                )
            )
        return written

    def _reconciled(
        self,
        intent: dict[str, Any],
        service: str,
        router: str,
        kind: str,
        state: RouterState,
        text: str,
        **extra: Any,
    ) -> dict[str, Any]:
        """Append the ``reconciled`` record of ``intent``: what the router shows now. The intent's
        tags (``by``, ``cause``, ``inside_warm_window``) are copied: a process killed mid-action
        must not turn an auto-rollback or a --cold drain into an anonymous one."""
        tags = {k: intent[k] for k in _INTENT_TAGS if k in intent and k not in extra}
        return self.append(
            record="reconciled",
            intent=intent.get("id"),
            service=service,
            router=kind,
            router_id=router,
            action=intent.get("action"),
            target=intent.get("target"),
            before=intent.get("before"),
            after=state.summary(),
            result="reconciled",
            error=text,
            **tags,
            **extra,
        )

    def reconcile(
        self, service: str, router: str, kind: str, state: RouterState
    ) -> list[dict[str, Any]]:
        """Record what the router shows now for every unfinished intent of ``service`` on ``router``
        (the caller holds the service's lock, so no intent is still in flight), and every action
        with an unknown outcome that the router now shows applied (``reconcile_late``). Returns the
        ``reconciled`` records written (AuditError if they cannot be)."""
        written = self.reconcile_late(service, router, kind, state)
        for intent in self.unfinished(service, router):
            took, text = took_effect(intent, state)
            written.append(
                self._reconciled(intent, service, router, kind, state, text, applied=took)
            )
        return written


_INTENT_TAGS = ("by", "cause", "inside_warm_window")


def took_effect(intent: dict[str, Any], state: RouterState) -> tuple[bool | None, str]:
    """Whether the router shows ``intent``'s action as done now, and a sentence saying so."""
    action, target = intent.get("action"), intent.get("target")
    who = f"{intent.get('user')}@{intent.get('host')} at {intent.get('time')}"
    head = f"no outcome was recorded for {action} {target or ''}".rstrip() + f" ({who})"
    live = state.live.value if state.live else None
    weights = intent.get("weights") or {}
    took: bool | None
    if action in SWITCHING_ACTIONS:
        took = live == target
        now = f"the router shows {live or 'no colour'} live"
    elif action in ("drain", "ready") and target in ("blue", "green"):
        draining = state.colour(Colour(target)).draining
        took = draining if action == "drain" else not draining
        now = f"the router shows {target} {'draining' if draining else 'ready'}"
    elif action == "weights" and isinstance(weights, dict) and weights:
        got = {c: state.colour(Colour(c)).weight for c in weights if c in ("blue", "green")}
        took = all(got.get(c) == w for c, w in weights.items())
        now = "the router shows weights " + ", ".join(f"{c} {w}%" for c, w in got.items())
    else:
        took, now = None, "the router's state is recorded in after"
    verdict = {True: "it took effect", False: "it did not take effect", None: "unknown"}[took]
    return took, f"{head}: {now}: {verdict}"


def late_text(intent: dict[str, Any]) -> str:
    """``the switch to green sent at 16:40:02 took effect late; recorded`` (local time, as the
    console's log shows times)."""
    action, target = intent.get("action"), intent.get("target")
    what = f"the {action}" + (f" to {target}" if action in SWITCHING_ACTIONS and target else "")
    if action in ("drain", "ready") and target:
        what = f"the {action} of {target}"
    try:
        sent = datetime.fromtimestamp(float(intent["epoch"])).strftime("%H:%M:%S")
    except (KeyError, TypeError, ValueError, OverflowError):
        sent = str(intent.get("time", "?"))
    return f"{what} sent at {sent} took effect late; recorded"


def reconcile_unfinished(audit: AuditLog, runtime: ServiceRuntime) -> list[dict[str, Any]]:
    """At the start of a console or ``status``: reconcile the service's unfinished intents (and its
    actions whose outcome is unknown, if the router now shows them applied) against the router, if
    there are any and no action of the service is under way on this machine (its lock is free).
    Reads the router only when there is something to reconcile. Raises BackendError or
    AuditError; returns the records written."""
    from console.lock import ServiceLock, lock_path

    router = runtime.router
    if not audit.unfinished(runtime.name, router.identity) and not audit.late(
        runtime.name, router.identity
    ):
        return []
    lock = ServiceLock(lock_path(audit.path, runtime.name, router.identity), runtime.name)
    with lock.try_hold("reconcile") as held:
        if not held:
            return []
        state = runtime.router_guard.call(router.state)
        return audit.reconcile(runtime.name, router.identity, router.kind, state)


def reconcile_late(
    audit: AuditLog, runtime: ServiceRuntime, state: RouterState
) -> list[dict[str, Any]]:
    """At a poll: record the service's actions with an unknown outcome that ``state`` (just read)
    shows applied, unless an action of the service is under way on this machine (then the next poll
    does it). Raises AuditError; returns the records written."""
    from console.lock import ServiceLock, lock_path

    router = runtime.router
    lock = ServiceLock(lock_path(audit.path, runtime.name, router.identity), runtime.name)
    with lock.try_hold("reconcile") as held:
        if not held:
            return []
        return audit.reconcile_late(runtime.name, router.identity, router.kind, state)

"""Notifications: what the console tells people who are not looking at it.

Sent through apprise (Slack, Teams, PagerDuty, e-mail, a generic JSON webhook and ~100 more, each
named by a URL), never by hand: the formats and the auth of those services are theirs to keep.

Two parts:

* :class:`NotifyFeed` (pure): turns what the console saw into :class:`Message` objects: a critical
  alarm raised or cleared, a bake passed or failed, an action done or failed, routing changed
  outside the console. It reads Frames and action outcomes; it never sends.
* :class:`Notifier` (I/O, one thread): sends them. ``send()`` never blocks: messages go on a bounded
  queue; a full queue drops the message and says so. Each message gets a bounded number of
  attempts with a short back-off and a timeout per attempt, so an endpoint that is down, slow or
  answers 500 costs a line in :meth:`Notifier.problems` (the action log shows it), never a poll or
  a keystroke.

Where the URLs come from (``[notify]`` in the config, see ``console.config.NotifyConfig``): an
environment variable or a file, never the config text (an apprise URL holds the service's token).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from console.config import ConfigFileError, NotifyConfig
from console.model import BakeVerdict, Frame, Level
from console.notifyclaims import Claims, claims_path

Kind = Literal["alarm", "bake", "action", "outside", "test"]
KINDS: tuple[Kind, ...] = ("alarm", "bake", "action", "outside", "test")
Severity = Literal["info", "success", "warning", "failure"]

QUEUE_SIZE = 64
ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the second attempt, doubled before each later one
TIMEOUT = 5.0  # seconds per attempt (apprise's connect and read timeouts)


@dataclass(frozen=True)
class Message:
    """One notification.

    Attributes:
        kind: what it is about (the ``events`` filter of ``[notify]`` picks among these).
        severity: apprise's notify type: info, success, warning or failure.
        title: one short line, e.g. "shop: CRITICAL green error %".
        body: the detail, e.g. the alarm's message with its figures.
        key: names the event for processes that share an audit log (``console.notifyclaims``):
            another process that sends the same key within a minute does not; "" for a message
            only this process can have (an action it ran, a test).
    """

    kind: Kind
    severity: Severity
    title: str
    body: str
    key: str = ""


class NotifyFeed:
    """What is worth a notification, from the frames and action outcomes one service produces.

    Pure and cheap: call :meth:`frame` with every frame applied and :meth:`action` with every action
    outcome; each returns the messages to send (often none)."""

    def __init__(
        self,
        service: str,
        kinds: Iterable[str] = KINDS,
        explained: Callable[[str], bool] | None = None,
    ) -> None:
        self.service = service
        self.kinds = frozenset(kinds)
        # ``explained(change_text)``: True when an action of this service (another bluegreen
        # process: a CLI switch, bake's auto-rollback) explains a change the router showed, so it
        # is not told as "routing changed outside"
        self.explained = explained
        self._bake: tuple[Any, ...] | None = None  # the last bake verdict told: (colour, start, v)

    def frame(self, frame: Frame) -> list[Message]:
        out: list[Message] = []
        svc = self.service
        for ev in frame.alarms.events:
            a = ev.alarm
            event = f"{svc} alarm {a.colour} {a.rule}"
            if ev.raised and a.level == Level.CRITICAL:
                out.append(
                    Message("alarm", "failure", f"{svc}: {a.message}", a.message, event + " raised")
                )
            elif not ev.raised and ev.previous == Level.CRITICAL:
                # only a full recovery is a success: down to WARNING is still a warning, and an
                # alarm ended because the traffic left recovered nothing
                severity: Severity = "success"
                if ev.reason:
                    severity = "info"
                elif a.level >= Level.WARNING:
                    severity = "warning"
                out.append(
                    Message("alarm", severity, f"{svc}: {ev.text}", ev.text, event + " ended")
                )
        bake = frame.bake
        # A verdict decided here, told once. One read back from the recording (``origin``) was
        # decided, and told, by the console that decided it.
        if bake.decided and bake.colour is not None and not bake.origin:
            key = (bake.colour, round(bake.started or 0.0, 3), bake.verdict)
            if key != self._bake:
                self._bake = key
                passed = bake.verdict == BakeVerdict.PASSED
                title = f"{svc}: BAKE {bake.verdict.name} {bake.colour}"
                body = bake.verdict_text()
                sev: Severity = "success" if passed else "failure"
                event = f"{svc} bake {bake.colour} {bake.verdict.name}"
                out.append(Message("bake", sev, title, body, event))
        change = frame.snapshot.external_change
        if change and not (self.explained is not None and self.explained(change)):
            out.append(
                Message(
                    "outside",
                    "warning",
                    f"{svc}: routing changed outside",
                    change,
                    f"{svc} {change}",
                )
            )
        return [m for m in out if m.kind in self.kinds]

    def action(self, ok: bool, result: str, message: str, by: str = "") -> list[Message]:
        """An action's outcome: ``result`` is the audit's word (ok, refused, failed), ``message``
        the log's line, ``by`` who ran it ("auto" for an auto-rollback)."""
        if "action" not in self.kinds:
            return []
        who = f" ({by})" if by else ""
        word = "done" if ok else result.upper()
        severity: Severity = "success" if ok else "failure"
        return [Message("action", severity, f"{self.service}: action {word}{who}", message)]


Sender = Callable[[Message], tuple[bool, str]]


class Notifier:
    """Sends messages on a thread of its own. ``urls`` are apprise URLs; ``sender`` replaces
    apprise (tests of the queue's bounds). ``sleep`` is the back-off's wait (injected in tests)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        queue_size: int = QUEUE_SIZE,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        timeout: float = TIMEOUT,
        sender: Sender | None = None,
        sleep: Callable[[float], None] = time.sleep,
        claims: Claims | None = None,
    ) -> None:
        self.attempts = max(1, attempts)
        self.claims = claims  # one message per event across processes (console.notifyclaims)
        self.told_elsewhere = 0  # messages another process claimed first
        self.backoff = backoff
        self._sleep = sleep
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=max(1, queue_size))
        self._problems: deque[str] = deque(maxlen=50)
        self._lock = threading.Lock()
        self._dropped = 0
        self.sent = 0
        self.failed = 0
        # one sender per endpoint, each retried on its own: a dead endpoint never makes the healthy
        # ones get the message twice
        self._endpoints: list[tuple[str, Sender]] = (
            [("", sender)] if sender is not None else _apprise_senders(urls, timeout)
        )
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def send(self, message: Message) -> bool:
        """Queue ``message``; never blocks. False (and a problem line) when the queue is full."""
        try:
            self._queue.put_nowait(message)
            return True
        except queue.Full:
            with self._lock:
                self._dropped += 1
                self._problems.append(
                    f"notification dropped, {self._queue.maxsize} still waiting to be sent "
                    f"(the endpoint is slow or down): {message.title}"
                )
            return False

    def send_all(self, messages: Iterable[Message]) -> None:
        for m in messages:
            self.send(m)

    def problems(self) -> list[str]:
        """The failures since the last call, one line each, for the action log."""
        with self._lock:
            out = list(self._problems)
            self._problems.clear()
            if self.claims is not None and self.claims.problem:
                out.append(self.claims.problem)
                self.claims.problem = None
        return out

    def close(self, timeout: float = 2.0) -> None:
        """Stop after the message being sent (at most ``timeout`` seconds); the rest are dropped."""
        with contextlib.suppress(queue.Full):
            while True:  # make room for the stop mark: what is still queued is not sent
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put_nowait(None)
        self._thread.join(timeout)

    @property
    def pending(self) -> int:
        """Messages queued or being sent."""
        return int(self._queue.unfinished_tasks)

    @property
    def busy(self) -> bool:
        return self._thread.is_alive() and self.pending > 0

    def flush(self, timeout: float) -> bool:
        """Wait (bounded) until every queued message was sent or given up. True when done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            msg = self._queue.get()
            try:
                if msg is None:
                    return
                self._deliver(msg)
            finally:
                self._queue.task_done()

    def _deliver(self, msg: Message) -> None:
        if msg.key and self.claims is not None and not self.claims.claim(msg.key):
            with self._lock:
                self.told_elsewhere += 1
            return
        failed = 0
        for name, send in self._endpoints:
            if not self._deliver_to(name, send, msg):
                failed += 1
        with self._lock:
            if failed:
                self.failed += 1
            else:
                self.sent += 1

    def _deliver_to(self, name: str, send: Sender, msg: Message) -> bool:
        why = ""
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            try:
                ok, why = send(msg)
            except Exception as exc:  # a sender's bug must not kill the thread
                ok, why = False, f"{type(exc).__name__}: {exc}"
            if ok:
                return True
        detail = "; ".join(x for x in (f"to {name}" if name else "", why) if x)
        with self._lock:
            self._problems.append(
                f"notification not sent after {self.attempts} attempt(s): {msg.title}"
                + (f" ({detail})" if detail else "")
            )
        return False


def _scheme(url: str) -> str:
    """What an error may show of a URL: its scheme, never the rest (it holds the token)."""
    if "://" in url:
        return f"starts with {url.split('://', 1)[0]!r}://"
    return "is a URL with no scheme"


def _apprise_senders(urls: Sequence[str], timeout: float) -> list[tuple[str, Sender]]:
    import apprise

    # apprise logs its failures; uncaught, Python's last-resort handler would print them over the
    # TUI. They are captured per message below and reported through problems() instead.
    logging.getLogger("apprise").addHandler(logging.NullHandler())
    logging.getLogger("apprise").propagate = False
    out: list[tuple[str, Sender]] = []
    bad: list[str] = []
    for u in urls:
        ap = apprise.Apprise()
        if not ap.add(_with_timeout(u, timeout)):
            bad.append(u)
            continue
        # named as apprise names it with privacy on: the service and host, never the token
        name = str(ap[0].url(privacy=True)).split("?", 1)[0] if len(ap) else "an endpoint"
        out.append((name, _one_sender(apprise, ap)))
    if bad:
        raise ValueError(
            f"[notify]: {len(bad)} URL(s) apprise does not understand (the first "
            f"{_scheme(bad[0])}); see https://github.com/caronc/apprise/wiki for "
            "the URL of each service"
        )
    return out


def _one_sender(apprise: Any, ap: Any) -> Sender:
    def send(msg: Message) -> tuple[bool, str]:
        with apprise.LogCapture(level=logging.WARNING) as log:
            ok = bool(ap.notify(body=msg.body, title=msg.title, notify_type=msg.severity))
        lines = [_unprefixed(ln) for ln in str(log.getvalue()).splitlines() if ln.strip()]
        return ok, (lines[-1] if lines else "")

    return send


def _unprefixed(line: str) -> str:
    """apprise's log line without its "2026-11-30 23:59:59,123 - WARNING - " prefix."""
    parts = line.strip().split(" - ", 2)
    return parts[-1].strip() if len(parts) == 3 else line.strip()


def _with_timeout(url: str, timeout: float) -> str:
    """``url`` with apprise's connect and read timeouts (``cto``, ``rto``) unless it sets them."""
    if "cto=" in url or "rto=" in url:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}cto={timeout:g}&rto={timeout:g}"


def probe_message(service: str) -> Message:
    return Message(
        "test",
        "info",
        f"{service}: test notification",
        "bluegreen-console can reach this endpoint (sent by --notify-test).",
    )


def within(budget: float, attempts: int, timeout: float) -> tuple[int, float]:
    """``attempts`` and ``timeout`` cut so that one message's tries and back-offs fit in
    ``budget`` seconds (a CLI's exit wait): fewer attempts first, then a shorter timeout."""

    def cost(a: int, t: float) -> float:
        return a * t + BACKOFF * (2 ** (a - 1) - 1)

    while attempts > 1 and cost(attempts, timeout) > budget:
        attempts -= 1
    if cost(attempts, timeout) > budget:
        timeout = max(0.5, budget / attempts)
    return attempts, timeout


def from_config(
    cfg: NotifyConfig, budget: float | None = None, claims: Claims | None = None
) -> Notifier:
    """The notifier ``[notify]`` describes (its tries cut to ``budget`` seconds a message, for a
    CLI). Raises ConfigFileError (naming the key and the fix) when its URLs cannot be read or
    apprise does not understand one."""
    urls = cfg.urls()
    attempts, timeout = cfg.attempts, cfg.timeout
    if budget is not None:
        attempts, timeout = within(budget, attempts, timeout)
    try:
        return Notifier(urls, attempts=attempts, timeout=timeout, claims=claims)
    except ValueError as exc:
        raise ConfigFileError(str(exc)) from None


class Notifications:
    """One service's notifications: what is worth telling (:class:`NotifyFeed`) and the sender.
    What the CLI and the console hold; ``None`` of it exists without ``[notify]``."""

    def __init__(
        self,
        service: str,
        cfg: NotifyConfig,
        notifier: Notifier | None = None,
        budget: float | None = None,
        explained: Callable[[str], bool] | None = None,
        claims: Claims | None = None,
    ) -> None:
        self.cfg = cfg
        self.feed = NotifyFeed(service, cfg.events, explained)
        self.notifier = notifier or from_config(cfg, budget, claims)

    def frame(self, frame: Frame) -> None:
        self.notifier.send_all(self.feed.frame(frame))

    def action(self, ok: bool, result: str, message: str, by: str = "") -> None:
        self.notifier.send_all(self.feed.action(ok, result, message, by))

    def problems(self) -> list[str]:
        return self.notifier.problems()

    def close(self, flush: float = 0.0) -> list[str]:
        """Stop, after waiting up to ``flush`` seconds for what is queued; returns the problems
        not yet told (a CLI prints them before it exits)."""
        late = 0
        if flush > 0 and not self.notifier.flush(flush):
            late = self.notifier.pending
        self.notifier.close(timeout=0.5 if late else 2.0)
        lines = self.notifier.problems()
        if late:
            lines.append(f"{late} notification(s) not sent: gave up after {flush:g} s")
        return lines

    @property
    def busy(self) -> bool:
        """The sender is still in a send (after :meth:`close`: one that hangs)."""
        return self.notifier.busy


def for_service(
    notify: NotifyConfig | None,
    service: str,
    budget: float | None = None,
    explained: Callable[[str], bool] | None = None,
    audit_path: str | os.PathLike[str] | None = None,
) -> Notifications | None:
    """``audit_path``: the audit log this process writes; the processes that share it send each
    alarm, verdict and outside change once between them (``console.notifyclaims``)."""
    if notify is None:
        return None
    claims = Claims(claims_path(audit_path)) if audit_path is not None else None
    return Notifications(service, notify, budget=budget, explained=explained, claims=claims)


def explained_by_audit(audit: Any, service: str, within: float) -> Callable[[str], bool]:
    """An ``explained`` for :class:`NotifyFeed`: a change is explained when the audit log holds an
    action of ``service`` (its intent or outcome, from any bluegreen process) of the last
    ``within`` seconds (a few poll intervals)."""

    def explained(_change: str) -> bool:
        try:
            now = audit.now()
            for e in audit.entries(service):
                epoch = e.get("epoch")
                if (
                    e.get("action")
                    and e.get("record") in ("intent", "outcome", "reconciled")
                    and isinstance(epoch, (int, float))
                    and now - within <= epoch <= now + 1
                ):
                    return True
        except Exception:  # an unreadable log explains nothing: the change is told
            return False
        return False

    return explained


def leave_if_hung(notes: Notifications | None, code: int) -> None:
    """For a CLI, after ``notes.close()``: when the sender is still stuck in a send, end the
    process now with ``code``. Why not just return: apprise sends through concurrent.futures,
    whose threads Python joins at exit (its shutdown hook), so a hung endpoint would hold the exit
    for ever, and the bound the CLI promises (15 s) would be a lie. stdout and stderr are flushed
    first; everything else this process had to write (the audit log) is already fsynced."""
    if notes is None or not notes.busy:
        return
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)

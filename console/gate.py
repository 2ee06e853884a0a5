"""The pre-switch gate: smoke checks and a warm-up against the idle colour, before it takes traffic.

The idle colour is reached through its preview URL (``[service.gate] preview``): HAProxy's preview
frontend or the servers' own addresses, Kubernetes' preview Service, the lab's fleet. Two parts:

* **smoke checks**: one HTTP GET each, with the status expected and, optionally, a substring of the
  body; each has its own timeout. A check that hangs costs its timeout, never more.
* **warm-up**: ``requests`` GETs over ``paths`` at ``concurrency``, bounded by ``deadline`` seconds
  in all; reports the errors and the median latency of the first and of the last tenth of the
  requests (a cold colour starts slow: the two figures show whether it warmed).

The gate passes when every smoke check passes and the warm-up's error share is at most
``max_error_pct``. It runs in a worker thread (the console) or the main thread (``bluegreen gate``);
it never touches the router. HTTP goes through ``requests`` (already a dependency, via the Prometheus
client); the concurrency is a thread pool, which is all a few hundred bounded requests need.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from backends.base import Colour
from console.actions import Plan
from console.config import GateConfig

BODY_READ = 64 * 1024  # bytes of a smoke check's body searched for the expected text


@dataclass(frozen=True)
class SmokeCheck:
    """``path`` relative to the preview URL; ``status`` expected; ``body``: a substring expected in
    the first 64 KiB of the answer (None: not checked); ``timeout`` in seconds."""

    path: str = "/"
    status: int = 200
    body: str | None = None
    timeout: float = 2.0
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"GET {self.path}"


@dataclass(frozen=True)
class Warmup:
    requests: int = 0  # 0: no warm-up
    concurrency: int = 4
    paths: tuple[str, ...] = ("/",)
    timeout: float = 2.0  # per request
    deadline: float = 30.0  # for the whole warm-up
    max_error_pct: float = 1.0


@dataclass(frozen=True)
class CheckResult:
    check: SmokeCheck
    ok: bool
    reason: str  # "200 in 12 ms" or what went wrong
    ms: float | None = None

    @property
    def line(self) -> str:
        return f"{'pass' if self.ok else 'FAIL'}  {self.check.label}: {self.reason}"


@dataclass(frozen=True)
class WarmupResult:
    asked: int
    sent: int
    errors: int
    first_ms: float | None  # median of the first tenth of the answers
    last_ms: float | None  # ... of the last tenth
    cut: bool  # the deadline stopped it before every request was sent
    max_error_pct: float

    @property
    def error_pct(self) -> float:
        return 100.0 * self.errors / self.sent if self.sent else 0.0

    @property
    def ok(self) -> bool:
        # cut at its deadline before half its requests were answered: the colour is too slow
        if self.cut and self.sent * 2 < self.asked:
            return False
        return self.sent > 0 and self.error_pct <= self.max_error_pct

    @property
    def line(self) -> str:
        if self.sent == 0:
            return "FAIL  warm-up: no request could be sent"
        lat = ""
        if self.first_ms is not None and self.last_ms is not None:
            lat = f", latency {self.first_ms:.0f} ms at the start, {self.last_ms:.0f} ms at the end"
        cut = f" (cut at the deadline: {self.sent} of {self.asked} sent)" if self.cut else ""
        word = "pass" if self.ok else "FAIL"
        return (
            f"{word}  warm-up: {self.sent} requests, {self.errors} errors "
            f"({self.error_pct:.1f} %, at most {self.max_error_pct:g} %){lat}{cut}"
        )


@dataclass(frozen=True)
class GateResult:
    colour: Colour
    url: str
    checks: tuple[CheckResult, ...] = ()
    warmup: WarmupResult | None = None
    seconds: float = 0.0
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and all(c.ok for c in self.checks)
            and (self.warmup is None or self.warmup.ok)
        )

    @property
    def reason(self) -> str:
        """Why the gate failed, in one line ("" when it passed)."""
        if self.problems:
            return self.problems[0]
        failed = [c for c in self.checks if not c.ok]
        if failed:
            c = failed[0]
            return f"smoke check {c.check.label} failed: {c.reason}"
        if self.warmup is not None and not self.warmup.ok:
            return self.warmup.line.removeprefix("FAIL  ")
        return ""

    def lines(self) -> list[str]:
        """One line per check and one for the warm-up, for the confirmation dialog and the CLI."""
        out = [f"gate on {self.colour} ({self.url}): {'PASSED' if self.ok else 'FAILED'}"]
        out += [f"  {p}" for p in self.problems]
        out += [f"  {c.line}" for c in self.checks]
        if self.warmup is not None:
            out.append(f"  {self.warmup.line}")
        return out


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or reset (is the colour up, and the preview URL right?)"
    return f"{type(exc).__name__}: {exc}"


CHUNK = 1024  # bytes read at a time from a smoke check's body (the deadline is checked between)


def smoke(base: str, check: SmokeCheck, session: requests.Session | None = None) -> CheckResult:
    """One smoke check, bounded in wall time by ``check.timeout``. requests' timeout bounds each
    socket read, not the answer: a server that trickles a byte at a time would hold it for ever. So
    the GET runs in a daemon thread of its own (with a session of its own, closed at the deadline)
    and the body is read in chunks with the time checked between them. ``session`` is unused (kept
    for callers): a session shared with a thread given up on is not safe to reuse."""
    del session
    url = _join(base, check.path)
    started = time.monotonic()
    deadline = started + check.timeout
    done = threading.Event()
    got: dict[str, object] = {}
    own = requests.Session()

    def fetch() -> None:
        try:
            with own.get(url, timeout=check.timeout, stream=True, allow_redirects=False) as resp:
                got["status"] = resp.status_code
                if check.body is not None:
                    data = b""
                    for chunk in resp.iter_content(CHUNK):
                        data += chunk
                        if len(data) >= BODY_READ or time.monotonic() >= deadline:
                            break
                    if time.monotonic() >= deadline and len(data) < BODY_READ:
                        raise requests.Timeout("body not read in time")
                    got["text"] = data[:BODY_READ].decode("utf-8", "replace")
        except Exception as exc:  # requests raises many kinds; each becomes the check's reason
            got["error"] = exc
        finally:
            done.set()

    threading.Thread(target=fetch, name="smoke", daemon=True).start()
    finished = done.wait(max(0.0, deadline - time.monotonic()) + 0.05)
    if not finished:
        own.close()  # the thread is given up on (a daemon: it never holds the exit)
        return CheckResult(check, False, f"no answer within {check.timeout:g} s")
    own.close()
    err = got.get("error")
    if isinstance(err, BaseException):
        return CheckResult(check, False, _why(err, check.timeout))
    ms = (time.monotonic() - started) * 1000
    status = got.get("status")
    text = str(got.get("text", ""))
    if status != check.status:
        return CheckResult(
            check, False, f"answered {status}, expected {check.status} ({ms:.0f} ms)", ms
        )
    if check.body is not None and check.body not in text:
        return CheckResult(
            check, False, f"answered {status} without {check.body!r} in the body", ms
        )
    return CheckResult(check, True, f"{status} in {ms:.0f} ms", ms)


def warm(base: str, w: Warmup, now: Callable[[], float] = time.monotonic) -> WarmupResult:
    """Send ``w.requests`` GETs round-robin over ``w.paths`` at ``w.concurrency``; stop at
    ``w.deadline`` in wall time: the workers are daemon threads, waited on until the deadline and
    then left (never joined: one held by a trickling server would hold the gate, and the exit). A
    4xx or 5xx, a timeout or a refused connection is an error."""
    deadline = now() + w.deadline
    lock = threading.Lock()
    answers: list[tuple[int, float, bool]] = []  # (index, ms, error)
    next_index = [0]
    stop = threading.Event()
    sessions: list[requests.Session] = []

    def worker() -> None:
        session = requests.Session()
        with lock:
            sessions.append(session)
        while True:
            with lock:
                i = next_index[0]
                if i >= w.requests or now() >= deadline or stop.is_set():
                    return
                next_index[0] += 1
            url = _join(base, w.paths[i % len(w.paths)])
            t0 = time.monotonic()
            try:
                timeout = max(0.05, min(w.timeout, deadline - now()))
                resp = session.get(url, timeout=timeout, allow_redirects=False)
                bad = resp.status_code >= 400
                resp.close()
            except Exception:  # any failure of one request is one error
                bad = True
            ms = (time.monotonic() - t0) * 1000
            with lock:
                if not stop.is_set():
                    answers.append((i, ms, bad))

    workers = max(1, min(w.concurrency, w.requests))
    threads = [
        threading.Thread(target=worker, name=f"warmup-{n}", daemon=True) for n in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - now()) + 0.05)
    stop.set()  # what answers after this is not counted; a hung worker is left, never joined
    with lock:
        answers = sorted(answers)
        for s in sessions:
            s.close()
    tenth = max(1, len(answers) // 10)
    first = [ms for _, ms, bad in answers[:tenth] if not bad]
    last = [ms for _, ms, bad in answers[-tenth:] if not bad]
    return WarmupResult(
        asked=w.requests,
        sent=len(answers),
        errors=sum(1 for a in answers if a[2]),
        first_ms=statistics.median(first) if first else None,
        last_ms=statistics.median(last) if last else None,
        cut=len(answers) < w.requests,
        max_error_pct=w.max_error_pct,
    )


def run_gate(
    colour: Colour, url: str, checks: Sequence[SmokeCheck], warmup: Warmup | None
) -> GateResult:
    """The gate on ``colour`` at ``url``: the warm-up first (a cold colour's first answers are the
    slow ones), then the smoke checks against the warmed colour."""
    started = time.monotonic()
    result = None
    if warmup is not None and warmup.requests > 0:
        result = warm(url, warmup)
    with requests.Session() as session:
        done = tuple(smoke(url, c, session) for c in checks)
    return GateResult(colour, url, done, result, time.monotonic() - started)


def gate_from_config(cfg: GateConfig, colour: Colour) -> GateResult:
    """Run ``[service.gate]`` on ``colour`` (blocking: a worker thread, or the headless CLI)."""
    checks = [SmokeCheck(c.path, c.status, c.body, c.timeout, c.name) for c in cfg.smoke]
    w = cfg.warmup
    warmup = Warmup(
        w.requests, w.concurrency, tuple(w.paths), w.timeout, w.deadline, w.max_error_pct
    )
    return run_gate(colour, cfg.preview[colour], checks, warmup)


def gated_plan(plan: Plan, cfg: GateConfig | None) -> tuple[Plan, dict[str, Any]]:
    """A switch's plan with the pre-switch gate run on the colour about to take traffic (in the
    caller's worker): its result in the confirmation's lines, and a failed gate as the plan's
    caution (so it asks twice) and title. Returns the plan and the audit tags ({"gate": ...})."""
    if plan.action != "switch" or cfg is None or plan.target is None:
        return plan, {}
    result = gate_from_config(cfg, plan.target)
    tags: dict[str, Any] = {"gate": "passed" if result.ok else "failed"}
    plan = replace(plan, lines=plan.lines + tuple(result.lines()))
    if not result.ok:
        plan = replace(
            plan,
            title=f"Gate FAILED: {plan.title}",
            caution=f"the gate on {plan.target} failed: {result.reason}. Switching all "
            "the same is audited as a gate override",
        )
    return plan, tags

"""Soak: two consoles and two CLIs acting at random on one lab, under load, for --minutes.

One lab (``bluegreen lab up``: real HAProxy, Prometheus, a blue and a green fleet, the lab's load
generator sending --rate req/s through HAProxy, all on 127.0.0.1) in a temporary dir, and one audit
log shared by every actor:

* two **CLI** actors run ``bluegreen switch|drain|ready|rollback --config F --yes`` subprocesses
  (random verb, random colour or none) at random intervals;
* two **console** actors drive the real TUI: ``bluegreen watch --config F`` in a tmux pane each,
  with keys sent by ``tmux send-keys`` (``s``, ``d`` or ``r``, then ``y``; now and then ``n`` to
  cancel). With ``--consoles headless`` they are two more CLI actors plus two headless
  ``bluegreen status --watch --json`` streams instead;
* an **observer**: ``bluegreen status --config F --watch --json``, read line by line.

It reports the requests sent and failed through HAProxy (the lab's load generator counts them by
status code; it is stopped with SIGTERM at the end and prints its counts), the routing invariant
violations seen in the observer's stream (each episode: the polls it stood, and whether an alarm whose
rule starts with ``invariant:`` was up within one poll), the audit log's outcomes by action and
result, the intents left unreconciled at the end (``AuditLog.unfinished``) and the routing changes
seen in the stream that no audit record explains. Then it tears everything down (tmux sessions,
streams, ``lab down``) and rewrites its own section of docs/benchmarks.md with ``--out``.

    python bench/soak_operators.py [--minutes 10] [--rate 50] [--seed 1] [--out docs/benchmarks.md]

Needs haproxy, prometheus and tmux (Debian packages). Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from report import write_section  # noqa: E402

from console.audit import AuditLog  # noqa: E402

SECTION = "## Concurrent operators soak"
SERVICE = "lab"
COLOURS = ("blue", "green")
CLI_TIMEOUT = 60.0  # one CLI action (it may wait up to the lock's wait for another operator)
MAX_ACTIONS = 10_000  # per actor: a bound besides time
SLACK = 1.5  # seconds of clock slack when matching a change to an audit record


def bluegreen() -> str:
    here = Path(sys.executable).with_name("bluegreen")
    return str(here) if here.exists() else (shutil.which("bluegreen") or "bluegreen")


# --------------------------------------------------------------------------------------- the lab


class Lab:
    def __init__(self, base: Path, seconds: float, rate: float) -> None:
        self.dir = base / "lab"
        self.seconds, self.rate = seconds, rate
        self.config = self.dir / "console.toml"

    def up(self) -> None:
        cmd = [bluegreen(), "lab", "up", "--dir", str(self.dir), "--no-install"]
        cmd += ["--duration", f"{self.seconds:.0f}", "--rate", f"{self.rate:g}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise SystemExit(f"lab up failed:\n{r.stdout}\n{r.stderr}")

    def state(self) -> dict[str, Any]:
        return json.loads((self.dir / "state.json").read_text())

    def stop_load(self) -> dict[str, int]:
        """SIGTERM the lab's load generator (its pid from state.json) and read the counts it prints."""
        log = self.dir / "logs" / "load.log"
        procs = {p["name"]: p for p in self.state()["processes"]}
        pid = procs["load"]["pid"]
        with contextlib.suppress(ProcessLookupError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"console.lab.load" in b" ".join(cmdline):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            for line in text.splitlines():
                if line.startswith("load finished:"):
                    pairs = (kv.split("=", 1) for kv in line.split(":", 1)[1].split())
                    return {k: int(v) for k, v in pairs}
            time.sleep(0.5)
        return {}

    def down(self) -> None:
        subprocess.run(
            [bluegreen(), "lab", "down", "--dir", str(self.dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )


# ------------------------------------------------------------------------------------ the stream


class Stream:
    """``bluegreen status --watch --json`` as a subprocess; every line kept with its arrival time."""

    def __init__(self, config: Path, audit: Path, duration: float, keep: bool = True) -> None:
        cmd = [bluegreen(), "status", "--config", str(config), "--audit-log", str(audit)]
        cmd += ["--watch", "--json", "--duration", f"{duration:.0f}"]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self.keep = keep
        self.lines: list[dict[str, Any]] = []
        self.bad = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                data = json.loads(raw)
            except ValueError:
                self.bad += 1
                continue
            if self.keep:
                self.lines.append(data)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.thread.join(timeout=5)


# ------------------------------------------------------------------------------------ the actors


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)


class Actor(threading.Thread):
    def __init__(self, name: str, deadline: float, rng: random.Random, pause: tuple[float, float]):
        super().__init__(daemon=True, name=name)
        self.deadline, self.rng, self.pause = deadline, rng, pause
        self.sent: Counter[str] = Counter()
        self.exits: Counter[str] = Counter()

    def run(self) -> None:
        for _ in range(MAX_ACTIONS):
            wait = self.rng.uniform(*self.pause)
            if time.monotonic() + wait >= self.deadline:
                break
            time.sleep(wait)
            self.act()

    def act(self) -> None:
        raise NotImplementedError


class CliActor(Actor):
    def __init__(self, name: str, deadline: float, rng: random.Random, config: Path, audit: Path):
        super().__init__(name, deadline, rng, (1.0, 6.0))
        self.config, self.audit = config, audit

    def act(self) -> None:
        verb = self.rng.choice(("switch", "switch", "drain", "ready", "rollback"))
        cmd = [bluegreen(), verb, "--config", str(self.config), "--audit-log", str(self.audit)]
        colour = self.rng.choice((None, *COLOURS))
        if verb == "switch" and colour:
            cmd += ["--to", colour]
        elif verb in ("drain", "ready") and colour:
            cmd += ["--colour", colour]
        cmd.append("--yes")
        self.sent[verb] += 1
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT)
            self.exits[f"exit {r.returncode}"] += 1
        except subprocess.TimeoutExpired:
            self.exits["timed out"] += 1


class ConsoleActor(Actor):
    """The real TUI in a tmux session, driven by keys."""

    def __init__(self, name: str, deadline: float, rng: random.Random, config: Path, audit: Path):
        super().__init__(name, deadline, rng, (1.0, 6.0))
        self.session = name
        cmd = f"{bluegreen()} watch --config {config} --audit-log {audit}"
        r = tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "36", cmd)
        if r.returncode != 0:
            raise SystemExit(f"tmux new-session failed: {r.stderr}")
        self.alive_at_end = False

    def keys(self, *keys: str) -> None:
        tmux("send-keys", "-t", self.session, *keys)

    def act(self) -> None:
        key = self.rng.choice(("s", "s", "d", "r"))
        self.sent[{"s": "switch", "d": "drain/ready", "r": "rollback"}[key]] += 1
        self.keys("Escape")  # close whatever is open (a dialog left by a refusal); no-op otherwise
        time.sleep(0.3)
        self.keys(key)
        time.sleep(self.rng.uniform(0.5, 1.5))  # the preflight reads the router, the dialog opens
        answer = "n" if self.rng.random() < 0.1 else "y"
        self.exits["answered " + answer] += 1
        self.keys(answer)

    def close(self) -> None:
        screen = tmux("capture-pane", "-p", "-t", self.session).stdout
        self.alive_at_end = "BLUE" in screen.upper()
        self.keys("Escape")
        time.sleep(0.3)
        self.keys("q")
        time.sleep(1.0)
        tmux("kill-session", "-t", self.session)


class Outsider(Actor):
    """Someone acting on HAProxy behind the console's back: every --outside-every seconds (about) it
    drains every server of the live colour through the admin socket, the way a person with socat
    would, and readies them again a few seconds later. This provokes the violation the console must
    alarm (the live colour drained: HAProxy answers 503), whatever the operators do meanwhile."""

    def __init__(
        self, deadline: float, rng: random.Random, lab: Lab, observer: Stream, every: float
    ):
        super().__init__("outsider", deadline, rng, (every * 0.5, every * 1.5))
        state = lab.state()
        self.socket = state["socket"]
        self.servers = {c: [i["name"] for i in state["fleet"][c]] for c in COLOURS}
        self.observer = observer
        self.windows: list[tuple[float, float, str]] = []  # (start, end, colour), wall time

    def command(self, line: str) -> str:
        import socket as sk

        with sk.socket(sk.AF_UNIX, sk.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.socket)
            s.sendall(line.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode(errors="replace")

    def set_state(self, colour: str, state: str) -> None:
        for name in self.servers[colour]:
            self.command(f"set server bg_{colour}/{name} state {state}")

    def act(self) -> None:
        live = next(
            (ln["live"] for ln in reversed(self.observer.lines[-5:]) if ln.get("live")), None
        )
        if live not in COLOURS:
            return
        start = time.time()
        self.set_state(live, "drain")
        self.sent["drain live from outside"] += 1
        time.sleep(self.rng.uniform(3.0, 6.0))
        self.set_state(live, "ready")
        self.windows.append((start, time.time(), live))


# ---------------------------------------------------------------------------------- the analysis


def routing(line: dict[str, Any]) -> dict[str, Any] | None:
    r = line.get("router")
    if not r:
        return None
    return {
        "live": r.get("live"),
        **{f"{c}.draining": bool(r["colours"][c]["draining"]) for c in COLOURS},
    }


def broken(line: dict[str, Any]) -> list[str]:
    """The routing invariants this line's router state breaks, checked here from the summary alone
    (independently of the console's own check): live drained, live without an UP server."""
    r = line.get("router")
    if not r or not r.get("live"):
        return []
    live = r["colours"][r["live"]]
    out = []
    if live["draining"]:
        out.append(f"live_drained:{r['live']}")
    elif live["servers"] and not any(s == "UP" for s in live["servers"].values()):
        out.append(f"live_unhealthy:{r['live']}")
    return out


def alarmed(line: dict[str, Any]) -> list[str]:
    return [
        f"{a['rule']}:{a['colour']}"
        for a in line.get("alarms") or []
        if str(a.get("rule", "")).startswith("invariant:")
    ]


def episodes(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of consecutive polls whose router state breaks an invariant, or that show an invariant
    alarm: each with its length in polls, whether it was alarmed within one poll, and its end."""
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for i, line in enumerate(lines):
        if line.get("router") is None:  # no router read: holds whatever stands
            if cur is not None:
                cur["polls"] += 1
            continue
        b, a = broken(line), alarmed(line)
        if b or a:
            if cur is None:
                cur = {
                    "start": line.get("time"),
                    "first": i,
                    "polls": 0,
                    "broken": set(),
                    "alarm_at": None,
                    "standing": False,
                }
                out.append(cur)
            cur["polls"] += 1
            cur["broken"].update(b)
            if a and cur["alarm_at"] is None:
                cur["alarm_at"] = i - cur["first"]
        else:
            cur = None
    if cur is not None:
        cur["standing"] = True
    return out


def explains(entry: dict[str, Any], key: str, new: Any) -> bool:
    action, target = entry.get("action"), entry.get("target")
    if key == "live":
        return action in ("switch", "rollback") and target == new
    colour = key.split(".", 1)[0]
    if new:  # drained
        return action == "drain" and target == colour
    return (action == "ready" and target == colour) or (
        action in ("switch", "rollback") and target == colour  # a switch readies its target first
    )


def unaudited(
    lines: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    outside: list[tuple[float, float, str]] = (),  # type: ignore[assignment]
) -> list[str]:
    """Routing changes between consecutive router reads of the stream that no audit record explains:
    an intent of a matching action (switch/rollback to the new live colour, drain/ready of the colour)
    written before the change was seen, whose outcome or reconciled record came after the previous
    read (both within SLACK seconds). A drain or ready of a colour the outsider drained or readied
    between the two reads is the outsider's, not unaudited."""
    intents = {e["id"]: e for e in entries if e.get("record") == "intent" and e.get("id")}
    closes: dict[str, float] = {}
    for e in entries:
        if e.get("record") in ("outcome", "reconciled") and e.get("intent") in intents:
            closes[e["intent"]] = max(closes.get(e["intent"], 0.0), float(e["epoch"]))
    found = []
    prev: tuple[float, dict[str, Any]] | None = None
    for line in lines:
        r = routing(line)
        if r is None:
            continue
        t = float(line["time"])
        if prev is not None:
            t0, r0 = prev
            for key, new in r.items():
                if r0[key] == new:
                    continue
                ok = any(
                    explains(e, key, new)
                    and float(e["epoch"]) <= t + SLACK
                    and closes.get(i, float("inf")) >= t0 - SLACK
                    for i, e in intents.items()
                )
                if not ok and key != "live":
                    colour = key.split(".", 1)[0]
                    ok = any(
                        c == colour and start <= t + SLACK and end >= t0 - SLACK
                        for start, end, c in outside
                    )
                if not ok:
                    found.append(f"{key} {r0[key]} -> {new} between {t0:.1f} and {t:.1f}")
        prev = (t, r)
    return found


# ------------------------------------------------------------------------------------------- run


def run(a: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(a.seed)
    seconds = a.minutes * 60
    base = Path(tempfile.mkdtemp(prefix="bgsoak-"))
    audit = base / "audit.jsonl"
    lab = Lab(base, seconds + a.warmup + 120, a.rate)
    actors: list[Actor] = []
    streams: list[Stream] = []
    consoles: list[ConsoleActor] = []
    result: dict[str, Any] = {}
    observer: Stream | None = None
    try:
        print(f"lab up in {lab.dir} ...", flush=True)
        lab.up()
        observer = Stream(lab.config, audit, seconds + a.warmup + 60)
        time.sleep(a.warmup)  # metrics appear, the consoles draw
        deadline = time.monotonic() + seconds
        n_cli = 2 if a.consoles == "tmux" else 4
        for i in range(n_cli):
            actors.append(
                CliActor(f"cli{i + 1}", deadline, random.Random(rng.random()), lab.config, audit)
            )
        if a.consoles == "tmux":
            for i in range(2):
                name = f"bgsoak{os.getpid()}-{i + 1}"
                c = ConsoleActor(name, deadline, random.Random(rng.random()), lab.config, audit)
                consoles.append(c)
                actors.append(c)
            time.sleep(3)  # the consoles' first frames
        else:
            streams += [Stream(lab.config, audit, seconds + 30, keep=False) for _ in range(2)]
        outsider = None
        if a.outside_every > 0:
            outsider = Outsider(
                deadline, random.Random(rng.random()), lab, observer, a.outside_every
            )
            actors.append(outsider)
        started = time.time()
        print(f"{len(actors)} actors for {seconds:.0f} s ...", flush=True)
        for actor in actors:
            actor.start()
        for actor in actors:
            actor.join(timeout=max(1.0, deadline - time.monotonic()) + CLI_TIMEOUT + 10)
        time.sleep(a.tail)  # the last actions settle; the observer sees where they left traffic
        for c in consoles:
            c.close()
        for s in streams:
            s.stop()
        observer.stop()
        load = lab.stop_load()
        ended = time.time()
        entries = list(AuditLog(audit).entries())
        lines = observer.lines
        eps = episodes(lines)
        windows = outsider.windows if outsider else []
        for e in eps:  # an episode that began inside a window of the outsider's is its doing
            e["outside"] = any(
                start - SLACK <= float(e["start"]) <= end + SLACK for start, end, _c in windows
            )
        result = {
            "seconds": seconds,
            "window": (started, ended),
            "load": load,
            "lines": lines,
            "bad_lines": observer.bad,
            "episodes": eps,
            "outcomes": Counter(
                (e.get("action"), e.get("result")) for e in entries if e.get("record") == "outcome"
            ),
            "failures": [
                f"{e.get('action')} {e.get('target') or ''}: {e.get('error')}"
                for e in entries
                if e.get("record") == "outcome" and e.get("result") == "failed"
            ],
            "reconciled": sum(1 for e in entries if e.get("record") == "reconciled"),
            "intents": sum(1 for e in entries if e.get("record") == "intent"),
            "unfinished": AuditLog(audit).unfinished(SERVICE),
            "unaudited": unaudited(lines, entries, windows),
            "outside": len(windows),
            "actors": {x.name: (dict(x.sent), dict(x.exits)) for x in actors},
            "consoles_alive": [c.alive_at_end for c in consoles],
            "final": routing(lines[-1]) if lines else None,
        }
    finally:
        for c in consoles:
            tmux("kill-session", "-t", c.session)
        for s in streams:
            s.stop()
        if observer is not None:
            observer.stop()
        lab.down()
        shutil.rmtree(base, ignore_errors=True)
    return result


def section(a: argparse.Namespace, r: dict[str, Any]) -> str:
    load: dict[str, int] = r["load"]
    sent = sum(load.values())
    failed = sum(v for k, v in load.items() if k != "200")
    eps = r["episodes"]
    late = [e for e in eps if e["alarm_at"] is None or e["alarm_at"] > 1]
    standing = [e for e in eps if e["standing"]]
    polls = sorted(e["polls"] for e in eps)
    outcomes: Counter[tuple[str, str]] = r["outcomes"]
    by_result = Counter()
    for (_action, res), n in outcomes.items():
        by_result[res] += n
    actions = sorted({k[0] for k in outcomes})
    results = ["ok", "refused", "failed", "cancelled"]
    table = "\n".join(
        f"| {act} | " + " | ".join(str(outcomes.get((act, res), 0)) for res in results) + " |"
        for act in actions
    )
    consoles = (
        "two real consoles (`bluegreen watch --config F` in a tmux pane of 120x36 each, driven by "
        "`tmux send-keys`: Escape, then `s`, `d` or `r`, then `y`, or `n` one time in ten)"
        if a.consoles == "tmux"
        else "two headless `bluegreen status --watch --json` streams plus two more CLI actors "
        "(instead of the TUIs)"
    )
    outside_text = (
        f"To provoke violations the operators (serialised by the lock) should no longer cause, an "
        f"*outsider* drains every server of the live colour through HAProxy's admin socket "
        f"(`set server bg_<colour>/<name> state drain`, as a person with socat would) about every "
        f"{a.outside_every:g} s and readies them 3 to 6 s later: {r['outside']} times in this run. "
        f"Each such drain makes HAProxy answer 503 while it stands, so the failed requests below "
        f"are mostly its doing."
        if r["outside"] or a.outside_every > 0
        else "Nothing acts outside the console."
    )
    ours = [e for e in eps if not e.get("outside")]
    seen_note = ""
    if r["outside"] > len(eps) - len(ours):
        seen_note = (
            f" The outsider drained {r['outside']} times and the observer saw "
            f"{len(eps) - len(ours)} of them as violations: a drain undone between two polls (an "
            "operator's ready, switch or rollback came first), or made on a colour that had just "
            "stopped being live, breaks no invariant at any poll."
        )
    met = {
        "violations left standing at the end": (len(standing), "0"),
        "violations alarmed later than one poll": (len(late), "0"),
        "unaudited routing changes": (len(r["unaudited"]), "0"),
    }
    missed = [k for k, (v, _t) in met.items() if v != 0]
    verdict = (
        "All three targets met."
        if not missed
        else "**Target missed**: " + "; ".join(f"{k}: {met[k][0]}" for k in missed) + "."
    )

    def when(at: int | None) -> str:
        return (
            "never" if at is None else ("on the first poll" if at == 0 else f"after {at} poll(s)")
        )

    ep_lines = "\n".join(
        f"- {dt.datetime.fromtimestamp(float(e['start']), dt.timezone.utc):%H:%M:%S}: "
        f"{', '.join(sorted(e['broken'])) or 'alarm only'}, stood {e['polls']} poll(s), "
        f"alarmed {when(e['alarm_at'])}"
        f"{', still standing at the end' if e['standing'] else ''}"
        f"{' (the outsider)' if e.get('outside') else ''}"
        for e in eps[:40]
    )
    more = f"\n- ... and {len(eps) - 40} more" if len(eps) > 40 else ""
    unaud = "\n".join(f"- {u}" for u in r["unaudited"][:20])
    failures = ""
    if r["failures"]:
        failures = (
            "\nOutcomes recorded as failed (their `error`):\n\n"
            + "\n".join(f"- {f}" for f in r["failures"][:20])
            + "\n"
        )
    actors = ", ".join(
        f"{name}: {sum(sent.values())} actions" for name, (sent, _exits) in r["actors"].items()
    )
    return f"""{SECTION}

Measured {dt.date.today().isoformat()} with `python bench/soak_operators.py --minutes {a.minutes:g} --rate {a.rate:g} --seed {a.seed} --consoles {a.consoles} --outside-every {a.outside_every:g}` on {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}.

Set-up: one lab (`bluegreen lab up`: real HAProxy, Prometheus, blue and green fleets of 2, the lab's load generator at {a.rate:g} req/s through HAProxy; all on 127.0.0.1) and one audit log shared by every actor. For {r["seconds"] / 60:g} minutes, two CLI actors run `bluegreen switch|drain|ready|rollback --config F --yes` (a random verb, a random colour or none) every 1 to 6 s each, and {consoles} act every 1 to 6 s each. {outside_text} An observer reads `bluegreen status --watch --json` (1 s polls) throughout and {a.tail:g} s after the last action. A **violation** is a run of polls whose router state breaks a routing invariant (checked by the bench from the router summary: the live colour drained, or without an UP server) or that shows an alarm whose rule starts with `invariant:`; it is *alarmed within one poll* when that alarm is up on its first or second poll. An **unaudited change** is a change of the live colour or of a colour's drain seen between two polls that no audit record explains: an intent of a matching action (switch or rollback to the new live colour, drain or ready of that colour; a switch also readies its target) written before the change was seen, whose outcome or reconciled record came after the previous poll (1.5 s of slack each way).

| measure | result | target |
|---|---|---|
| requests through HAProxy (the load generator's count) | {sent} | |
| failed requests (not 200) | {failed} ({", ".join(f"{k}: {v}" for k, v in sorted(load.items()) if k != "200") or "none"}) | |
| polls read by the observer | {len(r["lines"])} | |
| invariant violations seen | {len(eps)} (polls each: {", ".join(map(str, polls)) or "-"}) | |
| of which provoked by the outsider / not | {len(eps) - len(ours)} / {len(ours)} | |
| polls in violation × rate (the 503s to expect) | {sum(polls)} × {a.rate:g} = {sum(polls) * a.rate:.0f} | |
| violations alarmed later than one poll | {len(late)} | 0 |
| violations left standing at the end | {len(standing)} | 0 |
| actions sent by the operators (CLI runs, console keys) / outcome records | {sum(sum(x[0].values()) for n, x in r["actors"].items() if n != "outsider")} / {sum(outcomes.values())} | |
| audit intents / outcomes / reconciled | {r["intents"]} / {sum(outcomes.values())} / {r["reconciled"]} | |
| outcomes ok / refused / failed / cancelled | {" / ".join(str(by_result.get(x, 0)) for x in results)} | |
| intents unreconciled at the end (`AuditLog.unfinished`) | {len(r["unfinished"])} | 0 |
| unaudited routing changes | {len(r["unaudited"])} | 0 |

{verdict}{seen_note}

Outcome records by action:

| action | ok | refused | failed | cancelled |
|---|---:|---:|---:|---:|
{table}

Actors: {actors}.{" Consoles still drawing at the end: " + ", ".join("yes" if x else "no" for x in r["consoles_alive"]) + "." if r["consoles_alive"] else ""}

Violations seen:

{ep_lines or "- none"}{more}
{failures}{"" if not unaud else chr(10) + "Unaudited changes:" + chr(10) + chr(10) + unaud + chr(10)}"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=50.0, help="load through HAProxy, req/s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--consoles", choices=("tmux", "headless"), default="tmux")
    ap.add_argument("--warmup", type=float, default=12.0, help="seconds before the actors start")
    ap.add_argument(
        "--tail", type=float, default=5.0, help="seconds observed after the last action"
    )
    ap.add_argument(
        "--outside-every",
        type=float,
        default=60.0,
        help="about every S seconds drain the live colour through HAProxy's socket (0: never)",
    )
    ap.add_argument("--out", type=Path, help="markdown file whose soak section is rewritten")
    a = ap.parse_args()
    for tool in ("haproxy", "prometheus") + (("tmux",) if a.consoles == "tmux" else ()):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install {tool}")
    r = run(a)
    if not r:
        return 1
    text = section(a, r)
    print(text)
    if a.out:
        write_section(text, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

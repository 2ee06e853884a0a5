"""Benchmark: one switch on three proxies side by side, under one load: Nginx (map + validated
reload), one HAProxy (runtime API), and a 3-instance HAProxy fleet (runtime API on each).

Starts FleetApp servers (``python -m console.lab.fleet``, one process each, 0 ms latency), then in
front of the same servers: a real nginx (tests/integration/nginx_fixture.py's layout), one
``haproxy -W`` and three more as a fleet (tests/integration/haproxy_fixture.py's layout), all on
127.0.0.1. One load process sends ``GET /`` over keep-alive connections to every proxy at once
(``--clients`` clients per proxy URL, ``--rate`` requests per second per URL). Then ``--switches``
rounds; in each, every way flips its colour once (the order rotates), through the console's own
routers:

* nginx: ``NginxRouter.switch()`` (map rewrite, ``nginx -t``, reload, read-back, probe); the next
  nginx trial waits until the old workers have exited;
* haproxy: ``HAProxyRouter.switch()`` on one instance;
* fleet: ``HAProxyRouter.switch()`` on ``instances = [lb1, lb2, lb3]`` (preflight all, change all,
  read back all).

Measured from the call: the first response carrying the new colour's ``X-Colour`` (through the
fleet: per instance, and the last instance's first, i.e. when every instance routes to the new
colour), the requests sent after the call returned still served by the old colour, and the failed
requests through each proxy over the whole run (target 0). Every loop is bounded in count and time.

The load's clients behave as browsers and HTTP libraries do (RFC 9110, 9.2.2): a ``GET`` sent on a
*reused* keep-alive connection that is closed or reset before any byte of the response came back
is sent once more on a new connection (nginx's old workers close their idle kept-alive connections
at a reload, and the request may cross the close). Such retries are counted apart; a request fails
when that one retry fails too, or on any other error.

Run:  .venv/bin/python bench/proxies.py [--switches 30] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_section  # noqa: E402
from switch_haproxy import machine, pct, start_fleet  # noqa: E402

from backends.base import BackendContext, Colour, Router  # noqa: E402
from backends.haproxy import HAProxyRouter  # noqa: E402
from backends.nginx import NginxRouter  # noqa: E402
from tests.integration.haproxy_fixture import HAProxyLab, Load, Result, haproxy_binary  # noqa: E402
from tests.integration.nginx_fixture import NginxLab, nginx_binary  # noqa: E402

FLEET = ("lb1", "lb2", "lb3")


@dataclass
class Way:
    name: str
    urls: list[str]
    router: Router | None = None
    live: str = "blue"
    to_first: list[float] = field(default_factory=list)  # ms, call -> first new-colour response
    to_last_instance: list[float] = field(default_factory=list)  # ms, call -> every URL new
    call: list[float] = field(default_factory=list)  # ms the call itself took
    stale: int = 0  # requests sent after the call returned, served by the old colour
    stale_window: list[float] = field(default_factory=list)  # ms, call -> last such response
    missed: int = 0  # a URL with no new-colour response within the trial
    mixed: int = 0  # old-colour responses to requests sent after a new-colour response came back
    mixed_window: list[float] = field(default_factory=list)  # ms, first new -> last such old
    failed: int = 0  # whole run, through this proxy
    failures: dict[str, int] = field(default_factory=dict)  # error kind -> count
    requests: int = 0  # whole run, through this proxy
    retried: int = 0  # whole run: sent again after a reused connection closed without an answer
    errors: list[str] = field(default_factory=list)


# A reused keep-alive connection closed or reset before any byte of the response came back: the
# server never answered (RemoteDisconnected: closed with no status line; a reset or a broken pipe
# while sending or before the status line). Anything else (a timeout, a partial response) is final.
CLOSED_UNANSWERED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class RetryingLoad(Load):
    """``Load``, with the retry browsers and HTTP libraries make (RFC 9110, 9.2.2): a ``GET`` sent
    on a reused keep-alive connection that closes before any byte of the response is sent once more
    on a new connection. ``retried`` counts those retries; the Result is the final outcome, timed
    from the first send."""

    retried: int = 0

    def _run(self) -> None:
        host, port = self.url.split("://", 1)[1].rsplit(":", 1)
        conn: http.client.HTTPConnection | None = None
        reused = False  # conn has answered a request before
        interval = self.clients / self.rate if self.rate > 0 else 0.0
        next_send = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            if interval:
                next_send += interval
                pause = next_send - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    next_send = time.monotonic()  # behind: do not burst to catch up
            with self._lock:
                if len(self.results) >= self.max_requests:
                    break
            sent = time.monotonic()
            colour = server = error = None
            for attempt in range(2):  # the request, and at most one retry
                if conn is None:
                    conn, reused = http.client.HTTPConnection(host, int(port), timeout=5), False
                try:
                    conn.request("GET", self.path)
                    resp = conn.getresponse()
                    resp.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = None
                    colour = server = None
                    error = f"{type(exc).__name__}: {exc}"
                    if attempt == 0 and reused and isinstance(exc, CLOSED_UNANSWERED):
                        with self._lock:
                            self.retried += 1
                        continue
                    break
                colour, server = resp.getheader("X-Colour"), resp.getheader("X-Server")
                error = None if resp.status == 200 else f"HTTP {resp.status}"
                reused = True
                if resp.will_close:
                    conn.close()
                    conn = None
                break
            with self._lock:
                self.results.append(Result(sent, time.monotonic(), colour, server, error))
        if conn is not None:
            conn.close()


def _load_process(urls, clients, rate, max_requests, max_seconds, conn) -> None:  # type: ignore[no-untyped-def]
    """Forked: one bounded Load per URL, so the timed switches never wait for the load's threads."""
    loads = [
        RetryingLoad(
            u, clients=clients, rate=rate, max_requests=max_requests, max_seconds=max_seconds
        )
        for u in urls
    ]
    for load in loads:
        load.start()
    conn.send("started")
    conn.poll(max_seconds)
    rows = {
        u: [(r.sent, r.done, r.colour, r.server, r.error) for r in load.stop()]
        for u, load in zip(urls, loads, strict=True)
    }
    conn.send((rows, {u: load.retried for u, load in zip(urls, loads, strict=True)}))
    conn.close()


class LoadProcess:
    def __init__(
        self, urls: list[str], clients: int, rate: float, max_requests: int, max_seconds: float
    ) -> None:
        ctx = multiprocessing.get_context("fork")  # before any thread of ours exists
        self._conn, child = ctx.Pipe()
        self.deadline = time.monotonic() + max_seconds
        self._proc = ctx.Process(
            target=_load_process,
            args=(urls, clients, rate, max_requests, max_seconds, child),
            daemon=True,
        )
        self._proc.start()
        if not self._conn.poll(10):
            raise RuntimeError("the load process did not start")
        self._conn.recv()

    def stop(self) -> tuple[dict[str, list[Result]], dict[str, int]]:
        """Every URL's results, and how many requests to it were retried on a new connection."""
        self._conn.send("stop")
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError("the load process did not report")
        rows, retried = self._conn.recv()
        self._proc.join(timeout=10)
        return {u: [Result(*row) for row in rs] for u, rs in rows.items()}, retried


def measure(
    results: dict[str, list[Result]],
    way: Way,
    t0: float,
    t_after: float,
    t_end: float,
    old: str,
    new: str,
) -> None:
    firsts = []
    for url in way.urls:
        window = [r for r in results[url] if t0 <= r.done and r.sent < t_end]
        first = min((r.done for r in window if r.colour == new), default=None)
        if first is None:
            way.missed += 1
        else:
            firsts.append(first)
        stale = [r for r in window if r.sent > t_after and r.colour == old]
        way.stale += len(stale)
        if stale:
            way.stale_window.append(1000 * (max(r.done for r in stale) - t0))
        if first is not None:
            # the mixed period: this proxy already answered with the new colour, and still
            # answers later requests with the old one (nginx's old workers on their connections)
            mixed = [r for r in window if r.sent > first and r.colour == old]
            way.mixed += len(mixed)
            if mixed:
                way.mixed_window.append(1000 * (max(r.done for r in mixed) - first))
    if firsts:
        way.to_first.append(1000 * (min(firsts) - t0))
    if len(firsts) == len(way.urls):
        way.to_last_instance.append(1000 * (max(firsts) - t0))


def run(args: argparse.Namespace) -> tuple[list[Way], dict[str, str], int, float]:
    root = Path(tempfile.mkdtemp(prefix="bg-proxies-", dir="/tmp"))
    apps: list[subprocess.Popen[bytes]] = []
    labs: list[HAProxyLab] = []
    nginx: NginxLab | None = None
    routers: list[Router] = []
    try:
        servers: dict[str, list[tuple[str, int]]] = {}
        for colour, version in (("blue", "v1"), ("green", "v2")):
            for i in range(1, args.servers + 1):
                proc, port = start_fleet(colour, version, f"{colour}-{i}")
                apps.append(proc)
                servers.setdefault(colour, []).append((f"{colour}-{i}", port))
        for name in ("nginx", "haproxy", *FLEET):
            (root / name).mkdir(mode=0o711)
        nginx = NginxLab(root / "nginx", servers).start()
        for name in ("haproxy", *FLEET):
            labs.append(HAProxyLab(root / name, servers).start())
        for lab in labs:
            lab.wait_until_up()
        single, fleet = labs[0], labs[1:]
        ways = [
            Way("nginx (map + nginx -t + reload)", [nginx.url]),
            Way("HAProxy (runtime API)", [single.url]),
            Way("HAProxy fleet of 3 (runtime API)", [lab.url for lab in fleet]),
        ]
        urls = [u for w in ways for u in w.urls]
        load = LoadProcess(urls, args.clients, args.rate, args.max_requests, args.max_seconds)
        ctx = BackendContext("bench", timeout=2.0)
        ways[0].router = NginxRouter(nginx.router_options(), ctx)
        ways[1].router = HAProxyRouter(single.router_options(), ctx)
        ways[2].router = HAProxyRouter(
            {
                **single.router_options(),
                "socket": None,
                "map": None,
                "instances": [
                    {"name": n, "socket": str(lab.socket), "map": str(lab.map)}
                    for n, lab in zip(FLEET, fleet, strict=True)
                ],
            },
            ctx,
        )
        routers = [w.router for w in ways if w.router is not None]
        time.sleep(0.5)
        trials: list[tuple[Way, float, float, float, str, str]] = []
        for i in range(args.switches):
            order = ways[i % 3 :] + ways[: i % 3]
            for way in order:
                assert way.router is not None
                old = way.live
                new = "green" if old == "blue" else "blue"
                t0 = time.monotonic()
                try:
                    way.router.switch(Colour(new))
                except Exception as exc:  # recorded and counted; the run goes on
                    way.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                t_after = time.monotonic()
                time.sleep(args.settle)
                if way is ways[0]:
                    # the old workers serve their open keep-alive connections until they exit
                    deadline = time.monotonic() + 10
                    while nginx.workers(old=True) and time.monotonic() < deadline:
                        time.sleep(0.01)
                way.call.append(1000 * (t_after - t0))
                trials.append((way, t0, t_after, time.monotonic(), old, new))
                way.live = new
            if time.monotonic() > load.deadline - 2:
                raise RuntimeError("the load's time bound ran out: raise --max-seconds")
        started = min(t[1] for t in trials)
        results, retried = load.stop()
        elapsed = time.monotonic() - started
        for way, t0, t_after, t_end, old, new in trials:
            measure(results, way, t0, t_after, t_end, old, new)
        for way in ways:
            rows = [r for u in way.urls for r in results[u]]
            way.requests = len(rows)
            way.retried = sum(retried[u] for u in way.urls)
            way.failed = sum(1 for r in rows if r.error)
            for r in rows:
                if r.error:
                    kind = r.error.split(":", 1)[0]
                    way.failures[kind] = way.failures.get(kind, 0) + 1
        info = machine()
        ngx = subprocess.run([nginx_binary() or "nginx", "-v"], capture_output=True, text=True)
        info["nginx"] = (ngx.stderr or ngx.stdout).strip().removeprefix("nginx version: ")
        return ways, info, sum(len(r) for r in results.values()), elapsed
    finally:
        for r in routers:
            with contextlib.suppress(Exception):
                r.close()
        if nginx is not None:
            nginx.stop()
        for lab in labs:
            lab.stop()
        for proc in apps:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in apps:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)


def table(ways: list[Way]) -> list[str]:
    def ms(values: list[float], f) -> str:  # type: ignore[no-untyped-def]
        return f"{f(values):.1f} ms" if values else "-"

    def row(label: str, f) -> str:  # type: ignore[no-untyped-def]
        return f"| {label} | " + " | ".join(f(w) for w in ways) + " |"

    return [
        "| | " + " | ".join(w.name for w in ways) + " |",
        "|---|" + "---:|" * len(ways),
        row("switches", lambda w: str(len(w.call))),
        row(
            "call to first new-colour response, median", lambda w: ms(w.to_first, statistics.median)
        ),
        row(
            "call to first new-colour response, p95", lambda w: ms(w.to_first, lambda v: pct(v, 95))
        ),
        row(
            "call to the last instance routing to the new colour, median",
            lambda w: ms(w.to_last_instance, statistics.median) if len(w.urls) > 1 else "(one)",
        ),
        row(
            "call to the last instance routing to the new colour, p95",
            lambda w: ms(w.to_last_instance, lambda v: pct(v, 95)) if len(w.urls) > 1 else "(one)",
        ),
        row("the call itself, median", lambda w: ms(w.call, statistics.median)),
        row("the call itself, max", lambda w: ms(w.call, max)),
        row(
            "requests sent after the call returned, served by the old colour",
            lambda w: str(w.stale),
        ),
        row(
            "call to the last such old-colour response, max",
            lambda w: ms(w.stale_window, max),
        ),
        row(
            "old-colour responses to requests sent after the first new-colour response",
            lambda w: str(w.mixed),
        ),
        row(
            "first new-colour response to the last such old-colour one, max",
            lambda w: ms(w.mixed_window, max),
        ),
        row("trials with a URL that showed no new-colour response", lambda w: str(w.missed)),
        row("switch calls that failed", lambda w: str(len(w.errors))),
        row("requests through it (whole run)", lambda w: str(w.requests)),
        row("retried after a closed keep-alive connection (whole run)", lambda w: str(w.retried)),
        row("**failed requests, after that one retry (whole run)**", lambda w: f"**{w.failed}**"),
        row(
            "what the failed requests got",
            lambda w: ", ".join(f"{n} {k}" for k, n in sorted(w.failures.items())) or "-",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--switches", type=int, default=30, help="switches per way")
    p.add_argument("--clients", type=int, default=2, help="keep-alive clients per proxy URL")
    p.add_argument("--rate", type=float, default=150.0, help="requests per second per proxy URL")
    p.add_argument("--servers", type=int, default=2, help="FleetApp servers per colour")
    p.add_argument("--settle", type=float, default=0.2, help="seconds to wait after each switch")
    p.add_argument("--max-seconds", type=float, default=300.0, help="the load's time bound")
    p.add_argument("--max-requests", type=int, default=500_000, help="the load's bound per URL")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = p.parse_args(argv)
    if haproxy_binary() is None or nginx_binary() is None:
        print("needs Debian's haproxy and nginx (make system-deps)", file=sys.stderr)
        return 2

    ways, info, total, elapsed = run(args)
    lines = table(ways)
    print("\n".join(lines))
    for w in ways:
        for e in w.errors[:3]:
            print(f"{w.name}: {e}", file=sys.stderr)
    print(f"\n{total} requests in {elapsed:.0f} s")
    ngx, hap, flt = ways

    def med(v: list[float]) -> str:
        return f"{statistics.median(v):.1f} ms" if v else "-"

    zero = all(w.failed == 0 for w in ways) and not any(w.errors for w in ways)
    verdict = [
        f"Median from the call to the first new-colour response: nginx {med(ngx.to_first)}, "
        f"HAProxy {med(hap.to_first)}; the fleet of three had every instance on the new colour "
        f"{med(flt.to_last_instance)} after the call (median).",
        f"Requests sent after the call returned and still served by the old colour: nginx "
        f"{ngx.stale} "
        + (
            "(its old workers closed their kept-alive connections rather than serve more on them)"
            if ngx.stale == 0
            else "(its old workers finish the keep-alive connections they hold)"
        )
        + f", HAProxy {hap.stale}, fleet {flt.stale}.",
        f"Old-colour responses to requests sent after that proxy had already answered with the "
        f"new colour (the mixed period): nginx {ngx.mixed}, HAProxy {hap.mixed}, fleet "
        f"{flt.mixed}.",
        f"Failed requests over the whole run: nginx {ngx.failed}, HAProxy {hap.failed}, fleet "
        f"{flt.failed} (target 0: " + ("met)." if zero else "NOT met)."),
    ]
    verdict.append(
        f"Requests retried once on a new connection after a reused keep-alive connection closed "
        f"before any byte of the response: nginx {ngx.retried}, HAProxy {hap.retried}, fleet "
        f"{flt.retried}. At a reload nginx's old workers close their idle kept-alive connections, "
        "and a request sent on one just then crosses the close unanswered; the load's clients "
        "retry it as browsers and HTTP libraries do (RFC 9110, 9.2.2), so it is not a failure "
        "here, but a client that does not retry sees those closes as failed requests at every "
        "reload. HAProxy's runtime API switches without a reload, so its connections are never "
        "closed by a switch."
    )
    if ngx.failed and set(ngx.failures) <= {"RemoteDisconnected", "ConnectionResetError"}:
        verdict.append(
            "nginx's remaining failures are requests whose one retry on a new connection was "
            "closed too."
        )
    section = [
        "## Proxies side by side: Nginx reload, HAProxy runtime API, a HAProxy fleet of three",
        "",
        f"Measured {info['date']} on {info['nproc']} CPUs ({info['cpu']}), {info['haproxy']}, "
        f"nginx {info['nginx']}, Python {info['python']}, with `.venv/bin/python bench/proxies.py "
        f"--switches {args.switches} --clients {args.clients} --rate {args.rate:g} --servers "
        f"{args.servers} --settle {args.settle:g}`.",
        "",
        f"Set-up: {args.servers} FleetApp servers per colour (one process each, 0 ms latency) behind "
        "five proxies on 127.0.0.1 at once: one nginx, one HAProxy, and three HAProxy processes "
        f"configured as one fleet router. One load process sends `GET /` to each of the five, "
        f"{args.clients} keep-alive clients and about {args.rate:g} requests/s per proxy; "
        f"{total} requests in {elapsed:.0f} s. In each round every way flips its colour once, in a "
        "rotating order, through the console's routers: `NginxRouter.switch()` (map rewrite, "
        "`nginx -t`, reload, read-back, probe request; the next nginx trial waits for the old "
        "workers to exit), `HAProxyRouter.switch()` on one instance, and on `instances = [lb1, "
        "lb2, lb3]` (preflight all, `set map` + read-back + map file on each, side by side). Time "
        "runs from the call to the first response with the new colour's `X-Colour`; for the fleet "
        "also to the first new-colour response of the *last* instance. Failed requests count every "
        "request through that proxy during the run that got no 200, after the one retry a client "
        "makes when a reused keep-alive connection closes before any byte of the response (RFC "
        "9110, 9.2.2; counted on its own line).",
        "",
        *lines,
        "",
        *verdict,
        "",
    ]
    out = write_section("\n".join(section), args.out)
    print(f"wrote its section of {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""I/O of the Nginx router: the map and upstream files, the master and its workers (procfs), the
``nginx`` binary (``-t``, ``-T``, ``-s reload``) and two HTTP reads (the probe, stub_status).

Every function here either returns plain data or raises one of the typed errors of
:mod:`backends.base` with a message that names the fix.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

from backends.base import BackendTimeout, PermissionDenied, Unreachable

# --------------------------------------------------------------------------------------------------
# Files


def read_text(path: str, what: str) -> str:
    """A file's text, or Unreachable / PermissionDenied naming ``what`` it is."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise Unreachable(f"the {what} {path} does not exist (router option for it).") from None
    except PermissionError:
        raise PermissionDenied(
            f"permission denied reading the {what} {path}: the console's user needs read access."
        ) from None
    except OSError as exc:
        raise Unreachable(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def _words(line: str) -> list[str]:
    body = line.split("#", 1)[0].strip().rstrip(";").strip()
    return body.split()


def map_value(text: str, key: str) -> str | None:
    """The value of ``key`` in a map file's text (``key value;`` lines; the first one wins)."""
    for line in text.splitlines():
        words = _words(line)
        if len(words) >= 2 and words[0] == key:
            return words[1]
    return None


def with_map_value(text: str, key: str, value: str) -> str:
    """The map file's text with ``key`` set to ``value`` (added when absent), other lines kept."""
    out: list[str] = []
    found = False
    for line in text.splitlines():
        words = _words(line)
        if len(words) >= 2 and words[0] == key:
            if not found:
                out.append(f"{key} {value};")
                found = True
            continue
        out.append(line)
    if not found:
        out.append(f"{key} {value};")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class ServerLine:
    """One ``server`` line of an upstream include file."""

    address: str
    down: bool
    name: str  # the line's trailing comment (`# blue-1`), else the address
    weight: int | None
    backup: bool


_SERVER = re.compile(r"^(\s*)server\s+(\S+)([^;#]*);(.*)$")


def parse_servers(text: str) -> list[ServerLine]:
    out = []
    for line in text.splitlines():
        m = _SERVER.match(line)
        if not m:
            continue
        params = m.group(3).split()
        weight = next((p.split("=", 1)[1] for p in params if p.startswith("weight=")), None)
        comment = m.group(4).strip().lstrip("#").split()
        out.append(
            ServerLine(
                name=comment[0] if comment else m.group(2),
                address=m.group(2),
                down="down" in params,
                weight=int(weight) if weight and weight.isdigit() else None,
                backup="backup" in params,
            )
        )
    return out


def with_down(text: str, down: bool) -> str:
    """The include file's text with ``down`` added to (or removed from) every ``server`` line."""
    out = []
    for line in text.splitlines():
        m = _SERVER.match(line)
        if m:
            params = [p for p in m.group(3).split() if p != "down"]
            if down:
                params.append("down")
            rest = (" " + " ".join(params)) if params else ""
            line = f"{m.group(1)}server {m.group(2)}{rest};{m.group(4)}"
        out.append(line)
    return "\n".join(out) + "\n"


def write_problem(path: str) -> str | None:
    """Why ``path`` could not be replaced atomically (temporary file + rename), or None."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        return f"its directory {directory} does not exist on this machine"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"the console cannot create files in {directory} (a temporary file is renamed over {path})"
    return None


def replace_file(path: str, text: str, what: str) -> None:
    """Replace ``path`` by ``text`` atomically: a temporary file in the same directory, fsync'd,
    given the old file's mode (and owner, when allowed), renamed over it; nginx reloading at any
    moment reads the old file or the new one, never half of one.

    Raises:
        PermissionDenied: the directory or the file may not be written (the message says where).
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        old: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        old = None
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
        )
    except PermissionError as exc:
        raise PermissionDenied(_denied(path, what, exc)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old is not None else 0o644)
        if old is not None:
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, path)
    except PermissionError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise PermissionDenied(_denied(path, what, exc)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _denied(path: str, what: str, exc: OSError) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    return (
        f"permission denied writing the {what} {path} ({exc.strerror or exc}): the console "
        f"writes a temporary file in {directory} and renames it over the file, so its user needs "
        f"write access to that directory (and the file must not be immutable). Nothing changed."
    )


# --------------------------------------------------------------------------------------------------
# The master and its workers, from the pid file and procfs


@dataclass(frozen=True)
class Worker:
    pid: int
    shutting_down: bool
    started: float  # seconds since boot


def read_master_pid(pid_file: str) -> int:
    """The running master's pid, or Unreachable saying nginx is not running (and why we think so)."""
    try:
        with open(pid_file, encoding="ascii") as fh:
            raw = fh.read().strip()
    except FileNotFoundError:
        raise Unreachable(
            f"nginx is not running: no master pid file {pid_file} (router option `pid_file`, as "
            "named by `pid` in nginx's config). Start nginx, or fix `pid_file`."
        ) from None
    except PermissionError:
        raise PermissionDenied(
            f"permission denied reading nginx's pid file {pid_file}: the console needs read access."
        ) from None
    except OSError as exc:
        raise Unreachable(f"cannot read nginx's pid file {pid_file}: {exc}") from None
    if not raw.isdigit():
        raise Unreachable(f"nginx's pid file {pid_file} holds {raw[:40]!r}, not a pid.")
    pid = int(raw)
    title = _cmdline(pid)
    if title is None:
        raise Unreachable(
            f"nginx is not running: its pid file {pid_file} names pid {pid}, and no such process "
            "exists (nginx was killed or stopped uncleanly). Start nginx again."
        )
    if "nginx" not in title:
        raise Unreachable(
            f"nginx is not running: its pid file {pid_file} names pid {pid}, which is "
            f"{title[:60]!r}, not an nginx master. Start nginx again."
        )
    return pid


def _cmdline(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def workers(master: int) -> list[Worker]:
    """The master's worker processes (cache manager/loader excluded), oldest first."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if not fields or fields[0] == "Z" or int(fields[1]) != master:
            continue
        title = _cmdline(int(entry)) or ""
        if "worker process" not in title:
            continue
        out.append(Worker(int(entry), "shutting down" in title, int(fields[19]) / ticks))
    return sorted(out, key=lambda w: w.started)


def uptime() -> float:
    """Seconds since boot (the clock of ``Worker.started``)."""
    with open("/proc/uptime", encoding="ascii") as fh:
        return float(fh.read().split()[0])


# --------------------------------------------------------------------------------------------------
# The nginx binary


def nginx_binary(configured: str) -> str:
    if "/" in configured:
        return configured
    found = shutil.which(configured)
    if found:
        return found
    fallback = f"/usr/sbin/{configured}"
    if os.access(fallback, os.X_OK):
        return fallback
    raise Unreachable(
        f"the nginx binary {configured!r} is not on PATH nor in /usr/sbin: set router option "
        "`nginx` to its path (it runs `nginx -t` before every reload)."
    )


def run_nginx(
    binary: str, conf: str, prefix: str | None, args: list[str], timeout: float
) -> tuple[int, str, str]:
    """``nginx [-p prefix] -c conf ARGS`` -> (exit status, stdout, stderr)."""
    cmd = [binary, *(["-p", prefix] if prefix else []), "-c", conf, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BackendTimeout(f"`{' '.join(cmd)}` did not finish within {timeout:g} s.") from None
    except OSError as exc:
        raise Unreachable(f"cannot run {binary}: {exc.strerror or exc}") from None
    return proc.returncode, proc.stdout, proc.stderr


def nginx_message(stderr: str) -> str:
    """nginx's own words from ``-t``: the emerg/error lines, without the banner."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    keep = [
        ln.split("] ", 1)[-1] if ln.startswith("nginx: [") else ln
        for ln in lines
        if "[emerg]" in ln or "[error]" in ln or "[crit]" in ln or "[alert]" in ln
    ]
    return "; ".join(keep or lines[-2:]) or "(nginx said nothing)"


@dataclass(frozen=True)
class Dump:
    """What ``nginx -T`` shows of the config: the files it read and the upstreams it defines."""

    files: frozenset[str]
    upstreams: frozenset[str]


def parse_dump(text: str) -> Dump:
    files = set()
    upstreams = set()
    for line in text.splitlines():
        if line.startswith("# configuration file ") and line.rstrip().endswith(":"):
            files.add(line[len("# configuration file ") :].rstrip()[:-1])
            continue
        words = _words(line)
        if len(words) >= 2 and words[0] == "upstream":
            upstreams.add(words[1].rstrip("{"))
    return Dump(frozenset(files), frozenset(upstreams))


# --------------------------------------------------------------------------------------------------
# HTTP: the probe and stub_status


def http_get(url: str, timeout: float) -> tuple[int, dict[str, str], str]:
    """One GET on a new connection (``Connection: close``): (status, headers lowercased, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read(65536).decode(errors="replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    except TimeoutError:
        raise BackendTimeout(f"{url} did not answer within {timeout:g} s.") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise Unreachable(f"{url}: {reason}") from None
    finally:
        conn.close()


_ACTIVE = re.compile(r"Active connections:\s*(\d+)")
_COUNTS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)
_RWW = re.compile(r"Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)")


def parse_stub_status(body: str) -> dict[str, int] | None:
    """stub_status's page -> {active, accepts, handled, requests, reading, writing, waiting}."""
    active, counts, rww = _ACTIVE.search(body), _COUNTS.search(body), _RWW.search(body)
    if not (active and counts and rww):
        return None
    return {
        "active": int(active.group(1)),
        "accepts": int(counts.group(1)),
        "handled": int(counts.group(2)),
        "requests": int(counts.group(3)),
        "reading": int(rww.group(1)),
        "writing": int(rww.group(2)),
        "waiting": int(rww.group(3)),
    }


def tcp_open(address: str, timeout: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens (a unix: address counts as open)."""
    if address.startswith("unix:"):
        return True
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        host, port = address, "80"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False

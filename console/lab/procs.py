"""The lab's processes on this machine: started detached and recorded with their command line and
start time from ``/proc``, so that a stop only ever signals the process ``up`` started; and the tools
they need (haproxy, prometheus) and the free ports they listen on."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from console.lab.state import TOOLS, LabError, Proc, Say

# --------------------------------------------------------------------------------------------------
# Processes


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    return [raw[: raw.index("(")].strip(), "comm", *raw[raw.rindex(")") + 2 :].split()]


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_ours(proc: Proc) -> bool:
    """The pid still runs the process ``up`` started (not a zombie, not a reused pid)."""
    stat = _proc_stat(proc.pid)
    if stat is None or stat[2] == "Z":
        return False
    return stat[21] == proc.start_ticks and _cmdline(proc.pid) == proc.cmdline


def spawn(name: str, cmd: list[str], log_dir: Path, cwd: Path) -> Proc:
    """Start ``cmd`` detached (own session, no terminal), output appended to ``<log_dir>/<name>.log``."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    # /proc shows the new command line once exec has happened; wait for it (bounded).
    deadline = time.monotonic() + 5
    stat, cmdline = _proc_stat(popen.pid), _cmdline(popen.pid)
    while time.monotonic() < deadline and cmdline != cmd and popen.poll() is None:
        time.sleep(0.01)
        stat, cmdline = _proc_stat(popen.pid), _cmdline(popen.pid)
    if popen.poll() is not None or stat is None:
        raise LabError(f"{name} exited at once (status {popen.returncode}):\n{tail(log_path)}")
    return Proc(name, popen.pid, cmdline or cmd, stat[21], str(log_path))


def stop(proc: Proc, timeout: float = 10.0) -> str:
    """SIGTERM, then SIGKILL after ``timeout``; only if the pid is still ours. Returns what happened."""
    if not is_ours(proc):
        _reap(proc.pid)
        return "already stopped"
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return "already stopped"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(proc.pid)
        if not is_ours(proc):
            return "stopped"
        time.sleep(0.05)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    for _ in range(100):
        _reap(proc.pid)
        if not is_ours(proc):
            break
        time.sleep(0.05)
    return "killed (did not stop on SIGTERM)"


def _reap(pid: int) -> None:
    """Collect our own child's exit status (when ``up`` ran in this process), else do nothing."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join("    " + line for line in text) or "    (empty log)"


# --------------------------------------------------------------------------------------------------
# Tools


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        p = Path(d) / name
        if os.access(p, os.X_OK):
            return str(p)
    return None


def ensure_tools(install: bool, say: Say) -> dict[str, str]:
    """Paths of haproxy and prometheus; installs Debian's packages with apt-get when missing."""
    missing = [b for b in TOOLS if find_tool(b) is None]
    if missing and not install:
        names = " ".join(TOOLS[b] for b in missing)
        raise LabError(f"{', '.join(missing)} not installed: run `sudo apt-get install -y {names}`")
    if missing:
        pkgs = [TOOLS[b] for b in missing]
        cmd = ["apt-get", "install", "-y", *pkgs]
        if os.geteuid() != 0:
            if not shutil.which("sudo"):
                raise LabError(f"{', '.join(missing)} not installed; as root run: {' '.join(cmd)}")
            cmd = ["sudo", *cmd]
        if not shutil.which("apt-get"):
            raise LabError(
                f"{', '.join(missing)} not installed and apt-get is not available: install "
                f"{', '.join(pkgs)} with this system's package manager"
            )
        say(
            f"{', '.join(missing)} not installed: installing Debian's package(s) with `{' '.join(cmd)}` "
            "(the lab starts its own processes; it does not use the system service)"
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(cmd, env=env, check=False)
        if done.returncode != 0:
            raise LabError(
                f"`{' '.join(cmd)}` failed (status {done.returncode}); try `sudo apt-get update` first"
            )
    tools = {b: find_tool(b) for b in TOOLS}
    for b, path in tools.items():
        if path is None:
            raise LabError(f"{b} is still not on PATH after installing {TOOLS[b]}")
    return {b: str(p) for b, p in tools.items()}


def free_ports(names: list[str]) -> dict[str, int]:
    """Distinct free ports on 127.0.0.1, one per name (all held open until every one is picked)."""
    held: list[socket.socket] = []
    try:
        for _ in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return {n: int(s.getsockname()[1]) for n, s in zip(names, held, strict=True)}
    finally:
        for s in held:
            s.close()

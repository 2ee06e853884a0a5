"""Talking to the running lab: one HTTP request, and HAProxy's admin socket (which colour is live,
switching it)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

from console.lab.state import LabError, LabState

# --------------------------------------------------------------------------------------------------
# HTTP and the admin socket


def http(url: str, method: str = "GET", timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of one request; (0, reason) when nothing answered."""
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - 127.0.0.1 only
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def haproxy_command(sock_path: str, command: str, timeout: float = 2.0) -> str:
    """Send one command to HAProxy's admin socket and return its whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def live_backend(state: LabState, service: str | None = None) -> str | None:
    """The backend the service's map entry (``/`` for the one-service lab) names now (HAProxy's
    memory, not the file). ``service``: required when the lab runs several."""
    svc = state.service(service)
    answer = haproxy_command(state.socket, f"show map {svc.map}")
    for line in answer.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == svc.map_key:
            return parts[2]
    return None


def set_live(state: LabState, colour: str, service: str | None = None) -> None:
    """Point the service's map entry at ``colour``'s backend, in HAProxy and in the map file."""
    svc = state.service(service)
    line = f"{svc.map_key} {svc.backends[colour]}"
    answer = haproxy_command(state.socket, f"set map {svc.map} {line}")
    if answer.strip():
        raise LabError(f"HAProxy refused `set map`: {answer.strip()}")
    tmp = Path(svc.map).with_suffix(".tmp")
    tmp.write_text(line + "\n")
    tmp.replace(svc.map)

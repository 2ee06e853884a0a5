"""I/O of the HAProxy router: one runtime-API command at a time, and the map file on disk.

``StatsSocket.command`` sends one command (or several joined with ``;``) and returns the answer's
lines, or raises one of the typed errors of :mod:`backends.base` with a message a person can act on.
haproxyadmin's own exceptions never leave this module: they are diagnosed here, because they
mislead ("UNIX socket file was not set" means permission denied *or* a stale socket).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import tempfile
import threading
import time

from haproxyadmin.haproxy import HAProxy

from backends.base import BackendError, BackendTimeout, PermissionDenied, Unreachable


def parse_tcp_address(address: str) -> tuple[str, int] | None:
    """``"127.0.0.1:9999"`` / ``"[::1]:9999"`` -> (host, port); a unix socket path -> None."""
    if address.startswith(("/", ".")) or ":" not in address:
        return None
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def permission_message(address: str) -> str:
    return (
        f"permission denied on {address}: the console needs read/write access to the socket, and "
        f"the socket must be `stats socket {address} ... level admin` in HAProxy's global section "
        "(for example `stats socket /run/haproxy/admin.sock mode 660 group haproxy level admin`, "
        "with the console's user in that group)."
    )


class StatsSocket:
    """HAProxy's stats socket (``stats socket ... level admin``), unix or TCP.

    Unix sockets go through haproxyadmin's raw ``command()``, built with ``retry=None`` and
    ``retry_interval=0``: its defaults (2 retries, 2 s apart, slept even when retry is None) make a
    dead socket fail after about 6 s instead of within the console's timeout. haproxyadmin cannot
    open a TCP socket (``HAProxy(socket_file=...)`` stats a path), so a ``host:port`` address is a
    plain socket with the same timeout.
    """

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self.tcp = parse_tcp_address(address)
        self._client: HAProxy | None = None
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------

    def command(self, cmd: str) -> list[str]:
        """Send ``cmd``; return HAProxy's answer as lines, trailing blank lines removed.

        Raises:
            Unreachable / BackendTimeout: no answer (the message says why and what to check).
            PermissionDenied: the socket is not reachable by this user, or is not ``level admin``
                (HAProxy answered "Permission denied").
        """
        lines = self._tcp_command(cmd) if self.tcp else self._unix_command(cmd)
        while lines and not lines[-1].strip():
            lines.pop()
        if any(line.strip() == "Permission denied" for line in lines):
            verb = " ".join(cmd.split()[:2])
            raise PermissionDenied(
                f"HAProxy refused `{verb}` on {self.address}: Permission denied. The socket must be "
                f"`stats socket {self.address} ... level admin`: a `level user` or `level operator` "
                "socket reads stats but cannot change servers or weights."
            )
        return lines

    def close(self) -> None:
        with self._lock:
            self._client = None

    # -- unix, through haproxyadmin -----------------------------------------------------------

    def _unix_client(self) -> HAProxy:
        with self._lock:
            if self._client is None:
                # Probe first: haproxyadmin's build turns every failure (timeout included, after
                # waiting for it) into ValueError("UNIX socket file was not set").
                problem = self._probe()
                if problem is not None:
                    raise problem
                try:
                    self._client = HAProxy(
                        socket_file=self.address,
                        retry=None,
                        retry_interval=0,
                        timeout=self.timeout,
                    )
                except Exception as exc:  # ValueError / OSError: diagnose what it really is
                    raise self.diagnose(exc, "show info") from None
            return self._client

    def _unix_command(self, cmd: str) -> list[str]:
        client = self._unix_client()
        try:
            results = client.command(cmd)
        except Exception as exc:  # FileNotFoundError, SocketConnectionError, SocketTimeout, ...
            with self._lock:
                self._client = None
            raise self.diagnose(exc, cmd) from None
        if not results:
            raise Unreachable(f"HAProxy admin socket {self.address}: no HAProxy process answered")
        return list(results[0][1])

    def diagnose(self, exc: BaseException, cmd: str) -> BackendError:
        """Turn whatever haproxyadmin raised into what is really wrong with the unix socket."""
        path = self.address
        verb = " ".join(cmd.split()[:2])
        if type(exc).__name__ == "SocketTimeout" or isinstance(exc, TimeoutError):
            return BackendTimeout(  # no second wait to find out more
                f"HAProxy did not answer `{verb}` on {path} within {self.timeout:g} s "
                "(router option `timeout`): HAProxy is overloaded or stuck."
            )
        problem = self._probe()
        if problem is not None:
            return problem
        # The socket answers now: the failure was about this one command.
        if isinstance(exc, ValueError) and "no data" in str(exc):
            return Unreachable(
                f"HAProxy closed {path} without answering `{verb}`: it is probably restarting."
            )
        if isinstance(exc, ValueError):  # "UNIX socket file was not set" at build, now answering
            return Unreachable(
                f"HAProxy admin socket {path} did not answer as HAProxy while connecting (it is "
                "probably restarting); the console tries again at the next poll."
            )
        detail = getattr(exc, "strerror", None) or getattr(exc, "message", None) or str(exc)
        return Unreachable(
            f"HAProxy admin socket {path}: `{verb}` failed: {detail or type(exc).__name__}"
        )

    def _probe(self) -> BackendError | None:
        """What is wrong with the unix socket, found by looking at it and asking it `show info`;
        None when it answers as HAProxy."""
        path = self.address
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return Unreachable(
                f"HAProxy admin socket {path} does not exist: HAProxy is not running, or it was "
                f"restarted with another socket path. Check that HAProxy runs and that its config "
                f"has `stats socket {path} ... level admin` (router option `socket`)."
            )
        except PermissionError:
            return PermissionDenied(permission_message(path))
        except OSError as err:
            return Unreachable(f"HAProxy admin socket {path}: {err.strerror or err}")
        if not stat.S_ISSOCK(st.st_mode):
            return Unreachable(
                f"{path} is not a unix socket: router option `socket` must name HAProxy's "
                "`stats socket` (or be host:port for a TCP stats socket)."
            )
        if not os.access(path, os.R_OK | os.W_OK):
            return PermissionDenied(permission_message(path))
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(self.timeout)
        answer = b""
        try:
            probe.connect(path)
            # haproxyadmin's build swallows a timeout into "UNIX socket file was not set": ask too.
            probe.sendall(b"show info\n")
            answer = probe.recv(4096)
        except PermissionError:
            return PermissionDenied(permission_message(path))
        except ConnectionRefusedError:
            return Unreachable(
                f"HAProxy admin socket {path} is there but nothing answers on it (connection "
                "refused): HAProxy was stopped or killed, or is restarting, and left a stale "
                "socket file. Start HAProxy again; the console reconnects by itself."
            )
        except FileNotFoundError:
            return Unreachable(
                f"HAProxy admin socket {path} vanished: HAProxy stopped or restarted."
            )
        except TimeoutError:
            return BackendTimeout(
                f"HAProxy admin socket {path} did not answer within {self.timeout:g} s (router "
                "option `timeout`): HAProxy is overloaded or stuck."
            )
        except OSError as err:
            return Unreachable(f"HAProxy admin socket {path}: {err.strerror or err}")
        finally:
            probe.close()
        if answer and b"Name:" not in answer:
            return Unreachable(
                f"{path} answered `show info`, but not as HAProxy's stats socket does: router "
                "option `socket` must be HAProxy's `stats socket` (not the master CLI)."
            )
        return None

    # -- TCP, direct --------------------------------------------------------------------------

    def _tcp_command(self, cmd: str) -> list[str]:
        assert self.tcp is not None
        host, port = self.tcp
        where = f"{host}:{port}"
        deadline = time.monotonic() + self.timeout
        try:
            conn = socket.create_connection((host, port), timeout=self.timeout)
        except ConnectionRefusedError:
            raise Unreachable(
                f"nothing listens on HAProxy's stats socket {where} (connection refused): HAProxy "
                f"is stopped or restarting, or its config has no `stats socket {where} level admin`."
            ) from None
        except TimeoutError:
            raise BackendTimeout(
                f"HAProxy stats socket {where} did not accept a connection within {self.timeout:g} s."
            ) from None
        except OSError as err:
            raise Unreachable(f"HAProxy stats socket {where}: {err.strerror or err}") from None
        chunks: list[bytes] = []
        try:
            with conn:
                conn.sendall((cmd + "\n").encode())
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    conn.settimeout(left)
                    data = conn.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
        except TimeoutError:
            raise BackendTimeout(
                f"HAProxy did not answer `{' '.join(cmd.split()[:2])}` on {where} within "
                f"{self.timeout:g} s (router option `timeout`)."
            ) from None
        except OSError as err:
            if err.errno in (errno.ECONNRESET, errno.EPIPE):
                raise Unreachable(
                    f"HAProxy closed {where} mid-answer: it is probably restarting."
                ) from None
            raise Unreachable(f"HAProxy stats socket {where}: {err.strerror or err}") from None
        if not chunks:
            raise Unreachable(
                f"HAProxy closed {where} without answering: it is probably restarting."
            )
        return b"".join(chunks).decode("utf-8", "replace").splitlines()


# --------------------------------------------------------------------------------------------------
# The map file on disk.


def read_map_file_value(path: str, key: str) -> str | None:
    """The value of ``key`` in the map file (first match, as HAProxy loads it), or None."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.strip().split(None, 1)
            if parts and not parts[0].startswith("#") and parts[0] == key:
                return parts[1].strip() if len(parts) > 1 else ""
    return None


def map_file_problem(path: str) -> str | None:
    """Why the map file could not be replaced atomically, or None when it can."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        return f"its directory {directory} does not exist on this machine"
    if os.path.exists(path) and not os.access(path, os.R_OK):
        return f"the console cannot read {path}"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"the console cannot create files in {directory} (a temporary file is renamed over {path})"
    return None


def rewrite_map_file(path: str, key: str, value: str) -> None:
    """Set ``key`` to ``value`` in the map file, keeping every other line, atomically.

    Writes a temporary file in the same directory, fsyncs it, gives it the old file's mode (and
    owner, when allowed) and renames it over the old one, so HAProxy reloading at any moment reads
    either the old file or the new one, never half of one.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines(keepends=True)
        old = os.stat(path)
    except FileNotFoundError:
        lines, old = [], None
    out: list[str] = []
    found = False
    for line in lines:
        parts = line.strip().split(None, 1)
        if parts and not parts[0].startswith("#") and parts[0] == key:
            if not found:
                out.append(f"{key} {value}\n")
                found = True
            continue  # a duplicate of the key would shadow nothing but confuse a reader: drop it
        out.append(line if line.endswith("\n") else line + "\n")
    if not found:
        out.append(f"{key} {value}\n")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(out)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None:
            os.chmod(tmp, stat.S_IMODE(old.st_mode))
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

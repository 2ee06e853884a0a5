"""Credentials read from files, as files are written: with a trailing newline (``echo token >
file``), or a CRLF one (a file saved on Windows, a Secret created from such a file), on a real
Prometheus.

Basic auth is checked by Prometheus itself (``--web.config.file`` with ``basic_auth_users``). Prometheus
2.42 has no bearer-token check of its own; bearer tokens are checked in production by a proxy in front
of it (kube-rbac-proxy, an ingress), and here by a small proxy on 127.0.0.1 that compares the
Authorization header exactly and forwards the query to the real Prometheus.
"""

from __future__ import annotations

import os
import threading
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backends.base import BackendContext, Colour, PermissionDenied
from backends.prometheus import PrometheusMetrics
from tests.integration.prom_fixture import PrometheusServer, ScrapeJob

pytestmark = pytest.mark.integration

ENDINGS = pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["LF", "CRLF"])


def bcrypt(password: str) -> str:
    """A bcrypt hash for Prometheus's web config, by the C library's crypt(3) (libxcrypt)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated in 3.11, removed in 3.13: skip there

        hashed = crypt.crypt(password, "$2b$05$" + "bluegreenconsolesalt12")
    if not hashed or not hashed.startswith("$2b$"):
        pytest.skip("this C library's crypt(3) makes no bcrypt hash")
    return hashed


def source(url: str, **options: Any) -> PrometheusMetrics:
    return PrometheusMetrics({"url": url, "timeout": 5, **options}, BackendContext(service="shop"))


def rewrite(path: Path, text: str) -> None:
    """Rotate the file's contents with a modification time that surely differs from the last."""
    before = path.stat().st_mtime_ns
    path.write_bytes(text.encode())
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.fixture
def prometheus(prometheus_factory: Callable[..., PrometheusServer]) -> PrometheusServer:
    return prometheus_factory([ScrapeJob("nothing", ["127.0.0.1:9"])])


class BearerProxy:
    """127.0.0.1 HTTP proxy to ``upstream`` that answers 401 unless the Authorization header is
    exactly ``Bearer <expected>``; records every header it was sent."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.expected = ""
        self.seen: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                got = self.headers.get("Authorization")
                proxy.seen.append(got)
                if got != f"Bearer {proxy.expected}":
                    status, ctype = 401, "text/plain"
                    body = b"Unauthorized\n"
                else:
                    req = urllib.request.Request(proxy.upstream + self.path)
                    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - 127.0.0.1
                        status, ctype, body = r.status, r.headers["Content-Type"], r.read()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def bearer_proxy(prometheus: PrometheusServer) -> Iterator[BearerProxy]:
    proxy = BearerProxy(prometheus.url)
    proxy.thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
        proxy.thread.join(timeout=5)


def answered(sample: Any) -> bool:
    """Prometheus answered every query (it scrapes nothing of the app: no series, "no data")."""
    return all(sample[c].notes.get("rate") == "no data" for c in (Colour.BLUE, Colour.GREEN))


@ENDINGS
def test_a_bearer_token_file_ending_in_a_newline_is_sent_without_it(
    bearer_proxy: BearerProxy, tmp_path: Path, ending: str
) -> None:
    token = tmp_path / "token"
    token.write_bytes(f"tok-1{ending}".encode())
    bearer_proxy.expected = "tok-1"
    metrics = source(bearer_proxy.url, bearer_token_file=str(token))
    assert answered(metrics.sample())  # not "unreadable answer", not 401
    assert set(bearer_proxy.seen) == {"Bearer tok-1"}


@ENDINGS
def test_a_rotated_bearer_token_file_ending_in_a_newline_is_picked_up_without_it(
    bearer_proxy: BearerProxy, tmp_path: Path, ending: str
) -> None:
    token = tmp_path / "token"
    token.write_bytes(f"tok-1{ending}".encode())
    bearer_proxy.expected = "tok-1"
    metrics = source(bearer_proxy.url, bearer_token_file=str(token))
    assert answered(metrics.sample())
    rewrite(token, f"tok-2{ending}")  # the service-account token is rotated
    bearer_proxy.expected = "tok-2"
    assert answered(metrics.sample())
    assert bearer_proxy.seen[-1] == "Bearer tok-2"
    assert all(s in ("Bearer tok-1", "Bearer tok-2") for s in bearer_proxy.seen)


def test_a_token_rotated_before_the_first_poll_is_used_by_the_first_poll(
    bearer_proxy: BearerProxy, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("tok-1\n")
    metrics = source(bearer_proxy.url, bearer_token_file=str(token))  # read at build
    rewrite(token, "tok-2\n")  # rotated between the console's start and its first poll
    bearer_proxy.expected = "tok-2"
    assert answered(metrics.sample())
    assert bearer_proxy.seen and set(bearer_proxy.seen) == {"Bearer tok-2"}


def test_a_wrong_bearer_token_is_denied_by_the_proxy(
    bearer_proxy: BearerProxy, tmp_path: Path
) -> None:
    """The control: the proxy does check (so the tests above prove the token is right)."""
    token = tmp_path / "token"
    token.write_text("tok-1 \n")
    bearer_proxy.expected = "tok-0"
    with pytest.raises(PermissionDenied, match="401"):
        source(bearer_proxy.url, bearer_token_file=str(token)).sample()


@ENDINGS
def test_a_basic_auth_password_file_ending_in_a_newline_opens_a_real_prometheus(
    prometheus_factory: Callable[..., PrometheusServer], tmp_path: Path, ending: str
) -> None:
    prom = prometheus_factory(
        [ScrapeJob("nothing", ["127.0.0.1:9"])],
        basic_auth={"console": bcrypt("hunter2")},
        client_auth=("console", "hunter2"),
    )
    password = tmp_path / "password"
    password.write_bytes(f"hunter2{ending}".encode())
    metrics = source(prom.url, basic_auth_user="console", basic_auth_password_file=str(password))
    assert answered(metrics.sample())
    password.write_bytes(f"wrong{ending}".encode())  # the control: Prometheus itself checks
    with pytest.raises(PermissionDenied, match="401"):
        source(prom.url, basic_auth_user="console", basic_auth_password_file=str(password)).sample()

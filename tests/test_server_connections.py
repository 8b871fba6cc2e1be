"""Connection limits of the service, with real slow clients on loopback sockets: a request's
head and body must arrive within their deadlines, an idle connection is closed, and past the
cap a new connection is refused with a JSON 503. The probe held connections open for 40 s and
more, and 1,000 half-sent requests for 30 s; here the deadlines are 1 s."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import LiveServer

DEADLINE = 1.0
SLACK = 2.0  # a loaded 2-core machine may be late to fire a 1 s timer, never this late
HEAD = b"POST /v1/search HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("connections") / "memory.db",
        header_timeout_s=DEADLINE,
        body_timeout_s=DEADLINE,
        idle_timeout_s=1,
    ).start()
    yield live
    live.stop()


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE + SLACK + 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def until_closed(
    sock: socket.socket, drip: bytes = b"", every: float = 0.25
) -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (sending ``drip`` every ``every`` s meanwhile,
    as a slow client does), and what it sent before closing."""
    start = time.monotonic()
    received = b""
    sock.settimeout(every)
    while time.monotonic() - start < DEADLINE + SLACK + 3:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if drip:
                try:
                    sock.sendall(drip)
                except OSError:  # closed while we were sending
                    break
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - start, received


def one_response(sock: socket.socket) -> bytes:
    """Read one whole response (head, then Content-Length bytes of body)."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )  # fmt: skip
    while len(body) < length:
        body += sock.recv(65536)
    return raw


def json_error(raw: bytes) -> tuple[int, str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"content-type: application/json" in head.lower(), head
    assert b"connection: close" in head.lower(), head
    return status, json.loads(body)["error"]["code"]


def test_slow_headers_are_cut_off(server: LiveServer) -> None:
    with connect(server) as sock:
        sock.sendall(HEAD)
        elapsed, raw = until_closed(sock, drip=b"X-Slow: 1\r\n")  # a header line every 0.25 s
    assert DEADLINE * 0.8 <= elapsed < DEADLINE + SLACK, elapsed
    assert json_error(raw) == (408, "request_timeout")


def test_slow_body_is_cut_off(server: LiveServer) -> None:
    with connect(server) as sock:
        sock.sendall(HEAD + b"Content-Length: 1000\r\n\r\n" + b'{"query": ')
        elapsed, raw = until_closed(sock, drip=b" ")  # a byte every 0.25 s
    assert DEADLINE * 0.8 <= elapsed < DEADLINE + SLACK, elapsed
    assert b"200 OK" not in raw


def test_a_silent_connection_is_closed(server: LiveServer) -> None:
    with connect(server) as sock:
        elapsed, raw = until_closed(sock)
    assert elapsed < 1 + SLACK and raw == b""


def test_a_kept_alive_connection_serves_then_closes_when_idle(server: LiveServer) -> None:
    with connect(server) as sock:
        for _ in range(2):  # two requests on one connection, each well within the deadlines
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            assert one_response(sock).startswith(b"HTTP/1.1 200")
        elapsed, raw = until_closed(sock)
    assert elapsed < 1 + SLACK and raw == b""


def test_many_half_sent_requests_are_all_dropped(server: LiveServer) -> None:
    socks = [connect(server) for _ in range(200)]
    try:
        for sock in socks:
            sock.sendall(HEAD)
        time.sleep(DEADLINE + SLACK)
        for sock in socks:  # every one answered 408 and closed by now
            sock.settimeout(0.5)
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
            assert json_error(raw) == (408, "request_timeout")
    finally:
        for sock in socks:
            sock.close()
    with connect(server) as sock:  # and the service still serves
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        assert until_closed(sock)[1].startswith(b"HTTP/1.1 200")


def test_connections_over_the_cap_are_refused(tmp_path: Path) -> None:
    cap = 5
    live = LiveServer(
        tmp_path / "capped.db", max_connections=cap, header_timeout_s=30, idle_timeout_s=30
    ).start()
    held = [connect(live) for _ in range(cap)]
    try:
        for sock in held:  # each accepted and served: the server counts it
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            assert one_response(sock).startswith(b"HTTP/1.1 200")
        for _ in range(3):
            with connect(live) as extra:
                elapsed, raw = until_closed(extra)
            assert elapsed < SLACK and json_error(raw) == (503, "unavailable")
        held.pop().close()
        time.sleep(0.2)  # the server sees the close
        with connect(live) as sock:  # under the cap again: served
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            assert until_closed(sock)[1].startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
        live.stop()

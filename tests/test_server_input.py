"""The REST side of the probe's findings: deep metadata and extra fields (once committed, then
a 500 on every read of that memory), dates at the end of year 9999 (a 500), update reasons, a
bad Content-Length (a plain-text 400) and the connection after a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from service_helpers import LiveServer, add

from engramdb.config import LimitsConfig

DEPTH = LimitsConfig().max_metadata_depth


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("server-input") / "memory.db").start()
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client(server.new_key("input", "write")) as client:
        yield client


def nested_json(depth: int) -> str:
    """An object nested ``depth`` levels, written out (json.dumps itself recurses)."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def post_raw(api: httpx.Client, path: str, body: str) -> httpx.Response:
    return api.post(path, content=body.encode(), headers={"Content-Type": "application/json"})


def assert_json_4xx(response: httpx.Response, words: str = "") -> str:
    assert 400 <= response.status_code < 500, response.text
    message: str = response.json()["error"]["message"]
    assert words in message, message
    return message


@pytest.mark.parametrize("depth", [DEPTH + 1, 255, 300, 999, 1000, 5000])
def test_deep_metadata_is_refused_and_the_user_stays_readable(
    api: httpx.Client, depth: int
) -> None:
    user = f"deep-{depth}"
    add(api, user, "a memory from before")
    deep = nested_json(depth)
    batch = f'{{"messages": "hello", "user_id": "{user}", "metadata": {deep}}}'
    extra = f'{{"messages": [{{"content": "hello", "blob": {deep}}}], "user_id": "{user}"}}'
    for body in (batch, extra):
        response = post_raw(api, "/v1/memories", body)
        # up to the JSON parser's own limit the rule's message; past it the parser's
        assert_json_4xx(response, "deeper than" if depth < 990 else "")
    listed = api.get("/v1/memories", params={"user_id": user})
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1
    found = api.post("/v1/search", json={"query": "memory", "user_id": user})
    assert found.status_code == 200 and len(found.json()["results"]) == 1


def test_metadata_at_the_limit_is_stored_and_returned(api: httpx.Client) -> None:
    metadata = json.loads(nested_json(DEPTH - 1))  # under a key: DEPTH levels in all
    body = {"messages": [{"content": "deep", "extra": metadata}], "metadata": {"m": metadata}}
    response = api.post("/v1/memories", json={**body, "user_id": "at-limit"})
    assert response.status_code == 200, response.text
    memory_id = response.json()["results"][0]["id"]
    item = api.get(f"/v1/memories/{memory_id}").json()
    assert item["metadata"] == {"m": metadata, "extra": metadata}


@pytest.mark.parametrize(
    "metadata",
    [{f"k{i}": i for i in range(1001)}, {"k" * 257: 1}, {"big": "x" * 70_000}],
    ids=["keys", "long key", "size"],
)
def test_metadata_over_the_other_limits_is_refused(api: httpx.Client, metadata: Any) -> None:
    response = api.post(
        "/v1/memories", json={"messages": "hi", "user_id": "wide", "metadata": metadata}
    )
    assert_json_4xx(response, "metadata")
    extra = {"messages": [{"content": "hi", **metadata}], "user_id": "wide"}
    assert_json_4xx(api.post("/v1/memories", json=extra), "extra fields")


@pytest.mark.parametrize("words", ["31 December 9999", "9999-12-31", "in 9000 years"])
def test_dates_at_the_end_of_the_calendar_work_over_rest(api: httpx.Client, words: str) -> None:
    user = f"end-{words.replace(' ', '-')}"
    [memory_id] = add(api, user, f"the party is on {words}")
    edited = api.put(f"/v1/memories/{memory_id}", json={"text": f"moved to {words}"})
    assert edited.status_code == 200, edited.text
    found = api.post("/v1/search", json={"query": f"party {words}", "user_id": user})
    assert found.status_code == 200, found.text
    late = {"messages": "see you tomorrow", "user_id": user, "timestamp": "9999-12-31T23:59:59Z"}
    assert api.post("/v1/memories", json=late).status_code == 200


def test_update_reason_is_checked(api: httpx.Client) -> None:
    [memory_id] = add(api, "reasons", "the sky is blue")
    for reason in ("r" * 1001, 5, "\ud800"):
        body = json.dumps({"text": "the sky is grey", "reason": reason})
        response = api.put(
            f"/v1/memories/{memory_id}",
            content=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert_json_4xx(response)
    history = api.get(f"/v1/memories/{memory_id}/history").json()["results"]
    assert [h["event"] for h in history] == ["ADD"]


# --- the HTTP layer -------------------------------------------------------------------------
def exchange(server: LiveServer, raw: bytes) -> bytes:
    """Send raw bytes on a fresh connection; read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1, 2", b"99999999999999999999999"])
def test_a_bad_content_length_is_a_json_400(server: LiveServer, length: bytes) -> None:
    raw = b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"
    head, _, body = exchange(server, raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 4"), head
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] in ("bad_request", "payload_too_large") and error["message"]


def test_a_500_closes_the_connection(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "boom.db")

    async def boom() -> None:  # a real route failing as a bug would, not a stand-in
        raise RuntimeError("a bug")

    live.app.add_api_route("/boom", boom)
    live.start()
    try:
        with live.client() as client:
            response = client.get("/boom")
            assert response.status_code == 500
            assert response.json()["error"]["code"] == "internal_error"
            assert response.headers["connection"] == "close"
            assert client.get("/healthz").status_code == 200  # a new connection serves
    finally:
        live.stop()

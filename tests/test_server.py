"""The REST service end to end: a real uvicorn server on loopback over a real store (SQLite,
and PostgreSQL with its key store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from service_helpers import LiveServer, add
from stores import BACKENDS, new_schema


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    store: Path | str = tmp_path_factory.mktemp("server") / "memory.db"
    if request.param == "postgresql":
        store = new_schema(request.getfixturevalue("pg_base"))
    live = LiveServer(store).start()
    yield live
    live.stop()


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    code: str = body["error"]["code"]
    return code


# --- probes, docs, authentication ---------------------------------------------------------
def test_probes_and_openapi_need_no_key(server: LiveServer) -> None:
    with server.client() as anon:
        assert anon.get("/healthz").json() == {"status": "ok"}
        ready = anon.get("/readyz").json()
        assert ready["status"] == "ready"
        assert set(ready["queue"]) == {"jobs", "messages", "failed"}
        spec = anon.get("/openapi.json").json()
        paths = set(spec["paths"])
        assert {"/v1/memories", "/v1/search", "/v1/memories/{memory_id}"} <= paths
        assert {"/v1/memories/{memory_id}/history", "/v1/keys", "/v1/users"} <= paths
        assert "HTTPBearer" in spec["components"]["securitySchemes"]
        assert "text/html" in anon.get("/").headers["content-type"]


def test_every_v1_request_needs_a_valid_key(server: LiveServer) -> None:
    with server.client() as anon:
        for method, path in [("GET", "/v1/users"), ("POST", "/v1/search"), ("GET", "/mcp")]:
            response = anon.request(method, path)
            assert response.status_code == 401
            assert error_code(response) == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        for header in ("Basic abc", "Bearer", "Bearer egk_0000000000000000_" + "x" * 40):
            response = anon.get("/v1/users", headers={"Authorization": header})
            assert response.status_code == 401 and error_code(response) == "unauthorized"
    with server.client(server.admin) as admin:
        response = admin.get("/v1/memories", params={"user_id": "alice"})
        assert response.status_code == 403 and error_code(response) == "forbidden"


# --- keys ----------------------------------------------------------------------------------
def test_admin_creates_lists_and_revokes_keys(server: LiveServer) -> None:
    with server.client(server.admin) as admin:
        created = admin.post("/v1/keys", json={"tenant": "keys-t", "rights": "read"})
        assert created.status_code == 201
        issued = created.json()
        assert issued["key"].startswith(f"egk_{issued['key_id']}_")
        listed = admin.get("/v1/keys", params={"tenant": "keys-t"}).json()["results"]
        assert [k["key_id"] for k in listed] == [issued["key_id"]]
        assert "key" not in listed[0] and listed[0]["revoked_at"] is None
        with server.client(issued["key"]) as reader:
            assert reader.get("/v1/users").status_code == 200
            revoked = admin.delete(f"/v1/keys/{issued['key_id']}")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"]
            response = reader.get("/v1/users")  # no restart needed
            assert response.status_code == 401 and error_code(response) == "unauthorized"
        assert error_code(admin.delete("/v1/keys/0123456789abcdef")) == "not_found"
        for bad in ({"tenant": "a b"}, {"tenant": "x", "rights": "all"}, {"tenant": ""}):
            response = admin.post("/v1/keys", json=bad)
            assert response.status_code == 422 and error_code(response) == "invalid_input"
        response = admin.post("/v1/keys", json={"tenant": "default", "user_id": "t::u"})
        assert response.status_code == 422
    key = server.new_key("keys-t", "write")
    with server.client(key) as tenant:
        response = tenant.post("/v1/keys", json={"tenant": "keys-t"})
        assert response.status_code == 403 and error_code(response) == "forbidden"
        assert tenant.delete("/v1/keys/0123456789abcdef").status_code == 403
    # the secret is stored hashed only
    stored = server.keys.lookup(key.split("_")[1])  # the server's own key store
    assert stored is not None and key.split("_", 2)[2] not in stored[1]


# --- the memory endpoints -------------------------------------------------------------------
def test_memory_lifecycle(server: LiveServer) -> None:
    key = server.new_key("life", "write")
    with server.client(key) as api:
        body: dict[str, Any] = {
            "messages": [
                {"content": "I went hiking in Patagonia", "speaker": "Ann", "id": "m1"},
                {"content": "We adopted a puppy called Biscuit", "role": "user", "mood": "glad"},
            ],
            "user_id": "ann",
            "session_id": "s1",
            "timestamp": "2024-05-08T13:56:00Z",
            "metadata": {"source": "test"},
        }
        added = api.post("/v1/memories", json=body)
        assert added.status_code == 200
        items = added.json()["results"]
        assert [i["user_id"] for i in items] == ["ann", "ann"]
        first = items[0]
        assert first["kind"] == "episode" and first["sources"] == ["m1"]
        assert first["event_time"].startswith("2024-05-08T13:56")
        meta = {k: v for k, v in items[1]["metadata"].items() if k != "guard"}  # docs/guard.md
        assert meta == {"source": "test", "mood": "glad"}
        ids = [i["id"] for i in items] + add(api, "ann", "Lemon cake for grandma", "Chess win")

        hits = api.post("/v1/search", json={"query": "hiking Patagonia", "user_id": "ann"})
        assert hits.status_code == 200
        results = hits.json()["results"]
        assert results[0]["id"] == first["id"] and isinstance(results[0]["score"], float)

        def every(**filters: Any) -> list[dict[str, Any]]:
            """All of ann's memories, page by page (3 a page)."""
            seen: list[dict[str, Any]] = []
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"user_id": "ann", "limit": 3, **filters}
                if cursor:
                    params["cursor"] = cursor
                page = api.get("/v1/memories", params=params).json()
                seen += page["results"]
                cursor = page["next"]
                if cursor is None:
                    return seen

        said = every(kind="episode")
        assert sorted(i["id"] for i in said) == sorted(ids) and len(said) == 4
        # without a kind: the messages and the facts extracted from them, each exactly once
        seen = every()
        assert len({i["id"] for i in seen}) == len(seen)
        assert {i["id"] for i in seen if i["kind"] == "episode"} == set(ids)
        sources = {s for i in said for s in i["sources"]}
        for fact in (i for i in seen if i["kind"] != "episode"):
            assert fact["kind"] == "fact" and fact["user_id"] == "ann"
            assert fact["sources"] and set(fact["sources"]) <= sources

        got = api.get(f"/v1/memories/{first['id']}")
        assert got.status_code == 200 and got.json()["text"] == "I went hiking in Patagonia"
        put = api.put(
            f"/v1/memories/{first['id']}",
            params={"user_id": "ann"},
            json={"text": "I went hiking in Patagonia in March", "reason": "more precise"},
        )
        assert put.status_code == 200 and put.json()["version"] == 2
        history = api.get(f"/v1/memories/{first['id']}/history").json()["results"]
        assert [h["event"] for h in history] == ["ADD", "UPDATE"]
        assert history[1]["previous_text"] == "I went hiking in Patagonia"
        assert history[1]["reason"] == "more precise"

        assert api.delete(f"/v1/memories/{ids[1]}").json() == {"id": ids[1], "deleted": True}
        gone = api.get(f"/v1/memories/{ids[1]}")
        assert gone.status_code == 404 and error_code(gone) == "not_found"
        assert "ann" in api.get("/v1/users").json()["results"]

        left = every()
        assert len([i for i in left if i["kind"] == "episode"]) == 3
        wiped = api.delete("/v1/memories", params={"user_id": "ann"})
        assert wiped.status_code == 200 and wiped.json()["deleted"]["memories"] == len(left)
        assert api.get("/v1/memories", params={"user_id": "ann"}).json()["results"] == []
        no_user = api.delete("/v1/memories")
        assert no_user.status_code == 422 and error_code(no_user) == "invalid_input"


def test_read_only_key_cannot_write(server: LiveServer) -> None:
    writer, reader = server.new_key("ro", "write"), server.new_key("ro", "read")
    with server.client(writer) as w:
        [memory_id] = add(w, "rita", "I play the violin")
    with server.client(reader) as r:
        assert r.get("/v1/memories", params={"user_id": "rita"}).status_code == 200
        assert r.post("/v1/search", json={"query": "violin", "user_id": "rita"}).status_code == 200
        assert r.get(f"/v1/memories/{memory_id}/history").status_code == 200
        attempts = [
            r.post("/v1/memories", json={"messages": "new", "user_id": "rita"}),
            r.put(f"/v1/memories/{memory_id}", json={"text": "changed"}),
            r.delete(f"/v1/memories/{memory_id}"),
            r.delete("/v1/memories", params={"user_id": "rita"}),
        ]
        for response in attempts:
            assert response.status_code == 403 and error_code(response) == "forbidden"
        item = r.get(f"/v1/memories/{memory_id}").json()
        assert item["text"] == "I play the violin" and item["version"] == 1
        params = {"user_id": "rita", "kind": "episode"}
        assert len(r.get("/v1/memories", params=params).json()["results"]) == 1


def test_no_request_crosses_tenants_or_bound_users(server: LiveServer) -> None:
    a_key = server.new_key("tenant-a", "write")
    with server.client(a_key) as a:
        alice = add(a, "alice", "Alice's secret: the safe code is 4711", "Alice likes tea")
        add(a, "bob", "Bob's note")
        # alice's memories: her messages and the facts extracted from them
        alice_all = a.get("/v1/memories", params={"user_id": "alice"}).json()["results"]
        assert {i["id"] for i in alice_all if i["kind"] == "episode"} == set(alice)
        bob_all = a.get("/v1/memories", params={"user_id": "bob"}).json()["results"]
    outsiders = {
        "tenant B writer": server.new_key("tenant-b", "write"),
        "tenant B reader": server.new_key("tenant-b", "read"),
        "A key bound to bob": server.new_key("tenant-a", "write", user_id="bob"),
        "default tenant": server.new_key("default", "write"),
    }
    for who, key in outsiders.items():
        with server.client(key) as api:
            for user in (None, "alice"):
                params = {"user_id": user} if user else {}
                by_id = [
                    api.get(f"/v1/memories/{alice[0]}", params=params),
                    api.put(f"/v1/memories/{alice[0]}", params=params, json={"text": "pwned"}),
                    api.delete(f"/v1/memories/{alice[0]}", params=params),
                    api.get(f"/v1/memories/{alice[0]}/history", params=params),
                ]
                for response in by_id:
                    assert response.status_code in (403, 404), (who, response.text)
                    assert error_code(response) in ("forbidden", "not_found")
            scoped = [
                api.get("/v1/memories", params={"user_id": "alice"}),
                api.post("/v1/search", json={"query": "safe code", "user_id": "alice"}),
                api.post("/v1/memories", json={"messages": "x", "user_id": "alice"}),
                api.delete("/v1/memories", params={"user_id": "alice"}),
                api.get("/v1/memories", params={"user_id": "tenant-a::alice"}),
                api.post("/v1/search", json={"query": "safe", "user_id": "tenant-a::alice"}),
            ]
            for response in scoped:
                text = response.text
                assert "4711" not in text and alice[0] not in text, (who, text)
                assert not any(i["id"] in text for i in alice_all), (who, text)
                if "bound" in who:
                    assert response.status_code == 403, (who, text)
            listed = api.get("/v1/users").json()["results"]
            assert "alice" not in listed and not any("tenant-a" in u for u in listed)
    with server.client(outsiders["A key bound to bob"]) as bob:
        assert bob.get("/v1/users").json()["results"] == ["bob"]
        own = bob.get("/v1/memories").json()["results"]  # the key's own user
        assert sorted(i["id"] for i in own) == sorted(i["id"] for i in bob_all)
        assert len([i for i in own if i["kind"] == "episode"]) == 1
        assert all(i["user_id"] == "bob" for i in own)
    with server.client(a_key) as a:  # tenant A's data is untouched
        items = a.get("/v1/memories", params={"user_id": "alice"}).json()["results"]
        assert sorted(i["id"] for i in items) == sorted(i["id"] for i in alice_all)
        assert all(i["version"] == 1 for i in items)
        assert sorted(a.get("/v1/users").json()["results"]) == ["alice", "bob"]


# --- bad input: always a 4xx with a code, never a 500 ---------------------------------------
BAD_REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/memories", b"{not json"),
    ("POST", "/v1/memories", {"messages": [], "user_id": "u"}),
    ("POST", "/v1/memories", {"messages": [{"content": ""}], "user_id": "u"}),
    ("POST", "/v1/memories", {"messages": [{"content": "x" * 40_000}], "user_id": "u"}),
    ("POST", "/v1/memories", {"messages": [{"content": "x", "id": True}], "user_id": "u"}),
    ("POST", "/v1/memories", {"messages": "hi", "user_id": "u", "timestamp": "never"}),
    ("POST", "/v1/memories", {"messages": "hi", "user_id": "u", "timestamp": 1e20}),
    (
        "POST",
        "/v1/memories",
        {"messages": "hi", "user_id": "u", "timestamp": "0001-01-01T00:00+05:00"},
    ),
    ("POST", "/v1/memories", {"messages": "hi", "user_id": "u", "metadata": [1]}),
    ("POST", "/v1/memories", {"messages": "hi", "user_id": "u\x00v"}),
    ("POST", "/v1/memories", {"messages": "hi", "user_id": "u", "surprise": 1}),
    ("POST", "/v1/memories", {"messages": "\ud800", "user_id": "u"}),
    ("POST", "/v1/memories", {"messages": "hi"}),
    ("POST", "/v1/search", {"query": "x", "user_id": "u", "limit": 0}),
    ("POST", "/v1/search", {"query": "x", "user_id": "u", "limit": 10**12}),
    ("POST", "/v1/search", {"query": "", "user_id": "u"}),
    ("POST", "/v1/search", {"query": ["x"], "user_id": "u"}),
    ("GET", "/v1/memories?user_id=u&cursor=abc", None),
    ("GET", "/v1/memories?user_id=u&kind=dream", None),
    ("GET", "/v1/memories?user_id=u&limit=-1", None),
    ("GET", "/v1/memories/" + "x" * 500, None),
    ("PUT", "/v1/memories/nope", {"text": ""}),
    ("PUT", "/v1/memories/nope?user_id=u", {"text": "fine"}),
    ("PATCH", "/v1/memories", None),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_REQUESTS)
def test_bad_input_is_a_4xx_with_a_code(
    server: LiveServer, method: str, path: str, body: Any
) -> None:
    key = server.new_key("bad", "write")
    with server.client(key) as api:
        if isinstance(body, bytes):
            content = body
        else:
            content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        response = api.request(method, path, content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert error_code(response) in {
        "invalid_input",
        "not_found",
        "method_not_allowed",
        "payload_too_large",
    }
    assert "Traceback" not in response.text


def test_oversized_body_is_refused(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "small.db", max_body_bytes=2048).start()
    try:
        key = live.new_key("big")
        with live.client(key) as api:
            response = api.post("/v1/memories", json={"messages": "y" * 5000, "user_id": "u"})
            assert response.status_code == 413 and error_code(response) == "payload_too_large"

            def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
                yield b'{"messages": "'
                for _ in range(10):
                    yield b"z" * 512
                yield b'", "user_id": "u"}'

            streamed = api.post(
                "/v1/memories", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert streamed.status_code == 413 and error_code(streamed) == "payload_too_large"
            assert api.get("/v1/memories", params={"user_id": "u"}).json()["results"] == []
    finally:
        live.stop()

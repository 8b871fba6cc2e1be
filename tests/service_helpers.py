"""A real engramdb service for tests: uvicorn in a thread on a free loopback port, over a fresh
store with the fast static embedder, plus small helpers to create keys."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn

from engramdb import AsyncMemory, EngramConfig
from engramdb.server import ServerSettings, create_app, open_key_store
from engramdb.server.protocol import uvicorn_config

STATIC = {"provider": "static"}


class LiveServer:
    def __init__(
        self, store: Path | str, *, extraction: dict[str, Any] | None = None, **settings: Any
    ) -> None:
        """``extraction``: the Memory's extraction section (default: engramdb's default)."""
        self.store = store
        self.admin = secrets.token_urlsafe(24)
        options: dict[str, Any] = {"extraction": extraction} if extraction is not None else {}
        self.memory = AsyncMemory(store, embedder=STATIC, **options)
        # the key store that goes with the store: SQLite's own file, or the PostgreSQL database
        self.keys = open_key_store(EngramConfig.build(store=str(store)))
        self.settings = ServerSettings(**settings)
        app = create_app(self.memory, self.keys, admin_key=self.admin, settings=self.settings)
        self.app = app
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # as `engram serve` configures uvicorn: the same protocol, deadlines and cap
        self.server = uvicorn.Server(uvicorn_config(app, self.settings))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def new_key(self, tenant: str, rights: str = "write", user_id: str | None = None) -> str:
        with self.client(self.admin) as admin:
            body: dict[str, Any] = {"tenant": tenant, "rights": rights}
            if user_id is not None:
                body["user_id"] = user_id
            response = admin.post("/v1/keys", json=body)
            assert response.status_code == 201, response.text
            key: str = response.json()["key"]
            return key


def add(client: httpx.Client, user_id: str | None, *texts: str, **extra: Any) -> list[str]:
    """Add messages (one per text) and return the new memory ids."""
    body: dict[str, Any] = {"messages": [{"content": t} for t in texts], **extra}
    if user_id is not None:
        body["user_id"] = user_id
    response = client.post("/v1/memories", json=body)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["results"]]

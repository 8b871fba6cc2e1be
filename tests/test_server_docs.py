"""docs/server.md documents every route the service has: each method and path of
``/openapi.json`` appears in it as ``METHOD /path`` (a new route without docs fails here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import LiveServer

DOCS = Path(__file__).resolve().parent.parent / "docs" / "server.md"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("docs") / "memory.db").start()
    yield live
    live.stop()


def documented(text: str) -> set[str]:
    """Every ``METHOD /path`` in the docs (in code spans, tables or prose)."""
    found = re.findall(r"\b(GET|POST|PUT|PATCH|DELETE) (/[^\s`|,)]*)", text)
    return {f"{method} {path}" for method, path in found}


def test_docs_list_every_route_of_the_openapi_document(server: LiveServer) -> None:
    with server.client() as anon:
        spec = anon.get("/openapi.json").json()
    routes = {
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert len(routes) > 10
    missing = sorted(routes - documented(DOCS.read_text(encoding="utf-8")))
    assert not missing, f"docs/server.md does not list: {', '.join(missing)}"

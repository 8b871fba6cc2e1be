"""``create_app``: the FastAPI service over one ``AsyncMemory`` (REST /v1, MCP /mcp, UI /)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from mcp.server.transport_security import TransportSecuritySettings

import engramdb
from engramdb.api.async_memory import AsyncMemory
from engramdb.compat.mem0 import Memory as Mem0Memory
from engramdb.server.auth import Authenticator
from engramdb.server.errors import install_error_handlers
from engramdb.server.keys import KeyStore
from engramdb.server.middleware import AccessLog, BearerAuth, BodyLimit
from engramdb.server.routes import (
    keys_router,
    knowledge_router,
    mem0_router,
    memories_router,
    probes_router,
)
from engramdb.server.settings import ServerSettings

DESCRIPTION = """Long-term memory for LLM agents, as a service.

Every `/v1` and `/v3` request needs `Authorization: Bearer KEY` (or `Token KEY`, as mem0's
`MemoryClient` sends it; mem0's paths are the ones ending with `/`). An API key belongs to one
tenant (and optionally one user of it) with `read` or `write` rights; user ids are namespaced
per tenant.
Errors are `{"error": {"code", "message"}}` with a 4xx status."""


UI_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _ui_dir() -> Path:
    return Path(str(resources.files("engramdb") / "ui"))


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def create_app(
    memory: AsyncMemory,
    keys: KeyStore,
    *,
    admin_key: str | None,
    settings: ServerSettings | None = None,
    close_on_shutdown: bool = True,
) -> FastAPI:
    """The service. ``admin_key`` (read by the CLI from a flag or the environment) may create
    and revoke API keys; the app closes ``memory`` and ``keys`` on shutdown when asked to."""
    from engramdb.mcp.server import build_mcp  # imports engramdb.server: keep it lazy

    settings = settings or ServerSettings()
    # mem0's API over the same Memory (routes/mem0.py); it opens a messages-only Memory on the
    # store only if an infer=False add comes, and that one it always closes
    mem0 = Mem0Memory(engram=memory.memory)
    mcp_server = build_mcp(memory) if settings.mcp else None
    mcp_app = None
    if mcp_server is not None:
        security = (
            None
            if _loopback(settings.host)
            else TransportSecuritySettings(enable_dns_rebinding_protection=False)
        )
        mcp_app = mcp_server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=True,
            json_response=True,
            max_request_body_size=settings.max_body_bytes,
            transport_security=security,
            host=settings.host,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if close_on_shutdown:
                stack.push_async_callback(memory.close)
                stack.callback(keys.close)
            stack.callback(mem0.close)  # first out: its own Memory, before the store's
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            app.state.ready = True
            try:
                yield
            finally:  # uvicorn has finished the in-flight requests by now
                app.state.ready = False

    app = FastAPI(
        title="engramdb",
        version=engramdb.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # the interactive docs page loads assets from a CDN; engramdb stays offline
        redoc_url=None,
    )
    app.state.memory = memory
    app.state.keys = keys
    app.state.mem0 = mem0
    app.state.settings = settings
    app.state.ready = False
    install_error_handlers(app)
    app.include_router(probes_router)
    app.include_router(memories_router)
    app.include_router(knowledge_router)
    app.include_router(keys_router)
    app.include_router(mem0_router)
    if mcp_app is not None:
        app.router.routes.extend(mcp_app.routes)
    if settings.ui:
        ui = _ui_dir()
        app.mount("/ui", StaticFiles(directory=ui), name="ui")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(ui / "index.html", headers=UI_HEADERS)

    app.add_middleware(
        BearerAuth, auth=Authenticator(keys, admin_key), prefixes=("/v1", "/v3", "/mcp")
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(AccessLog)
    return app

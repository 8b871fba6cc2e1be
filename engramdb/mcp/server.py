"""engramdb as an MCP server (the ``mcp`` SDK, 2.x ``MCPServer``): tools to add, search, list
and delete memories and to read a user's profile.

Over stdio (``engram mcp``) the caller is the local user: one fixed principal (a tenant, by
default ``default``, i.e. the store's own user ids). Over streamable HTTP (``/mcp`` on
``engram serve``) every request carries a bearer key, checked by the service's middleware; each
tool call acts with the rights and scope of the key on its own request.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from starlette.requests import HTTPConnection

from engramdb.api.async_memory import AsyncMemory
from engramdb.errors import EngramError
from engramdb.server import knowledge, service
from engramdb.server.auth import Principal, principal_of
from engramdb.server.errors import ApiError

INSTRUCTIONS = (
    "Long-term memory. Call `search` before answering questions about the user's past, "
    "`add` to remember what they said, `profile` for their most recent memories."
)
UserArg = Annotated[
    str | None, Field(description="whose memories; may be omitted if the key is bound to a user")
]


def build_mcp(memory: AsyncMemory, local: Principal | None = None) -> MCPServer:
    """The MCP server over ``memory``. ``local`` is the principal of stdio sessions; without
    it, every call must come over HTTP with an authenticated request."""
    server: MCPServer = MCPServer("engramdb", instructions=INSTRUCTIONS)

    def caller(ctx: Context) -> Principal:
        request = ctx.request_context.request
        if isinstance(request, HTTPConnection):
            return principal_of(request)
        if local is None:
            raise ToolError("unauthorized: no API key on this request")
        return local

    async def guarded(ctx: Context, op: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await op(memory, caller(ctx), *args, **kwargs)
        except ApiError as exc:
            raise ToolError(f"{exc.code}: {exc.message}") from exc
        except EngramError as exc:
            raise ToolError(f"{exc.code}: {exc}") from exc

    @server.tool(name="add", description="Remember messages (a string or a list of messages).")
    async def add(
        ctx: Context,
        messages: Annotated[
            str | list[dict[str, Any]],
            Field(description="text, or [{'content', 'role'?, 'speaker'?, 'timestamp'?}]"),
        ],
        user_id: UserArg = None,
        session_id: str | None = None,
        timestamp: Annotated[str | None, Field(description="ISO 8601; default now")] = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        results = await guarded(
            ctx,
            service.add,
            messages,
            user_id=user_id,
            session_id=session_id,
            timestamp=timestamp,
            metadata=metadata,
        )
        return {"results": results}

    @server.tool(name="search", description="The user's memories most relevant to a query.")
    async def search(
        ctx: Context,
        query: str,
        user_id: UserArg = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        as_of: Annotated[
            str | None, Field(description="ISO 8601: rank facts that were valid then")
        ] = None,
    ) -> dict[str, Any]:
        results = await guarded(
            ctx, service.search, query, user_id=user_id, limit=limit, as_of=as_of
        )
        return {"results": results}

    @server.tool(name="list", description="The user's memories, newest first, one page.")
    async def list_memories(
        ctx: Context,
        user_id: UserArg = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 50,
        cursor: Annotated[str | None, Field(description="`next` of the previous page")] = None,
    ) -> dict[str, Any]:
        results, following = await guarded(
            ctx, service.list_page, user_id=user_id, limit=limit, cursor=cursor
        )
        return {"results": results, "next": following}

    @server.tool(name="delete", description="Delete one memory by id.")
    async def delete(ctx: Context, memory_id: str, user_id: UserArg = None) -> dict[str, Any]:
        await guarded(ctx, service.delete, memory_id, user_id)
        return {"id": memory_id, "deleted": True}

    @server.tool(name="profile", description="What engramdb knows about the user, in brief.")
    async def profile(ctx: Context, user_id: UserArg = None) -> dict[str, Any]:
        result: dict[str, Any] = await guarded(ctx, service.profile, user_id)
        return result

    @server.tool(name="history", description="Every version of a memory, with who and why.")
    async def history(ctx: Context, memory_id: str, user_id: UserArg = None) -> dict[str, Any]:
        entries = await guarded(ctx, service.history, memory_id, user_id)
        return {"results": [e.model_dump(mode="json") for e in entries]}

    @server.tool(name="sources", description="The messages a fact was extracted from.")
    async def sources(ctx: Context, memory_id: str, user_id: UserArg = None) -> dict[str, Any]:
        return {"results": await guarded(ctx, knowledge.sources, memory_id, user_id)}

    return server


async def run_stdio(memory: AsyncMemory, local: Principal) -> None:
    """Serve MCP on stdin/stdout until the client closes the stream; then close the store."""
    try:
        await build_mcp(memory, local).run_stdio_async()
    finally:
        await memory.close()

"""engramdb as an MCP server (the ``mcp`` SDK, 2.x ``MCPServer``): tools to remember, search,
list, read, delete and trace a user's memories and to read their profile.

Over stdio (``engram mcp``) the caller is the local user: one fixed principal (a tenant, by
default ``default``, i.e. the store's own user ids), and tool calls that name no user act on one
local user (``--default-user``, ``local`` unless told). Over streamable HTTP (``/mcp`` on
``engram serve``) every request carries a bearer key, checked by the service's middleware; each
tool call acts with the rights and scope of the key on its own request.

Answers are compact JSON text (see views.py): an agent pays for every character it reads.
"""

# no `from __future__ import annotations`: the tools' argument descriptions depend on the
# transport, and MCPServer reads them from annotations evaluated where each tool is defined

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult
from pydantic import Field, ValidationError
from starlette.requests import HTTPConnection

from engramdb.api.async_memory import AsyncMemory
from engramdb.errors import EngramError
from engramdb.mcp import views
from engramdb.server import knowledge, service
from engramdb.server.auth import Principal, principal_of
from engramdb.server.errors import ApiError

LOCAL_USER = "local"
INSTRUCTIONS = (
    "Long-term memory of the user across conversations. Call `profile` at the start of a"
    " conversation for the key facts about the user that are true now; `search` before"
    " answering anything that may depend on what they said before; `add` to remember what they"
    " tell you that will matter later. Answers are compact: ids are their first 12 characters"
    " (every tool takes them back); `get`, or detail=true, gives every field."
)
MEMORY_ID = "the memory's id: as search, list and profile show it (12 characters), or in full"
DETAIL = "true: every field of each memory (much longer); default: a compact summary"


class EngramMCP(MCPServer):
    """``MCPServer`` whose tool errors are one line: ``code: message``, without the SDK's
    prefix or the validation library's multi-line report (and its documentation links)."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            raise ToolError(_one_line(name, exc)) from None


def _one_line(name: str, exc: ToolError) -> str:
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        parts = []
        for err in cause.errors():
            where = ".".join(str(p) for p in err["loc"]) or "arguments"
            parts.append(f"{where}: {err['msg']}")
        return f"invalid_input: {'; '.join(parts)}"
    text = str(exc).removeprefix(f"Error executing tool {name}: ")
    return " ".join(text.split())


def build_mcp(
    memory: AsyncMemory, local: Principal | None = None, local_user: str = LOCAL_USER
) -> MCPServer:
    """The MCP server over ``memory``. ``local`` is the principal of stdio sessions (whose
    calls without a user act on ``local_user``); without it, every call must come over HTTP
    with an authenticated request."""
    server = EngramMCP("engramdb", instructions=INSTRUCTIONS)
    if local is None:
        who = (
            "whose memories: a user id of your API key's tenant; omit it when the key is bound"
            " to one user"
        )
    elif local.user_id is not None:
        who = f"omit it: this session is bound to the user {local.user_id!r}"
    else:
        who = f"whose memories; omit it for the local user ({local_user!r})"

    def caller(ctx: Context) -> Principal:
        request = ctx.request_context.request
        if isinstance(request, HTTPConnection):
            return principal_of(request)
        if local is None:
            raise ToolError("unauthorized: no API key on this request")
        return local

    def user(ctx: Context, user_id: str | None) -> str | None:
        request = ctx.request_context.request
        if user_id is None and local is not None and not isinstance(request, HTTPConnection):
            return local.user_id or local_user
        return user_id

    async def guarded(ctx: Context, op: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await op(memory, caller(ctx), *args, **kwargs)
        except ApiError as exc:
            raise ToolError(f"{exc.code}: {exc.message}") from exc
        except EngramError as exc:
            raise ToolError(f"{exc.code}: {exc}") from exc

    @server.tool(
        name="add",
        structured_output=False,
        description="Remember what the user said: one text, or a list of messages of a"
        " conversation. Use it for what will matter in a later conversation (facts about"
        " them, preferences, plans, events); facts are extracted and kept up to date."
        " Adding the same message again changes nothing. Answers the stored messages.",
    )
    async def add(
        ctx: Context,
        messages: Annotated[
            str | list[dict[str, Any]],
            Field(description="a text, or [{'content', 'role'?, 'speaker'?, 'timestamp'?}]"),
        ],
        user_id: Annotated[str | None, Field(description=who)] = None,
        session_id: Annotated[str | None, Field(description="the conversation's id")] = None,
        timestamp: Annotated[str | None, Field(description="ISO 8601; default now")] = None,
        metadata: dict[str, Any] | None = None,
        detail: Annotated[bool, Field(description=DETAIL)] = False,
    ) -> str:
        results = await guarded(
            ctx,
            service.add,
            messages,
            user_id=user(ctx, user_id),
            session_id=session_id,
            timestamp=timestamp,
            metadata=metadata,
        )
        return views.memories(results, detail)

    @server.tool(
        name="search",
        structured_output=False,
        description="Find the user's memories most relevant to a question, best first: what"
        " they said, and facts extracted from it (a fact's status says whether it is current"
        " or ended). Use it before answering anything that may depend on an earlier"
        " conversation. Each hit: id, text, date, status, source, score.",
    )
    async def search(
        ctx: Context,
        query: Annotated[str, Field(description="a question or keywords")],
        user_id: Annotated[str | None, Field(description=who)] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="how many hits")] = 10,
        as_of: Annotated[
            str | None, Field(description="ISO 8601: the facts that were true then")
        ] = None,
        detail: Annotated[bool, Field(description=DETAIL)] = False,
    ) -> str:
        results = await guarded(
            ctx, service.search, query, user_id=user(ctx, user_id), limit=limit, as_of=as_of
        )
        return views.memories(results, detail)

    @server.tool(
        name="list",
        structured_output=False,
        description="Page through all of the user's memories, newest first (not ranked: to"
        " find something, use search). Answers one page and `next`, the cursor of the next.",
    )
    async def list_memories(
        ctx: Context,
        user_id: Annotated[str | None, Field(description=who)] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="memories per page")] = 20,
        cursor: Annotated[str | None, Field(description="`next` of the previous page")] = None,
        detail: Annotated[bool, Field(description=DETAIL)] = False,
    ) -> str:
        results, following = await guarded(
            ctx, service.list_page, user_id=user(ctx, user_id), limit=limit, cursor=cursor
        )
        return views.memories(results, detail, next=following)

    @server.tool(
        name="get",
        structured_output=False,
        description="Every field of one memory (full id, times, sources, version, metadata,"
        " importance, uses): when the compact answer of another tool is not enough.",
    )
    async def get(
        ctx: Context,
        memory_id: Annotated[str, Field(description=MEMORY_ID)],
        user_id: Annotated[str | None, Field(description=who)] = None,
    ) -> str:
        return views.dumps(await guarded(ctx, service.get, memory_id, user(ctx, user_id)))

    @server.tool(
        name="delete",
        structured_output=False,
        description="Delete one memory, when the user asks you to forget it or it is wrong"
        " (its history keeps a record of the deletion, not its text).",
    )
    async def delete(
        ctx: Context,
        memory_id: Annotated[str, Field(description=MEMORY_ID)],
        user_id: Annotated[str | None, Field(description=who)] = None,
    ) -> str:
        deleted = await guarded(ctx, service.delete, memory_id, user(ctx, user_id))
        return views.dumps({"id": deleted, "deleted": True})

    @server.tool(
        name="feedback",
        structured_output=False,
        description="Tell memory that one of its memories is wrong (a false claim, something"
        " planted by a web page, email or tool): it is quarantined — kept, but never shown"
        " again — and a lesson is kept, so the same claim is flagged if it comes back.",
    )
    async def feedback(
        ctx: Context,
        memory_id: Annotated[str, Field(description=MEMORY_ID)],
        reason: Annotated[str | None, Field(description="why it is wrong")] = None,
        user_id: Annotated[str | None, Field(description=who)] = None,
    ) -> str:
        item = await guarded(
            ctx, service.feedback, memory_id, "wrong", user_id=user(ctx, user_id), reason=reason
        )
        return views.dumps(views.brief(item) | {"quarantined": True})

    @server.tool(
        name="profile",
        structured_output=False,
        description="The key facts about the user that are true now (pinned first), in"
        " brief: call it at the start of a conversation to personalise your answers.",
    )
    async def profile(
        ctx: Context,
        user_id: Annotated[str | None, Field(description=who)] = None,
        detail: Annotated[bool, Field(description=DETAIL)] = False,
    ) -> str:
        result: dict[str, Any] = await guarded(ctx, service.profile, user(ctx, user_id))
        if detail:
            return views.dumps(result)
        facts = [
            {k: v for k, v in views.brief(f).items() if k in ("id", "text", "date", "pinned")}
            for f in result["facts"]
        ]
        return views.dumps({"user_id": result["user_id"], "facts": facts})

    @server.tool(
        name="history",
        structured_output=False,
        description="Every version of one memory: what changed, when, by whom and why. Use"
        " it to explain how a fact came to be, or what it said before.",
    )
    async def history(
        ctx: Context,
        memory_id: Annotated[str, Field(description=MEMORY_ID)],
        user_id: Annotated[str | None, Field(description=who)] = None,
    ) -> str:
        entries = await guarded(ctx, service.history, memory_id, user(ctx, user_id))
        dumped = [views.history_entry(e.model_dump(mode="json")) for e in entries]
        return views.dumps({"results": dumped})

    @server.tool(
        name="sources",
        structured_output=False,
        description="The messages a fact was extracted from: to check or quote where it came"
        " from (empty for a message itself).",
    )
    async def sources(
        ctx: Context,
        memory_id: Annotated[str, Field(description=MEMORY_ID)],
        user_id: Annotated[str | None, Field(description=who)] = None,
        detail: Annotated[bool, Field(description=DETAIL)] = False,
    ) -> str:
        found = await guarded(ctx, knowledge.sources, memory_id, user(ctx, user_id))
        return views.memories(found, detail)

    return server


async def run_stdio(memory: AsyncMemory, local: Principal, local_user: str = LOCAL_USER) -> None:
    """Serve MCP on stdin/stdout until the client closes the stream; then close the store."""
    try:
        await build_mcp(memory, local, local_user).run_stdio_async()
    finally:
        await memory.close()

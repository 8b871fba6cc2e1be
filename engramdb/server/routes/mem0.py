"""The paths mem0's ``MemoryClient`` (mem0ai 2.2.1) calls, so that
``MemoryClient(api_key=KEY, host="http://…")`` works unchanged against the service.

Every route runs a method of ``engramdb.compat.mem0`` (the Python drop-in) through a
``ScopedMemory`` of the caller: the shapes, the filter language and the scope rules are that
layer's, written once; the tenant's walls are the service's (``Principal.scope``/``external``).
mem0's paths end with '/', engramdb's own never do, so the two APIs share /v1 without a clash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from engramdb.compat.mem0.memory import _UNSET
from engramdb.compat.mem0.memory import Memory as Mem0Memory
from engramdb.compat.mem0.scoped import ScopedMemory
from engramdb.compat.mem0.shapes import IDS, ValidationError, entity_of
from engramdb.errors import EngramError, NotFoundError
from engramdb.server.auth import Principal
from engramdb.server.errors import ApiError
from engramdb.server.routes.common import ERRORS, Caller
from engramdb.server.schemas import MAX_CONTENT, MAX_MESSAGES, Metadata, ShortText

router = APIRouter(tags=["mem0"], responses=ERRORS)
T = TypeVar("T")
MemoryId = Annotated[str, Path(min_length=1, max_length=128, description="a memory id")]
IdParam = Annotated[str | None, Query(min_length=1, max_length=256)]
EVERYTHING = 1_000_000_000  # get_all's top_k when the route pages itself


class Mem0Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ShortText
    content: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT)]
    name: ShortText | None = None


class Mem0Add(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: (
        Annotated[str, Field(min_length=1, max_length=MAX_CONTENT)]
        | Mem0Message
        | Annotated[list[Mem0Message], Field(min_length=1, max_length=MAX_MESSAGES)]
    )
    user_id: ShortText | None = None
    agent_id: ShortText | None = None
    run_id: ShortText | None = None
    filters: Metadata | None = Field(None, description="the ids, as mem0's v3 API takes them")
    metadata: Metadata | None = None
    infer: bool = True
    expiration_date: Annotated[str, Field(max_length=32)] | None = None


class Mem0List(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filters: Metadata = Field(description="user_id, agent_id or run_id, and metadata conditions")
    show_expired: bool = False


class Mem0Search(Mem0List):
    query: Annotated[str, Field(min_length=1, max_length=4_000)]
    top_k: Annotated[int, Field(ge=0, le=1_000)] = 10
    threshold: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    rerank: bool = False  # accepted and ignored: engramdb's fusion is its ranking
    explain: bool = False


class Mem0Update(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT)] | None = None
    metadata: Metadata | None = None
    timestamp: int | float | str | None = None
    expiration_date: Annotated[str, Field(max_length=32)] | None = None


def _view(request: Request, caller: Principal) -> ScopedMemory:
    caller.tenant_key()
    base: Mem0Memory = request.app.state.mem0
    return ScopedMemory(base, inside=caller.scope, outside=caller.external)


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a compat method in a worker thread; its ValueError (mem0's way of saying "bad
    input"), ValidationError and NotImplementedError become a 422 with its message."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except EngramError:
        raise  # the service's own mapping (422, 404, 503)
    except (ValueError, ValidationError, NotImplementedError) as exc:
        raise ApiError(422, "invalid_input", str(exc) or type(exc).__name__) from exc


def _hoisted(filters: dict[str, Any]) -> dict[str, Any]:
    """mem0's platform filters may name the ids inside a top-level AND
    (``{"AND": [{"user_id": "u"}, …]}``): lift them to where the compat layer reads them."""
    out = dict(filters)
    terms = out.get("AND")
    if isinstance(terms, list):
        rest = []
        for term in terms:
            if isinstance(term, dict) and len(term) == 1 and next(iter(term)) in IDS:
                key, value = next(iter(term.items()))
                if key not in out or out[key] == value:
                    out[key] = value
                    continue
            rest.append(term)
        if rest:
            out["AND"] = rest
        else:
            del out["AND"]
    return out


async def _existing(view: ScopedMemory, memory_id: str) -> dict[str, Any]:
    found = await _run(view.get, memory_id)
    if found is None:
        raise NotFoundError(f"no memory with id {memory_id!r}")
    return found


@router.get("/v1/ping/", summary="mem0: check the API key")
async def ping(caller: Caller) -> dict[str, Any]:
    caller.tenant_key()
    # MemoryClient refuses a key whose ping lacks org_id and project_id (its Project helper
    # needs both): the tenant and the key stand for them; user_email it only keeps
    return {
        "status": "ok",
        "org_id": caller.tenant,
        "project_id": caller.key_id,
        "tenant": caller.tenant,
        "user_id": caller.user_id,
        "rights": caller.rights,
        "user_email": None,
    }


@router.post("/v3/memories/add/", summary="mem0: remember messages")
async def add(body: Mem0Add, request: Request, caller: Caller) -> dict[str, Any]:
    caller.require_write()
    given = dict(body.filters or {})
    ids: dict[str, Any] = {}
    for key in IDS:
        top, inner = getattr(body, key), given.pop(key, None)
        if top is not None and inner is not None and top != inner:
            raise ApiError(422, "invalid_input", f"{key} differs between the body and filters")
        ids[key] = top if top is not None else inner
    if not any(ids.values()) and caller.user_id is not None:
        ids["user_id"] = caller.user_id  # a key bound to a user names its scope itself
    if given:
        raise ApiError(422, "invalid_input", f"add takes only ids in filters, not {sorted(given)}")
    messages: Any = body.messages
    if isinstance(messages, Mem0Message):
        messages = [messages]
    if isinstance(messages, list):
        messages = [m.model_dump(exclude_none=True) for m in messages]
    view = _view(request, caller)
    return await _run(
        view.add,
        messages,
        **ids,
        metadata=body.metadata,
        infer=body.infer,
        expiration_date=body.expiration_date,
    )


@router.post("/v3/memories/", summary="mem0: list memories (filters, pages)")
async def get_all(
    body: Mem0List,
    request: Request,
    caller: Caller,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> dict[str, Any]:
    view = _view(request, caller)
    found = await _run(
        view.get_all,
        filters=_hoisted(body.filters),
        top_k=EVERYTHING,
        show_expired=body.show_expired,
    )
    every = found["results"]
    start = (page - 1) * page_size
    more = start + page_size < len(every)

    def link(number: int) -> str:
        return str(request.url.include_query_params(page=number, page_size=page_size))

    return {
        "count": len(every),
        "next": link(page + 1) if more else None,
        "previous": link(page - 1) if page > 1 and every else None,
        "results": every[start : start + page_size],
    }


@router.post("/v3/memories/search/", summary="mem0: search memories")
async def search(body: Mem0Search, request: Request, caller: Caller) -> dict[str, Any]:
    view = _view(request, caller)
    return await _run(
        view.search,
        body.query,
        top_k=body.top_k,
        filters=_hoisted(body.filters),
        threshold=body.threshold,
        explain=body.explain,
        show_expired=body.show_expired,
    )


@router.get("/v1/memories/{memory_id}/", summary="mem0: one memory")
async def get(memory_id: MemoryId, request: Request, caller: Caller) -> dict[str, Any]:
    return await _existing(_view(request, caller), memory_id)


@router.put("/v1/memories/{memory_id}/", summary="mem0: change a memory's text or expiry")
async def update(
    memory_id: MemoryId, body: Mem0Update, request: Request, caller: Caller
) -> dict[str, Any]:
    caller.require_write()
    if body.timestamp is not None:
        raise ApiError(422, "invalid_input", "timestamp is not supported by engramdb")
    view = _view(request, caller)
    await _existing(view, memory_id)
    # an explicit null expiration_date clears the expiry; an absent one leaves it
    expiry = body.expiration_date if "expiration_date" in body.model_fields_set else _UNSET
    changed = await _run(view.update, memory_id, body.text, body.metadata, expiry)
    return {**changed, "id": memory_id}


@router.delete("/v1/memories/{memory_id}/", summary="mem0: delete one memory")
async def delete(
    memory_id: MemoryId, request: Request, caller: Caller, delete_linked: bool = False
) -> dict[str, Any]:
    caller.require_write()
    if delete_linked:
        raise ApiError(422, "invalid_input", "delete_linked is a mem0 Platform feature")
    view = _view(request, caller)
    await _existing(view, memory_id)
    return await _run(view.delete, memory_id)


@router.delete("/v1/memories/", summary="mem0: delete the memories of a user, agent or run")
async def delete_all(
    request: Request,
    caller: Caller,
    user_id: IdParam = None,
    agent_id: IdParam = None,
    run_id: IdParam = None,
) -> dict[str, Any]:
    caller.require_write()
    return await _run(_view(request, caller).delete_all, user_id, agent_id, run_id)


@router.get("/v1/memories/{memory_id}/history/", summary="mem0: every version of a memory")
async def history(memory_id: MemoryId, request: Request, caller: Caller) -> list[dict[str, Any]]:
    rows = await _run(_view(request, caller).history, memory_id)
    if not rows:
        raise NotFoundError(f"no memory with id {memory_id!r}")
    return rows


@router.get("/v1/entities/", summary="mem0: the users, agents and runs with memories")
async def entities(request: Request, caller: Caller) -> dict[str, Any]:
    caller.tenant_key()
    base: Mem0Memory = request.app.state.mem0
    engram = base.engram

    def listing() -> list[dict[str, Any]]:
        out = []
        for internal in engram.users():
            scope = caller.external(internal)
            if scope is None:
                continue
            kind, name = entity_of(scope)
            count = engram.count(user_id=internal)
            if count:
                out.append({"id": name, "name": name, "type": kind, "total_memories": count})
        return sorted(out, key=lambda e: (e["type"], e["name"]))

    results = await run_in_threadpool(listing)
    return {"count": len(results), "results": results}

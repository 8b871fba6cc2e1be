"""Admin-only key management (/v1/keys) and the unauthenticated probes (/healthz, /readyz)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from engramdb.errors import EngramError
from engramdb.server.keys import ApiKey, issue_key
from engramdb.server.routes.common import ERRORS, Caller, KeysDep
from engramdb.server.schemas import Health, IssuedKeyOut, KeyList, KeyOut, KeyRequest, Ready
from engramdb.server.tenancy import TENANT_PATTERN, check_user

keys_router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=ERRORS)
probes_router = APIRouter(tags=["operations"])


def _out(record: ApiKey) -> KeyOut:
    return KeyOut(
        key_id=record.key_id,
        tenant=record.tenant,
        user_id=record.user_id,
        rights=record.rights,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )


@keys_router.post("", status_code=201, response_model=IssuedKeyOut, summary="Create an API key")
async def create_key(body: KeyRequest, keys: KeysDep, caller: Caller) -> IssuedKeyOut:
    caller.require_admin()
    if body.user_id is not None:
        check_user(body.user_id, body.tenant)
    issued = await run_in_threadpool(issue_key, keys, body.tenant, body.user_id, body.rights)
    return IssuedKeyOut(**_out(issued.record).model_dump(), key=issued.key)


@keys_router.get("", response_model=KeyList, summary="List API keys (never their secrets)")
async def list_keys(
    keys: KeysDep,
    caller: Caller,
    tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None,
) -> KeyList:
    caller.require_admin()
    records = await run_in_threadpool(keys.list, tenant)
    return KeyList(results=[_out(r) for r in records])


@keys_router.delete("/{key_id}", response_model=KeyOut, summary="Revoke an API key")
async def revoke_key(
    key_id: Annotated[str, Path(min_length=1, max_length=64)], keys: KeysDep, caller: Caller
) -> KeyOut:
    caller.require_admin()
    return _out(await run_in_threadpool(keys.revoke, key_id))


@probes_router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@probes_router.get(
    "/readyz", response_model=Ready, summary="Readiness", responses={503: {"model": Health}}
)
async def readyz(request: Request) -> JSONResponse:
    if not getattr(request.app.state, "ready", False):
        return JSONResponse({"status": "starting or stopping"}, status_code=503)
    try:
        await run_in_threadpool(request.app.state.keys.ping)
        queue = await request.app.state.memory.pending()
    except EngramError as exc:
        return JSONResponse({"status": f"store unavailable: {exc}"}, status_code=503)
    return JSONResponse({"status": "ready", "queue": queue})

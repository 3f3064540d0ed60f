"""The admin API (`is_admin` users only): accounts, sessions, audit log, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from tessera.core.audit import AuditTrail
from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.core.identity import admin_service, api_keys
from tessera.core.identity.admin_schemas import (
    AdminUserOut,
    AdminUserUpdate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditOut,
)
from tessera.core.identity.deps import AdminUser
from tessera.core.identity.schemas import CountOut
from tessera.core.identity.state import IdentityDep
from tessera.core.kit.pagination import Page, PageDep
from tessera.core.kit.time import UtcDateTime

router = APIRouter(prefix="/admin", tags=["admin"], responses=error_responses(401, 403))


@router.get("/users", response_model=Page[AdminUserOut])
async def list_users(
    admin: AdminUser,
    session: DbSession,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=320, description="part of e-mail or name")] = None,
) -> Page[AdminUserOut]:
    users, total = await admin_service.list_users(
        session, search=q, limit=page.limit, offset=page.offset
    )
    return page.of([AdminUserOut.model_validate(u) for u in users], total)


@router.get("/users/{user_id}", response_model=AdminUserOut, responses=error_responses(404))
async def get_user(user_id: str, admin: AdminUser, session: DbSession) -> AdminUserOut:
    return AdminUserOut.model_validate(await admin_service.get_user(session, user_id))


@router.patch(
    "/users/{user_id}", response_model=AdminUserOut, responses=error_responses(400, 404, 422)
)
async def update_user(
    user_id: str,
    body: AdminUserUpdate,
    admin: AdminUser,
    session: DbSession,
    identity: IdentityDep,
) -> AdminUserOut:
    """Change `is_active`, `is_admin` or `full_name`. Deactivation ends every session."""
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k == "full_name"}
    user = await admin_service.update_user(session, identity, admin, user_id, changes)
    return AdminUserOut.model_validate(user)


@router.delete("/users/{user_id}/sessions", response_model=CountOut, responses=error_responses(404))
async def end_user_sessions(
    user_id: str, admin: AdminUser, session: DbSession, identity: IdentityDep
) -> CountOut:
    """End every session of the user; their tokens fail from the next request on."""
    ended = await admin_service.end_user_sessions(session, identity, admin, user_id)
    return CountOut(message="Sessions ended", sessions_ended=ended)


@router.get("/audit-logs", response_model=Page[AuditOut])
async def audit_logs(
    admin: AdminUser,
    session: DbSession,
    page: PageDep,
    user_id: str | None = None,
    action: Annotated[
        str | None, Query(max_length=100, description="exact, or a prefix ending in *")
    ] = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
) -> Page[AuditOut]:
    """Newest first. Filters: the account concerned (or acting), action, time range."""
    rows, total = await AuditTrail(session).search(
        user_id=user_id,
        action=action,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    return page.of([AuditOut.model_validate(r) for r in rows], total)


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(422),
)
async def create_api_key(body: ApiKeyCreate, admin: AdminUser, session: DbSession) -> ApiKeyCreated:
    """Create a service principal. The key is in this response only."""
    key, plaintext = await api_keys.create_api_key(
        session, name=body.name, role=body.role, created_by=f"user:{admin.id}"
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=plaintext)


@router.get("/api-keys", response_model=Page[ApiKeyOut])
async def list_api_keys(
    admin: AdminUser,
    session: DbSession,
    page: PageDep,
    include_revoked: bool = False,
) -> Page[ApiKeyOut]:
    keys, total = await api_keys.list_api_keys(
        session, include_revoked=include_revoked, limit=page.limit, offset=page.offset
    )
    return page.of([ApiKeyOut.model_validate(k) for k in keys], total)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, responses=error_responses(404))
async def revoke_api_key(
    key_id: str, admin: AdminUser, session: DbSession, identity: IdentityDep
) -> ApiKeyOut:
    """Revoke a key: it fails from the next request on, on every replica."""
    key = await api_keys.revoke_api_key(
        session, identity.api_keys, key_id, revoked_by=f"user:{admin.id}"
    )
    return ApiKeyOut.model_validate(key)

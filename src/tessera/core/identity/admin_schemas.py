"""Bodies of the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tessera.core.identity.schemas import FullName, UserOut


class AdminUserOut(UserOut):
    email_verified: bool
    updated_at: datetime


class AdminUserUpdate(BaseModel):
    is_active: bool | None = None
    is_admin: bool | None = None
    full_name: FullName | None = None


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    log_index: int | None = Field(
        description="The row's place in the Merkle log; null until the sequencer reaches it"
        " (within the maximum merge delay)"
    )
    created_at: datetime
    actor_type: str
    actor_id: str | None
    user_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip_address: str | None
    user_agent: str | None
    request_id: str | None


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(
        min_length=2,
        max_length=32,
        pattern=r"^[a-z][a-z0-9_-]{1,31}$",
        description="kiosk, validator, staff, or another role a module checks for",
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown once: store it now.")

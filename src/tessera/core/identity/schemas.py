"""Request and response bodies of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from tessera.core.identity.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    password_problem,
)


def _acceptable(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    return password


# Length is checked by the field before the common-password list and long before any hashing.
NewPassword = Annotated[
    str,
    Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH),
    AfterValidator(_acceptable),
]
AnyPassword = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
FullName = Annotated[str, Field(min_length=1, max_length=200)]


class RegisterIn(BaseModel):
    email: EmailStr = Field(max_length=320)
    password: NewPassword
    full_name: FullName | None = None


class LoginIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: AnyPassword


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    full_name: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime


class MeOut(UserOut):
    """The account as `/auth/me` shows it: the core fields and those the enabled modules add
    through their `profile` hooks (e.g. `role`, `trust_score`, `isParent`)."""

    model_config = ConfigDict(from_attributes=True, extra="allow")


class MeUpdate(BaseModel):
    full_name: FullName | None = None


class PasswordChangeIn(BaseModel):
    current_password: AnyPassword
    new_password: NewPassword


class ResetRequestIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)


class ResetConfirmIn(BaseModel):
    token: str = Field(min_length=1, max_length=256)
    new_password: NewPassword


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool


class Message(BaseModel):
    message: str


class CountOut(BaseModel):
    message: str
    sessions_ended: int

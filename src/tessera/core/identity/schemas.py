"""Request and response bodies of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

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


class MeOut(BaseModel):
    """`/auth/me`: the core fields and whatever the enabled modules add (profile hook)."""

    model_config = ConfigDict(extra="allow")

    id: str
    email: str
    full_name: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime
    email_verified: bool
    two_fa_enabled: bool
    two_fa_method: str | None


class LoginOut(BaseModel):
    """The token pair (Bearer clients) and the account (`user`, for browser clients that
    keep the session in cookies)."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    user: MeOut
    requires_2fa: Literal[False] = False
    two_fa_method: str | None = None


class TwoFactorChallenge(BaseModel):
    """The password was right and the account has two-factor on: no tokens yet. Finish with
    `POST /auth/2fa/verify {two_fa_token, code}`."""

    requires_2fa: Literal[True] = True
    two_fa_token: str
    two_fa_method: str
    message: str = "Enter the code from your authenticator app"


class RegisterOut(MeOut):
    """The new account (seed 004's fields, and seed 001's through the profile hook) and
    `user`; a browser's registration also signs in (cookies and the token pair)."""

    user: dict[str, Any]
    access_token: str | None = None
    refresh_token: str | None = None
    token_type: Literal["bearer"] | None = None
    expires_in: int | None = None


class LogoutOut(BaseModel):
    message: str
    success: bool = True


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


TwoFactorCode = Annotated[str, Field(min_length=6, max_length=32)]


class VerifyEmailIn(BaseModel):
    token: str = Field(min_length=1, max_length=256)


class EmailIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)


class VerifiedOut(BaseModel):
    message: str
    email_verified: bool


class TwoFactorSetupOut(BaseModel):
    message: str
    secret: str = Field(description="Base32, for typing into an authenticator by hand")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as an SVG QR code")
    qr_code: str = Field(description="The same SVG as a data: URI, for an <img src>")


class TwoFactorCodeIn(BaseModel):
    code: TwoFactorCode


class TwoFactorEnabledOut(BaseModel):
    message: str
    two_fa_enabled: bool
    backup_codes: list[str] = Field(description="Shown once: each works once instead of a code")


class TwoFactorDisableIn(BaseModel):
    password: AnyPassword
    code: TwoFactorCode


class TwoFactorStatusOut(BaseModel):
    message: str
    two_fa_enabled: bool


class TwoFactorVerifyIn(BaseModel):
    two_fa_token: str = Field(min_length=1, max_length=4096)
    code: TwoFactorCode

"""Identity tables. Secrets are stored only as SHA-256 hashes (passwords as argon2id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db.base import Base, TimestampMixin, UUIDPrimaryKey, utcnow


class User(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored trimmed, lower-case
    hashed_password: Mapped[str | None] = mapped_column(String(255))  # None: OIDC-only account
    full_name: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # TOTP (RFC 6238): the shared secret, encrypted with a key derived from SECRET_KEY; set
    # at set-up, live once `totp_enabled`. `totp_last_step` refuses a code used once already.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class AuthSession(UUIDPrimaryKey, TimestampMixin, Base):
    """One signed-in device: the `sid` of its access tokens and the family of its refresh
    tokens. Revoking the row ends both on the next request."""

    __tablename__ = "sessions"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The jti of the newest access token: a refresh makes the previous access token stale.
    access_jti: Mapped[str] = mapped_column(String(36))
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)  # absolute, never extended
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(50))
    auth_method: Mapped[str] = mapped_column(String(20), default="password")
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))


class RefreshToken(UUIDPrimaryKey, TimestampMixin, Base):
    """Every refresh token a session was ever given; a used one presented again is reuse."""

    __tablename__ = "refresh_tokens"

    session_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column()


class OAuthAccount(UUIDPrimaryKey, TimestampMixin, Base):
    """An external identity linked to a user, keyed by (issuer, subject)."""

    __tablename__ = "oauth_accounts"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(50))
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    last_login_at: Mapped[datetime | None] = mapped_column()


class ApiKey(UUIDPrimaryKey, TimestampMixin, Base):
    """A service principal (kiosk, validator, staff …). The key is shown once."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a key
    created_by: Mapped[str | None] = mapped_column(String(64))  # "user:<id>", "cli" …
    revoked_at: Mapped[datetime | None] = mapped_column()


class PasswordResetToken(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "password_reset_tokens"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class EmailVerificationToken(UUIDPrimaryKey, TimestampMixin, Base):
    """A mailed link proving the address; single use, the newest one only."""

    __tablename__ = "email_verification_tokens"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class BackupCode(UUIDPrimaryKey, TimestampMixin, Base):
    """One of the ten single-use two-factor backup codes, shown once and kept as a hash."""

    __tablename__ = "two_factor_backup_codes"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column()

"""All identity SQL. Never commits: the request or the job owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.identity.models import (
    ApiKey,
    AuthSession,
    BackupCode,
    EmailVerificationToken,
    OAuthAccount,
    PasswordResetToken,
    RefreshToken,
    User,
)


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _count(self, stmt: Select[Any]) -> int:
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        return int(total or 0)

    # Users ------------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def get_user_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def add_user(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def has_users(self) -> bool:
        return (await self.session.scalar(select(User.id).limit(1))) is not None

    async def list_users(
        self, *, search: str | None, limit: int, offset: int
    ) -> tuple[Sequence[User], int]:
        stmt = select(User)
        if search:
            needle = search.strip().lower()
            stmt = stmt.where(
                or_(
                    User.email.contains(needle, autoescape=True),
                    func.lower(User.full_name).contains(needle, autoescape=True),
                )
            )
        total = await self._count(stmt)
        rows = await self.session.scalars(
            stmt.order_by(User.created_at.desc(), User.id).limit(limit).offset(offset)
        )
        return rows.all(), total

    # Sessions ---------------------------------------------------------------------------------

    async def add_session(self, auth_session: AuthSession) -> AuthSession:
        self.session.add(auth_session)
        await self.session.flush()
        return auth_session

    async def get_session(self, session_id: str) -> AuthSession | None:
        return await self.session.get(AuthSession, session_id)

    async def session_with_user(self, session_id: str) -> tuple[User, str, datetime, bool] | None:
        """(user, access_jti, expires_at, revoked) of a session, in one query."""
        row = (
            await self.session.execute(
                select(
                    User,
                    AuthSession.access_jti,
                    AuthSession.expires_at,
                    AuthSession.revoked_at.is_not(None),
                )
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.id == session_id)
            )
        ).first()
        return None if row is None else (row[0], row[1], row[2], bool(row[3]))

    async def alive_sessions(self, user_id: str, now: datetime) -> Sequence[AuthSession]:
        rows = await self.session.scalars(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
            )
            .order_by(AuthSession.created_at.desc(), AuthSession.id)
        )
        return rows.all()

    async def revoke_sessions(
        self,
        *,
        user_id: str,
        now: datetime,
        reason: str,
        only: str | None = None,
        keep: str | None = None,
    ) -> list[str]:
        """End the user's live sessions (or just `only`, or all but `keep`); their ids."""
        conditions = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
        if only is not None:
            conditions.append(AuthSession.id == only)
        if keep is not None:
            conditions.append(AuthSession.id != keep)
        ids = list(await self.session.scalars(select(AuthSession.id).where(*conditions)))
        if ids:
            await self.session.execute(
                update(AuthSession)
                .where(AuthSession.id.in_(ids), AuthSession.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
                .execution_options(synchronize_session="fetch")
            )
        return ids

    async def rotate_session(self, session_id: str, *, access_jti: str, now: datetime) -> None:
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id)
            .values(access_jti=access_jti, last_used_at=now)
            .execution_options(synchronize_session="fetch")
        )

    async def purge_sessions(self, *, expired_before: datetime, revoked_before: datetime) -> int:
        result = await self.session.execute(
            delete(AuthSession).where(
                or_(
                    AuthSession.expires_at < expired_before,
                    AuthSession.revoked_at < revoked_before,
                )
            )
        )
        return _rowcount(result)

    # Refresh tokens ---------------------------------------------------------------------------

    async def add_refresh_token(self, session_id: str, token_hash: str) -> None:
        self.session.add(RefreshToken(session_id=session_id, token_hash=token_hash))
        await self.session.flush()

    async def claim_refresh_token(self, token_hash: str, now: datetime) -> bool:
        """Mark the token used if nobody has: exactly one of any number of racers wins (the
        others wait on the row lock and then see `used_at` set)."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def refresh_token_session(self, token_hash: str) -> AuthSession | None:
        return await self.session.scalar(
            select(AuthSession)
            .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
            .where(RefreshToken.token_hash == token_hash)
        )

    async def unused_refresh_token_session(self, token_hash: str) -> AuthSession | None:
        return await self.session.scalar(
            select(AuthSession)
            .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
        )

    # Password reset tokens --------------------------------------------------------------------

    async def add_reset_token(self, token: PasswordResetToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def retire_reset_tokens(self, user_id: str, now: datetime) -> None:
        await self.session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )

    async def claim_reset_token(self, token_hash: str, now: datetime) -> str | None:
        """Use a live reset token once; the user id, or None (unknown, used or expired)."""
        result = await self.session.execute(
            update(PasswordResetToken)
            .where(
                PasswordResetToken.token_hash == token_hash,
                PasswordResetToken.used_at.is_(None),
                PasswordResetToken.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return None
        return await self.session.scalar(
            select(PasswordResetToken.user_id).where(PasswordResetToken.token_hash == token_hash)
        )

    async def purge_reset_tokens(self, *, expired_before: datetime) -> int:
        result = await self.session.execute(
            delete(PasswordResetToken).where(PasswordResetToken.expires_at < expired_before)
        )
        return _rowcount(result)

    # E-mail verification tokens -------------------------------------------------------------

    async def add_verification_token(self, token: EmailVerificationToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def retire_verification_tokens(self, user_id: str, now: datetime) -> None:
        await self.session.execute(
            update(EmailVerificationToken)
            .where(
                EmailVerificationToken.user_id == user_id, EmailVerificationToken.used_at.is_(None)
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )

    async def claim_verification_token(self, token_hash: str, now: datetime) -> str | None:
        """Use a live verification token once; the user id, or None."""
        result = await self.session.execute(
            update(EmailVerificationToken)
            .where(
                EmailVerificationToken.token_hash == token_hash,
                EmailVerificationToken.used_at.is_(None),
                EmailVerificationToken.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return None
        return await self.session.scalar(
            select(EmailVerificationToken.user_id).where(
                EmailVerificationToken.token_hash == token_hash
            )
        )

    # Two-factor -------------------------------------------------------------------------------

    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as the newest code used, if it is newer than the last: a code is
        accepted once, even by racing requests."""
        result = await self.session.execute(
            update(User)
            .where(
                User.id == user_id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session="fetch")
        )
        return _rowcount(result) == 1

    async def replace_backup_codes(self, user_id: str, hashes: Sequence[str]) -> None:
        await self.session.execute(delete(BackupCode).where(BackupCode.user_id == user_id))
        self.session.add_all(BackupCode(user_id=user_id, code_hash=h) for h in hashes)
        await self.session.flush()

    async def claim_backup_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(BackupCode)
            .where(
                BackupCode.user_id == user_id,
                BackupCode.code_hash == code_hash,
                BackupCode.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def backup_codes_left(self, user_id: str) -> int:
        return await self._count(
            select(BackupCode.id).where(BackupCode.user_id == user_id, BackupCode.used_at.is_(None))
        )

    # Outside identities (OpenID Connect) ------------------------------------------------------

    async def get_oauth_account(self, issuer: str, subject: str) -> OAuthAccount | None:
        return await self.session.scalar(
            select(OAuthAccount).where(
                OAuthAccount.issuer == issuer, OAuthAccount.subject == subject
            )
        )

    async def add_oauth_account(self, account: OAuthAccount) -> OAuthAccount:
        self.session.add(account)
        await self.session.flush()
        return account

    # API keys ---------------------------------------------------------------------------------

    async def add_api_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def live_api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        return await self.session.scalar(
            select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def list_api_keys(
        self, *, include_revoked: bool, limit: int, offset: int
    ) -> tuple[Sequence[ApiKey], int]:
        stmt = select(ApiKey)
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        total = await self._count(stmt)
        rows = await self.session.scalars(
            stmt.order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(offset)
        )
        return rows.all(), total

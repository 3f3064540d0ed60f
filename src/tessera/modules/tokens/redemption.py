"""Redemption, online and offline, and revocation.

A ticket is checked in this order: structure, key (by the full token_key_id), strict RSASSA-PSS
signature (canonical, salt 48), key validity at the time of the spend, and finally the spend:
revoked keys are looked up, and every other key goes into one `INSERT … ON CONFLICT DO NOTHING
RETURNING` whose returned keys are the first spends. The insert is the whole double-spend
defence: it is atomic on both engines and across replicas. Online redemptions are written by a
group commit (`tessera.core.db.group_commit`): concurrent requests share one transaction, and
each answer waits for that commit.

Offline policy (POST /v1/sync_offline): a validator may accept a ticket while offline against
its last Bloom filter and must sync it within TESSERA_TOKENS_OFFLINE_SYNC_GRACE_HOURS of the
key's expiry. A claimed `redeemed_at` must not be in the future (5 minutes of skew allowed),
must fall inside the key's validity, and the earliest claimed spend is recorded as the
original. A ticket that was already spent is a conflict, kept in `tokens_double_spends` with
both validators and times for review.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core import audit
from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.errors import Unprocessable
from tessera.modules.tokens.actor import Actor
from tessera.modules.tokens.keyring import IssuerKey, KeyRing, KeySource
from tessera.modules.tokens.repository import Spend, TokensRepository
from tessera.modules.tokens.schemas import (
    ConflictOut,
    DoubleSpendOut,
    OfflineItemIn,
    RevokeIn,
    RevokeOut,
    SpendRecord,
    SyncErrorOut,
    SyncOfflineIn,
    SyncOfflineOut,
    SyncResultOut,
    b64decode_any,
)
from tessera.modules.tokens.state import TokensState
from tessera.protocols.tokens import crypto, formats

REDEMPTIONS = Counter(
    "tessera_tokens_redemptions_total", "Token redemptions by outcome", ["channel", "outcome"]
)
CLOCK_SKEW = timedelta(minutes=5)

Reason = Literal["spent", "invalid", "expired"]
SyncStatus = Literal["accepted", "duplicate", "invalid", "expired"]


@dataclass(frozen=True)
class Candidate:
    """A structurally valid ticket and the key it names; the signature is still unchecked."""

    token_input: bytes
    signature: bytes
    key: IssuerKey

    @property
    def spent_key(self) -> bytes:
        return formats.spent_key(self.token_input)


def split_token(token: bytes, signature: bytes | None) -> tuple[bytes, bytes] | None:
    """(token_input, authenticator) from a 98-byte token_input plus signature, or a Token."""
    if len(token) == formats.TOKEN_LEN:
        token_input, authenticator = (
            token[: formats.TOKEN_INPUT_LEN],
            token[formats.TOKEN_INPUT_LEN :],
        )
        if signature is not None and signature != authenticator:
            return None
        return token_input, authenticator
    if len(token) == formats.TOKEN_INPUT_LEN and signature is not None:
        return token, signature
    return None


def signature_ok(candidate: Candidate) -> bool:
    return crypto.is_valid(
        candidate.key.public_key, candidate.token_input, candidate.signature, formats.VARIANT
    )


async def find_candidate(
    source: KeySource, keyring: KeyRing, token: bytes, signature: bytes | None
) -> Candidate | None:
    parts = split_token(token, signature)
    if parts is None:
        return None
    token_input, authenticator = parts
    try:
        parsed = formats.TokenInput.decode(token_input)
    except formats.FormatError:
        return None
    key = await keyring.by_key_id(source, parsed.token_key_id)
    return None if key is None else Candidate(token_input, authenticator, key)


# --- online ------------------------------------------------------------------------------------


async def redeem_online(
    db: Database,
    tokens: TokensState,
    actor: Actor,
    token: bytes,
    signature: bytes | None,
    validator_id: str,
) -> Reason | None:
    """None when accepted, else the rejection reason.

    No request transaction: the key ring is in memory (it reloads through a short read of its
    own), and the spend is written by the module's group commit, shared with concurrent
    redemptions and committed before this returns.
    """
    now = utcnow()
    candidate = await find_candidate(db, tokens.keyring, token, signature)
    # Verification is ~40 µs with OpenSSL: cheaper inline than a thread hop.
    if candidate is None or not signature_ok(candidate) or now < candidate.key.not_before:
        return _counted("invalid")
    if candidate.key.is_expired(now):
        return _counted("expired")
    outcome = await tokens.spends.submit(
        Spend(
            spent_key=candidate.spent_key,
            key_id=candidate.key.key_id_hex,
            validator_id=validator_id,
            api_key_id=actor.api_key_id,
            channel="online",
            redeemed_at=now,
        )
    )
    return _counted(None if outcome == "first" else "invalid" if outcome == "revoked" else "spent")


def _counted(reason: Reason | None) -> Reason | None:
    REDEMPTIONS.labels(channel="online", outcome=reason or "accepted").inc()
    return reason


class RedemptionService:
    """Offline sync, double-spend review and revocation, inside the request's transaction."""

    def __init__(self, session: AsyncSession, tokens: TokensState) -> None:
        self.session = session
        self.tokens = tokens
        self.repo = TokensRepository(session)

    async def candidate(self, token: bytes, signature: bytes | None) -> Candidate | None:
        return await find_candidate(self.session, self.tokens.keyring, token, signature)

    # --- offline --------------------------------------------------------------------------------

    async def sync_offline(self, actor: Actor, body: SyncOfflineIn) -> SyncOfflineOut:
        now = utcnow()
        items = body.accepted_tokens
        candidates = [await self.candidate(item.token, item.signature) for item in items]
        valid = await asyncio.to_thread(
            lambda: [c is not None and signature_ok(c) for c in candidates]
        )
        statuses: list[SyncStatus | None] = [None] * len(items)
        conflicts: list[ConflictOut] = []
        errors: list[SyncErrorOut] = []

        # Spent keys in a fixed order: concurrent syncs sharing tokens lock rows in the same
        # order on PostgreSQL, so they queue instead of deadlocking.
        def lock_order(i: int) -> bytes:
            candidate = candidates[i]
            return candidate.spent_key if candidate is not None and valid[i] else b""

        order = sorted(range(len(items)), key=lock_order)
        for i in order:
            candidate = candidates[i] if valid[i] else None
            statuses[i] = await self._sync_item(
                actor, body.validator_id, items[i], candidate, now, conflicts, errors
            )
        results = [
            SyncResultOut(local_id=item.local_id, status=status)
            for item, status in zip(items, statuses, strict=True)
            if status is not None
        ]
        accepted = sum(1 for r in results if r.status == "accepted")
        for status_name in ("accepted", "duplicate", "invalid", "expired"):
            count = sum(1 for r in results if r.status == status_name)
            if count:
                REDEMPTIONS.labels(channel="offline", outcome=status_name).inc(count)
        if conflicts or accepted:
            await audit.record(
                self.session,
                "token.offline_synced",
                **actor.audit_fields(),
                target_type="validator",
                target_id=body.validator_id[:255],
                details={"items": len(items), "accepted": accepted, "conflicts": len(conflicts)},
            )
        return SyncOfflineOut(
            synced=len(results), conflicts=conflicts, errors=errors, results=results
        )

    async def _sync_item(
        self,
        actor: Actor,
        validator_id: str,
        item: OfflineItemIn,
        candidate: Candidate | None,
        now: datetime,
        conflicts: list[ConflictOut],
        errors: list[SyncErrorOut],
    ) -> SyncStatus:
        api_key_id = actor.api_key_id or actor.owner
        spent_key = candidate.spent_key if candidate else None
        claim = await self.repo.claim_sync_item(api_key_id, validator_id, item.local_id, spent_key)
        if claim is None:  # this (validator, local_id) was synced before: replay its result
            stored = await self.repo.sync_item(api_key_id, validator_id, item.local_id)
            assert stored is not None
            if stored.spent_key != spent_key:
                errors.append(
                    SyncErrorOut(
                        local_id=item.local_id,
                        error="local_id was already synced with another token",
                    )
                )
            _replay(stored.detail, conflicts, errors)
            status: SyncStatus = stored.status  # type: ignore[assignment]
            return status

        status, detail = await self._settle(actor, validator_id, item, candidate, now)
        await self.repo.finish_sync_item(claim, status, detail)
        _replay(detail, conflicts, errors)
        return status

    async def _settle(
        self,
        actor: Actor,
        validator_id: str,
        item: OfflineItemIn,
        candidate: Candidate | None,
        now: datetime,
    ) -> tuple[SyncStatus, dict[str, Any]]:
        local_id = item.local_id

        def refused(status: SyncStatus, error: str) -> tuple[SyncStatus, dict[str, Any]]:
            return status, {"error": {"local_id": local_id, "error": error}}

        if candidate is None:
            return refused("invalid", "malformed token, unknown key or bad signature")
        key = candidate.key
        at = item.redeemed_at
        if at > now + CLOCK_SKEW:
            return refused("invalid", "redeemed_at is in the future")
        if at < key.not_before:
            return refused("invalid", "redeemed_at is before the key was valid")
        if key.is_expired(at):
            return refused("expired", "the key had expired when the token was accepted")
        if now > key.expires_at + self.tokens.config.offline_sync_grace:
            return refused("expired", "synced after the offline grace period of its key")

        spent_key = candidate.spent_key
        spend = Spend(
            spent_key=spent_key,
            key_id=key.key_id_hex,
            validator_id=validator_id,
            api_key_id=actor.api_key_id,
            channel="offline",
            redeemed_at=at,
        )
        (outcome,) = await self.repo.spend([spend], now)
        if outcome == "first":
            return "accepted", {}
        if outcome == "revoked":
            return refused("invalid", "the token was revoked")
        existing = await self.repo.spent(spent_key)
        assert existing is not None
        mine = SpendRecord(validator_id=validator_id, redeemed_at=at)
        theirs = SpendRecord(validator_id=existing.validator_id, redeemed_at=existing.redeemed_at)
        if at < existing.redeemed_at:  # the earliest claimed spend is the original
            await self.repo.claim_earlier_spend(spent_key, validator_id, actor.api_key_id, at)
            original, duplicate = mine, theirs
        else:
            original, duplicate = theirs, mine
        await self.repo.add_double_spend(
            spent_key=spent_key,
            key_id=key.key_id_hex,
            original_validator_id=original.validator_id,
            original_redeemed_at=original.redeemed_at,
            duplicate_validator_id=duplicate.validator_id,
            duplicate_redeemed_at=duplicate.redeemed_at,
            duplicate_channel="offline" if duplicate is mine else existing.channel,
            detected_at=now,
        )
        conflict = ConflictOut(
            local_id=local_id, token_hash=spent_key.hex(), original=original, duplicate=duplicate
        )
        return "duplicate", {"conflict": conflict.model_dump(mode="json")}

    # --- review and revocation ------------------------------------------------------------------

    async def double_spends(self, limit: int, offset: int) -> tuple[list[DoubleSpendOut], int]:
        rows, total = await self.repo.double_spends(limit, offset)
        items = [
            DoubleSpendOut(
                id=row.id,
                token_hash=row.spent_key.hex(),
                key_id=row.key_id,
                original=SpendRecord(
                    validator_id=row.original_validator_id, redeemed_at=row.original_redeemed_at
                ),
                duplicate=SpendRecord(
                    validator_id=row.duplicate_validator_id, redeemed_at=row.duplicate_redeemed_at
                ),
                duplicate_channel=row.duplicate_channel,
                detected_at=row.detected_at,
            )
            for row in rows
        ]
        return items, total

    async def revoke(self, actor: Actor, body: RevokeIn) -> RevokeOut:
        spent_key = _revocation_target(body)
        fresh = await self.repo.revoke(spent_key, body.reason, actor.owner)
        row = await self.repo.revocation(spent_key)
        assert row is not None
        await audit.record(
            self.session,
            "token.revoked",
            **actor.audit_fields(),
            target_type="token",
            target_id=spent_key.hex(),
            details={"reason": body.reason, "already_revoked": not fresh},
        )
        return RevokeOut(
            token_hash=spent_key.hex(),
            reason=row.reason,
            revoked_at=row.created_at,
            already_revoked=not fresh,
        )


def _revocation_target(body: RevokeIn) -> bytes:
    if body.token is not None:
        parts = split_token(body.token, None) if len(body.token) == formats.TOKEN_LEN else None
        token_input = parts[0] if parts else body.token
        try:
            return formats.spent_key(token_input)
        except formats.FormatError:
            raise Unprocessable(
                "token must be a token_input (98 bytes) or a Token (354 bytes)",
                code="invalid_token",
            ) from None
    assert body.token_hash is not None
    text = body.token_hash.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else b64decode_any(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise Unprocessable(
            "token_hash must be the 32-byte spent key in hex (or base64)", code="invalid_token_hash"
        )
    return raw


def _replay(
    detail: dict[str, Any], conflicts: list[ConflictOut], errors: list[SyncErrorOut]
) -> None:
    if "conflict" in detail:
        conflicts.append(ConflictOut.model_validate(detail["conflict"]))
    if "error" in detail:
        errors.append(SyncErrorOut.model_validate(detail["error"]))

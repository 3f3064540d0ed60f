"""Two-phase movements (TigerBeetle's pending transfers): hold, then capture or void.

`hold` reserves part of a wallet's spendable balance (`balance - reserved`) with the same
guarded single statement a withdrawal uses, so two holds (or a hold and a withdrawal) can
never both spend the same money. `capture` moves all or part of it to the hold's target as an
ordinary movement; `void` gives it back; a hold that reaches `expires_at` is released by the
`ledger.expire_holds` job and can no longer be captured.

A hold is resolved exactly once: capture, void and expiry each move it out of `pending` with
one conditional UPDATE, so of two captures racing for one hold exactly one moves money and
the other gets `HoldNotPending` (409). Lock order: the hold row, then wallets by id, then
system shards (the ledger's order, `service.py`, with holds first).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tessera.core.audit import record
from tessera.core.db.base import new_uuid, utcnow
from tessera.core.ledger.errors import (
    HoldNotFound,
    HoldNotPending,
    InsufficientFunds,
    InvalidAmount,
)
from tessera.core.ledger.models import LedgerHold, LedgerTransaction

if TYPE_CHECKING:
    from tessera.core.ledger.service import Ledger


class HoldBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.session = ledger.session
        self.repo = ledger.repo

    async def hold(
        self,
        *,
        account_id: str,
        target_account_id: str,
        amount: int,
        kind: str,
        expires_at: datetime,
        reference: str | None = None,
        description: str | None = None,
        created_by: str | None = None,
        actor_type: str | None = None,
    ) -> LedgerHold:
        if expires_at.tzinfo is None or expires_at <= utcnow():
            raise InvalidAmount("A hold must expire in the future", code="invalid_expiry")
        kind, wallet, target = await self.ledger.movement_parties(
            account_id, target_account_id, amount, kind
        )
        if wallet.allow_negative:
            raise InvalidAmount("Only a wallet's money can be held", code="hold_on_system")

        async def place() -> LedgerHold:
            if not await self.repo.reserve(wallet.id, amount):
                raise InsufficientFunds()
            hold = LedgerHold(
                id=new_uuid(),
                account_id=wallet.id,
                target_account_id=target.id,
                currency=wallet.currency,
                amount=amount,
                kind=kind,
                reference=reference,
                description=description,
                created_by=created_by,
                status="pending",
                captured=0,
                expires_at=expires_at,
                created_at=utcnow(),
            )
            await self.repo.add_hold(hold)
            await self._audit(
                "ledger.hold", hold, created_by, actor_type, {"expires_at": expires_at.isoformat()}
            )
            return hold

        return await self.ledger._in_savepoint(place, touched=(wallet,))

    async def capture(
        self,
        hold_id: str,
        amount: int | None = None,
        *,
        created_by: str | None = None,
        actor_type: str | None = None,
    ) -> LedgerTransaction:
        """Move `amount` (default: all) of the hold to its target; the rest is released."""
        hold = await self._pending(hold_id)
        taken = hold.amount if amount is None else amount
        if isinstance(taken, bool) or not isinstance(taken, int) or not 0 < taken <= hold.amount:
            raise InvalidAmount(f"A capture takes 1 to {hold.amount} minor units of this hold")
        wallet = await self.ledger.get_account(hold.account_id)
        target = await self.ledger.get_account(hold.target_account_id)

        async def capture() -> LedgerTransaction:
            now = utcnow()
            won = await self.repo.resolve_hold(
                hold.id, "captured", captured=taken, now=now, live_only=True
            )
            if won is None:
                raise HoldNotPending(await self._why_not(hold.id))
            await self.repo.unreserve(wallet.id, hold.amount)
            txn = await self.ledger._move(
                wallet,
                target,
                taken,
                kind=hold.kind,
                reference=hold.reference,
                metadata={"hold_id": hold.id},
                created_by=created_by or hold.created_by,
                description=hold.description,
                idempotency_key=None,
                actor_type=actor_type or ("user" if created_by else "system"),
            )
            await self.repo.link_hold(hold.id, txn.id)
            return txn

        return await self.ledger._in_savepoint(capture, touched=(wallet, target))

    async def void(
        self, hold_id: str, *, created_by: str | None = None, actor_type: str | None = None
    ) -> LedgerHold:
        hold = await self._pending(hold_id)
        wallet = await self.ledger.get_account(hold.account_id)

        async def void() -> LedgerHold:
            won = await self.repo.resolve_hold(
                hold.id, "voided", captured=0, now=utcnow(), live_only=False
            )
            if won is None:
                raise HoldNotPending(await self._why_not(hold.id))
            await self.repo.unreserve(wallet.id, won.amount)
            await self._audit("ledger.hold_voided", won, created_by, actor_type, {})
            return won

        return await self.ledger._in_savepoint(void, touched=(wallet,))

    async def expire(self, now: datetime, *, limit: int = 500) -> int:
        """Release pending holds past their expiry (the `ledger.expire_holds` job)."""
        released = 0
        for hold_id in await self.repo.expired_hold_ids(now, limit):
            won = await self.repo.resolve_hold(
                hold_id, "expired", captured=0, now=now, live_only=False
            )
            if won is None:
                continue
            await self.repo.unreserve(won.account_id, won.amount)
            await self._audit("ledger.hold_expired", won, None, "system", {})
            released += 1
        return released

    async def _pending(self, hold_id: str) -> LedgerHold:
        hold = await self.repo.get_hold(hold_id)
        if hold is None:
            raise HoldNotFound()
        return hold

    async def _why_not(self, hold_id: str) -> str:
        hold = await self.repo.get_hold(hold_id)
        if hold is not None and hold.status == "pending":
            return "The hold has expired"
        return f"The hold is already {hold.status if hold else 'gone'}"

    async def _audit(
        self,
        action: str,
        hold: LedgerHold,
        created_by: str | None,
        actor_type: str | None,
        extra: dict[str, Any],
    ) -> None:
        await record(
            self.session,
            action,
            actor_type=actor_type or ("user" if created_by else "system"),
            actor_id=created_by,
            user_id=(await self.ledger.get_account(hold.account_id)).user_id,
            target_type="ledger_hold",
            target_id=hold.id,
            details={
                "amount": hold.amount,
                "currency": hold.currency,
                "account_id": hold.account_id,
                "target_account_id": hold.target_account_id,
                "kind": hold.kind,
                "reference": hold.reference,
                **extra,
            },
        )

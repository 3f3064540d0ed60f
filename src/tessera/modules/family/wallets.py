"""Child wallets: EUR accounts of the core ledger, in integer cents. Rewards come from the
`family_rewards` system account; a conversion into real money goes to `family_payouts`. The
ledger's guarded update refuses any debit the balance cannot cover, so concurrent conversions
(and a conversion racing the reward job) can never overdraw a wallet."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.kit.money import parse_amount
from tessera.core.ledger import InsufficientFunds, Ledger
from tessera.modules.family.access import FamilyCaller, child_of_family, readable_child
from tessera.modules.family.config import CURRENCY
from tessera.modules.family.errors import FamilyWalletNotFound, InvalidAmount
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import TransactionOut, WalletOut, money

CONVERSION_KIND = "FAMILY_CONVERSION"
CONVERSION_REASON = "Conversion en euros réels"
PAYOUTS_ACCOUNT = "family_payouts"
HISTORY_LIMIT = 500


async def transactions(session: AsyncSession, child_id: str) -> tuple[int, list[TransactionOut]]:
    """(balance in cents, newest transactions first); a child never paid has (0, [])."""
    ledger = Ledger(session)
    wallet = await ledger.wallet_for(child_id, CURRENCY)
    if wallet is None:
        return 0, []
    items, _ = await ledger.history(wallet.id, limit=HISTORY_LIMIT)
    days = await FamilyRepository(session).reward_days_by_transaction(
        [item.transaction_id for item in items]
    )
    out = []
    for item in items:
        settled = days.get(item.transaction_id)
        out.append(
            TransactionOut(
                id=item.transaction_id,
                child_id=child_id,
                amount=money(item.amount),
                date=item.created_at,
                reason=item.description or "",
                contract_id=settled.contract_id if settled else None,
                reward_day=settled.day if settled else None,
            )
        )
    return await ledger.balance(wallet.id), out


async def wallet(session: AsyncSession, caller: FamilyCaller, child_id: str) -> WalletOut:
    await readable_child(FamilyRepository(session), caller, child_id)
    balance, items = await transactions(session, child_id)
    return WalletOut(child_id=child_id, balance=money(balance), transactions=items)


async def convert(
    session: AsyncSession,
    caller: FamilyCaller,
    child_id: str,
    amount: object,
    comment: str | None,
) -> WalletOut:
    caller.require_parent()
    child = await child_of_family(FamilyRepository(session), caller.family_id, child_id)
    try:
        cents = parse_amount(amount, CURRENCY)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidAmount() from None
    ledger = Ledger(session)
    if await ledger.wallet_for(child.user_id, CURRENCY) is None:
        raise FamilyWalletNotFound()
    try:
        txn = await ledger.charge_user(
            child.user_id,
            cents,
            CURRENCY,
            kind=CONVERSION_KIND,
            to_account=PAYOUTS_ACCOUNT,
            created_by=caller.id,
            description=comment or CONVERSION_REASON,
        )
    except InsufficientFunds:
        raise InvalidAmount() from None
    await record(
        session,
        "family.wallet_converted",
        actor_id=caller.id,
        target_type="ledger_transaction",
        target_id=txn.id,
        details={"child_id": child.user_id, "amount_cents": cents},
    )
    return await wallet(session, caller, child_id)

"""Seed 001's wallet face (`/api/v1/wallet`) and the admin adjustment. HTTP only: the rules
live in `wallet.py`, the money movement in `service.py`.

Money-moving POSTs take `Idempotency-Key` (declared after the authentication dependency, so
keys are scoped to the caller) and JSON numbers are parsed as exact decimals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.core.idempotency import Idempotency
from tessera.core.identity.deps import AdminUser, CurrentUser
from tessera.core.kit.money import ExactDecimalRoute
from tessera.core.kit.pagination import PageParams, page_params
from tessera.core.ledger.schemas import AdjustmentIn, LedgerEntryOut, WalletAmountIn, WalletOut
from tessera.core.ledger.wallet import WalletService
from tessera.core.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/wallet", tags=["wallet"], route_class=ExactDecimalRoute)
admin_router = APIRouter(prefix="/admin/wallets", tags=["admin"], route_class=ExactDecimalRoute)

MOVE_ERRORS = error_responses(400, 401, 404, 409, 422)
UserId = Annotated[str, Path(max_length=36)]
WalletPage = Annotated[PageParams, Depends(page_params(50))]  # the seed 001 client's page


@router.get("", response_model=WalletOut, responses=error_responses(401, 404))
async def get_wallet(user: CurrentUser, session: DbSession, runtime: RuntimeDep) -> WalletOut:
    """The caller's USD wallet."""
    return WalletOut.of(await WalletService(session, runtime.settings).summary(user.id))


@router.post(
    "/deposit",
    response_model=LedgerEntryOut,
    responses=error_responses(400, 401, 403, 409, 422),
)
async def deposit(
    body: WalletAmountIn,
    user: CurrentUser,
    session: DbSession,
    idem: Idempotency,
    runtime: RuntimeDep,
) -> Response:
    """Credit the wallet directly (only when `WALLET_DIRECT_DEPOSITS` is on; 403 otherwise)."""
    movement = await WalletService(session, runtime.settings).deposit(
        user.id, body.amount_usd, body.description, idempotency_key=idem.key
    )
    return await idem.respond(LedgerEntryOut.of_movement(movement))


@router.post("/withdraw", response_model=LedgerEntryOut, responses=MOVE_ERRORS)
async def withdraw(
    body: WalletAmountIn,
    user: CurrentUser,
    session: DbSession,
    idem: Idempotency,
    runtime: RuntimeDep,
) -> Response:
    """Debit the wallet; 400 "Insufficient balance" if it holds less than the amount."""
    movement = await WalletService(session, runtime.settings).withdraw(
        user.id, body.amount_usd, body.description, idempotency_key=idem.key
    )
    return await idem.respond(LedgerEntryOut.of_movement(movement))


@router.get(
    "/transactions", response_model=list[LedgerEntryOut], responses=error_responses(401, 404)
)
async def transactions(
    user: CurrentUser,
    session: DbSession,
    runtime: RuntimeDep,
    response: Response,
    page: WalletPage,
) -> list[LedgerEntryOut]:
    """The wallet's ledger entries, newest first; the total count is in `X-Total-Count`."""
    items, total = await WalletService(session, runtime.settings).transactions(
        user.id, limit=page.limit, offset=page.offset
    )
    return page.bare([LedgerEntryOut.of_history(item) for item in items], total, response)


@admin_router.get("/{user_id}", response_model=WalletOut, responses=error_responses(401, 403, 404))
async def admin_get_wallet(
    user_id: UserId, admin: AdminUser, session: DbSession, runtime: RuntimeDep
) -> WalletOut:
    """Any user's USD wallet (admin)."""
    return WalletOut.of(await WalletService(session, runtime.settings).summary(user_id))


@admin_router.post(
    "/{user_id}/adjust",
    response_model=LedgerEntryOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def admin_adjust(
    user_id: UserId,
    body: AdjustmentIn,
    admin: AdminUser,
    session: DbSession,
    idem: Idempotency,
    runtime: RuntimeDep,
) -> Response:
    """ADJUSTMENT_ADMIN: credit (positive) or debit (negative) a user's wallet, with a reason."""
    movement = await WalletService(session, runtime.settings).adjust(
        user_id,
        body.amount_usd,
        body.description,
        admin_id=admin.id,
        idempotency_key=idem.key,
    )
    return await idem.respond(LedgerEntryOut.of_movement(movement))

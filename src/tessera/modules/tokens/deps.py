"""Request dependencies of the token endpoints: the module's runtime objects and the caller.

Who may call what (SPEC §6):

- kiosks (`ApiKey`, role `kiosk`) and signed-in users: verify_receipt, sign_blinded,
  token-request — users only for receipts they paid from their own wallet;
- validators (role `validator`): redeem, sync_offline, bloom (admins may read the filter too);
- staff (role `staff`) and admins: create_voucher;
- anyone holding a voucher code, kiosks and users: redeem_voucher and voucher_balance — the
  code is the credential, so a rider can spend a cash-bought voucher without an account;
- admins: revoke, double-spend review.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tessera.core.errors import Forbidden
from tessera.core.identity.deps import (
    ApiKeyIdentity,
    ApiKeyPrincipal,
    Caller,
    OptionalCaller,
    Principal,
)
from tessera.core.ratelimit import RateLimiterDep, client_ip
from tessera.modules.tokens.actor import Actor
from tessera.modules.tokens.state import TokensState

VOUCHER_RATE_LIMIT = "120/minute"  # per caller; anonymous callers are keyed by IP


# Dependencies here are `async def` on purpose: FastAPI runs plain `def` dependencies in the
# thread pool, a hop that costs more than the whole lookup.


async def get_tokens(request: Request) -> TokensState:
    tokens: TokensState = request.app.state.runtime.get(TokensState)
    return tokens


TokensDep = Annotated[TokensState, Depends(get_tokens)]


def actor_of(principal: Principal) -> Actor:
    return Actor(
        kind=principal.kind,
        id=principal.id,
        role=principal.role,
        is_admin=bool(principal.user is not None and principal.user.is_admin),
    )


_kiosk_or_user = Caller("kiosk", allow_users=True)
_validator_or_user = Caller("validator", allow_users=True)
_staff_or_user = Caller("staff", allow_users=True)


async def kiosk_actor(principal: Annotated[Principal, Depends(_kiosk_or_user)]) -> Actor:
    return actor_of(principal)


async def validator_actor(
    key: Annotated[ApiKeyIdentity, Depends(ApiKeyPrincipal("validator"))],
) -> Actor:
    return Actor(kind="api_key", id=key.id, role=key.role)


async def validator_or_admin(
    principal: Annotated[Principal, Depends(_validator_or_user)],
) -> Actor:
    actor = actor_of(principal)
    if actor.kind == "user" and not actor.is_admin:
        raise Forbidden("Validators and admins only", code="validator_required")
    return actor


async def staff_or_admin(principal: Annotated[Principal, Depends(_staff_or_user)]) -> Actor:
    actor = actor_of(principal)
    if actor.kind == "user" and not actor.is_admin:
        raise Forbidden("Staff and admins only", code="staff_required")
    return actor


async def voucher_holder(
    request: Request,
    principal: Annotated[Principal | None, Depends(OptionalCaller("kiosk"))],
    limiter: RateLimiterDep,
) -> Actor:
    """A kiosk or user if credentials are sent (and then they must be valid), else anonymous."""
    if principal is not None:
        actor = actor_of(principal)
    else:
        ip = client_ip(request)
        request.state.principal = f"anonymous:{ip}"  # idempotency scope and rate-limit key
        actor = Actor(kind="anonymous", id=ip)
    await limiter.enforce(
        "tokens_voucher",
        VOUCHER_RATE_LIMIT,
        actor.owner,
        detail="Too many voucher requests, try again later",
    )
    return actor


KioskActor = Annotated[Actor, Depends(kiosk_actor)]
ValidatorActor = Annotated[Actor, Depends(validator_actor)]
ValidatorOrAdmin = Annotated[Actor, Depends(validator_or_admin)]
StaffOrAdmin = Annotated[Actor, Depends(staff_or_admin)]
VoucherHolder = Annotated[Actor, Depends(voucher_holder)]

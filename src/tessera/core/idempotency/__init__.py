"""`Idempotency-Key` for any POST that moves money or mints tokens (SPEC §3).

    async def deposit(body: AmountIn, user: CurrentUser, idem: Idempotency) -> Response:
        ...
        return await idem.respond(result, status_code=201)

Declare `idem` after the authentication dependency: keys are scoped to the caller.
"""

from tessera.core.idempotency.service import Idempotency, IdempotencyGuard

__all__ = ["Idempotency", "IdempotencyGuard"]

"""HTTP faces of the token issuer (SPEC §6). Handlers translate HTTP to service calls only.

Protocol endpoints (`/.well-known/private-token-issuer-directory`, `/token-request`) speak
RFC 9578 media types and status codes; the JSON API (`/keys/public`, `/v1/*`) answers errors as
`{"detail", "error"}`, and redemption refusals as 200 `{status: "rejected", reason}`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tessera.core.config import Settings
from tessera.core.db import DbSession
from tessera.core.db.base import utcnow
from tessera.core.db.session import DatabaseDep
from tessera.core.errors import AppError, error_responses
from tessera.core.idempotency import Idempotency
from tessera.core.identity.deps import AdminUser
from tessera.core.kit.pagination import Page, PageDep
from tessera.core.ratelimit import RateLimiterDep
from tessera.modules.tokens.actor import Actor
from tessera.modules.tokens.deps import (
    KioskActor,
    StaffOrAdmin,
    TokensDep,
    ValidatorActor,
    ValidatorOrAdmin,
    VoucherHolder,
)
from tessera.modules.tokens.issuance import IssuanceService, SignedBatch
from tessera.modules.tokens.keyring import IssuerKey
from tessera.modules.tokens.redemption import RedemptionService, redeem_online
from tessera.modules.tokens.schemas import (
    BloomOut,
    CreateVoucherIn,
    DoubleSpendOut,
    PublicKeyOut,
    ReceiptOut,
    RedeemIn,
    RedeemOut,
    RedeemVoucherIn,
    RedeemVoucherOut,
    RevokeIn,
    RevokeOut,
    SignBlindedIn,
    SignBlindedOut,
    SyncOfflineIn,
    SyncOfflineOut,
    VerifyReceiptIn,
    VoucherBalanceOut,
    VoucherCodeIn,
    VoucherCreatedOut,
    b64encode,
)
from tessera.protocols.tokens import keys

router = APIRouter(tags=["tokens"])

TOKEN_REQUEST_TYPE = "application/private-token-request"
TOKEN_RESPONSE_TYPE = "application/private-token-response"
DIRECTORY_TYPE = "application/private-token-issuer-directory"
DIRECTORY_MAX_AGE = 300


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    detail = f"Send the TokenRequest as {TOKEN_REQUEST_TYPE}"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def _cached(request: Request, body: bytes, media_type: str, cache_control: str) -> Response:
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


async def _enforce_sign_limit(limiter: RateLimiterDep, tokens: TokensDep, actor: Actor) -> None:
    await limiter.enforce(
        "tokens_sign",
        tokens.config.sign_rate_limit,
        actor.owner,
        detail="Too many signing requests, try again later",
    )


def _signed_body(batch: SignedBatch, batch_form: bool) -> dict[str, Any]:
    encoded = [b64encode(sig) for sig in batch.signatures]
    body: dict[str, Any] = (
        {"signed_blinded_tokens": encoded} if batch_form else {"signed_blinded": encoded[0]}
    )
    body["key_id"] = batch.key.key_id_hex
    return body


# --- keys and the Privacy Pass directory -------------------------------------------------------


def _public_key_out(key: IssuerKey) -> PublicKeyOut:
    return PublicKeyOut(
        key_id=key.key_id_hex,
        truncated_key_id=key.truncated_id,
        n=keys.public_key_n_b64url(key.public_key),
        e=key.public_key.public_numbers().e,
        spki_pem=keys.public_key_spki_pem(key.public_key),
        not_before=key.not_before,
        expires_at=key.expires_at,
    )


@router.get("/keys/public", response_model=list[PublicKeyOut])
async def public_keys(tokens: TokensDep, session: DbSession) -> list[PublicKeyOut]:
    """Live and upcoming issuer keys, preferred first. Tokens of expired keys are refused."""
    return [_public_key_out(key) for key in await tokens.keyring.published(session, utcnow())]


@router.get(
    "/.well-known/private-token-issuer-directory",
    responses={200: {"content": {DIRECTORY_TYPE: {}}}},
)
async def issuer_directory(request: Request, tokens: TokensDep, session: DbSession) -> Response:
    """RFC 9578 §4 issuer directory: the request URI and token keys in order of preference."""
    settings: Settings = request.app.state.runtime.settings
    document = {
        "issuer-request-uri": settings.resolved_public_url + "/token-request",
        "token-keys": [
            {
                "token-type": 2,
                "token-key": base64.urlsafe_b64encode(key.spki).decode("ascii"),
                "not-before": int(key.not_before.timestamp()),
            }
            for key in await tokens.keyring.published(session, utcnow())
        ],
    }
    return _cached(
        request, orjson.dumps(document), DIRECTORY_TYPE, f"public, max-age={DIRECTORY_MAX_AGE}"
    )


@router.post(
    "/token-request",
    response_class=Response,
    responses={
        200: {"content": {TOKEN_RESPONSE_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(401, 403, 404, 409, 415, 422, 429),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {TOKEN_REQUEST_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def token_request(
    request: Request,
    receipt_id: Annotated[str, Query(min_length=1, max_length=36)],
    actor: KioskActor,
    session: DbSession,
    tokens: TokensDep,
    limiter: RateLimiterDep,
) -> Response:
    """RFC 9578 issuance: one token from the receipt's allowance per TokenRequest."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != TOKEN_REQUEST_TYPE:
        raise UnsupportedMediaType()
    await _enforce_sign_limit(limiter, tokens, actor)
    body = await request.body()
    response = await IssuanceService(session, tokens).token_request(actor, receipt_id, body)
    return Response(response, media_type=TOKEN_RESPONSE_TYPE)


# --- receipts and signing ----------------------------------------------------------------------


@router.post(
    "/v1/verify_receipt",
    status_code=201,
    response_model=ReceiptOut,
    responses=error_responses(400, 401, 402, 403, 409, 422, 503),
)
async def verify_receipt(
    body: VerifyReceiptIn,
    actor: KioskActor,
    idem: Idempotency,
    session: DbSession,
    tokens: TokensDep,
) -> Response:
    """Record a proof of payment; it allows `tokens_allowed` tokens to be signed."""
    result = await IssuanceService(session, tokens).verify_receipt(actor, body)
    return await idem.respond(result, status_code=201)


@router.post(
    "/v1/sign_blinded",
    response_model=SignBlindedOut,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
)
async def sign_blinded(
    body: SignBlindedIn,
    actor: KioskActor,
    idem: Idempotency,
    session: DbSession,
    tokens: TokensDep,
    limiter: RateLimiterDep,
) -> Response:
    """Blind-sign one (`blinded_token`) or several (`blinded_tokens`) from a receipt."""
    await _enforce_sign_limit(limiter, tokens, actor)
    batch = await IssuanceService(session, tokens).sign_for_receipt(
        actor, body.receipt_id, body.blinded(), body.key_id, idem=idem
    )
    result = _signed_body(batch, body.is_batch)
    result["tokens_remaining"] = batch.remaining
    return await idem.respond(result)


# --- redemption --------------------------------------------------------------------------------


@router.post(
    "/v1/redeem",
    response_model=RedeemOut,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 422),
)
async def redeem(
    body: RedeemIn, actor: ValidatorActor, db: DatabaseDep, tokens: TokensDep
) -> Response:
    """Spend a ticket exactly once: `accepted`, or `rejected` with `spent|invalid|expired`."""
    reason = await redeem_online(db, tokens, actor, body.token, body.signature, body.validator_id)
    return Response(_REDEEM_ANSWERS[reason], media_type="application/json")


# The four possible answers, rendered once (a gate asks many times a second).
_REDEEM_ANSWERS = {
    reason: RedeemOut(status="rejected", reason=reason).model_dump_json(exclude_none=True).encode()
    for reason in ("spent", "invalid", "expired")
} | {None: RedeemOut(status="accepted").model_dump_json(exclude_none=True).encode()}


@router.get(
    "/v1/bloom",
    response_model=BloomOut,
    responses={304: {"description": "Not modified"}, **error_responses(401, 403)},
)
async def bloom(
    request: Request, actor: ValidatorOrAdmin, tokens: TokensDep, session: DbSession
) -> Response:
    """The spent-key Bloom filter for offline validators (`If-None-Match` answers 304)."""
    served = await tokens.bloom.current(session)
    headers = {"ETag": served.etag, "Cache-Control": "no-cache"}
    if _not_modified(request, served.etag):
        return Response(status_code=304, headers=headers)
    return Response(served.body, media_type="application/json", headers=headers)


@router.post(
    "/v1/sync_offline",
    response_model=SyncOfflineOut,
    responses=error_responses(401, 403, 422),
)
async def sync_offline(
    body: SyncOfflineIn, actor: ValidatorActor, session: DbSession, tokens: TokensDep
) -> SyncOfflineOut:
    """Upload tickets accepted offline; per item `accepted|duplicate|invalid|expired`.

    Idempotent per (validator, local_id): a re-sent item gets its first result again.
    """
    return await RedemptionService(session, tokens).sync_offline(actor, body)


# --- vouchers ----------------------------------------------------------------------------------


@router.post(
    "/v1/create_voucher",
    status_code=201,
    response_model=VoucherCreatedOut,
    responses=error_responses(401, 403, 422),
)
async def create_voucher(
    body: CreateVoucherIn,
    actor: StaffOrAdmin,
    idem: Idempotency,
    session: DbSession,
    tokens: TokensDep,
) -> Response:
    """A prepaid voucher (sold for cash). The code is shown once and stored only hashed."""
    result = await IssuanceService(session, tokens).create_voucher(actor, body)
    return await idem.respond(result, status_code=201)


@router.post(
    "/v1/redeem_voucher",
    response_model=RedeemVoucherOut,
    response_model_exclude_none=True,
    responses=error_responses(400, 401, 403, 404, 422, 429, 503),
)
async def redeem_voucher(
    body: RedeemVoucherIn,
    actor: VoucherHolder,
    idem: Idempotency,
    session: DbSession,
    tokens: TokensDep,
) -> Response:
    """Pay `amount_cents` (the token price per blinded token) from a voucher and get signatures."""
    batch, remaining = await IssuanceService(session, tokens).redeem_voucher(
        actor, body.voucher_code, body.amount_cents, body.blinded(), body.key_id, idem=idem
    )
    result = _signed_body(batch, body.is_batch)
    result["remaining_balance"] = remaining
    return await idem.respond(result)


@router.get(
    "/v1/voucher_balance",
    response_model=VoucherBalanceOut,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def voucher_balance(
    code: Annotated[str, Query(min_length=1, max_length=40)],
    actor: VoucherHolder,
    session: DbSession,
    tokens: TokensDep,
) -> VoucherBalanceOut:
    """The balance of a voucher (seed form; prefer the POST form, which keeps the code out of
    URLs and logs)."""
    return await IssuanceService(session, tokens).voucher_balance(code)


@router.post(
    "/v1/voucher_balance",
    response_model=VoucherBalanceOut,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def voucher_balance_post(
    body: VoucherCodeIn, actor: VoucherHolder, session: DbSession, tokens: TokensDep
) -> VoucherBalanceOut:
    """The balance of a voucher, with the code in the body."""
    return await IssuanceService(session, tokens).voucher_balance(body.voucher_code)


# --- administration ----------------------------------------------------------------------------


@router.post(
    "/v1/admin/revoke",
    response_model=RevokeOut,
    responses=error_responses(401, 403, 422),
)
async def revoke(
    body: RevokeIn, admin: AdminUser, session: DbSession, tokens: TokensDep
) -> RevokeOut:
    """Revoke a ticket by its spent key (`token_hash`); redeeming it then answers `invalid`."""
    actor = Actor(kind="user", id=admin.id, is_admin=True)
    return await RedemptionService(session, tokens).revoke(actor, body)


@router.get(
    "/v1/admin/double_spends",
    response_model=Page[DoubleSpendOut],
    responses=error_responses(401, 403),
)
async def double_spends(
    admin: AdminUser, session: DbSession, tokens: TokensDep, page: PageDep
) -> Page[DoubleSpendOut]:
    """Conflicts found by offline sync (both validators and times), newest first."""
    items, total = await RedemptionService(session, tokens).double_spends(page.limit, page.offset)
    return page.of(items, total)

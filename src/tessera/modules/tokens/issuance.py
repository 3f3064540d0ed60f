"""Issuance: receipts, blind signing (JSON and RFC 9578), vouchers.

Order of work in every minting call (`sign_blinded`, `/token-request`, `redeem_voucher`):

1. Validate the blinded inputs and the price (cheap, before anything is read).
2. Read: the key, and whether the receipt's allowance or the voucher's balance covers the
   request. A refusal here (404, 409 `receipt_exhausted`, 400 `insufficient_balance`, 422
   `unknown_key` …) costs no signature.
3. Hand the connection back (`release_connection`: the request's transaction ends; it has only
   read) and blind-sign in a worker thread. No connection is checked out and no transaction is
   open meanwhile, so a burst of signers cannot empty the pool on PostgreSQL, nor hold
   SQLite's write lock (`BEGIN IMMEDIATE`) while other requests wait for it.
4. In a new transaction: claim the request's `Idempotency-Key` again (409 while another
   request with it is writing, its stored reply once it has committed), take the allowance or
   the balance with its guarded single-statement update, record the issuance (a count, never
   a token value) and the audit row, and store the idempotent reply; the request commits.

Why nothing is handed out twice or unpaid: signatures leave the service only on the path
through step 4, where the allowance or balance was taken by a conditional `UPDATE` (the
receipt row's `minted + n <= allowed`, the ledger's guarded update of the voucher account) in
the same transaction that records the issuance and stores the reply. Step 2 is only a
pre-check: requests that pass it together all sign, then race at step 4, where exactly as many
win as the allowance or balance covers and the others get the same refusal step 2 would have
given (409 `receipt_exhausted`, 400 `insufficient_balance`); their signatures are discarded.
If signing fails (the fault check), nothing has been written. The same key sent twice at once
is at most one issuance: see `tessera.core.idempotency.service` for why claiming again in the
new transaction keeps that guarantee (a duplicate sent while the first signs signs too, and
then gets the 409 or the replay).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core import audit
from tessera.core.db.base import new_uuid, utcnow
from tessera.core.db.session import release_connection
from tessera.core.errors import AppError, BadRequest, Conflict, NotFound, Unprocessable
from tessera.core.idempotency import IdempotencyGuard
from tessera.core.kit.money import CURRENCY_EXPONENTS
from tessera.core.ledger import InsufficientFunds, Ledger
from tessera.modules.tokens.actor import Actor
from tessera.modules.tokens.keyring import IssuerKey
from tessera.modules.tokens.models import Voucher
from tessera.modules.tokens.payments import check_payment
from tessera.modules.tokens.repository import TokensRepository
from tessera.modules.tokens.schemas import (
    CreateVoucherIn,
    ReceiptOut,
    VerifyReceiptIn,
    VoucherBalanceOut,
    VoucherCreatedOut,
)
from tessera.modules.tokens.state import TokensState
from tessera.protocols.tokens import crypto, formats

TOKENS_ISSUED = Counter("tessera_tokens_issued_total", "Tokens blind-signed", ["source"])

VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: nothing to misread
VOUCHER_LEN = 16
VOUCHER_DEFAULT_LIFETIME = timedelta(days=365)
WALLET_LEDGER_KIND = "TOKEN_PURCHASE"
WALLET_REVENUE_ACCOUNT = "revenue:tokens"
VOUCHER_CASH_ACCOUNT = "external"  # a voucher is paid for in cash, outside the ledger
VOUCHER_SOLD_KIND = "VOUCHER_SOLD"
VOUCHER_REDEEMED_KIND = "VOUCHER_REDEEMED"


class InvalidBlindedToken(AppError):
    status_code = 422
    code = "invalid_blinded_token"
    detail = "A blinded token must be exactly 256 bytes encoding a value below the modulus"


class ReceiptUsedUp(Conflict):
    code = "receipt_exhausted"
    detail = "This receipt has no tokens left"


class ReceiptAlreadyUsed(Conflict):
    code = "receipt_already_used"
    detail = "This receipt was already verified"


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    detail = "Unknown voucher code"


class SigningFailed(AppError):
    status_code = 503
    code = "signing_failed"
    detail = "Signing failed its self-check; nothing was issued, please retry"


@dataclass(frozen=True)
class SignedBatch:
    signatures: list[bytes]
    key: IssuerKey
    remaining: int


def sign_batch(private_key: rsa.RSAPrivateKey, blinded: list[bytes]) -> list[bytes]:
    """BlindSign each input (RFC 9474 §4.3, with its range and fault checks). Blocking."""
    return [crypto.blind_sign(private_key, msg) for msg in blinded]


def _insufficient_balance(left: int) -> BadRequest:
    return BadRequest(
        f"Insufficient voucher balance ({left} cents left)", code="insufficient_balance"
    )


def normalise_voucher_code(code: str) -> str | None:
    """The 16 code characters without dashes or spaces, upper-cased; None if it cannot be one."""
    raw = code.replace("-", "").replace(" ", "").upper()
    if len(raw) != VOUCHER_LEN or any(ch not in VOUCHER_ALPHABET for ch in raw):
        return None
    return raw


def voucher_code_hash(normalised: str) -> str:
    return hashlib.sha256(b"tessera-voucher-v1:" + normalised.encode("ascii")).hexdigest()


def new_voucher_code() -> str:
    raw = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_LEN))
    return "-".join(raw[i : i + 4] for i in range(0, VOUCHER_LEN, 4))


class IssuanceService:
    def __init__(self, session: AsyncSession, tokens: TokensState) -> None:
        self.session = session
        self.tokens = tokens
        self.config = tokens.config
        self.repo = TokensRepository(session)

    # --- receipts -------------------------------------------------------------------------------

    async def verify_receipt(self, actor: Actor, body: VerifyReceiptIn) -> ReceiptOut:
        payment = check_payment(body, actor, self.config)
        receipt_id = await self.repo.insert_receipt(
            provider=payment.provider,
            provider_receipt_id=payment.provider_receipt_id,
            owner=actor.owner,
            user_id=actor.user_id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            tokens_allowed=payment.tokens_allowed,
        )
        if receipt_id is None:
            raise ReceiptAlreadyUsed()
        if payment.charge_wallet and payment.amount_cents is not None and actor.user_id:
            await self._charge_wallet(actor.user_id, payment.amount_cents, receipt_id)
        await audit.record(
            self.session,
            "receipt.verified",
            **actor.audit_fields(),
            target_type="tokens_receipt",
            target_id=receipt_id,
            details={
                "provider": payment.provider,
                "tokens_allowed": payment.tokens_allowed,
                "amount_cents": payment.amount_cents,
                "currency": payment.currency,
            },
        )
        return ReceiptOut(receipt_id=receipt_id, tokens_allowed=payment.tokens_allowed)

    async def _charge_wallet(self, user_id: str, amount_cents: int, receipt_id: str) -> None:
        await Ledger(self.session).charge_user(
            user_id,
            amount_cents,
            self.config.currency,
            kind=WALLET_LEDGER_KIND,
            reference=receipt_id,
            metadata={"receipt_id": receipt_id, "module": "tokens"},
            to_account=WALLET_REVENUE_ACCOUNT,
        )

    # --- signing --------------------------------------------------------------------------------

    async def choose_key(self, key_id_hex: str | None) -> IssuerKey:
        now = utcnow()
        if key_id_hex is None:
            return await self.tokens.keyring.signing_key(self.session, now)
        key = await self.tokens.keyring.by_key_id(self.session, bytes.fromhex(key_id_hex))
        if key is None or not key.is_live(now) or key.sealed is None:
            raise Unprocessable("key_id names no live issuer key", code="unknown_key")
        return key

    def check_blinded(self, key: IssuerKey, blinded: list[bytes]) -> None:
        if len(blinded) > self.config.max_batch:
            raise Unprocessable(
                f"at most {self.config.max_batch} blinded tokens per request",
                code="batch_too_large",
            )
        n = key.public_key.public_numbers().n
        size = crypto.modulus_len(key.public_key)
        for msg in blinded:
            if len(msg) != size or not 0 < int.from_bytes(msg, "big") < n:
                raise InvalidBlindedToken()

    async def _sign_released(
        self, key: IssuerKey, blinded: list[bytes], idem: IdempotencyGuard | None
    ) -> list[bytes]:
        """Sign with no connection checked out and no transaction open, then claim the
        request's idempotency key again in the session's new transaction (see the module
        docstring). Refusals here (a fault check, a lost claim) have written nothing."""
        await release_connection(self.session)
        private_key = self.tokens.keyring.private_key(key)
        try:
            signatures = await asyncio.to_thread(sign_batch, private_key, blinded)
        except crypto.InvalidInput:
            raise InvalidBlindedToken() from None
        except crypto.SigningFailure:
            raise SigningFailed() from None
        if idem is not None:
            await idem.claim()
        return signatures

    async def sign_for_receipt(
        self,
        actor: Actor,
        receipt_id: str,
        blinded: list[bytes],
        key_id_hex: str | None = None,
        *,
        idem: IdempotencyGuard | None = None,
    ) -> SignedBatch:
        key = await self.choose_key(key_id_hex)
        self.check_blinded(key, blinded)
        return await self._mint_from_receipt(actor, receipt_id, key, blinded, idem)

    async def _check_allowance(self, receipt_id: str, owner: str, count: int) -> None:
        """Refuse as `consume_allowance` would: 404 for a receipt that is not the caller's,
        409 `receipt_exhausted` when fewer than `count` tokens are left."""
        receipt = await self.repo.receipt_for_owner(receipt_id, owner)
        if receipt is None:  # someone else's receipt looks exactly like a missing one
            raise NotFound("Receipt not found", code="receipt_not_found")
        left = receipt.tokens_allowed - receipt.tokens_minted
        if receipt.status != "verified" or left < count:
            raise ReceiptUsedUp(
                f"This receipt has {left} token(s) left; {count} requested" if left else None
            )

    async def _mint_from_receipt(
        self,
        actor: Actor,
        receipt_id: str,
        key: IssuerKey,
        blinded: list[bytes],
        idem: IdempotencyGuard | None,
    ) -> SignedBatch:
        count = len(blinded)
        await self._check_allowance(receipt_id, actor.owner, count)  # no signature if refused
        signatures = await self._sign_released(key, blinded, idem)
        remaining = await self.repo.consume_allowance(receipt_id, actor.owner, count)
        if remaining is None:  # parallel requests took the allowance while this one signed
            await self._check_allowance(receipt_id, actor.owner, count)  # raises: 404 or 409
            raise ReceiptUsedUp()  # not reached (minted only grows), but never sign for free
        await self.repo.add_issuance(
            key_id=key.key_id_hex,
            receipt_id=receipt_id,
            token_count=count,
            issued_by=actor.owner,
        )
        TOKENS_ISSUED.labels(source="receipt").inc(count)
        await audit.record(
            self.session,
            "token.issued",
            **actor.audit_fields(),
            target_type="tokens_receipt",
            target_id=receipt_id,
            details={"count": count, "key_id": key.key_id_hex},
        )
        return SignedBatch(signatures, key, remaining)

    async def token_request(self, actor: Actor, receipt_id: str, body: bytes) -> bytes:
        """RFC 9578 §6.2: TokenRequest bytes in, TokenResponse bytes out (422 on any defect)."""
        try:
            request = formats.TokenRequest.decode(body)
        except formats.FormatError as exc:
            raise Unprocessable(
                f"Malformed TokenRequest: {exc}", code="invalid_token_request"
            ) from None
        key = await self.tokens.keyring.live_by_truncated_id(
            self.session, request.truncated_token_key_id, utcnow()
        )
        if key is None:
            raise Unprocessable("TokenRequest names no live issuer key", code="unknown_key")
        self.check_blinded(key, [request.blinded_msg])
        batch = await self._mint_from_receipt(actor, receipt_id, key, [request.blinded_msg], None)
        return formats.TokenResponse(batch.signatures[0]).encode()

    # --- vouchers -------------------------------------------------------------------------------

    async def create_voucher(self, actor: Actor, body: CreateVoucherIn) -> VoucherCreatedOut:
        """Sell a voucher: its balance is a new ledger account, funded from `external` (the
        cash taken at the counter)."""
        currency = (body.currency or self.config.currency).upper()
        if currency not in CURRENCY_EXPONENTS or currency != self.config.currency:
            raise Unprocessable(
                f"vouchers are sold in {self.config.currency}", code="unsupported_currency"
            )
        now = utcnow()
        expires_at = body.expires_at or now + VOUCHER_DEFAULT_LIFETIME
        if expires_at <= now:
            raise Unprocessable("expires_at must be in the future", code="invalid_expiry")
        code = new_voucher_code()
        voucher_id = new_uuid()
        ledger = Ledger(self.session)
        account = await ledger.stored_value_account(f"voucher:{voucher_id}", currency)
        external = await ledger.system_account(VOUCHER_CASH_ACCOUNT, currency)
        await ledger.transfer(
            debit_account_id=external.id,
            credit_account_id=account.id,
            amount=body.balance_cents,
            kind=VOUCHER_SOLD_KIND,
            reference=voucher_id,
            metadata={"module": "tokens", "voucher_id": voucher_id},
            created_by=actor.user_id,
            actor_type="user" if actor.user_id else "system",
        )
        voucher = await self.repo.insert_voucher(
            id=voucher_id,
            code_hash=voucher_code_hash(code.replace("-", "")),
            currency=currency,
            original_cents=body.balance_cents,
            ledger_account_id=account.id,
            expires_at=expires_at,
            created_by=actor.owner,
        )
        await audit.record(
            self.session,
            "voucher.created",
            **actor.audit_fields(),
            target_type="tokens_voucher",
            target_id=voucher.id,
            details={
                "balance_cents": body.balance_cents,
                "currency": currency,
                "staff_id": body.staff_id,
            },
        )
        return VoucherCreatedOut(
            voucher_code=code, balance=body.balance_cents, currency=currency, expires=expires_at
        )

    async def redeem_voucher(
        self,
        actor: Actor,
        voucher_code: str,
        amount_cents: int,
        blinded: list[bytes],
        key_id_hex: str | None = None,
        *,
        idem: IdempotencyGuard | None = None,
    ) -> tuple[SignedBatch, int]:
        """Sign `blinded` paid from a voucher; (signatures, remaining balance in cents)."""
        normalised = normalise_voucher_code(voucher_code)
        if normalised is None:
            raise VoucherNotFound()
        key = await self.choose_key(key_id_hex)
        self.check_blinded(key, blinded)
        price = self.config.price_cents * len(blinded)
        if amount_cents != price:
            raise Unprocessable(
                f"amount_cents must be {price} for {len(blinded)} token(s)", code="invalid_amount"
            )
        voucher = await self._spendable_voucher(voucher_code_hash(normalised), amount_cents)
        signatures = await self._sign_released(key, blinded, idem)
        remaining = await self._spend_voucher(voucher, amount_cents)
        await self.repo.add_issuance(
            key_id=key.key_id_hex,
            voucher_id=voucher.id,
            token_count=len(blinded),
            amount_cents=amount_cents,
            issued_by=None if actor.kind == "anonymous" else actor.owner,
        )
        TOKENS_ISSUED.labels(source="voucher").inc(len(blinded))
        await audit.record(
            self.session,
            "voucher.redeemed",
            **actor.audit_fields(),
            target_type="tokens_voucher",
            target_id=voucher.id,
            details={"amount_cents": amount_cents, "count": len(blinded), "remaining": remaining},
        )
        return SignedBatch(signatures, key, remaining), remaining

    async def _spendable_voucher(self, code_hash: str, amount_cents: int) -> Voucher:
        """The live voucher of this code if it holds `amount_cents`: the refusals of
        `_spend_voucher`, made by reading only, before anything is signed."""
        voucher = await self.repo.voucher_by_hash(code_hash)
        if voucher is None:
            raise VoucherNotFound()
        if voucher.currency != self.config.currency:
            raise BadRequest(
                f"This voucher is in {voucher.currency}; tokens are sold in {self.config.currency}",
                code="voucher_currency_mismatch",
            )
        self._check_not_expired(voucher)
        left = await Ledger(self.session).balance(voucher.ledger_account_id)
        if left < amount_cents:
            raise _insufficient_balance(left)
        return voucher

    @staticmethod
    def _check_not_expired(voucher: Voucher) -> None:
        if voucher.expires_at is not None and voucher.expires_at <= utcnow():
            raise BadRequest("This voucher has expired", code="voucher_expired")

    async def _spend_voucher(self, voucher: Voucher, amount_cents: int) -> int:
        """Pay from the voucher into the module's revenue, as one ledger movement (the
        ledger's guarded update: parallel spends stop exactly at zero). The balance left."""
        self._check_not_expired(voucher)  # it may have expired while the tokens were signed
        ledger = Ledger(self.session)
        revenue = await ledger.system_account(WALLET_REVENUE_ACCOUNT, voucher.currency)
        try:
            txn = await ledger.transfer(
                debit_account_id=voucher.ledger_account_id,
                credit_account_id=revenue.id,
                amount=amount_cents,
                kind=VOUCHER_REDEEMED_KIND,
                reference=voucher.id,
                metadata={"module": "tokens", "voucher_id": voucher.id},
            )
        except InsufficientFunds:  # parallel spends took the balance while this one signed
            left = await ledger.balance(voucher.ledger_account_id)
            raise _insufficient_balance(left) from None
        return txn.entries[0].balance_after

    async def voucher_balance(self, voucher_code: str) -> VoucherBalanceOut:
        normalised = normalise_voucher_code(voucher_code)
        voucher = (
            await self.repo.voucher_by_hash(voucher_code_hash(normalised)) if normalised else None
        )
        if voucher is None:
            raise VoucherNotFound()
        return VoucherBalanceOut(
            balance=await Ledger(self.session).balance(voucher.ledger_account_id),
            original_amount=voucher.original_cents,
            currency=voucher.currency,
            created_at=voucher.created_at,
            expires_at=voucher.expires_at,
        )

"""Blind signing runs with no database connection held (issue 10, item 5), on both engines.

The real `sign_batch` is wrapped, not replaced: every signature is still computed and checked
by the rider's `finalize`. From inside a signing the wrapper looks at the pool and can make
other requests to the same app, so "the database is free while we sign" is observed directly:
with a pool of one connection (PostgreSQL) or SQLite's one write lock, a write request made
from inside the signing completes, and four signers are inside their signing at once.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from tests.conftest import make_settings
from tests.helpers.cli import database_env, run_tessera
from tests.helpers.identity import make_api_key, register_and_login
from tests.modules.tokens.conftest import CHALLENGE, install_key

from tessera.app import create_app
from tessera.client import tokens as sdk
from tessera.core.audit.models import AuditLog
from tessera.core.identity.models import AuthSession
from tessera.modules.tokens import issuance
from tessera.modules.tokens.models import Issuance, Receipt

PRICE = 250
WAIT = 20.0  # seconds a signing waits for what it expects to happen meanwhile (then fails)
REAL_SIGN_BATCH = issuance.sign_batch


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class SigningProbe:
    """Stands around the real `sign_batch` (in the worker thread that signs): counts the
    signings, records how many pool connections are checked out at each, and can make every
    signing wait for `together` signers to be inside at once, or run a request on the app's
    loop from inside the first signing and wait for its answer."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = app.state.runtime.db.engine.pool
        self.loop = loop
        self.calls = 0
        self.checked_out: list[int] = []
        self.together: threading.Barrier | None = None
        self.during_first: Callable[[], Awaitable[httpx2.Response]] | None = None
        self.answers_meanwhile: list[httpx2.Response] = []
        self._lock = threading.Lock()

    def __call__(self, private_key: rsa.RSAPrivateKey, blinded: list[bytes]) -> list[bytes]:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
            self.checked_out.append(self.pool.checkedout())
        if first and self.during_first is not None:
            future = asyncio.run_coroutine_threadsafe(self.during_first(), self.loop)
            self.answers_meanwhile.append(future.result(timeout=WAIT))
        if self.together is not None:
            self.together.wait(timeout=WAIT)
        return REAL_SIGN_BATCH(private_key, blinded)


@pytest.fixture
async def tiny_pool_app(database_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """The app with one pooled connection and no overflow (PostgreSQL; SQLite has its one
    write lock anyway)."""
    settings = make_settings(database_url, tmp_path, db_pool_size=1, db_max_overflow=0)
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def http(tiny_pool_app: Any) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=tiny_pool_app, client=("203.0.113.9", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://t", timeout=60) as client:
        yield client


@pytest.fixture
async def issuer(tiny_pool_app: Any, issuer_key: rsa.RSAPrivateKey) -> sdk.IssuerKey:
    return await install_key(tiny_pool_app.state.runtime, issuer_key)


@pytest.fixture
async def kiosk(tiny_pool_app: Any) -> dict[str, str]:
    return await make_api_key(tiny_pool_app.state.runtime, "kiosk")


@pytest.fixture
async def staff(tiny_pool_app: Any) -> dict[str, str]:
    return await make_api_key(tiny_pool_app.state.runtime, "staff")


@pytest.fixture
async def probe(tiny_pool_app: Any, monkeypatch: pytest.MonkeyPatch) -> SigningProbe:
    wrapper = SigningProbe(tiny_pool_app, asyncio.get_running_loop())
    monkeypatch.setattr(issuance, "sign_batch", wrapper)
    return wrapper


async def new_receipt(http: httpx2.AsyncClient, kiosk: dict[str, str], tokens: int) -> str:
    response = await http.post(
        "/v1/verify_receipt",
        json={
            "payment_provider": "test",
            "provider_receipt_id": f"card-{uuid.uuid4().hex}",
            "amount_cents": tokens * PRICE,
        },
        headers=kiosk,
    )
    assert response.status_code == 201, response.text
    receipt_id: str = response.json()["receipt_id"]
    return receipt_id


async def new_voucher(http: httpx2.AsyncClient, staff: dict[str, str], tokens: int) -> str:
    response = await http.post(
        "/v1/create_voucher", json={"balance_cents": tokens * PRICE}, headers=staff
    )
    assert response.status_code == 201, response.text
    code: str = response.json()["voucher_code"]
    return code


def finish(pending: list[sdk.PendingToken], signed: list[str]) -> list[sdk.FinishedToken]:
    """The rider's side: unblind and verify every signature (raises on a bad one)."""
    assert len(pending) == len(signed)
    tickets = [sdk.finalize(p, base64.b64decode(s)) for p, s in zip(pending, signed, strict=True)]
    for ticket, p in zip(tickets, pending, strict=True):
        assert sdk.verify(p.issuer, ticket.token_input, ticket.signature)
    return tickets


async def minted(app: Any, receipt_id: str) -> tuple[int, int]:
    """(tokens_minted on the receipt, tokens in its issuance rows)."""
    async with app.state.runtime.db.session(write=False) as session:
        receipt = await session.get(Receipt, receipt_id)
        assert receipt is not None
        issued = await session.scalar(
            select(func.coalesce(func.sum(Issuance.token_count), 0)).where(
                Issuance.receipt_id == receipt_id
            )
        )
        return receipt.tokens_minted, int(issued or 0)


async def audit_rows(app: Any, action: str) -> int:
    async with app.state.runtime.db.session(write=False) as session:
        query = select(func.count()).select_from(AuditLog).where(AuditLog.action == action)
        return int(await session.scalar(query) or 0)


# --- (a) the database is free while a batch is signed -------------------------------------------


@pytest.mark.parametrize("path", ["sign_blinded", "token_request", "redeem_voucher"])
async def test_a_write_completes_while_a_batch_is_signed_and_no_connection_is_held(
    path: str,
    tiny_pool_app: Any,
    http: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    staff: dict[str, str],
    probe: SigningProbe,
) -> None:
    count = 1 if path == "token_request" else 100  # TESSERA_TOKENS_MAX_BATCH
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(count)]
    receipt_id = await new_receipt(http, kiosk, count)
    voucher = await new_voucher(http, staff, count)
    # From inside the signing: another write request (a receipt, with its audit row) must get
    # the only pooled connection, or SQLite's write lock, and finish.
    probe.during_first = lambda: http.post(
        "/v1/verify_receipt",
        json={"payment_provider": "test", "provider_receipt_id": "meanwhile", "amount_cents": 250},
        headers=kiosk,
    )
    blinded = [b64(p.blinded_msg) for p in pending]
    if path == "sign_blinded":
        response = await http.post(
            "/v1/sign_blinded",
            json={"receipt_id": receipt_id, "blinded_tokens": blinded},
            headers=kiosk,
        )
    elif path == "redeem_voucher":
        response = await http.post(
            "/v1/redeem_voucher",
            json={
                "voucher_code": voucher,
                "amount_cents": count * PRICE,
                "blinded_tokens": blinded,
            },
            headers=kiosk,
        )
    else:
        response = await http.post(
            "/token-request",
            params={"receipt_id": receipt_id},
            content=pending[0].token_request(),
            headers={**kiosk, "Content-Type": "application/private-token-request"},
        )
    assert response.status_code == 200, response.text
    binary = path == "token_request"  # a TokenResponse body; the JSON paths answer a list
    signed = [b64(response.content)] if binary else response.json()["signed_blinded_tokens"]
    assert [r.status_code for r in probe.answers_meanwhile] == [201]
    assert probe.checked_out == [0]  # the signing request held no connection
    finish(pending, signed)


async def test_more_signers_than_pooled_connections_sign_at_the_same_time(
    tiny_pool_app: Any,
    http: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    probe: SigningProbe,
) -> None:
    signers = 4  # one pooled connection (or one SQLite write lock), four signers inside at once
    receipts = [await new_receipt(http, kiosk, 10) for _ in range(signers)]
    pending = [[sdk.request_token(issuer, CHALLENGE) for _ in range(10)] for _ in receipts]
    probe.together = threading.Barrier(signers)
    responses = await asyncio.gather(
        *(
            http.post(
                "/v1/sign_blinded",
                json={"receipt_id": r, "blinded_tokens": [b64(t.blinded_msg) for t in batch]},
                headers=kiosk,
            )
            for r, batch in zip(receipts, pending, strict=True)
        )
    )
    assert [r.status_code for r in responses] == [200] * signers, [r.text for r in responses]
    for response, batch in zip(responses, pending, strict=True):
        finish(batch, response.json()["signed_blinded_tokens"])
        assert response.json()["tokens_remaining"] == 0
    for receipt_id in receipts:
        assert await minted(tiny_pool_app, receipt_id) == (10, 10)


async def test_refusals_known_before_signing_cost_no_signature(
    http: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    staff: dict[str, str],
    probe: SigningProbe,
) -> None:
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(3)]
    blinded = [b64(p.blinded_msg) for p in pending]
    receipt_id = await new_receipt(http, kiosk, 2)
    voucher = await new_voucher(http, staff, 2)

    async def sign(body: dict[str, Any]) -> httpx2.Response:
        return await http.post("/v1/sign_blinded", json=body, headers=kiosk)

    async def pay(tokens: list[str], code: str = voucher) -> httpx2.Response:
        body = {"voucher_code": code, "amount_cents": len(tokens) * PRICE, "blinded_tokens": tokens}
        return await http.post("/v1/redeem_voucher", json=body, headers=kiosk)

    too_many = await sign({"receipt_id": receipt_id, "blinded_tokens": blinded})
    assert too_many.status_code == 409 and too_many.json()["error"] == "receipt_exhausted"
    assert "2 token(s) left; 3 requested" in too_many.json()["detail"]
    missing = await sign({"receipt_id": str(uuid.uuid4()), "blinded_tokens": blinded})
    assert missing.status_code == 404 and missing.json()["error"] == "receipt_not_found"
    unknown_key = await sign(
        {"receipt_id": receipt_id, "blinded_tokens": blinded[:1], "key_id": "ab" * 32}
    )
    assert unknown_key.status_code == 422 and unknown_key.json()["error"] == "unknown_key"
    short = await pay(blinded)
    assert short.status_code == 400 and short.json()["error"] == "insufficient_balance"
    assert short.json()["detail"] == "Insufficient voucher balance (500 cents left)"
    nobody = await pay(blinded[:1], "ABCD-EFGH-JKLM-NPQR")
    assert nobody.status_code == 404 and nobody.json()["error"] == "voucher_not_found"
    assert probe.calls == 0  # none of them signed anything
    enough = await sign({"receipt_id": receipt_id, "blinded_tokens": blinded[:2]})
    assert enough.status_code == 200
    assert probe.calls == 1


# --- (b) races: exactly the allowance, every signature valid ------------------------------------


async def test_signers_that_all_passed_the_precheck_race_for_the_allowance(
    tiny_pool_app: Any,
    http: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    probe: SigningProbe,
) -> None:
    """Four requests of two tokens on a receipt of five: all four are signing at once (so all
    passed the pre-check), two take the allowance, two are refused and get no signature."""
    receipt_id = await new_receipt(http, kiosk, 5)
    pending = [[sdk.request_token(issuer, CHALLENGE) for _ in range(2)] for _ in range(4)]
    probe.together = threading.Barrier(4)
    responses = await asyncio.gather(
        *(
            http.post(
                "/v1/sign_blinded",
                json={"receipt_id": receipt_id, "blinded_tokens": [b64(t.blinded_msg) for t in p]},
                headers=kiosk,
            )
            for p in pending
        )
    )
    assert probe.calls == 4
    assert Counter(r.status_code for r in responses) == {200: 2, 409: 2}
    for response, batch in zip(responses, pending, strict=True):
        if response.status_code == 200:
            finish(batch, response.json()["signed_blinded_tokens"])
        else:
            assert response.json() == {
                "detail": "This receipt has 1 token(s) left; 2 requested",
                "error": "receipt_exhausted",
            }
    assert sorted(r.json()["tokens_remaining"] for r in responses if r.status_code == 200) == [
        1,
        3,
    ]
    assert await minted(tiny_pool_app, receipt_id) == (4, 4)
    assert await audit_rows(tiny_pool_app, "token.issued") == 2


async def test_thirty_parallel_mints_on_a_receipt_of_seven_issue_exactly_seven(
    tiny_pool_app: Any, http: httpx2.AsyncClient, issuer: sdk.IssuerKey, kiosk: dict[str, str]
) -> None:
    receipt_id = await new_receipt(http, kiosk, 7)
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(30)]
    responses = await asyncio.gather(
        *(
            http.post(
                "/v1/sign_blinded",
                json={"receipt_id": receipt_id, "blinded_token": b64(p.blinded_msg)},
                headers=kiosk,
            )
            for p in pending
        )
    )
    assert Counter(r.status_code for r in responses) == {200: 7, 409: 23}
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"receipt_exhausted"}
    for response, p in zip(responses, pending, strict=True):
        if response.status_code == 200:
            finish([p], [response.json()["signed_blinded"]])
    assert await minted(tiny_pool_app, receipt_id) == (7, 7)


async def test_parallel_voucher_spends_that_all_signed_pay_exactly_the_balance(
    tiny_pool_app: Any,
    http: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    staff: dict[str, str],
    probe: SigningProbe,
    database_url: str,
) -> None:
    code = await new_voucher(http, staff, 5)
    pending = [[sdk.request_token(issuer, CHALLENGE) for _ in range(2)] for _ in range(4)]
    probe.together = threading.Barrier(4)
    responses = await asyncio.gather(
        *(
            http.post(
                "/v1/redeem_voucher",
                json={
                    "voucher_code": code,
                    "amount_cents": 2 * PRICE,
                    "blinded_tokens": [b64(t.blinded_msg) for t in p],
                },
                headers=kiosk,
            )
            for p in pending
        )
    )
    assert probe.calls == 4
    assert Counter(r.status_code for r in responses) == {200: 2, 400: 2}
    for response, batch in zip(responses, pending, strict=True):
        if response.status_code == 200:
            finish(batch, response.json()["signed_blinded_tokens"])
        else:
            assert response.json() == {
                "detail": "Insufficient voucher balance (250 cents left)",
                "error": "insufficient_balance",
            }
    balance = await http.post("/v1/voucher_balance", json={"voucher_code": code})
    assert balance.json()["balance"] == PRICE
    assert await audit_rows(tiny_pool_app, "voucher.redeemed") == 2
    check = await run_tessera("ledger", "check", env=database_env(database_url))
    assert check.returncode == 0, check.stderr


# --- (c) one Idempotency-Key, sent twice at once ------------------------------------------------


async def test_a_duplicate_sent_while_the_first_signs_is_one_issuance(
    tiny_pool_app: Any,
    http: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    probe: SigningProbe,
) -> None:
    """The duplicate arrives while the first request is signing (its key is free then): it
    signs too and commits first; the first then finds its reply and replays it."""
    receipt_id = await new_receipt(http, kiosk, 10)
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(3)]
    body = {"receipt_id": receipt_id, "blinded_tokens": [b64(p.blinded_msg) for p in pending]}
    headers = {**kiosk, "Idempotency-Key": "sign-3"}
    probe.during_first = lambda: http.post("/v1/sign_blinded", json=body, headers=headers)
    first = await http.post("/v1/sign_blinded", json=body, headers=headers)
    (duplicate,) = probe.answers_meanwhile
    assert probe.calls == 2  # both signed; only one issued
    assert duplicate.status_code == first.status_code == 200
    assert first.content == duplicate.content
    assert first.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in duplicate.headers
    assert first.json()["tokens_remaining"] == 7
    finish(pending, first.json()["signed_blinded_tokens"])
    assert await minted(tiny_pool_app, receipt_id) == (3, 3)
    assert await audit_rows(tiny_pool_app, "token.issued") == 1


@pytest.mark.parametrize("path", ["sign_blinded", "redeem_voucher"])
async def test_ten_parallel_duplicates_issue_and_pay_once(
    path: str,
    tiny_pool_app: Any,
    http: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    staff: dict[str, str],
) -> None:
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(2)]
    blinded = [b64(p.blinded_msg) for p in pending]
    if path == "sign_blinded":
        receipt_id = await new_receipt(http, kiosk, 10)
        body: dict[str, Any] = {"receipt_id": receipt_id, "blinded_tokens": blinded}
    else:
        code = await new_voucher(http, staff, 10)
        body = {"voucher_code": code, "amount_cents": 2 * PRICE, "blinded_tokens": blinded}
    headers = {**kiosk, "Idempotency-Key": f"{path}-once"}
    responses = await asyncio.gather(
        *(http.post(f"/v1/{path}", json=body, headers=headers) for _ in range(10))
    )
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 409} and statuses[200] >= 1, statuses
    assert len({r.content for r in responses if r.status_code == 200}) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"] == "idempotency_in_flight"
    winner = next(r for r in responses if r.status_code == 200)
    finish(pending, winner.json()["signed_blinded_tokens"])
    if path == "sign_blinded":
        assert await minted(tiny_pool_app, receipt_id) == (2, 2)
        assert await audit_rows(tiny_pool_app, "token.issued") == 1
    else:
        balance = await http.post("/v1/voucher_balance", json={"voucher_code": code})
        assert balance.json()["balance"] == 8 * PRICE  # paid once
        assert await audit_rows(tiny_pool_app, "voucher.redeemed") == 1


# --- what the request's dependencies wrote before the signing is kept ----------------------------

FRONTEND = "http://localhost:3000"


async def test_a_rider_signing_with_a_stale_access_cookie_keeps_the_renewed_session(
    database_url: str, tmp_path: Path, issuer_key: rsa.RSAPrivateKey
) -> None:
    """The cookie dependency renews the access token in the request's transaction (a write)
    before the signing ends that transaction: the renewal must be committed, not lost."""
    settings = make_settings(database_url, tmp_path, cors_origins=[FRONTEND], frontend_url=FRONTEND)
    application = create_app(settings)
    async with LifespanManager(application):
        runtime = application.state.runtime
        issuer = await install_key(runtime, issuer_key)
        transport = httpx2.ASGITransport(app=application)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as browser:
            rider = await register_and_login(browser)
            deposit = await browser.post(
                "/api/v1/wallet/deposit", json={"amount_usd": "5.00"}, headers=rider.headers
            )
            assert deposit.status_code == 200, deposit.text
            bought = await browser.post(
                "/v1/verify_receipt",
                json={
                    "payment_provider": "wallet",
                    "provider_receipt_id": "o-1",
                    "amount_cents": 250,
                },
                headers=rider.headers,
            )
            assert bought.status_code == 201, bought.text
            browser.cookies.clear()
            signed_in = await browser.post(
                "/api/auth/login", json={"email": rider.email, "password": rider.password}
            )
            assert signed_in.status_code == 200
            browser.cookies.delete("tessera_access")  # it expired: the refresh cookie renews it
            before = await access_jtis(runtime, rider.id)
            pending = sdk.request_token(issuer, CHALLENGE)
            response = await browser.post(
                "/v1/sign_blinded",
                json={
                    "receipt_id": bought.json()["receipt_id"],
                    "blinded_token": b64(pending.blinded_msg),
                },
            )
            assert response.status_code == 200, response.text
            finish([pending], [response.json()["signed_blinded"]])
            after = await access_jtis(runtime, rider.id)
            assert len(before ^ after) == 2  # exactly one session's access token was renewed
            assert (await browser.get("/auth/me")).status_code == 200


async def access_jtis(runtime: Any, user_id: str) -> set[str]:
    async with runtime.db.session(write=False) as session:
        rows = await session.scalars(
            select(AuthSession.access_jti).where(AuthSession.user_id == user_id)
        )
        return set(rows)

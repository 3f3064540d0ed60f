"""`tessera tokens demo`: the seed's four flows against a running server, step by step.

1. Card purchase: a kiosk verifies a (test) card receipt for 3 tickets, signs two blinded
   tickets through /v1/sign_blinded and one through RFC 9578 /token-request.
2. Online check: a conductor redeems ticket 1 (accepted), then scans it again (spent).
3. Voucher: staff sell a voucher for 2 tickets; a rider buys one ticket with it, anonymously.
4. Offline check: the validator downloads the Bloom filter, accepts ticket 2 offline, sees
   ticket 1 as spent, then syncs both: ticket 2 accepted, ticket 1 a recorded conflict; a
   second sync of the same batch answers the same.

The rider's side (prepare, blind, finalize, offline check) is the same protocol code the
`tessera.client.tokens` SDK wraps.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import httpx2
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.core.db.engine import Database
from tessera.core.identity.api_keys import create_api_key
from tessera.protocols.tokens import crypto, formats, keys
from tessera.protocols.tokens.bloom import BloomSnapshot

Echo = Callable[[str], Any]


@dataclass(frozen=True)
class DemoKeys:
    kiosk: str
    validator: str
    staff: str


async def create_demo_keys(database_url: str) -> DemoKeys:
    db = Database(database_url)
    suffix = uuid.uuid4().hex[:6]
    try:
        async with db.session(write=True) as session:
            made = {}
            for role in ("kiosk", "validator", "staff"):
                _, plaintext = await create_api_key(
                    session, name=f"demo-{role}-{suffix}", role=role, created_by="cli"
                )
                made[role] = plaintext
    finally:
        await db.dispose()
    return DemoKeys(**made)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass(frozen=True)
class Ticket:
    token_input: bytes
    signature: bytes


class Rider:
    """A wallet: prepares and blinds tickets, keeps the unblinding secrets, finalizes."""

    def __init__(self, public_key: rsa.RSAPublicKey, issuer_name: str) -> None:
        self.public_key = public_key
        self.key_id = formats.token_key_id(public_key)
        self.challenge = formats.TokenChallenge(issuer_name)
        self._pending: dict[bytes, tuple[bytes, int]] = {}

    def blind(self) -> bytes:
        token_input = formats.TokenInput(
            secrets.token_bytes(formats.NONCE_LEN), self.challenge.digest(), self.key_id
        ).encode()
        blinding = crypto.blind(self.public_key, token_input, formats.VARIANT)
        self._pending[blinding.blinded_msg] = (token_input, blinding.inv)
        return blinding.blinded_msg

    def finalize(self, blinded_msg: bytes, blind_sig: bytes) -> Ticket:
        token_input, inv = self._pending.pop(blinded_msg)
        signature = crypto.finalize(self.public_key, token_input, blind_sig, inv, formats.VARIANT)
        return Ticket(token_input, signature)


class DemoRun:
    def __init__(self, http: httpx2.Client, api_keys: DemoKeys, price: int, echo: Echo) -> None:
        self.http = http
        self.echo = echo
        self.price = price
        self.ok = True
        self.kiosk = {"Authorization": f"ApiKey {api_keys.kiosk}"}
        self.validator = {"Authorization": f"ApiKey {api_keys.validator}"}
        self.staff = {"Authorization": f"ApiKey {api_keys.staff}"}

    def check(self, label: str, condition: bool, detail: str = "") -> None:
        self.ok &= condition
        self.echo(f"  {'ok ' if condition else 'FAIL'} {label}{(': ' + detail) if detail else ''}")

    def post(self, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        response = self.http.post(path, headers=headers, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path} → {response.status_code} {response.text}")
        return response.json()

    def redeem(self, ticket: Ticket, validator_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.post(
            "/v1/redeem",
            self.validator,
            json={
                "token": _b64(ticket.token_input),
                "signature": _b64(ticket.signature),
                "validator_id": validator_id,
            },
        )
        return body

    def run(self) -> bool:
        keys_doc = self.http.get("/keys/public").json()
        if not keys_doc:
            self.check("the server has a live issuer key", False, "run `tessera tokens keygen`")
            return False
        public_key = keys.load_public_key(keys_doc[0]["spki_pem"].encode())
        issuer_name = urlparse(str(self.http.base_url)).netloc or "tessera"
        rider = Rider(public_key, issuer_name)
        self.echo(
            f"issuer key {keys_doc[0]['key_id'][:16]}…, valid until {keys_doc[0]['expires_at']}"
        )

        self.echo("1. card purchase at a kiosk")
        receipt = self.post(
            "/v1/verify_receipt",
            self.kiosk,
            json={
                "payment_provider": "test",
                "provider_receipt_id": f"demo-card-{uuid.uuid4().hex[:12]}",
                "amount_cents": 3 * self.price,
            },
        )
        self.check(
            "receipt verified",
            receipt["tokens_allowed"] == 3,
            f"{receipt['tokens_allowed']} tickets",
        )
        blinded = [rider.blind(), rider.blind()]
        signed = self.post(
            "/v1/sign_blinded",
            self.kiosk,
            json={
                "receipt_id": receipt["receipt_id"],
                "blinded_tokens": [_b64(b) for b in blinded],
            },
        )
        tickets = [
            rider.finalize(b, _unb64(s))
            for b, s in zip(blinded, signed["signed_blinded_tokens"], strict=True)
        ]
        self.check("two tickets signed and unblinded (/v1/sign_blinded)", len(tickets) == 2)
        third = rider.blind()
        response = self.http.post(
            "/token-request",
            params={"receipt_id": receipt["receipt_id"]},
            content=formats.TokenRequest(rider.key_id[-1], third).encode(),
            headers={**self.kiosk, "Content-Type": "application/private-token-request"},
        )
        self.check("third ticket via RFC 9578 /token-request", response.status_code == 200)
        tickets.append(rider.finalize(third, response.content))
        more = self.http.post(
            "/v1/sign_blinded",
            headers=self.kiosk,
            json={"receipt_id": receipt["receipt_id"], "blinded_token": _b64(rider.blind())},
        )
        self.check("a fourth ticket on the same receipt is refused", more.status_code == 409)

        self.echo("2. online check by a conductor")
        first = self.redeem(tickets[0], "conductor-1")
        self.check("ticket 1 accepted", first == {"status": "accepted"}, str(first))
        again = self.redeem(tickets[0], "conductor-2")
        self.check("ticket 1 scanned again: spent", again.get("reason") == "spent", str(again))

        self.echo("3. anonymous prepaid voucher")
        voucher = self.post(
            "/v1/create_voucher", self.staff, json={"balance_cents": 2 * self.price}
        )
        self.check("voucher sold", True, f"{voucher['voucher_code']} worth {voucher['balance']}")
        blinded_v = rider.blind()
        paid = self.post(
            "/v1/redeem_voucher",
            {},
            json={
                "voucher_code": voucher["voucher_code"],
                "amount_cents": self.price,
                "blinded_token": _b64(blinded_v),
            },
        )
        voucher_ticket = rider.finalize(blinded_v, _unb64(paid["signed_blinded"]))
        self.check(
            "ticket bought with the voucher, no account",
            paid["remaining_balance"] == self.price,
            f"{paid['remaining_balance']} cents left",
        )

        self.echo("4. offline check on a train, then sync")
        bloom_doc = self.http.get("/v1/bloom", headers=self.validator).json()
        snapshot = BloomSnapshot.from_json(bloom_doc)
        spent_2 = formats.spent_key(tickets[1].token_input) in snapshot.filter
        spent_1 = formats.spent_key(tickets[0].token_input) in snapshot.filter
        self.check("ticket 2 not in the filter: accepted offline", not spent_2)
        self.check("ticket 1 in the filter: refused offline", spent_1)
        now = datetime.now(UTC).isoformat()
        batch = {
            "validator_id": "train-ic-7",
            "accepted_tokens": [
                {
                    "local_id": f"{uuid.uuid4().hex[:8]}-{i}",
                    "token": _b64(t.token_input),
                    "signature": _b64(t.signature),
                    "redeemed_at": now,
                }
                for i, t in enumerate((tickets[1], tickets[0]))
            ],
        }
        synced = self.post("/v1/sync_offline", self.validator, json=batch)
        statuses = [r["status"] for r in synced["results"]]
        self.check(
            "sync: ticket 2 accepted, ticket 1 duplicate",
            statuses == ["accepted", "duplicate"],
            str(statuses),
        )
        self.check("the double spend is reported", len(synced["conflicts"]) == 1)
        replay = self.post("/v1/sync_offline", self.validator, json=batch)
        self.check("re-sending the batch answers the same", replay["results"] == synced["results"])

        for label, ticket in (("ticket 3", tickets[2]), ("voucher ticket", voucher_ticket)):
            result = self.redeem(ticket, "conductor-1")
            self.check(f"{label} accepted online", result == {"status": "accepted"}, str(result))
        return self.ok


def run_demo(base_url: str, api_keys: DemoKeys, *, price_cents: int, echo: Echo) -> bool:
    with httpx2.Client(base_url=base_url, timeout=30) as http:
        try:
            ok = DemoRun(http, api_keys, price_cents, echo).run()
        except (httpx2.HTTPError, RuntimeError, crypto.BlindRSAError) as exc:
            echo(f"  FAIL {exc}")
            return False
    echo("demo finished: all steps as expected" if ok else "demo finished with failures")
    return ok

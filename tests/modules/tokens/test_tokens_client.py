"""The client SDK end to end: request, issue, finalize, verify, and the offline filter check."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.client import tokens as client
from tessera.protocols.tokens import crypto, formats, keys
from tessera.protocols.tokens.bloom import BloomFilter, BloomSnapshot

CHALLENGE = client.TokenChallenge("tickets.tessera.example", origin_info="metro.example")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def issuer(issuer_key: rsa.RSAPrivateKey) -> client.IssuerKey:
    """The issuer key as a client learns it: the published PSS SPKI PEM."""
    return client.IssuerKey.from_spki(keys.public_key_spki_pem(issuer_key.public_key()))


def _issue(issuer_key: rsa.RSAPrivateKey, pending: client.PendingToken) -> bytes:
    """What the server does with a TokenRequest body; returns the TokenResponse body."""
    request = formats.TokenRequest.decode(pending.token_request())
    return formats.sign_token_request(issuer_key, request).encode()


@pytest.fixture(scope="module")
def ticket(issuer_key: rsa.RSAPrivateKey, issuer: client.IssuerKey) -> client.FinishedToken:
    pending = client.request_token(issuer, CHALLENGE)
    return client.finalize(pending, _issue(issuer_key, pending))


def _filter_json(*spent: bytes, valid_for: timedelta = timedelta(hours=1)) -> dict[str, object]:
    bloom = BloomFilter.sized_for(1000, 1e-6)
    bloom.update(spent)
    snapshot = BloomSnapshot(bloom, 1, NOW, NOW + valid_for, 1e-6)
    downloaded: dict[str, object] = json.loads(json.dumps(snapshot.to_json()))
    return downloaded


def test_issued_ticket_is_a_plain_rsassa_pss_signature(
    issuer_key: rsa.RSAPrivateKey, ticket: client.FinishedToken
) -> None:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    issuer_key.public_key().verify(ticket.signature, ticket.token_input, pss, hashes.SHA384())


def test_ticket_carries_the_challenge_digest_and_issuer_key_id(
    issuer: client.IssuerKey, ticket: client.FinishedToken
) -> None:
    parsed = formats.Token.decode(ticket.token())
    assert len(ticket.token()) == 354
    assert parsed.token_input.challenge_digest == CHALLENGE.digest()
    assert parsed.token_input.token_key_id == issuer.key_id
    assert client.verify(issuer, ticket.token_input, ticket.signature)


def test_each_request_has_a_fresh_nonce_and_blinding(issuer: client.IssuerKey) -> None:
    first, second = (client.request_token(issuer, CHALLENGE) for _ in range(2))
    assert first.token_input[2:34] != second.token_input[2:34]
    assert first.blinded_msg != second.blinded_msg
    assert "inv" not in repr(first)  # the unblinding secret stays out of logs


def test_the_request_names_the_issuer_key_by_its_last_byte(issuer: client.IssuerKey) -> None:
    body = client.request_token(issuer, CHALLENGE).token_request()
    assert len(body) == 259
    assert body[:3] == b"\x00\x02" + bytes([issuer.key_id[-1]])


def test_finalize_rejects_an_answer_from_another_key(
    rfc9578_key: rsa.RSAPrivateKey, issuer: client.IssuerKey
) -> None:
    # The other key signs only values below its own modulus; up to half of the blinded messages
    # made for the issuer's modulus are not, so draw requests until one is.
    other_n = rfc9578_key.private_numbers().public_numbers.n
    pending = next(
        p
        for p in (client.request_token(issuer, CHALLENGE) for _ in range(64))
        if int.from_bytes(p.blinded_msg, "big") < other_n
    )
    wrong_sig = crypto.blind_sign(rfc9578_key, pending.blinded_msg)
    with pytest.raises(crypto.InvalidSignature):
        client.finalize(pending, wrong_sig)


def test_finalize_rejects_an_answer_to_another_request(
    issuer_key: rsa.RSAPrivateKey, issuer: client.IssuerKey
) -> None:
    pending, other = (client.request_token(issuer, CHALLENGE) for _ in range(2))
    with pytest.raises(crypto.InvalidSignature):
        client.finalize(pending, _issue(issuer_key, other))


def test_issuer_key_refuses_keys_token_type_2_does_not_allow(
    rfc9474_key: rsa.RSAPrivateKey,
) -> None:
    with pytest.raises(keys.TokenKeyError, match="2048-bit"):
        client.IssuerKey(rfc9474_key.public_key())  # 4096-bit


def test_a_challenge_for_another_token_type_is_refused(issuer: client.IssuerKey) -> None:
    with pytest.raises(formats.FormatError, match="another token type"):
        client.prepare(issuer, client.TokenChallenge("issuer.example", token_type=0x0001))


@settings(max_examples=30, deadline=None, database=None)
@given(
    issuer_name=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    context=st.sampled_from([b"", b"\x07" * 32]),
    bit=st.integers(0, formats.TOKEN_LEN * 8 - 1),
)
def test_any_challenge_yields_a_valid_ticket_and_any_flipped_bit_breaks_it(
    issuer_key: rsa.RSAPrivateKey,
    issuer: client.IssuerKey,
    issuer_name: str,
    context: bytes,
    bit: int,
) -> None:
    pending = client.request_token(issuer, client.TokenChallenge(issuer_name, context))
    ticket = client.finalize(pending, _issue(issuer_key, pending))
    assert client.verify(issuer, ticket.token_input, ticket.signature)

    token = bytearray(ticket.token())
    token[bit // 8] ^= 1 << (bit % 8)
    assert not client.verify(issuer, bytes(token[:98]), bytes(token[98:]))


# --- offline validation --------------------------------------------------------------------------


def test_offline_accepts_an_unspent_ticket(
    issuer: client.IssuerKey, ticket: client.FinishedToken
) -> None:
    others_spent = [hashlib.sha256(bytes([i])).digest() for i in range(50)]
    document = _filter_json(*others_spent)
    verdict = client.offline_check(issuer, ticket.token_input, ticket.signature, document, now=NOW)
    assert verdict is client.OfflineVerdict.ACCEPT
    assert not client.possibly_spent(ticket.token_input, document)


def test_offline_rejects_a_ticket_whose_spent_key_is_in_the_filter(
    issuer: client.IssuerKey, ticket: client.FinishedToken
) -> None:
    document = _filter_json(ticket.spent_key())
    verdict = client.offline_check(issuer, ticket.token_input, ticket.signature, document, now=NOW)
    assert verdict is client.OfflineVerdict.SPENT
    assert client.possibly_spent(ticket.token_input, document)


def test_offline_rejects_a_forged_signature_before_looking_at_the_filter(
    issuer: client.IssuerKey, ticket: client.FinishedToken
) -> None:
    forged = bytes([ticket.signature[0] ^ 1]) + ticket.signature[1:]
    verdict = client.offline_check(issuer, ticket.token_input, forged, _filter_json(), now=NOW)
    assert verdict is client.OfflineVerdict.INVALID


def test_offline_refuses_to_decide_on_an_expired_filter(
    issuer: client.IssuerKey, ticket: client.FinishedToken
) -> None:
    document = _filter_json(valid_for=timedelta(minutes=5))
    late = NOW + timedelta(minutes=5)
    verdict = client.offline_check(issuer, ticket.token_input, ticket.signature, document, now=late)
    assert verdict is client.OfflineVerdict.STALE_FILTER

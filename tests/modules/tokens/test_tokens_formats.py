"""RFC 9578 token type 0x0002: the five published vectors byte for byte, and strict parsing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.protocols.tokens import crypto, formats, keys
from tessera.protocols.tokens.formats import (
    Token,
    TokenChallenge,
    TokenInput,
    TokenRequest,
    TokenResponse,
)

RFC9578_KEY_ID = "ca572f8982a9ca248a3056186322d93ca147266121ddeb5632c07f1f71cd2708"
REJECTED = (formats.FormatError, crypto.BlindRSAError)


def _hex(vector: dict[str, Any], field: str) -> bytes:
    return bytes.fromhex(vector[field])


def test_key_id_is_sha256_of_the_pss_spki(
    rfc9578_vectors: list[dict[str, Any]], rfc9578_key: rsa.RSAPrivateKey
) -> None:
    public_key = rfc9578_key.public_key()
    assert keys.public_key_spki_der(public_key) == _hex(rfc9578_vectors[0], "pkS")
    assert formats.token_key_id(public_key).hex() == RFC9578_KEY_ID
    assert formats.truncated_token_key_id(bytes.fromhex(RFC9578_KEY_ID)) == 0x08
    assert keys.public_key_spki_der(keys.load_public_key(_hex(rfc9578_vectors[0], "pkS"))) == (
        _hex(rfc9578_vectors[0], "pkS")
    )


@pytest.mark.parametrize("index", range(5), ids=lambda i: f"vector-{i + 1}")
def test_rfc9578_type2_vector_byte_for_byte(
    index: int, rfc9578_vectors: list[dict[str, Any]], rfc9578_key: rsa.RSAPrivateKey
) -> None:
    v = rfc9578_vectors[index]
    public_key = rfc9578_key.public_key()
    key_id = formats.token_key_id(public_key)

    challenge = TokenChallenge.decode(_hex(v, "token_challenge"))
    assert challenge.encode() == _hex(v, "token_challenge")
    token_input = TokenInput(_hex(v, "nonce"), challenge.digest(), key_id).encode()

    # Client: blind with the published salt and r, and build the TokenRequest.
    blinding = crypto.blind(
        public_key,
        token_input,
        formats.VARIANT,
        salt=_hex(v, "salt"),
        blinding_factor=int(v["blind"], 16),
    )
    request = TokenRequest(formats.truncated_token_key_id(key_id), blinding.blinded_msg)
    assert request.encode() == _hex(v, "token_request")

    # Issuer: parse the request and answer it.
    response = formats.sign_token_request(
        rfc9578_key, TokenRequest.decode(_hex(v, "token_request"))
    )
    assert response.encode() == _hex(v, "token_response")

    # Client: finalize into the Token.
    received = TokenResponse.decode(_hex(v, "token_response"))
    authenticator = crypto.finalize(
        public_key, token_input, received.blind_sig, blinding.inv, formats.VARIANT
    )
    token = Token(TokenInput.decode(token_input), authenticator)
    assert token.encode() == _hex(v, "token")

    # Verifier: the published token parses back and verifies.
    parsed = Token.decode(_hex(v, "token"))
    assert parsed == token
    assert parsed.token_input.nonce == _hex(v, "nonce")
    formats.verify_token(public_key, parsed.token_input.encode(), parsed.authenticator)


def test_rfc9577_token_inputs_are_reproduced(rfc9577_vectors: dict[str, Any]) -> None:
    type2 = [v for v in rfc9577_vectors["challenge_redemption"] if v["token_type"] == "0002"]
    assert len(type2) == 5
    for v in type2:
        challenge = TokenChallenge(
            bytes.fromhex(v["issuer_name"]).decode("ascii"),
            bytes.fromhex(v["redemption_context"]),
            bytes.fromhex(v["origin_info"]).decode("ascii"),
        )
        token_input = TokenInput(
            bytes.fromhex(v["nonce"]), challenge.digest(), bytes.fromhex(v["token_key_id"])
        )
        assert token_input.encode().hex() == v["token_authenticator_input"]


def test_every_single_bit_flip_of_a_token_is_rejected(
    rfc9578_vectors: list[dict[str, Any]], rfc9578_key: rsa.RSAPrivateKey
) -> None:
    token = _hex(rfc9578_vectors[0], "token")
    public_key = rfc9578_key.public_key()
    formats.verify_token(public_key, token[:98], token[98:])
    accepted = []
    for bit in range(len(token) * 8):
        flipped = bytearray(token)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            formats.verify_token(public_key, bytes(flipped[:98]), bytes(flipped[98:]))
        except REJECTED:
            continue
        accepted.append(bit)
    assert accepted == []


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    nonce=st.binary(min_size=32, max_size=32),
    challenge_digest=st.binary(min_size=32, max_size=32),
    bit=st.integers(0, formats.TOKEN_LEN * 8 - 1),
)
def test_a_flipped_bit_in_a_freshly_issued_token_is_rejected(
    issuer_key: rsa.RSAPrivateKey, nonce: bytes, challenge_digest: bytes, bit: int
) -> None:
    public_key = issuer_key.public_key()
    token_input = TokenInput(nonce, challenge_digest, formats.token_key_id(public_key)).encode()
    blinding = crypto.blind(public_key, token_input, formats.VARIANT)
    blind_sig = crypto.blind_sign(issuer_key, blinding.blinded_msg)
    authenticator = crypto.finalize(
        public_key, token_input, blind_sig, blinding.inv, formats.VARIANT
    )
    token = bytearray(token_input + authenticator)
    formats.verify_token(public_key, bytes(token[:98]), bytes(token[98:]))

    token[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(REJECTED):
        formats.verify_token(public_key, bytes(token[:98]), bytes(token[98:]))


def test_a_token_of_another_issuer_key_is_rejected_even_if_its_signature_is_valid(
    rfc9578_vectors: list[dict[str, Any]], issuer_key: rsa.RSAPrivateKey
) -> None:
    token = _hex(rfc9578_vectors[0], "token")
    with pytest.raises(formats.FormatError, match="different key"):
        formats.verify_token(issuer_key.public_key(), token[:98], token[98:])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x02\x08" + b"\x01" * 255, "truncated"),
        (b"\x00\x02\x08" + b"\x01" * 257, "trailing"),
        (b"\x00\x01\x08" + b"\x01" * 256, "token type"),
        (b"", "truncated"),
    ],
    ids=["short", "long", "wrong-type", "empty"],
)
def test_token_request_parsing_is_strict(data: bytes, message: str) -> None:
    with pytest.raises(formats.FormatError, match=message):
        TokenRequest.decode(data)


def test_token_and_response_parsing_is_strict(rfc9578_vectors: list[dict[str, Any]]) -> None:
    token = _hex(rfc9578_vectors[0], "token")
    for bad in (token[:-1], token + b"\x00", b"\x00\x01" + token[2:]):
        with pytest.raises(formats.FormatError):
            Token.decode(bad)
    for bad in (b"\x01" * 255, b"\x01" * 257):
        with pytest.raises(formats.FormatError):
            TokenResponse.decode(bad)
    with pytest.raises(formats.FormatError):
        TokenInput.decode(token)  # a whole token is not a token_input


def test_issuer_refuses_a_request_for_another_key(
    rfc9578_vectors: list[dict[str, Any]], rfc9578_key: rsa.RSAPrivateKey
) -> None:
    request = TokenRequest.decode(_hex(rfc9578_vectors[0], "token_request"))
    other = TokenRequest(request.truncated_token_key_id ^ 0xFF, request.blinded_msg)
    with pytest.raises(formats.FormatError, match="another key"):
        formats.sign_token_request(rfc9578_key, other)


def test_issuer_refuses_a_blinded_message_not_below_n(rfc9578_key: rsa.RSAPrivateKey) -> None:
    truncated = formats.truncated_token_key_id(formats.token_key_id(rfc9578_key.public_key()))
    with pytest.raises(crypto.InvalidInput):
        formats.sign_token_request(rfc9578_key, TokenRequest(truncated, b"\xff" * 256))


@pytest.mark.parametrize(
    "challenge",
    [
        b"\x00\x02\x00\x00\x00\x00\x00",  # empty issuer_name
        b"\x00\x02\x00\x01a\x10" + b"\x00" * 16 + b"\x00\x00",  # 16-byte redemption_context
        b"\x00\x02\x00\x05a\x00\x00\x00",  # issuer_name longer than the data
        b"\x00\x02\x00\x01a\x00\x00\x00\x00",  # trailing byte
        b"\x00\x02\x00\x01\xff\x00\x00\x00",  # non-ASCII name
    ],
)
def test_malformed_token_challenges_are_rejected(challenge: bytes) -> None:
    with pytest.raises(formats.FormatError):
        TokenChallenge.decode(challenge)


def test_spent_key_is_domain_separated_and_refuses_anything_but_a_token_input(
    rfc9578_vectors: list[dict[str, Any]],
) -> None:
    token = _hex(rfc9578_vectors[0], "token")
    expected = hashlib.sha256(b"tessera-spent-v1" + token[:98]).digest()
    assert formats.spent_key(token[:98]) == expected
    assert formats.spent_key(token[:98]) != hashlib.sha256(token[:98]).digest()
    with pytest.raises(formats.FormatError):
        formats.spent_key(token)  # would make the signature part of the key
    with pytest.raises(formats.FormatError):
        formats.spent_key(b"\x00\x01" + token[2:98])

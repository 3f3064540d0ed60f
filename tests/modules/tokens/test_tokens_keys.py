"""Issuer key helpers: published encodings and private keys at rest."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.protocols.tokens import keys
from tessera.protocols.tokens.formats import token_key_id

KEK = keys.kek_from_secret("a configured secret of sufficient length")


def test_generated_key_is_a_valid_token_key(issuer_key: rsa.RSAPrivateKey) -> None:
    assert issuer_key.key_size == 2048
    keys.require_token_key(issuer_key.public_key())


def test_published_encodings_load_back_to_the_same_key(issuer_key: rsa.RSAPrivateKey) -> None:
    public_key = issuer_key.public_key()
    der = keys.public_key_spki_der(public_key)
    assert der[:4] == bytes.fromhex("30820152") and len(der) == 342
    for encoded in (der, keys.public_key_spki_pem(public_key).encode("ascii")):
        assert keys.load_public_key(encoded).public_numbers() == public_key.public_numbers()
    from_n = keys.public_key_from_n_e(keys.public_key_n_b64url(public_key))
    assert token_key_id(from_n) == token_key_id(public_key)
    assert "=" not in keys.public_key_n_b64url(public_key)


def test_sealed_private_key_opens_only_with_the_same_kek_and_context(
    issuer_key: rsa.RSAPrivateKey,
) -> None:
    key_id = token_key_id(issuer_key.public_key())
    sealed = keys.seal_private_key(issuer_key, KEK, associated_data=key_id)
    opened = keys.unseal_private_key(sealed, KEK, associated_data=key_id)
    assert opened.private_numbers() == issuer_key.private_numbers()
    assert sealed != keys.seal_private_key(issuer_key, KEK, associated_data=key_id)  # fresh nonce

    other_kek = keys.kek_from_secret("another configured secret, also long")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for blob, kek, context in [
        (sealed, other_kek, key_id),
        (sealed, KEK, bytes(32)),
        (tampered, KEK, key_id),
        (b"\x02" + sealed[1:], KEK, key_id),
    ]:
        with pytest.raises(keys.TokenKeyError):
            keys.unseal_private_key(blob, kek, associated_data=context)


def test_short_secrets_and_keks_are_refused(issuer_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(keys.TokenKeyError):
        keys.kek_from_secret("short")
    with pytest.raises(keys.TokenKeyError):
        keys.seal_private_key(issuer_key, b"\x00" * 16)


def test_pem_key_files_round_trip_with_and_without_password(
    issuer_key: rsa.RSAPrivateKey,
) -> None:
    plain = keys.private_key_to_pem(issuer_key)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    locked = keys.private_key_to_pem(issuer_key, b"hunter2-but-longer")
    assert b"ENCRYPTED" in locked
    for pem, password in [(plain, None), (locked, b"hunter2-but-longer")]:
        loaded = keys.load_private_key_pem(pem, password)
        assert loaded.private_numbers() == issuer_key.private_numbers()
    for pem, password in [(locked, None), (locked, b"wrong"), (b"garbage", None)]:
        with pytest.raises(keys.TokenKeyError):
            keys.load_private_key_pem(pem, password)


def test_keys_of_the_wrong_shape_are_refused(
    rfc9474_key: rsa.RSAPrivateKey, issuer_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(keys.TokenKeyError, match="2048-bit"):
        keys.require_token_key(rfc9474_key.public_key())  # 4096-bit
    e3 = rsa.RSAPublicNumbers(3, issuer_key.public_key().public_numbers().n).public_key()
    with pytest.raises(keys.TokenKeyError, match="e = 65537"):
        keys.require_token_key(e3)

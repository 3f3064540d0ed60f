"""RFC 9474 blind RSA: Appendix A byte for byte, and the checks a signing oracle must make."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.protocols.tokens import crypto

VARIANT_NAMES = [
    "RSABSSA-SHA384-PSS-Randomized",
    "RSABSSA-SHA384-PSSZERO-Randomized",
    "RSABSSA-SHA384-PSS-Deterministic",
    "RSABSSA-SHA384-PSSZERO-Deterministic",
]
FAST = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _vector(vectors: list[dict[str, str]], name: str) -> dict[str, bytes]:
    (vector,) = (v for v in vectors if v["name"] == name)
    return {field: bytes.fromhex(value) for field, value in vector.items() if field != "name"}


def _n(key: rsa.RSAPrivateKey) -> int:
    return key.public_key().public_numbers().n


def test_the_vector_file_has_all_four_variants(rfc9474_vectors: list[dict[str, str]]) -> None:
    assert sorted(v["name"] for v in rfc9474_vectors) == sorted(VARIANT_NAMES)
    assert set(VARIANT_NAMES) == set(crypto.VARIANTS)


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_rfc9474_appendix_a_byte_for_byte(
    name: str, rfc9474_vectors: list[dict[str, str]], rfc9474_key: rsa.RSAPrivateKey
) -> None:
    v = _vector(rfc9474_vectors, name)
    variant = crypto.VARIANTS[name]
    public_key = rfc9474_key.public_key()
    n = _n(rfc9474_key)
    inv = int.from_bytes(v["inv"], "big")

    input_msg = crypto.prepare(v["msg"], variant, msg_prefix=v["msg_prefix"] or None)
    assert input_msg == v["prepared_msg"]
    assert crypto.emsa_pss_encode(input_msg, public_key.key_size - 1, v["salt"]) == v["encoded_msg"]

    blinding = crypto.blind(
        public_key, input_msg, variant, salt=v["salt"], blinding_factor=pow(inv, -1, n)
    )
    assert blinding.blinded_msg == v["blinded_msg"]
    assert blinding.inv == inv

    blind_sig = crypto.blind_sign(rfc9474_key, v["blinded_msg"])
    assert blind_sig == v["blind_sig"]

    sig = crypto.finalize(public_key, input_msg, blind_sig, inv, variant)
    assert sig == v["sig"]
    crypto.verify(public_key, v["prepared_msg"], v["sig"], variant)


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_vector_signature_is_plain_rsassa_pss_and_salt_length_is_strict(
    name: str, rfc9474_vectors: list[dict[str, str]], rfc9474_key: rsa.RSAPrivateKey
) -> None:
    v = _vector(rfc9474_vectors, name)
    variant = crypto.VARIANTS[name]
    public_key = rfc9474_key.public_key()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=variant.salt_len)
    public_key.verify(v["sig"], v["prepared_msg"], pss, hashes.SHA384())

    # The same signature under the sibling variant (other salt length) must not verify.
    (sibling,) = (
        other
        for other in crypto.VARIANTS.values()
        if other.randomized == variant.randomized and other.salt_len != variant.salt_len
    )
    assert not crypto.is_valid(public_key, v["prepared_msg"], v["sig"], sibling)
    if variant.randomized:  # the verifier must get the prefix too, not the bare message
        assert not crypto.is_valid(public_key, v["msg"], v["sig"], variant)


@pytest.mark.parametrize("variant", list(crypto.VARIANTS.values()), ids=lambda v: v.name)
def test_round_trip_with_fresh_randomness(
    variant: crypto.Variant, issuer_key: rsa.RSAPrivateKey
) -> None:
    public_key = issuer_key.public_key()
    input_msgs = [crypto.prepare(b"ride 42", variant) for _ in range(2)]
    blindings = [crypto.blind(public_key, m, variant) for m in input_msgs]
    # Fresh r every time: the issuer never sees the same blinded message twice.
    assert blindings[0].blinded_msg != blindings[1].blinded_msg
    assert (input_msgs[0] != input_msgs[1]) == variant.randomized

    for input_msg, blinding in zip(input_msgs, blindings, strict=True):
        blind_sig = crypto.blind_sign(issuer_key, blinding.blinded_msg)
        sig = crypto.finalize(public_key, input_msg, blind_sig, blinding.inv, variant)
        crypto.verify(public_key, input_msg, sig, variant)
        assert blind_sig != sig  # the issuer's view differs from the published signature


def test_finalize_rejects_a_signature_over_another_message(issuer_key: rsa.RSAPrivateKey) -> None:
    public_key = issuer_key.public_key()
    variant = crypto.PSS_DETERMINISTIC
    signed = crypto.blind(public_key, b"message the issuer signed", variant)
    blind_sig = crypto.blind_sign(issuer_key, signed.blinded_msg)
    with pytest.raises(crypto.InvalidSignature):
        crypto.finalize(public_key, b"another message", blind_sig, signed.inv, variant)


def test_finalize_rejects_the_wrong_size(issuer_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(crypto.InvalidInput):
        crypto.finalize(issuer_key.public_key(), b"m", b"\x01" * 255, 3, crypto.PSS_DETERMINISTIC)


@FAST
@given(length=st.integers(min_value=0, max_value=600).filter(lambda n: n != 256))
def test_blind_sign_rejects_inputs_of_the_wrong_length(
    rfc9578_key: rsa.RSAPrivateKey, length: int
) -> None:
    with pytest.raises(crypto.InvalidInput, match="modulus_len"):
        crypto.blind_sign(rfc9578_key, b"\x01" * length)


@FAST
@given(data=st.data())
def test_blind_sign_rejects_representatives_not_below_n(
    rfc9578_key: rsa.RSAPrivateKey, data: st.DataObject
) -> None:
    n = _n(rfc9578_key)
    value = data.draw(st.one_of(st.just(0), st.just(n), st.integers(n, 2**2048 - 1)))
    with pytest.raises(crypto.InvalidInput, match="out of range"):
        crypto.blind_sign(rfc9578_key, value.to_bytes(256, "big"))


@FAST
@given(data=st.data())
def test_blind_sign_output_always_verifies_under_the_public_exponent(
    rfc9578_key: rsa.RSAPrivateKey, data: st.DataObject
) -> None:
    n = _n(rfc9578_key)
    m = data.draw(st.integers(1, n - 1))
    s = int.from_bytes(crypto.blind_sign(rfc9578_key, m.to_bytes(256, "big")), "big")
    assert pow(s, 65537, n) == m


def test_a_faulty_private_operation_is_caught_not_returned(
    rfc9578_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate a glitch in one CRT half (the Bellcore attack: one such signature factors n).
    honest = crypto._rsasp1_crt

    def glitched(numbers: rsa.RSAPrivateNumbers, c: int) -> int:
        return honest(numbers, c) + numbers.q

    monkeypatch.setattr(crypto, "_rsasp1_crt", glitched)
    with pytest.raises(crypto.SigningFailure):
        crypto.blind_sign(rfc9578_key, (12345).to_bytes(256, "big"))


@FAST
@given(data=st.data())
def test_signatures_not_below_n_are_invalid(
    rfc9578_vectors: list[dict[str, str]], rfc9578_key: rsa.RSAPrivateKey, data: st.DataObject
) -> None:
    token_input = bytes.fromhex(rfc9578_vectors[0]["token"])[:98]
    n = _n(rfc9578_key)
    forged = data.draw(st.one_of(st.just(n), st.integers(n, 2**2048 - 1))).to_bytes(256, "big")
    with pytest.raises(crypto.InvalidSignature, match="canonical"):
        crypto.verify(rfc9578_key.public_key(), token_input, forged, crypto.PSS_DETERMINISTIC)


def test_a_valid_signature_shifted_by_n_is_invalid(
    rfc9578_vectors: list[dict[str, str]], rfc9578_key: rsa.RSAPrivateKey
) -> None:
    # s + n is congruent to a valid s: accepting it would give one token two encodings (circl #615).
    token = bytes.fromhex(rfc9578_vectors[1]["token"])  # vector 2: s + n still fits in 256 bytes
    token_input, s = token[:98], int.from_bytes(token[98:], "big")
    public_key = rfc9578_key.public_key()
    assert crypto.is_valid(public_key, token_input, token[98:], crypto.PSS_DETERMINISTIC)
    shifted = (s + _n(rfc9578_key)).to_bytes(256, "big")
    assert not crypto.is_valid(public_key, token_input, shifted, crypto.PSS_DETERMINISTIC)


def test_injected_randomness_of_the_wrong_shape_is_refused(issuer_key: rsa.RSAPrivateKey) -> None:
    public_key = issuer_key.public_key()
    with pytest.raises(crypto.InvalidInput):
        crypto.prepare(b"m", crypto.PSS_RANDOMIZED, msg_prefix=b"short")
    with pytest.raises(crypto.InvalidInput):
        crypto.blind(public_key, b"m", crypto.PSSZERO_DETERMINISTIC, salt=b"\x00" * 48)
    with pytest.raises(crypto.InvalidInput):
        crypto.blind(public_key, b"m", crypto.PSS_DETERMINISTIC, blinding_factor=0)


def test_a_modulus_too_small_for_the_salt_cannot_encode() -> None:
    with pytest.raises(crypto.MessageTooLong):
        crypto.emsa_pss_encode(b"m", 8 * 97, b"\x00" * 48)  # needs 48 + 48 + 2 = 98 bytes

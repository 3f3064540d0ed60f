"""The `sha256-km-v1` spent-token Bloom filter: the proposal fixture byte for byte; its promises."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.protocols.tokens.bloom import (
    BloomFilter,
    BloomFormatError,
    BloomSnapshot,
    bloom_parameters,
)

GENERATED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SPEC_FIELDS = {"version", "generated_at", "valid_until", "n", "m", "k", "p", "hash", "salt", "bits"}
SALT = bytes(range(16))


def _element(label: bytes, i: int) -> bytes:
    return hashlib.sha256(label + i.to_bytes(4, "big")).digest()


@pytest.fixture(scope="module")
def proposal_filter(bloom_proposal: dict[str, Any]) -> BloomFilter:
    params = bloom_proposal["params"]
    bloom = BloomFilter(params["m_bits"], params["k"], bytes.fromhex(params["salt_hex"]))
    bloom.update(bytes.fromhex(member) for member in bloom_proposal["members_hex"])
    return bloom


def _snapshot(bloom: BloomFilter, p: float = 1e-6) -> BloomSnapshot:
    return BloomSnapshot(bloom, 7, GENERATED_AT, GENERATED_AT + timedelta(hours=1), p)


# --- the proposal fixture ----------------------------------------------------------------------


def test_sizing_reproduces_the_fixture_parameters(bloom_proposal: dict[str, Any]) -> None:
    params = bloom_proposal["params"]
    assert bloom_parameters(params["n_inserted"], params["target_fp"]) == (
        params["m_bits"],
        params["k"],
    )


@pytest.mark.parametrize(
    ("p", "bits_per_element", "k"),
    [(1e-2, 9.59, 7), (1e-3, 14.38, 10), (1e-4, 19.17, 13), (1e-6, 28.76, 20), (1e-9, 43.13, 30)],
)
def test_sizing_matches_the_textbook_table(p: float, bits_per_element: float, k: int) -> None:
    m, got_k = bloom_parameters(1_000_000, p)
    assert m % 8 == 0
    assert m / 1_000_000 == pytest.approx(bits_per_element, abs=0.01)
    assert got_k == k


def test_fixture_elements_and_salt_are_what_the_fixture_says(
    bloom_proposal: dict[str, Any],
) -> None:
    members = [_element(b"bloom-test-element", i).hex() for i in range(100)]
    non_members = [_element(b"bloom-test-non-member", i).hex() for i in range(20)]
    assert members == bloom_proposal["members_hex"]
    assert non_members == [nm["element_hex"] for nm in bloom_proposal["non_members"]]
    salt = hashlib.sha256(b"bloom-test-salt").digest()[:16]
    assert salt.hex() == bloom_proposal["params"]["salt_hex"]


def test_example_indices(bloom_proposal: dict[str, Any], proposal_filter: BloomFilter) -> None:
    example = bloom_proposal["example"]
    assert proposal_filter.indices(bytes.fromhex(example["element_hex"])) == example["indices"]


def test_bit_array_byte_for_byte(
    bloom_proposal: dict[str, Any], proposal_filter: BloomFilter
) -> None:
    assert proposal_filter.to_bytes().hex() == bloom_proposal["bits_hex"]


def test_membership_answers_match_the_fixture(
    bloom_proposal: dict[str, Any], proposal_filter: BloomFilter
) -> None:
    assert all(bytes.fromhex(m) in proposal_filter for m in bloom_proposal["members_hex"])
    for non_member in bloom_proposal["non_members"]:
        element = bytes.fromhex(non_member["element_hex"])
        assert (element in proposal_filter) is non_member["expected_contains"]


# --- JSON envelope -----------------------------------------------------------------------------


def test_json_document_has_the_spec_shape_and_round_trips(
    bloom_proposal: dict[str, Any], proposal_filter: BloomFilter
) -> None:
    document = json.loads(json.dumps(_snapshot(proposal_filter).to_json()))
    assert set(document) == SPEC_FIELDS
    assert document["hash"] == "sha256-km-v1"
    assert (document["n"], document["m"], document["k"]) == (100, 2880, 20)
    assert document["salt"] == bloom_proposal["params"]["salt_hex"]
    assert base64.b64decode(document["bits"]).hex() == bloom_proposal["bits_hex"]
    assert document["generated_at"] == "2025-03-01T12:00:00Z"

    parsed = BloomSnapshot.from_json(document)
    assert parsed == _snapshot(proposal_filter)
    assert parsed.filter.count == 100
    assert parsed.valid_until == GENERATED_AT + timedelta(hours=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hash": "murmur3"}, "unsupported filter hash"),
        ({"bits": base64.b64encode(b"\x00" * 10).decode()}, "m/8"),
        ({"bits": "not base64!"}, "malformed"),
        ({"m": 2881}, "multiple of 8"),
        ({"k": 0}, "k must be"),
        ({"k": True}, "'k' must be int"),
        ({"salt": "00"}, "salt"),
        ({"valid_until": "2025-03-01T13:00:00"}, "UTC offset"),
        ({"p": "tiny"}, "'p' must be float"),
    ],
)
def test_malformed_documents_are_refused(
    proposal_filter: BloomFilter, change: dict[str, object], message: str
) -> None:
    document = {**_snapshot(proposal_filter).to_json(), **change}
    with pytest.raises(BloomFormatError, match=message):
        BloomSnapshot.from_json(document)


def test_snapshot_currency_follows_valid_until(proposal_filter: BloomFilter) -> None:
    snapshot = _snapshot(proposal_filter)
    assert snapshot.is_current(GENERATED_AT + timedelta(minutes=59))
    assert not snapshot.is_current(GENERATED_AT + timedelta(hours=1))


# --- behaviour ---------------------------------------------------------------------------------


def test_union_equals_the_filter_of_all_elements() -> None:
    elements = [_element(b"union", i) for i in range(200)]
    left, right, whole = (BloomFilter.sized_for(200, 1e-4, salt=SALT) for _ in range(3))
    left.update(elements[:120])
    right.update(elements[120:])
    whole.update(elements)
    merged = left.union(right)
    assert merged == whole
    assert merged.count == 200


def test_union_refuses_filters_with_different_salts() -> None:
    with pytest.raises(BloomFormatError, match="same m, k and salt"):
        BloomFilter.sized_for(10, 1e-3).union(BloomFilter.sized_for(10, 1e-3))


def test_fresh_filters_get_independent_random_salts() -> None:
    assert BloomFilter.sized_for(10, 1e-3).salt != BloomFilter.sized_for(10, 1e-3).salt


def test_elements_must_be_32_byte_spent_keys() -> None:
    bloom = BloomFilter.sized_for(10, 1e-3)
    with pytest.raises(BloomFormatError, match="32-byte"):
        bloom.add(b"short")


def test_false_positive_rate_is_within_twice_the_target_and_there_are_no_false_negatives() -> None:
    n, target = 20_000, 1e-3
    bloom = BloomFilter.sized_for(n, target, salt=SALT)
    members = [_element(b"spent", i) for i in range(n)]
    bloom.update(members)
    assert all(member in bloom for member in members)

    trials = 100_000
    false_positives = sum(_element(b"fresh", i) in bloom for i in range(trials))
    assert false_positives / trials <= 2 * target


@settings(max_examples=50, deadline=None, database=None)
@given(
    elements=st.lists(st.binary(min_size=32, max_size=32), max_size=300, unique=True),
    p=st.sampled_from([0.5, 0.1, 1e-3, 1e-6]),
    salt=st.binary(min_size=16, max_size=16),
)
def test_no_false_negatives_and_json_round_trip(
    elements: list[bytes], p: float, salt: bytes
) -> None:
    bloom = BloomFilter.sized_for(len(elements), p, salt=salt)
    bloom.update(elements)
    restored = BloomSnapshot.from_json(json.loads(json.dumps(_snapshot(bloom, p).to_json())))
    assert all(element in restored.filter for element in elements)
    assert restored.filter == bloom

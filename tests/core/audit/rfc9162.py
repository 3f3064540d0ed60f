"""An independent RFC 9162 verifier, written from the RFC's text for the tests: §2.1.1 (the
tree hash, recursively), §2.1.3.2 (verifying an inclusion proof) and §2.1.4.2 (verifying a
consistency proof). It shares nothing with `tessera.core.audit.merkle`, which *builds* trees
and proofs by another route (stored subtrees and a frontier)."""

from __future__ import annotations

import hashlib
import struct


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *data*, exactly as §2.1.1 defines it."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def verify_inclusion(
    leaf_hash: bytes, leaf_index: int, tree_size: int, path: list[bytes], root: bytes
) -> bool:
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]
) -> bool:
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def tree_head_message(tree_size: int, timestamp_ms: int, root: bytes) -> bytes:
    """TreeHeadDataV2 (§4.10) in TLS encoding: the bytes the Ed25519 signature covers."""
    return (
        timestamp_ms.to_bytes(8, "big")
        + struct.pack(">Q", tree_size)
        + bytes([len(root)])
        + root
        + (0).to_bytes(2, "big")
    )

"""RFC 9162 §2.1 Merkle trees: hashing, the compact frontier, inclusion and consistency proofs.

Pure functions, no database. A tree of `n` leaves is stored as its *perfect* subtrees only:
node `(level, index)` is the hash of leaves `[index·2^level, (index+1)·2^level)`. Every range
the RFC's algorithms split a tree into is either such a node or a right edge that splits again
at the largest power of two, so any hash a proof needs is a fold of stored nodes
(`range_hash`). `get_node` fetches one stored node; the callers pass one that reads the
database (with a cache) or a dict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], Awaitable[bytes]]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees a tree of `size` leaves decomposes into, largest (leftmost) first."""
    nodes, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def root_of_frontier(frontier: list[bytes]) -> bytes:
    """MTH of the whole tree from its perfect subtrees (largest first): a right fold."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


class Frontier:
    """The right edge of a growing tree: append leaves, get the nodes each append completes."""

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None) -> None:
        self.size = size
        # (level, hash) of each perfect subtree, largest first, as `frontier_nodes(size)`.
        self.stack: list[tuple[int, bytes]] = [
            (level, h) for (level, _), h in zip(frontier_nodes(size), hashes or [], strict=True)
        ]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; returns the completed nodes (level ≥ 1, index, hash), lowest first."""
        index = self.size
        self.size += 1
        level, current = 0, leaf
        made = []
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            current = node_hash(left, current)
            level += 1
            made.append((level, index >> level, current))
        self.stack.append((level, current))
        return made

    def root(self) -> bytes:
        return root_of_frontier([h for _, h in self.stack])


async def range_hash(get_node: NodeGetter, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC algorithms produce (start aligned to the split)."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return await get_node(level, start >> level)
    k = largest_power_of_two_below(n)
    return node_hash(
        await range_hash(get_node, start, start + k), await range_hash(get_node, start + k, end)
    )


async def inclusion_path(get_node: NodeGetter, index: int, size: int) -> list[bytes]:
    """PATH(m, D[0:n]) of RFC 9162 §2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")

    async def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = largest_power_of_two_below(n)
        if m < start + k:
            return [*await path(m, start, start + k), await range_hash(get_node, start + k, end)]
        return [*await path(m, start + k, end), await range_hash(get_node, start, start + k)]

    return await path(index, 0, size)


async def consistency_path(get_node: NodeGetter, first: int, second: int) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1: empty when m == n or m == 0."""
    if not 0 <= first <= second:
        raise ValueError("the first tree must not be larger than the second")
    if first in (0, second):
        return []

    async def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [await range_hash(get_node, start, end)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return [
                *await subproof(m, start, start + k, whole),
                await range_hash(get_node, start + k, end),
            ]
        return [
            *await subproof(m - k, start + k, end, False),
            await range_hash(get_node, start, start + k),
        ]

    return await subproof(first, 0, second, True)

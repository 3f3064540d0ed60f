"""What an outside auditor asks for: the latest signed tree head, an inclusion proof for one
row, a consistency proof between two signed tree sizes (RFC 9162 §2.1.3, §2.1.4)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import merkle
from tessera.core.audit.models import AuditLog, AuditTreeHead
from tessera.core.audit.repository import AuditRepository
from tessera.core.audit.service import leaf_data
from tessera.core.errors import Conflict, NotFound, Unprocessable


class NoTreeHead(NotFound):
    code = "tree_head_not_found"
    detail = "No signed tree head of that size (none yet, or not a size that was signed)"


class AuditRowNotFound(NotFound):
    code = "audit_row_not_found"
    detail = "Audit row not found"


class NotSequencedYet(Conflict):
    code = "audit_row_not_sequenced"
    detail = "The row is not in that tree head yet; retry after the maximum merge delay"


class BadTreeSizes(Unprocessable):
    code = "invalid_tree_sizes"
    detail = "The first tree size must not be larger than the second"


@dataclass(frozen=True)
class SignedHead:
    head: AuditTreeHead
    public_key: str


@dataclass(frozen=True)
class Inclusion:
    audit_id: str
    log_index: int
    tree_size: int
    leaf_hash: str
    leaf_data: str
    path: list[str]


class AuditProofs:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = AuditRepository(session)
        self._cache: dict[tuple[int, int], bytes] = {}

    async def _node(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        if key not in self._cache:
            stored = await self.repo.node(level, idx)
            if stored is None:
                raise RuntimeError(f"audit tree node {key} is missing; run `tessera audit verify`")
            self._cache[key] = bytes.fromhex(stored)
        return self._cache[key]

    async def head(self, size: int | None = None) -> SignedHead:
        head = await (self.repo.latest_head() if size is None else self.repo.head_of_size(size))
        if head is None:
            raise NoTreeHead()
        public = (await self.repo.public_keys()).get(head.key_id, "")
        return SignedHead(head, public)

    async def inclusion(self, audit_id: str, tree_size: int | None = None) -> Inclusion:
        head = (await self.head(tree_size)).head
        row = await self.repo.session.get(AuditLog, audit_id)
        if row is None:
            raise AuditRowNotFound()
        if row.log_index is None or row.log_index >= head.tree_size or row.leaf_hash is None:
            raise NotSequencedYet()
        path = await merkle.inclusion_path(self._node, row.log_index, head.tree_size)
        return Inclusion(
            audit_id=row.id,
            log_index=row.log_index,
            tree_size=head.tree_size,
            leaf_hash=row.leaf_hash,
            leaf_data=leaf_data(row).decode(),
            path=[h.hex() for h in path],
        )

    async def consistency(
        self, first: int, second: int | None = None
    ) -> tuple[int, int, list[str]]:
        new = (await self.head(second)).head
        if first > new.tree_size or first < 0:
            raise BadTreeSizes()
        if first:
            await self.head(first)  # the older size must have been signed too
        path = await merkle.consistency_path(self._node, first, new.tree_size)
        return first, new.tree_size, [h.hex() for h in path]

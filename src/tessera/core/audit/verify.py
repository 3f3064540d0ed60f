"""`tessera audit verify`: recompute the whole log and name the first thing that is wrong.

Streams the sequenced rows by log index and, for each one, recomputes its leaf hash from its
content and compares it with the stored one; rebuilds the Merkle tree from those recomputed
leaves and compares every perfect subtree with the stored node (the ones proofs are served
from); at every signed tree head's size compares the recomputed root with the signed root and
checks the Ed25519 signature. Two tree heads that both match the recomputed tree are
consistent with each other by construction. Finally it reports rows still unsequenced past
the maximum merge delay.

A gap in the log indexes is a deleted row; a leaf that no longer matches its row is an edited
row; a subtree that no longer matches is rows moved to other places (or edited together with
their stored leaf hash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import keys
from tessera.core.audit.merkle import Frontier, leaf_hash
from tessera.core.audit.models import AuditTreeHead
from tessera.core.audit.repository import AuditRepository
from tessera.core.audit.service import leaf_data
from tessera.core.db.base import utcnow

PAGE = 4096  # a power of two: each page's stored subtrees up to level 12 are read at once
PAGE_LEVELS = PAGE.bit_length() - 1


@dataclass
class LogReport:
    rows: int = 0
    tree_heads: int = 0
    problem: str | None = None  # the first thing found wrong (verification stops there)
    late: list[str] = field(default_factory=list)  # rows unsequenced past the merge delay

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.late


def _describe(row_id: str, index: int) -> str:
    return f"row log_index={index} id={row_id}"


async def verify_log(session: AsyncSession, *, max_merge_delay: float) -> LogReport:
    repo = AuditRepository(session)
    report = LogReport()
    heads = list(await repo.heads())
    public = await repo.public_keys()
    pending: list[AuditTreeHead] = list(heads)
    frontier = Frontier()
    stored_nodes: dict[tuple[int, int], str] = {}
    after = -1

    def check_head(head: AuditTreeHead) -> str | None:
        report.tree_heads += 1
        if frontier.root().hex() != head.root_hash:
            return (
                f"tree head of size {head.tree_size} does not match the rows: its root"
                f" {head.root_hash}, recomputed {frontier.root().hex()}"
            )
        message = keys.tree_head_data(
            head.tree_size, head.timestamp_ms, bytes.fromhex(head.root_hash)
        )
        key = public.get(head.key_id)
        if key is None or not keys.verify_signature(key, head.signature, message):
            return f"tree head of size {head.tree_size} has a bad signature"
        return None

    previous_ts = -1
    for head in heads:
        if head.timestamp_ms < previous_ts:
            report.problem = f"tree head of size {head.tree_size} is older than the one before"
            return report
        previous_ts = head.timestamp_ms
    while pending and pending[0].tree_size == 0:
        report.problem = check_head(pending.pop(0))
        if report.problem:
            return report

    while True:
        rows = await repo.sequenced_page(after, PAGE)
        if not rows:
            break
        session.expunge_all()
        for row in rows:
            index = frontier.size
            assert row.log_index is not None
            if row.log_index != index:
                report.problem = (
                    f"log index {index} is missing (a deleted row); next is"
                    f" {_describe(row.id, row.log_index)}"
                )
                return report
            if index % PAGE == 0:  # rows are contiguous from 0, so pages are aligned
                stored_nodes = await repo.nodes_in(index, index + PAGE, PAGE_LEVELS)
            leaf = leaf_hash(leaf_data(row))
            if leaf.hex() != row.leaf_hash:
                report.problem = f"{_describe(row.id, index)}: content does not match its leaf hash"
                return report
            for level, idx, node in frontier.append(leaf):
                stored = stored_nodes.get((level, idx))
                if stored is None and level > PAGE_LEVELS:
                    stored = await repo.node(level, idx)
                if stored != node.hex():
                    first = idx << level
                    report.problem = (
                        f"rows at log_index {first}…{first + (1 << level) - 1} are out of order"
                        f" or rewritten (subtree ({level}, {idx}) does not match); the"
                        f" latest of them is {_describe(row.id, index)}"
                    )
                    return report
            report.rows += 1
            while pending and pending[0].tree_size == frontier.size:
                report.problem = check_head(pending.pop(0))
                if report.problem:
                    return report
        last = rows[-1].log_index
        assert last is not None
        after = last
    if pending:
        report.problem = (
            f"tree head of size {pending[0].tree_size} but only {frontier.size} rows are"
            f" sequenced: rows {frontier.size}…{pending[0].tree_size - 1} are missing"
        )
        return report
    cutoff = utcnow() - timedelta(seconds=max_merge_delay)
    late = await repo.count_unsequenced_before(cutoff)
    if late:
        oldest = await repo.oldest_unsequenced()
        assert oldest is not None
        report.late.append(
            f"{late} row(s) unsequenced past the maximum merge delay of {max_merge_delay:g} s;"
            f" oldest id={oldest.id} from {oldest.created_at.isoformat()}"
        )
    return report

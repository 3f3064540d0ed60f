"""Admin endpoints an outside auditor needs: the latest signed tree head, an inclusion proof,
a consistency proof. Hashes and signatures are lower-case hex; see `docs/audit.md` for a
script that checks them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tessera.core.audit.proofs import AuditProofs, SignedHead
from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.core.identity.deps import AdminUser

router = APIRouter(prefix="/admin/audit", tags=["admin"], responses=error_responses(401, 403))

TreeSize = Annotated[int | None, Query(ge=0, le=2**62, description="A signed tree size")]


class TreeHeadOut(BaseModel):
    tree_size: int
    root_hash: str
    timestamp: int = Field(description="Milliseconds since the Unix epoch, as signed")
    signature: str = Field(description="Ed25519 over RFC 9162 TreeHeadDataV2 (see docs)")
    key_id: str
    public_key: str = Field(description="The raw 32-byte Ed25519 public key, hex")

    @classmethod
    def of(cls, signed: SignedHead) -> TreeHeadOut:
        head = signed.head
        return cls(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp=head.timestamp_ms,
            signature=head.signature,
            key_id=head.key_id,
            public_key=signed.public_key,
        )


class InclusionOut(BaseModel):
    audit_id: str
    log_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 ‖ leaf_data)")
    leaf_data: str = Field(description="The row's canonical JSON, exactly the hashed bytes")
    audit_path: list[str]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    consistency_path: list[str]


@router.get("/tree-head", response_model=TreeHeadOut, responses=error_responses(404))
async def tree_head(
    admin: AdminUser, session: DbSession, tree_size: TreeSize = None
) -> TreeHeadOut:
    """The latest signed tree head (or the one of `tree_size`)."""
    return TreeHeadOut.of(await AuditProofs(session).head(tree_size))


@router.get("/proofs/inclusion", response_model=InclusionOut, responses=error_responses(404, 409))
async def inclusion_proof(
    admin: AdminUser,
    session: DbSession,
    audit_id: Annotated[str, Query(max_length=36)],
    tree_size: TreeSize = None,
) -> InclusionOut:
    """The audit path of one row to a signed tree head (the latest by default); 409 while the
    row is still waiting for the sequencer."""
    proof = await AuditProofs(session).inclusion(audit_id, tree_size)
    return InclusionOut(
        audit_id=proof.audit_id,
        log_index=proof.log_index,
        tree_size=proof.tree_size,
        leaf_hash=proof.leaf_hash,
        leaf_data=proof.leaf_data,
        audit_path=proof.path,
    )


@router.get(
    "/proofs/consistency", response_model=ConsistencyOut, responses=error_responses(404, 422)
)
async def consistency_proof(
    admin: AdminUser,
    session: DbSession,
    first: Annotated[int, Query(ge=0, le=2**62)],
    second: TreeSize = None,
) -> ConsistencyOut:
    """The proof that the signed tree of size `second` (the latest by default) extends the
    signed tree of size `first`."""
    first, second_size, path = await AuditProofs(session).consistency(first, second)
    return ConsistencyOut(first=first, second=second_size, consistency_path=path)

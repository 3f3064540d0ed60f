"""The audit log as a transparency log: appends that wait for nothing, a sequencer that gives
every committed row exactly one place, signed tree heads, proofs an outsider can check, and
`tessera audit verify` naming what was tampered with."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tessera.core.audit import record
from tessera.core.audit.models import AuditLog, AuditTreeHead
from tessera.core.audit.sequencer import Sequencer, create_signing_key
from tessera.core.audit.service import leaf_data
from tessera.core.context import RequestMeta, set_current_request
from tessera.core.db.engine import Database
from tests.helpers.audit import TEST_SECRET, audit_settings, sequence_and_verify
from tests.helpers.cli import run_tessera
from tests.helpers.identity import make_admin

from . import rfc9162


class RolledBack(Exception):
    pass


async def write_rows(db: Database, count: int, *, tag: str = "test.action") -> None:
    for i in range(count):
        async with db.session() as session:
            await record(session, tag, actor_type="system", details={"i": i})


async def rolled_back_rows(db: Database, count: int) -> None:
    for i in range(count):
        with pytest.raises(RolledBack):
            async with db.session() as session:
                await record(session, "test.rolled_back", actor_type="system", details={"i": i})
                raise RolledBack


async def rows_by_index(db: Database) -> list[AuditLog]:
    async with db.session(write=False) as session:
        return list(await session.scalars(select(AuditLog).order_by(AuditLog.log_index)))


def cli_env(database_url: str) -> dict[str, str]:
    return {"TESSERA_DATABASE_URL": database_url, "TESSERA_SECRET_KEY": TEST_SECRET}


async def test_rows_carry_the_request_and_are_sequenced_into_a_signed_tree(
    database_url: str,
) -> None:
    db = Database(database_url)
    set_current_request(
        RequestMeta(request_id="req-1", ip_address="198.51.100.4", user_agent="ua/1")
    )
    await write_rows(db, 3)
    waiting = await rows_by_index(db)
    assert [row.log_index for row in waiting] == [None, None, None]  # nothing read, nothing chained
    report = await sequence_and_verify(db)
    assert (report.ok, report.rows, report.tree_heads) == (True, 3, 1)
    rows = await rows_by_index(db)
    assert [row.log_index for row in rows] == [0, 1, 2]
    assert (rows[0].ip_address, rows[0].user_agent, rows[0].request_id) == (
        "198.51.100.4",
        "ua/1",
        "req-1",
    )
    async with db.session(write=False) as session:
        head = await session.scalar(select(AuditTreeHead))
    assert head is not None and head.tree_size == 3
    # The signed root is the RFC 9162 hash of exactly these rows, computed independently.
    assert head.root_hash == rfc9162.mth([leaf_data(row) for row in rows]).hex()
    await db.dispose()


async def test_concurrent_appends_are_each_sequenced_once_and_rollbacks_never(
    database_url: str,
) -> None:
    db = Database(database_url, pool_size=20)
    settings = audit_settings(database_url)
    await create_signing_key(db, settings)
    sequencer = Sequencer(db, settings, batch=7)  # small batches: many runs, many tree heads

    async def keep_sequencing(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await sequencer.run_once()
            await asyncio.sleep(0.01)

    stop = asyncio.Event()
    runner = asyncio.create_task(keep_sequencing(stop))
    await asyncio.gather(
        *(write_rows(db, 6) for _ in range(8)), *(rolled_back_rows(db, 3) for _ in range(3))
    )
    stop.set()
    await runner
    report = await sequence_and_verify(db)
    rows = await rows_by_index(db)
    assert [row.log_index for row in rows] == list(range(48))
    assert {row.action for row in rows} == {"test.action"}
    assert report.ok and report.rows == 48 and report.tree_heads > 1, report
    await db.dispose()


@pytest.mark.parametrize(
    "engine", [pytest.param("postgresql", marks=pytest.mark.pg)], indirect=True
)
async def test_an_append_waits_for_no_other_transaction(database_url: str) -> None:
    """PostgreSQL: an open transaction that appended a row blocks no other append, and the
    sequencer takes what has committed and leaves the rest for its next run."""
    db = Database(database_url)
    async with db.session() as slow:
        await record(slow, "test.slow", actor_type="system")
        await asyncio.wait_for(write_rows(db, 3, tag="test.fast"), timeout=5)
        await sequence_and_verify(db)
        fast = await rows_by_index(db)
        assert [(row.action, row.log_index) for row in fast] == [
            ("test.fast", 0),
            ("test.fast", 1),
            ("test.fast", 2),
        ]
    report = await sequence_and_verify(db)
    assert report.ok and report.rows == 4
    assert (await rows_by_index(db))[-1].action == "test.slow"
    await db.dispose()


async def test_update_and_delete_are_refused_even_for_the_log_index(database_url: str) -> None:
    db = Database(database_url)
    await write_rows(db, 2)
    await sequence_and_verify(db)
    await write_rows(db, 1)  # one row still waiting for the sequencer
    for statement in (
        "UPDATE audit_logs SET action = 'x'",
        "UPDATE audit_logs SET log_index = 7 WHERE log_index = 0",
        "UPDATE audit_logs SET details = '{}', log_index = 9 WHERE log_index IS NULL",
        "DELETE FROM audit_logs",
        "UPDATE audit_tree_heads SET root_hash = 'x'",
        "DELETE FROM audit_tree_nodes",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.session() as session:
                await session.execute(text(statement))
    await db.dispose()


async def disable_guard(db: Database) -> None:
    """What an attacker with raw database access would do first."""
    async with db.session() as session:
        if db.dialect == "postgresql":
            await session.execute(
                text("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only")
            )
        else:
            await session.execute(text("DROP TRIGGER audit_logs_no_update"))
            await session.execute(text("DROP TRIGGER audit_logs_no_delete"))


TAMPERING = {
    "edited": ("UPDATE audit_logs SET details = '{\"i\": 99}' WHERE log_index = 2", "content"),
    "deleted": ("DELETE FROM audit_logs WHERE log_index = 2", "log index 2 is missing"),
    "reordered": (  # rows 2 and 3 swap places (through -1: the index is unique)
        "UPDATE audit_logs SET log_index = -1 WHERE log_index = 2;"
        " UPDATE audit_logs SET log_index = 2 WHERE log_index = 3;"
        " UPDATE audit_logs SET log_index = 3 WHERE log_index = -1",
        "out of order",
    ),
    "deleted at the end": (
        "DELETE FROM audit_logs WHERE log_index = 4",
        "rows 4…4 are missing",
    ),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
async def test_verify_names_the_first_tampered_row(database_url: str, tampering: str) -> None:
    db = Database(database_url)
    await write_rows(db, 5)
    await sequence_and_verify(db)
    intact = await run_tessera("audit", "verify", env=cli_env(database_url))
    assert intact.returncode == 0 and "intact: 5 rows, 1 signed tree heads" in intact.stdout
    target = (await rows_by_index(db))[2 if tampering != "deleted at the end" else 4]
    await disable_guard(db)
    statement, expected = TAMPERING[tampering]
    async with db.session() as session:
        for part in statement.split(";"):
            await session.execute(text(part))
    result = await run_tessera("audit", "verify", env=cli_env(database_url))
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr, result.stderr
    if tampering in ("edited", "reordered"):
        assert "log_index=" in result.stderr
    if tampering == "edited":
        assert f"id={target.id}" in result.stderr
    await db.dispose()


async def test_a_row_left_unsequenced_past_the_merge_delay_is_reported(database_url: str) -> None:
    db = Database(database_url)
    await write_rows(db, 2)
    await sequence_and_verify(db)
    async with db.session() as session:
        # A row the sequencer never got to (written while it was stopped, long ago).
        session.add(
            AuditLog(
                id="late-row",
                created_at=datetime(2020, 1, 1, tzinfo=UTC),
                actor_type="system",
                action="test.late",
                details={},
            )
        )
    result = await run_tessera("audit", "verify", env=cli_env(database_url))
    assert result.returncode == 1
    assert "1 row(s) unsequenced past the maximum merge delay" in result.stderr
    assert "id=late-row" in result.stderr
    await db.dispose()


def unhex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


async def test_proofs_from_the_admin_api_verify_with_an_independent_implementation(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    db = runtime.db
    admin = await make_admin(client, runtime)
    heads: list[dict[str, Any]] = []
    for batch in (3, 4, 6):  # tree sizes that are and are not powers of two
        await write_rows(db, batch)
        await sequence_and_verify(db)
        answer = await client.get("/admin/audit/tree-head", headers=admin.headers)
        assert answer.status_code == 200, answer.text
        heads.append(answer.json())
    rows = await rows_by_index(db)
    latest = heads[-1]
    assert latest["tree_size"] == len(rows)
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(latest["public_key"]))
    for head in heads:  # each head's signature over TreeHeadDataV2, checked from scratch
        message = rfc9162.tree_head_message(
            head["tree_size"], head["timestamp"], bytes.fromhex(head["root_hash"])
        )
        public.verify(bytes.fromhex(head["signature"]), message)
    for row in rows:
        proof = (
            await client.get(
                "/admin/audit/proofs/inclusion", params={"audit_id": row.id}, headers=admin.headers
            )
        ).json()
        leaf = rfc9162.sha256(b"\x00" + proof["leaf_data"].encode())
        assert leaf.hex() == proof["leaf_hash"] == row.leaf_hash
        assert rfc9162.verify_inclusion(
            leaf,
            proof["log_index"],
            proof["tree_size"],
            unhex(proof["audit_path"]),
            bytes.fromhex(latest["root_hash"]),
        ), row.log_index
    for older in heads[:-1]:
        proof = (
            await client.get(
                "/admin/audit/proofs/consistency",
                params={"first": older["tree_size"]},
                headers=admin.headers,
            )
        ).json()
        assert rfc9162.verify_consistency(
            older["tree_size"],
            latest["tree_size"],
            bytes.fromhex(older["root_hash"]),
            bytes.fromhex(latest["root_hash"]),
            unhex(proof["consistency_path"]),
        )
        assert not rfc9162.verify_consistency(  # and a wrong root is caught
            older["tree_size"],
            latest["tree_size"],
            bytes.fromhex(
                heads[0]["root_hash"] if older is not heads[0] else heads[1]["root_hash"]
            ),
            bytes.fromhex(latest["root_hash"]),
            unhex(proof["consistency_path"]),
        )
    # An older head's inclusion proof, for a row it contains.
    first = heads[0]
    proof = (
        await client.get(
            "/admin/audit/proofs/inclusion",
            params={"audit_id": rows[1].id, "tree_size": first["tree_size"]},
            headers=admin.headers,
        )
    ).json()
    assert rfc9162.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        1,
        first["tree_size"],
        unhex(proof["audit_path"]),
        bytes.fromhex(first["root_hash"]),
    )


async def test_proof_endpoints_answer_clear_errors(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    admin = await make_admin(client, runtime)
    missing = await client.get("/admin/audit/tree-head", headers=admin.headers)
    assert (missing.status_code, missing.json()["error"]) == (404, "tree_head_not_found")
    await sequence_and_verify(runtime.db)  # the registration and login rows
    async with runtime.db.session() as session:
        waiting = await record(session, "test.waiting", actor_type="system")
    early = await client.get(
        "/admin/audit/proofs/inclusion", params={"audit_id": waiting.id}, headers=admin.headers
    )
    assert (early.status_code, early.json()["error"]) == (409, "audit_row_not_sequenced")
    unknown = await client.get(
        "/admin/audit/proofs/inclusion", params={"audit_id": "nope"}, headers=admin.headers
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "audit_row_not_found")
    backwards = await client.get(
        "/admin/audit/proofs/consistency", params={"first": 10**6}, headers=admin.headers
    )
    assert (backwards.status_code, backwards.json()["error"]) == (422, "invalid_tree_sizes")
    user_headers = {"Authorization": admin.headers["Authorization"] + "x"}
    assert (await client.get("/admin/audit/tree-head", headers=user_headers)).status_code == 401

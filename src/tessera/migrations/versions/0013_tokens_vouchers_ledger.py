"""tokens: a voucher's balance is a ledger account

Each existing voucher gets a never-negative ledger account `voucher:<id>`, funded from
`external` (shard 0) by one VOUCHER_SOLD transaction for its remaining balance, so its money
is in the ledger and in `tessera ledger check`; the voucher's own balance column goes.

Revision ID: 0013_tokens_vouchers_ledger
Revises: 0012_ledger_holds
Create Date: 2026-12-01 09:10:00.000000
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013_tokens_vouchers_ledger"
down_revision: str | None = "0012_ledger_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM_SHARDS = 64  # as in 0011_ledger_shards
UTC_TYPE = sa.DateTime(timezone=True)


def _id() -> str:
    return str(uuid.uuid4())


def upgrade() -> None:
    with op.batch_alter_table("tokens_vouchers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ledger_account_id", sa.String(length=36), nullable=True))
    bind = op.get_bind()
    now = datetime.now(UTC)
    vouchers = bind.execute(
        sa.text("SELECT id, currency, balance_cents FROM tokens_vouchers ORDER BY created_at")
    ).all()
    for voucher_id, currency, balance in vouchers:
        account_id = _id()
        bind.execute(
            sa.text(
                "INSERT INTO ledger_accounts (id, code, currency, balance, entry_count, reserved,"
                " allow_negative, created_at) VALUES (:id, :code, :currency, :balance, :count, 0,"
                " :no, :now)"
            ),
            {
                "id": account_id,
                "code": f"voucher:{voucher_id}",
                "currency": currency,
                "balance": balance,
                "count": 1 if balance else 0,
                "no": False,
                "now": now,
            },
        )
        bind.execute(
            sa.text("UPDATE tokens_vouchers SET ledger_account_id = :a WHERE id = :v"),
            {"a": account_id, "v": voucher_id},
        )
        if balance:
            _fund(bind, account_id, voucher_id, currency, balance, now)
    with op.batch_alter_table("tokens_vouchers", schema=None) as batch_op:
        batch_op.alter_column("ledger_account_id", existing_type=sa.String(36), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_tokens_vouchers_ledger_account_id"), ["ledger_account_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_tokens_vouchers_ledger_account_id_ledger_accounts"),
            "ledger_accounts",
            ["ledger_account_id"],
            ["id"],
        )
        batch_op.drop_constraint("balance", type_="check")
        batch_op.drop_column("balance_cents")


def _external(bind: sa.Connection, currency: str, now: datetime) -> str:
    found = bind.scalar(
        sa.text("SELECT id FROM ledger_accounts WHERE code = 'external' AND currency = :c"),
        {"c": currency},
    )
    if found:
        return str(found)
    account_id = _id()
    bind.execute(
        sa.text(
            "INSERT INTO ledger_accounts (id, code, currency, balance, entry_count, reserved,"
            " allow_negative, created_at) VALUES (:id, 'external', :c, 0, 0, 0, :yes, :now)"
        ),
        {"id": account_id, "c": currency, "yes": True, "now": now},
    )
    for shard in range(SYSTEM_SHARDS):
        bind.execute(
            sa.text(
                "INSERT INTO ledger_account_shards (account_id, shard, balance, entry_count)"
                " VALUES (:a, :s, 0, 0)"
            ),
            {"a": account_id, "s": shard},
        )
    return account_id


def _fund(
    bind: sa.Connection, account_id: str, voucher_id: str, currency: str, amount: int, now: datetime
) -> None:
    """One balanced VOUCHER_SOLD transaction: external (shard 0) → the voucher's account."""
    external = _external(bind, currency, now)
    shard = bind.execute(
        sa.text(
            "UPDATE ledger_account_shards SET balance = balance - :amt,"
            " entry_count = entry_count + 1 WHERE account_id = :a AND shard = 0"
            " RETURNING balance, entry_count"
        ),
        {"amt": amount, "a": external},
    ).one()
    txn = _id()
    bind.execute(
        sa.text(
            "INSERT INTO ledger_transactions (id, kind, currency, amount, reference, metadata,"
            " created_at) VALUES (:id, 'VOUCHER_SOLD', :c, :amt, :ref, :meta, :now)"
        ),
        {
            "id": txn,
            "c": currency,
            "amt": amount,
            "ref": voucher_id,
            "meta": '{"module": "tokens", "migrated": true}',
            "now": now,
        },
    )
    entry = sa.text(
        "INSERT INTO ledger_entries (id, transaction_id, account_id, shard, seq, amount,"
        " balance_after, created_at) VALUES (:id, :t, :a, :shard, :seq, :amt, :after, :now)"
    )
    bind.execute(
        entry,
        [
            {
                "id": _id(),
                "t": txn,
                "a": external,
                "shard": 0,
                "seq": shard.entry_count,
                "amt": -amount,
                "after": shard.balance,
                "now": now,
            },
            {
                "id": _id(),
                "t": txn,
                "a": account_id,
                "shard": 0,
                "seq": 1,
                "amt": amount,
                "after": amount,
                "now": now,
            },
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("tokens_vouchers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("balance_cents", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE tokens_vouchers SET balance_cents = (SELECT balance FROM ledger_accounts a"
        " WHERE a.id = tokens_vouchers.ledger_account_id)"
    )
    with op.batch_alter_table("tokens_vouchers", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "balance", "balance_cents >= 0 AND balance_cents <= original_cents"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_tokens_vouchers_ledger_account_id_ledger_accounts"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_tokens_vouchers_ledger_account_id"), type_="unique")
        batch_op.drop_column("ledger_account_id")

"""Money moves only through the ledger service: nothing else in the source writes its tables."""

from __future__ import annotations

import re
from pathlib import Path

import tessera

PACKAGE = Path(tessera.__file__).parent
OWNERS = (PACKAGE / "core" / "ledger", PACKAGE / "migrations")
LEDGER_WRITES = re.compile(
    r"(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+ledger_(accounts|transactions|entries)"
    r"|\b(update|insert|delete)\(\s*Ledger(Account|Transaction|Entry)\b"
    r"|\bLedger(Transaction|Entry)\("
    r"|tessera\.core\.ledger\.repository"
    r"|\bLedgerRepository\b",
    re.IGNORECASE,
)


def outside_the_ledger() -> list[Path]:
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if not any(path.is_relative_to(owner) for owner in OWNERS)
    ]


def test_no_other_part_writes_ledger_tables_or_uses_its_repository() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}: {match.group(0)}"
        for path in outside_the_ledger()
        for match in LEDGER_WRITES.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_scan_would_catch_a_write() -> None:
    for leak in (
        'await session.execute(text("UPDATE ledger_accounts SET balance = 0"))',
        "await session.execute(update(LedgerAccount).values(balance=0))",
        "session.add(LedgerEntry(amount=5))",
        "from tessera.core.ledger.repository import LedgerRepository",
    ):
        assert LEDGER_WRITES.search(leak), leak
    assert not LEDGER_WRITES.search('ForeignKey("ledger_accounts.id")')
    assert not LEDGER_WRITES.search("await Ledger(session).charge_user(user_id, 5, 'USD')")

"""What one money movement costs the server: SQL statements, Python calls, CPU per request.

    .venv/bin/python bench/profile_movements.py [--requests 2000] [--profile out.txt]

Builds the real app on PostgreSQL + Redis (a scratch database), signs a user in, and calls the
ASGI app directly (no HTTP server, no network) for:

- `POST /api/v1/wallet/deposit`, without and with an `Idempotency-Key` (a new key each time);
- a wallet-to-wallet `Ledger.transfer` in its own write transaction (there is no HTTP
  endpoint for one: this is what modules and `bench_core_writes.py` call);
- `POST /bench/auth-only`, a route added here that takes `CurrentUser` and the write session
  and does nothing: the cost of authentication and the request's transaction, which belong
  to the identity and middleware code, so the deposit's own cost is the difference.

Statements are counted with SQLAlchemy's engine events (every statement sent, plus BEGIN and
COMMIT, which the driver sends as round trips of their own), one request at a time, and
listed per request. Counts do not depend on what else the machine is doing; CPU time (process
time, `--concurrency` requests in flight, best of 3) hardly does. With `--profile`, cProfile
summaries of each case are written to the file.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from asgi_lifespan import LifespanManager
from profile_request_path import PASSWORD, REDIS_URL, _package, call
from sqlalchemy import event
from support import pg_database_url, scratch_database_sync

from tessera.app import create_app
from tessera.core.config import Settings
from tessera.core.db.engine import Database
from tessera.core.db.migrate import upgrade
from tessera.core.db.session import DbSession
from tessera.core.identity.deps import CurrentUser

Request = Callable[[], Awaitable[None]]


class StatementLog:
    """Every round trip the engine makes while listening, as a short normalised text. The
    listeners are attached only while statements are counted: they cost calls of their own."""

    def __init__(self, db: Database) -> None:
        self.sent: list[str] = []
        self.engine = db.engine.sync_engine
        self.listeners: list[tuple[str, Callable[..., None]]] = [
            ("before_cursor_execute", self._statement),
            ("begin", self._begin),
            ("commit", lambda _conn: self.sent.append("COMMIT")),
            ("rollback", lambda _conn: self.sent.append("ROLLBACK")),
        ]

    def listen(self, on: bool) -> None:
        for name, listener in self.listeners:
            (event.listen if on else event.remove)(self.engine, name, listener)

    def _begin(self, conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.sent.append("BEGIN")

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(shorten(statement))


def shorten(statement: str) -> str:
    """`UPDATE ledger_accounts SET …`, `SAVEPOINT`, `SELECT … FROM users …`: enough to name it."""
    text = re.sub(r"\s+", " ", statement).strip()
    text = re.sub(r"sa_savepoint_\d+", "sp", text)
    verb = text.split(" ", 1)[0].upper()
    if verb == "SELECT":
        tables = re.findall(r"FROM (\w+)", text)
        return f"SELECT … FROM {', '.join(dict.fromkeys(tables)) or '-'}"[:110]
    if verb in ("INSERT", "UPDATE", "DELETE"):
        table = re.search(r"(?:INTO|UPDATE|FROM) (\w+)", text)
        returning = " RETURNING …" if " RETURNING " in text else ""
        rows = text.count("), (") + 1 if verb == "INSERT" else 1
        many = f" ({rows} rows)" if rows > 1 else ""
        return f"{verb} {table.group(1) if table else '?'}{many}{returning}"
    return text[:60]


async def measure(
    name: str, request: Request, log: StatementLog, args: argparse.Namespace, out: io.StringIO
) -> dict[str, Any]:
    for _ in range(args.requests // 4):  # warm-up: statements compiled and prepared
        await request()
    # Statements, one request at a time so that each list is one request's.
    samples = 20
    log.sent.clear()
    log.listen(True)
    per_request: list[list[str]] = []
    for _ in range(samples):
        start = len(log.sent)
        await request()
        per_request.append(log.sent[start:])
    log.listen(False)
    # The most frequent list; "varying" says whether any request sent another (a shard
    # taken by someone else, say, makes a deposit wait for one at random: one more UPDATE).
    lists = {tuple(s) for s in per_request}
    statements = max(lists, key=lambda s: per_request.count(list(s)))

    async def drive(n: int) -> float:
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await request()

        started = time.process_time()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        return (time.process_time() - started) / n * 1e6

    cpu = min([await drive(args.requests) for _ in range(3)])
    profiler = cProfile.Profile()
    profiler.enable()
    await drive(args.requests)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=out)
    calls = stats.total_calls / args.requests  # type: ignore[attr-defined]
    out.write(f"===== {name}: Python calls per request, by package\n")
    by_package: dict[str, float] = {}
    for func, entry in stats.stats.items():  # type: ignore[attr-defined]
        package = _package(func[0])
        by_package[package] = by_package.get(package, 0) + entry[1] / args.requests
    for package, count in sorted(by_package.items(), key=lambda kv: -kv[1])[:25]:
        out.write(f"{count:8.1f}  {package}\n")
    stats.sort_stats("ncalls").print_stats(40)
    stats.sort_stats("cumulative").print_stats(50)
    stats.sort_stats("tottime").print_stats(30)
    return {
        "case": name,
        "statements": len(statements),
        "round_trips": list(statements),
        "varying": len(lists) > 1,
        "python_calls": round(calls),
        "cpu_us": round(cpu, 1),
    }


async def run(args: argparse.Namespace, url: str, data_dir: Path) -> list[dict[str, Any]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=url,
        redis_url=REDIS_URL,
        redis_prefix=f"bench-{secrets.token_hex(4)}",
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        scheduler="off",
        data_dir=data_dir,
        log_level="INFO",
        password_hash_fast=True,
        wallet_direct_deposits=True,
    )
    app = create_app(settings)

    @app.post("/bench/auth-only")
    async def auth_only(user: CurrentUser, session: DbSession) -> dict[str, str]:
        return {"id": user.id}

    results = []
    async with LifespanManager(app):
        from tessera.core.ledger import Ledger

        db: Database = app.state.db
        log = StatementLog(db)
        json_type = [(b"content-type", b"application/json")]
        tokens = []
        for who in ("profile", "other"):
            credentials = orjson.dumps({"email": f"{who}@example.com", "password": PASSWORD})
            status, _ = await call(app, "POST", "/auth/register", json_type, credentials)
            assert status == 201, status
            status, body = await call(app, "POST", "/auth/login", json_type, credentials)
            assert status == 200, body
            tokens.append(orjson.loads(body)["access_token"])
        bearer = [(b"authorization", f"Bearer {tokens[0]}".encode()), *json_type]
        body = orjson.dumps({"amount_usd": "0.01"})

        async def post(path: str, headers: list[tuple[bytes, bytes]]) -> None:
            status, answer = await call(app, "POST", path, headers, body)
            assert status == 200, (status, answer)

        async def deposit() -> None:
            await post("/api/v1/wallet/deposit", bearer)

        async def deposit_with_key() -> None:
            key = [(b"idempotency-key", secrets.token_hex(8).encode())]
            await post("/api/v1/wallet/deposit", [*bearer, *key])

        async def auth() -> None:
            await post("/bench/auth-only", bearer)

        # Two wallets with money in them for the transfers.
        wallets = []
        async with db.session() as session:
            for token in tokens:
                status, me = await call(
                    app, "GET", "/auth/me", [(b"authorization", f"Bearer {token}".encode())]
                )
                user_id = orjson.loads(me)["id"]
                txn = await Ledger(session).credit_user(user_id, 10**9, "USD", kind="DEPOSIT")
                wallets.append(txn.entries[1].account_id)
        flip = 0

        async def transfer() -> None:
            nonlocal flip
            flip ^= 1
            async with db.session() as session:
                await Ledger(session).transfer(
                    debit_account_id=wallets[flip],
                    credit_account_id=wallets[1 - flip],
                    amount=1,
                    kind="TRANSFER",
                    created_by=None,
                )

        out = io.StringIO()
        for name, request in (
            ("auth only (CurrentUser + write session)", auth),
            ("POST /api/v1/wallet/deposit", deposit),
            ("POST /api/v1/wallet/deposit + Idempotency-Key", deposit_with_key),
            ("Ledger.transfer wallet → wallet (own transaction)", transfer),
        ):
            if args.only and args.only not in name:
                continue
            figures = await measure(name, request, log, args, out)
            results.append(figures)
            print(
                f"{name:52} {figures['statements']:3d} statements, "
                f"{figures['python_calls']:6d} Python calls, {figures['cpu_us']:7.1f} us CPU"
            )
            for text, n in Counter(figures["round_trips"]).items():
                print(f"    {n} × {text}")
        if args.profile:
            Path(args.profile).write_text(out.getvalue())
            print(f"profile written to {args.profile}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", help="write cProfile summaries here")
    parser.add_argument("--json", help="save the figures here as JSON")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the access log, written and discarded
    from tessera.core.logging import configure_logging

    configure_logging("INFO")
    with scratch_database_sync("bench_movements") as name, tempfile.TemporaryDirectory() as tmp:
        url = pg_database_url(name)
        upgrade(url, "head")
        results = asyncio.run(run(args, url, Path(tmp)))
    if args.json:
        Path(args.json).write_text(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

"""`tessera tokens …`: issuer keys (the seed's gen_keys), rotation, and the end-to-end demo."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.config import get_settings
from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.modules.tokens.config import TokensConfig, TokensSettings
from tessera.modules.tokens.keyring import IssuerKey, generate_key, store_key
from tessera.modules.tokens.repository import TokensRepository
from tessera.protocols.tokens import formats, keys

cli = typer.Typer(no_args_is_help=True, help="The token issuer: keys, rotation and a demo.")

T = TypeVar("T")

LifetimeOpt = Annotated[
    float | None, typer.Option(help="Days the key stays valid (TESSERA_TOKENS_KEY_LIFETIME_DAYS)")
]
NotBeforeOpt = Annotated[
    float, typer.Option(help="Hours from now until the key is used (publish it early)")
]
PasswordEnvOpt = Annotated[
    str | None, typer.Option(help="Name of an environment variable holding the PEM password")
]


def _config() -> TokensConfig:
    return TokensConfig.from_settings(get_settings())


def _in_session(work: Callable[[AsyncSession, TokensConfig], Awaitable[T]]) -> T:
    config = _config()

    async def run() -> T:
        db = Database(get_settings().resolved_database_url)
        try:
            async with db.session(write=True) as session:
                return await work(session, config)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _password(env_name: str | None) -> bytes | None:
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise typer.BadParameter(f"environment variable {env_name} is empty or unset")
    return value.encode()


def _lifetime(days: float | None, config: TokensConfig) -> timedelta:
    return timedelta(days=days) if days is not None else config.key_lifetime


def _describe(key: IssuerKey) -> str:
    return (
        f"key_id {key.key_id_hex} (truncated {key.truncated_id:#04x}), "
        f"valid {key.not_before:%Y-%m-%d %H:%M} → {key.expires_at:%Y-%m-%d %H:%M} UTC"
    )


@cli.command()
def keygen(
    lifetime_days: LifetimeOpt = None,
    not_before_hours: NotBeforeOpt = 0.0,
    pem_out: Annotated[
        Path | None,
        typer.Option(help="Write a PEM file instead of storing the key (import it later)"),
    ] = None,
    password_env: PasswordEnvOpt = None,
) -> None:
    """Generate a 2048-bit issuer key: sealed into the database, or as a PEM file."""
    if pem_out is not None:
        if pem_out.exists():
            raise typer.BadParameter(f"{pem_out} exists; refusing to overwrite a key file")
        private_key = keys.generate_private_key()
        pem_out.parent.mkdir(parents=True, exist_ok=True)
        pem_out.touch(mode=0o600)
        pem_out.write_bytes(keys.private_key_to_pem(private_key, _password(password_env)))
        key_id = formats.token_key_id(private_key.public_key())
        typer.echo(f"wrote {pem_out}: key_id {key_id.hex()} (truncated {key_id[-1]:#04x})")
        typer.echo(f"store it with: tessera tokens import {pem_out}")
        return

    async def work(session: AsyncSession, config: TokensConfig) -> IssuerKey:
        not_before = utcnow() + timedelta(hours=not_before_hours)
        return await generate_key(
            session, config.kek, not_before=not_before, lifetime=_lifetime(lifetime_days, config)
        )

    typer.echo("generated " + _describe(_in_session(work)))


@cli.command("import")
def import_key(
    path: Path,
    lifetime_days: LifetimeOpt = None,
    not_before_hours: NotBeforeOpt = 0.0,
    password_env: PasswordEnvOpt = None,
) -> None:
    """Store a PEM private key (e.g. from `keygen --pem-out`) sealed in the database."""
    private_key = keys.load_private_key_pem(path.read_bytes(), _password(password_env))

    async def work(session: AsyncSession, config: TokensConfig) -> IssuerKey | None:
        not_before = utcnow() + timedelta(hours=not_before_hours)
        return await store_key(
            session,
            config.kek,
            private_key,
            not_before=not_before,
            expires_at=not_before + _lifetime(lifetime_days, config),
        )

    stored = _in_session(work)
    if stored is None:
        typer.echo("refused: the key exists, or a live key has the same truncated id", err=True)
        raise typer.Exit(1)
    typer.echo("imported " + _describe(stored))


@cli.command("keys")
def list_keys() -> None:
    """List issuer keys with their state (upcoming, live, expired)."""

    async def work(session: AsyncSession, _: TokensConfig) -> list[str]:
        now = utcnow()
        lines = []
        for row in await TokensRepository(session).all_keys():
            state = (
                "upcoming"
                if now < row.not_before
                else "expired"
                if now >= row.expires_at
                else "live"
            )
            private = "sealed" if row.sealed_private_key else "public-only"
            lines.append(
                f"{row.key_id}  {row.truncated_id:#04x}  {state:8}  {private:11}  "
                f"{row.not_before:%Y-%m-%d %H:%M} → {row.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        return lines

    lines = _in_session(work)
    typer.echo("\n".join(lines) if lines else "no issuer keys; run `tessera tokens keygen`")


@cli.command()
def rotate(
    lifetime_days: LifetimeOpt = None,
    not_before_hours: NotBeforeOpt = 0.0,
    retire_after_hours: Annotated[
        float | None,
        typer.Option(
            help="Expire the older keys this many hours after the new key starts "
            "(default: they keep their own expiry)"
        ),
    ] = None,
) -> None:
    """Start a new signing key; older keys keep verifying until they expire."""

    async def work(session: AsyncSession, config: TokensConfig) -> tuple[IssuerKey, int]:
        not_before = utcnow() + timedelta(hours=not_before_hours)
        repo = TokensRepository(session)
        older = [row for row in await repo.all_keys() if row.expires_at > utcnow()]
        new = await generate_key(
            session, config.kek, not_before=not_before, lifetime=_lifetime(lifetime_days, config)
        )
        shortened = 0
        if retire_after_hours is not None:
            retire_at = not_before + timedelta(hours=retire_after_hours)
            for row in older:
                if row.expires_at > retire_at:
                    await repo.set_key_expiry(row.key_id, retire_at)
                    shortened += 1
        return new, shortened

    new, shortened = _in_session(work)
    typer.echo("new signing key: " + _describe(new))
    if shortened:
        typer.echo(f"{shortened} older key(s) now expire {retire_after_hours} h after it starts")
    typer.echo("running servers pick the new key up within 30 seconds")


@cli.command()
def demo(
    base_url: Annotated[str, typer.Option(help="The running server")] = "http://127.0.0.1:8000",
    kiosk_key: Annotated[
        str | None, typer.Option(envvar="TESSERA_DEMO_KIOSK_KEY", help="ApiKey of role kiosk")
    ] = None,
    validator_key: Annotated[
        str | None,
        typer.Option(envvar="TESSERA_DEMO_VALIDATOR_KEY", help="ApiKey of role validator"),
    ] = None,
    staff_key: Annotated[
        str | None, typer.Option(envvar="TESSERA_DEMO_STAFF_KEY", help="ApiKey of role staff")
    ] = None,
    price_cents: Annotated[
        int | None, typer.Option(help="Token price the server uses (default: local settings)")
    ] = None,
) -> None:
    """Walk the seed's flows against a running server: card, voucher, online, offline.

    API keys not given are created in the local database (the one `make run` serves).
    """
    from tessera.modules.tokens.demo import DemoKeys, create_demo_keys, run_demo

    settings = get_settings()
    if not (kiosk_key and validator_key and staff_key):
        created = asyncio.run(create_demo_keys(settings.resolved_database_url))
        typer.echo("created demo API keys (kiosk, validator, staff) in the local database")
        kiosk_key = kiosk_key or created.kiosk
        validator_key = validator_key or created.validator
        staff_key = staff_key or created.staff
    ok = run_demo(
        base_url,
        DemoKeys(kiosk=kiosk_key, validator=validator_key, staff=staff_key),
        price_cents=price_cents or settings.module(TokensSettings).price_cents,
        echo=typer.echo,
    )
    if not ok:
        raise typer.Exit(1)

"""`tessera family …`: create a family whose members sign in with Google (the seed's web client
has no screen for it), and list families."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from tessera.core.command import run_with_runtime
from tessera.core.identity.state import state_of
from tessera.modules.family.families import NewMember, create_family_with_members
from tessera.modules.family.repository import FamilyRepository

cli = typer.Typer(no_args_is_help=True, help="Families: households of parents and children.")


def _parent(text: str) -> NewMember:
    email, _, name = text.partition(":")
    return NewMember(email=email.strip(), name=name.strip() or email.split("@")[0], role="parent")


def _child(text: str) -> NewMember:
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise typer.BadParameter(f"{text!r}: expected EMAIL:NAME:YYYY-MM-DD")
    try:
        born = date.fromisoformat(parts[2].strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r}: the birth date must be YYYY-MM-DD") from None
    return NewMember(email=parts[0].strip(), name=parts[1].strip(), role="child", birth_date=born)


@cli.command("create")
def create(
    name: Annotated[str, typer.Option(help="The family's name")],
    tz: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Paris")],
    parent: Annotated[list[str], typer.Option(help="EMAIL or EMAIL:NAME (repeat)")],
    child: Annotated[list[str] | None, typer.Option(help="EMAIL:NAME:BIRTHDATE (repeat)")] = None,
) -> None:
    """Create a family; its members have no password and sign in with Google."""
    members = [_parent(p) for p in parent] + [_child(c) for c in child or []]

    async def work(runtime: Any) -> tuple[str, list[tuple[str, str, str]]]:
        async with runtime.db.session() as session:
            family, created = await create_family_with_members(
                session, state_of(runtime), name=name, timezone=tz, members=members
            )
            emails = await FamilyRepository(session).emails_of([m.user_id for m in created])
            return family.id, [(m.role, m.name, emails[m.user_id]) for m in created]

    family_id, rows = run_with_runtime(work)
    typer.echo(f"family {family_id} created ({tz})")
    for role, member_name, email in rows:
        typer.echo(f"  {role:6} {member_name:20} {email}")


@cli.command("list")
def list_families() -> None:
    """Every family with its members."""

    async def work(runtime: Any) -> list[str]:
        lines = []
        async with runtime.db.session(write=False) as session:
            repo = FamilyRepository(session)
            for family in await repo.families():
                members = await repo.members(family.id)
                roles = ", ".join(f"{m.name} ({m.role})" for m in members)
                lines.append(f"{family.id}  {family.name} [{family.timezone}]: {roles}")
        return lines

    for line in run_with_runtime(work):
        typer.echo(line)

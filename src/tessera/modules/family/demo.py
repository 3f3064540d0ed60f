"""`tessera seed --demo`: the seed's household — parents Thibault Dory and Laurie Delmer,
children Elea (8) and Joleen (6) — with no passwords (they sign in with Google), two rules and
the README's contract: Elea earns €1 a day when she does all her tasks and is not violent."""

from __future__ import annotations

from datetime import date, timedelta

from tessera.core.identity.state import state_of
from tessera.core.runtime import Runtime
from tessera.modules.family.access import local_today
from tessera.modules.family.config import FamilySettings
from tessera.modules.family.families import NewMember, create_family_with_members
from tessera.modules.family.models import Contract, Rule
from tessera.modules.family.repository import FamilyRepository

FAMILY_NAME = "Famille Dory-Delmer"
PARENTS = (
    ("thibault.dory@famille.example", "Thibault Dory"),
    ("laurie.delmer@famille.example", "Laurie Delmer"),
)
CHILDREN = (("elea@famille.example", "Elea", 8), ("joleen@famille.example", "Joleen", 6))
RULES = (("Faire toutes les tâches du tableau", True), ("Pas de violence", False))


def _born(years: int, today: date) -> date:
    return today.replace(year=today.year - years) - timedelta(days=40)


async def seed_demo_family(runtime: Runtime) -> None:
    settings = runtime.settings.module(FamilySettings)
    async with runtime.db.session() as session:
        repo = FamilyRepository(session)
        existing = await repo.user_by_email(PARENTS[0][0])
        if existing is not None and await repo.member(existing.id) is not None:
            print(f"family demo: {FAMILY_NAME} was seeded before; nothing to do")
            return
        today = date.today()
        members = [NewMember(email, name, "parent") for email, name in PARENTS] + [
            NewMember(email, name, "child", _born(age, today)) for email, name, age in CHILDREN
        ]
        family, created = await create_family_with_members(
            session,
            state_of(runtime),
            name=FAMILY_NAME,
            timezone=settings.default_timezone,
            members=members,
        )
        rules = [
            await repo.add(Rule(family_id=family.id, description=text, is_task=is_task))
            for text, is_task in RULES
        ]
        elea = next(m for m in created if m.name == "Elea")
        start = local_today(family)
        contract = await repo.add(
            Contract(
                family_id=family.id,
                title="Contrat d'Elea",
                child_id=elea.user_id,
                parent_id=created[0].user_id,
                daily_reward_cents=100,
                start_date=start,
                end_date=start + timedelta(days=90),
                active=True,
            )
        )
        await repo.set_contract_rules(contract.id, [r.id for r in rules])
    print(f"family demo: created {FAMILY_NAME} ({family.timezone}), sign in with Google as:")
    for member in members:
        print(f"  {member.role:6} {member.name:14} {member.email}")

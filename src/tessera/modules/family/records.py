"""Privileges, rules, rule violations, contracts and excused days: the family's records.

Rules belong to a family and are deleted softly (contracts and violations keep pointing at
them). A violation names an active rule of the family and is reported by the caller. A
contract binds a child and a parent of the same family to active rules, with a daily reward
above zero over an ordered date range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.modules.family.access import FamilyCaller, child_of_family, readable_child
from tessera.modules.family.errors import (
    ContractNotFound,
    ExcusedDayNotFound,
    InvalidContract,
    InvalidRules,
    MemberNotFound,
    NotAuthorized,
    PrivilegeNotFound,
    RuleNotFound,
    ViolationNotFound,
)
from tessera.modules.family.models import Contract, ExcusedDay, Privilege, Rule, Violation
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import (
    ContractCreate,
    ContractOut,
    ContractRuleOut,
    ContractUpdate,
    ExcusedCreate,
    PrivilegeCreate,
    PrivilegeOut,
    PrivilegeUpdate,
    RuleCreate,
    RuleUpdate,
    ViolationCreate,
    ViolationOut,
    money,
)


def _visible(caller: FamilyCaller, owner: str) -> tuple[bool, bool]:
    """(canModify, canView) of a row owned by `owner`, as the calendar views show them."""
    return caller.is_parent, caller.is_parent or owner == caller.id


# --- privileges -----------------------------------------------------------------------------


def privilege_out(row: Privilege, caller: FamilyCaller) -> PrivilegeOut:
    can_modify, can_view = _visible(caller, row.assigned_to)
    return PrivilegeOut(
        id=row.id,
        title=row.title,
        description=row.description,
        assigned_to=row.assigned_to,
        earned=row.earned,
        date=row.date,
        can_modify=can_modify,
        can_view=can_view,
    )


async def privileges_page(
    session: AsyncSession, caller: FamilyCaller, child_id: str | None, page: int, limit: int
) -> tuple[list[Privilege], int]:
    repo = FamilyRepository(session)
    if child_id is None:
        caller.require_parent()
    else:
        await readable_child(repo, caller, child_id)
    return await repo.privileges_page(caller.family_id, child_id, limit, (page - 1) * limit)


async def visible_privileges(
    session: AsyncSession, caller: FamilyCaller, start: date | None, end: date | None
) -> Sequence[Privilege]:
    repo = FamilyRepository(session)
    return await repo.privileges_between(caller.family_id, caller.visible_child(), start, end)


async def create_privilege(
    session: AsyncSession, caller: FamilyCaller, body: PrivilegeCreate
) -> Privilege:
    caller.require_parent()
    repo = FamilyRepository(session)
    child = await child_of_family(repo, caller.family_id, body.assigned_to)
    row: Privilege = await repo.add(
        Privilege(
            family_id=caller.family_id,
            title=body.title,
            description=body.description,
            assigned_to=child.user_id,
            earned=body.earned,
            date=body.date,
        )
    )
    return row


async def update_privilege(
    session: AsyncSession, caller: FamilyCaller, privilege_id: str, body: PrivilegeUpdate
) -> Privilege:
    caller.require_parent()
    repo = FamilyRepository(session)
    row = await repo.privilege(caller.family_id, privilege_id)
    if row is None:
        raise PrivilegeNotFound()
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "assigned_to" in changes:
        changes["assigned_to"] = (
            await child_of_family(repo, caller.family_id, changes["assigned_to"])
        ).user_id
    for field, value in changes.items():
        setattr(row, field, value)
    await repo.flush()
    return row


async def delete_privilege(session: AsyncSession, caller: FamilyCaller, privilege_id: str) -> None:
    caller.require_parent()
    repo = FamilyRepository(session)
    row = await repo.privilege(caller.family_id, privilege_id)
    if row is None:
        raise PrivilegeNotFound()
    await repo.delete(row)


# --- rules ------------------------------------------------------------------------------------


async def active_rules(session: AsyncSession, caller: FamilyCaller) -> Sequence[Rule]:
    return await FamilyRepository(session).active_rules(caller.family_id)


async def get_rule(session: AsyncSession, caller: FamilyCaller, rule_id: str) -> Rule:
    rule = await FamilyRepository(session).rule(caller.family_id, rule_id)
    if rule is None:
        raise RuleNotFound()
    return rule


async def create_rule(session: AsyncSession, caller: FamilyCaller, body: RuleCreate) -> Rule:
    caller.require_parent()
    rule: Rule = await FamilyRepository(session).add(
        Rule(family_id=caller.family_id, description=body.description, is_task=body.is_task)
    )
    return rule


async def update_rule(
    session: AsyncSession, caller: FamilyCaller, rule_id: str, body: RuleUpdate
) -> Rule:
    caller.require_parent()
    rule = await get_rule(session, caller, rule_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(rule, field, value)
    await FamilyRepository(session).flush()
    return rule


async def deactivate_rule(session: AsyncSession, caller: FamilyCaller, rule_id: str) -> Rule:
    caller.require_parent()
    rule = await get_rule(session, caller, rule_id)
    rule.active = False
    await FamilyRepository(session).flush()
    return rule


# --- violations ---------------------------------------------------------------------------------


def violation_out(row: Violation, caller: FamilyCaller) -> ViolationOut:
    can_modify, can_view = _visible(caller, row.child_id)
    return ViolationOut(
        id=row.id,
        rule_id=row.rule_id,
        child_id=row.child_id,
        date=row.date,
        description=row.description,
        reported_by=row.reported_by,
        can_modify=can_modify,
        can_view=can_view,
    )


async def violations(
    session: AsyncSession,
    caller: FamilyCaller,
    *,
    child_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
    everyone: bool = False,
) -> Sequence[Violation]:
    """`everyone`: the parent-only lists; otherwise a child sees only their own."""
    repo = FamilyRepository(session)
    if child_id is not None:
        await readable_child(repo, caller, child_id)
    elif everyone:
        caller.require_parent()
    else:
        child_id = caller.visible_child()
    return await repo.violations_between(caller.family_id, child_id, start, end)


async def report_violation(
    session: AsyncSession, caller: FamilyCaller, body: ViolationCreate
) -> Violation:
    caller.require_parent()
    repo = FamilyRepository(session)
    child = await child_of_family(repo, caller.family_id, body.child_id)
    rule = await repo.rule(caller.family_id, body.rule_id)
    if rule is None or not rule.active:
        raise InvalidRules("The rule does not exist or is no longer active")
    row: Violation = await repo.add(
        Violation(
            family_id=caller.family_id,
            rule_id=rule.id,
            child_id=child.user_id,
            date=body.date,
            description=body.description,
            reported_by=caller.id,
        )
    )
    await record(
        session,
        "family.violation_reported",
        actor_id=caller.id,
        target_type="family_rule_violation",
        target_id=row.id,
        details={"child_id": child.user_id, "date": str(body.date)},
    )
    return row


async def delete_violation(session: AsyncSession, caller: FamilyCaller, violation_id: str) -> None:
    caller.require_parent()
    repo = FamilyRepository(session)
    row = await repo.violation(caller.family_id, violation_id)
    if row is None:
        raise ViolationNotFound()
    await repo.delete(row)


# --- contracts -----------------------------------------------------------------------------------


async def contract_outs(session: AsyncSession, contracts: Sequence[Contract]) -> list[ContractOut]:
    rules = await FamilyRepository(session).rules_of_contracts([c.id for c in contracts])
    return [
        ContractOut(
            id=c.id,
            title=c.title,
            child_id=c.child_id,
            parent_id=c.parent_id,
            daily_reward=money(c.daily_reward_cents),
            start_date=c.start_date,
            end_date=c.end_date,
            active=c.active,
            rules=[
                ContractRuleOut(id=r.id, description=r.description, is_task=r.is_task)
                for r in rules[c.id]
            ],
        )
        for c in contracts
    ]


async def contracts_of(
    session: AsyncSession, caller: FamilyCaller, child_id: str | None
) -> Sequence[Contract]:
    repo = FamilyRepository(session)
    if child_id is None:
        caller.require_parent()
    else:
        await readable_child(repo, caller, child_id)
    return await repo.contracts(caller.family_id, child_id)


async def get_contract(session: AsyncSession, caller: FamilyCaller, contract_id: str) -> Contract:
    contract = await FamilyRepository(session).contract(caller.family_id, contract_id)
    if contract is None:
        raise ContractNotFound()
    if not caller.is_parent and contract.child_id != caller.id:
        raise NotAuthorized()
    return contract


async def _active_rule_ids(repo: FamilyRepository, family_id: str, ids: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(ids))
    found = await repo.rules_by_id(family_id, wanted)
    if len(found) != len(wanted) or not all(rule.active for rule in found):
        raise InvalidRules()
    return wanted


async def _parent_of_family(repo: FamilyRepository, family_id: str, parent_id: str) -> str:
    member = await repo.member_in(family_id, parent_id)
    if member is None:
        raise MemberNotFound("Parent not found")
    if not member.is_parent:
        raise InvalidContract("parentId must be a parent of the family")
    return member.user_id


def _check_terms(values: dict[str, Any]) -> None:
    if values["start_date"] > values["end_date"]:
        raise InvalidContract("startDate must be before or equal to endDate")
    if values["daily_reward_cents"] <= 0:
        raise InvalidContract("dailyReward must be greater than 0")


async def create_contract(
    session: AsyncSession, caller: FamilyCaller, body: ContractCreate
) -> Contract:
    caller.require_parent()
    repo = FamilyRepository(session)
    child = await child_of_family(repo, caller.family_id, body.child_id)
    parent_id = await _parent_of_family(repo, caller.family_id, body.parent_id or caller.id)
    terms = {
        "start_date": body.start_date,
        "end_date": body.end_date,
        "daily_reward_cents": body.daily_reward,
    }
    _check_terms(terms)
    rule_ids = await _active_rule_ids(repo, caller.family_id, body.rule_ids)
    contract: Contract = await repo.add(
        Contract(
            family_id=caller.family_id,
            title=body.title,
            child_id=child.user_id,
            parent_id=parent_id,
            active=True,
            **terms,
        )
    )
    await repo.set_contract_rules(contract.id, rule_ids)
    await record(
        session,
        "family.contract_signed",
        actor_id=caller.id,
        target_type="family_contract",
        target_id=contract.id,
        details={"child_id": child.user_id, "daily_reward_cents": body.daily_reward},
    )
    return contract


async def update_contract(
    session: AsyncSession, caller: FamilyCaller, contract_id: str, body: ContractUpdate
) -> Contract:
    caller.require_parent()
    repo = FamilyRepository(session)
    contract = await get_contract(session, caller, contract_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "child_id" in changes:
        changes["child_id"] = (
            await child_of_family(repo, caller.family_id, changes["child_id"])
        ).user_id
    if "parent_id" in changes:
        changes["parent_id"] = await _parent_of_family(repo, caller.family_id, changes["parent_id"])
    if "daily_reward" in changes:
        changes["daily_reward_cents"] = changes.pop("daily_reward")
    rule_ids = changes.pop("rule_ids", None)
    terms = {
        key: changes.get(key, getattr(contract, key))
        for key in ("start_date", "end_date", "daily_reward_cents")
    }
    _check_terms(terms)
    if rule_ids is not None:
        await repo.set_contract_rules(
            contract.id, await _active_rule_ids(repo, caller.family_id, rule_ids)
        )
    for field, value in changes.items():
        setattr(contract, field, value)
    await repo.flush()
    return contract


async def deactivate_contract(
    session: AsyncSession, caller: FamilyCaller, contract_id: str
) -> Contract:
    caller.require_parent()
    contract = await get_contract(session, caller, contract_id)
    contract.active = False
    await FamilyRepository(session).flush()
    return contract


async def delete_contract(session: AsyncSession, caller: FamilyCaller, contract_id: str) -> None:
    """The contract goes; the days it paid stay in the wallet's history (without it)."""
    caller.require_parent()
    repo = FamilyRepository(session)
    contract = await get_contract(session, caller, contract_id)
    await repo.detach_reward_days(contract.id)
    await repo.delete(contract)
    await record(
        session,
        "family.contract_deleted",
        actor_id=caller.id,
        target_type="family_contract",
        target_id=contract_id,
    )


# --- excused days --------------------------------------------------------------------------------


async def excuse_day(
    session: AsyncSession, caller: FamilyCaller, child_id: str, body: ExcusedCreate
) -> ExcusedDay:
    caller.require_parent()
    repo = FamilyRepository(session)
    child = await child_of_family(repo, caller.family_id, child_id)
    existing = await repo.excused_day(child.user_id, body.date)
    if existing is not None:
        existing.reason = body.reason
        await repo.flush()
        return existing
    try:
        async with session.begin_nested():
            row: ExcusedDay = await repo.add(
                ExcusedDay(
                    family_id=caller.family_id,
                    child_id=child.user_id,
                    day=body.date,
                    reason=body.reason,
                    created_by=caller.id,
                )
            )
    except IntegrityError:  # excused concurrently by the other parent
        found = await repo.excused_day(child.user_id, body.date)
        assert found is not None
        return found
    return row


async def excused_days(
    session: AsyncSession, caller: FamilyCaller, child_id: str
) -> Sequence[ExcusedDay]:
    repo = FamilyRepository(session)
    await readable_child(repo, caller, child_id)
    return await repo.excused_days(child_id)


async def unexcuse_day(
    session: AsyncSession, caller: FamilyCaller, child_id: str, excused_id: str
) -> None:
    caller.require_parent()
    repo = FamilyRepository(session)
    row = await repo.excused(caller.family_id, excused_id)
    if row is None or row.child_id != child_id:
        raise ExcusedDayNotFound()
    await repo.delete(row)

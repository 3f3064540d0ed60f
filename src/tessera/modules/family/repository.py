"""All SQL of the family module. Every lookup by id takes the caller's family id too, so an id
from another family is simply not found. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import new_uuid
from tessera.core.db.engine import insert_for
from tessera.core.identity.models import User
from tessera.modules.family.models import (
    CalendarFeed,
    Contract,
    ContractRule,
    ExcusedDay,
    Family,
    Invitation,
    Member,
    Privilege,
    RewardDay,
    Rule,
    Task,
    Violation,
)


class FamilyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def add(self, obj: Any) -> Any:
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: Any) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def _page(self, stmt: Select[Any], limit: int, offset: int) -> tuple[list[Any], int]:
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.scalars(stmt.limit(limit).offset(offset))
        return list(rows), int(total or 0)

    # --- families and members ---------------------------------------------------------------

    async def family(self, family_id: str) -> Family | None:
        return await self.session.get(Family, family_id)

    async def families(self) -> Sequence[Family]:
        return (await self.session.scalars(select(Family).order_by(Family.id))).all()

    async def member(self, user_id: str) -> Member | None:
        return await self.session.get(Member, user_id)

    async def member_in(self, family_id: str, user_id: str) -> Member | None:
        member = await self.session.get(Member, user_id)
        return member if member is not None and member.family_id == family_id else None

    async def members(self, family_id: str) -> Sequence[Member]:
        stmt = (
            select(Member)
            .where(Member.family_id == family_id)
            .order_by(Member.role.desc(), Member.name, Member.user_id)  # parents first
        )
        return (await self.session.scalars(stmt)).all()

    async def user_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def emails_of(self, user_ids: Sequence[str]) -> dict[str, str]:
        if not user_ids:
            return {}
        rows = await self.session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
        return {row.id: row.email for row in rows}

    # --- invitations --------------------------------------------------------------------------

    async def pending_invitation(self, email: str, now: datetime) -> Invitation | None:
        stmt = (
            select(Invitation)
            .where(
                Invitation.email == email,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
            .order_by(Invitation.created_at)
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def invitations(self, family_id: str) -> Sequence[Invitation]:
        stmt = (
            select(Invitation)
            .where(Invitation.family_id == family_id)
            .order_by(Invitation.created_at.desc())
        )
        return (await self.session.scalars(stmt)).all()

    async def invitation(self, family_id: str, invitation_id: str) -> Invitation | None:
        found = await self.session.get(Invitation, invitation_id)
        return found if found is not None and found.family_id == family_id else None

    # --- tasks ----------------------------------------------------------------------------------

    def _tasks(self, family_id: str, child_id: str | None) -> Select[Task]:
        stmt = select(Task).where(Task.family_id == family_id)
        if child_id is not None:
            stmt = stmt.where(Task.assigned_to == child_id)
        return stmt

    async def task(self, family_id: str, task_id: str) -> Task | None:
        found = await self.session.get(Task, task_id)
        return found if found is not None and found.family_id == family_id else None

    async def tasks_page(
        self, family_id: str, child_id: str | None, limit: int, offset: int
    ) -> tuple[list[Task], int]:
        stmt = self._tasks(family_id, child_id).order_by(Task.due_date.desc(), Task.id)
        return await self._page(stmt, limit, offset)

    async def tasks_between(
        self, family_id: str, child_id: str | None, start: date | None, end: date | None
    ) -> Sequence[Task]:
        stmt = self._tasks(family_id, child_id)
        if start is not None:
            stmt = stmt.where(Task.due_date >= start)
        if end is not None:
            stmt = stmt.where(Task.due_date <= end)
        return (await self.session.scalars(stmt.order_by(Task.due_date, Task.title, Task.id))).all()

    async def instances(self, template_id: str, since: date) -> Sequence[Task]:
        stmt = (
            select(Task)
            .where(Task.parent_task_id == template_id, Task.due_date >= since)
            .order_by(Task.due_date)
        )
        return (await self.session.scalars(stmt)).all()

    async def instance_dates(self, template_id: str) -> set[date]:
        rows = await self.session.scalars(
            select(Task.due_date).where(Task.parent_task_id == template_id)
        )
        return set(rows)

    async def add_instances(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            stmt = insert_for(self.dialect, Task).on_conflict_do_nothing(
                index_elements=["parent_task_id", "due_date"]
            )
            await self.session.execute(stmt, [{"id": new_uuid(), **row} for row in rows])

    async def delete_instances(
        self, template_id: str, since: date, *, only_open: bool = False
    ) -> int:
        stmt = delete(Task).where(Task.parent_task_id == template_id, Task.due_date >= since)
        if only_open:
            stmt = stmt.where(Task.completed.is_(False))
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def update_instances(self, template_id: str, since: date, values: dict[str, Any]) -> None:
        if values:
            await self.session.execute(
                update(Task)
                .where(Task.parent_task_id == template_id, Task.due_date >= since)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def templates_to_extend(self, family_id: str, through: date) -> Sequence[Task]:
        """The family's recurring templates whose instances stop before `through` and whose
        rule goes on."""
        stmt = select(Task).where(
            Task.family_id == family_id,
            Task.is_recurring.is_(True),
            Task.generated_until < through,
            Task.generated_until < Task.end_date,
        )
        return (await self.session.scalars(stmt)).all()

    # --- privileges ------------------------------------------------------------------------------

    def _privileges(self, family_id: str, child_id: str | None) -> Select[Privilege]:
        stmt = select(Privilege).where(Privilege.family_id == family_id)
        if child_id is not None:
            stmt = stmt.where(Privilege.assigned_to == child_id)
        return stmt

    async def privilege(self, family_id: str, privilege_id: str) -> Privilege | None:
        found = await self.session.get(Privilege, privilege_id)
        return found if found is not None and found.family_id == family_id else None

    async def privileges_page(
        self, family_id: str, child_id: str | None, limit: int, offset: int
    ) -> tuple[list[Privilege], int]:
        stmt = self._privileges(family_id, child_id).order_by(Privilege.date.desc(), Privilege.id)
        return await self._page(stmt, limit, offset)

    async def privileges_between(
        self, family_id: str, child_id: str | None, start: date | None, end: date | None
    ) -> Sequence[Privilege]:
        stmt = self._privileges(family_id, child_id)
        if start is not None:
            stmt = stmt.where(Privilege.date >= start)
        if end is not None:
            stmt = stmt.where(Privilege.date <= end)
        return (await self.session.scalars(stmt.order_by(Privilege.date, Privilege.id))).all()

    # --- rules and violations --------------------------------------------------------------------

    async def rule(self, family_id: str, rule_id: str) -> Rule | None:
        found = await self.session.get(Rule, rule_id)
        return found if found is not None and found.family_id == family_id else None

    async def active_rules(self, family_id: str) -> Sequence[Rule]:
        stmt = (
            select(Rule)
            .where(Rule.family_id == family_id, Rule.active.is_(True))
            .order_by(Rule.created_at, Rule.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def rules_by_id(self, family_id: str, rule_ids: Sequence[str]) -> Sequence[Rule]:
        if not rule_ids:
            return []
        stmt = select(Rule).where(Rule.family_id == family_id, Rule.id.in_(rule_ids))
        return (await self.session.scalars(stmt)).all()

    def _violations(self, family_id: str, child_id: str | None) -> Select[Violation]:
        stmt = select(Violation).where(Violation.family_id == family_id)
        if child_id is not None:
            stmt = stmt.where(Violation.child_id == child_id)
        return stmt

    async def violation(self, family_id: str, violation_id: str) -> Violation | None:
        found = await self.session.get(Violation, violation_id)
        return found if found is not None and found.family_id == family_id else None

    async def violations_between(
        self, family_id: str, child_id: str | None, start: date | None, end: date | None
    ) -> Sequence[Violation]:
        stmt = self._violations(family_id, child_id)
        if start is not None:
            stmt = stmt.where(Violation.date >= start)
        if end is not None:
            stmt = stmt.where(Violation.date <= end)
        return (
            await self.session.scalars(stmt.order_by(Violation.date.desc(), Violation.id))
        ).all()

    async def rule_descriptions(self, rule_ids: Sequence[str]) -> dict[str, str]:
        if not rule_ids:
            return {}
        rows = await self.session.execute(
            select(Rule.id, Rule.description).where(Rule.id.in_(rule_ids))
        )
        return {row.id: row.description for row in rows}

    # --- contracts -------------------------------------------------------------------------------

    async def contract(self, family_id: str, contract_id: str) -> Contract | None:
        found = await self.session.get(Contract, contract_id)
        return found if found is not None and found.family_id == family_id else None

    async def contracts(self, family_id: str, child_id: str | None) -> Sequence[Contract]:
        stmt = select(Contract).where(Contract.family_id == family_id)
        if child_id is not None:
            stmt = stmt.where(Contract.child_id == child_id)
        return (
            await self.session.scalars(stmt.order_by(Contract.start_date.desc(), Contract.id))
        ).all()

    async def contracts_covering(
        self, family_id: str, day: date, child_id: str | None = None, *, active_only: bool = True
    ) -> Sequence[Contract]:
        stmt = select(Contract).where(
            Contract.family_id == family_id, Contract.start_date <= day, Contract.end_date >= day
        )
        if active_only:
            stmt = stmt.where(Contract.active.is_(True))
        if child_id is not None:
            stmt = stmt.where(Contract.child_id == child_id)
        return (await self.session.scalars(stmt.order_by(Contract.created_at, Contract.id))).all()

    async def rules_of_contracts(self, contract_ids: Sequence[str]) -> dict[str, list[Rule]]:
        found: dict[str, list[Rule]] = {cid: [] for cid in contract_ids}
        if not contract_ids:
            return found
        rows = await self.session.execute(
            select(ContractRule.contract_id, Rule)
            .join(Rule, Rule.id == ContractRule.rule_id)
            .where(ContractRule.contract_id.in_(contract_ids))
            .order_by(Rule.created_at, Rule.id)
        )
        for contract_id, rule in rows:
            found[contract_id].append(rule)
        return found

    async def set_contract_rules(self, contract_id: str, rule_ids: Sequence[str]) -> None:
        await self.session.execute(
            delete(ContractRule).where(ContractRule.contract_id == contract_id)
        )
        for rule_id in dict.fromkeys(rule_ids):
            self.session.add(ContractRule(contract_id=contract_id, rule_id=rule_id))
        await self.session.flush()

    async def detach_reward_days(self, contract_id: str) -> None:
        """Keep a deleted contract's settled days (and their ledger links) as history."""
        await self.session.execute(
            update(RewardDay)
            .where(RewardDay.contract_id == contract_id)
            .values(contract_id=None)
            .execution_options(synchronize_session=False)
        )

    # --- reward days and excused days ------------------------------------------------------------

    async def claim_reward_day(self, **values: Any) -> str | None:
        """Insert the (contract, day) settlement unless one exists: its id, or None."""
        stmt = (
            insert_for(self.dialect, RewardDay)
            .values(id=new_uuid(), **values)
            .on_conflict_do_nothing(index_elements=["contract_id", "day"])
            .returning(RewardDay.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def reward_day(self, contract_id: str, day: date) -> RewardDay | None:
        return await self.session.scalar(
            select(RewardDay).where(RewardDay.contract_id == contract_id, RewardDay.day == day)
        )

    async def settle_unpaid(self, reward_day_id: str, **values: Any) -> bool:
        """Re-settle a day that was not paid; False if it was paid meanwhile (by anyone)."""
        result = await self.session.execute(
            update(RewardDay)
            .where(RewardDay.id == reward_day_id, RewardDay.outcome != "paid")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_reward_transaction(self, reward_day_id: str, transaction_id: str) -> None:
        await self.session.execute(
            update(RewardDay)
            .where(RewardDay.id == reward_day_id)
            .values(ledger_transaction_id=transaction_id)
            .execution_options(synchronize_session=False)
        )

    async def reward_days_of_child(
        self, child_id: str, start: date, end: date
    ) -> Sequence[RewardDay]:
        stmt = select(RewardDay).where(
            RewardDay.child_id == child_id, RewardDay.day >= start, RewardDay.day <= end
        )
        return (await self.session.scalars(stmt.order_by(RewardDay.day))).all()

    async def reward_days_by_transaction(
        self, transaction_ids: Sequence[str]
    ) -> dict[str, RewardDay]:
        if not transaction_ids:
            return {}
        rows = await self.session.scalars(
            select(RewardDay).where(RewardDay.ledger_transaction_id.in_(transaction_ids))
        )
        return {row.ledger_transaction_id or "": row for row in rows}

    async def excused_day(self, child_id: str, day: date) -> ExcusedDay | None:
        return await self.session.scalar(
            select(ExcusedDay).where(ExcusedDay.child_id == child_id, ExcusedDay.day == day)
        )

    async def excused_days(
        self, child_id: str, start: date | None = None, end: date | None = None
    ) -> Sequence[ExcusedDay]:
        stmt = select(ExcusedDay).where(ExcusedDay.child_id == child_id)
        if start is not None:
            stmt = stmt.where(ExcusedDay.day >= start)
        if end is not None:
            stmt = stmt.where(ExcusedDay.day <= end)
        return (await self.session.scalars(stmt.order_by(ExcusedDay.day.desc()))).all()

    async def excused(self, family_id: str, excused_id: str) -> ExcusedDay | None:
        found = await self.session.get(ExcusedDay, excused_id)
        return found if found is not None and found.family_id == family_id else None

    # --- calendar feeds --------------------------------------------------------------------------

    async def feed_by_hash(self, token_hash: str) -> CalendarFeed | None:
        return await self.session.scalar(
            select(CalendarFeed).where(
                CalendarFeed.token_hash == token_hash, CalendarFeed.revoked_at.is_(None)
            )
        )

    async def feeds(self, user_id: str) -> Sequence[CalendarFeed]:
        stmt = (
            select(CalendarFeed)
            .where(CalendarFeed.user_id == user_id)
            .order_by(CalendarFeed.created_at.desc())
        )
        return (await self.session.scalars(stmt)).all()

    async def feed(self, user_id: str, feed_id: str) -> CalendarFeed | None:
        found = await self.session.get(CalendarFeed, feed_id)
        return found if found is not None and found.user_id == user_id else None

"""Tables of the family module. Everything hangs off `family_families`: a member, task, rule,
contract or feed belongs to exactly one family, and every query filters by it.

- `family_members`: one row per account in a family (the user id is the key, so an account
  belongs to at most one family), with the role and the child's profile.
- `family_invitations`: an e-mail a parent invited; an account signing up through the identity
  provider with that e-mail joins the family as the invited role.
- `family_tasks`: one row per child and date. A recurring task is a template row (the first
  occurrence, `is_recurring`) and instance rows pointing at it; instances are unique per
  (template, date), so generating twice never duplicates one.
- `family_reward_days`: the settlement of one contract for one day — paid, skipped or excused,
  and why. Unique per (contract, day): the reward job and a re-run can never both pay it.
- `family_excused_days`: a child's day with no reward, no penalty and no broken streak.
- `family_calendar_feeds`: a member's iCalendar subscription, by the SHA-256 of its token.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db.base import Base, TimestampMixin, UUIDPrimaryKey, utcnow

USER_FK = "users.id"


class Family(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_families"

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )


class Member(TimestampMixin, Base):
    __tablename__ = "family_members"
    __table_args__ = (CheckConstraint("role IN ('parent', 'child')", name="role"),)

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True
    )
    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    profile_picture: Mapped[str | None] = mapped_column(String(1000))

    @property
    def is_parent(self) -> bool:
        return self.role == "parent"


class Invitation(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_invitations"

    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), index=True)  # trimmed, lower-case
    role: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    invited_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    accepted_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None] = mapped_column()


class Task(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_tasks"
    __table_args__ = (
        UniqueConstraint("parent_task_id", "due_date"),
        Index("ix_family_tasks_child_day", "assigned_to", "due_date"),
        Index("ix_family_tasks_family_day", "family_id", "due_date"),
    )

    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    assigned_to: Mapped[str] = mapped_column(String(36), ForeignKey(USER_FK, ondelete="CASCADE"))
    due_date: Mapped[dt.date] = mapped_column(Date)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )
    is_recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    weekdays: Mapped[list[int] | None] = mapped_column(JSON)
    rrule: Mapped[str | None] = mapped_column(String(500))
    exdates: Mapped[list[str] | None] = mapped_column(JSON)  # ISO dates left out of the rule
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    # A template's instances exist through this date; the window job extends it.
    generated_until: Mapped[dt.date | None] = mapped_column(Date)
    parent_task_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("family_tasks.id", ondelete="SET NULL"), index=True
    )
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approval_status: Mapped[str | None] = mapped_column(String(10))  # pending|approved|rejected
    rejection_reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )

    @property
    def done(self) -> bool:
        """Counts for rewards and analytics: completed, and approved where that is required."""
        return self.completed and (not self.requires_approval or self.approval_status == "approved")


class Privilege(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_privileges"
    __table_args__ = (Index("ix_family_privileges_child_day", "assigned_to", "date"),)

    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    assigned_to: Mapped[str] = mapped_column(String(36), ForeignKey(USER_FK, ondelete="CASCADE"))
    earned: Mapped[bool] = mapped_column(Boolean, default=False)
    date: Mapped[dt.date] = mapped_column(Date)


class Rule(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_rules"

    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(String(500))
    is_task: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Violation(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_rule_violations"
    __table_args__ = (Index("ix_family_rule_violations_child_day", "child_id", "date"),)

    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[str] = mapped_column(String(36), ForeignKey("family_rules.id"), index=True)
    child_id: Mapped[str] = mapped_column(String(36), ForeignKey(USER_FK, ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    reported_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )


class Contract(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_contracts"
    __table_args__ = (
        CheckConstraint("daily_reward_cents > 0", name="reward_positive"),
        CheckConstraint("start_date <= end_date", name="dates_ordered"),
    )

    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    child_id: Mapped[str] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )
    daily_reward_cents: Mapped[int] = mapped_column(BigInteger)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ContractRule(Base):
    __tablename__ = "family_contract_rules"

    contract_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_contracts.id", ondelete="CASCADE"), primary_key=True
    )
    rule_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_rules.id", ondelete="CASCADE"), primary_key=True
    )


class RewardDay(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_reward_days"
    __table_args__ = (
        UniqueConstraint("contract_id", "day"),
        Index("ix_family_reward_days_child_day", "child_id", "day"),
        CheckConstraint("outcome IN ('paid', 'skipped', 'excused')", name="outcome"),
    )

    # Kept (as NULL) when the contract is deleted: the history stays.
    contract_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("family_contracts.id", ondelete="SET NULL")
    )
    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    child_id: Mapped[str] = mapped_column(String(36), ForeignKey(USER_FK, ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(500))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_transaction_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("ledger_transactions.id"), index=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ExcusedDay(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_excused_days"
    __table_args__ = (UniqueConstraint("child_id", "day"),)

    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE"), index=True
    )
    child_id: Mapped[str] = mapped_column(String(36), ForeignKey(USER_FK, ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="SET NULL")
    )


class CalendarFeed(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "family_calendar_feeds"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey(USER_FK, ondelete="CASCADE"), index=True
    )
    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("family_families.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column()

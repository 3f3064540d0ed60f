"""Request and response bodies: the seed web client's exact camelCase shapes.

Bodies ignore fields they do not know (the client sends `reportedBy`, `createdBy`, `completed`,
`parentId` where the server decides them). Money arrives as a JSON number or decimal string
and is integer cents inside; it leaves as a JSON number rounded to the cent (`money()`), since
the client calls `.toFixed()` on it.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from pydantic.alias_generators import to_camel

from tessera.core.kit.money import MinorUnits, format_amount
from tessera.modules.family.config import CURRENCY

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Euros = Annotated[int, MinorUnits(CURRENCY)]
Role = Literal["parent", "child"]
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def _in_range(value: dt.date) -> dt.date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"dates run from {FIRST_DAY} to {LAST_DAY}")
    return value


# A calendar date of the family, in a range where date arithmetic never overflows.
Day = Annotated[dt.date, AfterValidator(_in_range)]


def money(cents: int) -> float:
    """Cents as the JSON number the client reads (12.5 for 1250)."""
    return float(format_amount(cents, CURRENCY))


class Camel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", from_attributes=True
    )


# --- families, members, invitations ------------------------------------------------------------


class FamilyCreate(Camel):
    name: Text
    timezone: str | None = Field(None, max_length=64, description="IANA zone, e.g. Europe/Paris")
    currency: Literal["EUR"] = "EUR"
    # The creator's own profile in the family (defaults: the account's name, no birth date).
    parent_name: Text | None = None
    birth_date: Day | None = None


class FamilyUpdate(Camel):
    name: Text | None = None
    timezone: str | None = Field(None, max_length=64)


class FamilyOut(Camel):
    id: str
    name: str
    timezone: str
    currency: str
    created_at: datetime


class MemberOut(Camel):
    id: str
    name: str
    birth_date: dt.date | None
    is_parent: bool
    profile_picture: str | None


class MemberUpdate(Camel):
    name: Text | None = None
    birth_date: Day | None = None
    profile_picture: Annotated[str, StringConstraints(max_length=1000)] | None = None


class InvitationCreate(Camel):
    email: EmailStr = Field(max_length=320)
    role: Role = "child"
    name: Text
    birth_date: Day | None = None


class InvitationOut(Camel):
    id: str
    family_id: str
    email: str
    role: str
    name: str
    birth_date: dt.date | None
    status: Literal["pending", "accepted", "revoked", "expired"]
    expires_at: datetime
    accepted_at: datetime | None
    created_at: datetime


# --- tasks ---------------------------------------------------------------------------------------


class TaskCreate(Camel):
    title: Text
    description: LongText | None = None
    assigned_to: list[str] = Field(min_length=1, max_length=50)
    due_date: Day
    is_recurring: bool = False
    weekdays: list[int] | None = None
    end_date: Day | None = None
    rrule: Annotated[str, StringConstraints(max_length=500)] | None = None
    exdates: list[Day] | None = Field(None, max_length=500)
    requires_approval: bool = False


class TaskUpdate(Camel):
    title: Text | None = None
    description: LongText | None = None
    assigned_to: list[str] | None = Field(None, min_length=1, max_length=1)
    due_date: Day | None = None
    completed: bool | None = None
    is_recurring: bool | None = None
    weekdays: list[int] | None = None
    end_date: Day | None = None
    rrule: Annotated[str, StringConstraints(max_length=500)] | None = None
    exdates: list[Day] | None = Field(None, max_length=500)
    requires_approval: bool | None = None


class RejectIn(Camel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class TaskOut(Camel):
    id: str
    title: str
    description: str | None
    assigned_to: list[str]
    due_date: dt.date
    completed: bool
    created_by: str | None
    created_at: datetime
    is_recurring: bool
    weekdays: list[int] | None
    end_date: dt.date | None
    parent_task_id: str | None
    rrule: str | None
    exdates: list[str] | None
    requires_approval: bool
    approval_status: str | None
    rejection_reason: str | None
    can_modify: bool


class TaskPage(BaseModel):
    tasks: list[TaskOut]
    total: int


# --- privileges, rules, violations ---------------------------------------------------------------


class PrivilegeCreate(Camel):
    title: Text
    description: LongText | None = None
    assigned_to: str
    date: Day
    earned: bool = False


class PrivilegeUpdate(Camel):
    title: Text | None = None
    description: LongText | None = None
    assigned_to: str | None = None
    date: Day | None = None
    earned: bool | None = None


class PrivilegeOut(Camel):
    id: str
    title: str
    description: str | None
    assigned_to: str
    earned: bool
    date: dt.date
    can_modify: bool
    can_view: bool


class PrivilegePage(BaseModel):
    privileges: list[PrivilegeOut]
    total: int


class RuleCreate(Camel):
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ]
    is_task: bool = False


class RuleUpdate(Camel):
    description: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = None
    is_task: bool | None = None
    active: bool | None = None


class RuleOut(Camel):
    id: str
    description: str
    is_task: bool
    active: bool


class RuleDeleted(Camel):
    message: str
    rule_id: str


class ViolationCreate(Camel):
    rule_id: str
    child_id: str
    date: Day
    description: LongText | None = None


class ViolationOut(Camel):
    id: str
    rule_id: str
    child_id: str
    date: dt.date
    description: str | None
    reported_by: str | None
    can_modify: bool
    can_view: bool


# --- contracts, wallets, rewards -----------------------------------------------------------------


class ContractCreate(Camel):
    title: Text
    child_id: str
    parent_id: str | None = None  # default: the caller
    rule_ids: list[str] = Field(default_factory=list, max_length=100)
    daily_reward: Euros
    start_date: Day
    end_date: Day


class ContractUpdate(Camel):
    title: Text | None = None
    child_id: str | None = None
    parent_id: str | None = None
    rule_ids: list[str] | None = Field(None, max_length=100)
    daily_reward: Euros | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    active: bool | None = None


class ContractRuleOut(Camel):
    id: str
    description: str
    is_task: bool


class ContractOut(Camel):
    id: str
    title: str
    child_id: str
    parent_id: str | None
    daily_reward: float
    start_date: dt.date
    end_date: dt.date
    active: bool
    rules: list[ContractRuleOut]


class ContractDeleted(Camel):
    message: str
    contract_id: str


class TransactionOut(Camel):
    id: str
    child_id: str
    amount: float
    date: datetime
    reason: str
    contract_id: str | None
    reward_day: dt.date | None = None


class WalletOut(Camel):
    child_id: str
    balance: float
    transactions: list[TransactionOut]


class ConvertIn(Camel):
    amount: Annotated[object, Field(description="euros, a JSON number or decimal string")]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None


class ReprocessIn(Camel):
    start_date: Day
    end_date: Day


class ReprocessSummary(BaseModel):
    total_rewards_processed: int
    total_rewards_skipped: int
    total_amount_credited: float
    days_processed: int


class ReprocessDay(BaseModel):
    date: dt.date
    rewards_processed: int
    rewards_skipped: int
    total_amount_credited: float


class ReprocessOut(BaseModel):
    success: bool
    message: str
    summary: ReprocessSummary
    daily_results: list[ReprocessDay]


class ExcusedCreate(Camel):
    date: Day
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ExcusedOut(Camel):
    id: str
    child_id: str
    date: dt.date
    reason: str
    created_by: str | None


class DayTask(Camel):
    id: str
    title: str
    completed: bool
    requires_approval: bool
    approval_status: str | None
    counts_as_done: bool


class DayViolation(Camel):
    id: str
    rule_id: str
    rule: str
    description: str | None


class DayContract(Camel):
    contract_id: str
    title: str
    daily_reward: float
    outcome: Literal["paid", "skipped", "excused", "not_settled"]
    reason: str
    amount_credited: float


class DayOut(Camel):
    child_id: str
    date: dt.date
    excused: ExcusedOut | None
    tasks: list[DayTask]
    violations: list[DayViolation]
    rule_met: bool
    explanation: str
    contracts: list[DayContract]


# --- analytics, feeds ----------------------------------------------------------------------------


class Measure(BaseModel):
    current: float
    previous: float


class AnalyticsOut(Camel):
    perfect_days: Measure
    longest_streak: Measure
    task_completion_rate: Measure
    infractions: Measure
    privileges_earned: Measure
    rewards_earned: Measure


class FeedCreate(Camel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = (
        "Famille"
    )


class FeedOut(Camel):
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class FeedCreated(FeedOut):
    url: str  # shown once: the token in it is stored only as a hash

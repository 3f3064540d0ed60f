"""Who may see and change what inside a family: the caller (an account, its membership, its
family) and the checks every service applies before touching a row.

Parents may do everything in their family. A child reads their own tasks, privileges,
violations, contracts, wallet and analytics, completes their own tasks and may only un-complete
them. An id from another family is not found (404); a forbidden act inside the family is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from tessera.core.db.base import utcnow
from tessera.core.identity.models import User
from tessera.modules.family.errors import ChildNotFound, NotAuthorized, ParentRequired
from tessera.modules.family.models import Family, Member
from tessera.modules.family.repository import FamilyRepository


def local_today(family: Family, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(family.timezone)).date()


@dataclass(frozen=True)
class FamilyCaller:
    user: User
    member: Member
    family: Family

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def family_id(self) -> str:
        return self.family.id

    @property
    def is_parent(self) -> bool:
        return self.member.is_parent

    def today(self) -> date:
        return local_today(self.family)

    def require_parent(self) -> None:
        if not self.is_parent:
            raise ParentRequired()

    def visible_child(self) -> str | None:
        """The child filter of a list: None (the whole family) for a parent, else oneself."""
        return None if self.is_parent else self.user.id


async def child_of_family(repo: FamilyRepository, family_id: str, child_id: str) -> Member:
    member = await repo.member_in(family_id, child_id)
    if member is None or member.is_parent:
        raise ChildNotFound()
    return member


async def readable_child(repo: FamilyRepository, caller: FamilyCaller, child_id: str) -> Member:
    """A child whose records the caller may read: a parent any child of the family, a child
    only themself (another child of the family is 403, a stranger 404)."""
    if not caller.is_parent and child_id != caller.id:
        if await repo.member_in(caller.family_id, child_id) is None:
            raise ChildNotFound()
        raise NotAuthorized()
    return await child_of_family(repo, caller.family_id, child_id)

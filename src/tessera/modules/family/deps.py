"""Who is calling a family route: a signed-in account and its membership (`MemberDep`), and
the module's settings (`SettingsDep`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera.core.db import DbSession
from tessera.core.identity import CurrentUser
from tessera.core.runtime import RuntimeDep
from tessera.modules.family.access import FamilyCaller
from tessera.modules.family.config import FamilySettings
from tessera.modules.family.errors import NotAMember
from tessera.modules.family.repository import FamilyRepository


async def family_caller(user: CurrentUser, session: DbSession) -> FamilyCaller:
    repo = FamilyRepository(session)
    member = await repo.member(user.id)
    family = await repo.family(member.family_id) if member is not None else None
    if member is None or family is None:
        raise NotAMember()
    return FamilyCaller(user=user, member=member, family=family)


async def family_settings(runtime: RuntimeDep) -> FamilySettings:
    return runtime.settings.module(FamilySettings)


MemberDep = Annotated[FamilyCaller, Depends(family_caller)]
SettingsDep = Annotated[FamilySettings, Depends(family_settings)]

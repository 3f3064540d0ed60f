"""A world of two families for the family tests: family A (two parents' worth of roles: one
parent, two children) and family B (a parent and a child), every member signed in with a
Bearer token. Members are made the way `tessera family create` makes them, with a password so
that the tests can sign in without the identity provider."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from tests.helpers.identity import DEFAULT_PASSWORD, login
from tests.helpers.oidc import provider

from tessera.core.identity.state import state_of
from tessera.modules.family.families import NewMember, create_family_with_members

__all__ = ["provider"]


@dataclass
class Person:
    id: str
    email: str
    name: str
    headers: dict[str, str]


@dataclass
class Household:
    id: str
    timezone: str
    parent: Person
    children: list[Person]

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.timezone)).date()


async def make_household(
    client: httpx2.AsyncClient,
    runtime: Any,
    *,
    children: int = 1,
    timezone: str = "Europe/Paris",
) -> Household:
    tag = uuid.uuid4().hex[:8]
    members = [NewMember(f"parent-{tag}@example.com", f"Parent {tag}", "parent")] + [
        NewMember(f"child{i}-{tag}@example.com", f"Child{i} {tag}", "child", date(2017, 3, i + 1))
        for i in range(children)
    ]
    async with runtime.db.session() as session:
        family, created = await create_family_with_members(
            session,
            state_of(runtime),
            name=f"Family {tag}",
            timezone=timezone,
            members=members,
            password=DEFAULT_PASSWORD,
        )
        family_id = family.id
        ids = [m.user_id for m in created]
    people = []
    for member, user_id in zip(members, ids, strict=True):
        tokens = await login(client, member.email, DEFAULT_PASSWORD)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        people.append(Person(user_id, member.email, member.name, headers))
    return Household(family_id, timezone, people[0], people[1:])


@dataclass
class World:
    a: Household  # a parent and two children
    b: Household  # another family: a parent and a child


@pytest.fixture
async def world(client: httpx2.AsyncClient, runtime: Any) -> World:
    return World(
        a=await make_household(client, runtime, children=2),
        b=await make_household(client, runtime, children=1),
    )

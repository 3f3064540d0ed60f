"""Calendar subscriptions: a member creates a feed URL that a phone calendar polls. The URL
carries a random 256-bit token (the only credential a calendar app can send); the database
keeps its SHA-256 only, the access log records the route template, never the path, and
revoking the feed ends it on the next fetch. A feed shows what its owner may see now: a
parent the family's tasks, privileges and contracts, a child their own; a member who left the
family has a dead feed."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.modules.family.access import FamilyCaller, local_today
from tessera.modules.family.config import FamilySettings
from tessera.modules.family.errors import FeedNotFound
from tessera.modules.family.ical import FeedEvent, render
from tessera.modules.family.models import CalendarFeed
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import money

TOKEN_BYTES = 32
HISTORY_DAYS = 90


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_feed(
    session: AsyncSession, caller: FamilyCaller, name: str
) -> tuple[CalendarFeed, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed: CalendarFeed = await FamilyRepository(session).add(
        CalendarFeed(
            user_id=caller.id, family_id=caller.family_id, name=name, token_hash=token_hash(token)
        )
    )
    return feed, token


async def feeds(session: AsyncSession, caller: FamilyCaller) -> Sequence[CalendarFeed]:
    return await FamilyRepository(session).feeds(caller.id)


async def revoke_feed(session: AsyncSession, caller: FamilyCaller, feed_id: str) -> CalendarFeed:
    repo = FamilyRepository(session)
    feed = await repo.feed(caller.id, feed_id)
    if feed is None:
        raise FeedNotFound()
    if feed.revoked_at is None:
        feed.revoked_at = utcnow()
        await repo.flush()
    return feed


async def render_feed(session: AsyncSession, token: str, settings: FamilySettings) -> bytes:
    repo = FamilyRepository(session)
    feed = await repo.feed_by_hash(token_hash(token)) if token else None
    member = await repo.member_in(feed.family_id, feed.user_id) if feed else None
    family = await repo.family(feed.family_id) if feed else None
    if feed is None or member is None or family is None:
        raise FeedNotFound()
    child = None if member.is_parent else member.user_id
    today = local_today(family)
    start = today - timedelta(days=HISTORY_DAYS)
    end = today + timedelta(days=settings.task_window_days)
    names = {m.user_id: m.name for m in await repo.members(family.id)}
    events: list[FeedEvent] = []
    for task in await repo.tasks_between(family.id, child, start, end):
        mark = "✔ " if task.done else ""
        who = f" ({names.get(task.assigned_to, '')})" if child is None else ""
        events.append(
            FeedEvent(
                uid=f"task-{task.id}@tessera",
                summary=f"{mark}{task.title}{who}",
                start=task.due_date,
                end=task.due_date + timedelta(days=1),
                description=task.description,
                categories=("Tâche",),
            )
        )
    for privilege in await repo.privileges_between(family.id, child, start, end):
        events.append(
            FeedEvent(
                uid=f"privilege-{privilege.id}@tessera",
                summary=f"Privilège : {privilege.title}",
                start=privilege.date,
                end=privilege.date + timedelta(days=1),
                description=privilege.description,
                categories=("Privilège",),
            )
        )
    for contract in await repo.contracts(family.id, child):
        if not contract.active or contract.end_date < start:
            continue
        reward = money(contract.daily_reward_cents)
        events.append(
            FeedEvent(
                uid=f"contract-{contract.id}@tessera",
                summary=f"Contrat : {contract.title} ({reward:.2f} €/jour)",
                start=contract.start_date,
                end=contract.end_date + timedelta(days=1),
                categories=("Contrat",),
            )
        )
    return render(f"{family.name} — {feed.name}", events, utcnow())

"""Families, members and invitations, and the hooks identity calls: who may sign up (an invited
e-mail), who joins which family on sign-up, and the profile fields of `/auth/me`.

An invitation is redeemed when an account with its e-mail is created without a password, i.e.
through the identity provider (Google), whose e-mail the service trusts, or by the operator's
`tessera family create`. A password registration proves nothing about the address, so it
never joins a family by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from tessera.core.audit import record
from tessera.core.db.base import utcnow
from tessera.core.identity.auth_service import create_user, normalise_email
from tessera.core.identity.models import User
from tessera.core.identity.state import IdentityState
from tessera.core.modules import AnySelect, ProfileFields
from tessera.modules.family.access import FamilyCaller
from tessera.modules.family.config import CURRENCY, FamilySettings, check_timezone
from tessera.modules.family.errors import (
    AlreadyInFamily,
    AlreadyInvited,
    InvalidTimezone,
    InvitationNotFound,
    MemberNotFound,
    NotAuthorized,
)
from tessera.modules.family.models import Family, Invitation, Member
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import (
    FamilyCreate,
    FamilyUpdate,
    InvitationCreate,
    InvitationOut,
    MemberUpdate,
)

# The seed created accounts with this birth date when Google gave none.
PLACEHOLDER_BIRTH_DATE = date(2000, 1, 1)


def _zone(name: str) -> str:
    try:
        return check_timezone(name)
    except ValueError as exc:
        raise InvalidTimezone(str(exc)) from None


def _display_name(user: User) -> str:
    return user.full_name or user.email.split("@", 1)[0]


async def create_family(
    session: AsyncSession, user: User, body: FamilyCreate, settings: FamilySettings
) -> tuple[Family, Member]:
    repo = FamilyRepository(session)
    if await repo.member(user.id) is not None:
        raise AlreadyInFamily()
    zone = _zone(body.timezone) if body.timezone else settings.default_timezone
    family = await repo.add(
        Family(name=body.name, timezone=zone, currency=CURRENCY, created_by=user.id)
    )
    member = await repo.add(
        Member(
            user_id=user.id,
            family_id=family.id,
            role="parent",
            name=body.parent_name or _display_name(user),
            birth_date=body.birth_date,
        )
    )
    await record(
        session,
        "family.created",
        actor_id=user.id,
        target_type="family_family",
        target_id=family.id,
        details={"timezone": zone},
    )
    return family, member


async def update_family(session: AsyncSession, caller: FamilyCaller, body: FamilyUpdate) -> Family:
    caller.require_parent()
    family = caller.family
    if body.name is not None:
        family.name = body.name
    if body.timezone is not None:
        family.timezone = _zone(body.timezone)
    await FamilyRepository(session).flush()
    return family


async def update_member(
    session: AsyncSession, caller: FamilyCaller, user_id: str, body: MemberUpdate
) -> Member:
    """A parent edits any member's profile; a child only their own picture."""
    repo = FamilyRepository(session)
    member = await repo.member_in(caller.family_id, user_id)
    if member is None:
        raise MemberNotFound()
    changes = body.model_dump(exclude_unset=True)
    if not caller.is_parent and (user_id != caller.id or set(changes) - {"profile_picture"}):
        raise NotAuthorized()
    for field, value in changes.items():
        if field == "name" and value is None:
            continue
        setattr(member, field, value)
    await repo.flush()
    return member


async def remove_member(session: AsyncSession, caller: FamilyCaller, user_id: str) -> None:
    """A parent removes a member (never the family's last parent): the account stays."""
    caller.require_parent()
    repo = FamilyRepository(session)
    member = await repo.member_in(caller.family_id, user_id)
    if member is None:
        raise MemberNotFound()
    if member.is_parent and sum(m.is_parent for m in await repo.members(caller.family_id)) == 1:
        raise AlreadyInFamily("A family keeps at least one parent", code="last_parent")
    await repo.delete(member)
    await record(
        session,
        "family.member_removed",
        actor_id=caller.id,
        target_type="family_member",
        target_id=user_id,
        details={"family_id": caller.family_id},
    )


# --- invitations ----------------------------------------------------------------------------


def invitation_out(invitation: Invitation) -> InvitationOut:
    if invitation.accepted_at is not None:
        status = "accepted"
    elif invitation.revoked_at is not None:
        status = "revoked"
    elif invitation.expires_at <= utcnow():
        status = "expired"
    else:
        status = "pending"
    return InvitationOut(
        id=invitation.id,
        family_id=invitation.family_id,
        email=invitation.email,
        role=invitation.role,
        name=invitation.name,
        birth_date=invitation.birth_date,
        status=status,  # type: ignore[arg-type]
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        created_at=invitation.created_at,
    )


async def invite(
    session: AsyncSession, caller: FamilyCaller, body: InvitationCreate, settings: FamilySettings
) -> Invitation:
    caller.require_parent()
    repo = FamilyRepository(session)
    email = normalise_email(str(body.email))
    if await repo.user_by_email(email) is not None:
        raise AlreadyInFamily(
            "This e-mail already has an account; invitations are for new accounts",
            code="account_exists",
        )
    now = utcnow()
    expires = now + timedelta(days=settings.invitation_days)
    pending = await repo.pending_invitation(email, now)
    if pending is not None and pending.family_id != caller.family_id:
        raise AlreadyInvited()
    if pending is not None:  # the same family invites again: refresh it
        pending.role, pending.name, pending.birth_date = body.role, body.name, body.birth_date
        pending.expires_at, pending.invited_by = expires, caller.id
        await repo.flush()
        invitation = pending
    else:
        invitation = await repo.add(
            Invitation(
                family_id=caller.family_id,
                email=email,
                role=body.role,
                name=body.name,
                birth_date=body.birth_date,
                invited_by=caller.id,
                expires_at=expires,
            )
        )
    await record(
        session,
        "family.invited",
        actor_id=caller.id,
        target_type="family_invitation",
        target_id=invitation.id,
        details={"family_id": caller.family_id, "role": body.role},
    )
    return invitation


async def revoke_invitation(
    session: AsyncSession, caller: FamilyCaller, invitation_id: str
) -> None:
    caller.require_parent()
    repo = FamilyRepository(session)
    invitation = await repo.invitation(caller.family_id, invitation_id)
    if invitation is None:
        raise InvitationNotFound()
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        await repo.flush()


# --- the hooks identity calls ----------------------------------------------------------------


async def signup_allowed(session: AsyncSession, email: str) -> bool:
    """May this e-mail create an account through the identity provider? Yes if invited."""
    repo = FamilyRepository(session)
    return await repo.pending_invitation(normalise_email(email), utcnow()) is not None


async def join_invited_family(session: AsyncSession, user: User) -> None:
    """In the registration's transaction: an account created without a password (identity
    provider, operator) joins the family that invited its e-mail."""
    if user.hashed_password is not None:
        return
    repo = FamilyRepository(session)
    now = utcnow()
    invitation = await repo.pending_invitation(user.email, now)
    if invitation is None or await repo.member(user.id) is not None:
        return
    await repo.add(
        Member(
            user_id=user.id,
            family_id=invitation.family_id,
            role=invitation.role,
            name=invitation.name,
            birth_date=invitation.birth_date,
        )
    )
    invitation.accepted_at, invitation.accepted_by = now, user.id
    await repo.flush()
    await record(
        session,
        "family.member_joined",
        actor_id=user.id,
        target_type="family_invitation",
        target_id=invitation.id,
        details={"family_id": invitation.family_id, "role": invitation.role},
    )


def _profile_query(user_id: BindParameter[str]) -> AnySelect:
    return select(
        Member.family_id, Member.role, Member.name, Member.birth_date, Member.profile_picture
    ).where(Member.user_id == user_id)


def _profile_fields(member: Mapping[str, Any]) -> Mapping[str, Any]:
    """An account in no family is not a user of that client and gets none (its `/auth/me`
    stays the core's)."""
    if member["family_id"] is None:
        return {}
    birth_date = member["birth_date"]
    return {
        "name": member["name"],
        "isParent": member["role"] == "parent",
        "birthDate": birth_date.isoformat() if birth_date else None,
        "profilePicture": member["profile_picture"],
        "familyId": member["family_id"],
    }


# The seed client's `/auth/me` fields, for a member of a family.
profile = ProfileFields(query=_profile_query, render=_profile_fields)


# --- operator set-up (CLI, demo) ------------------------------------------------------------


@dataclass(frozen=True)
class NewMember:
    email: str
    name: str
    role: str
    birth_date: date | None = None


async def create_family_with_members(
    session: AsyncSession,
    identity: IdentityState,
    *,
    name: str,
    timezone: str,
    members: list[NewMember],
    password: str | None = None,
) -> tuple[Family, list[Member]]:
    """`tessera family create`: a family whose accounts have no password (they sign in with
    Google). Existing accounts without a family are added; one in a family is refused.
    `password` exists for tests, which sign in with Bearer tokens."""
    repo = FamilyRepository(session)
    family = await repo.add(Family(name=name, timezone=_zone(timezone), currency=CURRENCY))
    created: list[Member] = []
    for new in members:
        email = normalise_email(new.email)
        user = await repo.user_by_email(email)
        if user is None:
            user = await create_user(
                session, identity, email=email, password=password, full_name=new.name
            )
        # An existing account, or a new one that a pending invitation just placed elsewhere.
        if await repo.member(user.id) is not None:
            raise AlreadyInFamily(f"{email} already belongs to a family")
        created.append(
            await repo.add(
                Member(
                    user_id=user.id,
                    family_id=family.id,
                    role=new.role,
                    name=new.name,
                    birth_date=new.birth_date
                    if new.birth_date or new.role == "parent"
                    else PLACEHOLDER_BIRTH_DATE,
                )
            )
        )
    if created and family.created_by is None:
        family.created_by = next((m.user_id for m in created if m.is_parent), None)
        await repo.flush()
    await record(
        session,
        "family.created",
        actor_type="system",
        target_type="family_family",
        target_id=family.id,
        details={"timezone": family.timezone, "members": len(created)},
    )
    return family, created

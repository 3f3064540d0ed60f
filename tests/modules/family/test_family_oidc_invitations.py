"""Invitations through the real OpenID provider process the identity tests use: an invited
child signs in with "Google" (`/api/auth/google` → provider → callback), lands on the frontend
signed in by cookie and is a child of the family that invited them; an e-mail nobody invited
is sent back with `not_invited`, and gets no account and no session."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from tests.conftest import make_settings
from tests.helpers.identity import AuthedUser, register_and_login
from tests.helpers.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    OpenIdProvider,
    redirect_query,
    sign_in_through,
)

from tessera.core.config import Settings
from tessera.core.identity.models import AuthSession, User

pytestmark = pytest.mark.usefixtures("engine")

FRONTEND = "http://localhost:3000"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, provider: OpenIdProvider) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        oidc_google_issuer=provider.issuer,
        public_url="http://testserver",
        frontend_url=FRONTEND,
        cors_origins=[FRONTEND],
    )


async def _family_of_a_new_parent(client: httpx2.AsyncClient, name: str) -> tuple[str, AuthedUser]:
    parent = await register_and_login(client)
    created = await client.post(
        "/api/families",
        json={"name": name, "timezone": "Europe/Paris", "parentName": f"Parent of {name}"},
        headers=parent.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], parent


async def _accounts(runtime: Any, email: str) -> tuple[int, int]:
    """How many accounts have this e-mail, and how many sessions they hold."""
    async with runtime.db.session(write=False) as session:
        users = await session.scalar(select(func.count()).where(User.email == email))
        sessions = await session.scalar(
            select(func.count()).select_from(AuthSession).join(User).where(User.email == email)
        )
    return int(users or 0), int(sessions or 0)


async def test_an_invited_child_signs_in_through_the_provider_into_the_right_family(
    client: httpx2.AsyncClient, runtime: Any, provider: OpenIdProvider
) -> None:
    tag = uuid.uuid4().hex[:8]
    family_id, parent = await _family_of_a_new_parent(client, f"Martin {tag}")
    other_id, other_parent = await _family_of_a_new_parent(client, f"Durand {tag}")
    email = f"lea-{tag}@example.com"
    invited = await client.post(
        f"/api/families/{family_id}/invitations",
        json={"email": email, "role": "child", "name": "Léa", "birthDate": "2018-04-02"},
        headers=parent.headers,
    )
    assert invited.status_code == 201, invited.text

    provider.add_user(f"lea-{tag}", email=email, email_verified=True, name="Léa M")
    client.cookies.clear()
    landed = await sign_in_through(client, f"lea-{tag}", login_path="/api/auth/google")
    assert landed.status_code == 302, landed.text
    assert landed.headers["location"] == FRONTEND + "/"
    assert "tessera_access" in client.cookies

    me = await client.get("/api/auth/me")  # by cookie alone
    assert me.status_code == 200, me.text
    profile = me.json()
    assert profile["email"] == email and profile["email_verified"] is True
    assert profile["isParent"] is False and profile["familyId"] == family_id
    assert profile["name"] == "Léa" and profile["birthDate"] == "2018-04-02"

    mine = await client.get("/api/users/family")
    assert mine.status_code == 200, mine.text
    members = {member["id"]: member for member in mine.json()}
    assert set(members) == {parent.id, profile["id"]}
    assert members[profile["id"]]["isParent"] is False
    assert members[parent.id]["isParent"] is True
    theirs = await client.get("/api/users/family", headers=other_parent.headers)
    assert profile["id"] not in {member["id"] for member in theirs.json()}
    assert other_id != family_id
    listed = await client.get(f"/api/families/{family_id}/invitations", headers=parent.headers)
    assert [row["status"] for row in listed.json()] == ["accepted"]


async def test_an_uninvited_email_is_refused_with_no_account_and_no_session(
    client: httpx2.AsyncClient, runtime: Any, provider: OpenIdProvider
) -> None:
    tag = uuid.uuid4().hex[:8]
    family_id, parent = await _family_of_a_new_parent(client, f"Bernard {tag}")
    invited = await client.post(
        f"/api/families/{family_id}/invitations",
        json={"email": f"invited-{tag}@example.com", "role": "child", "name": "Tom"},
        headers=parent.headers,
    )
    assert invited.status_code == 201, invited.text
    stranger = f"stranger-{tag}@example.com"
    provider.add_user(f"stranger-{tag}", email=stranger, email_verified=True, name="Stranger")
    client.cookies.clear()
    refused = await sign_in_through(client, f"stranger-{tag}", login_path="/api/auth/google")
    assert refused.status_code == 302, refused.text
    assert refused.headers["location"].startswith(FRONTEND + "/?")
    assert redirect_query(refused)["error"] == "not_invited"
    assert "tessera_access" not in client.cookies and "tessera_refresh" not in client.cookies
    assert (await client.get("/api/auth/me")).status_code == 401
    assert await _accounts(runtime, stranger) == (0, 0)
    members = await client.get("/api/users/family", headers=parent.headers)
    assert [member["id"] for member in members.json()] == [parent.id]

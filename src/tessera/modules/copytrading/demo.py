"""`tessera seed --demo`: a master, a follower with a funded wallet, a subscription, and the
licenses printed once. Idempotent by e-mail: a second run creates nothing new."""

from __future__ import annotations

from tessera.core.identity.bootstrap import ensure_user, identity_session
from tessera.core.identity.repository import IdentityRepository
from tessera.core.ledger import Ledger
from tessera.core.runtime import Runtime
from tessera.modules.copytrading.repository import CopytradingRepository
from tessera.modules.copytrading.schemas import MasterProfileIn
from tessera.modules.copytrading.service import (
    MasterService,
    SubscriptionService,
    master_signing_secret,
)
from tessera.modules.copytrading.state import state_of

MASTER_EMAIL = "demo-master@example.com"
FOLLOWER_EMAIL = "demo-follower@example.com"
DEMO_FUNDS = 100_000  # cents


async def seed_demo(runtime: Runtime) -> None:
    settings = state_of(runtime).settings
    async with identity_session(runtime) as (session, state):
        master_out = await ensure_user(
            session,
            state,
            email=MASTER_EMAIL,
            password=None,
            is_admin=False,
            full_name="Demo Master",
        )
        follower_out = await ensure_user(
            session,
            state,
            email=FOLLOWER_EMAIL,
            password=None,
            is_admin=False,
            full_name="Demo Follower",
        )
        users = IdentityRepository(session)
        master_user = await users.get_user_by_email(MASTER_EMAIL)
        follower = await users.get_user_by_email(FOLLOWER_EMAIL)
        assert master_user is not None and follower is not None
        repo = CopytradingRepository(session)
        for role, outcome in (("master", master_out), ("follower", follower_out)):
            # No "password: …" here: that form is the core's own demo accounts' line.
            shown = f", password (shown once) = {outcome.password}" if outcome.password else ""
            print(f"copytrading demo {role} {outcome.email}{shown or ' (exists)'}")
        if await repo.get_master(master_user.id) is None:
            await MasterService(session).upsert(
                master_user,
                MasterProfileIn(
                    display_name="Demo Master",
                    strategy_name="EURUSD trend",
                    monthly_fee="25.00",
                    bio="A demo master trader",
                ),
            )
            issued = await MasterService(session).issue_license(master_user)
            print(f"  master license (shown once): {issued.token}")
            print(f"  master signing secret (shown once): {master_signing_secret(issued)}")
        if not await repo.subscriptions_of(follower.id):
            ledger = Ledger(session)
            await ledger.credit_user(
                follower.id,
                DEMO_FUNDS,
                "USD",
                kind="DEPOSIT",
                from_account="external",
                description="Demo funds",
            )
            sub, license_ = await SubscriptionService(session, settings).subscribe(
                follower, master_user.id
            )
            print(f"  subscription {sub.id}: follower license (shown once): {license_.token}")

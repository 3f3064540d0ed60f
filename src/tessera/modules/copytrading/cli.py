"""`tessera copytrading …`: operator views of masters, subscriptions and signals, and
suspension."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tessera.core.command import run_with_runtime
from tessera.core.kit.money import format_amount

cli = typer.Typer(no_args_is_help=True, help="Copy trading: masters, subscriptions, signals.")


@cli.command()
def masters(limit: int = 100) -> None:
    """List master traders."""
    from tessera.modules.copytrading.repository import CopytradingRepository

    async def work(runtime: Any) -> list[str]:
        async with runtime.db.session(write=False) as session:
            rows, total = await CopytradingRepository(session).list_masters(limit, 0)
            lines = [
                f"{m.user_id}  {m.display_name!r:30} fee {format_amount(m.monthly_fee, 'USD')}"
                f"/period, perf {m.performance_fee_bps / 100:g}%  last seq {m.last_sequence}"
                + ("  verified" if m.verified else "")
                for m in rows
            ]
            return [*lines, f"{total} master(s)"]

    for line in run_with_runtime(work):
        typer.echo(line)


@cli.command()
def subscriptions(
    user: Annotated[str | None, typer.Option(help="Only this follower (e-mail)")] = None,
) -> None:
    """List subscriptions (newest first) with state and trust score."""
    from sqlalchemy import select

    from tessera.core.identity.models import User
    from tessera.modules.copytrading.models import Subscription

    async def work(runtime: Any) -> list[str]:
        async with runtime.db.session(write=False) as session:
            stmt = (
                select(Subscription, User.email)
                .join(User, User.id == Subscription.subscriber_id)
                .order_by(Subscription.created_at.desc())
                .limit(1000)
            )
            if user:
                stmt = stmt.where(User.email == user.strip().lower())
            rows = (await session.execute(stmt)).all()
            return [
                f"{sub.id}  {email:30} → {sub.master_id}  {sub.state:16} trust {sub.trust_score}"
                for sub, email in rows
            ] + [f"{len(rows)} subscription(s)"]

    for line in run_with_runtime(work):
        typer.echo(line)


@cli.command()
def suspend(
    subscription_id: str,
    reason: Annotated[str, typer.Option(help="Shown to the follower")] = "Suspended by operator",
    undo: Annotated[bool, typer.Option("--undo", help="Lift the suspension")] = False,
) -> None:
    """Suspend a subscription (SUSPENDED_ADMIN), or lift it with --undo. Audited."""
    from tessera.core.audit import record
    from tessera.modules.copytrading.errors import InvalidTransition, SubscriptionNotFound
    from tessera.modules.copytrading.repository import CopytradingRepository
    from tessera.modules.copytrading.states import State, resting_state

    async def work(runtime: Any) -> str:
        async with runtime.db.session(write=True) as session:
            repo = CopytradingRepository(session)
            sub = await repo.get_subscription(subscription_id, lock=True)
            if sub is None:
                raise SubscriptionNotFound()
            if undo:
                if sub.state != State.SUSPENDED_ADMIN:
                    raise InvalidTransition("The subscription is not suspended")
                sub.state = resting_state(sub.trust_score)
                sub.paused_at = sub.paused_reason = None
            else:
                if not sub.is_active or sub.state == State.SUSPENDED_ADMIN:
                    raise InvalidTransition("Only an active, unsuspended subscription")
                sub.state, sub.paused_reason = State.SUSPENDED_ADMIN, reason
                from tessera.core.db.base import utcnow

                sub.paused_at = utcnow()
            await session.flush()
            await record(
                session,
                "copytrading.subscription_unsuspended"
                if undo
                else "copytrading.subscription_suspended",
                actor_type="system",
                actor_id="cli",
                user_id=sub.subscriber_id,
                target_type="copytrading_subscription",
                target_id=sub.id,
                details={"reason": None if undo else reason, "via": "cli"},
            )
            return f"{sub.id} is {sub.state}"

    typer.echo(run_with_runtime(work))


@cli.command()
def signals(master_id: str, limit: int = 20) -> None:
    """The master's latest signals (newest first) from the archive."""
    from tessera.modules.copytrading.repository import CopytradingRepository

    async def work(runtime: Any) -> list[str]:
        async with runtime.db.session(write=False) as session:
            rows = await CopytradingRepository(session).recent_signals(master_id, limit)
            return [
                f"#{s.sequence}  {s.received_at:%Y-%m-%d %H:%M:%S}  {s.order_type:5} {s.symbol:10}"
                f" {s.volume} @ {s.price}"
                for s in rows
            ] + [f"{len(rows)} signal(s)"]

    for line in run_with_runtime(work):
        typer.echo(line)

"""The signal relay: a master's bot publishes, followers' bots poll, in order, each once.

Publish (`POST /signals`, master license): the HMAC is checked first (no database work for a
forged signal), then one conditional UPDATE advances the master's last sequence (strictly
increasing, or 409) and the signal is archived in `copytrading_signals`, both in the
request's transaction. With Redis the signal is also appended to the master's stream
`<prefix>:copytrading:signals:<master_id>` under the entry id `<sequence>-0` while the master's
row is still locked, so stream order is sequence order and a retried append of the same
sequence is refused by Redis, harmless. (Should the commit then fail, followers may see a
signal the archive lacks; the master's retry of that sequence succeeds in the database and the
stream keeps its one entry.)

Poll (`GET /signals/poll?last_seq=&limit=&wait=`, follower license): signals with a sequence
above `last_seq`, oldest first. From the stream when Redis is configured (shared by replicas,
trimmed by age by the retention job), from the database otherwise or whenever the stream is
behind, trimmed or unreachable. A long-poll waits up to `wait` seconds: on Redis by a
blocking XREAD, in the database mode by an in-process wake-up or a short re-read interval.
No database connection is held while waiting; a poll that waited longer than a second
re-reads the subscription's state before it delivers, so a pause or a stop-out stops
deliveries within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.modules.copytrading import signing
from tessera.modules.copytrading.bot import BotCaller, TradingView
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.errors import BadSignature, SequenceNotIncreasing
from tessera.modules.copytrading.models import Signal
from tessera.modules.copytrading.repository import CopytradingRepository
from tessera.modules.copytrading.schemas import PollOut, SignalIn, SignalOut
from tessera.modules.copytrading.sizing import plan
from tessera.modules.copytrading.states import State, StopOutAction

log = structlog.get_logger("tessera.copytrading.relay")
# A long-poll hands signals over under a subscription state at most this old (seconds): a
# pause, stop-out or suspension stops deliveries within it.
VIEW_MAX_AGE = 1.0


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


@dataclass(frozen=True)
class Relayed:
    """One signal as the stream and the archive both hold it."""

    sequence: int
    symbol: str
    order_type: str
    volume: str
    price: str
    stop_loss: str | None
    take_profit: str | None
    generated_ms: int
    received_ms: int
    signature: str

    @classmethod
    def of_row(cls, row: Signal) -> Relayed:
        return cls(
            row.sequence,
            row.symbol,
            row.order_type,
            row.volume,
            row.price,
            row.stop_loss,
            row.take_profit,
            _ms(row.generated_at),
            _ms(row.received_at),
            row.signature,
        )

    def fields(self) -> dict[Any, Any]:
        return {
            "s": str(self.sequence),
            "sym": self.symbol,
            "t": self.order_type,
            "v": self.volume,
            "p": self.price,
            "sl": self.stop_loss or "",
            "tp": self.take_profit or "",
            "g": str(self.generated_ms),
            "r": str(self.received_ms),
            "sig": self.signature,
        }

    @classmethod
    def of_fields(cls, raw: dict[Any, Any]) -> Relayed:
        f = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        return cls(
            int(f["s"]),
            f["sym"],
            f["t"],
            f["v"],
            f["p"],
            f["sl"] or None,
            f["tp"] or None,
            int(f["g"]),
            int(f["r"]),
            f["sig"],
        )


class SignalRelay:
    def __init__(
        self, db: Database, redis: Redis | None, prefix: str, settings: CopytradingSettings
    ) -> None:
        self.db = db
        self.redis = redis
        self.prefix = prefix
        self.settings = settings
        self._wakeups: dict[str, asyncio.Event] = {}

    def stream_key(self, master_id: str) -> str:
        return f"{self.prefix}:copytrading:signals:{master_id}"

    # --- publish ----------------------------------------------------------------------------

    async def publish(
        self, session: AsyncSession, caller: BotCaller, token: str, body: SignalIn
    ) -> Signal:
        message = signing.canonical(
            sequence_number=body.sequence_number,
            symbol=body.symbol,
            order_type=body.order_type,
            volume=body.volume,
            price=body.price,
            stop_loss=body.stop_loss,
            take_profit=body.take_profit,
            generated_at_ms=_ms(body.generated_at),
        )
        if not signing.verify(signing.signing_secret(token), message, body.signature):
            raise BadSignature()
        repo = CopytradingRepository(session)
        if not await repo.advance_sequence(caller.master_id, body.sequence_number):
            raise SequenceNotIncreasing()
        row = Signal(
            master_id=caller.master_id,
            sequence=body.sequence_number,
            symbol=body.symbol,
            order_type=body.order_type,
            volume=signing.decimal_text(body.volume),
            price=signing.decimal_text(body.price),
            stop_loss=None if body.stop_loss is None else signing.decimal_text(body.stop_loss),
            take_profit=(
                None if body.take_profit is None else signing.decimal_text(body.take_profit)
            ),
            generated_at=body.generated_at,
            received_at=utcnow(),
            signature=body.signature.lower(),
        )
        await repo.add(row)
        await self._append(caller.master_id, Relayed.of_row(row))
        return row

    async def _append(self, master_id: str, signal: Relayed) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.xadd(
                self.stream_key(master_id), signal.fields(), id=f"{signal.sequence}-0"
            )
        except ResponseError:  # the id exists already: a retried sequence
            return
        except (RedisError, OSError) as exc:  # pollers fall back to the archive
            log.warning("signal_stream_append_failed", error=type(exc).__name__)

    def wake(self, master_id: str) -> None:
        """After commit: wake this process's long-polls of the master (database mode)."""
        event = self._wakeups.pop(master_id, None)
        if event is not None:
            event.set()

    # --- poll -------------------------------------------------------------------------------

    async def poll(self, caller: BotCaller, last_seq: int, limit: int, wait: float) -> PollOut:
        assert caller.subscription_id is not None and caller.view is not None
        deadline = time.monotonic() + min(wait, self.settings.poll_max_wait_seconds)
        view: TradingView | None = caller.view  # read with the license, a moment ago
        view_at = time.monotonic()
        woken: list[Relayed] = []
        waited = False  # after a wait the view's last sequence may be stale: look anyway
        while True:
            if view is None:
                return self._empty(last_seq, 0)
            close_only = (
                view.state == State.STOPPED_OUT and view.stop_out_action == StopOutAction.CLOSE_ONLY
            )
            if not view.is_active or not (view.state == State.SYNCED or close_only):
                return self._empty(last_seq, view.master_last_sequence)
            found = woken
            if not found and (view.master_last_sequence > last_seq or waited):
                found = await self._fetch(caller.master_id, last_seq, limit)
            if found:
                signals = [
                    self._out(item, view.policy, view.last_equity, close_only) for item in found
                ]
                return PollOut(
                    has_signals=True,
                    signals=signals,
                    last_sequence=found[-1].sequence,
                    master_last_sequence=max(view.master_last_sequence, found[-1].sequence),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._empty(last_seq, view.master_last_sequence)
            woken = await self._wait(caller.master_id, last_seq, limit, remaining)
            waited = True
            if time.monotonic() - view_at > VIEW_MAX_AGE:
                # The state may have changed while waiting: read it again before delivering.
                async with self.db.session(write=False) as session:
                    repo = CopytradingRepository(session)
                    row = await repo.trading_view(caller.subscription_id)
                view = None if row is None else TradingView.of(row)
                view_at = time.monotonic()

    @staticmethod
    def _empty(last_seq: int, master_last: int) -> PollOut:
        return PollOut(
            has_signals=False, signals=[], last_sequence=last_seq, master_last_sequence=master_last
        )

    @staticmethod
    def _out(
        item: Relayed, policy: dict[str, Any], equity: int | None, close_only: bool
    ) -> SignalOut:
        decided = plan(
            symbol=item.symbol,
            order_type=item.order_type,
            master_volume=Decimal(item.volume),
            policy=policy,
            equity_cents=equity,
            close_only=close_only,
        )
        return SignalOut(
            sequence_number=item.sequence,
            symbol=decided.symbol,
            master_symbol=item.symbol,
            order_type=item.order_type,
            volume=float(decided.volume),
            master_volume=float(Decimal(item.volume)),
            price=float(Decimal(item.price)),
            stop_loss=None if item.stop_loss is None else float(Decimal(item.stop_loss)),
            take_profit=None if item.take_profit is None else float(Decimal(item.take_profit)),
            generated_at=item.generated_ms,
            server_arrival_time=item.received_ms,
            signature=item.signature,
            skipped=decided.skipped,
            skip_reason=decided.skip_reason,
        )

    async def _fetch(self, master_id: str, last_seq: int, limit: int) -> list[Relayed]:
        if self.redis is not None:
            try:
                entries: Any = await self.redis.xrange(
                    self.stream_key(master_id), min=f"{last_seq + 1}-0", max="+", count=limit
                )
            except (RedisError, OSError) as exc:
                log.warning("signal_stream_read_failed", error=type(exc).__name__)
            else:
                streamed = [Relayed.of_fields(fields) for _, fields in entries]
                if streamed and streamed[0].sequence == last_seq + 1:
                    return streamed
                archived = await self._archived(master_id, last_seq, limit)
                # The stream is trimmed or missed an append: the archive has what comes first.
                if archived and (not streamed or archived[0].sequence < streamed[0].sequence):
                    return archived
                return streamed
        return await self._archived(master_id, last_seq, limit)

    async def _archived(self, master_id: str, last_seq: int, limit: int) -> list[Relayed]:
        async with self.db.session(write=False) as session:
            rows = await CopytradingRepository(session).signals_after(master_id, last_seq, limit)
        return [Relayed.of_row(row) for row in rows]

    async def _wait(
        self, master_id: str, last_seq: int, limit: int, remaining: float
    ) -> list[Relayed]:
        """Wait for a signal after `last_seq`; returns it (and what follows) when the stream
        handed it over in order, else nothing (the caller reads it)."""
        if self.redis is not None:
            try:
                answer: Any = await self.redis.xread(
                    {self.stream_key(master_id): f"{last_seq}-0"},
                    count=limit,
                    block=max(1, int(remaining * 1000)),
                )
            except (RedisError, OSError) as exc:
                log.warning("signal_stream_wait_failed", error=type(exc).__name__)
            else:
                entries = [
                    Relayed.of_fields(fields) for _, batch in answer or [] for _, fields in batch
                ]
                if entries and entries[0].sequence == last_seq + 1:
                    return entries
                return []
        event = self._wakeups.setdefault(master_id, asyncio.Event())
        interval = self.settings.poll_interval_ms / 1000
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=min(remaining, interval))
        return []

    async def trim(self, session: AsyncSession, before: datetime) -> int:
        """Drop stream entries received before `before` (the archive keeps them)."""
        if self.redis is None:
            return 0
        trimmed = 0
        for master_id, floor in await CopytradingRepository(session).stream_floor(before):
            try:
                trimmed += int(
                    await self.redis.xtrim(
                        self.stream_key(master_id), minid=f"{int(floor) + 1}-0", approximate=False
                    )
                )
            except (RedisError, OSError) as exc:
                log.warning("signal_stream_trim_failed", error=type(exc).__name__)
        return trimmed


def epoch_ms_now() -> int:
    return _ms(datetime.now(UTC))

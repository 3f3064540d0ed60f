"""The subscription state machine and the trust-score rules (pure: no database, no HTTP).

States (SPEC §7, plus `STOPPED_OUT` for the follower's own risk limits):

    SYNCED           copying
    DEGRADED_GAP     the bot missed signals, runs a stale policy or stopped heartbeating;
                     back to SYNCED on its next heartbeat with the current policy
    LOCKED_NO_FUNDS  a fee could not be paid; back when the wallet can pay it
    PAUSED_TOXIC     trust score below 50; back when the recovery job lifts it to 50
    PAUSED_USER      the owner paused it; only this state is user-resumable
    SUSPENDED_ADMIN  an operator suspended it; only an operator lifts it
    STOPPED_OUT      a heartbeat crossed the equity floor or the daily loss cap; cleared
                     only by the owner's explicit reset
    CANCELLED        final
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    SYNCED = "SYNCED"
    DEGRADED_GAP = "DEGRADED_GAP"
    LOCKED_NO_FUNDS = "LOCKED_NO_FUNDS"
    PAUSED_TOXIC = "PAUSED_TOXIC"
    PAUSED_USER = "PAUSED_USER"
    SUSPENDED_ADMIN = "SUSPENDED_ADMIN"
    STOPPED_OUT = "STOPPED_OUT"
    CANCELLED = "CANCELLED"


class Reason(StrEnum):
    """Why a bot refused a signal (the seed's `protection_event_reason`)."""

    REPLAY_ATTACK = "REPLAY_ATTACK"
    DUPLICATE_SEQ = "DUPLICATE_SEQ"
    SEQUENCE_GAP = "SEQUENCE_GAP"
    TTL_EXPIRED = "TTL_EXPIRED"
    PRICE_DEVIATION = "PRICE_DEVIATION"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    STATE_LOCKED = "STATE_LOCKED"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"


class StopOutAction(StrEnum):
    CLOSE_ONLY = "close_only"  # the bot may still close positions (CLOSE signals pass)
    FREEZE = "freeze"  # nothing passes


PENALTIES: dict[Reason, int] = {
    Reason.REPLAY_ATTACK: 50,
    Reason.DUPLICATE_SEQ: 30,
    Reason.SEQUENCE_GAP: 20,
    Reason.TTL_EXPIRED: 5,
    Reason.PRICE_DEVIATION: 3,
    Reason.INSUFFICIENT_FUNDS: 10,
    Reason.STATE_LOCKED: 5,
    Reason.INVALID_SIGNATURE: 40,
    Reason.RATE_LIMIT_EXCEEDED: 15,
}

MAX_SCORE = 100
TOXIC_BELOW = 50
RECOVERY_STEP = 10

# States that a system event may move: an owner's pause, an operator's suspension, a stop-out
# and cancellation are never overridden by the system.
SYSTEM_MOVABLE = frozenset({State.SYNCED, State.DEGRADED_GAP})
# Not live: no fees are charged, no signals delivered.
CLOSED = frozenset({State.CANCELLED})


def clamp(score: int) -> int:
    return max(0, min(MAX_SCORE, score))


def resting_state(trust_score: int) -> State:
    """Where a subscription goes when a system lock (funds, suspension, stop-out) clears."""
    return State.PAUSED_TOXIC if trust_score < TOXIC_BELOW else State.SYNCED


def can_trade(state: str) -> bool:
    return state == State.SYNCED

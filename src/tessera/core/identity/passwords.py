"""Password hashing and policy.

argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1); bcrypt hashes from older systems
still verify and are re-hashed on the next login. Hashing runs in worker threads with a cap
on how many run at once, so a burst of logins neither blocks the event loop nor takes every
core. Unknown e-mails are checked against a dummy hash so they cost the same as a wrong
password.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def argon2_hasher(*, fast: bool) -> Argon2Hasher:
    if fast:  # tests only (TESSERA_PASSWORD_HASH_FAST; refused in production by check_safe)
        return Argon2Hasher(memory_cost=1_024, time_cost=1, parallelism=1)
    # OWASP Password Storage Cheat Sheet, argon2id: m = 19456 KiB, t = 2, p = 1.
    return Argon2Hasher(memory_cost=19_456, time_cost=2, parallelism=1)


HASH_THREAD_NICENESS = 5


def _lower_thread_priority() -> None:
    # Linux: a thread is a task with a niceness of its own. Elsewhere: normal priority.
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, niceness + HASH_THREAD_NICENESS)


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _hashing_pool(threads: int) -> ThreadPoolExecutor:
    """One pool per process (per size): every app in the process shares its threads."""
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(
            threads, thread_name_prefix="password-hash", initializer=_lower_thread_priority
        )
    return pool


class PasswordHasher:
    def __init__(self, *, fast: bool = False, concurrency: int = 2) -> None:
        self._hash = PasswordHash((argon2_hasher(fast=fast), BcryptHasher()))
        self._pool = _hashing_pool(concurrency)
        self._dummy_hash = self._hash.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._hash.hash, password
        )

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, upgraded hash or None). A missing hash is checked against the dummy hash,
        so the caller spends the same time whether or not the account exists."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify_sync, password, hashed
        )

    def _verify_sync(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        if not hashed:
            self._hash.verify(password, self._dummy_hash)
            return False, None
        try:
            return self._hash.verify_and_update(password, hashed)
        except (UnknownHashError, ValueError):
            self._hash.verify(password, self._dummy_hash)
            return False, None


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files(__package__).joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None. Length is checked before anything else."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters"
    if password.strip().lower() in common_passwords():
        return "Password is too common; choose another"
    return None

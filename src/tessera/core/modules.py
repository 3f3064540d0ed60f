"""What a part of the service shows the rest: the whole contract between the core and a module.

Every part — the core's own (audit, identity, ledger …) and each product module under
`tessera.modules` — exposes `module = ModuleSpec(...)` in its package's `__init__.py` (core
parts: `part.py`). The app, the worker and the CLI assemble the enabled parts from their specs;
nothing else in the core knows which modules exist. `docs/modules.md` is the long form.

Modules are found by listing the `tessera.modules` package, so adding one touches no file
outside its folder (and `migrations/versions/`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import Select, String, bindparam, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from tessera.core.config import ModuleSettings

if TYPE_CHECKING:
    from tessera.core.config import Settings
    from tessera.core.identity.models import User
    from tessera.core.jobs import Job
    from tessera.core.runtime import Runtime

StartupHook = Callable[["Runtime"], Awaitable[None]]
# A background loop that runs until cancelled, started wherever the scheduler runs: in each
# API process with the in-process scheduler, and in `tessera worker`.
BackgroundLoop = Callable[["Runtime"], Coroutine[Any, Any, None]]
# Runs inside the transaction that created the account: a failing hook rolls it back.
UserHook = Callable[[AsyncSession, "User"], Awaitable[None]]
# May an unknown e-mail create an account by signing in with an outside identity provider
# (OpenID Connect)? Any part answering True lets it in (e.g. an invited family member).
SignupHook = Callable[[AsyncSession, str], Awaitable[bool]]
# Request-body limits of this part's upload paths (path prefix -> bytes), from the settings;
# the global TESSERA_MAX_BODY_BYTES stays in force everywhere else.
BodyLimitsHook = Callable[["Settings"], Mapping[str, int]]

CORE_PARTS: tuple[str, ...] = (
    "tessera.core.audit.part",
    "tessera.core.idempotency.part",
    "tessera.core.identity.part",
    "tessera.core.ledger.part",
)
MODULES_PACKAGE = "tessera.modules"

# A SELECT of any columns (what a part's profile query returns).
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class ProfileFields:
    """The fields a part adds to the `/auth/me` answer (camelCase or snake_case, as its
    clients expect), read in one statement together with every other part's.

    `query(user_id)` is a SELECT of at most one row about that user, its columns labelled;
    `user_id` is a bound parameter, so the statement is built once and compiled once.
    `render(values)` turns that row (column label -> value; every value None when the query
    found no row) into the fields. The statement runs in the request's read transaction."""

    query: Callable[[BindParameter[str]], AnySelect]
    render: Callable[[Mapping[str, Any]], Mapping[str, Any]]


class ProfileReader:
    """Every enabled part's `/auth/me` fields in one round trip: the parts' queries, each
    LEFT JOINed as a subquery onto the user's own row, so a part whose query finds nothing
    leaves NULLs instead of removing the row, and the account and its fields come in one
    statement (`with_row_of`). Before, each part read on its own (three round trips with the
    shipped modules)."""

    def __init__(self, parts: Sequence[ProfileFields]) -> None:
        self.parts = tuple(parts)
        self.user_id = bindparam("profile_user_id", type_=String)
        self.subqueries = [
            part.query(self.user_id).subquery(f"profile_{i}") for i, part in enumerate(self.parts)
        ]
        self.columns = [
            column.label(f"p{i}_{column.key}")
            for i, subquery in enumerate(self.subqueries)
            for column in subquery.c
        ]
        self._with_rows: dict[Any, AnySelect] = {}

    def _joined_onto(self, base: Any) -> Any:
        for subquery in self.subqueries:
            base = base.outerjoin(subquery, true())
        return base

    def with_row_of(self, entity: Any, user_key: Any) -> AnySelect:
        """`SELECT entity, <every part's columns> … WHERE user_key = :user_id`, built once per
        entity; `fields(row[1:])` gives the fields."""
        found = self._with_rows.get(entity)
        if found is None:
            found = (
                select(entity, *self.columns)
                .select_from(self._joined_onto(entity.__table__))
                .where(user_key == self.user_id)
            )
            self._with_rows[entity] = found
        return found

    def params(self, user_id: str) -> dict[str, str]:
        return {self.user_id.key: user_id}

    def fields(self, values: Sequence[Any]) -> dict[str, Any]:
        """The parts' fields from their columns' values, in `columns` order."""
        remaining = iter(values)
        fields: dict[str, Any] = {}
        for part, subquery in zip(self.parts, self.subqueries, strict=True):
            fields.update(part.render({column.key: next(remaining) for column in subquery.c}))
        return fields

    async def read(self, session: AsyncSession, user: Any) -> dict[str, Any]:
        """The fields of a user the session holds (its row comes again, with them)."""
        if not self.parts:
            return {}
        statement = self.with_row_of(type(user), type(user).id)
        row = (await session.execute(statement, self.params(user.id))).one()
        return self.fields(row[1:])


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    # The part's own settings class (its `config.py`); read once at start-up through
    # `runtime.settings.module(cls)`, so a bad value stops the service before it serves.
    settings: type[ModuleSettings] | None = None
    # The part's `models` module: importing it registers its tables on the shared metadata
    # (Alembic's autogenerate and the migration parity test see them through the spec).
    models: ModuleType | None = None
    routers: Sequence[APIRouter] = ()
    # Other prefixes that serve the same routes: {"/api/v1/auth": "/auth"} (not in the schema).
    path_aliases: Mapping[str, str] = field(default_factory=dict)
    # Request headers of this part's clients that cross-origin browsers may send (CORS).
    cors_headers: Sequence[str] = ()
    jobs: Sequence[Job] = ()
    loops: Sequence[BackgroundLoop] = ()
    on_startup: Sequence[StartupHook] = ()
    # Idempotent first-run set-up for `tessera bootstrap` (`make run`): first admin, keys …
    on_bootstrap: Sequence[StartupHook] = ()
    # `tessera seed --demo`: idempotent demo data of this part (prints what it created).
    on_demo_seed: Sequence[StartupHook] = ()
    cli: Any = None  # a `typer.Typer` added to the `tessera` command under `name`
    on_user_registered: Sequence[UserHook] = ()
    profile: ProfileFields | None = None
    signup_allowed: SignupHook | None = None
    body_limits: BodyLimitsHook | None = None


@dataclass(frozen=True)
class Hooks:
    """The declared hooks of the enabled parts, called by identity at the right moments."""

    registered: tuple[UserHook, ...] = ()
    profiles: ProfileReader = field(default_factory=lambda: ProfileReader(()))
    signups: tuple[SignupHook, ...] = ()

    @classmethod
    def of(cls, parts: Sequence[ModuleSpec]) -> Hooks:
        return cls(
            registered=tuple(hook for part in parts for hook in part.on_user_registered),
            profiles=ProfileReader([part.profile for part in parts if part.profile is not None]),
            signups=tuple(part.signup_allowed for part in parts if part.signup_allowed),
        )

    async def user_registered(self, session: AsyncSession, user: User) -> None:
        for hook in self.registered:
            await hook(session, user)

    async def profile(self, session: AsyncSession, user: User) -> dict[str, Any]:
        return await self.profiles.read(session, user)

    async def may_sign_up(self, session: AsyncSession, email: str) -> bool:
        for hook in self.signups:
            if await hook(session, email):
                return True
        return False


def _spec_of(path: str) -> ModuleSpec:
    spec = getattr(importlib.import_module(path), "module", None)
    if not isinstance(spec, ModuleSpec):
        raise TypeError(f"{path} has no `module = ModuleSpec(...)`")
    return spec


def available_modules() -> list[str]:
    """The product modules shipped in this build: the packages under `tessera.modules`."""
    package = importlib.import_module(MODULES_PACKAGE)
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.ispkg)


def core_parts() -> list[ModuleSpec]:
    return [_spec_of(path) for path in CORE_PARTS]


def product_modules(enabled: Sequence[str] | None = None) -> list[ModuleSpec]:
    """The specs of the enabled modules (every shipped module when `enabled` is None)."""
    shipped = available_modules()
    names = shipped if enabled is None else list(enabled)
    unknown = sorted(set(names) - set(shipped))
    if unknown:
        raise ValueError(f"unknown modules {unknown}; shipped: {shipped}")
    return [_spec_of(f"{MODULES_PACKAGE}.{name}") for name in names]


def all_parts(enabled: Sequence[str] | None = None) -> list[ModuleSpec]:
    return [*core_parts(), *product_modules(enabled)]

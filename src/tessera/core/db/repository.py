"""Repositories hold all SQL. They never commit: the request or the job owns the transaction."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import Base
from tessera.core.db.engine import insert_for

ModelT = TypeVar("ModelT", bound=Base)


class Repository(Generic[ModelT]):
    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def insert(self, table: Any | None = None) -> Any:
        return insert_for(self.dialect, table if table is not None else self.model)

    async def get(self, id_: str) -> ModelT | None:
        return await self.session.get(self.model, id_)

    async def add(self, obj: ModelT) -> ModelT:
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def count(self, stmt: Select[Any]) -> int:
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        return int(total or 0)

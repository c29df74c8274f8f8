"""`AuthDb`: the engine and its auth SQL, the pair every store function takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.auth.store.sql import AuthSql, sql_for

if TYPE_CHECKING:
    from backstack.db.engine import Engine


@dataclass(frozen=True, slots=True)
class AuthDb:
    """Where auth's rows live: one engine, and the statements compiled for its dialect."""

    engine: Engine
    sql: AuthSql

    @classmethod
    def over(cls, engine: Engine) -> AuthDb:
        return cls(engine, sql_for(engine.dialect))

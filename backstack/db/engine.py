"""`connect(settings)`, which picks the engine, and the Engine protocol services use (`protocol.py`);
`messages_probe(engine, policies)`, Realtime Authorization's probe for that engine.

The protocol lives in `protocol.py`, below the engines that implement it; it is re-exported here so a
service names one module for both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Literal

from backstack.db.protocol import Connection, Engine, Params, Row, SyncConnection, SyncWriter, sync_writer

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.caller import Caller
    from backstack.core.ports import PolicyProvider
    from backstack.db.schema.model import Schema, Table

__all__ = [
    "Connection",
    "Engine",
    "MessagesProbe",
    "Params",
    "Row",
    "SyncConnection",
    "SyncWriter",
    "connect",
    "messages_probe",
    "sync_writer",
]

# (caller, topic name, extension, "read" | "write") -> allowed: realtime/authorization.py's `Probe`
MessagesProbe = Callable[["Caller", str, str, Literal["read", "write"]], Awaitable[bool]]


def connect(settings: Settings) -> Engine:
    """The engine `settings` ask for: PostgreSQL when DATABASE_URL is set, else the SQLite file."""
    if settings.database_url:
        from backstack.db.postgres.engine import PostgresEngine

        return PostgresEngine(settings)
    from backstack.db.sqlite.engine import SqliteEngine

    return SqliteEngine(settings)


def messages_probe(engine: Engine, policies: PolicyProvider[Schema, Table] | None) -> MessagesProbe:
    """Who may read or write a private channel's topic, by the policies on `realtime.messages` (Supabase's
    Realtime Authorization): PostgreSQL asks its own; SQLite compiles them with `policies`, the data
    API's policy service, so a policy means the same on both paths."""
    from backstack.db.sqlite.engine import SqliteEngine

    if isinstance(engine, SqliteEngine) and policies is not None:
        from backstack.db.sqlite.realtime_messages import MessagesProbe as SqliteProbe

        return SqliteProbe(engine, policies)
    from backstack.db.postgres.realtime_messages import may_access

    return partial(may_access, engine)

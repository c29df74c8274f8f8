"""`connect(settings)`, which picks the engine, and the Engine protocol services use (`protocol.py`).

The protocol lives in `protocol.py`, below the engines that implement it; it is re-exported here so a
service names one module for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.protocol import Connection, Engine, Params, Row, SyncConnection, SyncWriter, sync_writer

if TYPE_CHECKING:
    from backstack.config import Settings

__all__ = ["Connection", "Engine", "Params", "Row", "SyncConnection", "SyncWriter", "connect", "sync_writer"]


def connect(settings: Settings) -> Engine:
    """The engine `settings` ask for: PostgreSQL when DATABASE_URL is set, else the SQLite file."""
    if settings.database_url:
        from backstack.db.postgres.engine import PostgresEngine

        return PostgresEngine(settings)
    from backstack.db.sqlite.engine import SqliteEngine

    return SqliteEngine(settings)

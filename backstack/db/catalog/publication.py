"""The `supabase_realtime` publication and the change outbox: names both engines share.

Supabase projects have the publication `supabase_realtime`; a migration chooses the tables whose
row changes Realtime delivers (`alter publication supabase_realtime add table t`). backstack
captures each committed change of those tables with triggers into an outbox table, in the writing
transaction (db.postgres.capture, db.sqlite.capture); db.changes reads and trims it.

On SQLite, where publications do not exist, the published tables are rows of `PUBLISHED` (written
by db.translate.publication, kept in step with DROP/RENAME TABLE by db.catalog.rls):

    _backstack_publication      tbl PRIMARY KEY (the SQLite table name)
    _backstack_realtime_changes id INTEGER PRIMARY KEY AUTOINCREMENT, schema_name, table_name,
                                operation (INSERT|UPDATE|DELETE), record, old_record (JSON text),
                                commit_timestamp (ISO 8601 text, +00:00)
    _backstack_realtime_readers reader TEXT PRIMARY KEY, safe INTEGER (every change up to it was
                                read), seen_at REAL (unix time of its last report)

PostgreSQL's outbox also carries each change's transaction id (`txid xid8`), and its readers table
keeps a transaction id as `safe` (db.changes explains why).
"""

from __future__ import annotations

PUBLICATION = "supabase_realtime"
NOTIFY_CHANNEL = "backstack_realtime_changes"  # PostgreSQL: pg_notify(channel, '') by each capturing transaction
PG_CHANGES = "_backstack.realtime_changes"
PG_READERS = "_backstack.realtime_readers"
SQLITE_CHANGES = "_backstack_realtime_changes"
SQLITE_READERS = "_backstack_realtime_readers"
PUBLISHED = "_backstack_publication"

CREATE_SQLITE: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {PUBLISHED} (tbl TEXT PRIMARY KEY)",
    f"CREATE TABLE IF NOT EXISTS {SQLITE_CHANGES} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "schema_name TEXT NOT NULL, table_name TEXT NOT NULL, operation TEXT NOT NULL, record TEXT, "
    "old_record TEXT, commit_timestamp TEXT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {SQLITE_READERS} (reader TEXT PRIMARY KEY, safe INTEGER NOT NULL, "
    "seen_at REAL NOT NULL)",
)

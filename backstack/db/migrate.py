"""Migrations: `migrations/NNNN_name.sql` files applied in order, recorded in a history table.

Files are PostgreSQL SQL (run verbatim on PostgreSQL, translated by `db.translate.ddl` on SQLite). Each file
runs in one transaction together with its history row (version, name, sha256 checksum,
applied_at) in `_backstack.migrations` (PostgreSQL) or `_backstack_migrations` (SQLite), so a
failed migration leaves neither schema changes nor a record. Editing a file after it was applied
is refused by name: migrations are history, write a new one instead. A failure names the file,
and the statement and line when they can be told (`db/script.py`).

Python API (the CLI wraps it):
    new_migration(project_dir, name) -> Path
    await pending(engine, project_dir) -> list[Migration]
    await apply(engine, migration) -> None
    await apply_pending(engine, project_dir) -> list[str]      # filenames applied
    await status(engine, project_dir) -> list[MigrationStatus]
    await drop_all(engine) -> None
    await load_seed(engine, project_dir) -> bool
    await reset(engine, project_dir) -> list[str]               # drop_all + apply_pending + seed
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.core.errors import Conflict, DatabaseError
from backstack.db.catalog import function_acl
from backstack.db.catalog import rls as rls_catalog
from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.postgres.realtime_messages import DROP_POLICIES as DROP_REALTIME_POLICIES
from backstack.db.script import run_file
from backstack.db.sqlite.realtime_messages import DROP_POLICIES as DROP_SQLITE_REALTIME_POLICIES
from backstack.db.translate import functions as ddl_functions

if TYPE_CHECKING:
    from pathlib import Path

    from backstack.db.protocol import Engine

MIGRATIONS_DIR = "migrations"
SEED_FILE = "seed.sql"
PG_HISTORY = "_backstack.migrations"
SQLITE_HISTORY = "_backstack_migrations"
_FILENAME = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_\-]+)\.sql$")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: Path

    @property
    def filename(self) -> str:
        return self.path.name

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        """sha256 of the file with line endings normalised (a Windows checkout is not an edit)."""
        return hashlib.sha256(self.path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A migration as `status` reports it: `state` is applied, pending, changed or missing (no file)."""

    version: int
    name: str
    filename: str
    state: str
    applied_at: str | None = None


class MigrationError(Conflict):
    """A migration file disagrees with the history (edited after being applied, duplicate version)."""


def history_table(engine: Engine) -> str:
    return SQLITE_HISTORY if engine.dialect.is_sqlite else PG_HISTORY


def discover(project_dir: Path) -> list[Migration]:
    """The migration files of the project, by version; refuses two files with one version."""
    folder = project_dir / MIGRATIONS_DIR
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
        match = _FILENAME.match(path.name)
        if match is None:
            continue
        version = int(match["version"])
        if version in found:
            raise MigrationError(
                "BSM01", f"two migrations have version {version}: {found[version].filename} and {path.name}"
            )
        found[version] = Migration(version, match["name"], path)
    return [found[v] for v in sorted(found)]


def new_migration(project_dir: Path, name: str) -> Path:
    """Create `migrations/NNNN_name.sql`, numbered after the last one; ValueError for a bad name."""
    if not _NAME.match(name):
        raise ValueError(f"invalid migration name {name!r}: use letters, digits and underscores")
    existing = discover(project_dir)
    version = existing[-1].version + 1 if existing else 1
    folder = project_dir / MIGRATIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version:04d}_{name}.sql"
    path.write_text(
        f"-- {path.name}: PostgreSQL SQL, applied in one transaction by `backstack migrate up`.\n"
        "-- On SQLite it is translated; statements SQLite cannot honour fail with their text.\n\n",
        encoding="utf-8",
    )
    return path


async def ensure_history(engine: Engine) -> None:
    """Create the history table if it does not exist."""
    if engine.dialect.is_sqlite:
        await engine.execute_script(
            f"create table if not exists {SQLITE_HISTORY} (version integer primary key, name text not null, "
            "checksum text not null, applied_at text not null)"
        )
        return
    await engine.execute_script(
        "create schema if not exists _backstack; "
        f"create table if not exists {PG_HISTORY} (version bigint primary key, name text not null, "
        "checksum text not null, applied_at timestamptz not null default now())"
    )


async def applied(engine: Engine) -> dict[int, tuple[str, str, str]]:
    """version -> (name, checksum, applied_at) from the history table."""
    await ensure_history(engine)
    rows = await engine.fetch_all(f"select version, name, checksum, applied_at from {history_table(engine)}")  # noqa: S608 (our history table)
    return {int(v): (str(n), str(c), _timestamp(a)) for v, n, c, a in rows}


def _timestamp(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _verify(files: list[Migration], history: dict[int, tuple[str, str, str]]) -> None:
    for migration in files:
        record = history.get(migration.version)
        if record is not None and record[1] != migration.checksum:
            raise MigrationError(
                "BSM02",
                f"migration {migration.filename} was changed after it was applied",
                f"applied checksum {record[1][:12]}..., file checksum {migration.checksum[:12]}...",
                "restore the file and write a new migration for the change",
            )


async def pending(engine: Engine, project_dir: Path) -> list[Migration]:
    """Files not yet applied, in order; raises MigrationError if an applied file was edited."""
    files = discover(project_dir)
    history = await applied(engine)
    _verify(files, history)
    return [m for m in files if m.version not in history]


async def apply(engine: Engine, migration: Migration) -> None:
    """Run one migration and record it, in one transaction; errors name the file, statement and line."""
    now = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))" if engine.dialect.is_sqlite else "now())"
    record = (
        f"insert into {history_table(engine)} (version, name, checksum, applied_at) values "  # noqa: S608 (int version, quote_literal'd values)
        f"({migration.version}, {quote_literal(migration.name)}, {quote_literal(migration.checksum)}, {now}"
    )
    try:
        await run_file(engine, migration.sql(), f"migration {migration.filename}", record)
    except DatabaseError as error:
        if error.code == "23505" and "migrations" in error.message:
            raise MigrationError(
                "BSM03", f"migration {migration.filename} was applied concurrently by another process"
            ) from None
        raise


async def apply_pending(engine: Engine, project_dir: Path) -> list[str]:
    """Apply every pending migration in order; return the filenames applied."""
    done: list[str] = []
    for migration in await pending(engine, project_dir):
        await apply(engine, migration)
        done.append(migration.filename)
    return done


async def status(engine: Engine, project_dir: Path) -> list[MigrationStatus]:
    """Every migration known from files or history, by version, with its state."""
    files = {m.version: m for m in discover(project_dir)}
    history = await applied(engine)
    result: list[MigrationStatus] = []
    for version in sorted(set(files) | set(history)):
        migration, record = files.get(version), history.get(version)
        if migration is None and record is not None:
            result.append(MigrationStatus(version, record[0], "", "missing", record[2]))
        elif migration is not None and record is None:
            result.append(MigrationStatus(version, migration.name, migration.filename, "pending"))
        elif migration is not None and record is not None:
            state = "applied" if record[1] == migration.checksum else "changed"
            result.append(MigrationStatus(version, migration.name, migration.filename, state, record[2]))
    return result


async def load_seed(engine: Engine, project_dir: Path) -> bool:
    """Run `seed.sql` (PostgreSQL SQL; translated on SQLite) in one transaction, if it has statements."""
    path = project_dir / SEED_FILE
    if not path.is_file():
        return False
    return await run_file(engine, path.read_text(encoding="utf-8"), SEED_FILE)


async def drop_all(engine: Engine) -> None:
    """Drop every user table, view (and on PostgreSQL routine, sequence, type) of the exposed
    schemas (on PostgreSQL also the policies on realtime.messages), and forget the migration history;
    other schemas (auth...) and internal tables are kept: on SQLite, the `_`-prefixed tables that
    stand for them (with the RLS catalog rows of the dropped tables)."""
    if engine.dialect.is_sqlite:
        await _drop_all_sqlite(engine)
    else:
        await _drop_all_postgres(engine)
    await engine.reload_schema()


async def _drop_all_sqlite(engine: Engine) -> None:
    rows = await engine.fetch_all(
        "select type, name from sqlite_schema where type in ('table', 'view') "
        "and name not like 'sqlite\\_%' escape '\\' and name not like '\\_%' escape '\\'"
    )
    virtual = {r[0] for r in await engine.fetch_all("select name from sqlite_schema where sql like 'CREATE VIRTUAL%'")}
    shadows = {r[1] for r in rows if any(r[1].startswith(v + "_") for v in virtual)}
    views = [f"drop view if exists {quote_ident(n)}" for t, n in rows if t == "view"]
    tables = [f"drop table if exists {quote_ident(n)}" for t, n in rows if t == "table" and n not in shadows]
    functions = [
        ddl_functions.CREATE_CATALOG,
        f"DELETE FROM {ddl_functions.CATALOG}",  # noqa: S608 (our catalog table); as PostgreSQL's drop routine
        *function_acl.CREATE,
        f"DELETE FROM {function_acl.ACL}",  # noqa: S608 (our catalog table)
    ]
    statements = ["PRAGMA defer_foreign_keys = ON", *views, *tables, *rls_catalog.RESET, *functions]
    statements.append(DROP_SQLITE_REALTIME_POLICIES)  # the project's; realtime.messages itself stays
    await ensure_history(engine)
    statements.append(f"delete from {SQLITE_HISTORY}")  # noqa: S608 (our history table)
    await engine.execute_script(";\n".join(statements))


_PG_DROP_ALL = """
do $$
declare r record;
begin
  for r in
    select format('drop %s if exists %I.%I cascade',
                  case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                 when 'f' then 'foreign table' else 'table' end,
                  n.nspname, c.relname) as cmd
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
  for r in
    select format('drop routine if exists %s cascade', p.oid::regprocedure) as cmd
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = any(%(schemas)s)
      and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
  for r in
    select format('drop %s if exists %I.%I cascade', case c.relkind when 'S' then 'sequence' end,
                  n.nspname, c.relname) as cmd
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(%(schemas)s) and c.relkind = 'S'
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
  for r in
    select format('drop type if exists %I.%I cascade', n.nspname, t.typname) as cmd
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(%(schemas)s) and t.typtype in ('e', 'c', 'd', 'r')
      and (t.typrelid = 0 or (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c')
      and not exists (select 1 from pg_depend d where d.objid = t.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
end $$;
"""


async def _drop_all_postgres(engine: Engine) -> None:
    schemas = getattr(engine, "schemas", ["public"])
    array = "array[" + ", ".join(quote_literal(s) for s in schemas) + "]::text[]"
    await ensure_history(engine)
    drop = _PG_DROP_ALL.replace("%(schemas)s", array) + DROP_REALTIME_POLICIES
    await engine.execute_script(drop + f"; delete from {PG_HISTORY}")  # noqa: S608 (quote_literal'd schemas, our history table)


async def reset(engine: Engine, project_dir: Path) -> list[str]:
    """Drop everything, re-apply every migration, load seed.sql; return the migrations applied."""
    await drop_all(engine)
    done = await apply_pending(engine, project_dir)
    await load_seed(engine, project_dir)
    return done

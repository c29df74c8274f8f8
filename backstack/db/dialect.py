"""Every SQLite <-> PostgreSQL difference the SQL builders need, in one module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DialectName = Literal["sqlite", "postgres"]


def quote_ident(name: str) -> str:
    """Quote an identifier for either engine; embedded quotes are doubled, NUL is refused."""
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal for either engine (standard_conforming_strings on PostgreSQL)."""
    if "\x00" in value:
        raise ValueError("literal contains NUL")
    return "'" + value.replace("'", "''") + "'"


# PostgreSQL: the settings a pooled connection keeps per caller (db/postgres/session.py), as they are at
# the end of a statement (NULL-safe: concat_ws skips NULLs), and the two a caller's later reads rely on
# staying the connection's own: the timeout and name lookup. A read or write carrying it as its last
# column tells the engine whether the caller's session state still holds.
SESSION_CHECK = (
    "concat_ws(chr(31), current_user, coalesce(current_setting('request.jwt.claims', true), ''), "
    "coalesce(current_setting('request.jwt.claim.role', true), ''), "
    "coalesce(current_setting('request.jwt.claim.sub', true), ''), "
    "current_setting('default_transaction_read_only'), current_setting('default_transaction_isolation'), "
    "current_setting('statement_timeout'), current_setting('search_path'))"
)

# What could run code of the project's after a write statement's own rows are made (and so after its
# last column): a trigger on the table (AFTER triggers fire once the statement ends, deferred ones at
# commit), a rule on it (a DO INSTEAD rule writes another table, whose triggers fire), a deferrable
# constraint anywhere but a foreign key (code the statement reaches, a default say, may write a table
# whose deferred constraint trigger fires at commit; a deferrable exclusion constraint rechecks its index
# expressions at the statement's end or at commit; foreign key checks run none; in the one scan of
# pg_constraint the cascade lookup makes anyway), a foreign key that cascades into another table (whose
# triggers fire), rows of partitions or inheritance children (their triggers), or a target that is not
# a plain table (a view's INSTEAD OF trigger, a foreign table). Looked up by the statement itself, under
# the lock it holds on the table, so a trigger created meanwhile is either seen or waits for the
# statement to end.
_CODE_AFTER_WRITE = (
    "EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = {rel} AND NOT tgisinternal) "
    "OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite WHERE ev_class = {rel}) "
    "OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE (contype = 'f' AND confrelid = {rel} "
    "AND (confdeltype NOT IN ('a', 'r') OR confupdtype NOT IN ('a', 'r'))) "
    "OR (contype <> 'f' AND condeferrable)) "
    "OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhparent = {rel}) "
    "OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = {rel}) IS DISTINCT FROM 'r'"
)


# The select casts (`?select=col::type`) SQLite's SQL builders translate; anything else there is PGRST127.
_SQLITE_CASTS = frozenset(
    {
        "text",
        "varchar",
        "char",
        "int",
        "int2",
        "int4",
        "int8",
        "integer",
        "smallint",
        "bigint",
        "numeric",
        "decimal",
        "real",
        "float",
        "float4",
        "float8",
        "double",
        "bool",
        "boolean",
        "json",
        "jsonb",
    }
)
_SQLITE_COMPILED_BY_VALUE = frozenset(
    {"fts", "plfts", "phfts", "wfts", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"}
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """The engine a statement is compiled for."""

    name: DialectName

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    @property
    def label(self) -> str:
        """The engine's name in messages."""
        return "SQLite" if self.is_sqlite else "PostgreSQL"

    @property
    def select_casts(self) -> frozenset[str] | None:
        """The type names a select cast may use, or None for any the server knows (PostgreSQL)."""
        return _SQLITE_CASTS if self.is_sqlite else None

    @property
    def enforces_row_security(self) -> bool:
        """Whether the server applies row-level security and grants itself (PostgreSQL); on SQLite the
        data API compiles the policies into its statements (`policy.SqlitePolicies`)."""
        return not self.is_sqlite

    @property
    def writes_through_views(self) -> bool:
        """Whether an INSERT, UPDATE or DELETE may target a view (PostgreSQL's simple views are
        automatically updatable; SQLite's views are not)."""
        return not self.is_sqlite

    @property
    def checks_body_values(self) -> bool:
        """Whether the data API checks a write body's values before writing them
        (`rest.plan.values.check_body_values`): SQLite's columns take any value, where PostgreSQL's
        `json_populate_record` refuses what does not fit the column itself."""
        return self.is_sqlite

    @property
    def operators_compiled_by_value(self) -> frozenset[str]:
        """Data API filter operators whose SQL depends on the value, not only on its parameters (so the
        value stays in the request's shape, `rest.sql.statement_cache.shape_of`): on SQLite full-text
        search (a query may compile to FALSE), containment (JSON needles become SQL) and the range
        operators (refused)."""
        return _SQLITE_COMPILED_BY_VALUE if self.is_sqlite else frozenset()

    def written_session_check(self, relation: str, changed: str) -> str | None:
        """PostgreSQL: the last column of a data API write on `relation` (a quoted name) whose rows are
        the CTE `changed`: `SESSION_CHECK` once every row was made, or NULL when code of the project
        could still run after it (`_CODE_AFTER_WRITE`). SQLite: None (no pooled session state)."""
        if self.is_sqlite:
            return None
        rel = f"(SELECT to_regclass({quote_literal(relation)}))"  # looked up once, not per catalog row
        after = _CODE_AFTER_WRITE.format(rel=rel)
        return (
            f"CASE WHEN (SELECT count(*) FROM {changed}) >= 0 AND {rel} IS NOT NULL AND NOT ({after}) "  # noqa: S608 (quote_literal'd relation)
            f"THEN {SESSION_CHECK} END"
        )

    def placeholder(self, index: int) -> str:
        """The placeholder for the 1-based parameter `index`."""
        return "?" if self.name == "sqlite" else f"${index}"


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")

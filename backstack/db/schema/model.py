"""The schema model both engines introspect into: tables, views, columns, keys and foreign keys.

Introspection itself lives with each engine (`sqlite.py`, `postgres.py`); this module holds the
engine-neutral, immutable result that the data API plans against. A `Schema` is replaced, never
mutated, when the database changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.db.pgtypes.names import TypeKind as TypeKind  # a column's type family, kept with the types


@dataclass(frozen=True, slots=True)
class Column:
    """One column as declared: `type` is the PostgreSQL spelling (`integer`, `jsonb`, `text[]`...)."""

    name: str
    type: str
    kind: TypeKind
    nullable: bool = True
    default: str | None = None  # the default expression, in the engine's own SQL
    generated: bool = False  # identity / generated / rowid alias: may be omitted on insert


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """`columns` of `table` reference `ref_columns` of `ref_table`; `name` is the constraint name."""

    name: str
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """One `CREATE POLICY`: expressions are kept as PostgreSQL text (what the user wrote, normalised).

    `command` is `all`, `select`, `insert`, `update` or `delete`; `roles` holds role names, `public`
    meaning every role.
    """

    name: str
    table: str
    command: str = "all"
    permissive: bool = True
    roles: tuple[str, ...] = ("public",)
    using: str | None = None
    check: str | None = None


@dataclass(frozen=True, slots=True)
class Argument:
    """One input argument of a function; `type` in PostgreSQL spelling; `variadic` for VARIADIC."""

    name: str
    type: str
    has_default: bool = False
    variadic: bool = False


@dataclass(frozen=True, slots=True)
class Function:
    """A function callable at `/rest/v1/rpc/<name>`.

    `returns` is the PostgreSQL return type (`integer`, `json`, `void`, `todos`, `record`...);
    `returns_set` for SETOF / RETURNS TABLE; `result_table` names the exposed table or view whose
    row type it returns (so embeds work on its result); `result_columns` are the columns of
    RETURNS TABLE (...) / OUT arguments. `language` is `sql`, `plpgsql`..., or `python` for functions
    registered with `@rpc`. `body` is the SQLite SQL to run (SQLite only; named parameters
    `:arg`), empty elsewhere.
    """

    schema: str
    name: str
    arguments: tuple[Argument, ...] = ()
    returns: str = "void"
    returns_set: bool = False
    result_table: str | None = None
    result_columns: tuple[Column, ...] = ()
    volatility: str = "volatile"  # immutable | stable | volatile
    language: str = "sql"
    body: str = ""
    security_definer: bool = False
    # SQLite only: the roles holding EXECUTE (`public`: every role), enforced by `/rpc`; None where the
    # database checks it itself (PostgreSQL) or there is no such privilege (`@rpc` Python functions).
    grantees: frozenset[str] | None = None

    @property
    def read_only(self) -> bool:
        """Callable with GET: PostgREST runs stable and immutable functions in a read-only transaction."""
        return self.volatility in ("stable", "immutable")


@dataclass(frozen=True, slots=True)
class Table:
    """A table or view visible through the data API."""

    schema: str
    name: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()  # every unique constraint/index, the PK included
    foreign_keys: tuple[ForeignKey, ...] = ()
    is_view: bool = False
    # SQLite only: text column -> the FTS5 table indexing it (external content, rowid = table rowid).
    fts: dict[str, str] = field(default_factory=dict)
    # Row-level security: `ALTER TABLE t ENABLE ROW LEVEL SECURITY` and the table's `CREATE POLICY`s.
    # PostgreSQL enforces them natively (these are read for `backstack policies`); on SQLite the
    # policy service turns them into predicates the data API ANDs into its statements.
    rls_enabled: bool = False
    rls_forced: bool = False
    policies: tuple[Policy, ...] = ()
    # Table privileges per role (`select`, `insert`, `update`, `delete`) after GRANT/REVOKE; `None`
    # means Supabase's default (every API role has every privilege). Read on SQLite only; PostgreSQL
    # checks its own ACLs.
    grants: dict[str, frozenset[str]] | None = None
    # Views, SQLite only (PostgreSQL honours its own): the view's `CREATE VIEW` text, and its options
    # `security_invoker` (read its tables through the caller's policies) and `security_barrier`.
    definition: str = ""
    security_invoker: bool = False
    security_barrier: bool = False


@dataclass(frozen=True, slots=True)
class Schema:
    """Every exposed table and function by name, plus a fingerprint that changes whenever the schema does."""

    tables: dict[str, Table]
    fingerprint: str = ""
    # Functions by name; a name may be overloaded (PostgreSQL), hence a tuple.
    functions: dict[str, tuple[Function, ...]] = field(default_factory=dict)
    # Tables of backstack's own schemas that the data API never exposes but whose policies a service
    # asks, by PostgreSQL name: on SQLite `realtime.messages` (Realtime Authorization); empty on
    # PostgreSQL, which asks its own policies.
    internal: dict[str, Table] = field(default_factory=dict)

    def get(self, name: str) -> Table | None:
        return self.tables.get(name)

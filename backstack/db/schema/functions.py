"""Functions callable through `/rest/v1/rpc/<name>`, read into `db.schema.model.Function`.

SQLite: the `_backstack_functions` catalog written by db.translate.functions. Bare names in a body that
name an argument become the parameter `:arg` here, unless a table the statement reads has a
column of that name (PostgreSQL's rule: the column wins; `fn.arg` always means the argument).
PostgreSQL: `pg_proc` in the exposed schemas (plain functions only: no aggregates, procedures or
trigger functions), with their argument names, modes, defaults and result shape.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from backstack.core import json
from backstack.db.catalog import function_acl
from backstack.db.pgtypes.names import type_kind
from backstack.db.schema.model import Argument, Column, Function

if TYPE_CHECKING:
    from backstack.db.schema.model import Table

log = logging.getLogger("backstack.db")
EXPOSED = "public"  # the one schema SQLite's data API exposes (docs/rest.md)
CATALOG = function_acl.FUNCTIONS  # the catalog table db.translate.functions writes
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}


@dataclass(frozen=True, slots=True)
class SqliteFunction(Function):
    """A function of the SQLite catalog: `defaults` holds each defaulted argument's SQLite SQL."""

    defaults: tuple[tuple[str, str], ...] = ()


# ------------------------------------------------------------------ SQLite


def sqlite_functions(conn: sqlite3.Connection, tables: dict[str, Table]) -> dict[str, tuple[Function, ...]]:
    """The functions of schema `public` in the SQLite catalog, by name: the ones `/rpc` serves, as
    PostgREST serves only the exposed schemas, which SQLite's data API limits to `public`. (A
    definition that no longer loads is logged and skipped.)"""
    found = conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (CATALOG,)).fetchone()
    if found is None:
        return {}
    functions: dict[str, list[Function]] = {}
    acl = _execute_grants(conn)
    for name, signature, definition in conn.execute(
        f"SELECT name, signature, definition FROM {CATALOG} WHERE schema = ? ORDER BY name, signature",  # noqa: S608 (our catalog table)
        (EXPOSED,),
    ):
        grantees = acl.get((name, signature), frozenset((*function_acl.LEGACY_ROLES, function_acl.OWNER)))
        try:
            function = _sqlite_function(conn, json.loads(definition), tables, grantees)
        except (SqlglotError, ValueError, KeyError) as exc:
            log.warning("function %s cannot be loaded: %s", name, exc)
            continue
        functions.setdefault(function.name, []).append(function)
    return {name: tuple(overloads) for name, overloads in functions.items()}


def _execute_grants(conn: sqlite3.Connection) -> dict[tuple[str, str], frozenset[str]]:
    """(name, signature) -> the roles holding EXECUTE on functions of schema `public`, from db.catalog.function_acl."""
    found = conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (function_acl.ACL,))
    if found.fetchone() is None:
        return {}
    grants: dict[tuple[str, str], set[str]] = {}
    for name, signature, role in conn.execute(
        f"SELECT name, signature, role FROM {function_acl.ACL} WHERE schema = ?",  # noqa: S608 (our catalog table)
        (EXPOSED,),
    ):
        grants.setdefault((name, signature), set()).add(role)
    return {key: frozenset(roles) for key, roles in grants.items()}


def _sqlite_function(
    conn: sqlite3.Connection, spec: dict[str, Any], tables: dict[str, Table], grantees: frozenset[str]
) -> SqliteFunction:
    arguments = tuple(
        Argument(a["name"], a["type"], a["default"] is not None, a["mode"] == "variadic") for a in spec["arguments"]
    )
    result_table = spec["returns"] if spec["returns"] in tables else None
    if result_table is not None:
        columns = tuple(tables[result_table].columns.values())
    else:
        columns = tuple(Column(name, type_, type_kind(type_)) for name, type_ in spec["result_columns"])
    names = [a.name for a in arguments]
    body = ";\n".join(resolve_arguments(conn, statement, names) for statement in spec["statements"])
    return SqliteFunction(
        schema=spec["schema"],
        name=spec["name"],
        arguments=arguments,
        returns=spec["returns"],
        returns_set=spec["returns_set"],
        result_table=result_table,
        result_columns=columns,
        volatility=spec["volatility"],
        language="sql",
        body=body,
        security_definer=spec["security_definer"],
        grantees=grantees,
        defaults=tuple((a["name"], a["default"]) for a in spec["arguments"] if a["default"] is not None),
    )


def resolve_arguments(conn: sqlite3.Connection, statement: str, names: list[str]) -> str:
    """`statement` with each bare name of an argument turned into `:name`, unless a table read by the
    statement has a column of that name."""
    if not names:
        return statement
    tree = sqlglot.parse_one(statement, read="sqlite")
    columns: set[str] = set()
    for table in tree.find_all(exp.Table):
        columns.update(row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table.name,)))
    wanted = set(names) - columns

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in wanted:
            return exp.Placeholder(this=node.name)
        return node

    return tree.transform(replace, copy=False).sql(dialect="sqlite")


# ------------------------------------------------------------------ PostgreSQL

_FUNCTIONS = """
select p.oid, n.nspname, p.proname, p.proretset, p.provolatile::text as volatility, l.lanname, p.prosecdef,
       format_type(p.prorettype, null) as returns, rn.nspname as rel_schema, rc.relname as rel_name,
       p.pronargdefaults, p.proargnames, p.proargmodes::text[] as modes,
       (select array_agg(format_type(x, null) order by o)
          from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(x, o)) as types,
       (select array_agg(a.attname::text order by a.attnum) from pg_attribute a
         where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped) as composite_names,
       (select array_agg(format_type(a.atttypid, a.atttypmod) order by a.attnum) from pg_attribute a
         where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped) as composite_types
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang
join pg_type t on t.oid = p.prorettype
left join pg_class rc on rc.oid = t.typrelid and t.typrelid <> 0
left join pg_namespace rn on rn.oid = rc.relnamespace
where n.nspname = any($1::text[]) and p.prokind = 'f'
  and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
order by n.nspname, p.proname, p.oid
"""


async def postgres_functions(
    conn: Any, schemas: Sequence[str], tables: dict[str, Table]
) -> dict[str, tuple[Function, ...]]:
    """The functions of the exposed schemas, by name (bare in the first schema, `schema.name` in others)."""
    default_schema = schemas[0] if schemas else "public"
    by_relation = {(t.schema, t.name): key for key, t in tables.items()}
    functions: dict[str, list[Function]] = {}
    for row in await conn.fetch(_FUNCTIONS, list(schemas)):
        function = _postgres_function(row, tables, by_relation)
        key = function.name if function.schema == default_schema else f"{function.schema}.{function.name}"
        functions.setdefault(key, []).append(function)
    return {name: tuple(overloads) for name, overloads in functions.items()}


def _postgres_function(row: Any, tables: dict[str, Table], by_relation: dict[tuple[str, str], str]) -> Function:
    types: list[str] = list(row["types"] or [])
    modes: list[str] = list(row["modes"] or ["i"] * len(types))
    names: list[str] = list(row["proargnames"] or [""] * len(types))
    inputs = [(n, t, m) for n, t, m in zip(names, types, modes, strict=False) if m in ("i", "b", "v")]
    defaults = int(row["pronargdefaults"] or 0)
    arguments = tuple(
        Argument(name, type_, index >= len(inputs) - defaults, mode == "v")
        for index, (name, type_, mode) in enumerate(inputs)
    )
    result_table = by_relation.get((row["rel_schema"], row["rel_name"])) if row["rel_name"] else None
    outputs = [(n, t) for n, t, m in zip(names, types, modes, strict=False) if m in ("o", "b", "t")]
    if result_table is not None:
        columns = tuple(tables[result_table].columns.values())
    elif outputs:
        columns = tuple(Column(n, t, type_kind(t)) for n, t in outputs)
    else:
        pairs = zip(row["composite_names"] or [], row["composite_types"] or [], strict=False)
        columns = tuple(Column(n, t, type_kind(t)) for n, t in pairs)
    return Function(
        schema=row["nspname"],
        name=row["proname"],
        arguments=arguments,
        returns=row["returns"],
        returns_set=row["proretset"],
        result_table=result_table,
        result_columns=columns,
        volatility=_VOLATILITY.get(row["volatility"], "volatile"),
        language=row["lanname"],
        security_definer=row["prosecdef"],
    )

"""Read PostgreSQL's catalogs into `db.schema.model.Schema`, and compute the schema fingerprint.

Only the exposed schemas (settings.exposed_schemas) are read; our own `_backstack` schema never is.
Tables of the first exposed schema are keyed by bare name, those of the others by `schema.name`
(and so are foreign keys that point across schemas), which keeps the common single-schema case a
plain `schema.get("todos")`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backstack.db.pgtypes.names import type_kind
from backstack.db.schema.functions import postgres_functions
from backstack.db.schema.model import Column, ForeignKey, Schema, Table
from backstack.db.schema.policies import postgres_policies
from backstack.db.schema.view_keys import infer_view_keys

if TYPE_CHECKING:
    import asyncpg

    AnyConnection = asyncpg.Connection

_RELS = """
select c.oid, n.nspname, c.relname, c.relkind in ('v', 'm') as is_view,
       case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end as definition
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'f')
order by n.nspname, c.relname
"""

_COLUMNS = """
select a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod) as type,
       format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid), a.atttypmod) as base_type,
       t.typtype::text as typtype, a.attnotnull, pg_get_expr(d.adbin, d.adrelid) as "default",
       a.attidentity::text as attidentity, a.attgenerated::text as attgenerated
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum
"""

_KEYS = """
select co.conrelid, co.conname, co.contype::text as contype,
       (select array_agg(a.attname order by k.ord)
          from unnest(co.conkey) with ordinality k(num, ord)
          join pg_attribute a on a.attrelid = co.conrelid and a.attnum = k.num) as cols,
       fn.nspname as ref_schema, fc.relname as ref_table,
       (select array_agg(a.attname order by k.ord)
          from unnest(co.confkey) with ordinality k(num, ord)
          join pg_attribute a on a.attrelid = co.confrelid and a.attnum = k.num) as ref_cols
from pg_constraint co
join pg_class c on c.oid = co.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class fc on fc.oid = co.confrelid
left join pg_namespace fn on fn.oid = fc.relnamespace
where n.nspname = any($1::text[]) and co.contype in ('p', 'u', 'f')
order by co.conrelid, co.contype, co.conname
"""

_UNIQUE_INDEXES = """
select i.indrelid,
       (select array_agg(a.attname order by k.ord)
          from unnest(i.indkey::int2[]) with ordinality k(num, ord)
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.num) as cols
from pg_index i
join pg_class c on c.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1::text[]) and i.indisunique and i.indpred is null and i.indexprs is null
order by i.indrelid, i.indexrelid
"""

# Every catalog row the schema model is built from (policies included), with its xmin (bumped by any change to it).
FINGERPRINT = """
select md5(coalesce(string_agg(x, ',' order by x), '')) from (
  select c.oid::text || c.xmin::text || c.relname || c.relkind::text as x
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'i')
  union all
  select a.attrelid::text || '.' || a.attnum::text || a.xmin::text
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'f') and a.attnum > 0
  union all
  select co.oid::text || co.xmin::text
    from pg_constraint co join pg_namespace n on n.oid = co.connamespace
   where n.nspname = any($1::text[])
  union all
  select d.oid::text || d.xmin::text
    from pg_attrdef d join pg_class c on c.oid = d.adrelid join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = any($1::text[])
  union all
  select 'fn' || p.oid::text || p.xmin::text
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = any($1::text[])
  union all
  select 'pol' || p.oid::text || p.xmin::text
    from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = any($1::text[])
  union all
  select 'ns' || n.oid::text || n.nspname from pg_namespace n where n.nspname = any($1::text[])
) s
"""


async def fingerprint(conn: AnyConnection, schemas: Sequence[str]) -> str:
    """A hash that changes whenever anything `introspect` reads changes (a few ms to compute)."""
    value = await conn.fetchval(FINGERPRINT, list(schemas))
    return str(value)


async def introspect(conn: AnyConnection, schemas: Sequence[str]) -> Schema:
    """The exposed tables and views, read inside one repeatable-read snapshot."""
    names = list(schemas)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rels = await conn.fetch(_RELS, names)
        columns = await conn.fetch(_COLUMNS, names)
        keys = await conn.fetch(_KEYS, names)
        indexes = await conn.fetch(_UNIQUE_INDEXES, names)
        default_schema = names[0] if names else "public"
        tables = _build(rels, columns, keys, indexes, default_schema)
        tables = await postgres_policies(conn, names, tables)
        functions = await postgres_functions(conn, names, tables)
        print_ = await fingerprint(conn, names)
    return Schema(tables=tables, fingerprint=print_, functions=functions)


def _key(schema: str, name: str, default_schema: str) -> str:
    return name if schema == default_schema else f"{schema}.{name}"


def _build(
    rels: list[Any], columns: list[Any], keys: list[Any], indexes: list[Any], default_schema: str
) -> dict[str, Table]:
    by_oid: dict[int, dict[str, Any]] = {}
    for oid, schema, name, is_view, _ in rels:
        by_oid[oid] = {
            "schema": schema,
            "name": name,
            "is_view": is_view,
            "columns": {},
            "pk": (),
            "unique": [],
            "fks": [],
        }
    for row in columns:
        rel = by_oid.get(row["attrelid"])
        if rel is not None:
            rel["columns"][row["attname"]] = _column(row, rel["is_view"])
    for row in keys:
        rel = by_oid.get(row["conrelid"])
        if rel is not None:
            _add_key(rel, row, default_schema)
    for oid, cols in indexes:
        rel = by_oid.get(oid)
        if rel is not None and cols and tuple(cols) not in rel["unique"]:
            rel["unique"].append(tuple(cols))
    tables = {_key(r["schema"], r["name"], default_schema): _table(r) for r in by_oid.values()}
    views = {_key(r["nspname"], r["relname"], default_schema): r["definition"] for r in rels if r["definition"]}
    infer_view_keys(tables, views, "postgres")
    return tables


def _column(row: Any, is_view: bool) -> Column:
    identity = bool(row["attidentity"])
    generated = bool(row["attgenerated"])
    default = row["default"]
    serial = isinstance(default, str) and default.startswith("nextval(")
    kind = "text" if row["typtype"] == "e" else type_kind(row["base_type"])
    return Column(
        name=row["attname"],
        type=row["type"],
        kind=kind,
        nullable=True if is_view else not row["attnotnull"],
        default=default,
        generated=identity or generated or serial,
    )


def _add_key(rel: dict[str, Any], row: Any, default_schema: str) -> None:
    cols = tuple(row["cols"] or ())
    if row["contype"] == "p":
        rel["pk"] = cols
        rel["unique"].insert(0, cols)
    elif row["contype"] == "u":
        if cols not in rel["unique"]:
            rel["unique"].append(cols)
    else:
        ref = _key(row["ref_schema"], row["ref_table"], default_schema)
        rel["fks"].append(ForeignKey(row["conname"], rel["name"], cols, ref, tuple(row["ref_cols"] or ())))


def _table(rel: dict[str, Any]) -> Table:
    unique: list[tuple[str, ...]] = []
    for key in rel["unique"]:
        if key not in unique:
            unique.append(key)
    return Table(
        schema=rel["schema"],
        name=rel["name"],
        columns=rel["columns"],
        primary_key=rel["pk"],
        unique=tuple(unique),
        foreign_keys=tuple(rel["fks"]),
        is_view=rel["is_view"],
    )

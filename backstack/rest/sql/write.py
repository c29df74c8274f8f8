"""Write statements: INSERT (bulk, upsert), UPDATE and DELETE, with their representation.

PostgreSQL: one statement, `WITH _bs_changed AS (<DML> RETURNING t0.*) SELECT body, page_count,
changed_count, inserted_count, location`, the representation built from `_bs_changed` by the read
builder (embeds included). `$1` is the request body (a JSON array of objects), bound at run time.

SQLite has no DML in CTEs, so a write is `<DML> RETURNING <row identity>` (rowid, or the primary
key) and then one SELECT building the representation from that list of identities, in input
order (`json_each` keeps it), both inside one transaction. DELETE runs the other way round: the
representation (and the identities) first, then the DELETE by identity.

The key set of the body (`columns=` or the union of the objects' keys) is an argument, not read
from the body, so compiling stays a pure function of the request shape.

Row policies on SQLite (PostgreSQL enforces RLS itself), PostgreSQL's rules: UPDATE and DELETE
AND the command's USING (which includes SELECT's) into their WHERE, so hidden rows are skipped,
and the request's leaky filters run only behind it (`ReadBuilder.guarded`);
WITH CHECK is evaluated for every written row inside the DML, through `_bs_rls_violation` (which
raises 42501 and so rolls the whole write back): in RETURNING for inserts and updates (the row as
written, defaults included), plus SELECT's USING when the rows are returned. An upsert (`ON
CONFLICT DO UPDATE`) checks the proposed row against the INSERT check in its SELECT, and in the
DO UPDATE's WHERE raises unless the existing row passes UPDATE's USING (an error, as PostgreSQL,
not a skip) and the merged row passes UPDATE's check.

Views: PostgreSQL writes through a simple view (automatically updatable, with the base table's
policies for a security_invoker view). SQLite's views are not updatable (an `INSERT ... RETURNING`
into one even answers rows without writing them), so on SQLite every write to a view is refused
before any SQL runs: 400 `55000` `cannot insert into view "v"`, PostgreSQL's words for a view it
cannot write through, with a hint to write to the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.errors import database_error
from backstack.rest import errors
from backstack.rest.plan.resolve import lookup_table, plan_read
from backstack.rest.request.query import ReadQuery
from backstack.rest.sql.common import Ctx, Statement, column_ref
from backstack.rest.sql.filter import condition_sql, leakproof
from backstack.rest.sql.read import BodyMode, ReadBuilder, RootSource

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Column, Schema, Table
    from backstack.rest.plan.resolve import Node

Resolution = Literal["merge-duplicates", "ignore-duplicates"]
_TRUE = "('t', 'true', 'y', 'yes', 'on', '1')"
_FALSE = "('f', 'false', 'n', 'no', 'off', '0')"


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """How the write answers: its body (or none), Location, and insert-only preferences."""

    media: BodyMode = "none"
    strip_nulls: bool = False
    location: bool = False
    missing_default: bool = False
    resolution: Resolution | None = None
    on_conflict: tuple[str, ...] | None = None
    schema_name: str = "public"


@dataclass(frozen=True, slots=True)
class WritePlan:
    """The compiled statements of one write; how `service.py` runs them depends on the dialect.

    PostgreSQL: `main` (slot 1 = body JSON for insert/update) -> one row
    (body, page_count, changed_count, inserted_count, location_json).
    SQLite: `main` is the DML returning identities (slot 1 = body JSON; `repeat` = run once per
    row, for rows without any column); `represent` (slot 1 = identities JSON) -> one row
    (body, count, location_json, identities JSON); `precount` (slot 1 = body) counts rows an upsert
    will merge; for DELETE `represent` runs first and `main` takes its identities.
    """

    main: Statement | None
    represent: Statement | None = None
    precount: Statement | None = None
    repeat: bool = False
    delete_first: bool = False
    identity: tuple[str, ...] = ()
    counts_only: bool = False  # SQLite: `main` returns nothing, run it for its row count
    # SQLite: run when `main` fails on a constraint (23xxx), slot 1 = body: raises 42501 for a proposed
    # row failing WITH CHECK, as PostgreSQL checks policies before constraints
    precheck: Statement | None = None

    def with_values(self, values: Sequence[Any]) -> WritePlan:
        """The plan for one request's filter values (`Statement.with_values`)."""
        if not values:
            return self

        def bound(statement: Statement | None) -> Statement | None:
            return None if statement is None else statement.with_values(values)

        return replace(
            self,
            main=bound(self.main),
            represent=bound(self.represent),
            precount=bound(self.precount),
            precheck=bound(self.precheck),
        )


# ---------------------------------------------------------------- shared pieces


def _plan(schema: Schema, table: str, query: ReadQuery, sqlite: bool, schema_name: str) -> Node:
    """The tree of a write: root filters select the rows written, the rest shapes the representation.

    Root paging does not apply to writes (as PostgREST), so it is dropped here; a root `order`
    sorts the representation.
    """
    shaped = ReadQuery(
        select=query.select,
        where=query.where,
        order=query.order,
        limit={p: n for p, n in query.limit.items() if p},
        offset={p: n for p, n in query.offset.items() if p},
    )
    return plan_read(schema, table, shaped, sqlite=sqlite, schema_name=schema_name)


def check_columns(table: Table, columns: tuple[str, ...]) -> list[Column]:
    """The written columns, or PGRST204 for one the table lacks."""
    missing = next((c for c in columns if c not in table.columns), None)
    if missing is not None:
        raise errors.column_not_found(table.name, missing)
    return [table.columns[c] for c in columns]


def _mutation_where(ctx: Ctx, builder: ReadBuilder, root: Node, operation: str) -> list[str]:
    """The root filters behind the table's row policies for `operation`, over alias `t0`."""
    policy = builder.row_filter(root.table, root.alias, operation)
    per_row = bool(policy)
    request = [(condition_sql(ctx, root, c, builder.exists, per_row=per_row), leakproof(c)) for c in root.where]
    return builder.guarded(request, policy)


def _where(conds: list[str]) -> str:
    return " WHERE " + " AND ".join(conds) if conds else ""


def _conflict_target(table: Table, options: WriteOptions, sqlite: bool) -> tuple[str, ...]:
    if options.resolution is None:
        return ()
    target = options.on_conflict or table.primary_key
    for name in target:
        if name not in table.columns:
            raise errors.undefined_column(table.name, name)
    if sqlite and target and not any(set(key) == set(target) for key in table.unique):
        raise errors.no_conflict_constraint()
    return target


def _on_conflict(target: tuple[str, ...], columns: list[Column], options: WriteOptions) -> str:
    if not target:
        return ""
    head = f" ON CONFLICT ({', '.join(quote_ident(c) for c in target)})"
    if options.resolution == "ignore-duplicates" or not columns:
        return head + " DO NOTHING"
    sets = ", ".join(f"{quote_ident(c.name)} = excluded.{quote_ident(c.name)}" for c in columns)
    return f"{head} DO UPDATE SET {sets}"


# ---------------------------------------------------------------- PostgreSQL


def _pg_value(ctx: Ctx, table: Table, column: Column, missing_default: bool) -> str:
    value = f"_p.{quote_ident(column.name)}"
    if not missing_default:
        return value
    if column.default is not None:
        default = column.default
    elif column.generated:
        qualified = quote_literal(f"{quote_ident(table.schema)}.{quote_ident(table.name)}")
        default = f"nextval(pg_get_serial_sequence({qualified}, {quote_literal(column.name)}))"
    else:
        default = "NULL"
    return f"CASE WHEN _j.v -> {quote_literal(column.name)} IS NULL THEN {default} ELSE {value} END"


def _pg_finish(
    ctx: Ctx, builder: ReadBuilder, root: Node, options: WriteOptions, dml: str, inserted: bool
) -> Statement:
    builder.root_source = RootSource("_bs_changed AS t0")
    if options.media == "none":
        select, from_sql = "NULL, NULL::bigint", ""
    else:
        select, from_sql = builder.body_select(root, options.media)
    changed = "(SELECT count(*) FROM _bs_changed)"
    inserted_sql = "(SELECT count(*) FROM _bs_changed WHERE _bs_inserted)" if inserted else "NULL::bigint"
    location = "NULL"
    if options.location and root.table.primary_key:
        pks = ", ".join(f"{column_ref('t0', c)}::text" for c in root.table.primary_key)
        location = f"(SELECT json_build_array({pks})::text FROM _bs_changed AS t0 LIMIT 1)"
    check = ctx.dialect.written_session_check(ctx.table(root.table), "_bs_changed") or "NULL"
    sql = f"WITH _bs_changed AS ({dml}) SELECT {select}, {changed}, {inserted_sql}, {location}, {check} {from_sql}"
    return ctx.statement(sql.rstrip())


def _pg_insert(ctx: Ctx, builder: ReadBuilder, root: Node, columns: list[Column], options: WriteOptions) -> Statement:
    table = root.table
    ref = ctx.table(table)
    body = f"{ctx.param(None)}::json"
    names = ", ".join(quote_ident(c.name) for c in columns)
    values = ", ".join(_pg_value(ctx, table, c, options.missing_default) for c in columns)
    source = (
        f"FROM json_array_elements({body}) WITH ORDINALITY AS _j(v, n) "
        f"CROSS JOIN LATERAL json_populate_record(NULL::{ref}, _j.v) AS _p ORDER BY _j.n"
    )
    target = _conflict_target(table, options, sqlite=False)
    merge = options.resolution == "merge-duplicates" and bool(target) and not table.is_view
    returning = "t0.*, (t0.xmax = 0) AS _bs_inserted" if merge else "t0.*"
    if not merge and options.media == "none" and not options.location:
        returning = "1"  # reads no column: an insert-only role needs no SELECT privilege or policy
    dml = (
        f"INSERT INTO {ref} AS t0 ({names}) SELECT {values} {source}"
        if columns
        else f"INSERT INTO {ref} AS t0 SELECT {source}"
    )
    dml += f"{_on_conflict(target, columns, options)} RETURNING {returning}"
    return _pg_finish(ctx, builder, root, options, dml, merge)


# ---------------------------------------------------------------- SQLite


def _key_lookups(obj: str, column: Column) -> tuple[str, str, str]:
    """(json_type, ->> value, -> JSON) of key `column.name` in the JSON object `obj`.

    A path (`$."name"`) when the name allows it; SQLite paths cannot spell a `"` in a key, so such
    names are looked up through json_each instead.
    """
    if '"' not in column.name:
        path = quote_literal(f'$."{column.name}"')
        return f"json_type({obj}, {path})", f"{obj} ->> {path}", f"{obj} -> {path}"
    key = quote_literal(column.name)
    each = f"FROM json_each({obj}) AS _kv WHERE _kv.key = {key}"
    as_json = (
        f"(SELECT CASE _kv.type WHEN 'text' THEN json_quote(_kv.value) WHEN 'true' THEN 'true' "
        f"WHEN 'false' THEN 'false' ELSE _kv.value END {each})"
    )
    return f"(SELECT _kv.type {each})", f"(SELECT _kv.value {each})", as_json


def sqlite_body_value(obj: str, column: Column, missing_default: bool) -> str:
    """The SQL value of key `column` of the JSON object `obj`, converted for the column's kind."""
    jtype, text, as_json = _key_lookups(obj, column)
    if column.kind in ("json", "array"):
        value = f"CASE {jtype} WHEN 'null' THEN NULL ELSE {as_json} END"
    elif column.kind == "bool":
        value = (
            f"CASE {jtype} WHEN 'true' THEN 1 WHEN 'false' THEN 0 "
            f"WHEN 'text' THEN CASE WHEN lower({text}) IN {_TRUE} THEN 1 "
            f"WHEN lower({text}) IN {_FALSE} THEN 0 ELSE {text} END ELSE {text} END"
        )
    elif column.kind == "range":  # stored as PostgreSQL prints it: `[1,5]` -> `[1,6)`; a bad one is 22P02
        value = f"_bs_range({text}, {quote_literal(column.type)})"
    else:
        value = text
    if missing_default:
        default = f"({column.default})" if column.default is not None else "NULL"
        value = f"CASE WHEN {jtype} IS NULL THEN {default} ELSE {value} END"
    return value


def identity_of(table: Table) -> tuple[str, ...]:
    """How SQLite statements find written rows again: the primary key, else the rowid."""
    return table.primary_key


def _returning(identity: tuple[str, ...], table: Table, check: str | None = None) -> str:
    """RETURNING the row identity; with `check`, the first value raises 42501 for a row failing it."""
    names = [quote_ident(c) for c in identity] or ["rowid"]
    if check is not None:
        names[0] = f"CASE WHEN {check} THEN {names[0]} ELSE {_violation(table, 'check')} END"
    return " RETURNING " + ", ".join(names)


# ---------------------------------------------------------------- row policies (SQLite)

_ROW_COLUMN = re.compile(r'\{row\}\."((?:[^"]|"")*)"')


def _violation(table: Table, kind: str) -> str:
    return f"_bs_rls_violation({quote_literal(table.name)}, NULL, {quote_literal(kind)})"


def _enforced(condition: str, table: Table, kind: str = "check") -> str:
    """`condition`, or 42501 for the row (NULL fails too, as a WITH CHECK does)."""
    return f"CASE WHEN {condition} THEN 1 ELSE {_violation(table, kind)} END"


def _over_columns(predicate: str, value: Callable[[str], str]) -> str:
    """`predicate` with each `{row}."c"` replaced by `value(c)`: a row that exists only as expressions."""
    return _ROW_COLUMN.sub(lambda m: value(m[1].replace('""', '"')), predicate)


def _new_row_check(policies: RowPolicies | None, table: Table, command: str | None, returned: bool) -> str | None:
    """What each written row must pass, over `{row}`: `command`'s WITH CHECK, and SELECT's USING when
    the rows are returned (PostgreSQL's RETURNING)."""
    if policies is None:
        return None
    parts = [policies.check(table, command) if command else None, policies.using(table, "select") if returned else None]
    present = [p for p in parts if p is not None]
    return " AND ".join(present) if present else None


def _written_check(policies: RowPolicies | None, table: Table, command: str | None, returned: bool) -> str | None:
    """`_new_row_check` over the row as RETURNING names it (the table's name)."""
    check = _new_row_check(policies, table, command, returned)
    return None if check is None else check.replace("{row}", quote_ident(table.name))


def _insert_precheck(ctx: Ctx, table: Table, columns: list[Column], options: WriteOptions, check: str) -> Statement:
    """The body's rows (defaults as the INSERT would compute them) against `check`, raising on the first
    that fails: run only after a constraint error, to answer what PostgreSQL would have answered."""
    pctx = Ctx(ctx.dialect, ctx.schema_name)
    body = pctx.param(None)
    values = {c.name: sqlite_body_value("_j.value", c, options.missing_default) for c in columns}
    proposed = _over_columns(check, lambda c: values.get(c) or _default_sql(table, c))
    return pctx.statement(f"SELECT {_enforced(proposed, table)} FROM json_each({body}) AS _j")


def _default_sql(table: Table, name: str) -> str:
    column = table.columns[name]
    return f"({column.default})" if column.default is not None and not column.generated else "NULL"


def _conflict_where(policies: RowPolicies, table: Table, columns: list[Column]) -> str:
    """DO UPDATE ... WHERE: the existing row passes UPDATE's USING (else 42501, never a skip) and the
    merged row (`excluded` for the written columns, the existing row for the rest) UPDATE's check."""
    row = quote_ident(table.name)
    conds: list[str] = []
    existing = policies.using(table, "update")
    if existing is not None:
        conds.append(_enforced(existing.replace("{row}", row), table, "using"))
    merged = policies.check(table, "update")
    if merged is not None:
        written = {c.name for c in columns}
        conds.append(
            _enforced(
                _over_columns(
                    merged, lambda c: f"excluded.{quote_ident(c)}" if c in written else f"{row}.{quote_ident(c)}"
                ),
                table,
            )
        )
    return _where(conds)


def _identity_join(ctx: Ctx, identity: tuple[str, ...], alias: str, ids: str) -> str:
    if not identity:
        return f"{alias}.rowid = {ids}.value"
    return " AND ".join(f"{column_ref(alias, c)} = {ids}.value ->> '$[{i}]'" for i, c in enumerate(identity))


def _sqlite_represent(
    ctx: Ctx, builder: ReadBuilder, root: Node, options: WriteOptions, identity: tuple[str, ...]
) -> Statement:
    ids = ctx.param(None)
    join = _identity_join(ctx, identity, root.alias, "_k")
    builder.root_source = RootSource(
        f"json_each({ids}) AS _k JOIN {ctx.table(root.table)} AS {root.alias} ON {join}", " ORDER BY _k.key"
    )
    location = "NULL"
    extra = ""
    if options.location and root.table.primary_key:
        cols = ", ".join(f"CAST({column_ref(root.alias, c)} AS TEXT)" for c in root.table.primary_key)
        extra, location = f"json_array({cols}) AS loc", "min(_r.loc)"
    select, from_sql = builder.body_select(root, options.media, extra)
    return ctx.statement(f"SELECT {select}, {location} {from_sql}")


def _sqlite_insert(
    ctx: Ctx, builder: ReadBuilder, root: Node, columns: list[Column], options: WriteOptions
) -> WritePlan:
    table = root.table
    ref = ctx.table(table)
    identity = identity_of(table)
    target = _conflict_target(table, options, sqlite=True)
    policies = builder.policies
    merge = options.resolution == "merge-duplicates" and bool(target) and bool(columns)
    returned = options.media != "none" or options.location
    # an upsert checks INSERT's WITH CHECK on the proposed row (below), RETURNING only SELECT's USING
    check = _written_check(policies, table, None if merge else "insert", returned or merge)
    if not columns:
        main = Statement(f"INSERT INTO {ref} DEFAULT VALUES{_returning(identity, table, check)}")
        return WritePlan(main, _represent(table, builder, root, options, identity), repeat=True, identity=identity)
    body = ctx.param(None)
    names = ", ".join(quote_ident(c.name) for c in columns)
    values = {c.name: sqlite_body_value("_j.value", c, options.missing_default) for c in columns}
    where, conflict = "1", _on_conflict(target, columns, options)
    if merge and policies is not None:
        proposed = policies.check(table, "insert")
        if proposed is not None:
            where = _enforced(_over_columns(proposed, lambda c: values.get(c) or _default_sql(table, c)), table)
        conflict += _conflict_where(policies, table, columns)
    sql = (
        f"INSERT INTO {ref} ({names}) SELECT {', '.join(values.values())} FROM json_each({body}) AS _j "
        f"WHERE {where} ORDER BY _j.key{conflict}{_returning(identity, table, check)}"
    )
    main = ctx.statement(sql)
    new_row = None if merge else _new_row_check(policies, table, "insert", returned)
    precheck = None if new_row is None else _insert_precheck(ctx, table, columns, options, new_row)
    precount = None
    if options.resolution == "merge-duplicates" and target:
        pctx = Ctx(ctx.dialect, ctx.schema_name)
        pbody = pctx.param(None)
        match = " AND ".join(
            f"{column_ref('_c', c)} = {sqlite_body_value('_j.value', table.columns[c], False)}" for c in target
        )
        precount = pctx.statement(
            f"SELECT count(*) FROM json_each({pbody}) AS _j WHERE EXISTS (SELECT 1 FROM {ref} AS _c WHERE {match})"
        )
    return WritePlan(
        main, _represent(table, builder, root, options, identity), precount, identity=identity, precheck=precheck
    )


def _represent(
    table: Table, builder: ReadBuilder, root: Node, options: WriteOptions, identity: tuple[str, ...]
) -> Statement | None:
    if options.media == "none" and not options.location:
        return None
    rctx = Ctx(builder.ctx.dialect, builder.ctx.schema_name)
    rbuilder = ReadBuilder(rctx, builder.policies, builder.strip_nulls)
    return _sqlite_represent(rctx, rbuilder, root, options, identity)


# ---------------------------------------------------------------- entry points


def insert_reads_back(table: Table, columns: tuple[str, ...], options: WriteOptions) -> bool:
    """Whether an insert's statement reads back the rows it writes on both engines (an upsert that
    merges, or one answering its rows or Location): then asking it for the rows needs no privilege or
    policy the write does not already need. UPDATE and DELETE always read theirs back."""
    merges = (
        options.resolution == "merge-duplicates"
        and bool(options.on_conflict or table.primary_key)
        and bool(columns)
        and not table.is_view
    )
    return merges or options.location or options.media != "none"


def _writable(table: Table, dialect: Dialect, verb: str) -> None:
    """Refuse a write to a view on SQLite (see the module docstring); `verb` as PostgreSQL words it."""
    if dialect.is_sqlite and table.is_view:
        raise database_error(
            "55000",
            f'cannot {verb} view "{table.name}"',
            "Views are not updatable on SQLite: backstack writes only to tables there.",
            "Write to the view's table (its row-level security applies), or run on PostgreSQL, where simple "
            "views are automatically updatable.",
        )


def compile_insert(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    columns: tuple[str, ...],
    options: WriteOptions,
    policies: RowPolicies | None = None,
) -> WritePlan:
    """POST: insert the rows of the body (slot 1: a JSON array of objects) into `columns`."""
    tbl = lookup_table(schema, table, options.schema_name)
    _writable(tbl, dialect, "insert into")
    cols = check_columns(tbl, columns)
    root = _plan(
        schema,
        table,
        ReadQuery(
            select=query.select,
            where={p: c for p, c in query.where.items() if p},
            order=query.order,
            limit=query.limit,
            offset=query.offset,
        ),
        dialect.is_sqlite,
        options.schema_name,
    )
    ctx = Ctx(dialect, options.schema_name)
    builder = ReadBuilder(ctx, policies, options.strip_nulls)
    if dialect.is_sqlite:
        return _sqlite_insert(ctx, builder, root, cols, options)
    return WritePlan(_pg_insert(ctx, builder, root, cols, options))


def compile_update(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    columns: tuple[str, ...],
    options: WriteOptions,
    policies: RowPolicies | None = None,
) -> WritePlan:
    """PATCH: set `columns` from the body object (slot 1) on the rows the root filters select."""
    tbl = lookup_table(schema, table, options.schema_name)
    _writable(tbl, dialect, "update")
    cols = check_columns(tbl, columns)
    root = _plan(schema, table, query, dialect.is_sqlite, options.schema_name)
    ctx = Ctx(dialect, options.schema_name)
    builder = ReadBuilder(ctx, policies, options.strip_nulls)
    ref = ctx.table(tbl)
    body = ctx.param(None)
    conds = _mutation_where(ctx, builder, root, "update")
    where = _where(conds)
    if dialect.is_sqlite:
        identity = identity_of(tbl)
        sets = ", ".join(f"{quote_ident(c.name)} = {sqlite_body_value(body, c, False)}" for c in cols)
        check = _written_check(policies, tbl, "update", True)  # the data API reads what it updates
        returning = _returning(identity, tbl, check)
        main = ctx.statement(f"UPDATE {ref} AS t0 SET {sets}{where}{returning}") if cols else None
        return WritePlan(main, _represent(tbl, builder, root, options, identity), identity=identity)
    if cols:
        sets = ", ".join(f"{quote_ident(c.name)} = _p.{quote_ident(c.name)}" for c in cols)
        dml = (
            f"UPDATE {ref} AS t0 SET {sets} FROM json_populate_record(NULL::{ref}, {body}::json) AS _p"
            f"{where} RETURNING t0.*"
        )
    else:
        dml = f"SELECT t0.* FROM {ref} AS t0{_where(['FALSE', f'{body}::json IS NULL', *conds])}"
    return WritePlan(_pg_finish(ctx, builder, root, options, dml, inserted=False))


def compile_delete(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    options: WriteOptions,
    policies: RowPolicies | None = None,
    *,
    need_rows: bool = True,
) -> WritePlan:
    """DELETE the rows the root filters select; `need_rows` (SQLite) reads them first."""
    tbl = lookup_table(schema, table, options.schema_name)
    _writable(tbl, dialect, "delete from")
    root = _plan(schema, table, query, dialect.is_sqlite, options.schema_name)
    ctx = Ctx(dialect, options.schema_name)
    builder = ReadBuilder(ctx, policies, options.strip_nulls)
    ref = ctx.table(tbl)
    conds = _mutation_where(ctx, builder, root, "delete")
    if not dialect.is_sqlite:
        dml = f"DELETE FROM {ref} AS t0{_where(conds)} RETURNING t0.*"
        return WritePlan(_pg_finish(ctx, builder, root, options, dml, inserted=False))
    identity = identity_of(tbl)
    if not need_rows:
        return WritePlan(ctx.statement(f"DELETE FROM {ref} AS t0{_where(conds)}"), counts_only=True)
    return _sqlite_delete(ctx, builder, root, conds, options, identity)


def _sqlite_delete(
    ctx: Ctx, builder: ReadBuilder, root: Node, conds: list[str], options: WriteOptions, identity: tuple[str, ...]
) -> WritePlan:
    """Read the rows (representation + identities), then delete exactly those."""
    table = root.table
    ref = ctx.table(table)
    ident = ", ".join(column_ref(root.alias, c) for c in identity) if identity else f"{root.alias}.rowid"
    builder.root_source = RootSource(f"{ref} AS {root.alias}", conds=tuple(conds))
    extra = f"json_array({ident}) AS _id"
    location = "NULL"
    if options.location and table.primary_key:
        cols = ", ".join(f"CAST({column_ref(root.alias, c)} AS TEXT)" for c in table.primary_key)
        extra += f", json_array({cols}) AS loc"
        location = "min(_r.loc)"
    select, from_sql = builder.body_select(root, options.media, extra)
    represent = ctx.statement(f"SELECT {select}, {location}, json_group_array(json(_r._id)) {from_sql}")
    dctx = Ctx(ctx.dialect, ctx.schema_name)
    ids = dctx.param(None)
    if identity:
        picks = ", ".join(f"_k.value ->> '$[{i}]'" for i in range(len(identity)))
        keys = ", ".join(quote_ident(c) for c in identity)
        match = f"({keys}) IN (SELECT {picks} FROM json_each({ids}) AS _k)"
    else:
        match = f"rowid IN (SELECT _k.value ->> '$[0]' FROM json_each({ids}) AS _k)"
    main = dctx.statement(f"DELETE FROM {ref} WHERE {match}")
    return WritePlan(main, represent, delete_first=True, identity=identity)

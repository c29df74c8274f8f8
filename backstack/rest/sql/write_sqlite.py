"""SQLite write statements, with the row policies PostgreSQL would enforce compiled in.

SQLite has no DML in CTEs, so a write is `<DML> RETURNING <row identity>` (rowid, or the primary
key) and then one SELECT building the representation from that list of identities, in input
order (`json_each` keeps it), both inside one transaction. DELETE runs the other way round: the
representation (and the identities) first, then the DELETE by identity.

Row policies, PostgreSQL's rules: UPDATE and DELETE AND the command's USING (which includes
SELECT's) into their WHERE (`sql/write.py`, for both dialects' shape); WITH CHECK is evaluated for
every written row inside the DML, through `_bs_rls_violation` (which raises 42501 and so rolls the
whole write back): in RETURNING for inserts and updates (the row as written, defaults included),
plus SELECT's USING when the rows are returned. An upsert (`ON CONFLICT DO UPDATE`) checks the
proposed row against the INSERT check in its SELECT, and in the DO UPDATE's WHERE raises unless the
existing row passes UPDATE's USING (an error, as PostgreSQL, not a skip) and the merged row passes
UPDATE's check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident, quote_literal
from backstack.rest.sql.common import Ctx, Statement, column_ref
from backstack.rest.sql.read import ReadBuilder, RootSource
from backstack.rest.sql.write_plan import WriteOptions, WritePlan, conflict_target, on_conflict_sql, where_sql

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.schema.model import Column, Table
    from backstack.rest.plan.resolve import Node

_TRUE = "('t', 'true', 'y', 'yes', 'on', '1')"
_FALSE = "('f', 'false', 'n', 'no', 'off', '0')"


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
    return where_sql(conds)


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


def sqlite_insert(
    ctx: Ctx, builder: ReadBuilder, root: Node, columns: list[Column], options: WriteOptions
) -> WritePlan:
    table = root.table
    ref = ctx.table(table)
    identity = identity_of(table)
    target = conflict_target(table, options, sqlite=True)
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
    where, conflict = "1", on_conflict_sql(target, columns, options)
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


def sqlite_update(
    ctx: Ctx,
    builder: ReadBuilder,
    root: Node,
    columns: list[Column],
    options: WriteOptions,
    body: str,
    conds: list[str],
) -> WritePlan:
    """UPDATE the rows `conds` select from the body object (`body`, slot 1), returning identities."""
    table = root.table
    identity = identity_of(table)
    sets = ", ".join(f"{quote_ident(c.name)} = {sqlite_body_value(body, c, False)}" for c in columns)
    check = _written_check(builder.policies, table, "update", True)  # the data API reads what it updates
    returning = _returning(identity, table, check)
    ref = ctx.table(table)
    main = ctx.statement(f"UPDATE {ref} AS t0 SET {sets}{where_sql(conds)}{returning}") if columns else None
    return WritePlan(main, _represent(table, builder, root, options, identity), identity=identity)


def sqlite_delete(
    ctx: Ctx, builder: ReadBuilder, root: Node, conds: list[str], options: WriteOptions, *, need_rows: bool
) -> WritePlan:
    """DELETE the rows `conds` select; `need_rows`: read them first (representation, identities)."""
    identity = identity_of(root.table)
    if not need_rows:
        return WritePlan(
            ctx.statement(f"DELETE FROM {ctx.table(root.table)} AS t0{where_sql(conds)}"), counts_only=True
        )
    return _delete_read_first(ctx, builder, root, conds, options, identity)


def _delete_read_first(
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

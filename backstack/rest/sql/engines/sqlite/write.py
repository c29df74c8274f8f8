"""SQLite's writes, with the row policies PostgreSQL would enforce compiled in (`policies.py`).

SQLite has no DML in CTEs, so a write is `<DML> RETURNING <row identity>` (rowid, or the primary
key) and then one SELECT building the representation from that list of identities, in input
order (`json_each` keeps it), both inside one transaction (`run.py`). DELETE runs the other way
round: the representation (and the identities) first, then the DELETE by identity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident
from backstack.rest import errors
from backstack.rest.sql.common import column_ref
from backstack.rest.sql.engines.sqlite.policies import (
    conflict_where,
    default_sql,
    enforced,
    insert_precheck,
    new_row_check,
    over_columns,
    violation,
    written_check,
)
from backstack.rest.sql.engines.sqlite.run import SqliteWritePlan
from backstack.rest.sql.engines.sqlite.values import body_value
from backstack.rest.sql.read_port import RootSource
from backstack.rest.sql.statement import Statement
from backstack.rest.sql.write_plan import WriteOptions, conflict_target, on_conflict_sql, where_sql

if TYPE_CHECKING:
    from backstack.db.schema.model import Column, Table
    from backstack.rest.plan.resolve import Node
    from backstack.rest.sql.read_port import ReadPort
    from backstack.rest.sql.statement import Binding


class SqliteWriteSql:
    """The write parts of `EngineSql` on SQLite."""

    def insert(
        self, ctx: Binding, builder: ReadPort, root: Node, columns: list[Column], options: WriteOptions
    ) -> SqliteWritePlan:
        table = root.table
        ref = ctx.table(table)
        identity = identity_of(table)
        target = _conflict_target(table, options)
        policies = builder.policies
        merge = options.resolution == "merge-duplicates" and bool(target) and bool(columns)
        returned = options.media != "none" or options.location
        # an upsert checks INSERT's WITH CHECK on the proposed row (below), RETURNING only SELECT's USING
        check = written_check(policies, table, None if merge else "insert", returned or merge)
        if not columns:
            main = Statement(f"INSERT INTO {ref} DEFAULT VALUES{_returning(identity, table, check)}")
            return SqliteWritePlan(main, _represent(builder, root, options, identity), repeat=True, identity=identity)
        body = ctx.param(None)
        names = ", ".join(quote_ident(c.name) for c in columns)
        values = {c.name: body_value("_j.value", c, options.missing_default) for c in columns}
        where, conflict = "1", on_conflict_sql(target, columns, options)
        if merge and policies is not None:
            proposed = policies.check(table, "insert")
            if proposed is not None:
                where = enforced(over_columns(proposed, lambda c: values.get(c) or default_sql(table, c)), table)
            conflict += conflict_where(policies, table, columns)
        sql = (
            f"INSERT INTO {ref} ({names}) SELECT {', '.join(values.values())} FROM json_each({body}) AS _j "
            f"WHERE {where} ORDER BY _j.key{conflict}{_returning(identity, table, check)}"
        )
        main = ctx.statement(sql)
        new_row = None if merge else new_row_check(policies, table, "insert", returned)
        precheck = None if new_row is None else insert_precheck(ctx, table, columns, options, new_row)
        precount = _merged_count(ctx, table, target) if options.resolution == "merge-duplicates" and target else None
        represent = _represent(builder, root, options, identity)
        return SqliteWritePlan(main, represent, precount, identity=identity, precheck=precheck)

    def update(
        self,
        ctx: Binding,
        builder: ReadPort,
        root: Node,
        columns: list[Column],
        options: WriteOptions,
        body: str,
        conds: list[str],
    ) -> SqliteWritePlan:
        """UPDATE the rows `conds` select from the body object (`body`, slot 1), returning identities."""
        table = root.table
        identity = identity_of(table)
        sets = ", ".join(f"{quote_ident(c.name)} = {body_value(body, c, False)}" for c in columns)
        check = written_check(builder.policies, table, "update", True)  # the data API reads what it updates
        returning = _returning(identity, table, check)
        ref = ctx.table(table)
        main = ctx.statement(f"UPDATE {ref} AS t0 SET {sets}{where_sql(conds)}{returning}") if columns else None
        return SqliteWritePlan(main, _represent(builder, root, options, identity), identity=identity)

    def delete(
        self, ctx: Binding, builder: ReadPort, root: Node, conds: list[str], options: WriteOptions, *, need_rows: bool
    ) -> SqliteWritePlan:
        """DELETE the rows `conds` select; `need_rows`: read them first (representation, identities)."""
        identity = identity_of(root.table)
        if not need_rows:
            return SqliteWritePlan(
                ctx.statement(f"DELETE FROM {ctx.table(root.table)} AS t0{where_sql(conds)}"), counts_only=True
            )
        return _delete_read_first(ctx, builder, root, conds, options, identity)


def identity_of(table: Table) -> tuple[str, ...]:
    """How SQLite statements find written rows again: the primary key, else the rowid."""
    return table.primary_key


def _conflict_target(table: Table, options: WriteOptions) -> tuple[str, ...]:
    """`conflict_target`, which SQLite's ON CONFLICT takes only when a unique key has exactly its columns
    (42P10 here, as PostgreSQL answers it when the statement runs)."""
    target = conflict_target(table, options)
    if target and not any(set(key) == set(target) for key in table.unique):
        raise errors.no_conflict_constraint()
    return target


def _returning(identity: tuple[str, ...], table: Table, check: str | None = None) -> str:
    """RETURNING the row identity; with `check`, the first value raises 42501 for a row failing it."""
    names = [quote_ident(c) for c in identity] or ["rowid"]
    if check is not None:
        names[0] = f"CASE WHEN {check} THEN {names[0]} ELSE {violation(table, 'check')} END"
    return " RETURNING " + ", ".join(names)


def _merged_count(ctx: Binding, table: Table, target: tuple[str, ...]) -> Statement:
    """How many of the body's rows (slot 1) an upsert on `target` will merge into existing rows."""
    pctx = ctx.fresh()
    pbody = pctx.param(None)
    match = " AND ".join(f"{column_ref('_c', c)} = {body_value('_j.value', table.columns[c], False)}" for c in target)
    return pctx.statement(
        f"SELECT count(*) FROM json_each({pbody}) AS _j WHERE EXISTS (SELECT 1 FROM {ctx.table(table)} AS _c "
        f"WHERE {match})"
    )


def _identity_join(identity: tuple[str, ...], alias: str, ids: str) -> str:
    if not identity:
        return f"{alias}.rowid = {ids}.value"
    return " AND ".join(f"{column_ref(alias, c)} = {ids}.value ->> '$[{i}]'" for i, c in enumerate(identity))


def _represent(builder: ReadPort, root: Node, options: WriteOptions, identity: tuple[str, ...]) -> Statement | None:
    """The statement answering the written rows (slot 1: their identities, a JSON array), in input order."""
    if options.media == "none" and not options.location:
        return None
    rbuilder = builder.fresh()
    ctx = rbuilder.ctx
    ids = ctx.param(None)
    join = _identity_join(identity, root.alias, "_k")
    rbuilder.root_source = RootSource(
        f"json_each({ids}) AS _k JOIN {ctx.table(root.table)} AS {root.alias} ON {join}", " ORDER BY _k.key"
    )
    location = "NULL"
    extra = ""
    if options.location and root.table.primary_key:
        cols = ", ".join(f"CAST({column_ref(root.alias, c)} AS TEXT)" for c in root.table.primary_key)
        extra, location = f"json_array({cols}) AS loc", "min(_r.loc)"
    select, from_sql = rbuilder.body_select(root, options.media, extra)
    return ctx.statement(f"SELECT {select}, {location} {from_sql}")


def _delete_read_first(
    ctx: Binding, builder: ReadPort, root: Node, conds: list[str], options: WriteOptions, identity: tuple[str, ...]
) -> SqliteWritePlan:
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
    dctx = ctx.fresh()
    ids = dctx.param(None)
    if identity:
        picks = ", ".join(f"_k.value ->> '$[{i}]'" for i in range(len(identity)))
        keys = ", ".join(quote_ident(c) for c in identity)
        match = f"({keys}) IN (SELECT {picks} FROM json_each({ids}) AS _k)"
    else:
        match = f"rowid IN (SELECT _k.value ->> '$[0]' FROM json_each({ids}) AS _k)"
    main = dctx.statement(f"DELETE FROM {ref} WHERE {match}")
    return SqliteWritePlan(main, represent, delete_first=True, identity=identity)

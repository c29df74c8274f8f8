"""PostgreSQL's writes: one statement per write, `WITH _bs_changed AS (<DML> RETURNING t0.*)
SELECT body, page_count, changed_count, inserted_count, location, session check`, the
representation built from `_bs_changed` by the read builder (embeds included). `$1` is the request
body (a JSON array of objects), bound at run time. Row policies are the database's own (RLS).

The plan runs as a transaction of its own (`Engine.write_one`, fewer round trips) unless the
outcome may still roll it back (singular Accept, a strict `max-affected`, `tx=rollback`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from backstack.db.dialect import quote_ident, quote_literal
from backstack.rest.sql.common import column_ref
from backstack.rest.sql.read_port import RootSource
from backstack.rest.sql.write_plan import Outcome, WriteOptions, conflict_target, on_conflict_sql, where_sql

if TYPE_CHECKING:
    from collections.abc import Sequence

    from backstack.core.caller import Caller
    from backstack.db.engine import Engine
    from backstack.db.schema.model import Column, Table
    from backstack.rest.plan.resolve import Node
    from backstack.rest.sql.read_port import ReadPort
    from backstack.rest.sql.statement import Binding, Statement
    from backstack.rest.sql.write_plan import WriteSteps

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PostgresWritePlan:
    """`main` (slot 1 = body JSON for insert/update) -> one row (body, page_count, changed_count,
    inserted_count, location_json, session check)."""

    main: Statement

    def with_values(self, values: Sequence[Any]) -> PostgresWritePlan:
        """The plan for one request's filter values (`Statement.with_values`)."""
        return replace(self, main=self.main.with_values(values)) if values else self

    async def run(self, engine: Engine, caller: Caller, body: str | None, steps: WriteSteps[T]) -> T:
        params = self.main.bind(body) if body is not None else self.main.params
        if not steps.may_roll_back:
            return steps.answer(_outcome(await engine.write_one(self.main.sql, params, caller=caller, checked=True)))
        async with engine.transaction(caller) as conn:
            outcome = _outcome(await conn.fetch_one(self.main.sql, params))
            steps.check(outcome)
            return steps.answer(outcome)


def _outcome(row: tuple[Any, ...] | None) -> Outcome:
    """What the write statement answered: (body, page, changed, inserted, location), and in a
    transaction the session check (`Dialect.written_session_check`; `write_one` consumes it)."""
    assert row is not None
    body_text, _page, changed, inserted, location = row[:5]
    return Outcome(body_text, int(changed), None if inserted is None else int(inserted), location)


class PostgresWriteSql:
    """The write parts of `EngineSql` on PostgreSQL."""

    def insert(
        self, ctx: Binding, builder: ReadPort, root: Node, columns: list[Column], options: WriteOptions
    ) -> PostgresWritePlan:
        table = root.table
        ref = ctx.table(table)
        body = f"{ctx.param(None)}::json"
        names = ", ".join(quote_ident(c.name) for c in columns)
        values = ", ".join(_value(table, c, options.missing_default) for c in columns)
        source = (
            f"FROM json_array_elements({body}) WITH ORDINALITY AS _j(v, n) "
            f"CROSS JOIN LATERAL json_populate_record(NULL::{ref}, _j.v) AS _p ORDER BY _j.n"
        )
        target = conflict_target(table, options)
        merge = options.resolution == "merge-duplicates" and bool(target) and not table.is_view
        returning = "t0.*, (t0.xmax = 0) AS _bs_inserted" if merge else "t0.*"
        if not merge and options.media == "none" and not options.location:
            returning = "1"  # reads no column: an insert-only role needs no SELECT privilege or policy
        dml = (
            f"INSERT INTO {ref} AS t0 ({names}) SELECT {values} {source}"
            if columns
            else f"INSERT INTO {ref} AS t0 SELECT {source}"
        )
        dml += f"{on_conflict_sql(target, columns, options)} RETURNING {returning}"
        return _finish(ctx, builder, root, options, dml, merge)

    def update(
        self,
        ctx: Binding,
        builder: ReadPort,
        root: Node,
        columns: list[Column],
        options: WriteOptions,
        body: str,
        conds: list[str],
    ) -> PostgresWritePlan:
        """UPDATE the rows `conds` select with the body object (`body`, slot 1); no column: select them only."""
        ref = ctx.table(root.table)
        if columns:
            sets = ", ".join(f"{quote_ident(c.name)} = _p.{quote_ident(c.name)}" for c in columns)
            dml = (
                f"UPDATE {ref} AS t0 SET {sets} FROM json_populate_record(NULL::{ref}, {body}::json) AS _p"
                f"{where_sql(conds)} RETURNING t0.*"
            )
        else:
            dml = f"SELECT t0.* FROM {ref} AS t0{where_sql(['FALSE', f'{body}::json IS NULL', *conds])}"
        return _finish(ctx, builder, root, options, dml, inserted=False)

    def delete(
        self, ctx: Binding, builder: ReadPort, root: Node, conds: list[str], options: WriteOptions, *, need_rows: bool
    ) -> PostgresWritePlan:
        """DELETE the rows `conds` select, answering them (one statement either way: `need_rows` is moot)."""
        dml = f"DELETE FROM {ctx.table(root.table)} AS t0{where_sql(conds)} RETURNING t0.*"
        return _finish(ctx, builder, root, options, dml, inserted=False)


def _value(table: Table, column: Column, missing_default: bool) -> str:
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


def _finish(
    ctx: Binding, builder: ReadPort, root: Node, options: WriteOptions, dml: str, inserted: bool
) -> PostgresWritePlan:
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
    return PostgresWritePlan(ctx.statement(sql.rstrip()))

"""Row policies in SQLite's writes, PostgreSQL's rules (PostgreSQL enforces RLS itself).

UPDATE and DELETE AND the command's USING (which includes SELECT's) into their WHERE
(`sql/write.py`, for both engines' shape); WITH CHECK is evaluated for every written row inside the
DML, through `_bs_rls_violation` (which raises 42501 and so rolls the whole write back): in
RETURNING for inserts and updates (the row as written, defaults included), plus SELECT's USING when
the rows are returned. An upsert (`ON CONFLICT DO UPDATE`) checks the proposed row against the INSERT
check in its SELECT, and in the DO UPDATE's WHERE raises unless the existing row passes UPDATE's USING
(an error, as PostgreSQL, not a skip) and the merged row passes UPDATE's check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident, quote_literal
from backstack.rest.sql.engines.sqlite.values import body_value
from backstack.rest.sql.write_plan import where_sql

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.schema.model import Column, Table
    from backstack.rest.sql.statement import Binding, Statement
    from backstack.rest.sql.write_plan import WriteOptions

_ROW_COLUMN = re.compile(r'\{row\}\."((?:[^"]|"")*)"')


def violation(table: Table, kind: str) -> str:
    return f"_bs_rls_violation({quote_literal(table.name)}, NULL, {quote_literal(kind)})"


def enforced(condition: str, table: Table, kind: str = "check") -> str:
    """`condition`, or 42501 for the row (NULL fails too, as a WITH CHECK does)."""
    return f"CASE WHEN {condition} THEN 1 ELSE {violation(table, kind)} END"


def over_columns(predicate: str, value: Callable[[str], str]) -> str:
    """`predicate` with each `{row}."c"` replaced by `value(c)`: a row that exists only as expressions."""
    return _ROW_COLUMN.sub(lambda m: value(m[1].replace('""', '"')), predicate)


def new_row_check(policies: RowPolicies | None, table: Table, command: str | None, returned: bool) -> str | None:
    """What each written row must pass, over `{row}`: `command`'s WITH CHECK, and SELECT's USING when
    the rows are returned (PostgreSQL's RETURNING)."""
    if policies is None:
        return None
    parts = [policies.check(table, command) if command else None, policies.using(table, "select") if returned else None]
    present = [p for p in parts if p is not None]
    return " AND ".join(present) if present else None


def written_check(policies: RowPolicies | None, table: Table, command: str | None, returned: bool) -> str | None:
    """`new_row_check` over the row as RETURNING names it (the table's name)."""
    check = new_row_check(policies, table, command, returned)
    return None if check is None else check.replace("{row}", quote_ident(table.name))


def insert_precheck(ctx: Binding, table: Table, columns: list[Column], options: WriteOptions, check: str) -> Statement:
    """The body's rows (defaults as the INSERT would compute them) against `check`, raising on the first
    that fails: run only after a constraint error, to answer what PostgreSQL would have answered."""
    pctx = ctx.fresh()
    body = pctx.param(None)
    values = {c.name: body_value("_j.value", c, options.missing_default) for c in columns}
    proposed = over_columns(check, lambda c: values.get(c) or default_sql(table, c))
    return pctx.statement(f"SELECT {enforced(proposed, table)} FROM json_each({body}) AS _j")


def default_sql(table: Table, name: str) -> str:
    column = table.columns[name]
    return f"({column.default})" if column.default is not None and not column.generated else "NULL"


def conflict_where(policies: RowPolicies, table: Table, columns: list[Column]) -> str:
    """DO UPDATE ... WHERE: the existing row passes UPDATE's USING (else 42501, never a skip) and the
    merged row (`excluded` for the written columns, the existing row for the rest) UPDATE's check."""
    row = quote_ident(table.name)
    conds: list[str] = []
    existing = policies.using(table, "update")
    if existing is not None:
        conds.append(enforced(existing.replace("{row}", row), table, "using"))
    merged = policies.check(table, "update")
    if merged is not None:
        written = {c.name for c in columns}
        conds.append(
            enforced(
                over_columns(
                    merged, lambda c: f"excluded.{quote_ident(c)}" if c in written else f"{row}.{quote_ident(c)}"
                ),
                table,
            )
        )
    return where_sql(conds)

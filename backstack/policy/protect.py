"""`protect(sql)`: a SQLite statement the policy service did not build, run under a role's policies.

For SQL written elsewhere (SQL function bodies, `@rpc` functions' queries). Every table the
statement reads becomes `(SELECT * FROM t AS _bs_row WHERE <its SELECT predicate>) AS t`, so
joins, CTEs, unions and subqueries all see only the visible rows. DML on a table:

- UPDATE / DELETE: the command's USING (which includes SELECT's) is ANDed into the WHERE, so
  hidden rows are silently skipped, as on PostgreSQL;
- INSERT / UPDATE: WITH CHECK is evaluated on every written row through RETURNING, raising 42501
  through `_bs_rls_violation`: the first RETURNING value is wrapped (`RETURNING *` is expanded to
  the table's columns), or, when the statement has none, `RETURNING NULL AS _bs_rls_check` is
  added (one row of NULL per written row; SQLite makes every change, and runs the check, in the
  statement's first step);
- `INSERT ... ON CONFLICT DO UPDATE` on an RLS table is refused (0A000): use the data API's upsert.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

import sqlglot
from sqlglot import exp

from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.errors import database_error
from backstack.policy.compile import protected_table

if TYPE_CHECKING:
    from backstack.db.schema import Schema, Table


class _Policies(Protocol):
    schema: Schema

    def using(self, table: Table, command: str) -> str | None: ...
    def check(self, table: Table, command: str) -> str | None: ...
    def read_through(self, table: Table) -> str | None: ...
    def relation(self, table: Table) -> str | None: ...


def protect_sql(sql: str, policies: _Policies) -> str:
    """`sql` (one SQLite statement) with the role's policies applied; see the module docstring."""
    try:
        statements = [s for s in sqlglot.parse(_NUMBERED.sub(_name_numbered, sql), read="sqlite") if s is not None]
    except sqlglot.errors.SqlglotError as error:
        raise _refused(f"cannot parse the statement: {error}") from None
    if len(statements) != 1:
        raise _refused("protect() takes exactly one statement")
    tree: exp.Expression = statements[0]  # type: ignore[assignment]
    target = _target(tree)
    ctes = frozenset(cte.alias_or_name for cte in tree.find_all(exp.CTE))
    changed = False
    for node in list(tree.find_all(exp.Table)):
        if node is target or not isinstance(node.this, exp.Identifier) or (node.name in ctes and not node.db):
            continue
        table = policies.schema.get(node.name)
        if table is None:
            continue  # not an API table (SQLite itself reports unknown ones)
        predicate = policies.read_through(table)
        relation = policies.relation(table)  # a security-invoker or security-barrier view
        if relation is not None:
            node.replace(exp.Var(this=f"{relation} AS {quote_ident(node.alias_or_name)}"))
            changed = True
        elif predicate is not None:
            node.replace(exp.Var(this=protected_table(table.name, node.alias_or_name, predicate)))
            changed = True
    if target is not None:
        changed = _protect_write(tree, target, policies) or changed
    if not changed:
        return sql  # untouched SQL runs as written
    return re.sub(r":_bs_q(\d+)\b", r"?\1", tree.sql(dialect="sqlite"))


# `?NNN` parameters, which sqlglot does not parse: named `:_bs_qNNN` while protecting (not inside quotes)
_NUMBERED = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?(\d+)""")


def _name_numbered(match: re.Match[str]) -> str:
    return match[0] if match[1] is None else f":_bs_q{match[1]}"


def _target(tree: exp.Expression) -> exp.Table | None:
    if isinstance(tree, exp.Insert):
        this = tree.this
        table = this.this if isinstance(this, exp.Schema) else this
        return table if isinstance(table, exp.Table) else None
    if isinstance(tree, exp.Update | exp.Delete) and isinstance(tree.this, exp.Table):
        return tree.this
    return None


def _protect_write(tree: exp.Expression, target: exp.Table, policies: _Policies) -> bool:
    """Apply the target table's USING / WITH CHECK; whether the statement changed."""
    table = policies.schema.get(target.name)
    if table is None:
        return False
    if isinstance(tree, exp.Insert):
        conflict = tree.args.get("conflict")
        if conflict is not None and table.rls_enabled and "DO UPDATE" in conflict.sql(dialect="sqlite").upper():
            raise _refused(f'INSERT ... ON CONFLICT DO UPDATE on "{table.name}" (row-level security on)')
        return _check_returning(tree, table, policies.check(table, "insert"))
    command = "update" if isinstance(tree, exp.Update) else "delete"
    using = policies.using(table, command)
    if using is not None:
        alias = target.alias_or_name
        condition = exp.Var(this=using.replace("{row}", quote_ident(alias)))
        where = tree.args.get("where")
        both = condition if where is None else exp.and_(exp.Paren(this=where.this), condition)
        tree.set("where", exp.Where(this=both))
    checked = command == "update" and _check_returning(tree, table, policies.check(table, "update"))
    return using is not None or checked


def _check_returning(tree: exp.Expression, table: Table, check: str | None) -> bool:
    """Evaluate `check` on every written row in RETURNING (see the module docstring)."""
    if check is None:
        return False
    violation = f"_bs_rls_violation({quote_literal(table.name)}, NULL, 'check')"
    condition = check.replace("{row}", quote_ident(table.name))
    returning = tree.args.get("returning")
    if returning is None:
        tree.set("returning", exp.Returning(expressions=[
            exp.Var(this=f"CASE WHEN {condition} THEN NULL ELSE {violation} END AS _bs_rls_check")
        ]))
        return True
    items = list(returning.expressions)
    if len(items) == 1 and isinstance(items[0], exp.Star):
        items = [exp.column(name, quoted=True) for name in table.columns]
    first = items[0]
    name = first.alias_or_name or "_bs_rls_check"
    value = first.this if isinstance(first, exp.Alias) else first
    wrapped = f"CASE WHEN {condition} THEN {value.sql(dialect='sqlite')} ELSE {violation} END AS {quote_ident(name)}"
    returning.set("expressions", [exp.Var(this=wrapped), *items[1:]])
    return True


def _refused(reason: str) -> Exception:
    return database_error("0A000", "statement cannot run under row-level security on SQLite", reason)

"""`protect(sql)`: a SQLite statement the policy service did not build, run under a role's policies.

For SQL written elsewhere (SQL function bodies, `@rpc` functions' queries). Every table the
statement reads becomes `(SELECT * FROM t AS _bs_row WHERE <its SELECT predicate>) AS t`, so
joins, CTEs, unions and subqueries all see only the visible rows.

Names resolve as SQLite resolves them (case-insensitively, quoted or not, `main.`/`temp.`
prefixes, CTEs only within their WITH): a name that is not an API table is an error (42501 for
internal tables such as `_auth_users` or `sqlite_schema`, 42P01 otherwise), never unprotected.

The policy runs before the statement's own expressions, as PostgreSQL's security barrier: SQLite
flattens such subqueries and orders WHERE terms as it likes, so when the statement holds anything
but comparisons of columns with values (a function, LIKE, a cast... over a column), each protected
table becomes an optimisation barrier (`LIMIT -1 OFFSET 0`: never flattened, nothing pushed into
it) and no expression of the statement sees a hidden row. Comparisons keep the flat form, where
indexes serve them.

DML on a table:

- UPDATE / DELETE: the command's USING (which includes SELECT's) is ANDed into the WHERE, so
  hidden rows are silently skipped, as on PostgreSQL (a leaky WHERE runs behind it:
  `USING AND CASE WHEN USING THEN (<where>) END`);
- INSERT / UPDATE: WITH CHECK is evaluated on every written row through RETURNING, raising 42501
  through `_bs_rls_violation`: the first RETURNING value is wrapped (`RETURNING *` is expanded to
  the table's columns), or, when the statement has none, `RETURNING NULL AS _bs_rls_check` is
  added (one row of NULL per written row; SQLite makes every change, and runs the check, in the
  statement's first step);
- `INSERT ... ON CONFLICT DO UPDATE` and `INSERT OR REPLACE` on an RLS table are refused (0A000):
  use the data API's upsert. So are statements other than SELECT/INSERT/UPDATE/DELETE (PRAGMA,
  ATTACH, `REPLACE INTO`...), table-valued functions other than `json_each`/`json_tree` (an FTS5
  table or `dbstat` reads rows around the policies) and `x IN table`.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Protocol

import sqlglot
from sqlglot import exp

from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.errors import database_error
from backstack.policy import errors
from backstack.policy.compile import protected_table

if TYPE_CHECKING:
    from backstack.db.schema.model import Schema, Table


class _Policies(Protocol):
    schema: Schema
    role: str

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
    _check_shape(tree)
    target = _target(tree)
    barrier = not _leakproof(tree)
    changed = False
    for node in list(tree.find_all(exp.Table)):
        if node is target or not isinstance(node.this, exp.Identifier) or names_cte(node):
            continue
        table = _resolve(node, policies)
        predicate = policies.read_through(table)
        relation = policies.relation(table)  # a security-invoker or security-barrier view
        if relation is not None:
            node.replace(exp.Var(this=f"{relation} AS {quote_ident(node.alias_or_name)}"))
            changed = True
        elif predicate is not None:
            node.replace(exp.Var(this=protected_table(table.name, node.alias_or_name, predicate, barrier=barrier)))
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


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _fold(name: str) -> str:
    """SQLite compares identifiers case-insensitively, in ASCII only, quoted or not."""
    return name.translate(_ASCII_LOWER)


def names_cte(node: exp.Table) -> bool:
    """Whether `node` is a CTE of an enclosing WITH (which shadows a table of that name)."""
    if node.db:
        return False
    name = _fold(node.name)
    scope = node.parent
    while scope is not None:
        with_ = scope.args.get("with_") or scope.args.get("with")
        if isinstance(with_, exp.With) and any(_fold(cte.alias_or_name) == name for cte in with_.expressions):
            return True
        scope = scope.parent
    return False


def _resolve(node: exp.Table, policies: _Policies) -> Table:
    """The API table `node` names, as SQLite resolves it; an error for anything else."""
    schema = policies.schema
    if not node.catalog and _fold(node.db) in ("", "main", "temp"):
        folded = _fold(node.name)
        table = schema.get(node.name) or next((t for name, t in schema.tables.items() if _fold(name) == folded), None)
        if table is not None:
            return table
    name = ".".join(part for part in (node.catalog, node.db, node.name) if part)
    if _fold(node.name).startswith(("_", "sqlite_")) or node.db:
        raise errors.permission_denied(name, policies.role)
    raise errors.undefined_table(name)


# What may run on a row before its policy: comparisons and boolean logic over columns and values
# (PostgreSQL's LEAKPROOF operators), and anything that reads no column (constant per statement).
_LEAKPROOF_NODES = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Placeholder,
    exp.Parameter,
    exp.Null,
    exp.Boolean,
    exp.Star,
    exp.Paren,
    exp.Alias,
    exp.TableAlias,
    exp.Table,
    exp.Tuple,
    exp.Var,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Select,
    exp.From,
    exp.Join,
    exp.Where,
    exp.Group,
    exp.Having,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Offset,
    exp.Subquery,
    exp.With,
    exp.CTE,
    exp.Union,
    exp.Intersect,
    exp.Except,
    exp.Distinct,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Values,
    exp.Schema,
    exp.Returning,
    exp.OnConflict,
)


def _leakproof(tree: exp.Expression) -> bool:
    """Whether every expression of `tree` may see rows a policy hides (see the module docstring)."""
    return all(isinstance(node, _LEAKPROOF_NODES) or node.find(exp.Column) is None for node in tree.walk())


_STATEMENTS = (exp.Select, exp.SetOperation, exp.Insert, exp.Update, exp.Delete)
_TABLE_FUNCTIONS = frozenset({"json_each", "json_tree"})  # read only their arguments


def _check_shape(tree: exp.Expression) -> None:
    """Refuse what would read rows around the policies: other statements (PRAGMA, ATTACH, REPLACE
    INTO...), table-valued functions over tables (an FTS5 table, dbstat), `x IN table`."""
    if not isinstance(tree, _STATEMENTS):
        raise _refused(f"only SELECT, INSERT, UPDATE and DELETE run under row-level security, not: {tree.key}")
    for node in tree.find_all(exp.Table):
        function = node.this
        if isinstance(function, exp.Anonymous) and _fold(function.name) not in _TABLE_FUNCTIONS:
            raise _refused(f"the table-valued function {function.name}() reads rows around the policies")
        if not isinstance(function, exp.Identifier | exp.Anonymous):
            raise _refused(f"a table source that is not a name: {node.sql(dialect='sqlite')}")
    for test in tree.find_all(exp.In):
        if test.args.get("field") is not None:
            raise _refused("`x IN table` reads the table around its policies: write `x IN (SELECT ... FROM table)`")


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
    table = _resolve(target, policies)
    if isinstance(tree, exp.Insert):
        conflict = tree.args.get("conflict")
        if conflict is not None and table.rls_enabled and "DO UPDATE" in conflict.sql(dialect="sqlite").upper():
            raise _refused(f'INSERT ... ON CONFLICT DO UPDATE on "{table.name}" (row-level security on)')
        if table.rls_enabled and _fold(str(tree.args.get("alternative") or "")) == "replace":
            raise _refused(f'INSERT OR REPLACE on "{table.name}" deletes rows around its policies')
        return _check_returning(tree, table, policies.check(table, "insert"))
    command = "update" if isinstance(tree, exp.Update) else "delete"
    using = policies.using(table, command)
    if using is not None:
        alias = target.alias_or_name
        condition = using.replace("{row}", quote_ident(alias))
        where = tree.args.get("where")
        if where is None:
            guarded = condition
        elif _leakproof(where):
            guarded = f"({where.this.sql(dialect='sqlite')}) AND {condition}"
        else:
            guarded = f"{condition} AND CASE WHEN {condition} THEN ({where.this.sql(dialect='sqlite')}) ELSE 0 END"
        tree.set("where", exp.Where(this=exp.Var(this=guarded)))
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
        tree.set(
            "returning",
            exp.Returning(
                expressions=[exp.Var(this=f"CASE WHEN {condition} THEN NULL ELSE {violation} END AS _bs_rls_check")]
            ),
        )
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

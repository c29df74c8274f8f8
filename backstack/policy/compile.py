"""One PostgreSQL policy expression -> a SQLite predicate over one row of its table, written `{row}`.

The expression is parsed with sqlglot (PostgreSQL dialect), PostgreSQL-only forms are rewritten to
SQLite ones (`db.translate.expressions` does `auth.uid()` -> `auth_uid()`, casts, booleans; this module
adds `auth.email()`, `= ANY(...)`), and names are resolved with PostgreSQL's scoping:

- an unqualified column resolves to the innermost (sub)query whose tables have it, else to the
  policy's own table, whose columns become `{row}."col"`; `todos.col` in a policy on `todos` too;
- every table a subquery reads gets a private alias (`_bs_a1`...) so no name of the statement the
  predicate is spliced into can capture it, and goes through `protect`: that table's own SELECT
  predicate for the same role, as PostgreSQL expands the policies of tables read by a policy.

Calls that read the caller (`auth_uid()`, `current_setting(...)`) are wrapped as scalar subqueries,
which SQLite evaluates once per statement instead of once per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from backstack.db.dialect import quote_ident
from backstack.db.translate.expressions import Refused, rewrite_expressions
from backstack.policy import errors

if TYPE_CHECKING:
    from backstack.db.schema.model import Schema, Table

ROW = "__bs_row__"  # the policy's own row while compiling; becomes `{row}` in the result
INNER_ROW = "_bs_row"  # the row alias inside a protected subquery `(SELECT * FROM t AS _bs_row WHERE ...)`
CALLER_FUNCTIONS = frozenset({"auth_uid", "auth_role", "auth_jwt", "auth_email", "current_setting", "realtime_topic"})

# A table read inside a policy -> its SELECT predicate over `{row}` (None: unrestricted). Raises
# 42501 without the SELECT privilege and 42P17 on a policy cycle.
Protect = Callable[["Table"], "str | None"]
# A view read inside a policy -> the derived table read in its place (None: the view itself).
Relation = Callable[["Table"], "str | None"]


class Unsupported(Exception):
    """The expression uses something SQLite cannot evaluate; the message says what."""


def compile_expression(
    text: str, table: Table, schema: Schema, protect: Protect, role: str, relation: Relation | None = None
) -> str:
    """`text` (a USING / WITH CHECK expression) as a parenthesised SQLite predicate over `{row}`;
    `relation` gives what a view the expression reads is read as (a security-invoker view's body)."""
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except sqlglot.errors.SqlglotError as error:
        raise Unsupported(f"cannot parse expression: {error}") from None
    tree = tree.transform(_pg_forms)
    try:
        tree = rewrite_expressions(tree)
    except Refused as error:
        raise Unsupported(str(error)) from None
    resolver = _Resolver(schema, role, _cte_names(tree))
    resolver.walk(tree, [{table.name: (table, ROW)}])
    for node, read in resolver.tables:
        predicate = protect(read)
        replaced = relation(read) if relation is not None else None
        if replaced is not None:
            node.replace(exp.Var(this=f"{replaced} AS {quote_ident(node.alias)}"))
        elif predicate is not None:
            alias = node.alias
            node.replace(exp.Var(this=protected_table(read.name, alias, predicate)))
    tree = tree.transform(_once_per_statement)
    sql = tree.sql(dialect="sqlite", identify=True)
    return "(" + sql.replace(f'"{ROW}".', "{row}.") + ")"


def protected_table(name: str, alias: str, predicate: str, *, barrier: bool = False) -> str:
    """The derived table standing for table `name` (alias `alias`) seen through `predicate`.

    `barrier`: SQLite never flattens it nor pushes outer terms into it (OFFSET), so the outer
    statement's expressions only see rows `predicate` passed."""
    where = predicate.replace("{row}", INNER_ROW)
    tail = " LIMIT -1 OFFSET 0" if barrier else ""
    return f"(SELECT * FROM {quote_ident(name)} AS {INNER_ROW} WHERE {where}{tail}) AS {quote_ident(alias)}"  # noqa: S608 (quoted identifiers, compiled policy SQL)


def has_subquery(text: str) -> bool:
    """Whether a policy expression reads other rows (PostgreSQL checks policy recursion only then)."""
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except sqlglot.errors.SqlglotError:
        return False
    return tree.find(exp.Select) is not None


# ---------------------------------------------------------------- PostgreSQL-only forms


def _pg_forms(node: exp.Expression) -> exp.Expression:
    """`auth.email()` -> `auth_email()`; `LIKE` / `ILIKE` -> `like_cs` / `ilike`; `x = ANY(ARRAY[...])`
    -> `x IN (...)`; `x = ANY(arr)` -> `x IN (SELECT value FROM json_each(arr))` (arrays are JSON text)."""
    if (
        isinstance(node, exp.Dot)
        and node.this.name.lower() == "auth"
        and isinstance(node.expression, exp.Anonymous)
        and node.expression.name.lower() == "email"
        and not node.expression.expressions
    ):
        return exp.Anonymous(this="auth_email", expressions=[])
    if isinstance(node, exp.Like | exp.ILike) and not node.args.get("escape"):
        # PostgreSQL's LIKE is case-sensitive, SQLite's is not: db.sqlite.functions' like_cs / ilike
        name = "like_cs" if isinstance(node, exp.Like) else "ilike"
        return exp.Anonymous(this=name, expressions=[node.expression, node.this])
    if isinstance(node, exp.EQ) and isinstance(node.expression, exp.Any):
        inner = node.expression.this
        inner = inner.this if isinstance(inner, exp.Paren) else inner
        if isinstance(inner, exp.Array):
            return exp.In(this=node.this, expressions=list(inner.expressions))
        each = sqlglot.parse_one("SELECT value FROM json_each(NULL)", read="sqlite")
        call = each.find(exp.Anonymous)
        assert call is not None
        call.set("expressions", [inner])
        return exp.In(this=node.this, query=exp.Subquery(this=each))
    return node


def _once_per_statement(node: exp.Expression) -> exp.Expression:
    """`auth_uid()` -> `(SELECT auth_uid())`: a constant scalar subquery runs once per statement."""
    if (
        isinstance(node, exp.Anonymous)
        and node.name.lower() in CALLER_FUNCTIONS
        and all(isinstance(a, exp.Literal | exp.Boolean) for a in node.expressions)
        and not isinstance(node.parent, exp.Select)
    ):
        return exp.Subquery(this=exp.Select(expressions=[node.copy()]))
    return node


def _cte_names(tree: exp.Expression) -> frozenset[str]:
    return frozenset(cte.alias_or_name for cte in tree.find_all(exp.CTE))


# ---------------------------------------------------------------- name resolution

# alias as written -> (the schema table, or None when its columns are unknown: CTE, derived table,
# table function; the alias the SQL uses)
Scope = dict[str, tuple["Table | None", str]]


@dataclass
class _Resolver:
    """Qualifies every column with the alias of the scope it belongs to, PostgreSQL's way."""

    schema: Schema
    role: str
    ctes: frozenset[str]
    tables: list[tuple[exp.Table, Table]] = field(default_factory=list)
    count: int = 0

    def walk(self, node: exp.Expression, scopes: list[Scope]) -> None:
        if isinstance(node, exp.Select):
            self._select(node, scopes)
        elif isinstance(node, exp.Column):
            self._column(node, scopes)
        else:
            for child in node.iter_expressions():
                self.walk(child, scopes)

    def _select(self, node: exp.Select, scopes: list[Scope]) -> None:
        scope: Scope = {}
        inner = [*scopes, scope]
        from_ = node.args.get("from_") or node.args.get("from")
        sources = [from_.this] if from_ is not None else []
        joins = node.args.get("joins") or []
        sources += [join.this for join in joins]
        for source in sources:
            self._source(source, scopes, inner, scope)
        for key, value in node.args.items():
            if key in ("from_", "from"):
                continue
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, exp.Join):
                    for part in child.iter_expressions():
                        if part is not child.this:
                            self.walk(part, inner)
                elif isinstance(child, exp.Expression):
                    self.walk(child, inner)

    def _source(self, source: exp.Expression, outer: list[Scope], inner: list[Scope], scope: Scope) -> None:
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
            name, alias = source.name, source.alias_or_name
            if name in self.ctes and not source.db:
                scope[alias] = (None, alias)
                return
            table = self._table(name, source.db)
            self.count += 1
            sql_alias = f"_bs_a{self.count}"
            source.set("alias", exp.TableAlias(this=exp.to_identifier(sql_alias)))
            source.set("db", None)
            scope[alias] = (table, sql_alias)
            self.tables.append((source, table))
            return
        # a derived table cannot see its siblings (no LATERAL); a table function's arguments can
        self.walk(source, outer if isinstance(source, exp.Subquery) else inner)
        scope[source.alias_or_name] = (None, source.alias_or_name)

    def _table(self, name: str, db: str) -> Table:
        if db.lower() == "auth":  # backstack's auth tables: not granted to API roles (as on Supabase)
            raise errors.permission_denied(name, self.role)
        table = self.schema.get(name) if db.lower() in ("", "public") else None
        if table is None:
            raise errors.undefined_table(f"{db}.{name}" if db else name)
        return table

    def _column(self, node: exp.Column, scopes: list[Scope]) -> None:
        qualifier = node.table
        if qualifier:
            for scope in reversed(scopes):
                if qualifier in scope:
                    self._qualify(node, scope[qualifier][1])
                    return
            raise errors.undefined_table(qualifier)
        name = node.name
        for scope in reversed(scopes):
            hits = [entry for entry in scope.values() if entry[0] is None or name in entry[0].columns]
            if hits:
                if len(hits) == 1 and hits[0][0] is not None:
                    self._qualify(node, hits[0][1])
                return
        raise errors.undefined_column(name)

    @staticmethod
    def _qualify(node: exp.Column, alias: str) -> None:
        node.set("table", exp.to_identifier(alias))
        node.set("db", None)
        node.set("catalog", None)

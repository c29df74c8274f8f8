"""CREATE TABLE rewrites for db.translate.ddl: identity keys as rowid aliases, PostgreSQL type names kept,
defaults as SQLite built-ins, primary key columns NOT NULL (as PostgreSQL makes them)."""

from __future__ import annotations

from sqlglot import exp

from backstack.db.pgtypes.names import canonical_type, type_kind
from backstack.db.translate.expressions import (
    Refused,
    array_json,
    pg_type_of,
    plain_order,
    range_literal,
    rewrite_expressions,
)

_SERIALS = {exp.DataType.Type.SERIAL, exp.DataType.Type.BIGSERIAL, exp.DataType.Type.SMALLSERIAL}


def create_table(tree: exp.Create) -> exp.Expression:
    schema = tree.this
    if not isinstance(schema, exp.Schema) or tree.expression is not None:
        raise Refused("CREATE TABLE needs a column list (AS SELECT / LIKE are not supported)")
    table_pk = next((e for e in schema.expressions if _table_pk(e) is not None), None)
    pk_node = _table_pk(table_pk)
    pk_columns = {_name(e) for e in pk_node.expressions} if pk_node is not None else set()
    for column in schema.expressions:
        if isinstance(column, exp.ColumnDef):
            inline_pk = has_constraint(column, exp.PrimaryKeyColumnConstraint)
            in_pk = inline_pk or column.name in pk_columns
            if is_identity(column):
                if not (inline_pk or pk_columns == {column.name}):
                    raise Refused(f"identity/serial column {column.name!r} must be the only primary key column")
                _rowid_alias(column)
                if table_pk is not None:
                    schema.expressions.remove(table_pk)
                    table_pk = None
            else:
                rewrite_column(column, not_null=in_pk)
        else:
            _constraint(column)
    return tree


def _table_pk(node: exp.Expression | None) -> exp.PrimaryKey | None:
    """A table-level PRIMARY KEY, bare or named (`constraint t_pk primary key (a, b)`)."""
    if isinstance(node, exp.PrimaryKey):
        return node
    if isinstance(node, exp.Constraint):
        return next((e for e in node.expressions if isinstance(e, exp.PrimaryKey)), None)
    return None


def _name(node: exp.Expression) -> str:
    return node.name if not isinstance(node, exp.Ordered) else node.this.name


def constraints_of(column: exp.ColumnDef) -> list[exp.ColumnConstraint]:
    return list(column.args.get("constraints") or [])


def has_constraint(column: exp.ColumnDef, kind: type[exp.Expression]) -> bool:
    return any(isinstance(c.args.get("kind"), kind) for c in constraints_of(column))


def is_identity(column: exp.ColumnDef) -> bool:
    kind = column.args.get("kind")
    serial = isinstance(kind, exp.DataType) and kind.this in _SERIALS
    return serial or has_constraint(column, exp.GeneratedAsIdentityColumnConstraint)


def _rowid_alias(column: exp.ColumnDef) -> None:
    """`bigint generated ... as identity primary key` / `bigserial` -> `integer primary key autoincrement`."""
    column.set("kind", exp.DataType(this=exp.DataType.Type.USERDEFINED, kind="integer"))
    keep = [
        c
        for c in constraints_of(column)
        if isinstance(c.args.get("kind"), (exp.NotNullColumnConstraint, exp.Reference))
    ]
    column.set(
        "constraints",
        [
            exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint()),
            exp.ColumnConstraint(kind=exp.AutoIncrementColumnConstraint()),
            *keep,
        ],
    )


def rewrite_column(column: exp.ColumnDef, *, not_null: bool = False) -> None:
    """Keep the PostgreSQL type name; rewrite the default and expressions in constraints."""
    kind = column.args.get("kind")
    pg_type = pg_type_of(kind) if isinstance(kind, exp.DataType) else "text"
    if isinstance(kind, exp.DataType):
        column.set("kind", exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=pg_type))
    constraints = constraints_of(column)
    for constraint in constraints:
        inner = constraint.args.get("kind")
        if isinstance(inner, exp.DefaultColumnConstraint):
            inner.set("this", rewrite_default(inner.this, pg_type))
        elif isinstance(inner, exp.GeneratedAsIdentityColumnConstraint):
            raise Refused("identity column outside a primary key")
        elif isinstance(inner, exp.Expression):
            constraint.set("kind", rewrite_expressions(inner))
    if not_null and not has_constraint(column, exp.NotNullColumnConstraint):
        constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        column.set("constraints", constraints)


def _constraint(node: exp.Expression) -> None:
    for child in list(node.find_all(exp.Ordered)):
        child.replace(plain_order(child))
    rewrite_expressions(node)


def rewrite_default(value: exp.Expression, pg_type: str) -> exp.Expression:
    kind = type_kind(canonical_type(pg_type))
    if kind == "array" and isinstance(value, exp.Literal) and value.is_string:
        return exp.Literal.string(array_json(value.this, pg_type))
    if kind == "range" and isinstance(value, exp.Literal) and value.is_string:
        return range_literal(value.this, pg_type)
    rewritten = rewrite_expressions(value, column_type=pg_type)
    if isinstance(rewritten, (exp.Literal, exp.Null, exp.Boolean)):
        return rewritten
    if isinstance(rewritten, exp.Neg) and isinstance(rewritten.this, exp.Literal):
        return rewritten
    return exp.Paren(this=rewritten)

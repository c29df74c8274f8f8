"""A statement and its parameters: `Statement` (SQL text and parameters, some `Deferred` to run
time), and `Binding`, which binds them as one statement is built, spelt as its engine spells them.

The lowest of rest/sql's layers: the engines type against `Binding` and `Spelling` (the part of
`EngineSql` a statement's parameters and column expressions need); `context.Ctx` is a `Binding`
that also carries the whole compiler of the engine chosen, which the builders ask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from backstack.rest.request.query import Placeholder

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Table
    from backstack.rest.plan.resolve import Col, OutField


@dataclass(frozen=True, slots=True)
class Deferred:
    """A parameter made from the request's `index`-th filter value at run time (`Statement.with_values`)."""

    index: int
    convert: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL text and its parameters; `params[0]` may be a slot filled at run time (`bind`), and a
    statement compiled from a request's shape holds `Deferred` parameters (`with_values`)."""

    sql: str
    params: tuple[Any, ...] = ()

    def bind(self, first: Any) -> tuple[Any, ...]:
        """The parameters with the run-time value (request body, list of row ids) in slot 1."""
        return (first, *self.params[1:])

    def with_values(self, values: Sequence[Any]) -> Statement:
        """This statement for one request: each `Deferred` converted from that request's values
        (conversion errors are the ones compiling with the values would raise)."""
        if not values:  # a shape without values compiles to no `Deferred`
            return self
        return Statement(
            self.sql, tuple([p.convert(values[p.index]) if type(p) is Deferred else p for p in self.params])
        )


class Spelling(Protocol):
    """What a statement's parameters (`Binding`) and column expressions (`common.col_expr`) ask of
    the engine: the statement-level part of `EngineSql` (`sql/engines/base.py`)."""

    def placeholder(self, index: int) -> str:
        """The placeholder of the 1-based parameter `index` (numbered: a fragment may be reused)."""
        ...

    def text(self, placeholder: str) -> str:
        """A bound parameter typed as text where the driver needs to know."""
        ...

    def table(self, table: Table) -> str:
        """The reference to `table` in a FROM or DML."""
        ...

    def check_parses(self, sql: str) -> None:
        """Raise 54001 for a statement the engine's parser cannot take for its size or depth."""
        ...

    def json_path(self, base: str, col: Col) -> str:
        """The value of `col`'s JSON path (`->a->>b`; never empty) in column expression `base`."""
        ...

    def field_value(self, expr: str, item: OutField) -> str:
        """An output field (`expr` is its column expression) as the body's JSON builder takes it."""
        ...


@dataclass(slots=True)
class Binding:
    """One statement being built: its dialect, how its engine spells it, the parameters bound so far."""

    dialect: Dialect
    spelling: Spelling = field(repr=False, compare=False)
    schema_name: str = "public"
    params: list[Any] = field(default_factory=list)

    def fresh(self) -> Binding:
        """Another statement for the same engine and schema, with no parameter bound yet."""
        return Binding(self.dialect, self.spelling, self.schema_name)

    def param(self, value: Any) -> str:
        """Bind `value`; return its placeholder."""
        self.params.append(value)
        return self.placeholder(len(self.params))

    def bind(self, value: Any, convert: Callable[[Any], Any] = str) -> str:
        """Bind a filter's value as `convert` makes it; a `Placeholder` is converted at run time."""
        if isinstance(value, Placeholder):
            self.params.append(Deferred(value.index, convert))
            return self.placeholder(len(self.params))
        return self.param(convert(value))

    def placeholder(self, index: int) -> str:
        return self.spelling.placeholder(index)

    def text(self, value: Any, convert: Callable[[Any], Any] = str) -> str:
        """A text parameter (typed `text` where the driver needs to know: `Spelling.text`)."""
        return self.spelling.text(self.bind(value, convert))

    def table(self, table: Table) -> str:
        """The table reference (`Spelling.table`: bare on SQLite, schema-qualified on PostgreSQL)."""
        return self.spelling.table(table)

    def statement(self, sql: str) -> Statement:
        self.spelling.check_parses(sql)
        return Statement(sql, tuple(self.params))

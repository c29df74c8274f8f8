"""`CREATE VIEW ... WITH (options)` on SQLite: the options SQLite cannot store, kept in a catalog row.

SQLite's CREATE VIEW has no options, and sqlglot drops PostgreSQL's with a mere warning, so they are
read here from the statement's tokens, cut from the text db.translate.ddl translates, and recorded in
`_backstack_views` (db.catalog.rls) for the policy service, which honours them on every read:

- `security_invoker`: the view's body is read through the caller's policies and grants on its
  tables (PostgreSQL 15); without it the view reads its tables with its owner's rights (the
  migration's role: no policies), as on PostgreSQL;
- `security_barrier`: the view's rows are computed before any filter of the request runs on them;
- `check_option` / `WITH [LOCAL | CASCADED] CHECK OPTION` is refused: it constrains writes through
  the view, which SQLite cannot make (its views are not updatable).

Any other option is PostgreSQL's error (22023 `unrecognized parameter`), never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from backstack.db.catalog import rls as catalog
from backstack.db.dialect import quote_literal
from backstack.db.errors import database_error
from backstack.db.translate.clauses import Clauses
from backstack.db.translate.expressions import Refused

CHECK_OPTION = (
    "WITH CHECK OPTION (check_option) constrains writes through the view, which SQLite cannot make "
    "(its views are not updatable): drop the option, and write to the table under its policies"
)
_TRUE = {"true", "on", "yes", "1", "t", "y"}
_FALSE = {"false", "off", "no", "0", "f", "n"}


@dataclass(frozen=True, slots=True)
class ViewOptions:
    """The options of one CREATE VIEW (PostgreSQL's reloptions of a view)."""

    security_invoker: bool = False
    security_barrier: bool = False


def split_view_options(source: str) -> tuple[str, ViewOptions] | None:
    """(`source` without its view options, the options) for a CREATE VIEW; None for other statements."""
    words = Clauses.of(source)
    if words is None or not words.accept("create"):
        return None
    words.accept("or", "replace")
    if not (words.accept("temp") or words.accept("temporary")):
        words.accept("recursive")
    if not words.accept("view"):
        return None
    words.qualified_name()
    if words.keyword() == "(":
        words.parenthesised()
    cuts: list[tuple[int, int]] = []
    options = ViewOptions()
    if words.keyword() == "with":
        start = words.tokens[words.pos].start
        words.pos += 1
        options = _options(words.parenthesised())
        cuts.append((start, words.tokens[words.pos - 1].end + 1))
    tail = [t.text.lower() for t in words.tokens[-4:]]
    for size in (4, 3):
        if (
            tail[-size:][:1] == ["with"]
            and tail[-2:] == ["check", "option"]
            and (size == 3 or tail[-3] in ("local", "cascaded"))
        ):
            raise Refused(CHECK_OPTION)
    text = source
    for begin, end in sorted(cuts, reverse=True):
        text = text[:begin] + " " + text[end:]
    return text, options


def _options(text: str) -> ViewOptions:
    found: dict[str, bool] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip().lower()
        value = value.strip().strip("'\"").lower() or "true"
        if name == "check_option":
            if value not in ("local", "cascaded"):
                raise database_error(
                    "22023",
                    f'invalid value for enum option "check_option": {value}',
                    hint='Valid values are "local" and "cascaded".',
                )
            raise Refused(CHECK_OPTION)
        if name not in ("security_invoker", "security_barrier"):
            raise database_error("22023", f'unrecognized parameter "{name}"')
        if value not in _TRUE | _FALSE:
            raise database_error("22023", f'invalid value for boolean option "{name}": {value}')
        found[name] = value in _TRUE
    return ViewOptions(**found)


def view_rows(view: str, options: ViewOptions) -> list[str]:
    """The catalog row of view `view` (a CREATE [OR REPLACE] VIEW sets its options anew)."""
    statements = [*catalog.CREATE, f"DELETE FROM {catalog.VIEWS} WHERE tbl = {quote_literal(view)}"]
    if options.security_invoker or options.security_barrier:
        statements.append(
            f"INSERT INTO {catalog.VIEWS} (tbl, security_invoker, security_barrier) VALUES "
            f"({quote_literal(view)}, {int(options.security_invoker)}, {int(options.security_barrier)})"
        )
    return statements

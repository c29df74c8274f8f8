"""A PostgreSQL `CREATE [OR REPLACE] FUNCTION ... LANGUAGE sql` parsed into a `FunctionDef`, the
shape the SQLite function catalog stores (`db/translate/functions.py` writes it).

The header (arguments with types, defaults and VARIADIC, the return type, SETOF / RETURNS TABLE /
OUT columns, volatility, SECURITY DEFINER) is read from sqlglot's tokens (its parser falls back to
an opaque Command for SETOF, VARIADIC and several option orders); the body statements are parsed
by sqlglot and translated with the rewrites every migration gets (`db.translate.expressions`,
`auth.users` -> `_auth_users`...). Argument references written `$n` or `fn.arg` become named
parameters `:arg` here; bare names are resolved when the schema is loaded (`db.schema.functions`),
because in PostgreSQL a column of the same name wins and only then are the tables' columns known.

What SQLite cannot run fails the migration naming the statement (`Refused`): LANGUAGE plpgsql (and
any language but sql), trigger functions, `BEGIN ATOMIC` bodies, set-returning bodies that do not
end with a SELECT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from backstack.db.pgtypes.names import canonical_type
from backstack.db.translate.expressions import Refused, plain_order, rewrite_expressions
from backstack.db.translate.names import sqlite_table_name

if TYPE_CHECKING:
    from sqlglot.tokenizer_core import Token

T = sqlglot.TokenType
_MODES = {"in", "out", "inout", "variadic"}
_OPTION_WORDS = {
    "language",
    "immutable",
    "stable",
    "volatile",
    "strict",
    "called",
    "security",
    "external",
    "parallel",
    "cost",
    "rows",
    "support",
    "set",
    "as",
    "window",
    "leakproof",
    "not",
    "transform",
    "begin",
    "return",
}
_KNOWN_TYPES = {
    "integer",
    "bigint",
    "smallint",
    "numeric",
    "double precision",
    "real",
    "boolean",
    "text",
    "json",
    "jsonb",
    "uuid",
    "date",
    "bytea",
    "character varying",
    "character",
    "timestamp with time zone",
    "timestamp without time zone",
    "time with time zone",
    "time without time zone",
    "void",
    "record",
    "interval",
    "citext",
    "name",
    "oid",
    "money",
    "tsvector",
}
PLPGSQL_ADVICE = (
    "SQLite runs only LANGUAGE sql function bodies: rewrite it in LANGUAGE sql, or as a Python function "
    "decorated with @rpc in the project's functions/ folder (docs/rpc.md)"
)


@dataclass(frozen=True, slots=True)
class ArgumentDef:
    """One argument as stored in the catalog; `default` is SQLite SQL, `mode` in/out/inout/variadic."""

    name: str
    type: str
    mode: str = "in"
    default: str | None = None


@dataclass(slots=True)
class FunctionDef:
    """A parsed `CREATE FUNCTION`, as the catalog row's `definition` JSON holds it."""

    name: str
    schema: str = "public"
    arguments: list[ArgumentDef] = field(default_factory=list)
    returns: str = "void"
    returns_set: bool = False
    result_columns: list[tuple[str, str]] = field(default_factory=list)  # RETURNS TABLE / OUT: (name, type)
    volatility: str = "volatile"
    language: str = "sql"
    security_definer: bool = False
    statements: list[str] = field(default_factory=list)  # SQLite SQL, arguments as :name (or bare names)
    replace: bool = False

    @property
    def signature(self) -> str:
        """The input argument types, as PostgreSQL identifies an overload."""
        return ",".join(a.type for a in self.arguments if a.mode != "out")


def argument_types(source: str, tokens: list[Token]) -> list[str]:
    """The input argument types of a parenthesised argument list's tokens (GRANT ... ON FUNCTION f(...))."""
    groups: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.token_type in (T.L_PAREN, T.L_BRACKET):
            depth += 1
        elif token.token_type in (T.R_PAREN, T.R_BRACKET):
            depth -= 1
        elif token.token_type == T.COMMA and depth == 0:
            groups.append([])
            continue
        groups[-1].append(token)
    return [a.type for a in (parse_argument(source, g) for g in groups if g) if a.mode != "out"]


# ------------------------------------------------------------------ CREATE FUNCTION header


class Cursor:
    """Walks the tokens of one statement; `source` slices give back the text as written."""

    def __init__(self, source: str, tokens: list[Token], position: int = 0) -> None:
        self.source = source
        self.tokens = tokens
        self.position = position

    @property
    def done(self) -> bool:
        return self.position >= len(self.tokens)

    def kind(self) -> object:
        return self.tokens[self.position].token_type if not self.done else None

    def word(self) -> str:
        return self.tokens[self.position].text.lower() if not self.done else ""

    def advance(self, count: int = 1) -> Token:
        token = self.tokens[self.position]
        self.position += count
        return token

    def qualified_name(self) -> tuple[str, str]:
        first = self.advance().text
        if self.kind() == T.DOT:
            self.advance()
            return first.lower(), self.advance().text
        return "public", first

    def group(self) -> list[list[Token]]:
        """The comma-separated items of the parenthesised list at the cursor (nested parentheses kept)."""
        self.advance()  # (
        items: list[list[Token]] = [[]]
        depth = 0
        while not self.done:
            token = self.advance()
            if token.token_type in (T.L_PAREN, T.L_BRACKET):
                depth += 1
            elif token.token_type in (T.R_PAREN, T.R_BRACKET):
                if depth == 0:
                    return [item for item in items if item]
                depth -= 1
            elif token.token_type == T.COMMA and depth == 0:
                items.append([])
                continue
            items[-1].append(token)
        raise Refused("unbalanced parentheses in the function header")

    def until_option(self) -> str:
        """The text from the cursor to the next function option keyword (a type, `setof t`...)."""
        start = self.position
        while not self.done and self.word() not in _OPTION_WORDS:
            self.advance()
        if start == self.position:
            raise Refused("a type is missing in the function header")
        return _text(self.source, self.tokens[start : self.position])


def _text(source: str, tokens: list[Token]) -> str:
    return source[tokens[0].start : tokens[-1].end + 1]


def parse_create(source: str, tokens: list[Token]) -> FunctionDef:
    """The header and translated body of a `CREATE FUNCTION` statement."""
    replace = tokens[1].text.lower() == "or"
    cursor = Cursor(source, tokens, 4 if replace else 2)
    schema, name = cursor.qualified_name()
    definition = FunctionDef(name=name, schema=schema, replace=replace)
    if cursor.kind() != T.L_PAREN:
        raise Refused("the function has no argument list")
    definition.arguments = [parse_argument(source, group) for group in cursor.group()]
    body = _options(cursor, definition)
    _check(definition)
    outputs = [(a.name, a.type) for a in definition.arguments if a.mode in ("out", "inout")]
    if outputs and not definition.result_columns:
        definition.result_columns = outputs
        definition.returns = "record" if definition.returns == "void" else definition.returns
    definition.arguments = [a for a in definition.arguments if a.mode != "out"]
    definition.statements = translate_body(body, definition)
    return definition


def parse_argument(source: str, tokens: list[Token]) -> ArgumentDef:
    """`[mode] [name] type [DEFAULT expr | = expr]`."""
    mode = "in"
    if tokens[0].text.lower() in _MODES and len(tokens) > 1:
        mode, tokens = tokens[0].text.lower(), tokens[1:]
    default = None
    split = next((i for i, t in enumerate(tokens) if t.token_type in (T.DEFAULT, T.EQ)), None)
    if split is not None:
        default = _default_sql(_text(source, tokens[split + 1 :]))
        tokens = tokens[:split]
    name = ""
    whole = canonical_type(_text(source, tokens))
    if len(tokens) > 1 and whole.split("(")[0].removesuffix("[]") not in _KNOWN_TYPES:
        name, tokens = tokens[0].text, tokens[1:]
    return ArgumentDef(name, canonical_type(_text(source, tokens)), mode, default)


def _default_sql(text: str) -> str:
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except ParseError as exc:
        raise Refused(f"cannot parse the default {text!r}: {exc}") from None
    assert isinstance(tree, exp.Expression)
    return rewrite_expressions(tree).sql(dialect="sqlite")


def _options(cursor: Cursor, definition: FunctionDef) -> str:
    """Read RETURNS and the options that may follow in any order; return the body text."""
    body: str | None = None
    given_language = False
    while not cursor.done:
        word = cursor.advance().text.lower()
        if word == "returns" and cursor.word() == "null":
            cursor.advance(4)  # RETURNS NULL ON NULL INPUT
        elif word == "returns":
            _returns(cursor, definition)
        elif word == "language":
            definition.language = cursor.advance().text.lower().strip("'\"")
            given_language = True
        elif word in ("immutable", "stable", "volatile"):
            definition.volatility = word
        elif word == "security":
            definition.security_definer = cursor.advance().text.lower() == "definer"
        elif word in ("as", "return", "begin"):
            body = _body(cursor, word)
            given_language = given_language or word == "return"  # a SQL-standard body is LANGUAGE sql
        elif word in ("cost", "rows", "parallel", "support"):
            cursor.advance()
        elif word == "set":  # `SET search_path = ...`: SQLite has one namespace, nothing to set
            cursor.advance()
            while not cursor.done and cursor.word() not in _OPTION_WORDS - {"set"}:
                cursor.advance()
    if body is None:
        raise Refused("the function has no body")
    if not given_language:
        raise Refused("no language specified (PostgreSQL refuses it too): add LANGUAGE sql")
    return body


def _returns(cursor: Cursor, definition: FunctionDef) -> None:
    if cursor.kind() == T.TABLE:
        cursor.advance()
        definition.returns, definition.returns_set = "record", True
        columns = [parse_argument(cursor.source, group) for group in cursor.group()]
        definition.result_columns = [(c.name, c.type) for c in columns]
        return
    if cursor.word() == "setof":
        cursor.advance()
        definition.returns_set = True
    text = cursor.until_option()
    definition.returns = canonical_type(text.split(".", 1)[1] if text.lower().startswith("public.") else text)


def _body(cursor: Cursor, word: str) -> str:
    if word == "begin":
        raise Refused("BEGIN ATOMIC bodies are not supported on SQLite: write the body as AS $$ ... $$")
    if word == "return":
        start = cursor.tokens[cursor.position].start
        cursor.position = len(cursor.tokens)
        return "select " + cursor.source[start:]
    token = cursor.advance()
    if token.token_type not in (T.STRING, T.HEREDOC_STRING):
        raise Refused("the function body must be a string: AS $$ ... $$")
    return token.text


def _check(definition: FunctionDef) -> None:
    if definition.language != "sql":
        raise Refused(f"LANGUAGE {definition.language} functions cannot run on SQLite. {PLPGSQL_ADVICE}")
    if definition.returns in ("trigger", "event_trigger"):
        raise Refused("trigger functions are PostgreSQL-only (CREATE TRIGGER cannot run on SQLite)")
    outs = [a for a in definition.arguments if a.mode in ("out", "inout")]
    if definition.returns == "record" and not outs and not definition.result_columns:
        raise Refused("RETURNS record needs OUT arguments or RETURNS TABLE (...) on SQLite")
    if any(not a.name for a in definition.arguments):
        raise Refused("every argument needs a name on SQLite (functions are called with named arguments)")


# ------------------------------------------------------------------ body


def translate_body(body: str, definition: FunctionDef) -> list[str]:
    """The body's statements as SQLite SQL; `$n` and `fn.arg` become `:arg`."""
    try:
        tokens = sqlglot.tokenize(body, read="postgres")
    except TokenError as exc:
        raise Refused(f"cannot read the function body: {exc}") from None
    pieces: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == T.SEMICOLON:
            pieces.append(body[start : token.start])
            start = token.end + 1
    pieces.append(body[start:])
    trees = [_statement(piece, definition) for piece in pieces if piece.strip()]
    if not trees and definition.returns != "void":
        raise Refused("the function body is empty")
    if trees and definition.returns_set and not isinstance(trees[-1], (exp.Select, exp.Union)):
        raise Refused("a set-returning function must end with a SELECT on SQLite")
    return [tree.sql(dialect="sqlite") for tree in trees]


def _statement(text: str, definition: FunctionDef) -> exp.Expression:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        parsed = sqlglot.parse_one(text, read="postgres")
    except ParseError as exc:
        raise Refused(
            f"cannot parse the function body: {exc.errors[0]['description'] if exc.errors else exc}"
        ) from None
    finally:
        logger.setLevel(level)
    if isinstance(parsed, exp.Command):
        raise Refused(f"the function body statement {' '.join(text.split()[:2]).upper()} ... is PostgreSQL-only")
    tree = normalize_identifiers(parsed, dialect="postgres")
    assert isinstance(tree, exp.Expression)
    _qualifiers(tree)
    names = [a.name for a in definition.arguments if a.mode != "out"]
    tree = tree.transform(lambda node: _argument_reference(node, definition.name, names), copy=False)
    for conflict in tree.find_all(exp.OnConflict):
        keys = conflict.args.get("conflict_keys") or []
        conflict.set("conflict_keys", [plain_order(k) if isinstance(k, exp.Ordered) else k for k in keys])
    return rewrite_expressions(tree)


def _qualifiers(tree: exp.Expression) -> None:
    """`public.t` -> `t`, `auth.users` -> `_auth_users`, as db.translate.ddl does for every migration."""
    for table in tree.find_all(exp.Table):
        schema = table.args.get("db")
        if schema is not None:
            table.set("this", exp.to_identifier(sqlite_table_name(schema.name.lower(), table.name)))
            table.set("db", None)


def _argument_reference(node: exp.Expression, function: str, names: list[str]) -> exp.Expression:
    if isinstance(node, exp.Parameter):
        index = int(node.name) if node.name.isdigit() else 0
        if not 1 <= index <= len(names):
            raise Refused(f"${node.name} does not name an argument of {function}")
        return exp.Placeholder(this=names[index - 1])
    if isinstance(node, exp.Column) and node.table.lower() == function.lower() and node.name in names:
        return exp.Placeholder(this=node.name)
    return node

"""A cursor over the words of a PostgreSQL statement that sqlglot only parses as a `Command`.

CREATE POLICY, ALTER TABLE ... ROW LEVEL SECURITY and most GRANT forms come back from sqlglot as
opaque commands, so db.translate.policies and db.translate.grants read their clauses word by word from sqlglot's
tokens: quoting, comments and escapes follow PostgreSQL's lexical rules, and the expressions inside
`USING (...)` are handed back as source text for sqlglot's expression parser. Identifiers are folded
and truncated as PostgreSQL does (unquoted to lower case, 63 bytes at most).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import sqlglot
from sqlglot import TokenType
from sqlglot.errors import TokenError

from backstack.db.errors import database_error

if TYPE_CHECKING:
    from sqlglot.tokenizer_core import Token

T = TypeVar("T")
NAMEDATALEN = 63  # PostgreSQL truncates longer identifiers to this many bytes


class Clauses:
    """The tokens of one statement and a position in them."""

    def __init__(self, source: str, tokens: list[Token]) -> None:
        self.source = source
        self.tokens = [t for t in tokens if t.token_type != TokenType.SEMICOLON]
        self.pos = 0

    @classmethod
    def of(cls, source: str) -> Clauses | None:
        """The cursor at the start of `source`; None when it cannot be tokenized (db.translate.ddl reports that)."""
        try:
            return cls(source, sqlglot.tokenize(source, read="postgres"))
        except TokenError:
            return None

    def keyword(self, ahead: int = 0) -> str:
        """The lower-cased word `ahead` tokens on; "" for a quoted identifier, a literal or the end."""
        index = self.pos + ahead
        if index >= len(self.tokens):
            return ""
        token = self.tokens[index]
        if token.token_type in (TokenType.IDENTIFIER, TokenType.STRING):
            return ""
        return token.text.lower()

    def mentions(self, *words: str) -> bool:
        """`words` appear in a row somewhere in the statement."""
        texts = [t.text.lower() for t in self.tokens if t.token_type != TokenType.IDENTIFIER]
        size = len(words)
        return any(tuple(texts[i : i + size]) == words for i in range(len(texts) - size + 1))

    def at(self, *words: str) -> bool:
        return all(self.keyword(i) == word for i, word in enumerate(words))

    def accept(self, *words: str) -> bool:
        """Step over `words` if they come next."""
        if not self.at(*words):
            return False
        self.pos += len(words)
        return True

    def expect(self, *words: str) -> None:
        for word in words:
            if not self.accept(word):
                raise self.syntax_error()

    def choice(self, *words: str) -> str:
        """The next word, which must be one of `words`."""
        word = self.keyword()
        if word not in words:
            raise self.syntax_error()
        self.pos += 1
        return word

    def name(self) -> str:
        """An identifier: quoted as written, unquoted folded to lower case; both truncated to 63 bytes."""
        if self.pos >= len(self.tokens):
            raise self.syntax_error()
        token = self.tokens[self.pos]
        if token.token_type == TokenType.IDENTIFIER:
            text = token.text
        elif token.text[:1].isalpha() or token.text[:1] == "_":
            text = token.text.lower()
        else:
            raise self.syntax_error()
        self.pos += 1
        return text.encode()[:NAMEDATALEN].decode(errors="ignore")

    def qualified_name(self) -> tuple[str, str, str]:
        """`[schema.]name` as (schema, name, written): schema `public` when none is given."""
        first = self.name()
        if self.keyword() != ".":
            return "public", first, first
        self.pos += 1
        second = self.name()
        return first, second, f"{first}.{second}"

    def listed(self, read: Callable[[], T]) -> list[T]:
        """`read()` once, then again after each comma."""
        items = [read()]
        while self.keyword() == ",":
            self.pos += 1
            items.append(read())
        return items

    def parenthesised(self) -> str:
        """The source text between the next `(` and its matching `)`."""
        if self.keyword() != "(":
            raise self.syntax_error()
        opening = self.tokens[self.pos]
        depth = 0
        for index in range(self.pos, len(self.tokens)):
            kind = self.tokens[index].token_type
            depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
            if depth == 0:
                self.pos = index + 1
                return self.source[opening.end + 1 : self.tokens[index].start]
        self.pos = len(self.tokens)
        raise self.syntax_error()

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def end(self) -> None:
        """Nothing may follow."""
        if not self.at_end():
            raise self.syntax_error()

    def syntax_error(self) -> Exception:
        """PostgreSQL's 42601 at the current token (db.translate.ddl adds which statement it was)."""
        if self.at_end():
            return database_error("42601", "syntax error at end of input")
        return database_error("42601", f'syntax error at or near "{self.tokens[self.pos].text}"')

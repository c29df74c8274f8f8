"""PostgreSQL text-search queries -> SQLite FTS5 MATCH expressions.

- `fts` (to_tsquery): `&` -> AND, `|` -> OR, `!x` -> NOT (FTS5's NOT is binary, so a negation
  needs a positive term beside it: `a & !b` -> `"a" NOT "b"`), `<->` -> phrase, `<N>` -> NEAR,
  `x:*` -> prefix, parentheses kept;
- `plfts` (plainto_tsquery): the words, AND-ed;
- `phfts` (phraseto_tsquery): the words as one phrase;
- `wfts` (websearch_to_tsquery): `"quoted"` -> phrase, `or` -> OR, `-x` -> NOT, the rest AND-ed.

Every term is emitted as an FTS5 string (`"word"`), so user text can never inject FTS5 syntax.
The text-search configuration (`fts(english)`) does not apply: FTS5 uses the table's tokenizer.
Returns None for a query without any term (matches nothing, as PostgreSQL's empty tsquery).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backstack.rest import errors

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\s*(?:(?P<op>[&|!()])|(?P<follow><(?:-|\d+)>)|(?P<term>[^\s&|!()<:]+)(?P<prefix>:\*?[A-Za-z]*)?)")


def _string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def to_fts5(operator: str, text: str) -> str | None:
    """The FTS5 expression for PostgREST's `operator` (fts/plfts/phfts/wfts) and its value."""
    if operator == "plfts":
        words = _words(text)
        return " AND ".join(_string(w) for w in words) or None
    if operator == "phfts":
        words = _words(text)
        return _string(" ".join(words)) if words else None
    if operator == "wfts":
        return _websearch(text)
    return _TsQuery(text).parse()


# ---------------------------------------------------------------- websearch syntax


def _websearch(text: str) -> str | None:
    groups: list[list[tuple[bool, str]]] = [[]]
    for match in re.finditer(r'(-?)"([^"]*)"?|(\S+)', text):
        negated, phrase, word = match.group(1) == "-", match.group(2), match.group(3)
        if word is not None and word.lower() == "or":
            groups.append([])
            continue
        if word is not None:
            negated = word.startswith("-")
            terms = _words(word)
            if terms:
                groups[-1].append((negated, _string(" ".join(terms))))
        elif phrase is not None and _words(phrase):
            groups[-1].append((negated, _string(" ".join(_words(phrase)))))
    parts = [p for p in (_group(g) for g in groups) if p]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else " OR ".join(f"({p})" for p in parts)


def _group(terms: list[tuple[bool, str]]) -> str | None:
    positive = [t for neg, t in terms if not neg]
    negative = [t for neg, t in terms if neg]
    if not positive:
        if negative:
            raise _lone_negation()
        return None
    if not negative:
        return " AND ".join(positive)
    expr = positive[0] if len(positive) == 1 else "(" + " AND ".join(positive) + ")"
    return " NOT ".join([expr, *negative])


def _lone_negation() -> Exception:
    return errors.not_implemented(
        "Full-text search on SQLite cannot match a negation alone: FTS5's NOT needs a term to subtract from"
    )


# ---------------------------------------------------------------- to_tsquery syntax


@dataclass(slots=True)
class _Expr:
    sql: str
    negated: bool = False


class _TsQuery:
    """A recursive-descent reader of to_tsquery text producing FTS5 syntax."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._lex(text)
        self.pos = 0

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                if text[pos:].strip() == "":
                    break
                pos += 1  # stray character (e.g. a lone ':' or '<'): PostgreSQL would drop it too
                continue
            pos = match.end()
            if match.group("op"):
                tokens.append(("op", match.group("op")))
            elif match.group("follow"):
                tokens.append(("follow", match.group("follow")[1:-1]))
            elif match.group("term"):
                words = _words(match.group("term"))
                if words:
                    prefix = "*" in (match.group("prefix") or "")
                    tokens.append(("term", " ".join(words) + ("*" if prefix else "")))
        return tokens

    def parse(self) -> str | None:
        if not self.tokens:
            return None
        expr = self._or()
        if expr.negated:
            raise _lone_negation()
        return expr.sql

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> _Expr:
        left = self._and()
        while self._peek() == ("op", "|"):
            self.pos += 1
            right = self._and()
            if left.negated or right.negated:
                raise _lone_negation()
            left = _Expr(f"({left.sql} OR {right.sql})")
        return left

    def _and(self) -> _Expr:
        left = self._unary()
        while (tok := self._peek()) is not None and (tok == ("op", "&") or tok[0] == "follow"):
            self.pos += 1
            right = self._unary()
            left = self._combine(left, right, tok)
        return left

    @staticmethod
    def _combine(left: _Expr, right: _Expr, tok: tuple[str, str]) -> _Expr:
        if tok[0] == "follow":
            if left.negated or right.negated:
                raise _lone_negation()
            if tok[1] == "-":
                return _Expr(f"{left.sql} + {right.sql}")
            return _Expr(f"NEAR({left.sql} {right.sql}, {int(tok[1])})")
        if left.negated and right.negated:
            raise _lone_negation()
        if right.negated:
            return _Expr(f"({left.sql} NOT {right.sql})")
        if left.negated:
            return _Expr(f"({right.sql} NOT {left.sql})")
        return _Expr(f"({left.sql} AND {right.sql})")

    def _unary(self) -> _Expr:
        tok = self._peek()
        if tok == ("op", "!"):
            self.pos += 1
            inner = self._unary()
            return _Expr(inner.sql, not inner.negated)
        if tok == ("op", "("):
            self.pos += 1
            inner = self._or()
            if self._peek() == ("op", ")"):
                self.pos += 1
            return inner
        if tok is not None and tok[0] == "term":
            self.pos += 1
            text = tok[1]
            if text.endswith("*"):
                return _Expr(_string(text[:-1]) + " *")
            return _Expr(_string(text))
        raise errors.tsquery_syntax(self.text)

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

from backstack.db.errors import database_error
from backstack.rest import errors

_WORD = re.compile(r"\w+", re.UNICODE)


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
    removed = negative[0] if len(negative) == 1 else "(" + " OR ".join(negative) + ")"
    return f"{expr} NOT {removed}"  # one NOT however many negations: FTS5 caps its tree depth


def _lone_negation() -> Exception:
    return errors.not_implemented(
        "Full-text search on SQLite cannot match a negation alone: FTS5's NOT needs a term to subtract from"
    )


# ---------------------------------------------------------------- to_tsquery syntax

MAX_DEPTH = 32  # nested parentheses in a `fts` value; deeper: 54001, never a RecursionError
MAX_DISTANCE = 16383  # PostgreSQL's largest `<N>`
_FOLLOW = re.compile(r"<(-|\d+)>")
_TERM = re.compile(r"[^\s&|!()<:]+")
_PREFIX = re.compile(r":\*?[A-Za-z]*")


@dataclass(slots=True)
class _Expr:
    """A translated operand: `phrase` holds its FTS5 strings when it is one phrase (`"a" + "b"`)."""

    sql: str
    negated: bool = False
    phrase: list[str] | None = None


def _lex(text: str) -> list[tuple[str, str]]:
    """to_tsquery tokens in one pass: every character is looked at a bounded number of times."""
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text)
    while pos < end:
        ch = text[pos]
        if ch.isspace():
            pos += 1
        elif ch in "&|!()":
            tokens.append(("op", ch))
            pos += 1
        elif ch == "<" and (follow := _FOLLOW.match(text, pos)):
            tokens.append(("follow", follow.group(1)))
            pos = follow.end()
        elif term := _TERM.match(text, pos):
            pos = term.end()
            prefix = _PREFIX.match(text, pos)
            if prefix:
                pos = prefix.end()
            words = _words(term.group())
            if words:
                tokens.append(("term", " ".join(words) + ("*" if prefix and "*" in prefix.group() else "")))
        else:
            pos += 1  # stray character (a lone ':' or '<'): PostgreSQL would drop it too
    return tokens


class _TsQuery:
    """A recursive-descent reader of to_tsquery text (precedence `!`, `<->`, `&`, `|`) to FTS5 syntax.

    Linear in the tokens; recursion only per parenthesis level, capped at MAX_DEPTH. The FTS5 text is
    valid whatever the input: what FTS5 cannot express (a phrase of non-phrases, a negation alone) is
    refused up front, never left to fail at run time on the rows that reach it.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.pos = 0
        self.depth = 0

    def parse(self) -> str | None:
        if not self.tokens:
            return None
        expr = self._or()
        if self.pos < len(self.tokens):
            raise errors.tsquery_syntax(self.text)  # `a b`, `a )`: PostgreSQL's syntax error too
        if expr.negated:
            raise _lone_negation()
        return expr.sql

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> _Expr:
        parts = [self._and()]
        while self._peek() == ("op", "|"):
            self.pos += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        if any(p.negated for p in parts):
            raise _lone_negation()
        return _Expr("(" + " OR ".join(p.sql for p in parts) + ")")

    def _and(self) -> _Expr:
        parts = [self._follow()]
        while self._peek() == ("op", "&"):
            self.pos += 1
            parts.append(self._follow())
        if len(parts) == 1:
            return parts[0]
        positive = [p.sql for p in parts if not p.negated]
        negative = [p.sql for p in parts if p.negated]
        if not positive:
            raise _lone_negation()
        kept = positive[0] if len(positive) == 1 else "(" + " AND ".join(positive) + ")"
        if not negative:
            return _Expr(kept)
        # a & !b & !c == a NOT (b OR c): one NOT, however many negations (FTS5 caps its tree depth)
        removed = negative[0] if len(negative) == 1 else "(" + " OR ".join(negative) + ")"
        return _Expr(f"({kept} NOT {removed})")

    def _follow(self) -> _Expr:
        left = self._unary()
        while (tok := self._peek()) is not None and tok[0] == "follow":
            self.pos += 1
            right = self._unary()
            if left.negated or right.negated:
                raise _lone_negation()
            if left.phrase is None or right.phrase is None:
                raise errors.not_implemented(
                    "Full-text search on SQLite can only join words or phrases with <-> or <N>"
                )
            if tok[1] == "-":
                phrase = [*left.phrase, *right.phrase]
                left = _Expr(" + ".join(phrase), phrase=phrase)
                continue
            distance = int(tok[1]) if len(tok[1]) <= 5 else MAX_DISTANCE + 1
            if distance > MAX_DISTANCE:
                raise database_error(
                    "22023",
                    f"distance in phrase operator must be an integer value between zero and {MAX_DISTANCE} inclusive",
                )
            left = _Expr(f"NEAR({left.sql} {right.sql}, {distance})")
        return left

    def _unary(self) -> _Expr:
        negations = 0
        while self._peek() == ("op", "!"):
            self.pos += 1
            negations += 1
        inner = self._primary()
        if negations % 2:
            return _Expr(inner.sql, not inner.negated, None)
        return inner

    def _primary(self) -> _Expr:
        tok = self._peek()
        if tok == ("op", "("):
            if self.depth >= MAX_DEPTH:
                raise database_error(
                    "54001", f"text-search query is nested too deeply: at most {MAX_DEPTH} levels of parentheses"
                )
            self.pos += 1
            self.depth += 1
            inner = self._or()
            self.depth -= 1
            if self._peek() == ("op", ")"):
                self.pos += 1
            return inner
        if tok is not None and tok[0] == "term":
            self.pos += 1
            text = tok[1]
            sql = _string(text[:-1]) + " *" if text.endswith("*") else _string(text)
            return _Expr(sql, phrase=[sql])
        raise errors.tsquery_syntax(self.text)

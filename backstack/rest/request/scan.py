"""The cursor every query-parameter grammar reads with: names, quoted strings, JSON paths, errors.

PostgREST's grammars share their lexical pieces (field names, `"quoted"` names with backslash
escapes, `->`/`->>` paths, `::cast` identifiers), so they live here once. Each scan is a
compiled regular expression over one character class anchored at the cursor (never nested
quantifiers), so every grammar built on this cursor runs in linear time.
"""

from __future__ import annotations

import re
from typing import NoReturn

from backstack.rest import errors
from backstack.rest.request.query import Arrow, JsonStep

# PostgREST identifiers: letters, digits, `_`, `$` and inner spaces (stripped at the ends).
_IDENT = re.compile(r"[\w $]+")
# A JSON key may hold anything but the characters that end it in some grammar.
_JSON_KEY = re.compile(r"[^(\-:.,>)\x00]+")  # NUL: no SQL text or PostgreSQL string can hold it
_INDEX = re.compile(r"-?[0-9]+")
_QUOTED_RUN = re.compile(r'[^"\\]*')
_WORD = re.compile(r"[a-z_]*")
_WS = re.compile(r"[ \t]*")
_INDEX_ENDS = ("->", "::", ".", ",", ")", " ", "\t")

FIELD_NAME = "field name (* or [a..z0..9_$])"


class Cursor:
    """A position in one parameter value, and the name of the grammar for error messages."""

    __slots__ = ("pos", "shift", "text", "what")

    def __init__(self, text: str, what: str, *, shift: int = 0) -> None:
        self.text = text
        self.what = what
        self.pos = 0
        self.shift = shift  # columns PostgREST counts before `text` (the `or` of `or=(...)`)

    # ------------------------------------------------------------ looking

    def peek(self) -> str:
        """The current character, or "" at the end."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def startswith(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.pos)

    # ------------------------------------------------------------ consuming

    def skip_ws(self) -> None:
        """Skip spaces and tabs, which PostgREST ignores around every token."""
        match = _WS.match(self.text, self.pos)
        if match:
            self.pos = match.end()

    def take(self, token: str) -> bool:
        """Consume `token` if it is next."""
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str, *also: str) -> None:
        """Consume `token` or fail saying what was expected instead."""
        if not self.take(token):
            self.fail(f'"{token}"', *also)

    def word(self) -> str:
        """A run of lower-case letters and `_` (operators, keywords), possibly empty."""
        match = _WORD.match(self.text, self.pos)
        assert match is not None  # `*` always matches
        self.pos = match.end()
        return match.group()

    def name(self) -> str:
        """A field name: `"quoted"` (backslash escapes, `""` doubling) or an identifier."""
        if self.peek() == '"':
            return self._no_nul(self.pos, self.quoted(doubled=True))
        return self._dashed(_IDENT, FIELD_NAME)

    def identifier(self, label: str) -> str:
        """A bare identifier as used for casts and fts configurations (`double precision`)."""
        match = _IDENT.match(self.text, self.pos)
        if not match or not match.group().strip():
            self.fail(label)
        self.pos = match.end()
        return match.group().strip()

    def quoted(self, *, doubled: bool = False) -> str:
        """A double-quoted string; `\\x` yields `x`; with `doubled`, `""` yields `"` too."""
        text, i, parts = self.text, self.pos + 1, []
        while True:
            run = _QUOTED_RUN.match(text, i)
            assert run is not None
            parts.append(run.group())
            i = run.end()
            if i >= len(text):
                self.pos = i
                self.fail('"\\""')
            if text[i] == "\\" and i + 1 < len(text):
                parts.append(text[i + 1])
                i += 2
            elif text[i] == "\\":
                self.pos = i + 1
                self.fail("escaped character")
            elif doubled and text.startswith('""', i):
                parts.append('"')
                i += 2
            else:
                self.pos = i + 1
                return "".join(parts)

    def json_path(self) -> tuple[JsonStep, ...]:
        """Zero or more `->key` / `->>key` / `->0` steps."""
        steps: list[JsonStep] = []
        while self.startswith("->"):
            arrow: Arrow = "->>" if self.startswith("->>") else "->"
            self.pos += len(arrow)
            steps.append(JsonStep(arrow, self._json_operand()))
        return tuple(steps)

    # ------------------------------------------------------------ failing

    def fail(self, *expecting: str) -> NoReturn:
        """Raise PGRST100 in PostgREST's shape: `unexpected "x" expecting a, b or c`."""
        found = self.peek()
        unexpected = f'unexpected "{found}"' if found else "unexpected end of input"
        details = unexpected
        if expecting:
            details += " expecting " + _alternatives(expecting)
        raise errors.parse_error(self.what, self.text, details, column=self.pos + 1 + self.shift)

    # ------------------------------------------------------------ helpers

    def _json_operand(self) -> str | int:
        index = _INDEX.match(self.text, self.pos)
        if index and (index.end() == len(self.text) or self.text.startswith(_INDEX_ENDS, index.end())):
            self.pos = index.end()
            return int(index.group())
        if self.peek() == '"':
            return self._no_nul(self.pos, self.quoted())
        return self._dashed(_JSON_KEY, "any non reserved character different from: .,>()")

    def _no_nul(self, start: int, name: str) -> str:
        """`name` (a quoted name or key read from `start`), or PGRST100 at its NUL: SQL text cannot hold one."""
        if "\x00" in name:
            self.pos = self.text.index("\x00", start)
            self.fail("any character but NUL")
        return name

    def _dashed(self, run: re.Pattern[str], label: str) -> str:
        """Runs of `run` joined by `-` (a `-` followed by `>` starts a JSON arrow instead)."""
        parts: list[str] = []
        while True:
            match = run.match(self.text, self.pos)
            if not match or not match.group().strip():
                self.fail(label)
            parts.append(match.group().strip())
            self.pos = match.end()
            if not self.startswith("-") or self.startswith("->"):
                return "-".join(parts)
            self.pos += 1


def _alternatives(options: tuple[str, ...]) -> str:
    """Join like parsec: `a`, `a or b`, `a, b or c`."""
    if len(options) == 1:
        return options[0]
    return ", ".join(options[:-1]) + " or " + options[-1]

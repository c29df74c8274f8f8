"""PostgreSQL `~`, `~*`, `LIKE` and `ILIKE` on SQLite, in linear time (RE2).

Python's `re` backtracks: `^(?:.|.){0,29}!` takes seconds per row, holds the GIL and cannot be
interrupted by SQLite's progress handler (it runs inside one VM instruction). RE2 (`google-re2`)
matches in time linear in the value, releases the GIL, and refuses what would need backtracking.

- Patterns are PostgreSQL ARE syntax, translated where RE2 reads it differently: `.` matches a
  newline and `$` only the end of the value (PostgreSQL's defaults); `\\y`/`\\Y` word boundary,
  `\\Z` end of value, `\\b` backspace, `\\w`/`\\W` Unicode letters/digits/underscore, `***=` literal.
  Backreferences, lookahead/lookbehind and `\\m`/`\\M` need backtracking: refused with 2201B.
- LIKE/ILIKE patterns become anchored RE2 patterns (ILIKE with RE2's Unicode case folding).
- Bounds: a pattern of at most `MAX_PATTERN_CHARS` characters and `MAX_PROGRAM_SIZE` RE2
  instructions (beyond: 2201B "regular expression is too complex", as PostgreSQL says; a longer LIKE
  pattern: 22023). A match
  costs at most about `NS_PER_STEP` per (instruction x value byte) when RE2 falls back from its DFA
  to its NFA: a call whose worst case would pass the statement's deadline is not started, the
  statement ends as if the timeout had fired (57014), so no single call outlives the timeout.
"""

from __future__ import annotations

from functools import lru_cache

import re2

MAX_PATTERN_CHARS = 1000
MAX_PROGRAM_SIZE = 20_000  # RE2 instructions; `^(?:.|.){0,29}!` is 235, `\w{1,10}` about 1,400
NS_PER_STEP = 5.0  # measured NFA worst case: ~4.5 ns per instruction per value byte
_ANCHORS = re2._re2.RE2.Anchor


class RegexError(ValueError):
    """A pattern PostgreSQL would refuse or RE2 cannot run; `sqlstate` and str() are the error to report."""

    def __init__(self, reason: str, sqlstate: str = "2201B") -> None:
        super().__init__(f"invalid regular expression: {reason}" if sqlstate == "2201B" else reason)
        self.sqlstate = sqlstate


class RegexTooSlow(RuntimeError):
    """A match whose worst case would pass the statement's deadline."""


class Matcher:
    """One compiled pattern; `test(value, deadline)` is a linear-time search or full match."""

    __slots__ = ("_anchor", "_program", "_regexp")

    def __init__(self, regexp: object, anchor: object) -> None:
        self._regexp = regexp
        self._anchor = anchor
        self._program: int = regexp.ProgramSize()  # type: ignore[attr-defined]

    def worst_seconds(self, size: int) -> float:
        """The longest a match against `size` bytes can take (RE2's NFA: instructions x bytes)."""
        return self._program * (size + 1) * NS_PER_STEP / 1e9

    def test(self, value: str, remaining: float | None) -> bool:
        """Whether `value` matches; RegexTooSlow if its worst case exceeds `remaining` seconds."""
        data = value.encode("utf-8", "surrogatepass")
        if remaining is not None and self.worst_seconds(len(data)) > remaining:
            raise RegexTooSlow
        spans = self._regexp.Match(self._anchor, data, 0, len(data))  # type: ignore[attr-defined]
        return bool(spans[0][0] >= 0)


def regex_matcher(pattern: str, case_insensitive: bool) -> Matcher:
    """The matcher for PostgreSQL's `value ~ pattern` (`~*` when `case_insensitive`); RegexError."""
    return _regex(pattern, case_insensitive)


def like_matcher(pattern: str, case_insensitive: bool) -> Matcher:
    """The matcher for `value LIKE pattern` (`ILIKE` when `case_insensitive`): `%`, `_`, `\\` escapes."""
    return _like(pattern, case_insensitive)


def check_regex(pattern: str) -> None:
    """Refuse (RegexError) a `~` pattern that cannot run here, before any row is read."""
    regex_matcher(pattern, False)


def check_like(pattern: str) -> None:
    """Refuse (RegexError) a LIKE pattern that cannot run here, before any row is read."""
    like_matcher(pattern, False)


@lru_cache(maxsize=256)
def _regex(pattern: str, case_insensitive: bool) -> Matcher:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError("regular expression is too complex")
    return Matcher(_compile(to_re2(pattern), case_insensitive), _ANCHORS.UNANCHORED)


@lru_cache(maxsize=256)
def _like(pattern: str, case_insensitive: bool) -> Matcher:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError(f"LIKE pattern is too long: at most {MAX_PATTERN_CHARS} characters on SQLite", "22023")
    return Matcher(_compile(like_to_re2(pattern), case_insensitive), _ANCHORS.ANCHOR_BOTH)


def _compile(pattern: str, case_insensitive: bool) -> object:
    options = re2.Options()
    options.dot_nl = True  # PostgreSQL's `.` matches a newline (no newline-sensitive mode)
    options.never_capture = True  # only "does it match": lets RE2 stay on its DFA
    options.case_sensitive = not case_insensitive
    options.log_errors = False
    regexp = re2._re2.RE2(pattern.encode("utf-8", "surrogatepass"), options)
    if not regexp.ok():
        raise RegexError(_reason(regexp.error()))
    if regexp.ProgramSize() > MAX_PROGRAM_SIZE:
        raise RegexError("regular expression is too complex")
    return regexp


def _reason(error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    if "pattern too large" in text:
        return "regular expression is too complex"
    if "invalid repetition size" in text:
        return "invalid repetition count(s)"
    return text


# ---------------------------------------------------------------- PostgreSQL ARE -> RE2

_WORD = r"\p{L}\p{N}_"
_UNSUPPORTED_GROUPS = ("(?=", "(?!", "(?<=", "(?<!")


def to_re2(pattern: str) -> str:
    """PostgreSQL ARE text -> RE2 syntax, refusing (RegexError) what RE2 cannot do in linear time."""
    if pattern.startswith("***="):
        return re2.escape(pattern[4:])  # type: ignore[no-any-return]
    pattern = pattern.removeprefix("***:")
    out: list[str] = []
    i, n = 0, len(pattern)
    in_bracket = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise RegexError("invalid escape \\ sequence")
            out.append(_escape(pattern[i + 1], in_bracket))
            i += 2
            continue
        if in_bracket:
            if pattern.startswith(("[:", "[.", "[="), i):
                close = pattern.find(pattern[i + 1] + "]", i + 2)
                if close < 0:
                    raise RegexError("brackets [] not balanced")
                out.append(pattern[i : close + 2])
                i = close + 2
                continue
            if ch == "]":
                in_bracket = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_bracket = True
            start = i + 1 + (pattern.startswith("^", i + 1))
            if pattern.startswith("]", start):  # a leading `]` is a literal member
                start += 1
            out.append(pattern[i:start].replace("]", "\\]") if start > i + 1 else "[")
            i = start
            continue
        if pattern.startswith(_UNSUPPORTED_GROUPS, i):
            raise RegexError("lookahead and lookbehind constraints are not supported on SQLite")
        out.append(ch)
        i += 1
    return "".join(out)


def _escape(ch: str, in_bracket: bool) -> str:
    if ch.isdigit() and ch != "0" and not in_bracket:
        raise RegexError("backreferences are not supported on SQLite")
    if ch == "b":
        return r"\x08"  # PostgreSQL's \b is a backspace; its word boundary is \y
    if in_bracket:
        return _WORD if ch == "w" else "\\" + ch
    replacements: dict[str, str] = {"y": r"\b", "Y": r"\B", "Z": r"\z", "w": f"[{_WORD}]", "W": f"[^{_WORD}]"}
    if ch in ("m", "M"):
        raise RegexError(f"\\{ch} (start or end of a word) is not supported on SQLite; use \\y")
    return replacements.get(ch, "\\" + ch)


def like_to_re2(pattern: str) -> str:
    """A LIKE pattern (`%`, `_`, backslash escapes) as an RE2 pattern for a full match."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re2.escape(next(chars, "\\")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re2.escape(ch))
    return "".join(out)

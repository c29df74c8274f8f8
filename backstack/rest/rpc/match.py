"""Which function an RPC request means: PostgREST's overload resolution and its errors.

A function matches when every required argument (no default) is given and every given key names
one of its arguments; a function with one unnamed json/jsonb argument takes any POST body; with
`Prefer: params=single-object` a function with exactly one json/jsonb argument takes the whole
body. No match -> 404 PGRST202 with PostgREST's "Perhaps you meant to call the function ..." hint;
several -> 300 PGRST203 listing them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.rest import errors

if TYPE_CHECKING:
    from backstack.db.schema.model import Function

_JSON_TYPES = ("json", "jsonb")


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the request offers to match against: argument keys and how the body may be passed."""

    name: str
    keys: frozenset[str]
    post: bool  # a JSON body (POST): a single unnamed json/jsonb argument may take it whole
    single_object: bool  # Prefer: params=single-object
    schema: str = "public"


def resolve(candidates: tuple[Function, ...], lookup: Lookup, all_names: list[str]) -> Function:
    """The one function of `candidates` the request means, or PGRST202 / PGRST203."""
    matches = [f for f in candidates if _matches(f, lookup)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise _not_found(candidates, lookup, all_names)
    raise errors.ambiguous_function([describe(f) for f in matches])


def single_body_argument(function: Function, lookup: Lookup) -> bool:
    """True when the whole body is the function's one argument (single-object or unnamed json)."""
    args = function.arguments
    if len(args) != 1 or args[0].type not in _JSON_TYPES:
        return False
    return lookup.single_object or (lookup.post and not args[0].name)


def _matches(function: Function, lookup: Lookup) -> bool:
    if lookup.single_object:
        return single_body_argument(function, lookup)
    if single_body_argument(function, lookup):
        return True
    names = {a.name for a in function.arguments if a.name}
    required = {a.name for a in function.arguments if a.name and not a.has_default}
    if len(names) < len(function.arguments):
        return False  # unnamed arguments cannot be passed by name
    return required <= lookup.keys <= names


def describe(function: Function) -> str:
    """`public.fn(a => integer, b => text)`, as PGRST203 lists candidates."""
    args = ", ".join(f"{a.name} => {a.type}" for a in function.arguments)
    return f"{function.schema}.{function.name}({args})"


def _not_found(candidates: tuple[Function, ...], lookup: Lookup, all_names: list[str]) -> Exception:
    keys = sorted(lookup.keys)
    error = errors.function_not_found(lookup.schema, lookup.name, keys, _hint(candidates, lookup, all_names))
    if lookup.post:
        tail = ", but no matches were found in the schema cache."
        error.details = str(error.details).removesuffix(tail) + " or with a single unnamed json/jsonb parameter" + tail
    return error


def _hint(candidates: tuple[Function, ...], lookup: Lookup, all_names: list[str]) -> str | None:
    """PostgREST's fuzzy suggestion: another function name, or the argument list of an overload."""
    prefix = f"Perhaps you meant to call the function {lookup.schema}."
    if not candidates:
        close = difflib.get_close_matches(lookup.name, all_names, n=1, cutoff=0.6)
        return prefix + close[0] if close else None
    lists = {_arg_list([a.name for a in f.arguments]): f for f in candidates}
    close = difflib.get_close_matches(_arg_list(sorted(lookup.keys)), list(lists), n=1, cutoff=0.3)
    return prefix + lookup.name + close[0] if close else None


def _arg_list(names: list[str]) -> str:
    return "(" + ", ".join(sorted(names)) + ")"

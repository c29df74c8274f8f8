"""RPC arguments: where they come from (JSON body or query string) and the values each engine binds.

GET/HEAD: a query parameter is an argument when a function of that name has an argument so called
(or when its value is not a filter, so a wrong name answers PGRST202); the others are `select`,
filters, `order`, `limit`, `offset` on the result. Repeating a parameter is the variadic form.
POST: the body's keys are the arguments and every query parameter shapes the result.

Values: PostgreSQL gets one JSON object and converts it with `json_to_record` (its own input
functions, so its own 22P02 errors); query-string values of json/jsonb arguments are parsed as
JSON first. SQLite gets Python values checked the way PostgreSQL's input functions check them
(`rest.plan.values`), with json and arrays as JSON text, booleans as 1/0.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.db.pgtypes.names import type_kind
from backstack.db.schema.model import Column
from backstack.rest import errors
from backstack.rest.plan.values import coerce, element_kind, parse_array_literal
from backstack.rest.request.filter import OPERATORS

if TYPE_CHECKING:
    from backstack.db.schema.model import Argument, Function

Values = dict[str, Any]
_READ_KEYS = frozenset(
    {"select", "order", "limit", "offset", "and", "or", "not.and", "not.or", "columns", "on_conflict"}
)
_FILTER_VALUE = re.compile(r"^(not\.)?(?P<op>[a-z]+)(\((any|all)\)|\([^)]*\))?\.", re.DOTALL)
_CHECKED = frozenset({"int", "float", "numeric", "bool", "uuid"})
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "numeric": (int, float),
    "bool": (bool,),
}


def split_query(
    pairs: list[tuple[str, str]], argument_names: set[str]
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """GET: (arguments with their values in order, the other parameters for the result)."""
    args: dict[str, list[str]] = {}
    rest: list[tuple[str, str]] = []
    for key, value in pairs:
        if key == "apikey":
            continue
        if key in argument_names or (key not in _READ_KEYS and "." not in key and not _is_filter(value)):
            args.setdefault(key, []).append(value)
        else:
            rest.append((key, value))
    return args, rest


def _is_filter(value: str) -> bool:
    match = _FILTER_VALUE.match(value)
    return match is not None and match["op"] in OPERATORS


def body_arguments(body: bytes) -> Any:
    """The POST body as JSON (`{}` when empty); invalid JSON is PGRST102."""
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        raise errors.invalid_body("Empty or invalid json") from None


def query_values(function: Function, args: dict[str, list[str]]) -> Values:
    """GET arguments as JSON values: strings, lists for repeated/variadic ones, parsed JSON for json types."""
    values: Values = {}
    for argument in function.arguments:
        given = args.get(argument.name)
        if given is None:
            continue
        if argument.variadic and not (len(given) == 1 and given[0].lstrip().startswith("{")):
            values[argument.name] = given
        elif type_kind(argument.type) == "json":
            values[argument.name] = _parse_json(given[-1], argument.type)
        else:
            values[argument.name] = given[-1]
    return values


def _parse_json(text: str, type_name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise errors.invalid_text_representation(type_name, text) from None


# ---------------------------------------------------------------- SQLite values


def sqlite_values(function: Function, values: Values) -> Values:
    """`values` (JSON values, or strings from a query) as SQLite binds them, checked per argument type."""
    by_name = {a.name: a for a in function.arguments}
    return {name: sqlite_value(by_name[name], value) for name, value in values.items() if name in by_name}


def sqlite_value(argument: Argument, value: Any) -> Any:
    """One argument's value: 22P02 / 22003 when PostgreSQL's input function would refuse it."""
    if value is None:
        return None
    kind = type_kind(argument.type)
    if kind == "json":
        return json.dumps_str(value)
    if kind == "array":
        return json.dumps_str(_array(argument, value))
    text = _text(value)
    if "\x00" in text:
        raise errors.nul_in_text()
    if kind in _CHECKED:
        value = coerce(Column(argument.name, argument.type, kind), text)
        # numeric arithmetic in PostgreSQL is exact (5 / 2 = 2.5); SQLite's integer division is not
        return float(value) if kind == "numeric" and isinstance(value, int) else value
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps_str(value)
    return str(value)


def _array(argument: Argument, value: Any) -> list[Any]:
    items: list[Any] = parse_array_literal(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        raise errors.malformed_array(_text(value))
    kind = element_kind(argument.type)
    if kind not in _CHECKED:
        return items
    column = Column(argument.name, argument.type, "array")
    out: list[Any] = []
    for item in items:
        coerced = None if item is None else coerce(column, _text(item), kind)
        out.append(bool(coerced) if kind == "bool" and coerced is not None else coerced)
    return out


def python_values(function: Function, values: Values) -> Values:
    """Arguments for an `@rpc` function, converted to its annotations as `json_to_record` would convert
    them (`"5"` -> 5 for an int, 22P02 for `"x"`); json arguments and unannotated ones pass as sent."""
    by_name = {a.name: a for a in function.arguments}
    return {name: _python_value(by_name[name], value) for name, value in values.items() if name in by_name}


def _python_value(argument: Argument, value: Any) -> Any:
    kind = type_kind(argument.type)
    if value is None or kind == "json":
        return value
    if kind == "text":
        return value if isinstance(value, str) else _text(value)
    accepted = _PYTHON_TYPES.get(kind)
    if accepted is None or (isinstance(value, accepted) and (kind == "bool" or not isinstance(value, bool))):
        return value
    coerced = coerce(Column(argument.name, argument.type, kind), _text(value))
    return bool(coerced) if kind == "bool" else coerced

"""A write's JSON body, parsed once and refused as PostgREST refuses it, before the database sees it
(PGRST102: empty, invalid, not objects, or a bulk body whose objects differ in keys).
"""

from __future__ import annotations

from typing import Any

from backstack.core import json
from backstack.rest import errors


def parse_body(body: bytes, *, array: bool) -> tuple[bytes, tuple[str, ...], list[dict[str, Any]]]:
    """The body as a JSON array text (an object is wrapped), the union of its keys, in order, and the rows.

    Empty, invalid, or not object(s) -> PGRST102. `array=False` (PATCH) wants one object.
    """
    try:
        value = json.loads(body) if body.strip() else None
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return b"[" + body + b"]", tuple(value), [value]
    if not array or not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise errors.invalid_body("Empty or invalid json")
    keys: dict[str, None] = {}
    for item in value:
        keys.update(dict.fromkeys(item))
    return body, tuple(keys), value


def check_same_keys(rows: list[dict[str, Any]]) -> None:
    """PGRST102 "All object keys must match" for a bulk body whose objects differ in keys (PostgREST
    refuses it before the database sees it; `columns=` names the keys instead)."""
    if len(rows) > 1:
        first = rows[0].keys()
        if any(row.keys() != first for row in rows[1:]):
            raise errors.invalid_body("All object keys must match")

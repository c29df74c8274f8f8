"""Typed fields of a JSON request body, as GoTrue's Go structs decode them.

A field of the wrong type is GoTrue's 400 `bad_json` (Go's decoder refuses it); an absent field is
"" (text) or None. Flows that must read a field only after other checks (the order of GoTrue's
errors) take the body and read it through these; the api layer uses them for everything else.
"""

from __future__ import annotations

from typing import Any

from backstack.auth.core import errors


def text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.bad_json(f"{name} must be a string")
    return value


def optional_text(body: dict[str, Any], name: str) -> str | None:
    """A string field that may be absent (None) rather than empty."""
    if body.get(name) is None:
        return None
    return text(body, name)


def flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise errors.bad_json(f"{name} must be a boolean")
    return value


def obj(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.bad_json(f"{name} must be an object")
    return value

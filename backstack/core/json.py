"""orjson wrappers: the one place JSON is encoded and decoded."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def dumps(value: Any) -> bytes:
    """Encode to compact UTF-8 JSON bytes."""
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(data: bytes | str) -> Any:
    """Decode JSON; raises `JSONDecodeError` (a ValueError) on bad input."""
    return orjson.loads(data)

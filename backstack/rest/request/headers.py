"""The request headers that shape a data API answer: `Prefer`, `Accept`, `Range`/`Range-Unit`."""

from __future__ import annotations

import re
from typing import Any

from backstack.rest import errors
from backstack.rest.request.query import Accept, Preferences, Range

# Prefer token name -> (Preferences field, accepted values).
_PREFER_CHOICES: dict[str, tuple[str, frozenset[str]]] = {
    "return": ("return_", frozenset({"minimal", "headers-only", "representation"})),
    "count": ("count", frozenset({"exact", "planned", "estimated"})),
    "resolution": ("resolution", frozenset({"merge-duplicates", "ignore-duplicates"})),
    "missing": ("missing", frozenset({"default", "null"})),
    "tx": ("tx", frozenset({"commit", "rollback"})),
    "handling": ("handling", frozenset({"strict", "lenient"})),
}
_DIGITS = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_BIGGEST = 2**63 - 1  # what SQL LIMIT/OFFSET accept; larger numbers mean "everything"

_JSON = Accept("json")
_MEDIA: dict[str, Accept | None] = {
    "application/json": _JSON,
    "*/*": _JSON,
    "application/*": _JSON,
    "application/vnd.pgrst.array+json": None,  # json, nulls=stripped decides
    "application/vnd.pgrst.array": None,
    "application/vnd.pgrst.object+json": None,
    "application/vnd.pgrst.object": None,
    "text/csv": Accept("csv"),
    "application/openapi+json": Accept("openapi"),
}


def parse_prefer(header_values: list[str]) -> Preferences:
    """All `Prefer` headers; tokens split on `,`; a repeated preference keeps its last value."""
    chosen: dict[str, Any] = {}
    invalid: list[str] = []
    for header in header_values:
        for token in header.split(","):
            token = token.strip()
            if token and not _prefer_token(token, chosen):
                invalid.append(token)
    return Preferences(**chosen, invalid=tuple(invalid))


def _prefer_token(token: str, chosen: dict[str, Any]) -> bool:
    """Record one `name=value` token in `chosen`; False when it is not a preference we know."""
    name, _, value = token.partition("=")
    if name in _PREFER_CHOICES:
        field, allowed = _PREFER_CHOICES[name]
        if value not in allowed:
            return False
        chosen[field] = value
    elif name == "max-affected" and _DIGITS.fullmatch(value):
        chosen["max_affected"] = to_int(value)
    elif name in ("timezone", "params") and value:
        chosen[name] = value
    else:
        return False
    return True


def parse_accept(value: str | None) -> Accept:
    """The first producible media type, by q-value then order; none -> 406 PGRST107."""
    if value is None or not value.strip():
        return _JSON
    offered = [item.strip() for item in value.split(",") if item.strip()]
    ranked = sorted(enumerate(offered), key=lambda pair: (-_quality(pair[1]), pair[0]))
    for _, item in ranked:
        accept = _media(item)
        if accept is not None and _quality(item) > 0:
            return accept
    raise errors.media_type_unavailable(offered)


def _media(item: str) -> Accept | None:
    """`application/vnd.pgrst.object+json;nulls=stripped` -> Accept("object", strip_nulls=True)."""
    kind, *raw_params = (part.strip() for part in item.split(";"))
    kind = kind.lower()
    if kind not in _MEDIA:
        return None
    known = _MEDIA[kind]
    if known is not None:
        return known
    params = _params(raw_params)
    strip = params.get("nulls") == "stripped"
    return Accept("object" if ".object" in kind else "json", strip)


def _params(raw_params: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for raw in raw_params:
        key, _, val = raw.partition("=")
        params[key.strip().lower()] = val.strip().strip('"')
    return params


def _quality(item: str) -> float:
    q = _params([part for part in item.split(";")[1:]]).get("q")
    if q is None:
        return 1.0
    try:
        return min(max(float(q), 0.0), 1.0)
    except ValueError:
        return 1.0


def parse_range(range_header: str | None, range_unit: str | None) -> Range | None:
    """`Range: 0-24` / `10-` in items; other units or shapes are ignored, like PostgREST does."""
    if range_header is None:
        return None
    if range_unit is not None and range_unit.strip().lower() != "items":
        return None
    match = _RANGE.fullmatch(range_header.strip())
    if not match:
        return None
    first = to_int(match.group(1))
    last = to_int(match.group(2)) if match.group(2) else None
    if last is not None and last < first:
        raise errors.range_lower_gt_upper()
    return Range(first, last)


def to_int(digits: str) -> int:
    """A run of ASCII digits as an int, capped where SQL stops (and before int() gets slow)."""
    digits = digits.lstrip("0") or "0"
    return _BIGGEST if len(digits) > 19 else min(int(digits), _BIGGEST)

"""What the data API answers, without HTTP: a `Result` (body bytes, status, Content-Range,
headers) and the PostgREST rules for pages and ranges that reads and RPC calls share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backstack.rest import errors

if TYPE_CHECKING:
    from backstack.core.events import RowsChanged
    from backstack.rest.request.query import Preferences, Range, ReadQuery


@dataclass
class Result:
    """What the route sends: body bytes (None: no body), status, Content-Range, other headers, and
    the `rows_changed` events of a committed write, for the route to fire."""

    body: bytes | None
    status: int
    content_range: str | None
    headers: dict[str, str] = field(default_factory=dict)
    changes: tuple[RowsChanged, ...] = ()


def root_page(query: ReadQuery, range_: Range | None, max_rows: int | None) -> tuple[int, int | None]:
    """(offset, limit) of the top level: the `Range` header intersected with limit/offset, capped."""
    first = query.offset.get((), 0)
    limit = query.limit.get(())
    if limit is not None and limit < 0:
        raise errors.negative_limit()
    if first < 0:
        raise errors.negative_offset()
    last = None if limit is None else first + limit - 1
    if range_ is not None:
        if range_.last is not None and range_.last < range_.first:
            raise errors.range_lower_gt_upper()
        first = max(first, range_.first)
        if range_.last is not None:
            last = range_.last if last is None else min(last, range_.last)
    if last is not None and last < first and limit != 0:
        raise errors.negative_limit()  # an empty intersection: PostgREST's (odd) wording for it
    count = None if last is None else max(0, last - first + 1)
    if max_rows is not None:
        count = max_rows if count is None else min(count, max_rows)
    return first, count


def content_range(lower: int, upper: int, total: int | None) -> str:
    """PostgREST's `Content-Range`: `lower-upper/total`, `*` when empty or total is 0."""
    span = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{span}/{'*' if total is None else total}"


def read_status(offset: int, page: int, total: int | None) -> int:
    if total is None:
        return 200
    if offset > total:
        return 416
    return 206 if page < total else 200


def read_page(row: tuple[Any, ...] | None, offset: int) -> tuple[Any, int, int | None, int]:
    """(body, rows in the page, total or None, status) from a read statement's one row; 416 past the end."""
    body, page, total = row if row is not None else (None, 0, None)
    total = None if total is None else int(total)
    status = read_status(offset, int(page), total)
    if status == 416:
        raise errors.offset_out_of_bounds(offset, total or 0)
    return body, int(page), total, status


def text_body(value: Any) -> bytes | None:
    """A body the database built (text or bytes) as bytes; None stays None."""
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def applied_headers(prefer: Preferences) -> dict[str, str]:
    """`Preference-Applied`, when a preference was honoured (writes and function calls)."""
    applied = prefer.applied()
    return {"Preference-Applied": applied} if applied else {}

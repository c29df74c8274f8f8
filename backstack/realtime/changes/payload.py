"""The `data` of a `postgres_changes` frame, as the clients parse it (contract/realtime.md 4.3).

INSERT carries `record`, DELETE `old_record`, UPDATE both. `old_record` holds what the table's
replica identity gives (the primary key by default, the whole row with `replica identity full`),
and only the primary key when row-level security is on, as Supabase sends it: an old row may hold
what the subscriber's policies would hide. Of every row and of `columns`, only the columns the
subscriber may read (column privileges: `seen_rows`); the filter sees the same rows, nothing more.
`errors` is null (JS reads `[]` as "there were errors").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.core.ports import RowChange


Row = dict[str, Any]


def seen_rows(
    change: RowChange, primary_key: tuple[str, ...], rls: bool, readable: frozenset[str]
) -> tuple[Row | None, Row | None]:
    """(record, old_record) as a subscriber who may read the `readable` columns may see them."""
    record = None if change.record is None else {k: v for k, v in change.record.items() if k in readable}
    old = change.old_record
    if old is not None:
        old = {k: v for k, v in old.items() if k in readable and (not rls or k in primary_key)}
    return record, old


def change_data(
    change: RowChange,
    columns: list[tuple[str, str, str]],
    rows: tuple[Row | None, Row | None],
    readable: frozenset[str],
    select: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The frame's `data` from the `seen_rows`; `select` (a binding's column choice) narrows the rows
    and `columns` to those, `readable` narrows `columns` to what the subscriber may read."""
    columns = [column for column in columns if column[0] in readable and (select is None or column[0] in select)]
    data: dict[str, Any] = {
        "schema": change.schema,
        "table": change.table,
        "commit_timestamp": change.commit_timestamp,
        "type": change.operation,
        "errors": None,
        "columns": [{"name": name, "type": type_} for name, type_, _ in columns],
    }
    record, old = rows
    if change.operation != "DELETE":
        data["record"] = _only(record or {}, select)
    if change.operation != "INSERT":
        data["old_record"] = _only(old or {}, select)
    return data


def _only(row: Row, select: tuple[str, ...] | None) -> Row:
    return row if select is None else {k: v for k, v in row.items() if k in select}


def key_of(row: dict[str, Any] | None, primary_key: tuple[str, ...]) -> dict[str, Any] | None:
    """The primary key values of a captured row (None when a column is missing)."""
    if row is None or any(column not in row for column in primary_key):
        return None
    return {column: row[column] for column in primary_key}

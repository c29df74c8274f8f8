"""The `data` of a `postgres_changes` frame, as the clients parse it (contract/realtime.md 4.3).

INSERT carries `record`, DELETE `old_record`, UPDATE both. `old_record` holds what the table's
replica identity gives (the primary key by default, the whole row with `replica identity full`),
and only the primary key when row-level security is on, as Supabase sends it: an old row may hold
what the subscriber's policies would hide. `errors` is null (JS reads `[]` as "there were errors").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.core.ports import RowChange


def change_data(
    change: RowChange,
    columns: list[tuple[str, str, str]],
    primary_key: tuple[str, ...],
    rls: bool,
    select: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The frame's `data`; `select` (a binding's column choice) narrows the rows and `columns` to those."""
    if select is not None:
        columns = [column for column in columns if column[0] in select]
    data: dict[str, Any] = {
        "schema": change.schema,
        "table": change.table,
        "commit_timestamp": change.commit_timestamp,
        "type": change.operation,
        "errors": None,
        "columns": [{"name": name, "type": type_} for name, type_, _ in columns],
    }
    if change.operation != "DELETE":
        data["record"] = _only(change.record or {}, select)
    if change.operation != "INSERT":
        old = change.old_record or {}
        data["old_record"] = _only({k: v for k, v in old.items() if k in primary_key} if rls else old, select)
    return data


def _only(row: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    return row if select is None else {k: v for k, v in row.items() if k in select}


def key_of(row: dict[str, Any] | None, primary_key: tuple[str, ...]) -> dict[str, Any] | None:
    """The primary key values of a captured row (None when a column is missing)."""
    if row is None or any(column not in row for column in primary_key):
        return None
    return {column: row[column] for column in primary_key}

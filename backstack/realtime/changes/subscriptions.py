"""This worker's `postgres_changes` bindings, by the table they watch.

A binding names a schema and optionally a table (none: every published table of the schema), an
event (`*`, INSERT, UPDATE, DELETE) and optionally a filter. A change is offered to the bindings of
its table and of its schema's wildcard; `accepts` decides by event and filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.core.ports import RowChange
    from backstack.realtime.changes.filters import RowFilter
    from backstack.realtime.channel import ChangeBinding, Channel

Watched = tuple[str, str | None]  # (schema, table or None for all of the schema)


@dataclass(frozen=True, slots=True)
class Subscription:
    channel: Channel
    binding: ChangeBinding
    filter: RowFilter | None

    def accepts(self, change: RowChange) -> bool:
        event = self.binding.event.upper()
        if event != "*" and event != change.operation:
            return False
        if self.filter is None:
            return True
        return self.filter.matches(change.old_record if change.operation == "DELETE" else change.record)


class Subscriptions:
    def __init__(self) -> None:
        self._by_table: dict[Watched, dict[str, list[Subscription]]] = {}  # -> channel owner -> its bindings
        self._watched: dict[str, list[Watched]] = {}  # channel owner -> what it watches

    def add(self, channel: Channel, subscriptions: list[Subscription]) -> None:
        """The channel's bindings (replacing what it had)."""
        self.remove(channel)
        for sub in subscriptions:
            watched = (sub.binding.schema, None if sub.binding.every_table else sub.binding.table)
            self._by_table.setdefault(watched, {}).setdefault(channel.owner, []).append(sub)
            self._watched.setdefault(channel.owner, []).append(watched)

    def remove(self, channel: Channel) -> None:
        for watched in self._watched.pop(channel.owner, ()):
            owners = self._by_table.get(watched)
            if owners is not None:
                owners.pop(channel.owner, None)
                if not owners:
                    del self._by_table[watched]

    def offered(self, change: RowChange) -> list[Subscription]:
        """The bindings that take `change` (its table's and its schema's wildcard ones)."""
        found: list[Subscription] = []
        for watched in ((change.schema, change.table), (change.schema, None)):
            for subs in self._by_table.get(watched, {}).values():
                found.extend(sub for sub in subs if sub.accepts(change))
        return found

    def __len__(self) -> int:
        return len(self._watched)

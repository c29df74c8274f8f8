"""This worker's `postgres_changes` bindings, by the table they watch.

A binding names a schema and optionally a table (none: every published table of the schema), an
event (`*`, INSERT, UPDATE, DELETE) and optionally a filter. A change is offered to the bindings of
its table and of its schema's wildcard that take its event (`offered`); the filter is asked later
(`filter_matches`), by the dispatcher, on the row as the subscriber may see it: never before the
data API said the subscriber may see the change at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.core.ports import RowChange
    from backstack.realtime.changes.filters import RowFilter
    from backstack.realtime.channel import ChangeBinding, Channel

Watched = tuple[str, str | None]  # (schema, table or None for all of the schema)
Holder = tuple[str, str]  # (channel owner, topic): a client chooses its join refs, so an owner alone is
# not one channel (two topics joined with the same ref would take each other's bindings)


def holder(channel: Channel) -> Holder:
    return channel.owner, channel.topic


@dataclass(frozen=True, slots=True)
class Subscription:
    channel: Channel
    binding: ChangeBinding
    filter: RowFilter | None

    def takes(self, change: RowChange) -> bool:
        """Whether the binding's event is the change's."""
        event = self.binding.event.upper()
        return event == "*" or event == change.operation

    def filter_matches(self, operation: str, record: dict[str, Any] | None, old_record: dict[str, Any] | None) -> bool:
        """The filter on the row as its subscriber may see it: `record`, or `old_record` for a DELETE."""
        if self.filter is None:
            return True
        return self.filter.matches(old_record if operation == "DELETE" else record)


class Subscriptions:
    def __init__(self) -> None:
        self._by_table: dict[Watched, dict[Holder, list[Subscription]]] = {}  # -> channel -> its bindings
        self._watched: dict[Holder, list[Watched]] = {}  # channel -> what it watches

    def add(self, channel: Channel, subscriptions: list[Subscription]) -> None:
        """The channel's bindings (replacing what it had)."""
        self.remove(channel)
        for sub in subscriptions:
            watched = (sub.binding.schema, None if sub.binding.every_table else sub.binding.table)
            self._by_table.setdefault(watched, {}).setdefault(holder(channel), []).append(sub)
            self._watched.setdefault(holder(channel), []).append(watched)

    def remove(self, channel: Channel) -> None:
        for watched in self._watched.pop(holder(channel), ()):
            owners = self._by_table.get(watched)
            if owners is not None:
                owners.pop(holder(channel), None)
                if not owners:
                    del self._by_table[watched]

    def offered(self, change: RowChange) -> list[Subscription]:
        """The bindings that take `change`'s event (its table's and its schema's wildcard ones)."""
        found: list[Subscription] = []
        for watched in ((change.schema, change.table), (change.schema, None)):
            for subs in self._by_table.get(watched, {}).values():
                found.extend(sub for sub in subs if sub.takes(change))
        return found

    def __len__(self) -> int:
        return len(self._watched)

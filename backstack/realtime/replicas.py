"""The presence of the other workers and nodes, as their hubs announce it over the bus.

Each hub publishes its own presence changes as diffs (`presence_diff`'s joins and leaves) and, when
asked (a `hello` from a hub that just started or just heard of it), its whole state; every hub also
says it is alive every `HEARTBEAT_SECONDS`. `Replicas` keeps what each other node tracks, room by
room (a topic's public and private channels are two rooms), keyed by `phx_ref` (unique per entry),
and says what changed so the hub can tell its own sockets. A node not heard from for `DEAD_SECONDS`
(it died, or lost the bus) is forgotten: its entries leave, as they would if its sockets had
disconnected. A node that stops cleanly says `bye`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

State = dict[str, dict[str, list[dict[str, Any]]]]
Diff = dict[str, State]
Room = tuple[str, bool]  # (topic, private): who hears whom
HEARTBEAT_SECONDS = 5.0
DEAD_SECONDS = 3 * HEARTBEAT_SECONDS

Entries = dict[str, tuple[str, dict[str, Any]]]  # phx_ref -> (presence key, meta)


@dataclass
class Node:
    seen: float
    rooms: dict[Room, Entries] = field(default_factory=dict)


class Replicas:
    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}

    def seen(self, node: str) -> bool:
        """Note that `node` spoke; False when it was not known (the hub then asks for its state)."""
        known = self._nodes.get(node)
        if known is None:
            self._nodes[node] = Node(time.monotonic())
            return False
        known.seen = time.monotonic()
        return True

    def apply(self, node: str, room: Room, diff: Diff) -> None:
        """A diff the node announced."""
        known = self._nodes.setdefault(node, Node(time.monotonic()))
        entries = known.rooms.setdefault(room, {})
        for _, meta in _entries(diff.get("leaves", {})):
            entries.pop(str(meta.get("phx_ref")), None)
        for key, meta in _entries(diff.get("joins", {})):
            entries[str(meta.get("phx_ref"))] = (key, meta)
        if not entries:
            del known.rooms[room]

    def replace(self, node: str, rooms: list[Any]) -> dict[Room, Diff]:
        """The node's whole state (`[topic, private, state]` per room): the diff per room from what
        was known of it."""
        known = self._nodes.setdefault(node, Node(time.monotonic()))
        new: dict[Room, Entries] = {}
        for item in rooms:
            if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], bool):
                new[(item[0], item[1])] = _by_ref(item[2])
        changes: dict[Room, Diff] = {}
        for room in set(known.rooms) | set(new):
            before, after = known.rooms.get(room, {}), new.get(room, {})
            joins = [entry for ref, entry in after.items() if ref not in before]
            leaves = [entry for ref, entry in before.items() if ref not in after]
            if joins or leaves:
                changes[room] = {"joins": _state(joins), "leaves": _state(leaves)}
        known.rooms = {room: entries for room, entries in new.items() if entries}
        return changes

    def forget(self, node: str) -> dict[Room, Diff]:
        """The node is gone: every entry it had leaves."""
        known = self._nodes.pop(node, None)
        if known is None:
            return {}
        return {room: {"joins": {}, "leaves": _state(list(gone.values()))} for room, gone in known.rooms.items()}

    def silent(self) -> list[str]:
        """The nodes not heard from for `DEAD_SECONDS`."""
        limit = time.monotonic() - DEAD_SECONDS
        return [node for node, known in self._nodes.items() if known.seen < limit]

    def state(self, room: Room, into: State) -> State:
        """`into` (this node's state of the room) with every other node's entries added."""
        for known in self._nodes.values():
            for key, meta in known.rooms.get(room, {}).values():
                into.setdefault(key, {"metas": []})["metas"].append(meta)
        return into


def _entries(state: Any) -> list[tuple[str, dict[str, Any]]]:
    """(key, meta) pairs of a presence state; what is not shaped like one is skipped."""
    if not isinstance(state, dict):
        return []
    pairs = []
    for key, value in state.items():
        metas = value.get("metas") if isinstance(value, dict) else None
        for meta in metas if isinstance(metas, list) else []:
            if isinstance(meta, dict) and "phx_ref" in meta:
                pairs.append((str(key), meta))
    return pairs


def _by_ref(state: Any) -> Entries:
    return {str(meta.get("phx_ref")): (key, meta) for key, meta in _entries(state)}


def _state(entries: list[tuple[str, dict[str, Any]]]) -> State:
    grouped: State = {}
    for key, meta in entries:
        grouped.setdefault(key, {"metas": []})["metas"].append(meta)
    return grouped

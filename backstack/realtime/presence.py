"""Presence of one topic: who tracks what, as Phoenix Presence reports it (contract/realtime.md 4.6).

Each `track` of a channel is one entry (a `phx_ref`) under the channel's presence key; a second
`track` replaces the channel's entry (the new meta carries the old ref as `phx_ref_prev`); `untrack`
and the channel's end remove it. Every change is a diff `{"joins": {...}, "leaves": {...}}` whose
values are `{"metas": [...]}` per key, what `presence_diff` carries; `state()` is `presence_state`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

State = dict[str, dict[str, list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    owner: str  # the channel that tracked it (its socket and join ref): one entry per owner
    meta: dict[str, Any]  # the user's fields plus phx_ref (and phx_ref_prev after an update)


def diff(joins: list[Entry] | None = None, leaves: list[Entry] | None = None) -> dict[str, State]:
    return {"joins": _by_key(joins or []), "leaves": _by_key(leaves or [])}


def _by_key(entries: list[Entry]) -> State:
    grouped: State = {}
    for entry in entries:
        grouped.setdefault(entry.key, {"metas": []})["metas"].append(entry.meta)
    return grouped


class TopicPresence:
    """The entries of one topic on this node, by owner."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def track(self, owner: str, key: str, meta: dict[str, Any]) -> dict[str, State]:
        previous = self._entries.get(owner)
        fields = {name: value for name, value in meta.items() if name not in ("phx_ref", "phx_ref_prev")}
        fields["phx_ref"] = _ref()
        if previous is not None:
            fields["phx_ref_prev"] = previous.meta["phx_ref"]
        entry = self._entries[owner] = Entry(key, owner, fields)
        return diff(joins=[entry], leaves=[previous] if previous is not None else [])

    def untrack(self, owner: str) -> dict[str, State] | None:
        """The diff of the owner's entry leaving, or None when it tracked nothing."""
        entry = self._entries.pop(owner, None)
        return None if entry is None else diff(leaves=[entry])

    def state(self) -> State:
        return _by_key(list(self._entries.values()))


def _ref() -> str:
    return secrets.token_urlsafe(9)

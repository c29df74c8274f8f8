"""The channels of this node by topic: broadcast fan-out and presence (contract/realtime.md 4.4, 4.6).

A `Member` is one joined channel of one socket. The hub delivers a topic's broadcasts to its members
(the sender only when it joined with `broadcast.self`) and keeps the topic's presence, sending each
change as `presence_diff` to the members that joined with presence. A private channel and a public
channel of the same topic are two rooms that never hear each other, as in Supabase: otherwise anyone
could read (and write to) a private channel by joining its topic without `private`. Delivery is a non-blocking push
onto each member's socket queue, so one slow socket never holds up the others. Nodes sharing
Redis or PostgreSQL (issue 9, "fan-out between nodes") will publish through a bus beside this.
"""

from __future__ import annotations

from typing import Any, Protocol

from backstack.realtime.presence import TopicPresence
from backstack.realtime.protocol import BROADCAST, Frame


class Member(Protocol):
    """A joined channel as the hub sees it."""

    @property
    def topic(self) -> str: ...

    @property
    def private(self) -> bool: ...

    @property
    def owner(self) -> str: ...  # unique per socket and join

    @property
    def broadcast_self(self) -> bool: ...

    @property
    def presence_enabled(self) -> bool: ...

    @property
    def presence_key(self) -> str: ...

    def push(self, frame: Frame) -> None: ...


Room = tuple[str, bool]  # (topic, private): who hears whom


def room_of(member: Member) -> Room:
    return member.topic, member.private


class Hub:
    def __init__(self) -> None:
        self._members: dict[Room, dict[str, Member]] = {}
        self._presence: dict[Room, TopicPresence] = {}

    def join(self, member: Member) -> None:
        self._members.setdefault(room_of(member), {})[member.owner] = member

    def leave(self, member: Member) -> None:
        """Remove the member; its presence (if any) leaves with it."""
        self.untrack(member)
        room = room_of(member)
        members = self._members.get(room)
        if members is not None and members.get(member.owner) is member:
            del members[member.owner]
            if not members:
                del self._members[room]

    def broadcast(
        self, topic: str, payload: dict[str, Any], sender: Member | None = None, *, private: bool = False
    ) -> None:
        """To the members of the topic's public room, or its private one (`private`, or the sender's)."""
        room = room_of(sender) if sender is not None else (topic, private)
        frame = Frame(topic, BROADCAST, payload)
        for member in tuple(self._members.get(room, {}).values()):
            if member is not sender or member.broadcast_self:
                member.push(frame)

    def track(self, member: Member, meta: dict[str, Any]) -> None:
        room = room_of(member)
        presence = self._presence.setdefault(room, TopicPresence())
        self._announce(room, presence.track(member.owner, member.presence_key, meta))

    def untrack(self, member: Member) -> None:
        room = room_of(member)
        presence = self._presence.get(room)
        if presence is None:
            return
        change = presence.untrack(member.owner)
        if not presence:
            del self._presence[room]
        if change is not None:
            self._announce(room, change)

    def presence_state(self, member: Member) -> dict[str, Any]:
        """The presence of the member's room, what its `presence_state` carries."""
        presence = self._presence.get(room_of(member))
        return presence.state() if presence is not None else {}

    def _announce(self, room: Room, change: dict[str, Any]) -> None:
        frame = Frame(room[0], "presence_diff", change)
        for member in tuple(self._members.get(room, {}).values()):
            if member.presence_enabled:
                member.push(frame)

    def counts(self) -> tuple[int, int]:
        """(topics, members) on this node, for health and metrics."""
        return len(self._members), sum(len(members) for members in self._members.values())

"""The channels of this node by topic: broadcast fan-out and presence (contract/realtime.md 4.4, 4.6).

A `Member` is one joined channel of one socket. The hub delivers a topic's broadcasts to its members
(the sender only when it joined with `broadcast.self`) and keeps the topic's presence, sending each
change as `presence_diff` to the members that joined with presence. Delivery is a non-blocking push
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
    def owner(self) -> str: ...  # unique per socket and join

    @property
    def broadcast_self(self) -> bool: ...

    @property
    def presence_enabled(self) -> bool: ...

    @property
    def presence_key(self) -> str: ...

    def push(self, frame: Frame) -> None: ...


class Hub:
    def __init__(self) -> None:
        self._members: dict[str, dict[str, Member]] = {}
        self._presence: dict[str, TopicPresence] = {}

    def join(self, member: Member) -> None:
        self._members.setdefault(member.topic, {})[member.owner] = member

    def leave(self, member: Member) -> None:
        """Remove the member; its presence (if any) leaves with it."""
        self.untrack(member)
        members = self._members.get(member.topic)
        if members is not None and members.get(member.owner) is member:
            del members[member.owner]
            if not members:
                del self._members[member.topic]

    def broadcast(self, topic: str, payload: dict[str, Any], sender: Member | None = None) -> None:
        frame = Frame(topic, BROADCAST, payload)
        for member in tuple(self._members.get(topic, {}).values()):
            if member is not sender or member.broadcast_self:
                member.push(frame)

    def track(self, member: Member, meta: dict[str, Any]) -> None:
        presence = self._presence.setdefault(member.topic, TopicPresence())
        self._announce(member.topic, presence.track(member.owner, member.presence_key, meta))

    def untrack(self, member: Member) -> None:
        presence = self._presence.get(member.topic)
        if presence is None:
            return
        change = presence.untrack(member.owner)
        if not presence:
            del self._presence[member.topic]
        if change is not None:
            self._announce(member.topic, change)

    def presence_state(self, topic: str) -> dict[str, Any]:
        presence = self._presence.get(topic)
        return presence.state() if presence is not None else {}

    def _announce(self, topic: str, change: dict[str, Any]) -> None:
        frame = Frame(topic, "presence_diff", change)
        for member in tuple(self._members.get(topic, {}).values()):
            if member.presence_enabled:
                member.push(frame)

    def counts(self) -> tuple[int, int]:
        """(topics, members) on this node, for health and metrics."""
        return len(self._members), sum(len(members) for members in self._members.values())

"""The channels of this node by topic: broadcast fan-out and presence (contract/realtime.md 4.4, 4.6).

A `Member` is one joined channel of one socket. The hub delivers a topic's broadcasts to its members
(the sender only when it joined with `broadcast.self`) and keeps the topic's presence, sending each
change as `presence_diff` to the members that joined with presence. Delivery is a non-blocking push
onto each member's socket queue, so one slow socket never holds up the others.

The other workers and nodes are reached through a `Bus` (bus/): a broadcast is delivered here first,
then published as an envelope naming this hub's `node`; each other hub delivers it to its own
members (none of them is the sender, so `broadcast.self` is decided here alone), and a hub skips
the envelopes it sent itself: every socket of every node gets a message once.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from backstack.core import json
from backstack.realtime.bus import Bus, MemoryBus
from backstack.realtime.presence import TopicPresence
from backstack.realtime.protocol import BROADCAST, Frame

logger = logging.getLogger("backstack.realtime")


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
    def __init__(self, bus: Bus | None = None) -> None:
        self.node = uuid.uuid4().hex  # this hub on the bus
        self.bus: Bus = bus or MemoryBus()
        self._members: dict[str, dict[str, Member]] = {}
        self._presence: dict[str, TopicPresence] = {}

    async def start(self) -> None:
        await self.bus.start(self._received)

    async def close(self) -> None:
        await self.bus.close()

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
        """Deliver to this hub's members, then to every other hub's through the bus."""
        self._deliver(topic, payload, sender)
        self.bus.publish(json.dumps({"node": self.node, "kind": BROADCAST, "topic": topic, "payload": payload}))

    def _deliver(self, topic: str, payload: dict[str, Any], sender: Member | None) -> None:
        members = self._members.get(topic)
        if not members:
            return
        frame = Frame(topic, BROADCAST, payload)
        for member in tuple(members.values()):
            if member is not sender or member.broadcast_self:
                member.push(frame)

    def _received(self, data: bytes) -> None:
        """An envelope from the bus: another hub's broadcast (what cannot be read is logged and dropped)."""
        try:
            envelope = json.loads(data)
            if not isinstance(envelope, dict) or envelope.get("node") == self.node:
                return
            if envelope.get("kind") == BROADCAST:
                topic, payload = envelope["topic"], envelope["payload"]
                if isinstance(topic, str) and isinstance(payload, dict):
                    self._deliver(topic, payload, None)
        except Exception:  # never let one bad envelope stop the bus's reader
            logger.exception("realtime: an envelope from the bus could not be delivered")

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

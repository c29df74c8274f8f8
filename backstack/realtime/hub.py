"""The channels of this worker by room: broadcast fan-out and presence (contract/realtime.md 4.4, 4.6).

A `Member` is one joined channel of one socket. The hub delivers a topic's broadcasts to its members
(the sender only when it joined with `broadcast.self`) and keeps the topic's presence, sending each
change as `presence_diff` to the members that joined with presence. A private channel and a public
channel of the same topic are two rooms that never hear each other, as in Supabase: otherwise anyone
could read (and write to) a private channel by joining its topic without `private`. Delivery is a
non-blocking push onto each member's socket queue, so one slow socket never holds up the others.

The other workers and nodes are reached through a `Bus` (bus/): a broadcast is delivered here first,
then published as an envelope naming this hub's `node` and the room; each other hub delivers it to
its own members of that room (none of them is the sender, so `broadcast.self` is decided here
alone), and a hub skips the envelopes it sent itself: every socket of every node gets a message
once. Presence travels the same way: each hub publishes its own changes as diffs and keeps the other
hubs' entries (replicas.py); `presence_state` is their union, and a node that dies has its entries
removed after `DEAD_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Protocol

from backstack.core import json
from backstack.realtime.bus import Bus, MemoryBus
from backstack.realtime.presence import TopicPresence
from backstack.realtime.protocol import BROADCAST, Frame
from backstack.realtime.replicas import DEAD_SECONDS, HEARTBEAT_SECONDS, Diff, Replicas, Room

logger = logging.getLogger("backstack.realtime")
# What hubs say to each other on the bus (each envelope: {"node", "kind", ...}).
PRESENCE, HELLO, STATE, ALIVE, BYE = "presence", "hello", "state", "alive", "bye"

__all__ = ["Hub", "Member", "Room", "room_of"]


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


def room_of(member: Member) -> Room:
    return member.topic, member.private


class Hub:
    def __init__(self, bus: Bus | None = None) -> None:
        self.node = uuid.uuid4().hex  # this hub on the bus
        self.bus: Bus = bus or MemoryBus()
        self._members: dict[Room, dict[str, Member]] = {}
        self._presence: dict[Room, TopicPresence] = {}
        self._replicas = Replicas()  # the other hubs' presence
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to the bus and ask the other hubs for their presence."""
        await self.bus.start(self._received)
        self._publish(HELLO)
        self._heartbeat = asyncio.create_task(self._beat())

    async def close(self) -> None:
        """Say goodbye (the other hubs drop this one's presence at once), then close the bus."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._publish(BYE)
        await self.bus.close()

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
        """To the members of the topic's public room, or its private one (`private`, or the sender's),
        here and then on every other hub through the bus."""
        room = room_of(sender) if sender is not None else (topic, private)
        self._deliver(room, payload, sender)
        self._publish(BROADCAST, topic=room[0], private=room[1], payload=payload)

    def _deliver(self, room: Room, payload: dict[str, Any], sender: Member | None) -> None:
        members = self._members.get(room)
        if not members:
            return
        frame = Frame(room[0], BROADCAST, payload)
        for member in tuple(members.values()):
            if member is not sender or member.broadcast_self:
                member.push(frame)

    def track(self, member: Member, meta: dict[str, Any]) -> None:
        room = room_of(member)
        presence = self._presence.setdefault(room, TopicPresence())
        self._changed(room, presence.track(member.owner, member.presence_key, meta))

    def untrack(self, member: Member) -> None:
        room = room_of(member)
        presence = self._presence.get(room)
        if presence is None:
            return
        change = presence.untrack(member.owner)
        if not presence:
            del self._presence[room]
        if change is not None:
            self._changed(room, change)

    def presence_state(self, member: Member) -> dict[str, Any]:
        """The presence of the member's room on every node, what its `presence_state` carries."""
        room = room_of(member)
        presence = self._presence.get(room)
        return self._replicas.state(room, presence.state() if presence is not None else {})

    def _changed(self, room: Room, change: dict[str, Any]) -> None:
        self._announce(room, change)
        self._publish(PRESENCE, topic=room[0], private=room[1], diff=change)

    def _announce(self, room: Room, change: dict[str, Any]) -> None:
        frame = Frame(room[0], "presence_diff", change)
        for member in tuple(self._members.get(room, {}).values()):
            if member.presence_enabled:
                member.push(frame)

    def _announce_all(self, changes: dict[Room, Diff]) -> None:
        for room, change in changes.items():
            self._announce(room, change)

    def counts(self) -> tuple[int, int]:
        """(rooms, members) on this worker, for health and metrics."""
        return len(self._members), sum(len(members) for members in self._members.values())

    # ------------------------------------------------------------ the bus

    def _publish(self, kind: str, **fields: Any) -> None:
        self.bus.publish(json.dumps({"node": self.node, "kind": kind, **fields}))

    async def _beat(self) -> None:
        """Say this hub is alive; forget the hubs that have been silent too long (their node died)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self._publish(ALIVE)
            for node in self._replicas.silent():
                logger.warning("realtime: node %s silent for %.0f s, its presence removed", node, DEAD_SECONDS)
                self._announce_all(self._replicas.forget(node))

    def _received(self, data: bytes) -> None:
        """An envelope from the bus (what cannot be read is logged and dropped; its own are skipped)."""
        try:
            envelope = json.loads(data)
            node = envelope.get("node") if isinstance(envelope, dict) else None
            if isinstance(node, str) and node != self.node:
                self._handle(node, envelope.get("kind"), envelope)
        except Exception:  # never let one bad envelope stop the bus's reader
            logger.exception("realtime: an envelope from the bus could not be handled")

    def _handle(self, node: str, kind: Any, envelope: dict[str, Any]) -> None:
        if kind == BYE:
            self._announce_all(self._replicas.forget(node))
            return
        if not self._replicas.seen(node) and kind not in (HELLO, STATE):
            self._publish(HELLO)  # a hub not heard of before (this one reconnected): ask for the states
        if kind in (BROADCAST, PRESENCE):
            room = (envelope["topic"], envelope["private"])
            if not isinstance(room[0], str) or not isinstance(room[1], bool):
                return
            if kind == BROADCAST and isinstance(envelope["payload"], dict):
                self._deliver(room, envelope["payload"], None)
            elif kind == PRESENCE and isinstance(envelope["diff"], dict):
                self._replicas.apply(node, room, envelope["diff"])
                self._announce(room, envelope["diff"])
        elif kind == HELLO:
            rooms = [[topic, private, presence.state()] for (topic, private), presence in self._presence.items()]
            self._publish(STATE, rooms=rooms)
        elif kind == STATE and isinstance(envelope.get("rooms"), list):
            self._announce_all(self._replicas.replace(node, envelope["rooms"]))

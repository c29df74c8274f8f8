"""One realtime socket: reads Phoenix frames, runs each event, writes through a bounded queue.

Events (contract/realtime.md 4.1): `heartbeat` on `phoenix`; `phx_join`, `phx_leave`, `broadcast`,
`presence` and `access_token` on a channel topic. A frame for a topic the socket has not joined is
answered `unmatched topic`, as Phoenix does. Everything the socket is sent goes through one queue
of `Limits.queue_frames` frames drained by a writer task: a client that falls that far behind is
disconnected (1008) instead of holding up the senders. A socket silent for `Limits.idle_seconds`
(no heartbeat: the clients send one every 25-30 s) is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backstack.core.errors import ApiError
from backstack.realtime import errors
from backstack.realtime.changes.filters import condition_count
from backstack.realtime.channel import PREFIX, ChangeBinding, Channel, parse_join
from backstack.realtime.errors import JoinRefused
from backstack.realtime.protocol import Frame, ProtocolError

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from backstack.core.caller import Caller
    from backstack.realtime.authorization import Authorization, Decisions
    from backstack.realtime.changes import ChangeDispatcher
    from backstack.realtime.hub import Hub
    from backstack.realtime.protocol import Serializer
    from backstack.realtime.rates import Rates
    from backstack.realtime.tokens import Tokens

log = logging.getLogger("backstack.realtime")
_ids = itertools.count(1)
CLOSE_SECONDS = 5.0
# What a socket's postgres_changes bindings may cost per change: each counts its filter's conditions
# (at least 1). 1,000 conditions of the costliest kind measured at ~4 ms (a join takes 100 bindings).
MAX_SOCKET_CONDITIONS = 1000


@dataclass(frozen=True, slots=True)
class Limits:
    max_channels: int = 100  # per socket (Supabase's max_channels_per_client default)
    max_message_bytes: int = 1024 * 1024
    queue_frames: int = 1024
    idle_seconds: float = 60.0
    joins_per_second: float = 2500.0  # per worker, all sockets together (rates.py)
    messages_per_second: float = 2500.0


class Socket:
    def __init__(
        self,
        websocket: WebSocket,
        serializer: Serializer,
        hub: Hub,
        tokens: Tokens,
        key_caller: Caller,
        apikey: str,
        limits: Limits,
        rates: Rates,
        authorization: Authorization,
        changes: ChangeDispatcher | None = None,
    ) -> None:
        self.websocket, self.serializer, self.hub, self.tokens = websocket, serializer, hub, tokens
        self.key_caller, self.apikey, self.limits, self.rates = key_caller, apikey, limits, rates
        self.authorization, self.changes = authorization, changes
        self.id = next(_ids)
        self.channels: dict[str, Channel] = {}
        self._queue: asyncio.Queue[Frame] = asyncio.Queue(limits.queue_frames)
        self._overflowed = asyncio.Event()

    async def serve(self) -> None:
        """Run until the client leaves, goes silent, sends what cannot be read, or falls behind."""
        writer = asyncio.create_task(self._write())
        reader = asyncio.create_task(self._read())
        overflow = asyncio.create_task(self._overflowed.wait())
        try:
            done, _ = await asyncio.wait({writer, reader, overflow}, return_when=asyncio.FIRST_COMPLETED)
            code, reason = 1000, ""
            if overflow in done:
                code, reason = 1008, errors.QUEUE_FULL
            elif reader in done and not reader.cancelled() and reader.exception() is None:
                code, reason = reader.result()
        finally:
            for task in (writer, reader, overflow):
                task.cancel()
            for channel in tuple(self.channels.values()):
                self._drop(channel)
        with contextlib.suppress(Exception):  # bounded: a client that stopped reading never takes the close frame
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_SECONDS)

    # ------------------------------------------------------------ the wire

    async def _write(self) -> None:
        while True:
            frame = await self._queue.get()
            try:
                data = self.serializer.encode(frame)
            except (ProtocolError, TypeError):  # orjson's JSONEncodeError is a TypeError
                # One frame another client made unencodable must not end this socket: skip it.
                log.warning("realtime: a %s frame for %s could not be encoded", frame.event, frame.topic)
                continue
            if isinstance(data, bytes):
                await self.websocket.send_bytes(data)
            else:
                await self.websocket.send_text(data)

    async def _read(self) -> tuple[int, str]:
        """Frames until the client disconnects: (close code, reason) for the socket's end."""
        while True:
            try:
                message = await asyncio.wait_for(self.websocket.receive(), self.limits.idle_seconds)
            except TimeoutError:
                return 1000, "heartbeat timeout"
            if message["type"] == "websocket.disconnect":
                return 1000, ""
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            if len(data) > self.limits.max_message_bytes:
                return 1009, "message too big"
            try:
                frame = self.serializer.decode(data)
            except ProtocolError as error:
                return 1007, str(error)[:120]
            await self._handle(frame)  # one at a time: a private join's check may query the database

    def push(self, frame: Frame) -> None:
        """Queue a frame for the client; a full queue ends the socket (never blocks the sender)."""
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._overflowed.set()

    def _reply(self, frame: Frame, status: str, response: dict[str, Any]) -> None:
        payload = {"status": status, "response": response}
        self.push(Frame(frame.topic, "phx_reply", payload, frame.ref, frame.join_ref))

    def _system(self, channel: Channel, extension: str, status: str, message: str) -> None:
        payload = {"channel": channel.name, "extension": extension, "message": message, "status": status}
        self.push(Frame(channel.topic, "system", payload))

    # ------------------------------------------------------------ events

    async def _handle(self, frame: Frame) -> None:
        if frame.topic == "phoenix":
            if frame.event == "heartbeat":
                self._reply(frame, "ok", {})
            return
        if frame.event == "phx_join":
            await self._join(frame)
            return
        channel = self.channels.get(frame.topic)
        if channel is None:
            if frame.event != "access_token":  # a token for a channel already gone needs no answer
                self._reply(frame, "error", {"reason": errors.UNMATCHED_TOPIC})
            return
        handler = _HANDLERS.get(frame.event)
        if handler is None:
            self._reply(frame, "error", {"reason": f"unknown event {frame.event!r}"})
        elif frame.event in _MESSAGES and not self.rates.messages.allow():
            self._reply(frame, "error", {"reason": errors.TOO_MANY_MESSAGES})  # dropped, not delivered
        else:
            await handler(self, channel, frame)

    async def _join(self, frame: Frame) -> None:
        try:
            _check_topic(frame.topic)
            if not self.rates.joins.allow():
                raise JoinRefused(errors.TOO_MANY_JOINS)
            config = parse_join(frame.payload)
            caller, expires = self._caller(config.access_token)
            if frame.topic not in self.channels and len(self.channels) >= self.limits.max_channels:
                raise JoinRefused(errors.TOO_MANY_CHANNELS)
            self._check_bindings(frame.topic, config.changes)
            decisions: Decisions = {}
            await self._authorize(frame.topic, config.private, caller, decisions)
        except JoinRefused as refused:
            self._reply(frame, "error", {"reason": refused.reason})
            return
        previous = self.channels.get(frame.topic)
        if previous is not None:  # a second join of a topic replaces the first
            self._close(previous)
        owner = f"{self.id}:{frame.join_ref or frame.ref}"
        key = config.presence_key or str(uuid.uuid4())  # as Supabase: a key per join when none is given
        channel = Channel(frame.topic, frame.join_ref or frame.ref, owner, config, caller, key, self.push, decisions)
        self.channels[frame.topic] = channel
        self.hub.join(channel)
        self._reply(frame, "ok", {"postgres_changes": [binding.reply() for binding in config.changes]})
        if config.changes:
            await self._subscribe(channel)
        if config.presence_enabled:
            self.push(Frame(frame.topic, "presence_state", self.hub.presence_state(channel)))
        self._expire_at(channel, expires)

    async def _subscribe(self, channel: Channel) -> None:
        """Register the channel's `postgres_changes` bindings and say how it went (`system`): the clients
        report the channel subscribed to changes only once told "Subscribed to PostgreSQL"."""
        problem: str | None = errors.changes_unavailable(channel.config.changes[0].reply())
        if self.changes is not None:
            try:
                problem = await self.changes.subscribe(channel)
            except ApiError as error:  # the database could not say what is published
                log.warning("realtime: postgres_changes join failed: %s", error.message)
        if self.channels.get(channel.topic) is not channel:  # left while the bindings were checked
            if self.changes is not None:
                self.changes.unsubscribe(channel)
            return
        if problem is None:
            self._system(channel, "postgres_changes", "ok", "Subscribed to PostgreSQL")
        else:
            self._system(channel, "postgres_changes", "error", problem)

    async def _leave(self, channel: Channel, frame: Frame) -> None:
        self._reply(frame, "ok", {})
        self._close(channel)

    async def _broadcast(self, channel: Channel, frame: Frame) -> None:
        payload = frame.payload
        event = payload.get("event")
        if not isinstance(event, str):
            self._reply(frame, "error", {"reason": "broadcast event must be a string"})
            return
        if not await self._may_write(channel, "broadcast"):
            self._reply(frame, "error", {"reason": errors.unauthorized_write(channel.name)})
            return
        message: dict[str, Any] = {"type": "broadcast", "event": event, "payload": payload.get("payload", {})}
        if isinstance(payload.get("meta"), dict):
            message["meta"] = payload["meta"]
        self.hub.broadcast(channel.topic, message, sender=channel)
        if channel.config.broadcast_ack:
            self._reply(frame, "ok", {})

    async def _presence(self, channel: Channel, frame: Frame) -> None:
        event = str(frame.payload.get("event", "")).lower()
        if not await self._may_write(channel, "presence"):
            self._reply(frame, "error", {"reason": errors.unauthorized_write(channel.name)})
        elif event == "track":
            meta = frame.payload.get("payload")
            if not isinstance(meta, dict):
                self._reply(frame, "error", {"reason": errors.PRESENCE_NOT_A_MAP})
                return
            self.hub.track(channel, meta)
            self._reply(frame, "ok", {})
        elif event == "untrack":
            self.hub.untrack(channel)
            self._reply(frame, "ok", {})
        else:
            self._reply(frame, "error", {"reason": f"unknown presence event {event!r}"})

    async def _access_token(self, channel: Channel, frame: Frame) -> None:
        """A refreshed token keeps the channel; one that fails closes it, as Supabase does (no reply)."""
        token = frame.payload.get("access_token")
        try:
            if not isinstance(token, str):
                raise JoinRefused("access_token must be a string")
            caller, expires = self._caller(token)
            # a refresh may not keep what it could not join
            await self._authorize(channel.topic, channel.private, caller, channel.decisions)
        except JoinRefused as refused:
            if self.channels.get(channel.topic) is channel:
                self._system(channel, "system", "error", refused.reason)
                self._close(channel)
            return
        if self.channels.get(channel.topic) is not channel:  # left or expired while the policies were asked
            return
        channel.caller = caller
        self._expire_at(channel, expires)

    def _check_bindings(self, topic: str, joining: tuple[ChangeBinding, ...]) -> None:
        """Every change is offered to each binding of its table and each filter's conditions run on it:
        what a socket's bindings (all its channels) cost per change is bounded, as its channels are."""
        held = sum(_cost(channel.config.changes) for channel in self.channels.values() if channel.topic != topic)
        if joining and held + _cost(joining) > MAX_SOCKET_CONDITIONS:
            raise JoinRefused(errors.TOO_MANY_BINDINGS)

    # ------------------------------------------------------------ private channels

    async def _authorize(self, topic: str, private: bool, caller: Caller, decisions: Decisions) -> None:
        """A private channel is joined (and kept at a refresh) only by who may read its broadcasts, as
        Supabase decides it (`authorization.py`): at join and whenever the token's claims change."""
        name = topic.removeprefix(PREFIX)
        if private and not await self.authorization.may(caller, name, "broadcast", "read", decisions):
            raise JoinRefused(errors.unauthorized_topic(name))

    async def _may_write(self, channel: Channel, extension: str) -> bool:
        """Whether the channel's caller may send `extension` messages (always on a public channel)."""
        if not channel.private:
            return True
        return await self.authorization.may(channel.caller, channel.name, extension, "write", channel.decisions)

    # ------------------------------------------------------------ channel lifetime

    def _caller(self, token: str | None) -> tuple[Caller, float | None]:
        """Who a join or refresh acts as: the socket's key, or the user of a verified JWT."""
        if token is None or token == self.apikey or token.startswith("sb_"):
            return self.key_caller, None
        try:
            return self.tokens.verify(token)
        except ApiError as error:
            raise JoinRefused(self.tokens.refusal(token, error)) from None

    def _expire_at(self, channel: Channel, expires: float | None) -> None:
        if channel.expiry is not None:
            channel.expiry.cancel()
            channel.expiry = None
        if expires is not None:
            delay = max(0.0, expires - time.time())
            channel.expiry = asyncio.get_running_loop().call_later(delay, self._expired, channel)

    def _expired(self, channel: Channel) -> None:
        if self.channels.get(channel.topic) is channel:
            self._system(channel, "system", "error", "Token has expired 0 seconds ago")
            self._close(channel)

    def _close(self, channel: Channel) -> None:
        """End a channel the client still holds: `phx_close` tells it so."""
        self._drop(channel)
        self.push(Frame(channel.topic, "phx_close", {}, channel.join_ref, channel.join_ref))

    def _drop(self, channel: Channel) -> None:
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]
        if channel.expiry is not None:
            channel.expiry.cancel()
        if self.changes is not None:
            self.changes.unsubscribe(channel)
        self.hub.leave(channel)


def _cost(bindings: tuple[ChangeBinding, ...]) -> int:
    return sum(condition_count(binding.filter) if binding.filter else 1 for binding in bindings)


def _check_topic(topic: str) -> None:
    if not topic.removeprefix(PREFIX):
        raise JoinRefused(errors.TOPIC_REQUIRED)
    if len(topic) > errors.MAX_TOPIC:
        raise JoinRefused(errors.TOPIC_TOO_LONG)


_MESSAGES = frozenset({"broadcast", "presence"})  # what the messages-per-second rate counts
_HANDLERS = {
    "phx_leave": Socket._leave,
    "broadcast": Socket._broadcast,
    "presence": Socket._presence,
    "access_token": Socket._access_token,
}

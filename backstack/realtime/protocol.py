"""Phoenix channel frames as the Supabase clients send and read them (contract/realtime.md 4.1, 4.5).

Two serialisations, chosen per socket by the `vsn` query parameter: 1.0.0 sends JSON objects
(`{"topic","event","payload","ref","join_ref"}`, supabase-py always), 2.0.0 sends JSON arrays
(`[join_ref, ref, topic, event, payload]`, supabase-js's default) plus binary frames for user
broadcasts: kind 3 from the client (a `broadcast` push), kind 4 to the client. A socket's frames
are decoded and encoded by its own `Serializer`, so sockets of both versions can share a topic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol

from backstack.core import json

BROADCAST = "broadcast"
_PUSH, _BROADCAST = 3, 4  # binary kinds: user broadcast push (client -> server), user broadcast (server -> client)
_BINARY, _JSON = 0, 1  # payload encodings of the binary kinds
_PUSH_HEADER = struct.Struct("!7B")  # kind, join_ref, ref, topic, event and metadata lengths, payload encoding
_MAX_FIELD = 255  # bytes of a binary frame's topic, event or metadata (one length byte each)
MAX_DEPTH = 128  # levels of JSON a client may send: what the server wraps around it stays below orjson's 255


class ProtocolError(ValueError):
    """A frame the protocol cannot read: the socket answers nothing and closes (1003 / 1007)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One Phoenix message. `payload` is a JSON object, or raw bytes for a binary user broadcast."""

    topic: str
    event: str
    payload: Any
    ref: str | None = None
    join_ref: str | None = None


class Serializer(Protocol):
    def decode(self, data: str | bytes) -> Frame: ...

    def encode(self, frame: Frame) -> str | bytes: ...


def _text(value: Any, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and optional:
        return str(value)  # some clients send numeric refs
    if not isinstance(value, str):
        raise ProtocolError(f"{name} must be a string")
    return value


def _frame(topic: Any, event: Any, payload: Any, ref: Any, join_ref: Any) -> Frame:
    if not isinstance(payload, dict):
        raise ProtocolError("payload must be an object")
    return Frame(
        topic=_text(topic, "topic") or "",
        event=_text(event, "event") or "",
        payload=payload,
        ref=_text(ref, "ref", optional=True),
        join_ref=_text(join_ref, "join_ref", optional=True),
    )


def _loads(data: str | bytes) -> Any:
    """JSON no deeper than `MAX_DEPTH`: orjson reads 1,024 levels but writes only 255, so a deeper
    payload would be accepted from its sender and then fail to encode for every receiver."""
    try:
        value = json.loads(data)
    except ValueError as error:
        raise ProtocolError(f"invalid JSON: {error}") from None
    if not _within_depth(value, MAX_DEPTH):
        raise ProtocolError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _within_depth(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


class JsonObjects:
    """vsn 1.0.0: every frame a JSON object; binary broadcasts cannot be told (their payload is dropped)."""

    def decode(self, data: str | bytes) -> Frame:
        if isinstance(data, bytes):
            raise ProtocolError("binary frames need vsn=2.0.0")
        message = _loads(data)
        if not isinstance(message, dict):
            raise ProtocolError("a frame must be a JSON object")
        get = message.get
        return _frame(get("topic"), get("event"), get("payload"), get("ref"), get("join_ref"))

    def encode(self, frame: Frame) -> str:
        payload = frame.payload
        if isinstance(payload, dict) and isinstance(payload.get("payload"), bytes):
            payload = {**payload, "payload": {}}  # a binary broadcast has no JSON form
        message = {
            "topic": frame.topic,
            "event": frame.event,
            "payload": payload,
            "ref": frame.ref,
            "join_ref": frame.join_ref,
        }
        return json.dumps_str(message)


class JsonArrays:
    """vsn 2.0.0: JSON arrays, and binary user broadcasts (kind 3 in, kind 4 out)."""

    def decode(self, data: str | bytes) -> Frame:
        if isinstance(data, bytes):
            return _decode_push(data)
        message = _loads(data)
        if not isinstance(message, list) or len(message) != 5:
            raise ProtocolError("a frame must be a JSON array of 5 items")
        join_ref, ref, topic, event, payload = message
        return _frame(topic, event, payload, ref, join_ref)

    def encode(self, frame: Frame) -> str | bytes:
        payload = frame.payload
        if frame.event == BROADCAST and isinstance(payload, dict) and isinstance(payload.get("payload"), bytes):
            return _encode_broadcast(frame.topic, payload)
        return json.dumps_str([frame.join_ref, frame.ref, frame.topic, frame.event, payload])


def _decode_push(data: bytes) -> Frame:
    """Kind 3: supabase-js's `channel.send({type: 'broadcast', ...})`, a `broadcast` push with its ref."""
    if len(data) < _PUSH_HEADER.size or data[0] != _PUSH:
        raise ProtocolError("unknown binary frame")
    _, join_ref_len, ref_len, topic_len, event_len, meta_len, encoding = _PUSH_HEADER.unpack_from(data)
    offset = _PUSH_HEADER.size
    fields = []
    for length in (join_ref_len, ref_len, topic_len, event_len, meta_len):
        if offset + length > len(data):
            raise ProtocolError("binary frame shorter than its header says")
        try:
            fields.append(data[offset : offset + length].decode())
        except UnicodeDecodeError:
            raise ProtocolError("binary frame header is not text") from None
        offset += length
    join_ref, ref, topic, event, metadata = fields
    body = data[offset:]
    if encoding == _JSON:
        user_payload = _loads(body)
    elif encoding == _BINARY:
        user_payload = bytes(body)
    else:
        raise ProtocolError("unknown payload encoding")
    payload: dict[str, Any] = {"type": BROADCAST, "event": event, "payload": user_payload}
    if metadata:
        meta = _loads(metadata)
        if isinstance(meta, dict):
            payload.update({key: value for key, value in meta.items() if key not in payload})
    return Frame(topic, BROADCAST, payload, ref or None, join_ref or None)


def _encode_broadcast(topic: str, payload: dict[str, Any]) -> bytes:
    """Kind 4, for a binary payload (JSON payloads go as arrays, which the client reads alike)."""
    event = str(payload.get("event", "")).encode()
    meta = json.dumps(payload["meta"]) if "meta" in payload else b""
    if len(meta) > _MAX_FIELD:  # the sender's metadata fit, but re-encoding may lengthen it (1e9 -> 1000000000.0)
        meta = b""
    raw_topic = topic.encode()
    if max(len(raw_topic), len(event)) > _MAX_FIELD:
        raise ProtocolError("topic or event too long for a binary frame")
    header = bytes([_BROADCAST, len(raw_topic), len(event), len(meta), _BINARY])
    body: bytes = payload["payload"]
    return header + raw_topic + event + meta + body


class Shared:
    """A serializer that encodes a frame object once for every socket it goes to: one row change or
    broadcast is one `Frame` pushed to many sockets, whose writers ask for it one after the other.
    The last `size` frames are kept (with a reference, so an id is never reused while cached)."""

    def __init__(self, inner: Serializer, size: int = 32) -> None:
        self.inner, self.size = inner, size
        self._encoded: dict[int, tuple[Frame, str | bytes]] = {}

    def decode(self, data: str | bytes) -> Frame:
        return self.inner.decode(data)

    def encode(self, frame: Frame) -> str | bytes:
        hit = self._encoded.get(id(frame))
        if hit is not None and hit[0] is frame:
            return hit[1]
        data = self.inner.encode(frame)
        if len(self._encoded) >= self.size:
            del self._encoded[next(iter(self._encoded))]
        self._encoded[id(frame)] = (frame, data)
        return data


SERIALIZERS: dict[str, Serializer] = {"1.0.0": Shared(JsonObjects()), "2.0.0": Shared(JsonArrays())}


def serializer_for(vsn: str | None) -> Serializer | None:
    """The socket's serializer for `?vsn=` (none given: 1.0.0, as Phoenix); None for an unknown version."""
    return SERIALIZERS.get(vsn or "1.0.0")

"""One joined channel: what its `phx_join` asked for (contract/realtime.md 4.2) and where its frames go."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.realtime.errors import JoinRefused

if TYPE_CHECKING:
    from collections.abc import Callable

    from backstack.core.caller import Caller
    from backstack.realtime.authorization import Decisions
    from backstack.realtime.protocol import Frame

PREFIX = "realtime:"
CHANGE_EVENTS = frozenset({"*", "INSERT", "UPDATE", "DELETE"})
MAX_BINDINGS = 100  # per join: every change is offered to each binding of its table (one socket, 100 channels)


@dataclass(frozen=True, slots=True)
class ChangeBinding:
    """One `postgres_changes` entry of a join, echoed in the reply with its id."""

    id: int
    event: str
    schema: str
    table: str | None
    filter: str | None
    select: tuple[str, ...] | None = None  # the columns of the rows sent (newer clients' option); None: all

    @property
    def every_table(self) -> bool:
        """No table, or `*`: every published table of the schema."""
        return self.table is None or self.table == "*"

    def reply(self) -> dict[str, Any]:
        """The entry as the clients match it: what they sent, byte for byte, and the id (never 0)."""
        entry: dict[str, Any] = {"id": self.id, "event": self.event, "schema": self.schema}
        if self.table is not None:
            entry["table"] = self.table
        if self.filter is not None:
            entry["filter"] = self.filter
        return entry


@dataclass(frozen=True, slots=True)
class JoinConfig:
    broadcast_self: bool = False
    broadcast_ack: bool = False
    presence_enabled: bool = False
    presence_key: str = ""
    private: bool = False
    changes: tuple[ChangeBinding, ...] = ()
    access_token: str | None = None


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name) or {}
    if not isinstance(value, dict):
        raise JoinRefused(f"config.{name} must be an object")
    return value


def _flag(section: dict[str, Any], name: str, where: str) -> bool:
    value = section.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise JoinRefused(f"{where}.{name} must be a boolean")
    return value


def _optional_text(entry: dict[str, Any], name: str) -> str | None:
    value = entry.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise JoinRefused(f"postgres_changes {name} must be a string")
    return value


def _binding(entry: Any) -> ChangeBinding:
    if not isinstance(entry, dict):
        raise JoinRefused("each postgres_changes entry must be an object")
    event = entry.get("event")
    if not isinstance(event, str) or event.upper() not in CHANGE_EVENTS:
        raise JoinRefused("postgres_changes event must be one of *, INSERT, UPDATE, DELETE")
    schema = _optional_text(entry, "schema") or "public"
    table, filter_ = _optional_text(entry, "table"), _optional_text(entry, "filter")
    select = entry.get("select")
    if select is not None and (not isinstance(select, list) or not all(isinstance(c, str) and c for c in select)):
        raise JoinRefused("postgres_changes select must be a list of column names")
    key = json.dumps([event, schema, table, filter_])
    return ChangeBinding(
        zlib.crc32(key) & 0x7FFFFFFF or 1, event, schema, table, filter_, tuple(select) if select else None
    )


def parse_join(payload: dict[str, Any]) -> JoinConfig:
    """The join payload's options; a malformed one is refused with a reason the clients show."""
    config = payload.get("config") or {}
    if not isinstance(config, dict):
        raise JoinRefused("config must be an object")
    broadcast, presence = _section(config, "broadcast"), _section(config, "presence")
    key = presence.get("key") or ""
    if not isinstance(key, str):
        raise JoinRefused("config.presence.key must be a string")
    changes = config.get("postgres_changes") or []
    if not isinstance(changes, list):
        raise JoinRefused("config.postgres_changes must be a list")
    if len(changes) > MAX_BINDINGS:
        raise JoinRefused(f"config.postgres_changes takes at most {MAX_BINDINGS} entries")
    token = payload.get("access_token")
    if token is not None and not isinstance(token, str):
        raise JoinRefused("access_token must be a string")
    return JoinConfig(
        broadcast_self=_flag(broadcast, "self", "config.broadcast"),
        broadcast_ack=_flag(broadcast, "ack", "config.broadcast"),
        presence_enabled=_flag(presence, "enabled", "config.presence"),
        presence_key=key,
        private=_flag(config, "private", "config"),
        changes=tuple(_binding(entry) for entry in changes),
        access_token=token,
    )


@dataclass(slots=True)
class Channel:
    """A socket's membership of a topic (the hub's `Member`)."""

    topic: str
    join_ref: str | None
    owner: str
    config: JoinConfig
    caller: Caller
    presence_key: str
    send: Callable[[Frame], None]
    decisions: Decisions = field(default_factory=dict)  # what the policies said for this channel (authorization.py)
    expiry: Any = field(default=None)  # the timer that closes the channel when its token expires

    @property
    def name(self) -> str:
        """The topic without `realtime:`, as system messages name the channel."""
        return self.topic.removeprefix(PREFIX)

    @property
    def private(self) -> bool:
        return self.config.private

    @property
    def broadcast_self(self) -> bool:
        return self.config.broadcast_self

    @property
    def presence_enabled(self) -> bool:
        return self.config.presence_enabled

    def push(self, frame: Frame) -> None:
        self.send(frame)

"""Realtime's refusals, worded as Supabase Realtime words them (contract/realtime.md)."""

from __future__ import annotations


class JoinRefused(Exception):
    """A `phx_join` answered `{"status": "error", "response": {"reason": ...}}`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


UNMATCHED_TOPIC = "unmatched topic"
TOO_MANY_CHANNELS = "ChannelRateLimitReached: Too many channels"
TOO_MANY_BINDINGS = "ChannelRateLimitReached: Too many postgres_changes bindings on this socket"
TOO_MANY_CONNECTIONS = "ConnectionRateLimitReached: Too many connected users"
PRESENCE_NOT_A_MAP = "Presence track payload must be a map"
TOO_MANY_JOINS = "ClientJoinRateLimitReached: Too many joins per second"
TOO_MANY_MESSAGES = "MessagePerSecondRateLimitReached: Too many messages per second"
TOPIC_REQUIRED = "TopicNameRequired: You must provide a topic name"
MAX_TOPIC = 255  # characters: what supabase-js's binary frames can carry
TOPIC_TOO_LONG = f"InvalidJoinPayload: the topic is longer than {MAX_TOPIC} characters"
QUEUE_FULL = "The client fell too far behind and was disconnected"


def unauthorized_topic(name: str) -> str:
    return f"Unauthorized: You do not have permissions to read from this Channel topic: {name}"


def unauthorized_write(name: str) -> str:
    return f"Unauthorized: You do not have permissions to write to this Channel topic: {name}"


def changes_unavailable(binding: dict[str, object]) -> str:
    """What Supabase says for a binding on a table the `supabase_realtime` publication does not hold."""
    return (
        "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the "
        f"given connect parameters: [event: {binding.get('event')}, schema: {binding.get('schema')}, "
        f"table: {binding.get('table') or '*'}, filters: [{binding.get('filter') or ''}]]"
    )

"""Row changes (`postgres_changes`): filters < subscriptions < payload < dispatcher (reads the outbox, delivers)."""

from backstack.realtime.changes.dispatcher import ChangeDispatcher, Visible

__all__ = ["ChangeDispatcher", "Visible"]

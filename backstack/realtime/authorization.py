"""Who may read and write a private channel (Supabase's Realtime Authorization, contract/realtime.md 4.7).

The service role always may. Anyone else is decided by a `Probe` app.py passes in: on PostgreSQL the
policies on `realtime.messages` (`db/postgres/realtime_messages.py`), asked as Supabase asks them
(read: may the caller see a row of the topic; write: may it insert one). Without a probe (SQLite, for
now) every other role is refused rather than let in. A channel keeps its decisions (`Decisions`) for
its life: Supabase checks at join and when a refreshed token changes who the channel acts as.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from backstack.core.caller import Caller

Access = Literal["read", "write"]
Probe = Callable[["Caller", str, str, Access], Awaitable[bool]]  # (caller, topic name, extension, access)
Decisions = dict[tuple[str, str, str, str, Access], bool]  # (role, sub, topic name, extension, access)
SERVICE_ROLE = "service_role"


class Authorization:
    """Decides private channels with the probe, remembering each decision in the channel's `Decisions`."""

    def __init__(self, probe: Probe | None) -> None:
        self.probe = probe

    async def may(
        self, caller: Caller, name: str, extension: str, access: Access, decisions: Decisions | None = None
    ) -> bool:
        """Whether `caller` may `access` the private channel `name` (the topic without `realtime:`)."""
        if caller.role == SERVICE_ROLE:
            return True
        if self.probe is None:
            return False
        key = (caller.role, caller.uid or "", name, extension, access)
        if decisions is not None and key in decisions:
            return decisions[key]
        allowed = await self.probe(caller, name, extension, access)
        if decisions is not None:
            decisions[key] = allowed
        return allowed

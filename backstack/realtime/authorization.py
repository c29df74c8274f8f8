"""Who may read and write a private channel (Supabase's Realtime Authorization, contract/realtime.md 4.7).

The service role always may. Anyone else is decided by a `Probe` app.py passes in: the policies on
`realtime.messages`, asked as Supabase asks them (read: may the caller see a row of the topic; write:
may it insert one), by each engine its own way (`db.engine.messages_probe`: PostgreSQL's RLS, or on
SQLite the data API's policy service). Without a probe every other role is refused rather than let
in. A channel keeps its decisions (`Decisions`) for its life, each for the exact claims it was asked
with: Supabase checks at join and again at each refreshed token, and a policy may read any claim
(`auth.jwt()`: app_metadata, aal...), not only `role` and `sub`; a refresh with the same claims (the
same token) is not asked again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from backstack.core import json

if TYPE_CHECKING:
    from backstack.core.caller import Caller

Access = Literal["read", "write"]
Probe = Callable[["Caller", str, str, Access], Awaitable[bool]]  # (caller, topic name, extension, access)
Decisions = dict[tuple[str, str, str, str, Access], bool]  # (role, claims JSON, topic name, extension, access)
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
        key = (caller.role, json.dumps_str(caller.claims), name, extension, access)
        if decisions is not None and key in decisions:
            return decisions[key]
        allowed = await self.probe(caller, name, extension, access)
        if decisions is not None:
            decisions[key] = allowed
        return allowed

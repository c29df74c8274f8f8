"""A session as the flows and the token issuer see it: its refresh-token state, level and methods.

How sessions are stored, found, advanced and ended is store/sessions.py's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.auth.core.user import User


@dataclass(slots=True)
class Session:
    """A session row with what the tokens need: counter and key, level, methods."""

    id: str
    user_id: str
    created_at: datetime
    not_after: datetime | None
    refreshed_at: datetime | None
    aal: str
    hmac_key: str | None
    counter: int | None
    amr: list[dict[str, Any]]

    def last_refreshed_at(self) -> datetime:
        """GoTrue's `LastRefreshedAt`: the last refresh, else the creation."""
        return self.refreshed_at or self.created_at


@dataclass(slots=True)
class SessionWithUser:
    session: Session
    user: User

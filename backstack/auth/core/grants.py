"""What a successful sign-in or refresh hands back: the access token, the refresh token and the user.

`issue_grant` turns a user and a session into GoTrue's token response (contract 3.2): an access
token carrying the user's claims and the session's level and methods, and the refresh token for
the session's current counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backstack.auth.core.tokens import AccessTokenClaims, AccessTokens, encode_refresh_token
from backstack.auth.core.user import AUDIENCE, DEFAULT_ROLE, User

if TYPE_CHECKING:
    from datetime import datetime

    from backstack.auth.core.session import Session
    from backstack.auth.core.user import User


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a request came from, recorded on the sessions it creates (as GoTrue does)."""

    user_agent: str | None = None
    ip: str | None = None


@dataclass(slots=True)
class Grant:
    """A signed-in session as the token endpoint returns it (contract 3.2)."""

    access_token: str
    expires_in: int
    expires_at: int
    refresh_token: str
    user: User
    weak_password: list[str] | None = None
    weak_message: str = ""
    provider_token: str = ""  # the external provider's tokens, after an OAuth sign-in (omitted when empty)
    provider_refresh_token: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "user": self.user.to_json(),
        }
        if self.weak_password:
            out["weak_password"] = {"message": self.weak_message, "reasons": self.weak_password}
        if self.provider_token:
            out["provider_token"] = self.provider_token
        if self.provider_refresh_token:
            out["provider_refresh_token"] = self.provider_refresh_token
        return out


def issue_grant(tokens: AccessTokens, user: User, session: Session, now: datetime) -> Grant:
    """The token response for `user` signed in through `session`, issued at `now`."""
    claims = AccessTokenClaims(
        user_id=user.id,
        aud=user.aud or AUDIENCE,
        role=user.role or DEFAULT_ROLE,
        email=user.email,
        phone=user.phone,
        app_metadata=user.app_metadata,
        user_metadata=user.user_metadata,
        is_anonymous=user.is_anonymous,
        session_id=session.id,
        aal=session.aal,
        amr=session.amr,
    )
    issued_at = int(now.timestamp())
    access_token, expires_at = tokens.issue(claims, issued_at)
    refresh_token = encode_refresh_token(session.id, session.counter or 0, session.hmac_key or "")
    return Grant(access_token, expires_at - issued_at, expires_at, refresh_token, user)

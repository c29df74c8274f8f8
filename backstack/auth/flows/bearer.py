"""Who is calling: the user behind an access token (GoTrue's `requireAuthentication`), `GET /user`,
`POST /logout`, and the admin check of the admin endpoints (a `service_role` token)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.user import AUDIENCE
from backstack.auth.store import sessions

if TYPE_CHECKING:
    from backstack.auth.core.tokens import AccessTokens
    from backstack.auth.core.user import User
    from backstack.auth.store.db import AuthDb

_NIL_UUID = "00000000-0000-0000-0000-000000000000"
LOGOUT_SCOPES = ("global", "local", "others")
ADMIN_ROLES = frozenset({"service_role", "supabase_admin"})


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The verified bearer of a user access token."""

    claims: dict[str, Any]
    user: User
    session_id: str | None


class Bearer:
    """Checks access tokens against the sessions and users in the store."""

    def __init__(self, db: AuthDb, tokens: AccessTokens, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.tokens = tokens
        self.clock = clock

    async def authenticate(self, bearer: str | None) -> Authenticated:
        """The user behind an access token, as GoTrue's `requireAuthentication` checks it."""
        if not bearer:
            raise errors.no_authorization()
        claims = self.tokens.verify(bearer)
        user_id = _uuid_claim(claims, "sub")
        if user_id is None:
            raise errors.bad_claim("invalid claim: missing sub claim")
        session_id = _uuid_claim(claims, "session_id")
        if session_id == _NIL_UUID:
            session_id = None
        user, alive = await sessions.find_user_with_session(self.db.engine, self.db.sql, user_id, session_id)
        if user is None:
            raise errors.user_not_found_for_jwt()
        if session_id is not None and not alive:
            raise errors.session_not_found()
        if user.is_banned(self.clock()):
            raise errors.user_banned(status=403)
        return Authenticated(claims, user, session_id)

    async def get_user(self, bearer: str | None) -> User:
        """`GET /user`: the bearer's user, when the token is meant for this audience."""
        auth = await self.authenticate(bearer)
        aud = auth.claims.get("aud")
        first = aud[0] if isinstance(aud, list) and aud else aud
        if first != AUDIENCE:
            raise errors.validation_failed("Token audience doesn't match request audience")
        return auth.user

    async def logout(self, bearer: str | None, scope: str) -> None:
        """`POST /logout`: end this session (`local`), the others (`others`) or all (`global`)."""
        auth = await self.authenticate(bearer)
        if scope not in LOGOUT_SCOPES:
            raise errors.validation_failed(f'Unsupported logout scope "{scope}"')
        engine, sql = self.db.engine, self.db.sql
        if auth.session_id is None or scope == "global":
            await sessions.end_for_user(engine, sql, auth.user.id)
        elif scope == "local":
            await sessions.end(engine, sql, auth.session_id)
        else:
            await sessions.end_for_user(engine, sql, auth.user.id, keep=auth.session_id)

    def require_admin(self, token: str | None) -> dict[str, Any]:
        """The claims of an admin bearer token; 401 without a token, 403 for any other role.

        GoTrue authorises the admin API by the token's role claim, so the service key works as a
        bearer, and a user's own token is answered 403 `not_admin`.
        """
        if not token:
            raise errors.no_authorization()
        claims = self.tokens.verify(token)
        if claims.get("role") not in ADMIN_ROLES:
            raise errors.AuthError(403, "not_admin", "User not allowed")
        return claims


def _uuid_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        status = 400 if name == "sub" else 403
        raise errors.AuthError(status, "bad_jwt", f"invalid claim: {name} claim must be a UUID") from None

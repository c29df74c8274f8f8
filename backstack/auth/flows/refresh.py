"""`POST /token?grant_type=refresh_token`: rotate a session's refresh token (GoTrue's algorithm v2).

The presented token's counter is compared with the session's: equal -> the counter moves one step
and the new token is returned; one behind (the client lost the last answer) or any reuse within
`auth_refresh_token_reuse_interval` seconds of the last refresh (several tabs refreshing at once)
-> the current token is returned again, nothing is minted; further behind -> the session is ended
and `refresh_token_already_used` answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from backstack.auth.core import errors
from backstack.auth.core.grants import issue_grant
from backstack.auth.core.tokens import LEGACY_LENGTH, RefreshToken, parse_refresh_token
from backstack.auth.store import sessions

if TYPE_CHECKING:
    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.core.session import Session
    from backstack.auth.core.tokens import AccessTokens
    from backstack.auth.core.user import User
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings

_LEGACY_TOKEN = re.compile(r"^[a-z0-9]{12}$")
_REFRESH_ATTEMPTS = 8


class Refresh:
    """The refresh grant over the sessions in the store and the token issuer."""

    def __init__(self, db: AuthDb, settings: Settings, tokens: AccessTokens, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.tokens = tokens
        self.clock = clock

    async def __call__(self, token: str, *, client: ClientInfo) -> Grant:
        """The grant for a refresh token (rules in the module docstring)."""
        engine, sql = self.db.engine, self.db.sql
        parsed = _parsed_refresh_token(token)
        for _ in range(_REFRESH_ATTEMPTS):
            found = await sessions.lookup(engine, sql, parsed.session_id)
            session = found.session if found else None
            if found is None or session is None or not session.hmac_key or session.counter is None:
                raise errors.refresh_token_not_found()
            if not parsed.signed_by(session.hmac_key):
                raise errors.refresh_token_not_found()
            now = self.clock()
            _check_refreshable(found.user, session, now)
            behind = session.counter - parsed.counter
            if behind < 0:
                raise errors.refresh_token_not_issued_here()
            if behind == 0:
                if await sessions.advance(engine, sql, session, now, client.user_agent, client.ip):
                    return issue_grant(self.tokens, found.user, session, now)
                continue  # another request moved the counter first: read again, take the reuse path
            if behind == 1 or self._recently_refreshed(session, now):
                return issue_grant(self.tokens, found.user, session, now)
            await sessions.end(engine, sql, session.id)
            raise errors.refresh_token_already_used()
        raise errors.refresh_conflict()

    def _recently_refreshed(self, session: Session, now: datetime) -> bool:
        interval = timedelta(seconds=self.settings.auth_refresh_token_reuse_interval)
        return abs(now - session.last_refreshed_at()) < interval


def _check_refreshable(user: User, session: Session, now: datetime) -> None:
    if user.is_banned(now):
        raise errors.user_banned("Invalid Refresh Token: User Banned")
    if session.not_after is not None and now > session.not_after:
        raise errors.session_expired()


def _parsed_refresh_token(token: str) -> RefreshToken:
    """The parsed token, or GoTrue's error for a missing or malformed one."""
    if not token:
        raise errors.refresh_token_required()
    if len(token) < LEGACY_LENGTH:
        raise errors.invalid_refresh_token_format()
    if len(token) == LEGACY_LENGTH:
        # GoTrue's first-generation tokens (rows in auth.refresh_tokens) are not issued here.
        if _LEGACY_TOKEN.match(token) is None:
            raise errors.invalid_refresh_token_format()
        raise errors.refresh_token_not_found()
    parsed = parse_refresh_token(token)
    if parsed is None:
        raise errors.invalid_refresh_token_format()
    return parsed

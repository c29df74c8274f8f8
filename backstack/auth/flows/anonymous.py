"""Anonymous sign-in: `POST /signup` without email or phone (GoTrue's `SignupAnonymously`).

Off by default, as in GoTrue (`GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED=false`): an open endpoint
that creates a user per call is something a project should choose. `auth_anonymous_users = true`
turns it on. The user has no email, phone, password or identity, `is_anonymous: true`,
`app_metadata: {"provider": "anonymous", "providers": ["anonymous"]}` and role `authenticated`;
the session's `amr` is `anonymous`. It becomes a permanent user when an email is added
(`PUT /user`, or the admin API).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.grants import issue_grant
from backstack.auth.core.user import User
from backstack.auth.store import sessions, users

if TYPE_CHECKING:
    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.core.tokens import AccessTokens
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings

PROVIDER = "anonymous"


class AnonymousSignIn:
    """Creates anonymous users and their first session."""

    def __init__(self, db: AuthDb, settings: Settings, tokens: AccessTokens, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.tokens = tokens
        self.clock = clock

    async def __call__(self, data: dict[str, Any], client: ClientInfo) -> Grant:
        """A new anonymous user and its first session; 422 `anonymous_provider_disabled` when off."""
        if not self.settings.auth_anonymous_users:
            raise errors.anonymous_provider_disabled()
        now = self.clock()
        user = User.new(
            now,
            encrypted_password="",
            last_sign_in_at=now,
            app_metadata={"provider": PROVIDER, "providers": [PROVIDER]},
            user_metadata=dict(data),
            is_anonymous=True,
        )
        async with self.db.engine.transaction() as conn:
            await users.insert_user(conn, self.db.sql, user)
            session = await sessions.create(
                conn, self.db.sql, user, method=PROVIDER, now=now, user_agent=client.user_agent, ip=client.ip
            )
        return issue_grant(self.tokens, user, session, now)

"""Anonymous sign-in: `POST /signup` without email or phone (GoTrue's `SignupAnonymously`).

Off by default, as in GoTrue (`GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED=false`): an open endpoint
that creates a user per call is something a project should choose. `auth_anonymous_users = true`
turns it on. The user has no email, phone, password or identity, `is_anonymous: true`,
`app_metadata: {"provider": "anonymous", "providers": ["anonymous"]}` and role `authenticated`;
the session's `amr` is `anonymous`. It becomes a permanent user when an email is added
(`PUT /user`, or the admin API).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.grants import issue_grant
from backstack.auth.store import sessions, users
from backstack.auth.store.users import User

if TYPE_CHECKING:
    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.service import AuthService

PROVIDER = "anonymous"


async def sign_in_anonymously(service: AuthService, data: dict[str, Any], client: ClientInfo) -> Grant:
    """A new anonymous user and its first session; 422 `anonymous_provider_disabled` when off."""
    if not service.settings.auth_anonymous_users:
        raise errors.anonymous_provider_disabled()
    now = service.clock()
    user = User(
        id=str(uuid.uuid4()),
        aud=users.AUDIENCE,
        role=users.DEFAULT_ROLE,
        email="",
        encrypted_password="",
        email_confirmed_at=None,
        invited_at=None,
        phone="",
        phone_confirmed_at=None,
        confirmation_sent_at=None,
        recovery_sent_at=None,
        new_email="",
        email_change_sent_at=None,
        new_phone="",
        phone_change_sent_at=None,
        reauthentication_sent_at=None,
        last_sign_in_at=now,
        app_metadata={"provider": PROVIDER, "providers": [PROVIDER]},
        user_metadata=dict(data),
        created_at=now,
        updated_at=now,
        is_anonymous=True,
    )
    async with service.engine.transaction() as conn:
        await users.insert_user(conn, service.sql, user)
        session = await sessions.create(
            conn, service.sql, user, method=PROVIDER, now=now, user_agent=client.user_agent, ip=client.ip
        )
    return issue_grant(service.tokens, user, session, now)

"""`POST /token?grant_type=password`: check the password, open a session (GoTrue's password grant).

The password is verified even for unknown users (against a dummy hash), so timing does not reveal
which addresses have accounts; the hash runs before any transaction is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from backstack.auth.core import errors
from backstack.auth.core.grants import issue_grant
from backstack.auth.core.passwords import MAX_PASSWORD_LENGTH, weak_message, weak_reasons
from backstack.auth.store import sessions, users

if TYPE_CHECKING:
    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.core.passwords import Passwords
    from backstack.auth.core.tokens import AccessTokens
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings


class PasswordSignIn:
    """The password grant over the store, the password hasher and the token issuer."""

    def __init__(
        self,
        db: AuthDb,
        settings: Settings,
        passwords: Passwords,
        tokens: AccessTokens,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.settings = settings
        self.passwords = passwords
        self.tokens = tokens
        self.clock = clock

    async def __call__(self, email: str, phone: str, password: str, *, client: ClientInfo) -> Grant:
        """`grant_type=password`: check the password, open a session."""
        if email and phone:
            raise errors.validation_failed("Only an email address or phone number should be provided on login.")
        if phone:
            raise errors.phone_provider_disabled("Phone logins are disabled")
        if not email:
            raise errors.validation_failed("missing email or phone")
        user = await users.find_by_email(self.db.engine, self.db.sql, email.strip().lower())
        if len(password) > MAX_PASSWORD_LENGTH:
            raise errors.invalid_credentials()
        # Verified even for unknown users (a dummy hash), so timing does not reveal accounts.
        verification = await self.passwords.verify(user.encrypted_password if user else None, password)
        if user is None or not verification.ok:
            raise errors.invalid_credentials()
        now = self.clock()
        if user.is_banned(now):
            raise errors.user_banned()
        if not user.is_confirmed:
            raise errors.email_not_confirmed()
        async with self.db.engine.transaction() as conn:
            await users.record_sign_in(conn, self.db.sql, user, now, verification.new_hash)
            session = await sessions.create(
                conn, self.db.sql, user, method="password", now=now, user_agent=client.user_agent, ip=client.ip
            )
        grant = issue_grant(self.tokens, user, session, now)
        min_length = self.settings.auth_password_min_length
        grant.weak_password = weak_reasons(password, min_length) or None
        grant.weak_message = weak_message(min_length) if grant.weak_password else ""
        return grant

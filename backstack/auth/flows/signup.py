"""`POST /signup`: a new email user (GoTrue's `Signup`), or an anonymous one without email and phone.

Password work (hash) runs before any transaction is opened, so a slow hash never holds the SQLite
writer or a PostgreSQL connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.grants import ClientInfo, Grant, issue_grant
from backstack.auth.core.passwords import check_new_password
from backstack.auth.core.redirects import redirect_target
from backstack.auth.core.user import User, new_email_user, obfuscated_user, validated_email
from backstack.auth.store import sessions, users
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from backstack.auth.core.passwords import Passwords
    from backstack.auth.core.pkce import Challenge
    from backstack.auth.core.tokens import AccessTokens
    from backstack.auth.flows.anonymous import AnonymousSignIn
    from backstack.auth.mail.outbox import Outbox
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings


@dataclass(frozen=True, slots=True)
class SignUpRequest:
    """The body of `POST /signup` (and its `redirect_to`)."""

    email: str
    password: str
    data: dict[str, Any] = field(default_factory=dict)
    phone: str = ""
    client: ClientInfo = field(default_factory=ClientInfo)
    redirect_to: str = ""
    challenge: Challenge | None = None


class SignUp:
    """GoTrue's sign-up rules over the store, the password hasher and the outbox."""

    def __init__(
        self,
        db: AuthDb,
        settings: Settings,
        passwords: Passwords,
        tokens: AccessTokens,
        outbox: Outbox,
        anonymous: AnonymousSignIn,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.settings = settings
        self.passwords = passwords
        self.tokens = tokens
        self.outbox = outbox
        self.anonymous = anonymous
        self.clock = clock

    async def __call__(self, request: SignUpRequest) -> Grant | dict[str, Any]:
        """A new email user: a `Grant` when no confirmation is required, else the bare user (JSON).

        While confirmation is required the confirmation mail goes out (link to `redirect_to`, if allowed;
        a PKCE link when the client sent a code `challenge`).
        """
        redirect_to = redirect_target(self.settings, request.redirect_to)
        email, phone, password = request.email, request.phone, request.password
        if self.settings.auth_disable_signup:
            raise errors.signup_disabled()
        if not email and not phone:
            return await self.anonymous(request.data, request.client)
        if not password:
            raise errors.validation_failed("Signup requires a valid password")
        check_new_password(password, self.settings.auth_password_min_length)
        if email and phone:
            raise errors.validation_failed("Only an email address or phone number should be provided on signup.")
        if phone:
            raise errors.phone_provider_disabled("Phone signups are disabled")
        email = validated_email(email)
        existing = await users.find_by_email(self.db.engine, self.db.sql, email)
        if existing is not None:
            return await self._repeated(existing, request.data, redirect_to, request.challenge)
        password_hash = await self.passwords.hash(password)
        try:
            return await self._create(email, password_hash, request, redirect_to)
        except DatabaseError as exc:
            if exc.code != "23505":  # someone registered the address meanwhile
                raise
            existing = await users.find_by_email(self.db.engine, self.db.sql, email)
            if existing is None:
                raise
            return await self._repeated(existing, request.data, redirect_to, request.challenge)

    async def _create(
        self, email: str, password_hash: str, request: SignUpRequest, redirect_to: str
    ) -> Grant | dict[str, Any]:
        now = self.clock()
        confirmed = not self.settings.auth_email_confirm
        user = new_email_user(email, password_hash, request.data, confirmed=confirmed, now=now)
        if confirmed:
            user.last_sign_in_at = now
        client = request.client
        async with self.db.engine.transaction() as conn:
            await users.insert_user(conn, self.db.sql, user)
            session = None
            if confirmed:
                session = await sessions.create(
                    conn, self.db.sql, user, method="password", now=now, user_agent=client.user_agent, ip=client.ip
                )
        if session is None:
            await self.outbox.mail(user, "confirmation", redirect_to, now, challenge=request.challenge)
            return user.to_json()
        return issue_grant(self.tokens, user, session, now)

    async def _repeated(
        self, existing: User, data: dict[str, Any], redirect_to: str, challenge: Challenge | None
    ) -> dict[str, Any]:
        """A sign-up for a registered address.

        With autoconfirm GoTrue answers 422 `user_already_exists`; while confirmation is required it
        answers 200 with an obfuscated user, so the address's registration is not revealed. GoTrue
        would also confirm an *unconfirmed* existing user and sign the caller in without checking
        the password when autoconfirm is on; we answer `user_already_exists` instead, since that
        would hand the account to whoever signs up second.
        """
        now = self.clock()
        if not self.settings.auth_email_confirm:
            raise errors.user_already_exists()
        if existing.is_confirmed:
            return obfuscated_user(existing.email, data, now)
        await self.outbox.mail(existing, "confirmation", redirect_to, now, challenge=challenge)  # GoTrue sends it again
        return existing.to_json()

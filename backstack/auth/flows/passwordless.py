"""`POST /otp` (and legacy `/magiclink`) with an email: a magic link and code, creating the user when allowed.

/otp creates the user when `create_user` is true (so it reveals nothing); with `create_user: false`
an unknown address gets 422 `otp_disabled`, exactly what GoTrue reveals. New or unconfirmed users
asking for a magic link get the sign-up confirmation mail instead when confirmation is on (it
carries a link and a code too, and `verifyOtp({type: "email"})` accepts either), as GoTrue's
MagicLink handler does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.user import new_passwordless_user, validated_email
from backstack.auth.store import users

if TYPE_CHECKING:
    from backstack.auth.core.pkce import Challenge
    from backstack.auth.mail.outbox import Outbox
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings


@dataclass(frozen=True, slots=True)
class OtpRequest:
    """The body of `POST /otp` (and its `redirect_to`)."""

    email: str
    phone: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    create_user: bool = True
    redirect_to: str = ""
    challenge: Challenge | None = None


class Passwordless:
    """Mails magic links and codes to existing or new users."""

    def __init__(self, db: AuthDb, settings: Settings, outbox: Outbox, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.outbox = outbox
        self.clock = clock

    async def send_otp(self, request: OtpRequest) -> None:
        """POST /otp with an email: a magic link (+ code), creating the user when allowed."""
        email, phone = request.email, request.phone
        if email and phone:
            raise errors.validation_failed("Only an email address or phone number should be provided")
        if phone:
            raise errors.AuthError(400, "phone_provider_disabled", "Unsupported phone provider")
        if not email:
            raise errors.validation_failed("One of email or phone must be set")
        email = validated_email(email.strip())
        engine, sql = self.db.engine, self.db.sql
        user = await users.find_by_email(engine, sql, email)
        if user is None and not request.create_user:
            raise errors.AuthError(422, "otp_disabled", "Signups not allowed for otp")
        now = self.clock()
        confirm = self.settings.auth_email_confirm
        if user is None:
            if self.settings.auth_disable_signup:
                raise errors.signup_disabled()
            new = new_passwordless_user(email, request.data, confirmed=not confirm, now=now)
            user = await users.insert_new(engine, sql, new)
        kind = "confirmation" if confirm and not user.is_confirmed else "magic_link"
        await self.outbox.mail(user, kind, request.redirect_to, now, challenge=request.challenge)

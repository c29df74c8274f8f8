"""`POST /recover` and `POST /resend`: a password-reset mail, or the confirmation / email-change mail again.

Both answer `{}` whether or not the address is registered (as GoTrue), so they reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from backstack.auth.core import errors
from backstack.auth.core.user import validated_email
from backstack.auth.store import users

if TYPE_CHECKING:
    from backstack.auth.core.pkce import Challenge
    from backstack.auth.flows.email_change import EmailChange
    from backstack.auth.mail.outbox import Outbox
    from backstack.auth.store.db import AuthDb

RESEND_TYPES = ("signup", "email_change", "sms", "phone_change")


class Recovery:
    """Mails recovery links and resends pending confirmations."""

    def __init__(self, db: AuthDb, outbox: Outbox, email_change: EmailChange, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.outbox = outbox
        self.email_change = email_change
        self.clock = clock

    async def recover(self, email: str, redirect_to: str, *, challenge: Challenge | None = None) -> None:
        """POST /recover: a password-reset mail when the address is registered; silence otherwise."""
        if not email:
            raise errors.validation_failed("Password recovery requires an email")
        email = validated_email(email.strip())
        user = await users.find_by_email(self.db.engine, self.db.sql, email)
        if user is None:
            return
        await self.outbox.mail(user, "recovery", redirect_to, self.clock(), challenge=challenge)

    async def resend(self, resend_type: str, email: str, phone: str, redirect_to: str) -> None:
        """POST /resend: the confirmation or email-change mail again, when one is pending."""
        if resend_type not in RESEND_TYPES:
            raise errors.validation_failed("Missing one of these types: signup, email_change, sms, phone_change")
        if not email and resend_type == "signup":
            raise errors.validation_failed("Type provided requires an email address")
        if not phone and resend_type == "sms":
            raise errors.validation_failed("Type provided requires a phone number")
        if email and phone:
            raise errors.validation_failed("Only an email address or phone number should be provided.")
        if phone:
            raise errors.AuthError(400, "phone_provider_disabled", "Phone logins are disabled")
        if not email:
            raise errors.validation_failed("Missing email address or phone number")
        email = validated_email(email.strip())
        user = await users.find_by_email(self.db.engine, self.db.sql, email)
        if user is None:
            return
        if resend_type == "signup":
            if user.is_confirmed:
                return
            await self.outbox.mail(user, "confirmation", redirect_to, self.clock())
        elif resend_type == "email_change":
            if not user.new_email:
                return
            await self.email_change.send(user, user.new_email, redirect_to)

"""The admin's mail flows: `POST /invite` and `POST /admin/generate_link` (GoTrue's handlers of those names).

The api layer checks the caller's `service_role` token first (`Bearer.require_admin`). An invite
creates the user unconfirmed and mails a link; generate_link makes the same token and link but
hands them to the caller instead of mailing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.errors import email_exists
from backstack.auth.core.passwords import check_new_password
from backstack.auth.core.user import new_email_user, new_passwordless_user, validated_email
from backstack.auth.store import users
from backstack.auth.store.user_writes import reload

if TYPE_CHECKING:
    from backstack.auth.core.passwords import Passwords
    from backstack.auth.core.user import User
    from backstack.auth.mail.outbox import Issued, Outbox
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings

LINK_TYPES = {
    "signup": "confirmation",
    "invite": "invite",
    "magiclink": "magic_link",
    "recovery": "recovery",
}


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """The body of `POST /admin/generate_link`."""

    type: str
    email: str
    new_email: str
    password: str
    data: dict[str, Any]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> LinkRequest:
        link_type = body.get("type") or ""
        email = body.get("email") or ""
        new_email = body.get("new_email") or ""
        password = body.get("password") or ""
        data = body.get("data") or {}
        if not all(isinstance(v, str) for v in (link_type, email, new_email, password)) or not isinstance(data, dict):
            raise errors.bad_json("type, email, new_email and password must be strings, data an object")
        return cls(link_type, email, new_email, password, data)


class AdminLinks:
    """Invites and generated links over the store, the password hasher and the outbox."""

    def __init__(
        self, db: AuthDb, settings: Settings, passwords: Passwords, outbox: Outbox, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.settings = settings
        self.passwords = passwords
        self.outbox = outbox
        self.clock = clock

    async def invite(self, email: str, data: dict[str, Any], redirect_to: str) -> User:
        """POST /invite (service_role): create the user unconfirmed and mail an invite link."""
        if not email:
            raise errors.validation_failed("Unable to validate email address: invalid format")
        email = validated_email(email.strip())
        now = self.clock()
        user = await users.find_by_email(self.db.engine, self.db.sql, email)
        if user is not None and user.is_confirmed:
            raise email_exists()
        if user is None:
            new = new_passwordless_user(email, data, confirmed=False, now=now)
            user = await users.insert_new(self.db.engine, self.db.sql, new)
            if user.is_confirmed:
                raise email_exists()
        await self.outbox.mail(user, "invite", redirect_to, now)
        return user

    async def generate_link(self, request: LinkRequest, redirect_to: str) -> dict[str, Any]:
        """POST /admin/generate_link (service_role): a token and its link, returned instead of mailed."""
        link_type, password = request.type, request.password
        email = validated_email(request.email.strip())
        now = self.clock()
        engine, sql = self.db.engine, self.db.sql
        user = await users.find_by_email(engine, sql, email)
        if link_type not in (*LINK_TYPES, "email_change_current", "email_change_new"):
            raise errors.validation_failed(f"Invalid email action link type requested: {link_type}")
        if user is None:
            if link_type == "magiclink":
                link_type = "signup"
                password = ""
            elif link_type in ("recovery", "email_change_current", "email_change_new"):
                raise errors.AuthError(404, "user_not_found", "User with this email not found")
        if link_type == "signup" and user is None:
            user = await self._new_signup_user(email, password, request.data, now)
        elif link_type == "invite" and user is None:
            new = new_passwordless_user(email, request.data, confirmed=False, now=now)
            user = await users.insert_new(engine, sql, new)
        assert user is not None
        if link_type in ("signup", "invite") and user.is_confirmed:
            raise email_exists()
        if link_type.startswith("email_change"):
            return await self._email_change_link(user, link_type, request.new_email, redirect_to, now)
        async with engine.transaction() as conn:
            issued = await self.outbox.issue(conn, user, LINK_TYPES[link_type], redirect_to, now)
            user = await reload(conn, sql, user.id)
        return _link_json(user, issued, link_type, redirect_to)

    async def _new_signup_user(self, email: str, password: str, data: dict[str, Any], now: datetime) -> User:
        if password:
            check_new_password(password, self.settings.auth_password_min_length)
            user = new_email_user(email, await self.passwords.hash(password), data, confirmed=False, now=now)
        else:
            user = new_passwordless_user(email, data, confirmed=False, now=now)
        # GoTrue's adminGenerateLink stores `data` as the metadata, as given: unlike /signup, it does not
        # copy the identity's claims (sub, email, email_verified, phone_verified) into it
        user.user_metadata = dict(data)
        return await users.insert_new(self.db.engine, self.db.sql, user)

    async def _email_change_link(
        self, user: User, link_type: str, new_email: str, redirect_to: str, now: datetime
    ) -> dict[str, Any]:
        secure = self.settings.auth_secure_email_change
        if not secure and link_type == "email_change_current":
            raise errors.validation_failed("Enable secure email change to generate link for current email")
        new_email = validated_email(new_email.strip())
        other = await users.find_by_email(self.db.engine, self.db.sql, new_email)
        if other is not None and other.id != user.id:
            raise email_exists()
        # Only the asked-for token: a current-address link still needs the new address's confirmation too
        # (its token is made but not returned); a new-address link alone completes the change.
        async with self.db.engine.transaction() as conn:
            current, new = await self.outbox.issue_email_change(
                conn,
                user,
                new_email,
                redirect_to,
                now,
                secure=link_type == "email_change_current",
                clear_current=user.new_email != new_email,
            )
            user = await reload(conn, self.db.sql, user.id)
        issued = current if link_type == "email_change_current" and current is not None else new
        return _link_json(user, issued, link_type, redirect_to)


def _link_json(user: User, issued: Issued, link_type: str, redirect_to: str) -> dict[str, Any]:
    return {
        **user.to_json(),
        "action_link": issued.link,
        "email_otp": issued.otp,
        "hashed_token": issued.hashed,
        "verification_type": link_type,
        "redirect_to": redirect_to,
    }

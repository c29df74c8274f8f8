"""`PUT /user` (email, password, data) and `GET /reauthenticate`, with GoTrue's rules.

- `data` merges into `user_metadata` (a null value removes the key); `app_metadata` is refused
  (403 `not_admin`), as are role or other server fields, which are simply not read.
- `password`: strength rules as at sign-up (422 `weak_password`), 422 `same_password` when it is
  the current one; with `auth_password_change_needs_reauthentication` a session older than 24 h
  must bring the `nonce` mailed by /reauthenticate; with
  `auth_password_change_needs_current_password` it must bring `current_password` unless the session
  was opened by an emailed code or link (the recovery path). A new password ends the user's other
  sessions.
- `email`: a different address starts an email change: 422 `email_exists` when taken; mails to
  the current address (secure email change) and the new one; applied by /verify. Anonymous users
  without confirmation required get the address at once (GoTrue's rule).
- Users with a verified MFA factor need an aal2 session to change email or password.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.errors import email_exists
from backstack.auth.core.passwords import check_new_password
from backstack.auth.core.user import User, validated_email
from backstack.auth.store import onetime, sessions, user_writes, users

if TYPE_CHECKING:
    from backstack.auth.core.passwords import Passwords
    from backstack.auth.core.pkce import Challenge
    from backstack.auth.flows.bearer import Authenticated
    from backstack.auth.flows.email_change import EmailChange
    from backstack.auth.mail.outbox import Outbox
    from backstack.auth.store.db import AuthDb
    from backstack.auth.store.onetime import TokenHasher
    from backstack.config import Settings

INVALID_NONCE = "Nonce has expired or is invalid"
_REAUTH_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class UserUpdate:
    """The body of `PUT /user`; None = not given."""

    email: str | None = None
    password: str | None = None
    data: dict[str, Any] | None = None
    nonce: str = ""
    current_password: str | None = None
    phone: str = ""
    app_metadata_sent: bool = False
    redirect_to: str = ""
    challenge: Challenge | None = None


def _signed_in_by_email_code(auth: Authenticated) -> bool:
    amr = auth.claims.get("amr")
    methods = [entry.get("method") for entry in amr if isinstance(entry, dict)] if isinstance(amr, list) else []
    return any(m in ("otp", "recovery", "magiclink") for m in methods)


class Account:
    """The signed-in user's own changes over the store, passwords, one-time tokens and mail."""

    def __init__(
        self,
        db: AuthDb,
        settings: Settings,
        passwords: Passwords,
        hasher: TokenHasher,
        outbox: Outbox,
        email_change: EmailChange,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.settings = settings
        self.passwords = passwords
        self.hasher = hasher
        self.outbox = outbox
        self.email_change = email_change
        self.clock = clock

    async def update_user(self, auth: Authenticated, change: UserUpdate) -> User:
        """PUT /user: the updated user (bare user JSON in the answer)."""
        user = auth.user
        if change.app_metadata_sent:
            raise errors.AuthError(403, "not_admin", "Updating app_metadata requires admin privileges")
        email = validated_email(change.email.strip()) if change.email else change.email
        changing_email = bool(email) and email != user.email
        await self._check_update(auth, change, email, changing_email)
        now = self.clock()
        nonce_token: onetime.OneTimeToken | None = None
        new_hash: str | None = None
        if change.password is not None:
            if self.settings.auth_password_change_needs_reauthentication:
                nonce_token = await self._nonce_if_needed(auth, change.nonce)
            new_hash = await self._new_password_hash(auth, change.password, change.current_password)
        autoconfirm_email = changing_email and user.is_anonymous and not self.settings.auth_email_confirm
        engine, sql = self.db.engine, self.db.sql
        async with engine.transaction() as conn:
            if nonce_token is not None and not await onetime.redeem(conn, sql, nonce_token):
                raise errors.AuthError(422, "reauthentication_not_valid", INVALID_NONCE)
            if new_hash is not None:
                await user_writes.set_password(conn, sql, user, new_hash, now)
                if nonce_token is not None:
                    await user_writes.clear_reauthentication(conn, sql, user.id)
            if change.data is not None:
                await user_writes.merge_user_metadata(conn, sql, user, change.data, now)
            if autoconfirm_email:
                user.new_email = email or ""
                await user_writes.apply_email_change(conn, sql, user, now)
            user = await user_writes.reload(conn, sql, user.id)
        if changing_email and not autoconfirm_email:
            await self.email_change.send(user, email or "", change.redirect_to, challenge=change.challenge)
            user = await users.find_by_id(engine, sql, user.id) or user
        if new_hash is not None:
            await sessions.end_for_user(engine, sql, user.id, keep=auth.session_id)
        return user

    async def _check_update(self, auth: Authenticated, change: UserUpdate, email: str | None, changing: bool) -> None:
        """GoTrue's refusals of a PUT /user, before anything is written."""
        user = auth.user
        if change.phone and change.phone != user.phone:
            raise errors.AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
        verified_factors = [f for f in user.factors if f.get("status") == "verified"]
        if verified_factors and auth.claims.get("aal") != "aal2" and (change.password or changing):
            raise errors.AuthError(
                401, "insufficient_aal", "AAL2 session is required to update email or password when MFA is enabled."
            )
        if user.is_anonymous and change.password and not email:
            raise errors.validation_failed(
                "Updating password of an anonymous user without an email or phone is not allowed", status=422
            )
        if changing:
            other = await users.find_by_email(self.db.engine, self.db.sql, email or "")
            if other is not None and other.id != user.id:
                raise email_exists()

    async def _new_password_hash(self, auth: Authenticated, password: str, current_password: str | None) -> str:
        """The hash of a new password, once it passes the strength, current-password and same-password rules."""
        user = auth.user
        check_new_password(password, self.settings.auth_password_min_length)
        if user.encrypted_password:
            if self.settings.auth_password_change_needs_current_password and not _signed_in_by_email_code(auth):
                if not current_password:
                    raise errors.AuthError(
                        400, "current_password_required", "Current password required when setting new password."
                    )
                if not (await self.passwords.verify(user.encrypted_password, current_password)).ok:
                    raise errors.AuthError(
                        400, "current_password_mismatch", "Current password required when setting new password."
                    )
            if (await self.passwords.verify(user.encrypted_password, password)).ok:
                raise errors.AuthError(422, "same_password", "New password should be different from the old password.")
        return await self.passwords.hash(password)

    async def _nonce_if_needed(self, auth: Authenticated, nonce: str) -> onetime.OneTimeToken | None:
        """The reauthentication token to redeem, when the session is older than 24 hours (GoTrue's rule)."""
        created = None
        if auth.session_id is not None:
            found = await sessions.lookup(self.db.engine, self.db.sql, auth.session_id)
            created = found.session.created_at if found else None
        now = self.clock()
        if created is not None and now <= created + _REAUTH_WINDOW:
            return None
        if not nonce:
            raise errors.AuthError(400, "reauthentication_needed", "Password update requires reauthentication")
        user = auth.user
        if not user.email:
            message = "Reauthentication requires an email or a phone number"
            raise errors.AuthError(422, "reauthentication_not_valid", message)
        token = await onetime.check_code(
            self.db.engine, self.db.sql, self.hasher, user.email, nonce, (onetime.REAUTHENTICATION,)
        )
        if token is None or token.user_id != user.id or token.expired(now, self.settings.auth_otp_expiry):
            raise errors.AuthError(422, "reauthentication_not_valid", INVALID_NONCE)
        return token

    async def reauthenticate(self, auth: Authenticated) -> None:
        """GET /reauthenticate: mail the signed-in user a nonce for a password change."""
        user = auth.user
        if not user.email:
            raise errors.validation_failed("Reauthentication requires the user to have an email or a phone number")
        if not user.is_confirmed:
            raise errors.AuthError(422, "email_not_confirmed", "Please verify your email first.")
        await self.outbox.mail(user, "reauthentication", "", self.clock())

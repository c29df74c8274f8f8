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

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.passwords import MAX_PASSWORD_LENGTH, weak_message, weak_reasons
from backstack.auth.core.user import User, validated_email
from backstack.auth.flows.passwordless import email_exists, send_email_change
from backstack.auth.store import onetime, sessions, user_writes, users

if TYPE_CHECKING:
    from backstack.auth.core.user import User
    from backstack.auth.service import Authenticated, AuthService
    from backstack.auth.store.flow_state import Challenge

INVALID_NONCE = "Nonce has expired or is invalid"
_REAUTH_WINDOW = timedelta(hours=24)


def _password_checks(service: AuthService, password: str) -> None:
    if len(password) > MAX_PASSWORD_LENGTH:
        raise errors.validation_failed(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
    min_length = service.settings.auth_password_min_length
    reasons = weak_reasons(password, min_length)
    if reasons:
        raise errors.weak_password(weak_message(min_length), reasons)


def _signed_in_by_email_code(auth: Authenticated) -> bool:
    amr = auth.claims.get("amr")
    methods = [entry.get("method") for entry in amr if isinstance(entry, dict)] if isinstance(amr, list) else []
    return any(m in ("otp", "recovery", "magiclink") for m in methods)


async def update_user(
    service: AuthService,
    bearer: str | None,
    *,
    email: str | None,
    password: str | None,
    data: dict[str, Any] | None,
    nonce: str,
    current_password: str | None,
    phone: str,
    app_metadata_sent: bool,
    redirect_to: str,
    challenge: Challenge | None = None,
) -> User:
    """PUT /user: the updated user (bare user JSON in the answer)."""
    auth = await service.authenticate(bearer)
    user = auth.user
    if app_metadata_sent:
        raise errors.AuthError(403, "not_admin", "Updating app_metadata requires admin privileges")
    if email:
        email = validated_email(email.strip())
    changing_email = bool(email) and email != user.email
    if phone and phone != user.phone:
        raise errors.AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
    verified_factors = [f for f in user.factors if f.get("status") == "verified"]
    if verified_factors and auth.claims.get("aal") != "aal2" and (password or changing_email):
        raise errors.AuthError(
            401, "insufficient_aal", "AAL2 session is required to update email or password when MFA is enabled."
        )
    if user.is_anonymous and password and not email:
        raise errors.validation_failed(
            "Updating password of an anonymous user without an email or phone is not allowed", status=422
        )
    if changing_email:
        other = await users.find_by_email(service.engine, service.sql, email or "")
        if other is not None and other.id != user.id:
            raise email_exists()

    now = service.clock()
    nonce_token: onetime.OneTimeToken | None = None
    new_hash: str | None = None
    if password is not None:
        if service.settings.auth_password_change_needs_reauthentication:
            nonce_token = await _nonce_if_needed(service, auth, nonce)
        _password_checks(service, password)
        if user.encrypted_password:
            if service.settings.auth_password_change_needs_current_password and not _signed_in_by_email_code(auth):
                if not current_password:
                    raise errors.AuthError(
                        400, "current_password_required", "Current password required when setting new password."
                    )
                if not (await service.passwords.verify(user.encrypted_password, current_password)).ok:
                    raise errors.AuthError(
                        400, "current_password_mismatch", "Current password required when setting new password."
                    )
            if (await service.passwords.verify(user.encrypted_password, password)).ok:
                raise errors.AuthError(422, "same_password", "New password should be different from the old password.")
        new_hash = await service.passwords.hash(password)

    autoconfirm_email = changing_email and user.is_anonymous and not service.settings.auth_email_confirm
    async with service.engine.transaction() as conn:
        if nonce_token is not None and not await onetime.redeem(conn, service.sql, nonce_token):
            raise errors.AuthError(422, "reauthentication_not_valid", INVALID_NONCE)
        if new_hash is not None:
            await user_writes.set_password(conn, service.sql, user, new_hash, now)
            if nonce_token is not None:
                await conn.execute(
                    service.sql("update auth.users set reauthentication_sent_at = null where id = ?"), (user.id,)
                )
        if data is not None:
            await user_writes.merge_user_metadata(conn, service.sql, user, data, now)
        if autoconfirm_email:
            user.new_email = email or ""
            await user_writes.apply_email_change(conn, service.sql, user, now)
        user = await user_writes.reload(conn, service.sql, user.id)
    if changing_email and not autoconfirm_email:
        await send_email_change(service, user, email or "", redirect_to, challenge=challenge)
        user = await users.find_by_id(service.engine, service.sql, user.id) or user
    if new_hash is not None:
        if auth.session_id is not None:
            await sessions.end_for_user(service.engine, service.sql, user.id, keep=auth.session_id)
        else:
            await sessions.end_for_user(service.engine, service.sql, user.id)
    return user


async def _nonce_if_needed(service: AuthService, auth: Authenticated, nonce: str) -> onetime.OneTimeToken | None:
    """The reauthentication token to redeem, when the session is older than 24 hours (GoTrue's rule)."""
    created = None
    if auth.session_id is not None:
        found = await sessions.lookup(service.engine, service.sql, auth.session_id)
        created = found.session.created_at if found else None
    now = service.clock()
    if created is not None and now <= created + _REAUTH_WINDOW:
        return None
    if not nonce:
        raise errors.AuthError(400, "reauthentication_needed", "Password update requires reauthentication")
    user = auth.user
    if not user.email:
        message = "Reauthentication requires an email or a phone number"
        raise errors.AuthError(422, "reauthentication_not_valid", message)
    token = await onetime.check_code(
        service.engine, service.sql, service.token_hasher, user.email, nonce, (onetime.REAUTHENTICATION,)
    )
    if token is None or token.user_id != user.id or token.expired(now, service.settings.auth_otp_expiry):
        raise errors.AuthError(422, "reauthentication_not_valid", INVALID_NONCE)
    return token


async def reauthenticate(service: AuthService, bearer: str | None) -> None:
    """GET /reauthenticate: mail the signed-in user a nonce for a password change."""
    auth = await service.authenticate(bearer)
    user = auth.user
    if not user.email:
        raise errors.validation_failed("Reauthentication requires the user to have an email or a phone number")
    if not user.is_confirmed:
        raise errors.AuthError(422, "email_not_confirmed", "Please verify your email first.")
    await service.outbox.mail(user, "reauthentication", "", service.clock())

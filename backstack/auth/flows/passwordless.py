"""Mail-sending endpoints without a session: /otp (and legacy /magiclink), /recover, /resend, and the
admin ones, /invite and /admin/generate_link. Rules follow GoTrue's handlers of the same names.

Enumeration: /recover and /resend answer `{}` whether or not the address is registered (as
GoTrue). /otp creates the user when `create_user` is true (so it reveals nothing); with
`create_user: false` an unknown address gets 422 `otp_disabled`, exactly what GoTrue reveals.

New or unconfirmed users asking for a magic link get the sign-up confirmation mail instead when
confirmation is on (it carries a link and a code too, and `verifyOtp({type: "email"})` accepts
either), as GoTrue's MagicLink handler does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstack.auth.api.admin import require_admin
from backstack.auth.core import errors
from backstack.auth.core.passwords import MAX_PASSWORD_LENGTH, weak_message, weak_reasons
from backstack.auth.core.user import User, new_email_user, new_passwordless_user, validated_email
from backstack.auth.store import users
from backstack.auth.store.user_writes import reload
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from backstack.auth.core.user import User
    from backstack.auth.service import AuthService
    from backstack.auth.store.flow_state import Challenge

DUPLICATE_EMAIL = "A user with this email address has already been registered"
LINK_TYPES = {
    "signup": "confirmation",
    "invite": "invite",
    "magiclink": "magic_link",
    "recovery": "recovery",
}


def email_exists() -> errors.AuthError:
    return errors.AuthError(422, "email_exists", DUPLICATE_EMAIL)


async def _insert_new(service: AuthService, user: User) -> User:
    """Store a new user; the already-registered one when another request registered the address first."""
    try:
        async with service.engine.transaction() as conn:
            await users.insert_user(conn, service.sql, user)
    except DatabaseError as exc:
        if exc.code != "23505":
            raise
        existing = await users.find_by_email(service.engine, service.sql, user.email)
        if existing is None:
            raise
        return existing
    return user


# ------------------------------------------------------------------ /otp and /magiclink


async def send_otp(
    service: AuthService,
    email: str,
    phone: str,
    data: dict[str, Any],
    create_user: bool,
    redirect_to: str,
    *,
    challenge: Challenge | None = None,
) -> None:
    """POST /otp with an email: a magic link (+ code), creating the user when allowed."""
    if email and phone:
        raise errors.validation_failed("Only an email address or phone number should be provided")
    if phone:
        raise errors.AuthError(400, "phone_provider_disabled", "Unsupported phone provider")
    if not email:
        raise errors.validation_failed("One of email or phone must be set")
    email = validated_email(email.strip())
    user = await users.find_by_email(service.engine, service.sql, email)
    if user is None and not create_user:
        raise errors.AuthError(422, "otp_disabled", "Signups not allowed for otp")
    now = service.clock()
    confirm = service.settings.auth_email_confirm
    if user is None:
        if service.settings.auth_disable_signup:
            raise errors.signup_disabled()
        user = await _insert_new(service, new_passwordless_user(email, data, confirmed=not confirm, now=now))
    if confirm and not user.is_confirmed:
        await service.outbox.mail(user, "confirmation", redirect_to, now, challenge=challenge)
        return
    await service.outbox.mail(user, "magic_link", redirect_to, now, challenge=challenge)


# ------------------------------------------------------------------ /recover and /resend


async def recover(service: AuthService, email: str, redirect_to: str, *, challenge: Challenge | None = None) -> None:
    """POST /recover: a password-reset mail when the address is registered; silence otherwise."""
    if not email:
        raise errors.validation_failed("Password recovery requires an email")
    email = validated_email(email.strip())
    user = await users.find_by_email(service.engine, service.sql, email)
    if user is None:
        return
    await service.outbox.mail(user, "recovery", redirect_to, service.clock(), challenge=challenge)


RESEND_TYPES = ("signup", "email_change", "sms", "phone_change")


async def resend(service: AuthService, resend_type: str, email: str, phone: str, redirect_to: str) -> None:
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
    user = await users.find_by_email(service.engine, service.sql, email)
    if user is None:
        return
    now = service.clock()
    if resend_type == "signup":
        if user.is_confirmed:
            return
        await service.outbox.mail(user, "confirmation", redirect_to, now)
    elif resend_type == "email_change":
        if not user.new_email:
            return
        await send_email_change(service, user, user.new_email, redirect_to)


async def send_email_change(
    service: AuthService, user: User, new_email: str, redirect_to: str, *, challenge: Challenge | None = None
) -> None:
    """Tokens for changing `user`'s address to `new_email`, mailed to the current and the new address."""
    now = service.clock()
    secure = service.settings.auth_secure_email_change
    async with service.engine.transaction() as conn:
        current, new = await service.outbox.issue_email_change(
            conn, user, new_email, redirect_to, now, secure=secure, challenge=challenge
        )
    if current is not None:
        await service.outbox.send("email_change", user.email, current, user, new_email=new_email)
    await service.outbox.send("email_change", new_email, new, user, new_email=new_email)


# ------------------------------------------------------------------ admin: /invite and /admin/generate_link


async def invite(service: AuthService, bearer: str | None, email: str, data: dict[str, Any], redirect_to: str) -> User:
    """POST /invite (service_role): create the user unconfirmed and mail an invite link."""
    require_admin(service, bearer)
    if not email:
        raise errors.validation_failed("Unable to validate email address: invalid format")
    email = validated_email(email.strip())
    now = service.clock()
    user = await users.find_by_email(service.engine, service.sql, email)
    if user is not None and user.is_confirmed:
        raise email_exists()
    if user is None:
        user = await _insert_new(service, new_passwordless_user(email, data, confirmed=False, now=now))
        if user.is_confirmed:
            raise email_exists()
    await service.outbox.mail(user, "invite", redirect_to, now)
    return user


async def generate_link(
    service: AuthService, bearer: str | None, body: dict[str, Any], redirect_to: str
) -> dict[str, Any]:
    """POST /admin/generate_link (service_role): a token and its link, returned instead of mailed."""
    require_admin(service, bearer)
    link_type = body.get("type") or ""
    email = body.get("email") or ""
    new_email = body.get("new_email") or ""
    password = body.get("password") or ""
    data = body.get("data") or {}
    if not all(isinstance(v, str) for v in (link_type, email, new_email, password)) or not isinstance(data, dict):
        raise errors.bad_json("type, email, new_email and password must be strings, data an object")
    email = validated_email(email.strip())
    now = service.clock()
    user = await users.find_by_email(service.engine, service.sql, email)
    if link_type not in (*LINK_TYPES, "email_change_current", "email_change_new"):
        raise errors.validation_failed(f"Invalid email action link type requested: {link_type}")
    if user is None:
        if link_type == "magiclink":
            link_type = "signup"
            password = ""
        elif link_type in ("recovery", "email_change_current", "email_change_new"):
            raise errors.AuthError(404, "user_not_found", "User with this email not found")
    if link_type == "signup" and user is None:
        user = await _new_signup_user(service, email, password, data, now)
    elif link_type == "invite" and user is None:
        user = await _insert_new(service, new_passwordless_user(email, data, confirmed=False, now=now))
    assert user is not None
    if link_type in ("signup", "invite") and user.is_confirmed:
        raise email_exists()
    if link_type.startswith("email_change"):
        return await _email_change_link(service, user, link_type, new_email, redirect_to, now)
    async with service.engine.transaction() as conn:
        issued = await service.outbox.issue(conn, user, LINK_TYPES[link_type], redirect_to, now)
        user = await reload(conn, service.sql, user.id)
    return {
        **user.to_json(),
        "action_link": issued.link,
        "email_otp": issued.otp,
        "hashed_token": issued.hashed,
        "verification_type": link_type,
        "redirect_to": redirect_to,
    }


async def _new_signup_user(service: AuthService, email: str, password: str, data: dict[str, Any], now: Any) -> User:
    if password:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise errors.validation_failed(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
        min_length = service.settings.auth_password_min_length
        reasons = weak_reasons(password, min_length)
        if reasons:
            raise errors.weak_password(weak_message(min_length), reasons)
        user = new_email_user(email, await service.passwords.hash(password), data, confirmed=False, now=now)
    else:
        user = new_passwordless_user(email, data, confirmed=False, now=now)
    # GoTrue's adminGenerateLink stores `data` as the metadata, as given: unlike /signup, it does not
    # copy the identity's claims (sub, email, email_verified, phone_verified) into it
    user.user_metadata = dict(data)
    return await _insert_new(service, user)


async def _email_change_link(
    service: AuthService, user: User, link_type: str, new_email: str, redirect_to: str, now: Any
) -> dict[str, Any]:
    secure = service.settings.auth_secure_email_change
    if not secure and link_type == "email_change_current":
        raise errors.validation_failed("Enable secure email change to generate link for current email")
    new_email = validated_email(new_email.strip())
    other = await users.find_by_email(service.engine, service.sql, new_email)
    if other is not None and other.id != user.id:
        raise email_exists()
    # Only the asked-for token: a current-address link still needs the new address's confirmation too
    # (its token is made but not returned); a new-address link alone completes the change.
    async with service.engine.transaction() as conn:
        current, new = await service.outbox.issue_email_change(
            conn,
            user,
            new_email,
            redirect_to,
            now,
            secure=link_type == "email_change_current",
            clear_current=user.new_email != new_email,
        )
        user = await reload(conn, service.sql, user.id)
    issued = current if link_type == "email_change_current" and current is not None else new
    return {
        **user.to_json(),
        "action_link": issued.link,
        "email_otp": issued.otp,
        "hashed_token": issued.hashed,
        "verification_type": link_type,
        "redirect_to": redirect_to,
    }

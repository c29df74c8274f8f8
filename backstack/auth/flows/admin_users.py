"""The admin API's rules (`/admin/users...`): list, create, read, update and delete users, and their factors.

The api layer lets only `service_role` (or `supabase_admin`) tokens in (`Bearer.require_admin`).
Rules follow GoTrue's `api/admin.go`:

- create: email and/or phone, an optional password (checked like a sign-up's) *or* an imported
  `password_hash` (bcrypt or argon2 PHC; verified and upgraded at the next sign-in), an optional
  `id`, `email_confirm`/`phone_confirm`, `user_metadata`, `app_metadata` (merged over the
  provider fields), `role`, `ban_duration` (a Go duration such as "24h", or "none");
  a user created without a password cannot sign in with one until it sets one (GoTrue stores a
  random password instead; an empty hash is cheaper and refuses the same sign-ins);
- update: the same fields; metadata objects merge key by key and a `null` value removes the key;
  a new password or a ban ends every session of the user (GoTrue's `UpdatePassword(nil)`, and
  its refresh refuses banned users; we also end the sessions at once, so a ban takes effect
  within one access-token lifetime);
- delete: hard by default (the row and, by cascade, everything hanging off it); with
  `should_soft_delete` the row stays with `deleted_at` set and its email, phone, password,
  metadata, identities, sessions and factors removed, so the address can sign up again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.errors import email_exists, path_uuid
from backstack.auth.core.passwords import check_new_password
from backstack.auth.core.user import DEFAULT_ROLE, EMAIL_PROVIDER, User, rfc3339, valid_email
from backstack.auth.store import admin_users, factors, users
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from backstack.auth.core.passwords import Passwords
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings

_PHONE = re.compile(r"^[1-9][0-9]{1,14}$")
_HASH_PREFIXES = ("$2a$", "$2b$", "$2y$", "$argon2id$", "$argon2i$")
_MAX_DURATION_SECONDS = (2**63 - 1) / 1e9  # Go's time.Duration range
_DURATION_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True, slots=True)
class UserParams:
    """The body of POST/PUT /admin/users (GoTrue's `adminUserParams`); None = not given."""

    email: str = ""
    phone: str = ""
    password: str | None = None
    password_hash: str = ""
    email_confirm: bool = False
    phone_confirm: bool = False
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    role: str = ""
    ban_duration: str = ""
    id: str = ""


class AdminUsers:
    """The admin API's rules over the store, the password hasher and the clock."""

    def __init__(self, db: AuthDb, settings: Settings, passwords: Passwords, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.passwords = passwords
        self.clock = clock

    async def page(self, page: int, per_page: int, filter_text: str) -> tuple[list[User], int]:
        """One page of the audience's users, newest first, and the total count."""
        return await admin_users.page(self.db.engine, self.db.sql, page, per_page, filter_text)

    async def get(self, user_id: str) -> User:
        """The user with the id from the path; 404 for a malformed id or an unknown user."""
        found = await users.find_by_id(self.db.engine, self.db.sql, path_uuid(user_id, "user_id"))
        if found is None:
            raise errors.AuthError(404, "user_not_found", "User not found")
        return found

    async def create(self, params: UserParams) -> User:
        if not params.email and not params.phone:
            raise errors.validation_failed("Cannot create a user without either an email or phone")
        if params.password is not None and params.password_hash:
            raise errors.validation_failed("Only a password or a password hash should be provided")
        email = _valid_email(params.email) if params.email else ""
        phone = _valid_phone(params.phone) if params.phone else ""
        ban = parse_ban_duration(params.ban_duration) if params.ban_duration else None
        user_id = _custom_id(params.id) if params.id else str(uuid.uuid4())
        engine, sql = self.db.engine, self.db.sql
        if email and await users.find_by_email(engine, sql, email) is not None:
            raise email_exists()
        if phone and await admin_users.phone_taken(engine, sql, phone, None):
            raise _phone_exists()
        password_hash = await self._new_hash(params.password, params.password_hash)
        now = self.clock()
        user = _new_user(user_id, email, phone, password_hash, params, now)
        if params.ban_duration and ban is not None:
            user.banned_until = now + ban
        try:
            async with engine.transaction() as conn:
                await users.insert_user(conn, sql, user)
                await admin_users.set_phone_and_ban(conn, sql, user)
        except DatabaseError as exc:
            if exc.code != "23505":
                raise
            if email and await users.find_by_email(engine, sql, email) is not None:
                raise email_exists() from None
            if phone and await admin_users.phone_taken(engine, sql, phone, None):
                raise _phone_exists() from None
            raise errors.AuthError(422, "user_already_exists", "User already registered") from None
        return await self.get(user.id)

    async def _new_hash(self, password: str | None, password_hash: str) -> str:
        if password_hash:
            if not password_hash.startswith(_HASH_PREFIXES) or len(password_hash) > 255:
                raise errors.validation_failed("Invalid password hash format")
            return password_hash
        if not password:
            return ""
        check_new_password(password, self.settings.auth_password_min_length)
        return await self.passwords.hash(password)

    async def update(self, user_id: str, params: UserParams) -> User:
        user = await self.get(user_id)
        ban = parse_ban_duration(params.ban_duration) if params.ban_duration else None
        email = _valid_email(params.email) if params.email else ""
        phone = _valid_phone(params.phone) if params.phone else ""
        if params.password is not None and params.password_hash:
            raise errors.validation_failed("Only a password or a password hash should be provided")
        engine, sql = self.db.engine, self.db.sql
        if email and email != user.email:
            other = await users.find_by_email(engine, sql, email)
            if other is not None and other.id != user.id:
                raise email_exists()
        if phone and phone != user.phone and await admin_users.phone_taken(engine, sql, phone, user.id):
            raise _phone_exists()
        new_hash: str | None = None
        if params.password_hash or params.password is not None:
            if params.password is not None and not params.password_hash:
                check_new_password(params.password, self.settings.auth_password_min_length)
            new_hash = await self._new_hash(params.password, params.password_hash)
        now = self.clock()
        columns = _changed_columns(user, params, email, phone, new_hash, now)
        if params.ban_duration:
            columns["banned_until"] = now + ban if ban is not None else None
        end_sessions = new_hash is not None or (ban is not None and ban > timedelta(0))
        try:
            async with engine.transaction() as conn:
                await admin_users.update_columns(conn, sql, user.id, columns)
                if email and email != user.email:
                    identity = _identity(user.id, EMAIL_PROVIDER, {"email": email}, now)
                    await admin_users.set_identity(conn, sql, user, identity, {"email": email}, now)
                if phone and phone != user.phone:
                    identity = _identity(user.id, "phone", {"phone": phone}, now)
                    await admin_users.set_identity(conn, sql, user, identity, {"phone": phone}, now)
                if end_sessions:
                    await admin_users.end_sessions(conn, sql, user.id)
        except DatabaseError as exc:
            if exc.code != "23505":
                raise
            raise (email_exists() if email else _phone_exists()) from None
        return await self.get(user.id)

    async def delete(self, user_id: str, soft: bool) -> None:
        user = await self.get(user_id)
        await admin_users.delete_user(self.db.engine, self.db.sql, user.id, soft=soft, now=self.clock())

    async def delete_factor(self, user_id: str, factor_id: str) -> dict[str, Any]:
        """Remove one of the user's factors; 404 `mfa_factor_not_found`."""
        user = await self.get(user_id)
        factor_id = path_uuid(factor_id, "factor_id")
        factor = next((f for f in user.factors if f["id"] == factor_id), None)
        if factor is None:
            raise errors.AuthError(404, "mfa_factor_not_found", "Factor not found")
        async with self.db.engine.transaction() as conn:
            await factors.delete_factor(conn, self.db.sql, factor_id)
        return factor


def _changed_columns(
    user: User, params: UserParams, email: str, phone: str, new_hash: str | None, now: datetime
) -> dict[str, Any]:
    """The columns an admin update sets (metadata merged key by key, GoTrue's `null` removes a key)."""
    columns: dict[str, Any] = {"updated_at": now}
    app_metadata = dict(user.app_metadata)
    user_metadata = dict(user.user_metadata)
    if params.role:
        columns["role"] = params.role
    if params.email_confirm and user.email_confirmed_at is None:
        columns["email_confirmed_at"] = now
        user_metadata["email_verified"] = True
    if params.phone_confirm and user.phone_confirmed_at is None:
        columns["phone_confirmed_at"] = now
    if new_hash is not None:
        columns["encrypted_password"] = new_hash
    if email and email != user.email:
        columns["email"] = email
        _add_provider(app_metadata, EMAIL_PROVIDER)
    if phone and phone != user.phone:
        columns["phone"] = phone
        _add_provider(app_metadata, "phone")
    if (email or phone) and user.is_anonymous:
        columns["is_anonymous"] = False
        app_metadata["providers"] = [p for p in app_metadata.get("providers", []) if p != "anonymous"]
        if app_metadata.get("provider") == "anonymous":
            app_metadata["provider"] = EMAIL_PROVIDER if email else "phone"
    _merge(app_metadata, params.app_metadata)
    _merge(user_metadata, params.user_metadata)
    columns["raw_app_meta_data"] = app_metadata
    columns["raw_user_meta_data"] = user_metadata
    return columns


def parse_ban_duration(value: str) -> timedelta | None:
    """A Go duration ("24h", "1h30m", "-1s") as a timedelta; None for "none" (lift the ban)."""
    if value == "none":
        return None
    text = value
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    seconds = 0.0
    if text != "0":
        pos = 0
        if not text:
            raise _bad_duration(value)
        while pos < len(text):
            match = _DURATION_PART.match(text, pos)
            if match is None:
                raise _bad_duration(value)
            seconds += float(match[1]) * _DURATION_UNITS[match[2]]
            pos = match.end()
    if seconds > _MAX_DURATION_SECONDS:
        raise _bad_duration(value)
    return timedelta(seconds=sign * seconds)


def _bad_duration(value: str) -> errors.AuthError:
    return errors.validation_failed(f'invalid format for ban duration: time: invalid duration "{value}"')


def _custom_id(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise errors.validation_failed("ID must conform to the uuid v4 format") from None
    if parsed.int == 0:
        raise errors.validation_failed("ID cannot be a nil uuid")
    return str(parsed)


def _valid_email(email: str) -> str:
    if not valid_email(email):
        raise errors.validation_failed("Unable to validate email address: invalid format")
    return email.lower()


def _valid_phone(phone: str) -> str:
    digits = phone.removeprefix("+").replace(" ", "")
    if _PHONE.match(digits) is None:
        raise errors.validation_failed("Invalid phone number format (E.164 required)")
    return digits


def _phone_exists() -> errors.AuthError:
    return errors.AuthError(422, "phone_exists", "A user with this phone number has already been registered")


def _merge(target: dict[str, Any], changes: dict[str, Any] | None) -> None:
    """GoTrue's metadata update: keys set, `null` values removed."""
    for key, value in (changes or {}).items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _add_provider(app_metadata: dict[str, Any], provider: str) -> None:
    providers = app_metadata.get("providers")
    providers = list(providers) if isinstance(providers, list) else []
    if provider not in providers:
        providers.append(provider)
    app_metadata["providers"] = providers
    app_metadata.setdefault("provider", provider)


def _identity(user_id: str, provider: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {
        "identity_id": str(uuid.uuid4()),
        "id": user_id,
        "user_id": user_id,
        "identity_data": {"sub": user_id, **data, "email_verified": False, "phone_verified": False},
        "provider": provider,
        "last_sign_in_at": None,
        "created_at": stamp,
        "updated_at": stamp,
    }


def _new_user(user_id: str, email: str, phone: str, password_hash: str, params: UserParams, now: datetime) -> User:
    providers = [p for p, given in ((EMAIL_PROVIDER, email), ("phone", phone)) if given]
    identities = []
    if email:
        identities.append(_identity(user_id, EMAIL_PROVIDER, {"email": email}, now))
    if phone:
        identities.append(_identity(user_id, "phone", {"phone": phone}, now))
    app_metadata: dict[str, Any] = {"provider": providers[0], "providers": providers}
    _merge(app_metadata, params.app_metadata)
    user_metadata = dict(params.user_metadata or {})
    if params.email_confirm and email:
        user_metadata["email_verified"] = True
    return User.new(
        now,
        id=user_id,
        role=params.role or DEFAULT_ROLE,
        email=email,
        encrypted_password=password_hash,
        email_confirmed_at=now if params.email_confirm and email else None,
        phone=phone,
        phone_confirmed_at=now if params.phone_confirm and phone else None,
        app_metadata=app_metadata,
        user_metadata=user_metadata,
        identities=identities,
    )

"""A user as every layer sees it: the `User` value, its GoTrue JSON shape, and how a new one is made.

The JSON is GoTrue's `models.User` as encoded by Go: fields in struct order, optional timestamps
omitted when null, `email`/`phone` as "" when unset, timestamps RFC 3339 in UTC with `Z` and
trailing zeros of the fraction dropped (`2024-06-10T12:34:56.12345Z`). How users are read and
written is store/users.py's business; `User.new` is the one place a user is built from nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backstack.auth.core import errors

AUDIENCE = "authenticated"
DEFAULT_ROLE = "authenticated"
EMAIL_PROVIDER = "email"

# checkmail's pattern, which GoTrue validates sign-up addresses with.
_EMAIL = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)


def rfc3339(value: datetime) -> str:
    """Go's RFC 3339 encoding of a UTC time: microseconds with trailing zeros dropped, `Z`."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def valid_email(address: str) -> bool:
    """Whether `address` passes GoTrue's sign-up check (format and length)."""
    return len(address) <= 255 and _EMAIL.match(address) is not None


def validated_email(email: str) -> str:
    """The lower-cased address, or GoTrue's 400 for one that fails its sign-up check."""
    if not valid_email(email):
        if len(email) > 255:
            raise errors.validation_failed("An email address is too long")
        raise errors.validation_failed("Unable to validate email address: invalid format")
    return email.lower()


@dataclass(slots=True)
class User:
    """One `auth.users` row and its identities (already in their wire shape)."""

    id: str
    aud: str
    role: str
    email: str
    encrypted_password: str | None
    email_confirmed_at: datetime | None
    invited_at: datetime | None
    phone: str
    phone_confirmed_at: datetime | None
    confirmation_sent_at: datetime | None
    recovery_sent_at: datetime | None
    new_email: str
    email_change_sent_at: datetime | None
    new_phone: str
    phone_change_sent_at: datetime | None
    reauthentication_sent_at: datetime | None
    last_sign_in_at: datetime | None
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    banned_until: datetime | None = None
    deleted_at: datetime | None = None
    is_anonymous: bool = False
    identities: list[dict[str, Any]] = field(default_factory=list)
    factors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(
        cls,
        now: datetime,
        *,
        id: str | None = None,
        email: str = "",
        phone: str = "",
        encrypted_password: str | None = None,
        role: str = DEFAULT_ROLE,
        email_confirmed_at: datetime | None = None,
        phone_confirmed_at: datetime | None = None,
        confirmation_sent_at: datetime | None = None,
        last_sign_in_at: datetime | None = None,
        app_metadata: dict[str, Any] | None = None,
        user_metadata: dict[str, Any] | None = None,
        identities: list[dict[str, Any]] | None = None,
        is_anonymous: bool = False,
    ) -> User:
        """A user not stored yet, created at `now`; what is not given is empty, as in a fresh row."""
        return cls(
            id=id or str(uuid.uuid4()),
            aud=AUDIENCE,
            role=role,
            email=email,
            encrypted_password=encrypted_password,
            email_confirmed_at=email_confirmed_at,
            invited_at=None,
            phone=phone,
            phone_confirmed_at=phone_confirmed_at,
            confirmation_sent_at=confirmation_sent_at,
            recovery_sent_at=None,
            new_email="",
            email_change_sent_at=None,
            new_phone="",
            phone_change_sent_at=None,
            reauthentication_sent_at=None,
            last_sign_in_at=last_sign_in_at,
            app_metadata=app_metadata or {},
            user_metadata=user_metadata or {},
            created_at=now,
            updated_at=now,
            is_anonymous=is_anonymous,
            identities=identities or [],
        )

    @property
    def confirmed_at(self) -> datetime | None:
        """`least(email_confirmed_at, phone_confirmed_at)`, the generated column."""
        stamps = [t for t in (self.email_confirmed_at, self.phone_confirmed_at) if t is not None]
        return min(stamps) if stamps else None

    @property
    def is_confirmed(self) -> bool:
        return self.email_confirmed_at is not None

    def is_banned(self, now: datetime) -> bool:
        return self.banned_until is not None and self.banned_until > now

    def to_json(self) -> dict[str, Any]:
        """GoTrue's user object (contract 3.3)."""
        out: dict[str, Any] = {"id": self.id, "aud": self.aud, "role": self.role, "email": self.email}
        _put(out, "email_confirmed_at", self.email_confirmed_at)
        _put(out, "invited_at", self.invited_at)
        out["phone"] = self.phone
        _put(out, "phone_confirmed_at", self.phone_confirmed_at)
        _put(out, "confirmation_sent_at", self.confirmation_sent_at)
        _put(out, "confirmed_at", self.confirmed_at)
        _put(out, "recovery_sent_at", self.recovery_sent_at)
        if self.new_email:
            out["new_email"] = self.new_email
        _put(out, "email_change_sent_at", self.email_change_sent_at)
        if self.new_phone:
            out["new_phone"] = self.new_phone
        _put(out, "phone_change_sent_at", self.phone_change_sent_at)
        _put(out, "reauthentication_sent_at", self.reauthentication_sent_at)
        _put(out, "last_sign_in_at", self.last_sign_in_at)
        out["app_metadata"] = self.app_metadata
        out["user_metadata"] = self.user_metadata
        out["identities"] = self.identities
        if self.factors:
            out["factors"] = self.factors
        out["created_at"] = rfc3339(self.created_at)
        out["updated_at"] = rfc3339(self.updated_at)
        _put(out, "banned_until", self.banned_until)
        _put(out, "deleted_at", self.deleted_at)
        out["is_anonymous"] = self.is_anonymous
        return out


def _put(out: dict[str, Any], key: str, value: datetime | None) -> None:
    if value is not None:
        out[key] = rfc3339(value)


def new_email_user(email: str, password_hash: str, data: dict[str, Any], *, confirmed: bool, now: datetime) -> User:
    """A user signing up with email and password, before it is stored.

    As GoTrue does, `data` goes into `user_metadata` next to the identity's claims (`sub`, `email`,
    `email_verified`, `phone_verified`), which it cannot override; `app_metadata` and `role` are
    the server's alone, whatever `data` holds.
    """
    user_id = str(uuid.uuid4())
    identity_data: dict[str, Any] = {
        "sub": user_id,
        "email": email,
        "email_verified": confirmed,
        "phone_verified": False,
    }
    for key, value in data.items():
        identity_data.setdefault(key, value)
    identity = {
        "identity_id": str(uuid.uuid4()),
        "id": user_id,
        "user_id": user_id,
        "identity_data": identity_data,
        "provider": EMAIL_PROVIDER,
        "last_sign_in_at": rfc3339(now),
        "created_at": rfc3339(now),
        "updated_at": rfc3339(now),
        "email": email,
    }
    return User.new(
        now,
        id=user_id,
        email=email,
        encrypted_password=password_hash,
        email_confirmed_at=now if confirmed else None,
        confirmation_sent_at=None if confirmed else now,
        app_metadata={"provider": EMAIL_PROVIDER, "providers": [EMAIL_PROVIDER]},
        user_metadata=dict(identity_data),
        identities=[identity],
    )


def new_passwordless_user(email: str, data: dict[str, Any], *, confirmed: bool, now: datetime) -> User:
    """A user created by /otp, /magiclink or an invite: no password until they set one."""
    user = new_email_user(email, "", data, confirmed=confirmed, now=now)
    user.encrypted_password = None
    return user


def obfuscated_user(email: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """GoTrue's `sanitizeUser`: what a repeated sign-up of a confirmed address gets while confirmation
    is required, so the answer does not reveal that the address is registered."""
    return {
        "id": str(uuid.uuid4()),
        "aud": AUDIENCE,
        "role": "",
        "email": email,
        "phone": "",
        "confirmation_sent_at": rfc3339(now),
        "app_metadata": {"provider": EMAIL_PROVIDER, "providers": [EMAIL_PROVIDER]},
        "user_metadata": data,
        "identities": [],
        "created_at": rfc3339(now),
        "updated_at": rfc3339(now),
        "is_anonymous": False,
    }

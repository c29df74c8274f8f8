"""External identities: finding the user behind a provider account, linking, and creating users for them.

GoTrue's rules for a provider sign-in (`provider`, provider user id `sub`):

1. an identity `(sub, provider)` exists -> its user; the identity's claims are refreshed;
2. else the provider vouches for an address (`email_verified`) that belongs to a user -> the
   identity is linked to that user (and the address counts as confirmed; an unconfirmed user's
   password is dropped, since whoever set it never proved to own the address);
3. else the address is unverified but taken -> refused (`email_exists`), never linked: anyone
   can claim an address at a provider that does not check it;
4. else a new user: `app_metadata.provider` is the provider, `user_metadata` the provider's claims.

`app_metadata.providers` always lists every provider the user has an identity with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.user import User, rfc3339
from backstack.auth.store import identities, users

if TYPE_CHECKING:
    from datetime import datetime

    from backstack.auth.flows.external.providers import ProviderUser
    from backstack.auth.store.sql import AuthSql
    from backstack.db.engine import Connection, Engine


class IdentityRefused(Exception):
    """The provider account cannot become (or join) a user here; carries GoTrue's error code."""

    def __init__(self, error_code: str, description: str) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    created: bool


def identity_json(provider: str, who: ProviderUser, user_id: str, now: datetime) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {
        "identity_id": str(uuid.uuid4()), "id": who.provider_id, "user_id": user_id,
        "identity_data": who.identity_data, "provider": provider, "last_sign_in_at": stamp,
        "created_at": stamp, "updated_at": stamp, "email": who.email,
    }  # fmt: skip


def new_external_user(provider: str, who: ProviderUser, *, confirmed: bool, now: datetime) -> User:
    user_id = str(uuid.uuid4())
    return User.new(
        now,
        id=user_id,
        email=who.email,
        email_confirmed_at=now if confirmed and who.email else None,
        last_sign_in_at=now,
        app_metadata={"provider": provider, "providers": [provider]},
        user_metadata=dict(who.identity_data),
        identities=[identity_json(provider, who, user_id, now)],
    )


async def sign_in_external(
    engine: Engine, sql: AuthSql, provider: str, who: ProviderUser, *, autoconfirm: bool, now: datetime
) -> SignedIn:
    """The user `who` signs in as (rules in the module docstring), stored, with fresh identities."""
    found = await identities.find_identity_user(engine, sql, provider, who.provider_id)
    if found is not None:
        async with engine.transaction() as conn:
            await identities.touch_identity(conn, sql, found[0], who.identity_data, now)
            await identities.record_provider(
                conn, sql, found[1], provider, now, confirm=who.email if who.email_verified else ""
            )
        return SignedIn(await _reload(engine, sql, found[1]), created=False)
    existing = await users.find_by_email(engine, sql, who.email) if who.email else None
    if existing is not None:
        if not who.email_verified:
            raise IdentityRefused("email_exists", "A user with this email address has already been registered")
        async with engine.transaction() as conn:
            if not existing.is_confirmed:
                # Whoever registered the address without confirming it may not be its owner (a
                # pre-registered account): its password must not open the owner's account now.
                await identities.drop_password(conn, sql, existing.id)
            await identities.insert_identity(conn, sql, identity_json(provider, who, existing.id, now), now)
            await identities.record_provider(conn, sql, existing.id, provider, now, confirm=who.email)
        return SignedIn(await _reload(engine, sql, existing.id), created=False)
    user = new_external_user(provider, who, confirmed=who.email_verified or autoconfirm, now=now)
    async with engine.transaction() as conn:
        await users.insert_user(conn, sql, user)
    return SignedIn(user, created=True)


async def _reload(engine: Engine, sql: AuthSql, user_id: str) -> User:
    user = await users.find_by_id(engine, sql, user_id)
    if user is None:  # deleted between the two statements
        raise IdentityRefused("user_not_found", "User not found")
    return user


# ------------------------------------------------------------------ manual linking


async def link_to_user(
    engine: Engine, sql: AuthSql, provider: str, who: ProviderUser, user_id: str, *, now: datetime
) -> User:
    """Add the provider account to the signed-in user `user_id` (GET /user/identities/authorize).

    An identity already owned by another user is refused (`identity_already_exists`), and so is one
    whose verified address belongs to another user (`email_exists`); an anonymous user becomes a
    regular one with the provider's verified address.
    """
    found = await identities.find_identity_user(engine, sql, provider, who.provider_id)
    if found is not None and found[1] != user_id:
        raise IdentityRefused("identity_already_exists", "Identity is already linked to another user")
    if who.email and who.email_verified:  # the address is someone else's account: never joined to this one
        owner = await users.find_by_email(engine, sql, who.email)
        if owner is not None and owner.id != user_id:
            raise IdentityRefused("email_exists", "A user with this email address has already been registered")
    user = await _reload(engine, sql, user_id)
    async with engine.transaction() as conn:
        if found is not None:
            await identities.touch_identity(conn, sql, found[0], who.identity_data, now)
        else:
            await identities.insert_identity(conn, sql, identity_json(provider, who, user_id, now), now)
        if user.is_anonymous:
            await _convert_anonymous(engine, conn, sql, user, who, now)
        await identities.record_provider(
            conn, sql, user_id, provider, now, confirm=who.email if who.email_verified else ""
        )
    return await _reload(engine, sql, user_id)


async def _convert_anonymous(
    engine: Engine, conn: Connection, sql: AuthSql, user: User, who: ProviderUser, now: datetime
) -> None:
    if not (who.email and who.email_verified):
        raise IdentityRefused("provider_email_needs_verification", "Linking needs a verified email address")
    if await users.find_by_email(engine, sql, who.email) is not None:
        raise IdentityRefused("email_exists", "A user with this email address has already been registered")
    # the "anonymous" provider goes; `record_provider` then names the linked one
    await identities.make_permanent(conn, sql, user.id, who.email, _without_anonymous(user.app_metadata), now)


def _without_anonymous(meta: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in meta.items() if k not in ("provider", "providers")}
    out["providers"] = [p for p in meta.get("providers") or [] if p != "anonymous"]
    return out


async def unlink(engine: Engine, sql: AuthSql, user: User, identity_id: str, now: datetime) -> None:
    """DELETE /user/identities/{id}: GoTrue's checks, then the identity goes and `app_metadata` follows."""
    identity = next((i for i in user.identities if i["identity_id"] == identity_id), None)
    if identity is None:
        raise errors.AuthError(404, "identity_not_found", "Identity doesn't exist")
    if len(user.identities) <= 1:
        raise errors.AuthError(
            422, "single_identity_not_deletable", "User must have at least 1 identity after unlinking"
        )
    others = [i for i in user.identities if i is not identity]
    if user.email and identity.get("email") == user.email and all(i.get("email") != user.email for i in others):
        raise errors.AuthError(
            422, "email_conflict_identity_not_deletable", "Unable to unlink identity due to email conflict"
        )
    providers = list(dict.fromkeys(i["provider"] for i in others))
    meta = dict(user.app_metadata)
    meta["providers"] = providers
    if meta.get("provider") not in providers:
        meta["provider"] = providers[0]
    await identities.delete_identity(engine, sql, user.id, identity_id, meta, now)

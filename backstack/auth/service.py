"""The auth service without HTTP: sign-up, password sign-in, refresh, the current user, sign-out.

Every method takes plain values and returns plain values (`Grant`, `User`, JSON-ready dicts); the
routes only parse and serialise. Failures are `AuthError`s carrying GoTrue's codes. Rules follow
GoTrue (supabase/auth) unless a comment says why not.

Password work (hash, verify) runs before any transaction is opened, so a slow hash never holds
the SQLite writer or a PostgreSQL connection.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from backstack.auth.core import errors
from backstack.auth.core.grants import ClientInfo, Grant, issue_grant
from backstack.auth.core.passwords import MAX_PASSWORD_LENGTH, Passwords, weak_message, weak_reasons
from backstack.auth.core.ratelimit import AuthLimits
from backstack.auth.core.redirects import redirect_target
from backstack.auth.core.tokens import LEGACY_LENGTH, AccessTokens, RefreshToken, parse_refresh_token
from backstack.auth.core.user import AUDIENCE, User, new_email_user, obfuscated_user, validated_email
from backstack.auth.flows.anonymous import sign_in_anonymously
from backstack.auth.flows.oauth import OAuthFlows
from backstack.auth.mail.delivery import Mailer, build_mailer
from backstack.auth.mail.outbox import Outbox
from backstack.auth.store import sessions, users
from backstack.auth.store.onetime import TokenHasher
from backstack.auth.store.schema import ensure_schema
from backstack.auth.store.sql import AuthSql
from backstack.core.errors import DatabaseError
from backstack.core.signing import build_key_set

if TYPE_CHECKING:
    from backstack.auth.core.user import User
    from backstack.auth.store.flow_state import Challenge
    from backstack.auth.store.sessions import Session
    from backstack.config import Settings
    from backstack.core.ports import RateLimiter
    from backstack.db.engine import Engine

_LEGACY_TOKEN = re.compile(r"^[a-z0-9]{12}$")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"
_REFRESH_ATTEMPTS = 8
LOGOUT_SCOPES = ("global", "local", "others")


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The verified bearer of a user access token."""

    claims: dict[str, Any]
    user: User
    session_id: str | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuthService:
    """GoTrue's email/password core over one engine; one instance per app."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        passwords: Passwords | None = None,
        clock: Callable[[], datetime] = _utcnow,
        limiter: RateLimiter | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.limits = AuthLimits(limiter, settings)  # ratelimit.py; no limiter: nothing is limited
        self.sql = AuthSql(engine.dialect)
        self.passwords = passwords or Passwords()
        issuer = f"{settings.public_url.rstrip('/')}/auth/v1"
        keys = build_key_set(
            settings.jwt_secret, settings.jwt_signing_key, settings.jwt_verification_keys, settings.project_dir
        )
        self.tokens = AccessTokens(settings.jwt_secret, issuer, settings.jwt_expiry, keys=keys)
        self.clock = clock
        self.oauth = OAuthFlows(engine, settings, self.sql, self._grant, clock)  # oauth.py: /authorize, pkce
        # Auth mails (outbox.py): SMTP when configured, else the dev inbox (`backstack mail`).
        self.token_hasher = TokenHasher(settings.jwt_secret)  # mailed codes -> link tokens (onetime.py)
        self.outbox = Outbox(
            engine, self.sql, settings, mailer or build_mailer(engine, settings, clock), self.token_hasher
        )
        self._ready = False
        self._ready_lock = asyncio.Lock()

    async def ready(self) -> None:
        """Make sure the auth tables exist (once per process; `ensure_schema` at startup makes it free)."""
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await ensure_schema(self.engine)
                self._ready = True

    # -------------------------------------------------------------- sign-up

    async def sign_up(
        self,
        email: str,
        password: str,
        data: dict[str, Any],
        *,
        phone: str = "",
        client: ClientInfo,
        redirect_to: str = "",
        challenge: Challenge | None = None,
    ) -> Grant | dict[str, Any]:
        """A new email user: a `Grant` when no confirmation is required, else the bare user (JSON).

        While confirmation is required the confirmation mail goes out (link to `redirect_to`, if allowed;
        a PKCE link when the client sent a code `challenge`).
        """
        redirect_to = redirect_target(self.settings, redirect_to)
        if self.settings.auth_disable_signup:
            raise errors.signup_disabled()
        if not email and not phone:
            return await sign_in_anonymously(self, data, client)
        self._check_new_password(password)
        if email and phone:
            raise errors.validation_failed("Only an email address or phone number should be provided on signup.")
        if phone:
            raise errors.phone_provider_disabled("Phone signups are disabled")
        email = validated_email(email)
        existing = await users.find_by_email(self.engine, self.sql, email)
        if existing is not None:
            return await self._repeated_sign_up(existing, data, redirect_to, challenge)
        password_hash = await self.passwords.hash(password)
        try:
            return await self._create_user(email, password_hash, data, client, redirect_to, challenge)
        except DatabaseError as exc:
            if exc.code != "23505":  # someone registered the address meanwhile
                raise
            existing = await users.find_by_email(self.engine, self.sql, email)
            if existing is None:
                raise
            return await self._repeated_sign_up(existing, data, redirect_to, challenge)

    def _check_new_password(self, password: str) -> None:
        if not password:
            raise errors.validation_failed("Signup requires a valid password")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise errors.validation_failed(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
        min_length = self.settings.auth_password_min_length
        reasons = weak_reasons(password, min_length)
        if reasons:
            raise errors.weak_password(weak_message(min_length), reasons)

    async def _create_user(
        self,
        email: str,
        password_hash: str,
        data: dict[str, Any],
        client: ClientInfo,
        redirect_to: str,
        challenge: Challenge | None,
    ) -> Grant | dict[str, Any]:
        now = self.clock()
        confirmed = not self.settings.auth_email_confirm
        user = new_email_user(email, password_hash, data, confirmed=confirmed, now=now)
        if confirmed:
            user.last_sign_in_at = now
        async with self.engine.transaction() as conn:
            await users.insert_user(conn, self.sql, user)
            session = None
            if confirmed:
                session = await sessions.create(
                    conn, self.sql, user, method="password", now=now, user_agent=client.user_agent, ip=client.ip
                )
        if session is None:
            await self.outbox.mail(user, "confirmation", redirect_to, now, challenge=challenge)
            return user.to_json()
        return self._grant(user, session, now)

    async def _repeated_sign_up(
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

    # -------------------------------------------------------------- password sign-in

    async def sign_in_with_password(self, email: str, phone: str, password: str, *, client: ClientInfo) -> Grant:
        """`grant_type=password`: check the password, open a session."""
        if email and phone:
            raise errors.validation_failed("Only an email address or phone number should be provided on login.")
        if phone:
            raise errors.phone_provider_disabled("Phone logins are disabled")
        if not email:
            raise errors.validation_failed("missing email or phone")
        user = await users.find_by_email(self.engine, self.sql, email.strip().lower())
        if len(password) > MAX_PASSWORD_LENGTH:
            raise errors.invalid_credentials()
        # Verified even for unknown users (a dummy hash), so timing does not reveal accounts.
        verification = await self.passwords.verify(user.encrypted_password if user else None, password)
        if user is None or not verification.ok:
            raise errors.invalid_credentials()
        now = self.clock()
        if user.is_banned(now):
            raise errors.user_banned()
        if not user.is_confirmed:
            raise errors.email_not_confirmed()
        async with self.engine.transaction() as conn:
            await users.record_sign_in(conn, self.sql, user, now, verification.new_hash)
            session = await sessions.create(
                conn, self.sql, user, method="password", now=now, user_agent=client.user_agent, ip=client.ip
            )
        grant = self._grant(user, session, now)
        min_length = self.settings.auth_password_min_length
        grant.weak_password = weak_reasons(password, min_length) or None
        grant.weak_message = weak_message(min_length) if grant.weak_password else ""
        return grant

    # -------------------------------------------------------------- refresh

    async def refresh(self, token: str, *, client: ClientInfo) -> Grant:
        """`grant_type=refresh_token`: rotate the session's refresh token (GoTrue's algorithm v2).

        The presented token's counter is compared with the session's: equal -> the counter moves
        one step and the new token is returned; one behind (the client lost the last answer) or
        any reuse within `auth_refresh_token_reuse_interval` seconds of the last refresh (several
        tabs refreshing at once) -> the current token is returned again, nothing is minted;
        further behind -> the session is ended and `refresh_token_already_used` answered.
        """
        parsed = _parsed_refresh_token(token)
        for _ in range(_REFRESH_ATTEMPTS):
            found = await sessions.lookup(self.engine, self.sql, parsed.session_id)
            session = found.session if found else None
            if found is None or session is None or not session.hmac_key or session.counter is None:
                raise errors.refresh_token_not_found()
            if not parsed.signed_by(session.hmac_key):
                raise errors.refresh_token_not_found()
            now = self.clock()
            self._check_refreshable(found.user, session, now)
            behind = session.counter - parsed.counter
            if behind < 0:
                raise errors.refresh_token_not_issued_here()
            if behind == 0:
                if await sessions.advance(self.engine, self.sql, session, now, client.user_agent, client.ip):
                    return self._grant(found.user, session, now)
                continue  # another request moved the counter first: read again, take the reuse path
            if behind == 1 or self._recently_refreshed(session, now):
                return self._grant(found.user, session, now)
            await sessions.end(self.engine, self.sql, session.id)
            raise errors.refresh_token_already_used()
        raise errors.refresh_conflict()

    def _check_refreshable(self, user: User, session: Session, now: datetime) -> None:
        if user.is_banned(now):
            raise errors.user_banned("Invalid Refresh Token: User Banned")
        if session.not_after is not None and now > session.not_after:
            raise errors.session_expired()

    def _recently_refreshed(self, session: Session, now: datetime) -> bool:
        interval = timedelta(seconds=self.settings.auth_refresh_token_reuse_interval)
        return abs(now - session.last_refreshed_at()) < interval

    def _grant(self, user: User, session: Session, now: datetime) -> Grant:
        return issue_grant(self.tokens, user, session, now)

    # -------------------------------------------------------------- the bearer

    async def authenticate(self, bearer: str | None) -> Authenticated:
        """The user behind an access token, as GoTrue's `requireAuthentication` checks it."""
        if not bearer:
            raise errors.no_authorization()
        claims = self.tokens.verify(bearer)
        user_id = _uuid_claim(claims, "sub")
        if user_id is None:
            raise errors.bad_claim("invalid claim: missing sub claim")
        session_id = _uuid_claim(claims, "session_id")
        if session_id == _NIL_UUID:
            session_id = None
        user, alive = await sessions.find_user_with_session(self.engine, self.sql, user_id, session_id)
        if user is None:
            raise errors.user_not_found_for_jwt()
        if session_id is not None and not alive:
            raise errors.session_not_found()
        if user.is_banned(self.clock()):
            raise errors.user_banned(status=403)
        return Authenticated(claims, user, session_id)

    async def get_user(self, bearer: str | None) -> User:
        """`GET /user`: the bearer's user, when the token is meant for this audience."""
        auth = await self.authenticate(bearer)
        aud = auth.claims.get("aud")
        first = aud[0] if isinstance(aud, list) and aud else aud
        if first != AUDIENCE:
            raise errors.validation_failed("Token audience doesn't match request audience")
        return auth.user

    async def logout(self, bearer: str | None, scope: str) -> None:
        """`POST /logout`: end this session (`local`), the others (`others`) or all (`global`)."""
        auth = await self.authenticate(bearer)
        if scope not in LOGOUT_SCOPES:
            raise errors.validation_failed(f'Unsupported logout scope "{scope}"')
        if auth.session_id is None or scope == "global":
            await sessions.end_for_user(self.engine, self.sql, auth.user.id)
        elif scope == "local":
            await sessions.end(self.engine, self.sql, auth.session_id)
        else:
            await sessions.end_for_user(self.engine, self.sql, auth.user.id, keep=auth.session_id)

    # -------------------------------------------------------------- settings

    def public_settings(self) -> dict[str, Any]:
        """`GET /settings`: which sign-in methods this server offers."""
        external = dict.fromkeys(_PROVIDERS, False)
        external["email"] = True
        external["anonymous_users"] = self.settings.auth_anonymous_users
        external.update(dict.fromkeys(self.oauth.enabled(), True))
        return {
            "external": external,
            "disable_signup": self.settings.auth_disable_signup,
            "mailer_autoconfirm": not self.settings.auth_email_confirm,
            "phone_autoconfirm": False,
            "sms_provider": "",
            "saml_enabled": False,
            "saml_private_key_next_configured": False,
            "passkeys_enabled": False,
        }


_PROVIDERS = (
    "anonymous_users", "apple", "azure", "bitbucket", "discord", "facebook", "snapchat", "figma", "fly",
    "github", "gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "spotify",
    "slack", "slack_oidc", "workos", "twitch", "twitter", "email", "phone", "zoom",
)  # fmt: skip


def _parsed_refresh_token(token: str) -> RefreshToken:
    """The parsed token, or GoTrue's error for a missing or malformed one."""
    if not token:
        raise errors.refresh_token_required()
    if len(token) < LEGACY_LENGTH:
        raise errors.invalid_refresh_token_format()
    if len(token) == LEGACY_LENGTH:
        # GoTrue's first-generation tokens (rows in auth.refresh_tokens) are not issued here.
        if _LEGACY_TOKEN.match(token) is None:
            raise errors.invalid_refresh_token_format()
        raise errors.refresh_token_not_found()
    parsed = parse_refresh_token(token)
    if parsed is None:
        raise errors.invalid_refresh_token_format()
    return parsed


def _uuid_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        status = 400 if name == "sub" else 403
        raise errors.AuthError(status, "bad_jwt", f"invalid claim: {name} claim must be a UUID") from None

"""`GET|POST /verify`: redeem an emailed code or link, as GoTrue's verify handler does.

POST takes `{type, token, email}` (the code typed by the user) or `{type, token_hash}`; GET is the
link from the mail (`?token=<hash>&type=&redirect_to=`) and answers 303 to `redirect_to` with the
session in the fragment, or with `#error=...&error_code=...&error_description=...`.

Which tokens a type accepts: `signup`/`invite` -> confirmation, `magiclink`/`recovery` -> recovery
(magic links use the recovery token, as in GoTrue), `email` -> either of those two,
`email_change` -> the current-address or the new-address token. A token is valid for
`auth_otp_expiry` seconds and works once (its row is deleted in the transaction that signs in).

Every successful verification signs in with `amr` method `otp`, as GoTrue records it. A verified
signup, invite or magic link also confirms the address. Secure email change needs both tokens:
the first one redeemed answers `{"msg": ..., "code": "200"}`, the second applies the change.

PKCE: a link mailed to a client that sent a `code_challenge` carries `token=pkce_<hash>`; clicking
it completes the flow state stored with the mail and redirects to `redirect_to?code=<auth code>`,
which the client exchanges (`POST /token?grant_type=pkce`, store/flow_state.py) for the session. The
code typed into `verifyOtp` still answers with a session, as in GoTrue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from backstack.auth.core import errors
from backstack.auth.core.grants import issue_grant
from backstack.auth.core.user import validated_email
from backstack.auth.mail.outbox import FLOW_METHODS, PKCE_PREFIX
from backstack.auth.store import flow_state, onetime, sessions, user_writes, users
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.core.tokens import AccessTokens
    from backstack.auth.store.db import AuthDb
    from backstack.auth.store.onetime import OneTimeToken, TokenHasher
    from backstack.config import Settings

TOKEN_TYPES: dict[str, tuple[str, ...]] = {
    "signup": (onetime.CONFIRMATION,),
    "invite": (onetime.CONFIRMATION,),
    "magiclink": (onetime.RECOVERY,),
    "recovery": (onetime.RECOVERY,),
    "email": (onetime.CONFIRMATION, onetime.RECOVERY),
    "email_change": (onetime.EMAIL_CHANGE_CURRENT, onetime.EMAIL_CHANGE_NEW),
}
PHONE_TYPES = ("sms", "phone_change")
SINGLE_CONFIRMATION = "Confirmation link accepted. Please proceed to confirm link sent to the other email"


def link_expired() -> errors.AuthError:
    return errors.AuthError(403, "otp_expired", "Email link is invalid or has expired")


def code_expired() -> errors.AuthError:
    return errors.AuthError(403, "otp_expired", "Token has expired or is invalid")


@dataclass(slots=True)
class Verified:
    """A session (`grant`), or the note that one of two email-change confirmations was accepted."""

    grant: Grant | None
    message: str = ""
    auth_code: str = ""


def check_post(verify_type: str, token: str, token_hash: str, email: str, phone: str) -> str:
    """GoTrue's `VerifyParams.Validate` for POST: the lower-cased email, or a 400/422."""
    if not verify_type:
        raise errors.validation_failed("Verify requires a verification type")
    if (not token and not token_hash) or (token and token_hash):
        raise errors.validation_failed("Verify requires either a token or a token hash")
    if token:
        if phone and verify_type in PHONE_TYPES:
            return ""
        if not email or verify_type not in TOKEN_TYPES:
            raise errors.validation_failed("Only an email address or phone number should be provided on verify")
        try:
            return validated_email(email.strip())
        except errors.AuthError:
            raise errors.validation_failed("Invalid email format", status=422) from None
    if email or phone:
        raise errors.validation_failed("Only the token_hash and type should be provided")
    return ""


class Verify:
    """Redeems emailed codes and links over the store, the token hasher and the token issuer."""

    def __init__(
        self, db: AuthDb, settings: Settings, hasher: TokenHasher, tokens: AccessTokens, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.settings = settings
        self.hasher = hasher
        self.tokens = tokens
        self.clock = clock

    async def __call__(
        self,
        verify_type: str,
        *,
        token: str = "",
        token_hash: str = "",
        email: str = "",
        client: ClientInfo,
        via_link: bool = False,
    ) -> Verified:
        """Redeem a code (`token` + `email`) or a link hash (`token_hash`) of `verify_type`.

        A clicked link (`via_link`) whose token carries the `pkce_` mark ends in an auth code for the
        link's PKCE flow state (`Verified.auth_code`) instead of a session.
        """
        engine, sql = self.db.engine, self.db.sql
        pkce = token_hash.startswith(PKCE_PREFIX)
        if pkce:
            token_hash = token_hash[len(PKCE_PREFIX) :]
        if verify_type in PHONE_TYPES:
            raise code_expired()  # no phone provider: no phone user has a live code
        types = TOKEN_TYPES.get(verify_type)
        if types is None:
            raise errors.validation_failed("Unsupported verification type")
        if token_hash:
            found = await onetime.find_by_hash(engine, sql, token_hash, types)
            expired = link_expired
        else:
            found = await onetime.check_code(engine, sql, self.hasher, email, token, types)
            expired = code_expired
        now = self.clock()
        if found is None or found.expired(now, self.settings.auth_otp_expiry):
            raise expired()
        if not (pkce and via_link):
            return await self._redeem(found, client, session=True)
        # The user's newest unfinished PKCE flow for this kind of link, found before the token is spent.
        flow_id = await flow_state.pending_flow(engine, sql, found.user_id, FLOW_METHODS.get(verify_type, verify_type))
        if flow_id is None:
            raise errors.AuthError(404, "flow_state_not_found", "No associated flow state found.")
        verified = await self._redeem(found, client, session=False)
        if verified.grant is None and not verified.message:
            verified.auth_code = await flow_state.issue_auth_code(engine, sql, flow_id, found.user_id, self.clock())
        return verified

    async def _redeem(self, found: OneTimeToken, client: ClientInfo, *, session: bool) -> Verified:
        try:
            return await self._redeem_in_transaction(found, client, session)
        except DatabaseError as exc:
            if exc.code != "23505":
                raise
            # The pending address was registered by someone else since the change was asked for.
            raise errors.email_exists() from None

    async def _redeem_in_transaction(self, found: OneTimeToken, client: ClientInfo, session: bool) -> Verified:
        sql = self.db.sql
        now = self.clock()
        async with self.db.engine.transaction() as conn:
            try:
                user = await user_writes.reload(conn, sql, found.user_id)
            except LookupError:
                raise link_expired() from None
            if user.is_banned(now):
                raise errors.AuthError(403, "user_banned", "User is banned")
            if not await onetime.redeem(conn, sql, found):
                raise link_expired()  # redeemed meanwhile by another request
            if found.token_type in (onetime.EMAIL_CHANGE_CURRENT, onetime.EMAIL_CHANGE_NEW):
                if not user.new_email:
                    raise link_expired()
                current = found.token_type == onetime.EMAIL_CHANGE_CURRENT
                other = onetime.EMAIL_CHANGE_NEW if current else onetime.EMAIL_CHANGE_CURRENT
                if await onetime.has_token(conn, sql, user.id, other):
                    await user_writes.set_confirm_status(conn, sql, user.id, 1)
                    return Verified(None, SINGLE_CONFIRMATION)
                await user_writes.apply_email_change(conn, sql, user, now)
            else:
                await user_writes.confirm_email(conn, sql, user, now)
                if found.token_type == onetime.RECOVERY:
                    await onetime.clear(conn, sql, user.id, onetime.CONFIRMATION)
            if not session:
                return Verified(None)  # PKCE: the session comes from grant_type=pkce
            await users.record_sign_in(conn, sql, user, now, None)
            opened = await sessions.create(
                conn, sql, user, method="otp", now=now, user_agent=client.user_agent, ip=client.ip
            )
            user = await user_writes.reload(conn, sql, user.id)
        return Verified(issue_grant(self.tokens, user, opened, now))


# ------------------------------------------------------------------ GET /verify redirects


def _with_fragment(url: str, fragment: dict[str, str], query: dict[str, str] | None = None) -> str:
    parts = urlsplit(url)
    q = parts.query
    if query:
        q = (q + "&" if q else "") + urlencode(query)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, q, urlencode(fragment)))


def success_redirect(target: str, verified: Verified, verify_type: str, *, pkce: bool = False) -> str:
    """Implicit flow: the session in the fragment (what supabase-js's `detectSessionInUrl` reads);
    PKCE: `?code=<auth code>` for `grant_type=pkce`."""
    if verified.auth_code:
        return _with_fragment(target, {}, {"code": verified.auth_code})
    if verified.grant is None:
        query = {"message": verified.message} if pkce else None
        return _with_fragment(target, {"message": verified.message, "sb": ""}, query)
    g = verified.grant
    return _with_fragment(
        target,
        {
            "access_token": g.access_token,
            "expires_at": str(g.expires_at),
            "expires_in": str(g.expires_in),
            "refresh_token": g.refresh_token,
            "token_type": "bearer",
            "type": verify_type,
        },
    )


_OAUTH_ERRORS = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied", 500: "server_error",
                 503: "temporarily_unavailable"}  # fmt: skip


def error_redirect(target: str, error: errors.AuthError, *, pkce: bool = False) -> str:
    """GoTrue's `prepErrorRedirectURL`: the error in the fragment, and in the query too for PKCE."""
    fragment: dict[str, str] = {}
    if error.status in _OAUTH_ERRORS:
        fragment["error"] = _OAUTH_ERRORS[error.status]
    fragment.update({"error_code": error.code, "error_description": error.message})
    query = dict(fragment) if pkce else None
    fragment["sb"] = ""
    return _with_fragment(target, fragment, query)

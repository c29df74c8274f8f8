"""Mails that carry a one-time token: make the token, record when it was sent, render and deliver.

Each kind follows GoTrue's mailer: a numeric code (`{{ .Token }}`) and a link to
`/auth/v1/verify?token=<hash>&type=<type>&redirect_to=<target>` (`{{ .ConfirmationURL }}`), the
hash stored in `auth.one_time_tokens` and the matching `*_sent_at` column of the user set in the
same transaction. `issue` does that without sending (POST /admin/generate_link hands the link to
the caller instead).

| kind               | token type                 | verify type     | sent-at column            |
|--------------------|----------------------------|-----------------|---------------------------|
| confirmation       | confirmation_token         | signup          | confirmation_sent_at      |
| invite             | confirmation_token         | invite          | confirmation_sent_at (+ invited_at) |
| magic_link         | recovery_token             | magiclink       | recovery_sent_at          |
| recovery           | recovery_token             | recovery        | recovery_sent_at          |
| email_change       | email_change_token_current / _new | email_change | email_change_sent_at  |
| reauthentication   | reauthentication_token     | (PUT /user nonce) | reauthentication_sent_at |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from backstack.auth.core import errors
from backstack.auth.core.redirects import site_url
from backstack.auth.core.user import User
from backstack.auth.mail.delivery import Mailer, MailError
from backstack.auth.mail.templates import Mail, Templates
from backstack.auth.store import flow_state, onetime, user_writes

if TYPE_CHECKING:
    from datetime import datetime

    from backstack.auth.core.pkce import Challenge
    from backstack.auth.core.user import User
    from backstack.auth.store.onetime import TokenHasher
    from backstack.auth.store.sql import AuthSql
    from backstack.config import Settings
    from backstack.db.engine import Connection, Engine

PKCE_PREFIX = "pkce_"  # GoTrue's mark on the token of a link that belongs to a PKCE flow
# verify type -> the flow state's authentication method (GoTrue's `models.AuthenticationMethod` names)
FLOW_METHODS = {
    "signup": "email/signup",
    "invite": "invite",
    "magiclink": "magiclink",
    "recovery": "recovery",
    "email_change": "email_change",
    "reauthentication": "reauthentication",
}
# kind -> (token type, verify type, sent-at column, GoTrue's failure message)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "confirmation": (onetime.CONFIRMATION, "signup", "confirmation_sent_at", "Error sending confirmation email"),
    "invite": (onetime.CONFIRMATION, "invite", "confirmation_sent_at", "Error sending invite email"),
    "magic_link": (onetime.RECOVERY, "magiclink", "recovery_sent_at", "Error sending magic link email"),
    "recovery": (onetime.RECOVERY, "recovery", "recovery_sent_at", "Error sending recovery email"),
    "reauthentication": (
        onetime.REAUTHENTICATION, "reauthentication", "reauthentication_sent_at",
        "Error sending reauthentication email",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Issued:
    """A token made for one address: the code, its hash and the link carrying the hash."""

    otp: str
    hashed: str
    link: str
    verify_type: str
    redirect_to: str


class Outbox:
    """Issues one-time tokens and mails them; one per `AuthService`."""

    def __init__(self, engine: Engine, sql: AuthSql, settings: Settings, mailer: Mailer, hasher: TokenHasher) -> None:
        self.engine = engine
        self.sql = sql
        self.settings = settings
        self.mailer = mailer
        self.hasher = hasher  # the keyed link token of a code (store/onetime.py)
        self.templates = Templates(settings.project_dir)

    def link(self, hashed: str, verify_type: str, redirect_to: str, *, pkce: bool = False) -> str:
        token = PKCE_PREFIX + hashed if pkce else hashed
        query = urlencode({"token": token, "type": verify_type, "redirect_to": redirect_to})
        return f"{self.settings.public_url.rstrip('/')}/auth/v1/verify?{query}"

    async def _start_flow(
        self, conn: Connection, user: User, verify_type: str, challenge: Challenge | None, now: datetime
    ) -> bool:
        """A PKCE flow state for the link (GoTrue's, found again by user and method when it is clicked)."""
        if challenge is None:
            return False
        # Flows of links nobody clicked: gone once no link of theirs can still be valid.
        await flow_state.delete_unclicked_email_flows(
            conn, self.sql, now - timedelta(seconds=self.settings.auth_otp_expiry * 2)
        )
        await flow_state.create(
            conn, self.sql, provider_type="email", authentication_method=FLOW_METHODS[verify_type],
            challenge=challenge, now=now, user_id=user.id,
        )  # fmt: skip
        return True

    async def issue(
        self,
        conn: Connection,
        user: User,
        kind: str,
        redirect_to: str,
        now: datetime,
        *,
        address: str = "",
        challenge: Challenge | None = None,
    ) -> Issued:
        """Store a new token of `kind` for `user` (inside the caller's transaction) and set its sent-at.

        With a PKCE `challenge` a flow state is stored too and the link's token is `pkce_<hash>`: the
        clicked link then redirects with `?code=` for `grant_type=pkce` instead of a session.
        """
        token_type, verify_type, column, _ = KINDS[kind]
        pkce = await self._start_flow(conn, user, verify_type, challenge, now)
        address = address or user.email
        otp = onetime.new_otp(self.settings.auth_otp_length)
        hashed = self.hasher(address, otp)
        await onetime.store(conn, self.sql, user.id, token_type, address, hashed, now)
        await user_writes.mark_sent(conn, self.sql, user.id, column, now, invited=kind == "invite")
        setattr(user, column, now)
        if kind == "invite":
            user.invited_at = now
        link = self.link(hashed, verify_type, redirect_to, pkce=pkce)
        return Issued(otp, hashed, link, verify_type, redirect_to)

    async def issue_email_change(
        self,
        conn: Connection,
        user: User,
        new_email: str,
        redirect_to: str,
        now: datetime,
        *,
        secure: bool,
        clear_current: bool = True,
        challenge: Challenge | None = None,
    ) -> tuple[Issued | None, Issued]:
        """Tokens for an email change: one for the current address (when `secure`) and one for the new.

        Without `secure`, a current-address token left from an earlier request is dropped unless
        `clear_current` is false (generate_link making the two links one call at a time).
        """
        await user_writes.start_email_change(conn, self.sql, user.id, new_email, now)
        user.new_email = new_email
        user.email_change_sent_at = now
        pkce = await self._start_flow(conn, user, "email_change", challenge, now)
        current: Issued | None = None
        if secure and user.email:
            otp = onetime.new_otp(self.settings.auth_otp_length)
            hashed = self.hasher(user.email, otp)
            await onetime.store(conn, self.sql, user.id, onetime.EMAIL_CHANGE_CURRENT, user.email, hashed, now)
            link = self.link(hashed, "email_change", redirect_to, pkce=pkce)
            current = Issued(otp, hashed, link, "email_change", redirect_to)
        elif clear_current:
            await onetime.clear(conn, self.sql, user.id, onetime.EMAIL_CHANGE_CURRENT)
        otp = onetime.new_otp(self.settings.auth_otp_length)
        hashed = self.hasher(new_email, otp)
        await onetime.store(conn, self.sql, user.id, onetime.EMAIL_CHANGE_NEW, new_email, hashed, now)
        link = self.link(hashed, "email_change", redirect_to, pkce=pkce)
        new = Issued(otp, hashed, link, "email_change", redirect_to)
        return current, new

    async def send(self, kind: str, to: str, issued: Issued, user: User, *, new_email: str = "") -> None:
        """Render the template of `kind` for `issued` and deliver it (GoTrue's 500 when delivery fails)."""
        values: dict[str, Any] = {
            "ConfirmationURL": issued.link if kind != "reauthentication" else "",
            "Token": issued.otp,
            "TokenHash": issued.hashed,
            "SiteURL": site_url(self.settings),
            "RedirectTo": issued.redirect_to,
            "Email": user.email,
            "NewEmail": new_email,
            "Data": user.user_metadata,
        }
        mail: Mail = self.templates.render(kind, to, values)
        try:
            await self.mailer.send(mail)
        except MailError:
            message = KINDS[kind][3] if kind in KINDS else "Error sending email change email"
            raise errors.AuthError(500, "unexpected_failure", message) from None

    async def mail(
        self, user: User, kind: str, redirect_to: str, now: datetime, *, challenge: Challenge | None = None
    ) -> None:
        """Issue a token of `kind` for `user` in its own transaction and mail it to the user's address."""
        async with self.engine.transaction() as conn:
            issued = await self.issue(conn, user, kind, redirect_to, now, challenge=challenge)
        await self.send(kind, user.email, issued, user)

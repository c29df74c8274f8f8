"""`AuthService`: the auth service of one app, built once with its dependencies.

This is where auth is wired: the store (`AuthDb`), the token issuer (`AccessTokens`), the password
hasher, the outbox and its mailer, the rate limits and the clock are made here, once, and handed
to each flow (flows/) explicitly. The api layer (api/) reaches a flow through the attribute named
after it (`service.sign_up`, `service.verify`, ...) and holds no rules; flows never see the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from backstack.auth.core.grants import issue_grant
from backstack.auth.core.passwords import Passwords
from backstack.auth.core.ratelimit import AuthLimits
from backstack.auth.core.tokens import AccessTokens
from backstack.auth.flows.account import Account
from backstack.auth.flows.admin_links import AdminLinks
from backstack.auth.flows.admin_users import AdminUsers
from backstack.auth.flows.anonymous import AnonymousSignIn
from backstack.auth.flows.bearer import Bearer
from backstack.auth.flows.email_change import EmailChange
from backstack.auth.flows.external.oauth import OAuthFlows
from backstack.auth.flows.mfa import Mfa
from backstack.auth.flows.password import PasswordSignIn
from backstack.auth.flows.passwordless import Passwordless
from backstack.auth.flows.recovery import Recovery
from backstack.auth.flows.refresh import Refresh
from backstack.auth.flows.signup import SignUp
from backstack.auth.flows.verify import Verify
from backstack.auth.mail.delivery import Mailer, build_mailer
from backstack.auth.mail.outbox import Outbox
from backstack.auth.store.db import AuthDb
from backstack.auth.store.onetime import TokenHasher
from backstack.auth.store.schema import ensure_schema
from backstack.core.signing import build_key_set

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.ports import RateLimiter
    from backstack.db.engine import Engine

_PROVIDERS = (
    "anonymous_users", "apple", "azure", "bitbucket", "discord", "facebook", "snapchat", "figma", "fly",
    "github", "gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "spotify",
    "slack", "slack_oidc", "workos", "twitch", "twitter", "email", "phone", "zoom",
)  # fmt: skip


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuthService:
    """GoTrue over one engine; one instance per app, every flow built here with what it needs."""

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
        self.clock = clock
        self.db = db = AuthDb.over(engine)
        self.limits = AuthLimits(limiter, settings)  # no limiter: nothing is limited
        hasher = passwords or Passwords()
        issuer = f"{settings.public_url.rstrip('/')}/auth/v1"
        keys = build_key_set(
            settings.jwt_secret, settings.jwt_signing_key, settings.jwt_verification_keys, settings.project_dir
        )
        self.tokens = tokens = AccessTokens(settings.jwt_secret, issuer, settings.jwt_expiry, keys=keys)
        # Auth mails: SMTP when configured, else the dev inbox (`backstack mail`); mailed codes become
        # link tokens through the keyed hash (store/onetime.py).
        token_hasher = TokenHasher(settings.jwt_secret)
        outbox = Outbox(engine, db.sql, settings, mailer or build_mailer(engine, settings, clock), token_hasher)
        email_change = EmailChange(db, settings, outbox, clock)
        anonymous = AnonymousSignIn(db, settings, tokens, clock)

        self.bearer = Bearer(db, tokens, clock)
        self.sign_up = SignUp(db, settings, hasher, tokens, outbox, anonymous, clock)
        self.sign_in_with_password = PasswordSignIn(db, settings, hasher, tokens, clock)
        self.refresh = Refresh(db, settings, tokens, clock)
        self.passwordless = Passwordless(db, settings, outbox, clock)
        self.recovery = Recovery(db, outbox, email_change, clock)
        self.verify = Verify(db, settings, token_hasher, tokens, clock)
        self.account = Account(db, settings, hasher, token_hasher, outbox, email_change, clock)
        self.admin_links = AdminLinks(db, settings, hasher, outbox, clock)
        self.admin_users = AdminUsers(db, settings, hasher, clock)
        self.mfa = Mfa(db, settings, tokens, clock)
        self.oauth = OAuthFlows(engine, settings, db.sql, partial(issue_grant, tokens), clock)
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

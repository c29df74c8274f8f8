"""MFA with TOTP (RFC 6238, through pyotp): enroll, challenge, verify, unenroll (GoTrue's `api/mfa.go`).

- `POST /factors` enrolls an unverified TOTP factor: a 160-bit base32 secret, its `otpauth://`
  URI and the URI as a QR code in SVG markup (segno), which the clients turn into a data: URL.
  Anonymous users cannot enroll; with a verified factor already, enrolling another needs an aal2
  session; at most `MAX_FACTORS` factors per user; friendly names are unique per user.
- `POST /factors/{id}/challenge` opens a challenge valid `CHALLENGE_EXPIRY` seconds.
- `POST /factors/{id}/verify` checks a code for an open challenge: codes of the previous, current
  and next 30-second step are accepted (GoTrue's skew of one step), compared in constant time.
  A code is accepted at most once: the factor remembers the last step it accepted
  (`last_totp_step`), and only a later step passes, so a code seen over a shoulder or in a log
  cannot be replayed while it is still valid. The bearer's session becomes `aal2` with `totp`
  added to its `amr`, and a fresh token pair is returned. The first verification of a factor ends
  the user's other sessions that are still aal1 (as GoTrue), since they were not made with it.
- `DELETE /factors/{id}` unenrolls; when the user has a verified factor this needs an aal2
  session. Sessions raised to aal2 with the factor fall back to aal1.

Guessing is bounded by the rate limiter (core/ratelimit.py, counted by api/mfa.py): every verification counts against
`auth_rate_limit_verify` per IP address *and* per factor (30 per 5 minutes by default), so
guessing a 6-digit code (three valid steps: one chance in 333,000 per attempt) from any number of
addresses takes weeks on average instead of minutes.
"""

from __future__ import annotations

import hmac
import io
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyotp
import segno

from backstack.auth.core import errors
from backstack.auth.core.body import text
from backstack.auth.core.errors import path_uuid
from backstack.auth.core.grants import issue_grant
from backstack.auth.store import factors, sessions
from backstack.auth.store.factors import AAL2, TOTP
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.core.session import Session
    from backstack.auth.core.tokens import AccessTokens
    from backstack.auth.flows.bearer import Authenticated
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings

PERIOD = 30
DIGITS = 6
SKEW_STEPS = 1
CHALLENGE_EXPIRY = 300  # seconds (GoTrue's MFA_CHALLENGE_EXPIRY_DURATION default)
MAX_FACTORS = 10  # GoTrue's MFA_MAX_ENROLLED_FACTORS default


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as standalone SVG markup (with its namespace, so it works as a data: URL)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=4, nl=False)
    return out.getvalue().decode()


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (of now-1 .. now+1) whose code equals `code`, compared in constant time; None if none."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = int(now.timestamp()) // PERIOD
    found: int | None = None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        expected = totp.generate_otp(step).encode()
        if hmac.compare_digest(expected, code.encode()) and found is None:
            found = step
    return found


def _anonymous_refused() -> errors.AuthError:
    return errors.AuthError(403, "no_authorization", "Anonymous user not allowed to perform these actions")


def _factor_not_found() -> errors.AuthError:
    return errors.AuthError(404, "mfa_factor_not_found", "Factor not found")


class Mfa:
    """The factor endpoints' rules over the store, the token issuer and the clock."""

    def __init__(self, db: AuthDb, settings: Settings, tokens: AccessTokens, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.tokens = tokens
        self.clock = clock

    async def _session(self, auth: Authenticated) -> Session:
        """The bearer's session; anonymous users have no factors."""
        if auth.user.is_anonymous or auth.claims.get("is_anonymous") is True:
            raise _anonymous_refused()
        found = await sessions.lookup(self.db.engine, self.db.sql, auth.session_id) if auth.session_id else None
        if found is None:
            raise errors.session_not_found()
        return found.session

    def _factor(self, auth: Authenticated, factor_id: str) -> dict[str, Any]:
        factor_id = path_uuid(factor_id, "factor_id")
        factor = next((f for f in auth.user.factors if f["id"] == factor_id), None)
        if factor is None:
            raise _factor_not_found()
        return factor

    async def enroll(self, auth: Authenticated, body: dict[str, Any]) -> dict[str, Any]:
        """A new unverified TOTP factor: its secret, `otpauth://` URI and QR code (fields read after the checks)."""
        session = await self._session(auth)
        factor_type = text(body, "factor_type")
        friendly_name = text(body, "friendly_name")
        issuer = text(body, "issuer") or urlsplit(self.settings.public_url).netloc or "backstack"
        if factor_type in ("phone", "webauthn"):
            name = "Phone" if factor_type == "phone" else "WebAuthn"
            raise errors.AuthError(422, f"mfa_{factor_type}_enroll_not_enabled", f"MFA enroll is disabled for {name}")
        if factor_type != TOTP:
            raise errors.validation_failed("factor_type needs to be totp, phone, or webauthn")
        enrolled = auth.user.factors
        if len(enrolled) >= MAX_FACTORS:
            raise errors.AuthError(
                422, "too_many_enrolled_mfa_factors", "Maximum number of verified factors reached, unenroll to continue"
            )
        if any(f["status"] == "verified" for f in enrolled) and session.aal != AAL2:
            raise errors.AuthError(403, "insufficient_aal", "AAL2 required to enroll a new factor")
        if friendly_name.strip() and any(f.get("friendly_name") == friendly_name for f in enrolled):
            raise _name_conflict(friendly_name)
        secret = pyotp.random_base32()  # 32 characters: 160 bits, RFC 4226's recommended key length
        account = auth.user.email or auth.user.phone or auth.user.id
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account, issuer_name=issuer)
        factor_id = str(uuid.uuid4())
        try:
            await factors.insert_factor(
                self.db.engine, self.db.sql, factor_id, auth.user.id, friendly_name, secret, self.clock()
            )
        except DatabaseError as exc:
            if exc.code == "23505":
                raise _name_conflict(friendly_name) from None
            raise
        return {
            "id": factor_id,
            "type": TOTP,
            "friendly_name": friendly_name,
            "totp": {"qr_code": qr_svg(uri), "secret": secret, "uri": uri},
        }

    async def challenge(self, auth: Authenticated, factor_id: str, client: ClientInfo) -> dict[str, Any]:
        """A challenge valid `CHALLENGE_EXPIRY` seconds."""
        await self._session(auth)
        factor = self._factor(auth, factor_id)
        now = self.clock()
        challenge_id = str(uuid.uuid4())
        await factors.insert_challenge(self.db.engine, self.db.sql, challenge_id, factor["id"], client.ip, now)
        return {"id": challenge_id, "type": TOTP, "expires_at": int(now.timestamp()) + CHALLENGE_EXPIRY}

    async def verify(self, auth: Authenticated, factor_id: str, body: dict[str, Any]) -> Grant:
        """Check a code for an open challenge; the session becomes aal2 and a fresh token pair is returned."""
        session = await self._session(auth)
        factor = self._factor(auth, factor_id)
        challenge_id = text(body, "challenge_id")
        code = text(body, "code").strip()
        try:
            challenge_id = str(uuid.UUID(challenge_id))
        except ValueError:
            raise _challenge_not_found() from None
        engine, sql = self.db.engine, self.db.sql
        found = await factors.find_challenge(engine, sql, challenge_id, factor["id"])
        if found is None:
            raise _challenge_not_found()
        now = self.clock()
        created_at = found.created_at
        if found.verified or created_at is None or now > created_at + timedelta(seconds=CHALLENGE_EXPIRY):
            await factors.delete_challenge(engine, sql, challenge_id)
            raise errors.AuthError(
                422,
                "mfa_challenge_expired",
                f"{challenge_id} has expired, verify against another challenge or create a new challenge.",
            )
        step = totp_step(found.secret, code, now)
        if step is None or (found.last_step is not None and step <= found.last_step):
            raise _verification_failed()
        first_verification = factor["status"] != "verified"
        async with engine.transaction() as conn:
            if not await factors.accept_step(conn, sql, factor["id"], step, now):
                raise _verification_failed()
            await factors.mark_verified(conn, sql, challenge_id, now)
            await factors.raise_session(conn, sql, session.id, factor["id"], now)
            if first_verification:
                await factors.end_aal1_sessions(conn, sql, auth.user.id, session.id)
        raised = await sessions.lookup(engine, sql, session.id)
        if raised is None:
            raise errors.session_not_found()
        return issue_grant(self.tokens, raised.user, raised.session, now)

    async def unenroll(self, auth: Authenticated, factor_id: str) -> dict[str, Any]:
        """Remove a factor; with a verified factor this needs an aal2 session."""
        session = await self._session(auth)
        factor = self._factor(auth, factor_id)
        if any(f["status"] == "verified" for f in auth.user.factors) and session.aal != AAL2:
            raise errors.AuthError(422, "insufficient_aal", "AAL2 required to unenroll verified factor")
        async with self.db.engine.transaction() as conn:
            await factors.delete_factor(conn, self.db.sql, factor["id"])
        return {"id": factor["id"]}


def _name_conflict(name: str) -> errors.AuthError:
    return errors.AuthError(
        422, "mfa_factor_name_conflict", f'A factor with the friendly name "{name}" for this user already exists'
    )


def _challenge_not_found() -> errors.AuthError:
    return errors.AuthError(422, "mfa_factor_not_found", "MFA factor with the provided challenge ID not found")


def _verification_failed() -> errors.AuthError:
    return errors.AuthError(422, "mfa_verification_failed", "Invalid TOTP code entered")

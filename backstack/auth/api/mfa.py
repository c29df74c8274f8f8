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

Guessing is bounded by the rate limiter (ratelimit.py): every verification counts against
`auth_rate_limit_verify` per IP address *and* per factor (30 per 5 minutes by default), so
guessing a 6-digit code (three valid steps: one chance in 333,000 per attempt) from any number of
addresses takes weeks on average instead of minutes.
"""

from __future__ import annotations

import hmac
import io
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyotp
import segno

from backstack.auth.api import http
from backstack.auth.core import errors
from backstack.auth.core.grants import issue_grant
from backstack.auth.core.ratelimit import OVER_REQUEST, over_limit, parse_rate
from backstack.auth.store import sessions
from backstack.auth.store.sql import read_ts
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.service import Authenticated, AuthService
    from backstack.auth.store.sessions import Session
    from backstack.auth.store.sql import AuthSql
    from backstack.db.engine import Connection

    Endpoint = Callable[[AuthService, Request], Awaitable[Response]]

TOTP = "totp"
PERIOD = 30
DIGITS = 6
SKEW_STEPS = 1
CHALLENGE_EXPIRY = 300  # seconds (GoTrue's MFA_CHALLENGE_EXPIRY_DURATION default)
MAX_FACTORS = 10  # GoTrue's MFA_MAX_ENROLLED_FACTORS default
AAL2 = "aal2"


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
    """The factor endpoints' rules over one `AuthService`."""

    def __init__(self, service: AuthService) -> None:
        self.service = service
        self.engine = service.engine
        self.sql: AuthSql = service.sql

    async def _caller(self, token: str | None) -> tuple[Authenticated, Session]:
        auth = await self.service.authenticate(token)
        if auth.user.is_anonymous or auth.claims.get("is_anonymous") is True:
            raise _anonymous_refused()
        found = await sessions.lookup(self.engine, self.sql, auth.session_id) if auth.session_id else None
        if found is None:
            raise errors.session_not_found()
        return auth, found.session

    def _factor(self, auth: Authenticated, factor_id: str) -> dict[str, Any]:
        factor_id = http.path_uuid(factor_id, "factor_id")
        factor = next((f for f in auth.user.factors if f["id"] == factor_id), None)
        if factor is None:
            raise _factor_not_found()
        return factor

    # ---------------------------------------------------------- enroll

    async def enroll(self, token: str | None, body: dict[str, Any]) -> dict[str, Any]:
        auth, session = await self._caller(token)
        factor_type = http.text(body, "factor_type")
        friendly_name = http.text(body, "friendly_name")
        issuer = http.text(body, "issuer") or urlsplit(self.service.settings.public_url).netloc or "backstack"
        if factor_type in ("phone", "webauthn"):
            name = "Phone" if factor_type == "phone" else "WebAuthn"
            raise errors.AuthError(422, f"mfa_{factor_type}_enroll_not_enabled", f"MFA enroll is disabled for {name}")
        if factor_type != TOTP:
            raise errors.validation_failed("factor_type needs to be totp, phone, or webauthn")
        factors = auth.user.factors
        if len(factors) >= MAX_FACTORS:
            raise errors.AuthError(
                422, "too_many_enrolled_mfa_factors", "Maximum number of verified factors reached, unenroll to continue"
            )
        if any(f["status"] == "verified" for f in factors) and session.aal != AAL2:
            raise errors.AuthError(403, "insufficient_aal", "AAL2 required to enroll a new factor")
        if friendly_name.strip() and any(f.get("friendly_name") == friendly_name for f in factors):
            raise _name_conflict(friendly_name)
        secret = pyotp.random_base32()  # 32 characters: 160 bits, RFC 4226's recommended key length
        account = auth.user.email or auth.user.phone or auth.user.id
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account, issuer_name=issuer)
        factor_id = str(uuid.uuid4())
        now = self.sql.ts(self.service.clock())
        try:
            async with self.engine.transaction() as conn:
                await conn.execute(
                    self.sql(
                        "insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, "
                        "updated_at, secret) values (?, ?, ?, ?::text::auth.factor_type, "
                        "?::text::auth.factor_status, ?, ?, ?)"
                    ),
                    (factor_id, auth.user.id, friendly_name, TOTP, "unverified", now, now, secret),
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

    # ---------------------------------------------------------- challenge

    async def challenge(self, token: str | None, factor_id: str, client: ClientInfo) -> dict[str, Any]:
        auth, _ = await self._caller(token)
        factor = self._factor(auth, factor_id)
        now = self.service.clock()
        challenge_id = str(uuid.uuid4())
        async with self.engine.transaction() as conn:
            await conn.execute(
                self.sql(
                    "insert into auth.mfa_challenges (id, factor_id, created_at, ip_address) "
                    "values (?, ?, ?, ?::text::inet)"
                ),
                (challenge_id, factor["id"], self.sql.ts(now), client.ip),
            )
            await conn.execute(
                self.sql("update auth.mfa_factors set last_challenged_at = ? where id = ?"),
                (self.sql.ts(now), factor["id"]),
            )
        return {"id": challenge_id, "type": TOTP, "expires_at": int(now.timestamp()) + CHALLENGE_EXPIRY}

    # ---------------------------------------------------------- verify

    async def verify(self, token: str | None, factor_id: str, body: dict[str, Any], client: ClientInfo) -> Grant:
        auth, session = await self._caller(token)
        factor = self._factor(auth, factor_id)
        challenge_id = http.text(body, "challenge_id")
        code = http.text(body, "code").strip()
        try:
            challenge_id = str(uuid.UUID(challenge_id))
        except ValueError:
            raise _challenge_not_found() from None
        sql = self.sql
        row = await self.engine.fetch_one(
            sql(
                "select c.created_at, c.verified_at, f.secret, f.last_totp_step from auth.mfa_challenges c "
                "join auth.mfa_factors f on f.id = c.factor_id where c.id = ? and c.factor_id = ?"
            ),
            (challenge_id, factor["id"]),
        )
        if row is None:
            raise _challenge_not_found()
        now = self.service.clock()
        created_at = read_ts(row[0])
        if row[1] is not None or created_at is None or now > created_at + timedelta(seconds=CHALLENGE_EXPIRY):
            async with self.engine.transaction() as conn:
                await conn.execute(sql("delete from auth.mfa_challenges where id = ?"), (challenge_id,))
            raise errors.AuthError(
                422,
                "mfa_challenge_expired",
                f"{challenge_id} has expired, verify against another challenge or create a new challenge.",
            )
        step = totp_step(str(row[2] or ""), code, now)
        last_step = int(row[3]) if row[3] is not None else None
        if step is None or (last_step is not None and step <= last_step):
            raise _verification_failed()
        first_verification = factor["status"] != "verified"
        stamp = sql.ts(now)
        async with self.engine.transaction() as conn:
            # Compare-and-set on the step: of two requests with one code, one wins.
            changed = await conn.execute(
                sql(
                    "update auth.mfa_factors set last_totp_step = ?, status = ?::text::auth.factor_status, "
                    "updated_at = ? where id = ? and (last_totp_step is null or last_totp_step < ?)"
                ),
                (step, "verified", stamp, factor["id"], step),
            )
            if changed != 1:
                raise _verification_failed()
            await conn.execute(
                sql("update auth.mfa_challenges set verified_at = ? where id = ?"), (stamp, challenge_id)
            )
            await _raise_session(conn, sql, session.id, factor["id"], now)
            if first_verification:
                await conn.execute(
                    sql("delete from auth.sessions where user_id = ? and id <> ? and (aal is null or aal = 'aal1')"),
                    (auth.user.id, session.id),
                )
        found = await sessions.lookup(self.engine, sql, session.id)
        if found is None:
            raise errors.session_not_found()
        return issue_grant(self.service.tokens, found.user, found.session, now)

    # ---------------------------------------------------------- unenroll

    async def unenroll(self, token: str | None, factor_id: str) -> dict[str, Any]:
        auth, session = await self._caller(token)
        factor = self._factor(auth, factor_id)
        if any(f["status"] == "verified" for f in auth.user.factors) and session.aal != AAL2:
            raise errors.AuthError(422, "insufficient_aal", "AAL2 required to unenroll verified factor")
        async with self.engine.transaction() as conn:
            await delete_factor(conn, self.sql, factor["id"])
        return {"id": factor["id"]}


async def _raise_session(conn: Connection, sql: AuthSql, session_id: str, factor_id: str, now: datetime) -> None:
    """The session becomes aal2 through `factor_id`, `totp` joins its methods, its refresh token rotates."""
    stamp = sql.ts(now)
    await conn.execute(
        sql(
            "update auth.sessions set aal = ?::text::auth.aal_level, factor_id = ?, updated_at = ?, "
            "refresh_token_counter = refresh_token_counter + 1, refreshed_at = ? where id = ?"
        ),
        (AAL2, factor_id, stamp, sql.ts_naive(now), session_id),
    )
    await conn.execute(
        sql(
            "insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method) "
            "values (?, ?, ?, ?, ?) on conflict (session_id, authentication_method) "
            "do update set updated_at = excluded.updated_at"
        ),
        (str(uuid.uuid4()), session_id, stamp, stamp, TOTP),
    )


async def delete_factor(conn: Connection, sql: AuthSql, factor_id: str) -> None:
    """Remove a factor; sessions raised to aal2 with it fall back to aal1 (GoTrue's DowngradeSessionsToAAL1)."""
    await conn.execute(
        sql(
            "delete from auth.mfa_amr_claims where authentication_method = ? and session_id in "
            "(select id from auth.sessions where factor_id = ?)"
        ),
        (TOTP, factor_id),
    )
    await conn.execute(
        sql("update auth.sessions set aal = ?::text::auth.aal_level, factor_id = null where factor_id = ?"),
        ("aal1", factor_id),
    )
    await conn.execute(sql("delete from auth.mfa_factors where id = ?"), (factor_id,))


def _name_conflict(name: str) -> errors.AuthError:
    return errors.AuthError(
        422, "mfa_factor_name_conflict", f'A factor with the friendly name "{name}" for this user already exists'
    )


def _challenge_not_found() -> errors.AuthError:
    return errors.AuthError(422, "mfa_factor_not_found", "MFA factor with the provided challenge ID not found")


def _verification_failed() -> errors.AuthError:
    return errors.AuthError(422, "mfa_verification_failed", "Invalid TOTP code entered")


# ------------------------------------------------------------------ endpoints


async def enroll(service: AuthService, request: Request) -> Response:
    return http.json_response(await Mfa(service).enroll(http.bearer(request), await http.read_body(request)))


async def challenge(service: AuthService, request: Request) -> Response:
    await http.read_body(request, optional=True)
    caller = http.client(request, service.limits)
    result = await Mfa(service).challenge(http.bearer(request), request.path_params["factor_id"], caller)
    return http.json_response(result)


async def _count_attempt(service: AuthService, request: Request, factor_id: str) -> None:
    """One verification attempt against the per-IP and the per-factor limit (429 when over)."""
    await service.limits.check(request, "verify")
    limiter = service.limits.limiter
    rate = parse_rate(service.settings.auth_rate_limit_verify)
    if limiter is None or rate.count <= 0:
        return
    decision = await limiter.hit(f"auth:mfa_verify:{factor_id}", rate.count, rate.seconds)
    if not decision.allowed:
        raise over_limit(OVER_REQUEST, decision.retry_after)


async def verify(service: AuthService, request: Request) -> Response:
    body = await http.read_body(request)
    factor_id = http.path_uuid(request.path_params["factor_id"], "factor_id")
    await _count_attempt(service, request, factor_id)
    grant = await Mfa(service).verify(http.bearer(request), factor_id, body, http.client(request, service.limits))
    return http.json_response(grant.to_json())


async def unenroll(service: AuthService, request: Request) -> Response:
    return http.json_response(await Mfa(service).unenroll(http.bearer(request), request.path_params["factor_id"]))


MFA_ROUTES: dict[str, dict[str, Endpoint]] = {"/factors": {"POST": enroll}}
MFA_PATTERNS: tuple[tuple[str, dict[str, Endpoint]], ...] = (
    (r"/factors/(?P<factor_id>[^/]+)", {"DELETE": unenroll}),
    (r"/factors/(?P<factor_id>[^/]+)/challenge", {"POST": challenge}),
    (r"/factors/(?P<factor_id>[^/]+)/verify", {"POST": verify}),
)

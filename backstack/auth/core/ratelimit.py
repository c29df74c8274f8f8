"""Rate limits on the auth endpoints: per client IP and per email address or phone, from settings.

Each endpoint names an *action*; the action says which counters one request takes a step on:

| action    | endpoints                  | per IP                     | per address                        |
|-----------|----------------------------|----------------------------|------------------------------------|
| `sign_in` | /token?grant_type=password | auth_rate_limit_sign_in    | auth_rate_limit_sign_in_address    |
| `sign_up` | /signup                    | auth_rate_limit_sign_in    | auth_rate_limit_email_address (*)  |
| `otp`     | /otp, /magiclink           | auth_rate_limit_otp        | auth_rate_limit_email_address      |
| `recover` | /recover                   | auth_rate_limit_otp        | auth_rate_limit_email_address      |
| `resend`  | /resend                    | auth_rate_limit_otp        | auth_rate_limit_email_address      |
| `verify`  | /verify (GET and POST)     | auth_rate_limit_verify     | auth_rate_limit_verify_address (+) |

Over a per-IP limit or the sign-in/verify address limit: 429 `over_request_rate_limit`; over the
mail limit of an address: 429 `over_email_send_rate_limit`. (*) only while sign-up sends a
confirmation mail (`auth_email_confirm`). (+) codes typed with an email (`{type, token, email}`);
like sign-in it counts failures only.

IPv4 clients are counted by their address, IPv6 clients by their /64 network: one host commonly
holds a whole /64, so counting single IPv6 addresses would hand a guesser 2^64 buckets.

One mailed code also takes at most `onetime.CODE_ATTEMPTS` verification attempts, from anywhere:
that count lives in the token's row (store/onetime.py), not here, so it holds across workers and nodes
whichever limiter is configured, and even with `auth_rate_limit_enabled` off. Link tokens
(`token_hash`) are keyed hashes no client can compute from a guessed code, so they need no count
of their own beyond the per-IP limit.

Actions that share a setting share its counter (sign-in and sign-up draw on one per-IP budget, as
in GoTrue; all mail-sending endpoints on one per-address budget, so cycling through them does not
multiply the mail an address receives). The limits take plain values: the api layer extracts the
client's address from the request (`api/http.py client_ip`). Endpoints call it in one line, before any work:

    await service.limits.check(http.client_ip(request, service.limits), "otp", email=email)

A password sign-in that succeeds then calls `await service.limits.succeeded("sign_in", email=...)`,
which gives the address its count back: the per-address limit counts failures only.

Counting happens through the `core.ports.RateLimiter` the app hands in (process memory, or Redis
shared by every node); without one (an `AuthService` built bare, as unit tests do) nothing is
limited. Addresses are hashed before they become counter keys, so Redis never holds them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.auth.core.errors import AuthError

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.ports import RateLimiter

OVER_REQUEST = "over_request_rate_limit"
OVER_EMAIL_SEND = "over_email_send_rate_limit"
_MESSAGES = {OVER_REQUEST: "Request rate limit reached", OVER_EMAIL_SEND: "Email rate limit exceeded"}
_RATE = re.compile(r"^(\d+)/(\d*)([smh]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` requests per `seconds`; `count == 0` means no limit."""

    count: int
    seconds: float


def parse_rate(text: str) -> Rate:
    """`"30/5m"` -> 30 per 300 s; `"10/60"` -> 10 per 60 s; `"5/h"` -> 5 per hour."""
    match = _RATE.match(text.strip())
    if match is None:
        raise ValueError(f"not a rate (COUNT/PERIOD, e.g. 30/5m): {text!r}")
    count, amount, unit = match.groups()
    return Rate(int(count), (int(amount) if amount else 1) * _UNIT_SECONDS[unit])


@dataclass(frozen=True, slots=True)
class Action:
    """Which settings limit one kind of request, per IP and per address."""

    ip: str
    address: str | None = None
    address_code: str = OVER_REQUEST
    address_only_when_mailing: bool = False
    refund_address_on_success: bool = False  # the address counts failures only (see `succeeded`)


ACTIONS: dict[str, Action] = {
    "sign_in": Action("auth_rate_limit_sign_in", "auth_rate_limit_sign_in_address", refund_address_on_success=True),
    "sign_up": Action(
        "auth_rate_limit_sign_in", "auth_rate_limit_email_address", OVER_EMAIL_SEND, address_only_when_mailing=True
    ),
    "otp": Action("auth_rate_limit_otp", "auth_rate_limit_email_address", OVER_EMAIL_SEND),
    "recover": Action("auth_rate_limit_otp", "auth_rate_limit_email_address", OVER_EMAIL_SEND),
    "resend": Action("auth_rate_limit_otp", "auth_rate_limit_email_address", OVER_EMAIL_SEND),
    "verify": Action("auth_rate_limit_verify", "auth_rate_limit_verify_address", refund_address_on_success=True),
}


def over_limit(code: str, retry_after: float) -> AuthError:
    """GoTrue's 429, with `Retry-After` in whole seconds."""
    error = AuthError(429, code, _MESSAGES[code])
    error.headers = {"Retry-After": str(max(math.ceil(retry_after), 1))}
    return error


class AuthLimits:
    """The auth service's limits: settings turned into counters on one `RateLimiter`."""

    def __init__(self, limiter: RateLimiter | None, settings: Settings) -> None:
        self.limiter = limiter if settings.auth_rate_limit_enabled else None
        self.ip_header = settings.auth_rate_limit_ip_header.strip().lower()  # the api layer reads it
        self._mail_on_sign_up = settings.auth_email_confirm
        self._rates = {name: parse_rate(str(getattr(settings, name))) for name in _rate_settings()}

    async def check(self, ip: str, action: str, *, email: str = "", phone: str = "") -> None:
        """Count a request from `ip` for `action`; raise GoTrue's 429 when the IP or the address is over its limit."""
        if self.limiter is None:
            return
        spec = ACTIONS[action]
        if ip:
            await self._hit(spec.ip, "ip:" + _ip_bucket(ip), OVER_REQUEST)
        await self.check_address(action, email=email, phone=phone)

    async def check_address(self, action: str, *, email: str = "", phone: str = "") -> None:
        """Count this request against the address's limit of `action` only (the IP was counted already)."""
        if self.limiter is None:
            return
        spec = ACTIONS[action]
        address = (email or phone).strip().lower()
        if spec.address is None or not address:
            return
        if spec.address_only_when_mailing and not self._mail_on_sign_up:
            return
        await self._hit(spec.address, _address_subject(address), spec.address_code)

    async def succeeded(self, action: str, *, email: str = "", phone: str = "") -> None:
        """Take back the address's count for an attempt that succeeded (sign-in: only failures lock an account).

        Every attempt is counted *before* the password is checked, so concurrent guesses cannot slip
        past the limit; a correct password then gives its count back.
        """
        spec = ACTIONS[action]
        address = (email or phone).strip().lower()
        if self.limiter is None or not spec.refund_address_on_success or spec.address is None or not address:
            return
        if self._rates[spec.address].count > 0:
            await self.limiter.refund(f"auth:{spec.address}:{_address_subject(address)}")

    async def _hit(self, setting: str, subject: str, code: str) -> None:
        rate = self._rates[setting]
        if rate.count <= 0 or self.limiter is None:
            return
        decision = await self.limiter.hit(f"auth:{setting}:{subject}", rate.count, rate.seconds)
        if not decision.allowed:
            raise over_limit(code, decision.retry_after)

    async def hit_key(self, key: str, setting: str) -> None:
        """Count one request on a counter of the caller's choosing (`auth:<key>`) at the rate of `setting`
        (one of the settings `ACTIONS` name, such as `auth_rate_limit_verify` for MFA codes per factor)."""
        rate = self._rates[setting]
        if self.limiter is None or rate.count <= 0:
            return
        decision = await self.limiter.hit(f"auth:{key}", rate.count, rate.seconds)
        if not decision.allowed:
            raise over_limit(OVER_REQUEST, decision.retry_after)

    def client_ip(self, header: str | None, peer: str | None) -> str:
        """The address per-IP limits count: the last hop of the proxy header (`ip_header`), else the peer.

        `header` is the value of the request's `ip_header` (None when none is configured or sent).
        The last hop is the address the (trusted) proxy itself appended; earlier ones are whatever
        the client wrote into the header, so counting them would let a client pick its own bucket.
        """
        value = ""
        if self.ip_header and header:
            value = header.split(",")[-1].strip()
        if not value and peer is not None:
            value = peer
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value[:64]


def _ip_bucket(ip: str) -> str:
    """The per-IP counter's subject: the IPv4 address, or the /64 network of an IPv6 one."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _address_subject(address: str) -> str:
    return "addr:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def _rate_settings() -> tuple[str, ...]:
    names = {a.ip for a in ACTIONS.values()} | {a.address for a in ACTIONS.values() if a.address}
    return tuple(sorted(names))

"""The two tokens a session hands out: the access token (a JWT) and the refresh token.

Access tokens are HS256 JWTs signed with `settings.jwt_secret`, or ES256/RS256 JWTs signed with the
key of `settings.jwt_signing_key` (core/signing.py), with GoTrue's claim set (contract 3.6), so the
data API (`web/auth.py`), Storage and Realtime accept them as they accept Supabase's.

Refresh tokens use GoTrue's second algorithm (`crypto/refresh_tokens.go`): an opaque string that
encodes the session id and a counter, signed with a per-session HMAC key and followed by a short
checksum. The database keeps only the session's key and its current counter, so a refresh is one
primary-key lookup and one counter update: no token table to search, insert into or clean up.
Layout (base64url, no padding): version byte 0 | 16-byte session uuid | uvarint counter |
first 16 bytes of HMAC-SHA256(key, everything before) | first 4 bytes of SHA-256(everything before).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from backstack.auth.core import errors
from backstack.core.signing import KeySet

_SIGNATURE_BYTES = 16
_CHECKSUM_BYTES = 4
_MIN_BYTES = 1 + 16 + 1 + _SIGNATURE_BYTES + _CHECKSUM_BYTES
_MAX_BYTES = _MIN_BYTES + 8
LEGACY_LENGTH = 12  # GoTrue's first-generation refresh tokens: 12 random characters


def new_hmac_key() -> str:
    """A fresh per-session signing key, as GoTrue stores it (base64url of 32 random bytes)."""
    return _b64encode(secrets.token_bytes(32))


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A parsed refresh token; `signed_part` is what its signature covers."""

    session_id: str
    counter: int
    signed_part: bytes
    signature: bytes

    def signed_by(self, hmac_key: str) -> bool:
        """Whether the token was signed with the session's key (constant-time)."""
        try:
            key = _b64decode(hmac_key)
        except (ValueError, binascii.Error):
            return False
        expected = hmac.new(key, self.signed_part, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return hmac.compare_digest(expected, self.signature)


def encode_refresh_token(session_id: str, counter: int, hmac_key: str) -> str:
    """The refresh token for `counter` of session `session_id`."""
    body = b"\x00" + uuid.UUID(session_id).bytes + _uvarint(counter)
    signature = hmac.new(_b64decode(hmac_key), body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    signed = body + signature
    return _b64encode(signed + hashlib.sha256(signed).digest()[:_CHECKSUM_BYTES])


def parse_refresh_token(token: str) -> RefreshToken | None:
    """The token's fields, or None when it is not a well-formed token of ours (signature unchecked)."""
    try:
        raw = _b64decode(token)
    except (ValueError, binascii.Error):
        return None
    if not _MIN_BYTES <= len(raw) <= _MAX_BYTES or raw[0] != 0:
        return None
    signed, checksum = raw[:-_CHECKSUM_BYTES], raw[-_CHECKSUM_BYTES:]
    if not hmac.compare_digest(hashlib.sha256(signed).digest()[:_CHECKSUM_BYTES], checksum):
        return None
    counter, used = _read_uvarint(signed, 17)
    if used == 0 or len(signed) - 17 - used != _SIGNATURE_BYTES:
        return None
    session_id = str(uuid.UUID(bytes=signed[1:17]))
    return RefreshToken(session_id, counter, signed[:-_SIGNATURE_BYTES], signed[-_SIGNATURE_BYTES:])


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_uvarint(data: bytes, start: int) -> tuple[int, int]:
    """(value, bytes used) of the uvarint at `start`; used 0 when it is truncated or too long."""
    value = shift = 0
    for index in range(start, min(len(data), start + 10)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index - start + 1
        shift += 7
    return 0, 0


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ------------------------------------------------------------------ access tokens


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    """What goes into an access token besides the times and the issuer."""

    user_id: str
    aud: str
    role: str
    email: str
    phone: str
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    is_anonymous: bool
    session_id: str
    aal: str
    amr: list[dict[str, Any]]


class AccessTokens:
    """Signs and verifies access tokens with the project's keys (HS256 secret unless a signing key is set)."""

    def __init__(self, secret: str, issuer: str, lifetime: int, *, keys: KeySet | None = None) -> None:
        self._secret = secret
        self.keys = keys or KeySet(secret)
        self.issuer = issuer
        self.lifetime = lifetime

    def issue(self, claims: AccessTokenClaims, now: int) -> tuple[str, int]:
        """(token, expires_at) for `claims`, valid `lifetime` seconds from `now` (Unix seconds)."""
        self._require_secret()
        expires_at = now + self.lifetime
        payload = {
            "iss": self.issuer,
            "sub": claims.user_id,
            "aud": claims.aud,
            "exp": expires_at,
            "iat": now,
            "email": claims.email,
            "phone": claims.phone,
            "app_metadata": claims.app_metadata,
            "user_metadata": claims.user_metadata,
            "role": claims.role,
            "aal": claims.aal,
            "amr": claims.amr,
            "session_id": claims.session_id,
            "is_anonymous": claims.is_anonymous,
        }
        return self.keys.sign(payload), expires_at

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token signed by us; `bad_jwt` (403) otherwise, with pyjwt's reason.

        `exp` is checked when present, not required: GoTrue, PostgREST and /rest/v1 accept a token
        without one (a service_role key minted without `exp` must reach the admin API)."""
        self._require_secret()
        try:
            claims = self.keys.decode(token, {"verify_aud": False})
        except jwt.ExpiredSignatureError:
            raise errors.bad_jwt("token has invalid claims: token is expired") from None
        except jwt.InvalidTokenError as exc:
            raise errors.bad_jwt(str(exc) or type(exc).__name__) from None
        return claims

    def _require_secret(self) -> None:
        """A server without a secret cannot sign or check tokens: a 500 that says why (not a crash at build)."""
        if not self._secret and self.keys.signing is None:
            raise errors.AuthError(500, "unexpected_failure", "The server has no JWT secret configured")

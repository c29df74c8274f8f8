"""PKCE (RFC 7636) and the secrets of an OAuth round trip: what a client commits to, how a verifier is
checked, and the random values and hashes the flows store (store/flow_state.py keeps the flows)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from backstack.auth.core.errors import validation_failed

METHODS = ("s256", "plain")


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the client committed to: `code_challenge` and its method (`s256` or `plain`)."""

    value: str
    method: str


def parse_challenge(challenge: str, method: str) -> Challenge | None:
    """The client's PKCE commitment, None for the implicit flow; GoTrue's 400s for malformed ones."""
    if not challenge and not method:
        return None
    if not challenge or not method:
        raise validation_failed("PKCE flow requires code_challenge_method and code_challenge")
    if method.lower() not in METHODS:
        raise validation_failed(f"code challenge method not supported: {method}")
    if not 43 <= len(challenge) <= 128:
        raise validation_failed("code challenge has to be between 43 and 128 characters")
    return Challenge(challenge, method.lower())


def s256(verifier: str) -> str:
    """RFC 7636's S256 transform: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str, challenge: Challenge) -> bool:
    expected = s256(verifier) if challenge.method == "s256" else verifier
    return hmac.compare_digest(expected.encode(), challenge.value.encode())


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def binding_cookie_name(state: str) -> str:
    """The cookie that binds the flow of OAuth `state` to its browser (one per flow: tabs do not clash)."""
    return "sb-oauth-" + hash_secret("cookie:" + state)[:16]


def new_secret() -> str:
    """A random value for an OAuth `state`, nonce or PKCE verifier (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)

"""Refresh-token encoding (GoTrue's algorithm v2) and access-token signing, without a database."""

from __future__ import annotations

import base64
import time
import uuid

import jwt
import pytest

from backstack.auth.core.errors import AuthError
from backstack.auth.core.tokens import (
    AccessTokenClaims,
    AccessTokens,
    encode_refresh_token,
    new_hmac_key,
    parse_refresh_token,
)

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


@pytest.mark.parametrize("counter", [0, 1, 127, 128, 300, 2**40])
def test_refresh_token_round_trip(counter: int) -> None:
    session_id = str(uuid.uuid4())
    key = new_hmac_key()
    token = encode_refresh_token(session_id, counter, key)
    assert "=" not in token and len(token) > 12
    parsed = parse_refresh_token(token)
    assert parsed is not None
    assert (parsed.session_id, parsed.counter) == (session_id, counter)
    assert parsed.signed_by(key)
    assert not parsed.signed_by(new_hmac_key())
    assert not parsed.signed_by("not base64 !")


def _tamper(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_tampered_tokens_are_rejected() -> None:
    token = encode_refresh_token(str(uuid.uuid4()), 3, new_hmac_key())
    for index in (0, 1, 17, -20, -1):
        assert parse_refresh_token(_tamper(token, index)) is None
    assert parse_refresh_token("") is None
    assert parse_refresh_token("!!!!") is None
    assert parse_refresh_token(token[:-2]) is None


def _claims() -> AccessTokenClaims:
    return AccessTokenClaims(
        user_id="6d3a8c2e-1111-4222-8333-444455556666",
        aud="authenticated",
        role="authenticated",
        email="a@example.com",
        phone="",
        app_metadata={"provider": "email", "providers": ["email"]},
        user_metadata={"name": "A"},
        is_anonymous=False,
        session_id="0c8d4a46-1111-4222-8333-444455556666",
        aal="aal1",
        amr=[{"method": "password", "timestamp": 1_700_000_000}],
    )


def test_access_token_claims() -> None:
    tokens = AccessTokens(SECRET, "http://host/auth/v1", 3600)
    now = int(time.time())
    token, expires_at = tokens.issue(_claims(), now)
    assert expires_at == now + 3600
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience="authenticated")
    assert list(decoded) == [
        "iss", "sub", "aud", "exp", "iat", "email", "phone", "app_metadata", "user_metadata", "role", "aal", "amr",
        "session_id", "is_anonymous",
    ]  # fmt: skip
    assert decoded["iss"] == "http://host/auth/v1" and decoded["iat"] == now
    assert tokens.verify(token) == decoded


def test_access_token_verification_failures() -> None:
    tokens = AccessTokens(SECRET, "http://host/auth/v1", 3600)
    expired, _ = tokens.issue(_claims(), int(time.time()) - 7200)
    with pytest.raises(AuthError) as info:
        tokens.verify(expired)
    assert (info.value.status, info.value.code) == (403, "bad_jwt")
    assert info.value.message.endswith("token is expired")
    none_alg = jwt.encode({"sub": "x", "exp": 2**40}, None, algorithm="none")
    with pytest.raises(AuthError):
        tokens.verify(none_alg)
    with pytest.raises(AuthError, match="no JWT secret"):
        AccessTokens("", "http://host/auth/v1", 3600).issue(_claims(), 0)

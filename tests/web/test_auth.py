"""apikey + Bearer -> Caller: the gateway's answers, PostgREST's token errors, the verified-token cache."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import pytest

from backstack.core import json
from backstack.core.keys import generate_secret, project_keys
from backstack.web.auth import LEEWAY, Authenticator, AuthMiddleware, caller_of
from backstack.web.errors import render_postgrest
from backstack.web.limits import Limits
from backstack.web.platform import PlatformMiddleware

SECRET = generate_secret()
KEYS = project_keys(SECRET, issued_at=int(time.time()) - 60)
NOW = int(time.time())


async def whoami(scope: dict[str, Any], receive: Any, send: Any) -> None:
    caller = caller_of(scope)
    body = json.dumps({"role": caller.role, "sub": caller.uid})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def token(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256", **headers: Any) -> str:
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers or None)


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}."


USER = {"role": "authenticated", "sub": "user-1", "aud": "authenticated", "exp": NOW + 3600}


@pytest.fixture
def client() -> httpx.AsyncClient:
    authenticator = Authenticator(SECRET, clock=lambda: NOW)  # the clock the tokens above were made against
    limits = Limits(max_url_bytes=16384, max_header_bytes=32768, max_body_bytes=1 << 20, body_read_timeout=30.0)
    app = PlatformMiddleware(
        AuthMiddleware(whoami, authenticator), limits=limits, apis=[("/rest/v1", render_postgrest)]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


ACCEPTED = [
    ("anon key", {"apikey": KEYS.anon}, "", "anon", None),
    ("service key", {"apikey": KEYS.service_role}, "", "service_role", None),
    ("header name any case", {"ApiKey": KEYS.anon}, "", "anon", None),
    ("query parameter", {}, f"?apikey={KEYS.anon}", "anon", None),
    ("bearer = apikey", {"apikey": KEYS.anon, "Authorization": f"Bearer {KEYS.anon}"}, "", "anon", None),
    (
        "bearer = sb_ key",
        {"apikey": KEYS.service_role, "Authorization": "Bearer sb_publishable_x"},
        "",
        "service_role",
        None,
    ),
    ("user token", {"apikey": KEYS.anon, "Authorization": f"Bearer {token(USER)}"}, "", "authenticated", "user-1"),
    ("scheme any case", {"apikey": KEYS.anon, "authorization": f"bearer {token(USER)}"}, "", "authenticated", "user-1"),
    ("non-bearer scheme ignored", {"apikey": KEYS.anon, "Authorization": "Basic dXNlcjpwdw=="}, "", "anon", None),
    (
        "aud list",
        {"apikey": KEYS.anon, "Authorization": f"Bearer {token({**USER, 'aud': ['x', 'authenticated']})}"},
        "",
        "authenticated",
        "user-1",
    ),
    (
        "expired within leeway",
        {"apikey": KEYS.anon, "Authorization": f"Bearer {token({**USER, 'exp': NOW - LEEWAY // 2})}"},
        "",
        "authenticated",
        "user-1",
    ),
    (
        "no role claim is anon",
        {"apikey": KEYS.anon, "Authorization": f"Bearer {token({'sub': 'u2'})}"},
        "",
        "anon",
        "u2",
    ),
    (
        "jku/kid headers ignored",
        {"apikey": KEYS.anon, "Authorization": f"Bearer {token(USER, kid='k', jku='http://evil/jwks')}"},
        "",
        "authenticated",
        "user-1",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "headers", "query", "role", "sub"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
async def test_accepted(
    client: httpx.AsyncClient, case: str, headers: dict[str, str], query: str, role: str, sub: str | None
) -> None:
    response = await client.get(f"/rest/v1/todos{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"role": role, "sub": sub}


GATEWAY = [
    ("no apikey", {}, "No API key found in request"),
    ("empty apikey", {"apikey": ""}, "No API key found in request"),
    ("garbage apikey", {"apikey": "nope"}, "Invalid API key"),
    ("apikey from another project", {"apikey": project_keys(generate_secret()).anon}, "Invalid API key"),
    ("user token as apikey", {"apikey": token(USER)}, "Invalid API key"),
    ("expired apikey", {"apikey": project_keys(SECRET, issued_at=NOW - 20 * 31_557_600).anon}, "Invalid API key"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "headers", "message"), GATEWAY, ids=[c[0] for c in GATEWAY])
async def test_gateway_refusals(client: httpx.AsyncClient, case: str, headers: dict[str, str], message: str) -> None:
    response = await client.get("/rest/v1/todos", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": message}


OTHER_SECRET = generate_secret()
TOKEN_ERRORS = [
    ("one part", "abc", "PGRST301", "Expected 3 parts in JWT; got 1"),
    ("two parts", "a.b", "PGRST301", "Expected 3 parts in JWT; got 2"),
    ("bad base64", "!!.??.**", "PGRST301", "JWT cryptographic operation failed"),
    ("wrong signature", token(USER, OTHER_SECRET), "PGRST301", "JWT cryptographic operation failed"),
    ("alg none", unsigned(USER), "PGRST301", "Wrong or unsupported encoding algorithm"),
    ("alg HS512", token(USER, algorithm="HS512"), "PGRST301", "Wrong or unsupported encoding algorithm"),
    (
        "key in jwk header",
        token(USER, OTHER_SECRET, jwk={"kty": "oct", "k": "x"}),
        "PGRST301",
        "JWT cryptographic operation failed",
    ),
    ("expired", token({**USER, "exp": NOW - 3600}), "PGRST303", "JWT expired"),
    ("not yet valid", token({**USER, "nbf": NOW + 3600}), "PGRST303", "JWT not yet valid"),
    ("issued in the future", token({**USER, "iat": NOW + 3600}), "PGRST303", "JWT issued at future"),
    ("wrong audience", token({**USER, "aud": "someone-else"}), "PGRST303", "JWT not in audience"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "bearer", "code", "message"), TOKEN_ERRORS, ids=[c[0] for c in TOKEN_ERRORS])
async def test_token_errors_have_postgrests_shape(
    client: httpx.AsyncClient, case: str, bearer: str, code: str, message: str
) -> None:
    response = await client.get("/rest/v1/todos", headers={"apikey": KEYS.anon, "Authorization": f"Bearer {bearer}"})
    assert response.status_code == 401
    assert response.json() == {"code": code, "message": message, "details": None, "hint": None}
    assert response.headers["www-authenticate"] == f'Bearer error="invalid_token", error_description="{message}"'
    assert response.headers["proxy-status"] == f"PostgREST; error={code}"


@pytest.mark.anyio
async def test_unknown_role_is_refused(client: httpx.AsyncClient) -> None:
    bearer = token({**USER, "role": "postgres"})
    response = await client.get("/rest/v1/todos", headers={"apikey": KEYS.anon, "Authorization": f"Bearer {bearer}"})
    assert response.status_code == 401
    assert response.json()["message"] == 'role "postgres" does not exist'


def test_verified_tokens_are_cached_until_they_expire() -> None:
    now = [float(NOW)]
    auth = Authenticator(SECRET, clock=lambda: now[0], cache_size=2)
    short = token({**USER, "exp": NOW + 60})
    first = auth.verify(short)
    assert auth.verify(short) is first  # the cached Caller, no second verification
    now[0] += 60 + LEEWAY + 1
    with pytest.raises(Exception, match="JWT expired"):
        auth.verify(short)


def test_the_cache_is_bounded() -> None:
    auth = Authenticator(SECRET, cache_size=2)
    tokens = [token({**USER, "sub": f"u{i}"}) for i in range(5)]
    for item in tokens:
        auth.verify(item)
    assert len(auth._cache) == 2
    assert auth.verify(tokens[0]).uid == "u0"  # evicted ones verify again


def test_without_a_secret_nothing_verifies() -> None:
    with pytest.raises(Exception, match="Server lacks JWT secret"):
        Authenticator("").verify(token(USER))

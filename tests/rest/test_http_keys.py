"""Key handling through the real app (contract/README.md 1.3 and the checklist in section 9).

The role a request acts as is read back from the `whoami` view (`select auth.role()`), so each
scenario proves which role the server chose, not only that it answered 200.
"""

from __future__ import annotations

import time

import pytest

from tests.rest.http_api import Api, Scenario, api, run_all

__all__ = ["api"]

pytestmark = pytest.mark.anyio

ANON = [{"role": "anon"}]
SERVICE = [{"role": "service_role"}]


def as_role(
    id: str, role: list[dict[str, str]], headers: dict[str, str] | list[tuple[str, str]], target: str = "whoami"
) -> Scenario:
    return Scenario(id, "GET", target, 200, headers=headers, role="none", json=role)


KEY_SCENARIOS = [
    as_role("apikey header, no Authorization", ANON, {"apikey": "<anon>"}),
    as_role("apiKey spelled as supabase-py does", ANON, {"apiKey": "<anon>"}),
    as_role("APIKEY upper case", SERVICE, {"APIKEY": "<service>"}),
    as_role(
        "Authorization header name in odd case", SERVICE, {"apikey": "<service>", "AUTHORIZATION": "Bearer <service>"}
    ),
    as_role("apikey as a query parameter", ANON, {}, "whoami?apikey=<anon>"),
    as_role(
        "apikey query parameter is not a filter",
        SERVICE,
        {"Authorization": "Bearer <service>"},
        "whoami?select=role&apikey=<service>",
    ),
    as_role(
        "Bearer <apikey> acts as the key's role (anon)", ANON, {"apikey": "<anon>", "Authorization": "Bearer <anon>"}
    ),
    as_role(
        "Bearer <apikey> acts as the key's role (service)",
        SERVICE,
        {"apikey": "<service>", "Authorization": "Bearer <service>"},
    ),
    as_role(
        "Bearer sb_publishable_ key acts as the apikey's role",
        ANON,
        {"apikey": "<anon>", "Authorization": "Bearer sb_publishable_Zm9vYmFyYmF6"},
    ),
    as_role("lower-case bearer scheme", ANON, {"apikey": "<anon>", "authorization": "bearer <anon>"}),
    as_role("a non-Bearer scheme counts as no token", ANON, {"apikey": "<anon>", "Authorization": "Basic eDp5"}),
    Scenario(
        "no apikey at all",
        "GET",
        "todos",
        401,
        role="none",
        json={"message": "No API key found in request"},
        gateway=True,
    ),
    Scenario(
        "Authorization without apikey",
        "GET",
        "todos",
        401,
        role="none",
        gateway=True,
        headers={"Authorization": "Bearer <service>"},
        json={"message": "No API key found in request"},
    ),
    Scenario(
        "apikey that is not a project key",
        "GET",
        "todos",
        401,
        role="none",
        headers={"apikey": "sb_publishable_nope"},
        json={"message": "Invalid API key"},
        gateway=True,
    ),
    Scenario(
        "empty apikey",
        "GET",
        "todos",
        401,
        role="none",
        headers={"apikey": ""},
        json={"message": "No API key found in request"},
        gateway=True,
    ),
]


async def test_key_handling(api: Api) -> None:
    await run_all(api, KEY_SCENARIOS)


def bad_token(id: str, token: str, code: str, message: str) -> Scenario:
    return Scenario(
        id,
        "GET",
        "todos?select=id",
        401,
        role="none",
        headers={"apikey": "<anon>", "Authorization": f"Bearer {token}"},
        code=code,
        message=message,
        unchanged=True,
        expect_headers={"www-authenticate": f'Bearer error="invalid_token", error_description="{message}"'},
    )


async def test_user_tokens(api: Api) -> None:
    now = int(time.time())
    user = api.token(role="authenticated", sub="9b2f7a52-0000-4000-8000-000000000001", aud="authenticated")
    forged = api.token(role="service_role")[:-4] + "AAAA"
    await run_all(
        api,
        [
            as_role(
                "a user's token", [{"role": "authenticated"}], {"apikey": "<anon>", "Authorization": f"Bearer {user}"}
            ),
            bad_token("garbage token", "garbage", "PGRST301", "Expected 3 parts in JWT; got 1"),
            bad_token("three garbage parts", "a.b.c", "PGRST301", "JWT cryptographic operation failed"),
            bad_token("forged signature", forged, "PGRST301", "JWT cryptographic operation failed"),
            bad_token("expired", api.token(role="authenticated", exp=now - 3600), "PGRST303", "JWT expired"),
            bad_token(
                "not yet valid", api.token(role="authenticated", nbf=now + 3600), "PGRST303", "JWT not yet valid"
            ),
            bad_token(
                "issued in the future",
                api.token(role="authenticated", iat=now + 3600),
                "PGRST303",
                "JWT issued at future",
            ),
            bad_token(
                "wrong audience", api.token(role="authenticated", aud="someone-else"), "PGRST303", "JWT not in audience"
            ),
        ],
    )


async def test_bad_token_on_head_and_writes(api: Api) -> None:
    """HEAD errors have no body: the code travels in Proxy-Status; writes refused leave the table alone."""
    headers = {"apikey": "<anon>", "Authorization": "Bearer a.b.c"}
    await run_all(
        api,
        [
            Scenario(
                "HEAD with a bad token", "HEAD", "todos", 401, role="none", headers=headers, code="PGRST301", empty=True
            ),
            Scenario(
                "POST with a bad token",
                "POST",
                "todos",
                401,
                role="none",
                headers=headers,
                body={"title": "x"},
                code="PGRST301",
                unchanged=True,
            ),
            Scenario(
                "DELETE with an expired token",
                "DELETE",
                "todos",
                401,
                role="none",
                code="PGRST303",
                headers={"apikey": "<anon>", "Authorization": f"Bearer {api.token(exp=int(time.time()) - 99)}"},
                unchanged=True,
            ),
        ],
    )

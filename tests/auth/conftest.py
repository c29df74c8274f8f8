"""Fixtures for the auth service: an in-process GoTrue over the parametrized `engine`.

- `make_auth(**settings_overrides)` -> an `httpx.AsyncClient` whose base URL is the auth mount
  (`http://testserver/auth/v1`) of a small Starlette app, sending `X-Supabase-Api-Version:
  2024-01-01` as the official clients do. Overrides change the service's settings only (e.g.
  `auth_email_confirm=True`, `auth_refresh_token_reuse_interval=0`); the engine is shared.
- `auth` -> `make_auth()` with the defaults.
- helpers `sign_up`, `sign_in`, `refresh`, `claims` used by the test modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from backstack.auth import build_auth_app, ensure_schema
from backstack.config import Settings
from backstack.db.engine import Engine

MakeAuth = Callable[..., httpx.AsyncClient]
VERSIONED = {"X-Supabase-Api-Version": "2024-01-01"}
PASSWORD = "correct horse battery"


@pytest.fixture
async def make_auth(engine: Engine, engine_settings: Settings) -> AsyncIterator[MakeAuth]:
    await ensure_schema(engine)  # what the app does at startup
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: Any) -> httpx.AsyncClient:
        settings = engine_settings.model_copy(update=overrides)
        app = Starlette(routes=[Mount("/auth/v1", build_auth_app(engine, settings))])
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://testserver/auth/v1", headers=VERSIONED
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def auth(make_auth: MakeAuth) -> httpx.AsyncClient:
    return make_auth()


async def sign_up(client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
    return await client.post("/signup", json={"email": email, "password": password, **extra})


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/token", params={"grant_type": "password"}, json={"email": email, "password": password})


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/token", params={"grant_type": "refresh_token"}, json={"refresh_token": token})


def claims(settings: Settings, token: str) -> dict[str, Any]:
    """The verified claims of an access token (signature, exp and audience checked)."""
    return jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], audience="authenticated")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

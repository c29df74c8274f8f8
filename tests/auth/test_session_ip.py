"""The address stored with a session (issue 16, finding 8): the peer's, or the trusted proxy's hop.

It used to be the first `X-Forwarded-For` hop, which any client writes itself. Now it is the
address the rate limits count (`AuthLimits.client_ip`): the peer, or, when
`auth_rate_limit_ip_header` says a proxy is in front, the hop that proxy appended.
"""

from __future__ import annotations

import httpx
import pytest

from backstack.auth.store.sql import sql_for
from backstack.config import Settings
from backstack.db.engine import Engine
from tests.auth.conftest import PASSWORD, MakeAuth, claims, sign_up

pytestmark = pytest.mark.anyio
SPOOFED = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}


async def _stored_ip(engine: Engine, session_id: str) -> str | None:
    sql = sql_for(engine.dialect)
    row = await engine.fetch_one(sql("select ip::text from auth.sessions where id = ?"), (session_id,))
    assert row is not None
    return None if row[0] is None else str(row[0]).split("/")[0]


async def _session_from(auth: httpx.AsyncClient, settings: Settings, email: str) -> str:
    await sign_up(auth, email)
    body = {"email": email, "password": PASSWORD}
    response = await auth.post("/token", params={"grant_type": "password"}, json=body, headers=SPOOFED)
    assert response.status_code == 200, response.text
    return str(claims(settings, response.json()["access_token"])["session_id"])


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_not_stored(
    make_auth: MakeAuth, engine: Engine, engine_settings: Settings
) -> None:
    auth = make_auth()  # no proxy configured: the header is the client's own writing
    session_id = await _session_from(auth, engine_settings, "peer@example.com")
    assert await _stored_ip(engine, session_id) == "127.0.0.1"  # httpx's ASGI transport's peer


async def test_behind_a_configured_proxy_its_own_hop_is_stored(
    make_auth: MakeAuth, engine: Engine, engine_settings: Settings
) -> None:
    auth = make_auth(auth_rate_limit_ip_header="X-Forwarded-For")
    session_id = await _session_from(auth, engine_settings, "proxied@example.com")
    assert await _stored_ip(engine, session_id) == "203.0.113.9"

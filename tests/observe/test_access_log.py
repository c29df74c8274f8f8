"""The access log never carries a secret from a query string (issue 16, finding 8), on both engines.

Requests go through the real app; the lines are what `create_app`'s access log writes.
"""

from __future__ import annotations

import httpx
import pytest

from backstack.app import create_app
from backstack.config import Settings
from backstack.core import json
from backstack.observe.logging import AccessLog

pytestmark = pytest.mark.anyio

SECRETS = {
    "/auth/v1/callback?code=S3CRET-OAUTH-CODE&state=abc": "S3CRET-OAUTH-CODE",
    "/auth/v1/callback?CODE=S3CRET-UPPER": "S3CRET-UPPER",
    "/auth/v1/verify?type=signup&token=S3CRET-LINK-TOKEN&redirect_to=http://x": "S3CRET-LINK-TOKEN",
    "/auth/v1/verify?type=email&token_hash=S3CRET-HASH": "S3CRET-HASH",
    "/auth/v1/verify?type=email&to%6Ben=S3CRET-ENCODED-NAME": "S3CRET-ENCODED-NAME",
    "/auth/v1/user?access_token=S3CRET-ACCESS": "S3CRET-ACCESS",
    "/auth/v1/token?grant_type=refresh_token&refresh_token=S3CRET-REFRESH": "S3CRET-REFRESH",
    "/auth/v1/token?grant_type=pkce&auth_code=S3CRET-AUTH-CODE&code_verifier=S3CRET-VERIFIER": "S3CRET-",
    "/rest/v1/notes?apikey=S3CRET-KEY&select=*": "S3CRET-KEY",
}


async def test_query_secrets_are_redacted_in_the_access_log(engine_settings: Settings) -> None:
    lines: list[bytes] = []
    app = create_app(engine_settings.model_copy(update={"log_json": True}), access_log=lines.append)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        for url in SECRETS:
            await client.get(url)
    logged = [json.loads(line) for line in lines]
    assert len(logged) == len(SECRETS)
    for entry, (url, secret) in zip(logged, SECRETS.items(), strict=True):
        assert entry["path"] == url.split("?")[0]
        assert secret not in json.dumps_str(entry), entry
        assert "REDACTED" in entry["query"], entry
    callback = logged[0]["query"]
    assert callback == "code=REDACTED&state=abc"


@pytest.mark.parametrize(("level", "logged"), [("info", [200, 404]), ("debug", [200, 404]), ("warning", [])])
async def test_the_log_level_decides_which_lines_are_written(
    engine_settings: Settings, level: str, logged: list[int]
) -> None:
    lines: list[bytes] = []
    settings = engine_settings.model_copy(update={"log_json": True, "log_level": level})
    app = create_app(settings, access_log=lines.append)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        for path in ("/health", "/nowhere"):
            await client.get(path)
    assert [json.loads(line)["status"] for line in lines] == logged


@pytest.mark.parametrize(("level", "logged"), [("info", [200, 503]), ("warning", [503]), ("error", [503])])
def test_a_5xx_line_is_an_error_line(level: str, logged: list[int]) -> None:
    lines: list[bytes] = []
    log = AccessLog(lines.append, level=level)
    for status in (200, 503):
        log.record(request_id="r", method="GET", path="/", query=b"", status=status, duration_ms=1.0, size=0)
    assert [(json.loads(line)["status"], json.loads(line)["level"]) for line in lines] == [
        (status, "error" if status >= 500 else "info") for status in logged
    ]

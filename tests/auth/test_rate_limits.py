"""Rate limits on the auth endpoints, on both engines and both limiter backends (memory, real Redis)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.routing import Mount

from backstack.app import create_app
from backstack.auth import build_auth_app, ensure_schema
from backstack.auth.core.ratelimit import ACTIONS, Rate, parse_rate
from backstack.config import Settings
from backstack.core.keys import mint_key
from backstack.core.ports import RateLimiter
from backstack.db.engine import Engine
from tests.auth.conftest import PASSWORD, VERSIONED, sign_in, sign_up
from tests.cache.limiters import KINDS, REDIS_URL, open_limiter, redis_keys, unique_prefix

pytestmark = pytest.mark.anyio
Make = Callable[..., httpx.AsyncClient]
FORWARDED = {"auth_rate_limit_ip_header": "X-Forwarded-For"}


@pytest.fixture(params=KINDS)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    async with open_limiter(request.param) as opened:
        yield opened


@pytest.fixture
async def make(engine: Engine, engine_settings: Settings, limiter: RateLimiter) -> AsyncIterator[Make]:
    """Auth clients over `engine` counting on `limiter`; keyword arguments override settings."""
    await ensure_schema(engine)
    async with contextlib.AsyncExitStack() as stack:

        def build(limiter_: RateLimiter = limiter, **overrides: Any) -> httpx.AsyncClient:
            settings = engine_settings.model_copy(update=overrides)
            app = Starlette(routes=[Mount("/auth/v1", build_auth_app(engine, settings, limiter=limiter_))])
            transport = httpx.ASGITransport(app)
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver/auth/v1", headers=VERSIONED)
            stack.push_async_callback(client.aclose)
            return client

        yield build


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"10.0.0.1, {ip}"}  # the last hop is the one the proxy appended


async def _sign_in_from(client: httpx.AsyncClient, ip: str, email: str, password: str) -> httpx.Response:
    body = {"email": email, "password": password}
    return await client.post("/token", params={"grant_type": "password"}, json=body, headers=_from(ip))


def _assert_limited(response: httpx.Response, code: str = "over_request_rate_limit") -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {
        "code": code,
        "message": "Request rate limit reached" if code == "over_request_rate_limit" else "Email rate limit exceeded",
    }
    assert response.headers["x-sb-error-code"] == code
    assert int(response.headers["retry-after"]) >= 1


async def test_brute_force_on_one_account_from_many_addresses_hits_the_limiter(make: Make) -> None:
    client = make(**FORWARDED)  # defaults: 10 sign-in attempts per address per 5 minutes
    assert (await sign_up(client, "victim@example.com")).status_code == 200
    statuses = [(await _sign_in_from(client, f"203.0.113.{i}", "victim@example.com", f"guess {i}")).status_code
                for i in range(12)]  # fmt: skip
    assert statuses == [400] * 10 + [429] * 2
    # Locked for now even with the right password; other accounts are not affected.
    _assert_limited(await _sign_in_from(client, "198.51.100.7", "VICTIM@example.com ", PASSWORD))
    assert (await sign_up(client, "bystander@example.com")).status_code == 200
    assert (await _sign_in_from(client, "198.51.100.7", "bystander@example.com", PASSWORD)).status_code == 200


async def test_successful_sign_ins_do_not_lock_the_account(make: Make) -> None:
    client = make(auth_rate_limit_sign_in_address="3/5m", **FORWARDED)
    assert (await sign_up(client, "busy@example.com")).status_code == 200
    ok = [(await _sign_in_from(client, f"203.0.113.{i}", "busy@example.com", PASSWORD)).status_code for i in range(6)]
    assert ok == [200] * 6
    bad = [(await _sign_in_from(client, f"198.51.100.{i}", "busy@example.com", "guess")).status_code for i in range(4)]
    assert bad == [400, 400, 400, 429]


async def test_one_address_trying_many_accounts_hits_the_per_ip_limit(make: Make) -> None:
    client = make(auth_rate_limit_sign_in="5/5m")
    statuses = [(await sign_in(client, f"user{i}@example.com", "wrong password")).status_code for i in range(7)]
    assert statuses == [400] * 5 + [429] * 2
    legacy = await client.post(
        "/token", params={"grant_type": "password"}, json={"email": "x@example.com", "password": "p"},
        headers={"X-Supabase-Api-Version": ""},
    )  # fmt: skip
    assert legacy.status_code == 429
    assert legacy.json() == {"code": 429, "error_code": "over_request_rate_limit", "msg": "Request rate limit reached"}


async def test_sign_up_and_sign_in_share_the_per_ip_budget(make: Make) -> None:
    client = make(auth_rate_limit_sign_in="3/1h")
    assert (await sign_up(client, "a@example.com")).status_code == 200
    assert (await sign_up(client, "b@example.com")).status_code == 200
    assert (await sign_in(client, "a@example.com")).status_code == 200
    _assert_limited(await sign_up(client, "c@example.com"))
    _assert_limited(await sign_in(client, "b@example.com"))


async def test_the_forwarded_header_is_ignored_unless_configured(make: Make) -> None:
    client = make(auth_rate_limit_sign_in="2/1h")  # no auth_rate_limit_ip_header: the peer address counts
    statuses = [(await _sign_in_from(client, f"203.0.113.{i}", f"u{i}@example.com", "x")).status_code
                for i in range(3)]  # fmt: skip
    assert statuses == [400, 400, 429]
    forwarded = make(auth_rate_limit_sign_in="2/1h", **FORWARDED)
    statuses = [(await _sign_in_from(forwarded, f"203.0.113.{i}", f"v{i}@example.com", "x")).status_code
                for i in range(3)]  # fmt: skip
    assert statuses == [400, 400, 400]


async def test_sign_up_mail_is_limited_per_address_only_when_confirmation_is_sent(make: Make) -> None:
    quiet = make(auth_rate_limit_email_address="1/1h", **FORWARDED)
    assert (await sign_up(quiet, "auto@example.com")).status_code == 200
    assert (await sign_up(quiet, "auto@example.com")).json()["code"] == "user_already_exists"
    mailing = make(auth_rate_limit_email_address="1/1h", auth_email_confirm=True, **FORWARDED)
    assert (await sign_up(mailing, "confirm@example.com")).status_code == 200
    repeat = await mailing.post(
        "/signup", json={"email": "confirm@example.com", "password": PASSWORD}, headers=_from("198.51.100.9")
    )
    _assert_limited(repeat, "over_email_send_rate_limit")


async def test_limits_can_be_switched_off(make: Make) -> None:
    for client in (
        make(auth_rate_limit_enabled=False),
        make(auth_rate_limit_sign_in="0/1m", auth_rate_limit_sign_in_address="0/1m"),
    ):
        statuses = {(await sign_in(client, "same@example.com", "wrong")).status_code for _ in range(35)}
        assert statuses == {400}


async def test_bad_bodies_are_still_400_not_500(make: Make) -> None:
    client = make()
    response = await client.post("/token", params={"grant_type": "password"}, content=b"[1]")
    assert response.status_code == 400 and response.json()["code"] == "bad_json"
    response = await client.post("/signup", json={"email": 5, "password": PASSWORD})
    assert response.status_code == 400 and response.json()["code"] == "bad_json"


@pytest.mark.parametrize("limiter", ["redis"], indirect=True)
async def test_nodes_sharing_redis_share_the_counts(engine: Engine, engine_settings: Settings, make: Make) -> None:
    prefix = unique_prefix()
    async with open_limiter("redis", prefix) as node_a, open_limiter("redis", prefix) as node_b:
        a = make(node_a, auth_rate_limit_sign_in="4/1h")
        b = make(node_b, auth_rate_limit_sign_in="4/1h")
        statuses = [(await sign_in(a if i % 2 else b, f"n{i}@example.com", "x")).status_code for i in range(6)]
    assert statuses == [400] * 4 + [429] * 2


async def test_create_app_limits_by_default_and_uses_redis_when_configured(engine_settings: Settings) -> None:
    prefix = unique_prefix()
    async with redis_keys(prefix) as redis_client:
        for redis_url in (None, REDIS_URL):
            settings = engine_settings.model_copy(
                update={"redis_url": redis_url, "redis_prefix": prefix, "auth_rate_limit_sign_in": "2/1h"}
            )
            app = create_app(settings, access_log=lambda line: None)
            headers = {**VERSIONED, "apikey": mint_key(settings.jwt_secret, "anon")}
            async with (
                app.lifespan(),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app), base_url="http://testserver/auth/v1", headers=headers
                ) as client,
            ):
                statuses = [(await sign_in(client, f"app{i}@example.com", "x")).status_code for i in range(3)]
            assert statuses == [400, 400, 429]
        assert [key async for key in redis_client.scan_iter(match=prefix + "*")]


def test_rates_parse_and_bad_ones_are_refused() -> None:
    assert parse_rate("30/5m") == Rate(30, 300)
    assert parse_rate("10/60") == Rate(10, 60)
    assert parse_rate("5/h") == Rate(5, 3600)
    assert parse_rate("0/1s") == Rate(0, 1)
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate("fast")
    with pytest.raises(ValidationError):
        Settings(auth_rate_limit_sign_in="30 per minute")
    assert set(ACTIONS) == {"sign_in", "sign_up", "otp", "recover", "resend", "verify"}


async def test_a_client_cannot_pick_its_bucket_through_earlier_forwarded_hops(make: Make) -> None:
    client = make(auth_rate_limit_sign_in="2/1h", **FORWARDED)
    statuses = []
    for i in range(3):  # the client varies the hop it writes; the proxy appends the real address
        headers = {"X-Forwarded-For": f"203.0.113.{i}, 198.51.100.77"}
        body = {"email": f"w{i}@example.com", "password": "x"}
        response = await client.post("/token", params={"grant_type": "password"}, json=body, headers=headers)
        statuses.append(response.status_code)
    assert statuses == [400, 400, 429]


async def test_parallel_guesses_cannot_slip_past_the_address_limit(make: Make) -> None:
    import asyncio

    client = make(auth_rate_limit_sign_in_address="5/5m", **FORWARDED)
    assert (await sign_up(client, "target@example.com")).status_code == 200
    guesses = (_sign_in_from(client, f"203.0.113.{i}", "target@example.com", f"guess {i}") for i in range(20))
    statuses = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert statuses == [400] * 5 + [429] * 15


# ------------------------------------------------------------------ guessing mailed codes (issue 16, finding 6)


async def _mailed_code(client: httpx.AsyncClient, engine: Engine, email: str) -> str:
    from backstack.auth.mail import read_inbox

    response = await client.post("/otp", json={"email": email}, headers=_from("192.0.2.200"))
    assert response.status_code == 200, response.text
    [mail] = await read_inbox(engine, to=email, limit=1)
    return mail.codes[0]


def _wrong(code: str, i: int) -> str:
    return f"{(int(code) + 1 + i) % 1_000_000:06d}"


async def _verify_from(client: httpx.AsyncClient, ip: str, email: str, code: str) -> httpx.Response:
    body = {"type": "email", "email": email, "token": code}
    return await client.post("/verify", json=body, headers=_from(ip))


async def test_guessing_a_code_from_many_addresses_then_the_right_one_fails(make: Make, engine: Engine) -> None:
    """The attack of the issue: 30 wrong codes from each of three addresses, the right one from a fourth."""
    client = make(**FORWARDED)
    code = await _mailed_code(client, engine, "otp-victim@example.com")
    statuses = []
    for n, ip in enumerate(("203.0.113.1", "2001:db8:1::1", "198.51.100.3")):
        for i in range(30):
            guess = await _verify_from(client, ip, "otp-victim@example.com", _wrong(code, n * 30 + i))
            statuses.append(guess.status_code)
    assert 200 not in statuses and statuses[:4] == [403] * 4 and set(statuses) <= {403, 429}
    right = await _verify_from(client, "192.0.2.44", "otp-victim@example.com", code)
    assert right.status_code in (403, 429), right.text
    assert "access_token" not in right.text


async def test_a_code_is_burned_after_its_attempts_even_for_the_right_code(make: Make, engine: Engine) -> None:
    from backstack.auth.store.onetime import CODE_ATTEMPTS

    client = make(auth_rate_limit_verify_address="0/1m", **FORWARDED)  # the token's own count only
    code = await _mailed_code(client, engine, "burn@example.com")
    for i in range(CODE_ATTEMPTS):
        wrong = await _verify_from(client, f"203.0.113.{i}", "burn@example.com", _wrong(code, i))
        assert (wrong.status_code, wrong.json()["code"]) == (403, "otp_expired")
    burned = await _verify_from(client, "198.51.100.1", "burn@example.com", code)
    assert burned.status_code == 403
    assert burned.json() == {"code": "otp_expired", "message": "Token has expired or is invalid"}
    # A new mail brings a new code that works.
    fresh = await _mailed_code(client, engine, "burn@example.com")
    assert (await _verify_from(client, "198.51.100.2", "burn@example.com", fresh)).status_code == 200


async def test_the_right_code_before_the_attempts_run_out_works(make: Make, engine: Engine) -> None:
    from backstack.auth.store.onetime import CODE_ATTEMPTS

    client = make(**FORWARDED)
    code = await _mailed_code(client, engine, "typo@example.com")
    for i in range(CODE_ATTEMPTS - 1):
        assert (await _verify_from(client, "203.0.113.9", "typo@example.com", _wrong(code, i))).status_code == 403
    ok = await _verify_from(client, "203.0.113.9", "typo@example.com", code)
    assert ok.status_code == 200, ok.text
    assert ok.json()["access_token"]


async def test_failed_codes_are_limited_per_address_from_any_ip(make: Make, engine: Engine) -> None:
    client = make(auth_rate_limit_verify_address="3/5m", **FORWARDED)
    code = await _mailed_code(client, engine, "addr@example.com")
    statuses = [(await _verify_from(client, f"203.0.113.{i}", "addr@example.com", _wrong(code, i))).status_code
                for i in range(3)]  # fmt: skip
    assert statuses == [403, 403, 403]
    _assert_limited(await _verify_from(client, "198.51.100.1", "ADDR@example.com", code))
    # Other addresses are not affected.
    other = await _mailed_code(client, engine, "other@example.com")
    assert (await _verify_from(client, "198.51.100.1", "other@example.com", other)).status_code == 200


async def test_ipv6_clients_are_counted_per_64(make: Make) -> None:
    client = make(auth_rate_limit_verify="2/1h", **FORWARDED)
    body = {"type": "email", "email": "v6@example.com", "token": "000000"}

    async def status(ip: str) -> int:
        return (await client.post("/verify", json=body, headers=_from(ip))).status_code

    assert [await status("2001:db8:aa:bb::1"), await status("2001:db8:aa:bb:ffff:1:2:3")] == [403, 403]
    assert await status("2001:db8:aa:bb::dead:beef") == 429  # the same /64
    assert await status("2001:db8:aa:bc::1") == 403  # the next /64 counts on its own
    assert [await status("192.0.2.1"), await status("192.0.2.2")] == [403, 403]  # IPv4: one address each


# ------------------------------------------------------------- guessing link hashes (issue 16, finding 6 follow-up)


def _gotrue_hash(email: str, code: str) -> str:
    """What an attacker computes from a victim's address and a guessed code (GoTrue's plain token hash)."""
    return hashlib.sha224((email + code).encode()).hexdigest()


async def _mailed(client: httpx.AsyncClient, engine: Engine, email: str) -> tuple[str, str]:
    """The code and the link token (`token` of the mailed link) of a new magic-link mail."""
    from backstack.auth.mail import read_inbox

    response = await client.post("/otp", json={"email": email}, headers=_from("192.0.2.201"))
    assert response.status_code == 200, response.text
    [mail] = await read_inbox(engine, to=email, limit=1)
    [link] = mail.links
    return mail.codes[0], parse_qs(urlsplit(link).query)["token"][0]


async def _verify_hash(client: httpx.AsyncClient, ip: str, verify_type: str, hashed: str) -> httpx.Response:
    return await client.post("/verify", json={"type": verify_type, "token_hash": hashed}, headers=_from(ip))


async def test_link_hashes_computed_from_the_address_and_a_guessed_code_are_refused(make: Make, engine: Engine) -> None:
    """The reviewer's repro: 12 hashed guesses from 12 addresses, then sha224(email + right code), POST and GET."""
    client = make(**FORWARDED)
    victim = "hash-victim@example.com"
    code, real_link_token = await _mailed(client, engine, victim)
    for i in range(12):
        wrong = await _verify_hash(client, f"203.0.113.{i}", "email", _gotrue_hash(victim, _wrong(code, i)))
        assert wrong.status_code == 403, wrong.text
    refused = await _verify_hash(client, "198.51.100.9", "magiclink", _gotrue_hash(victim, code))
    assert refused.status_code == 403 and "access_token" not in refused.text
    # Exactly what a wrong hash for an address without any live token answers: nothing to tell them apart.
    nobody = await _verify_hash(client, "198.51.100.9", "magiclink", _gotrue_hash("nobody@example.com", code))
    assert refused.json() == nobody.json() == {"code": "otp_expired", "message": "Email link is invalid or has expired"}
    clicked = await client.get(
        "/verify", params={"type": "magiclink", "token": _gotrue_hash(victim, code), "redirect_to": "http://127.0.0.1:8000/"},
        headers=_from("198.51.100.10"),
    )  # fmt: skip
    assert clicked.status_code == 303
    assert "access_token" not in clicked.headers["location"] and "error_code=otp_expired" in clicked.headers["location"]
    # The mailed link still works, once (POST here; GET below with a new mail).
    real = await _verify_hash(client, "198.51.100.11", "magiclink", real_link_token)
    assert real.status_code == 200, real.text
    assert real.json()["access_token"] and real.json()["user"]["email"] == victim
    _, real_link_token = await _mailed(client, engine, victim)
    clicked = await client.get("/verify", params={"type": "magiclink", "token": real_link_token},
                               headers=_from("198.51.100.12"))  # fmt: skip
    assert clicked.status_code == 303 and "access_token=" in clicked.headers["location"]


@pytest.mark.parametrize("limiter", ["memory"], indirect=True)
async def test_the_attempts_of_a_code_are_shared_by_every_worker(make: Make, engine: Engine) -> None:
    """Two workers (own services, own in-memory limiters, one database) together give a code 5 attempts, not 10."""
    from backstack.auth.store.onetime import CODE_ATTEMPTS
    from backstack.cache import MemoryRateLimiter

    first = make(auth_rate_limit_verify_address="0/1m", **FORWARDED)
    second = make(MemoryRateLimiter(), auth_rate_limit_verify_address="0/1m", **FORWARDED)
    code = await _mailed_code(first, engine, "workers@example.com")
    for i in range(CODE_ATTEMPTS):
        worker = first if i % 2 else second
        assert (await _verify_from(worker, f"203.0.113.{i}", "workers@example.com", _wrong(code, i))).status_code == 403
    burned = await _verify_from(first, "198.51.100.1", "workers@example.com", code)
    assert burned.json() == {"code": "otp_expired", "message": "Token has expired or is invalid"}


async def test_a_reauthentication_nonce_is_burned_after_its_attempts(engine: Engine, engine_settings: Settings) -> None:
    """The nonce of PUT /user takes the same per-code attempts as a code typed at /verify."""
    from datetime import UTC, datetime, timedelta

    from backstack.auth.mail import read_inbox
    from backstack.auth.service import AuthService
    from backstack.auth.store.onetime import CODE_ATTEMPTS

    await ensure_schema(engine)
    now = [datetime.now(UTC)]
    settings = engine_settings.model_copy(update={"auth_password_change_needs_reauthentication": True})
    service = AuthService(engine, settings, clock=lambda: now[0])
    app = Starlette(routes=[Mount("/auth/v1", build_auth_app(engine, settings, service=service))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver/auth/v1", headers=VERSIONED
    ) as auth:
        session = (await sign_up(auth, "nonce-guess@example.com")).json()
        headers = {"Authorization": f"Bearer {session['access_token']}"}
        now[0] += timedelta(hours=25)  # an old session needs a nonce to change the password
        assert (await auth.get("/reauthenticate", headers=headers)).status_code == 200
        [mail] = await read_inbox(engine, to="nonce-guess@example.com", limit=1)
        nonce = mail.codes[0]
        for i in range(CODE_ATTEMPTS):
            body = {"password": "another password", "nonce": _wrong(nonce, i)}
            assert (await auth.put("/user", json=body, headers=headers)).status_code == 422
        res = await auth.put("/user", json={"password": "another password", "nonce": nonce}, headers=headers)
        assert (res.status_code, res.json()["code"]) == (422, "reauthentication_not_valid")

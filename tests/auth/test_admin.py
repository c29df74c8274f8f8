"""The admin API (/admin/users...) on both engines: who may call it, CRUD, bans, imports, pagination."""

from __future__ import annotations

import bcrypt
import httpx
import pytest

from backstack.config import Settings
from backstack.core.keys import mint_key
from tests.auth.conftest import PASSWORD, bearer, refresh, sign_in, sign_up

pytestmark = pytest.mark.anyio


def admin_headers(settings: Settings) -> dict[str, str]:
    return bearer(mint_key(settings.jwt_secret, "service_role"))


async def create(auth: httpx.AsyncClient, settings: Settings, **body: object) -> httpx.Response:
    return await auth.post("/admin/users", json=body, headers=admin_headers(settings))


async def test_only_service_role_gets_in(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    session = (await sign_up(auth, "user@example.com")).json()
    cases = [
        ({}, 401, "no_authorization"),
        (bearer("garbage"), 403, "bad_jwt"),
        (bearer(mint_key(engine_settings.jwt_secret, "anon")), 403, "not_admin"),
        (bearer(session["access_token"]), 403, "not_admin"),
    ]
    for headers, status, code in cases:
        for method, path in (("GET", "/admin/users"), ("POST", "/admin/users"),
                             ("GET", f"/admin/users/{session['user']['id']}"),
                             ("DELETE", f"/admin/users/{session['user']['id']}")):  # fmt: skip
            res = await auth.request(method, path, headers=headers, json={})
            assert (res.status_code, res.json()["code"]) == (status, code), (method, path, res.text)
    res = await auth.get("/admin/users", headers=bearer(session["access_token"]))
    assert res.json()["message"] == "User not allowed"
    # the older error shape for callers without X-Supabase-Api-Version
    res = await auth.get("/admin/users", headers={"X-Supabase-Api-Version": ""})
    assert res.status_code == 401 and res.json()["error_code"] == "no_authorization" and res.json()["code"] == 401


async def test_create_and_sign_in(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    res = await create(
        auth, engine_settings, email="Made@Example.com", password=PASSWORD, email_confirm=True,
        user_metadata={"name": "Made"}, app_metadata={"plan": "pro", "provider": "email"},
    )  # fmt: skip
    assert res.status_code == 200, res.text
    user = res.json()
    assert user["email"] == "made@example.com"
    assert user["user_metadata"] == {"name": "Made", "email_verified": True}
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"], "plan": "pro"}
    assert user["role"] == "authenticated" and user["aud"] == "authenticated"
    assert "email_confirmed_at" in user and "confirmation_sent_at" not in user
    assert [i["provider"] for i in user["identities"]] == ["email"]
    signed_in = await sign_in(auth, "made@example.com")
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["app_metadata"]["plan"] == "pro"
    # the same address again
    again = await create(auth, engine_settings, email="made@example.com")
    assert (again.status_code, again.json()["code"]) == (422, "email_exists")


async def test_create_refusals(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    cases = [
        ({}, 400, "validation_failed", "Cannot create a user without either an email or phone"),
        ({"email": "not-an-email"}, 400, "validation_failed", None),
        ({"phone": "abc"}, 400, "validation_failed", "Invalid phone number format (E.164 required)"),
        ({"email": "a@example.com", "password": "short"}, 422, "weak_password", None),
        ({"email": "a@example.com", "password": PASSWORD, "password_hash": "$2b$10$x"}, 400, "validation_failed",
         "Only a password or a password hash should be provided"),
        ({"email": "a@example.com", "password_hash": "md5:abc"}, 400, "validation_failed",
         "Invalid password hash format"),
        ({"email": "a@example.com", "id": "nope"}, 400, "validation_failed", "ID must conform to the uuid v4 format"),
        ({"email": "a@example.com", "id": "00000000-0000-0000-0000-000000000000"}, 400, "validation_failed",
         "ID cannot be a nil uuid"),
        ({"email": "a@example.com", "ban_duration": "forever"}, 400, "validation_failed",
         'invalid format for ban duration: time: invalid duration "forever"'),
        ({"email": 5}, 400, "bad_json", None),
        ({"email": "a@example.com", "user_metadata": []}, 400, "bad_json", None),
        ({"email": "a@example.com", "email_confirm": "yes"}, 400, "bad_json", None),
    ]  # fmt: skip
    for body, status, code, message in cases:
        res = await create(auth, engine_settings, **body)
        assert (res.status_code, res.json()["code"]) == (status, code), (body, res.text)
        if message is not None:
            assert res.json()["message"] == message
    res = await auth.post("/admin/users", content=b"[1]", headers=admin_headers(engine_settings))
    assert (res.status_code, res.json()["code"]) == (400, "bad_json")
    total = await auth.get("/admin/users", headers=admin_headers(engine_settings))
    assert total.json()["users"] == []


async def test_import_with_id_and_bcrypt_hash(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    user_id = "5c7f1b8e-3a8e-4d3b-9a6c-0e7d6c0b4a11"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    res = await create(auth, engine_settings, id=user_id, email="old@example.com", password_hash=hashed,
                       email_confirm=True, role="authenticated")  # fmt: skip
    assert res.status_code == 200, res.text
    assert res.json()["id"] == user_id
    assert res.json()["identities"][0]["identity_data"]["sub"] == user_id
    signed_in = await sign_in(auth, "old@example.com")
    assert signed_in.status_code == 200 and signed_in.json()["user"]["id"] == user_id
    assert (await sign_in(auth, "old@example.com", "wrong password")).status_code == 400
    dup = await create(auth, engine_settings, id=user_id, email="other@example.com")
    assert (dup.status_code, dup.json()["code"]) == (422, "user_already_exists")


async def test_phone_user(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    res = await create(auth, engine_settings, phone="+1 5550100", phone_confirm=True)
    assert res.status_code == 200, res.text
    user = res.json()
    assert (user["phone"], user["email"]) == ("15550100", "")
    assert "phone_confirmed_at" in user and user["app_metadata"]["providers"] == ["phone"]
    dup = await create(auth, engine_settings, phone="15550100")
    assert (dup.status_code, dup.json()["code"]) == (422, "phone_exists")


async def test_list_pages_and_headers(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    for n in range(5):
        assert (await create(auth, engine_settings, email=f"u{n}@example.com")).status_code == 200
    res = await auth.get("/admin/users", params={"page": 1, "per_page": 2}, headers=admin_headers(engine_settings))
    assert res.status_code == 200
    body = res.json()
    assert body["aud"] == "authenticated"
    assert [u["email"] for u in body["users"]] == ["u4@example.com", "u3@example.com"]
    assert res.headers["x-total-count"] == "5"
    assert res.headers["link"] == (
        '</auth/v1/admin/users?page=2&per_page=2>; rel="next", </auth/v1/admin/users?page=3&per_page=2>; rel="last"'
    )
    last = await auth.get("/admin/users", params={"page": 3, "per_page": 2}, headers=admin_headers(engine_settings))
    assert [u["email"] for u in last.json()["users"]] == ["u0@example.com"]
    assert last.headers["link"] == '</auth/v1/admin/users?page=3&per_page=2>; rel="last"'
    default = await auth.get("/admin/users", headers=admin_headers(engine_settings))
    assert len(default.json()["users"]) == 5
    filtered = await auth.get("/admin/users", params={"filter": "U3@"}, headers=admin_headers(engine_settings))
    assert [u["email"] for u in filtered.json()["users"]] == ["u3@example.com"]
    assert filtered.headers["x-total-count"] == "1"
    assert filtered.headers["link"] == '</auth/v1/admin/users?page=1&per_page=50&filter=U3%40>; rel="last"'
    for bad in ("x", "-1", "1.5"):
        res = await auth.get("/admin/users", params={"page": bad}, headers=admin_headers(engine_settings))
        assert (res.status_code, res.json()["code"]) == (400, "validation_failed")


async def test_get_and_not_found(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    user = (await create(auth, engine_settings, email="get@example.com")).json()
    res = await auth.get(f"/admin/users/{user['id']}", headers=admin_headers(engine_settings))
    assert res.status_code == 200 and res.json() == user
    unknown = "/admin/users/6f0f4c1e-0000-4000-8000-000000000000"
    missing = await auth.get(unknown, headers=admin_headers(engine_settings))
    assert (missing.status_code, missing.json()["code"], missing.json()["message"]) == (
        404, "user_not_found", "User not found")  # fmt: skip
    bad = await auth.get("/admin/users/not-a-uuid", headers=admin_headers(engine_settings))
    assert (bad.status_code, bad.json()["code"]) == (404, "validation_failed")
    wrong_method = await auth.post(f"/admin/users/{user['id']}", headers=admin_headers(engine_settings))
    assert wrong_method.status_code == 405


async def test_update_merges_metadata_and_changes_email(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    user = (await create(auth, engine_settings, email="up@example.com", user_metadata={"a": 1, "b": 2})).json()
    res = await auth.put(
        f"/admin/users/{user['id']}",
        json={"user_metadata": {"b": None, "c": 3}, "app_metadata": {"tier": "gold"}, "email": "new@example.com",
              "email_confirm": True, "role": "authenticated"},
        headers=admin_headers(engine_settings),
    )  # fmt: skip
    assert res.status_code == 200, res.text
    updated = res.json()
    assert updated["user_metadata"] == {"a": 1, "c": 3, "email_verified": True}
    assert updated["app_metadata"]["tier"] == "gold"
    assert updated["email"] == "new@example.com" and "email_confirmed_at" in updated
    assert updated["identities"][0]["identity_data"]["email"] == "new@example.com"
    other = (await create(auth, engine_settings, email="taken@example.com")).json()
    clash = await auth.put(f"/admin/users/{other['id']}", json={"email": "new@example.com"},
                           headers=admin_headers(engine_settings))  # fmt: skip
    assert (clash.status_code, clash.json()["code"]) == (422, "email_exists")
    weak = await auth.put(f"/admin/users/{other['id']}", json={"password": "short"},
                          headers=admin_headers(engine_settings))  # fmt: skip
    assert (weak.status_code, weak.json()["code"]) == (422, "weak_password")


async def test_password_change_ends_sessions(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    session = (await sign_up(auth, "pw@example.com")).json()
    res = await auth.put(f"/admin/users/{session['user']['id']}", json={"password": "a brand new password"},
                         headers=admin_headers(engine_settings))  # fmt: skip
    assert res.status_code == 200, res.text
    assert (await refresh(auth, session["refresh_token"])).json()["code"] == "refresh_token_not_found"
    assert (await auth.get("/user", headers=bearer(session["access_token"]))).json()["code"] == "session_not_found"
    assert (await sign_in(auth, "pw@example.com")).status_code == 400
    assert (await sign_in(auth, "pw@example.com", "a brand new password")).status_code == 200


async def test_ban_ends_sessions_and_refuses_sign_in(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    session = (await sign_up(auth, "ban@example.com")).json()
    user_id = session["user"]["id"]
    headers = admin_headers(engine_settings)
    res = await auth.put(f"/admin/users/{user_id}", json={"ban_duration": "24h"}, headers=headers)
    assert res.status_code == 200 and "banned_until" in res.json()
    assert (await refresh(auth, session["refresh_token"])).status_code == 400
    assert (await auth.get("/user", headers=bearer(session["access_token"]))).status_code == 403
    banned = await sign_in(auth, "ban@example.com")
    assert (banned.status_code, banned.json()["code"]) == (400, "user_banned")
    res = await auth.put(f"/admin/users/{user_id}", json={"ban_duration": "none"}, headers=headers)
    assert "banned_until" not in res.json()
    assert (await sign_in(auth, "ban@example.com")).status_code == 200
    # banned at creation
    made = await create(auth, engine_settings, email="b2@example.com", password=PASSWORD, email_confirm=True,
                        ban_duration="1h30m")  # fmt: skip
    assert "banned_until" in made.json()
    assert (await sign_in(auth, "b2@example.com")).json()["code"] == "user_banned"


async def test_delete_hard_and_soft(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    headers = admin_headers(engine_settings)
    hard = (await sign_up(auth, "hard@example.com")).json()
    res = await auth.request("DELETE", f"/admin/users/{hard['user']['id']}", json={"should_soft_delete": False},
                             headers=headers)  # fmt: skip
    assert (res.status_code, res.json()) == (200, {})
    assert (await auth.get(f"/admin/users/{hard['user']['id']}", headers=headers)).status_code == 404
    assert (await refresh(auth, hard["refresh_token"])).status_code == 400
    soft = (await sign_up(auth, "soft@example.com", data={"name": "Soft"})).json()
    res = await auth.request("DELETE", f"/admin/users/{soft['user']['id']}", json={"should_soft_delete": True},
                             headers=headers)  # fmt: skip
    assert res.status_code == 200
    kept = (await auth.get(f"/admin/users/{soft['user']['id']}", headers=headers)).json()
    assert "deleted_at" in kept and kept["email"] == "" and kept["user_metadata"] == {} and kept["identities"] == []
    assert (await refresh(auth, soft["refresh_token"])).status_code == 400
    assert (await sign_in(auth, "soft@example.com")).status_code == 400
    assert (await sign_up(auth, "soft@example.com")).status_code == 200  # the address is free again
    # no body at all (supabase-js sends one, curl may not)
    plain = (await create(auth, engine_settings, email="plain@example.com")).json()
    assert (await auth.delete(f"/admin/users/{plain['id']}", headers=headers)).status_code == 200
    again = await auth.delete(f"/admin/users/{plain['id']}", headers=headers)
    assert (again.status_code, again.json()["code"]) == (404, "user_not_found")


async def test_factors_of_a_user_without_any(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    headers = admin_headers(engine_settings)
    user = (await create(auth, engine_settings, email="f@example.com")).json()
    res = await auth.get(f"/admin/users/{user['id']}/factors", headers=headers)
    assert (res.status_code, res.json()) == (200, [])
    res = await auth.delete(f"/admin/users/{user['id']}/factors/6f0f4c1e-0000-4000-8000-000000000000", headers=headers)
    assert (res.status_code, res.json()["code"]) == (404, "mfa_factor_not_found")
    res = await auth.delete(f"/admin/users/{user['id']}/factors/nope", headers=headers)
    assert (res.status_code, res.json()["code"]) == (404, "validation_failed")

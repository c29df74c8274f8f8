"""ES256/RS256 signing keys from settings, the JWKS, and the data API verifying asymmetric tokens safely."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from backstack.config import Settings
from backstack.core.errors import Unauthorized
from backstack.core.keys import mint_key
from backstack.core.signing import KeyConfigError, build_key_set, thumbprint
from backstack.web.auth import Authenticator
from tests.auth.conftest import MakeAuth, bearer, refresh, sign_up
from tests.rest.http_api import running_api

SECRET = "test-secret-that-is-at-least-32-bytes-long!"


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data


def public_pem(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def user_claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "6f0f4c1e-0000-4000-8000-000000000000", "role": "authenticated", "aud": "authenticated",
            "iat": now, "exp": now + 600, **extra}  # fmt: skip


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ------------------------------------------------------------------ loading keys


def test_keys_load_from_pem_files_and_jwks(tmp_path: Path) -> None:
    key = ec_key()
    (tmp_path / "signing.pem").write_bytes(pem(key))
    keys = build_key_set(SECRET, "signing.pem", base_dir=tmp_path)
    assert keys.algorithm == "ES256"
    jwk = keys.jwks()["keys"][0]
    assert jwk["kid"] == thumbprint(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in jwk
    token = keys.sign(user_claims())
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": jwk["kid"], "typ": "JWT"}
    verified = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience="authenticated")
    assert verified["role"] == "authenticated"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_jwk = {**RSAAlgorithm.to_jwk(rsa_key, as_dict=True), "kid": "rsa-1"}
    rsa_keys = build_key_set(SECRET, json.dumps(private_jwk))
    assert rsa_keys.algorithm == "RS256" and rsa_keys.jwks()["keys"][0]["kid"] == "rsa-1"
    assert "d" not in rsa_keys.jwks()["keys"][0] and "p" not in rsa_keys.jwks()["keys"][0]
    # a verification-only key (the previous one) is published and accepted, never used to sign
    (tmp_path / "old.pem").write_bytes(public_pem(key))
    rotated = build_key_set(SECRET, json.dumps(private_jwk), ["old.pem"], base_dir=tmp_path)
    assert [k["alg"] for k in rotated.jwks()["keys"]] == ["RS256", "ES256"]
    assert rotated.decode(token, {"verify_aud": False})["sub"] == user_claims()["sub"]
    assert build_key_set(SECRET).jwks() == {"keys": []}


def test_unusable_keys_are_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "pub.pem").write_bytes(public_pem(ec_key()))
    (tmp_path / "p384.pem").write_bytes(pem(ec.generate_private_key(ec.SECP384R1())))
    (tmp_path / "weak.pem").write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    (tmp_path / "junk.pem").write_text("not a key")
    cases = [
        ("missing.pem", "cannot read key file"),
        ("junk.pem", "not an unencrypted PEM"),
        ("pub.pem", "must be a private key"),
        ("p384.pem", "curve P-256"),
        ("weak.pem", "at least 2048 bits"),
        ('{"kty": "oct", "k": "c2VjcmV0"}', "only EC P-256"),
        ("{not json", "invalid JWK"),
    ]
    for spec, message in cases:
        with pytest.raises(KeyConfigError, match=message):
            build_key_set(SECRET, spec, base_dir=tmp_path)


# ------------------------------------------------------------------ the data API's verification


def test_authenticator_accepts_our_asymmetric_tokens_only() -> None:
    ours, theirs = ec_key(), ec_key()
    keys = build_key_set(SECRET, json.dumps({**ECAlgorithm.to_jwk(ours, as_dict=True), "kid": "k1"}))
    auth = Authenticator(SECRET, keys=keys)
    good = keys.sign(user_claims())
    assert auth.verify(good).role == "authenticated"
    assert auth.verify(mint_key(SECRET, "anon")).role == "anon"  # project keys stay HS256
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_text = public_pem(ours)
    attacker_jwk = ECAlgorithm.to_jwk(theirs.public_key(), as_dict=True)
    forged = {
        "other key, same kid": jwt.encode(user_claims(), theirs, algorithm="ES256", headers={"kid": "k1"}),
        "other key, no kid": jwt.encode(user_claims(), theirs, algorithm="ES256"),
        "unknown kid": jwt.encode(user_claims(), ours, algorithm="ES256", headers={"kid": "k2"}),
        "embedded jwk": jwt.encode(user_claims(), theirs, algorithm="ES256", headers={"jwk": attacker_jwk}),
        "jku": jwt.encode(user_claims(), theirs, algorithm="ES256", headers={"jku": "http://evil.example/jwks"}),
        "RS256 not configured": jwt.encode(user_claims(), rsa_key, algorithm="RS256"),
        "alg none": b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(user_claims()).encode()) + ".",
        # the public key used as an HMAC secret (algorithm confusion)
        "HS256 with the public key": _hmac_token(user_claims(), public_text),
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "expired": keys.sign(user_claims(exp=int(time.time()) - 3600)),
        "wrong audience": keys.sign(user_claims(aud="someone-else")),
    }
    for case, token in forged.items():
        with pytest.raises(Unauthorized):
            auth.verify(token)
            pytest.fail(case)


def _hmac_token(claims: dict[str, Any], key: bytes) -> str:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


# ------------------------------------------------------------------ the auth API with a signing key


@pytest.mark.anyio
async def test_jwks_is_empty_with_hs256(auth: httpx.AsyncClient) -> None:
    res = await auth.get("/.well-known/jwks.json")
    assert (res.status_code, res.json()) == (200, {"keys": []})
    assert res.headers["cache-control"] == "public, max-age=600"


@pytest.mark.anyio
async def test_auth_signs_with_the_configured_key(make_auth: MakeAuth, engine_settings: Settings) -> None:
    key_file = engine_settings.project_dir / "auth-key.pem"
    key_file.write_bytes(pem(ec_key()))
    auth = make_auth(jwt_signing_key="auth-key.pem")
    jwks = (await auth.get("/.well-known/jwks.json")).json()
    assert [k["alg"] for k in jwks["keys"]] == ["ES256"]
    session = (await sign_up(auth, "es256@example.com")).json()
    header = jwt.get_unverified_header(session["access_token"])
    assert (header["alg"], header["kid"]) == ("ES256", jwks["keys"][0]["kid"])
    public = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(session["access_token"], public, algorithms=["ES256"], audience="authenticated")
    assert claims["sub"] == session["user"]["id"]
    assert (await auth.get("/user", headers=bearer(session["access_token"]))).status_code == 200
    renewed = await refresh(auth, session["refresh_token"])
    assert jwt.get_unverified_header(renewed.json()["access_token"])["alg"] == "ES256"
    # HS256 user tokens signed with the secret still pass (tokens issued before the switch)
    hs = jwt.encode(user_claims(sub=session["user"]["id"]), engine_settings.jwt_secret, algorithm="HS256")
    assert (await auth.get("/user", headers=bearer(hs))).status_code == 200
    admin = await auth.get("/admin/users", headers=bearer(mint_key(engine_settings.jwt_secret, "service_role")))
    assert admin.status_code == 200


@pytest.mark.anyio
async def test_data_api_accepts_asymmetric_user_tokens(engine_settings: Settings) -> None:
    key_file = engine_settings.project_dir / "rs.pem"
    engine_settings.project_dir.mkdir(parents=True, exist_ok=True)
    key_file.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    settings = engine_settings.model_copy(update={"jwt_signing_key": "rs.pem"})
    async with running_api(settings, "create table notes (id integer primary key, body text);") as api:
        headers = {"apikey": api.keys.anon, "X-Supabase-Api-Version": "2024-01-01"}
        session = (
            await api.client.post(
                "/auth/v1/signup",
                headers=headers,
                json={"email": "rs@example.com", "password": "correct horse battery"},
            )
        ).json()
        assert jwt.get_unverified_header(session["access_token"])["alg"] == "RS256"
        res = await api.client.get("/rest/v1/notes", headers={**headers, **bearer(session["access_token"])})
        assert (res.status_code, res.json()) == (200, [])
        forged = jwt.encode(user_claims(), rsa.generate_private_key(public_exponent=65537, key_size=2048),
                            algorithm="RS256")  # fmt: skip
        res = await api.client.get("/rest/v1/notes", headers={**headers, **bearer(forged)})
        assert (res.status_code, res.json()["code"]) == (401, "PGRST301")

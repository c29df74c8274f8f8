"""API keys: Supabase's claims, deterministic for a secret and issue time."""

from __future__ import annotations

import jwt
import pytest

from backstack.core.keys import DEFAULT_ISSUED_AT, SECONDS_PER_YEAR, generate_secret, mint_key, project_keys


def test_keys_are_deterministic_for_a_secret_and_issue_time() -> None:
    secret = generate_secret()
    assert project_keys(secret, issued_at=1_700_000_000) == project_keys(secret, issued_at=1_700_000_000)
    assert project_keys(secret) == project_keys(secret)
    assert project_keys(secret) != project_keys(generate_secret())


@pytest.mark.parametrize("role", ["anon", "service_role"])
def test_claims_are_supabases(role: str) -> None:
    secret = generate_secret()
    token = mint_key(secret, role, issued_at=1_700_000_000)  # type: ignore[arg-type]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims == {
        "iss": "supabase",
        "ref": "backstack",
        "role": role,
        "iat": 1_700_000_000,
        "exp": 1_700_000_000 + 10 * SECONDS_PER_YEAR,
    }


def test_without_a_recorded_issue_time_a_fixed_date_is_used() -> None:
    secret = generate_secret()
    claims = jwt.decode(project_keys(secret).anon, secret, algorithms=["HS256"])
    assert claims["iat"] == DEFAULT_ISSUED_AT


def test_secret_is_long_and_random() -> None:
    first, second = generate_secret(), generate_secret()
    assert len(first) == 64 and first != second


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="no JWT secret"):
        project_keys("")

"""Project secrets and the two API keys (anon, service_role) minted from them, as Supabase does.

The keys are HS256 JWTs with the claims `{"iss": "supabase", "ref": "backstack", "role", "iat", "exp"}`.
They are deterministic: the same secret and issue time always give the same keys, so `backstack keys`
prints what a running server accepts, on every machine and after every restart.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

import jwt

KeyRole = Literal["anon", "service_role"]

# Issue time used when a project does not record its own (keys made before `init` stored one,
# or a secret given only through the environment): 2025-01-01T00:00:00Z.
DEFAULT_ISSUED_AT = 1_735_689_600
SECONDS_PER_YEAR = 31_557_600  # 365.25 days
ISSUER = "supabase"
PROJECT_REF = "backstack"


def generate_secret() -> str:
    """A new JWT secret: 48 random bytes, URL-safe text (64 characters)."""
    return secrets.token_urlsafe(48)


def mint_key(secret: str, role: KeyRole, *, issued_at: int = 0, lifetime_years: int = 10) -> str:
    """The API key for `role`: an HS256 JWT signed with `secret`, valid `lifetime_years` from `issued_at`."""
    iat = issued_at or DEFAULT_ISSUED_AT
    claims = {
        "iss": ISSUER,
        "ref": PROJECT_REF,
        "role": role,
        "iat": iat,
        "exp": iat + lifetime_years * SECONDS_PER_YEAR,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """The pair of keys a project hands out: `anon` for browsers, `service_role` for trusted servers."""

    anon: str
    service_role: str

    def as_dict(self) -> dict[str, str]:
        return {"anon": self.anon, "service_role": self.service_role}


def project_keys(secret: str, *, issued_at: int = 0, lifetime_years: int = 10) -> ApiKeys:
    """Both API keys of a project; raises ValueError when the secret is empty."""
    if not secret:
        raise ValueError("the project has no JWT secret")
    return ApiKeys(
        anon=mint_key(secret, "anon", issued_at=issued_at, lifetime_years=lifetime_years),
        service_role=mint_key(secret, "service_role", issued_at=issued_at, lifetime_years=lifetime_years),
    )

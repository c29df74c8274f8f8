"""The signed-in subscribers of realtime_bench.py's policy step: K users, signed up on first use.

Real sessions (not tokens minted with the project's secret), so `auth.uid()` in the table's policy reads
what a supabase client would send. K stays small (password hashing is deliberately slow); the clients
share them round-robin.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

PASSWORD = "RtBench123!"  # noqa: S105 (a bench user on a loopback server)


@dataclass(frozen=True)
class User:
    id: str
    token: str


async def _sign_in(http: httpx.AsyncClient, index: int) -> User:
    creds = {"email": f"rt-bench-{index}@example.com", "password": PASSWORD}
    answer = await http.post("/auth/v1/token", params={"grant_type": "password"}, json=creds)
    if answer.status_code != 200:
        await http.post("/auth/v1/signup", json=creds)
        answer = await http.post("/auth/v1/token", params={"grant_type": "password"}, json=creds)
    if answer.status_code != 200:
        raise SystemExit(f"rt-bench user {index} could not sign in: {answer.status_code} {answer.text[:200]}")
    session = answer.json()
    return User(id=session["user"]["id"], token=session["access_token"])


async def sign_in_all(base: str, anon_key: str, count: int) -> list[User]:
    async with httpx.AsyncClient(base_url=base, headers={"apikey": anon_key}, timeout=60) as http:
        return list(await asyncio.gather(*(_sign_in(http, i) for i in range(count))))

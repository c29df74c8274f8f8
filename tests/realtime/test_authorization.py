"""The decisions a private channel keeps (realtime/authorization.py): a remembered answer is reused
only for the very claims it was given for, so a refreshed token is asked again whenever any claim a
policy may read (`auth.jwt()`: app_metadata, aal, a non-string `sub`...) differs."""

from __future__ import annotations

import pytest

from backstack.core.caller import Caller
from backstack.realtime.authorization import Access, Authorization, Decisions

pytestmark = pytest.mark.anyio


class CountingProbe:
    """Lets in only callers whose `team` claim is "red"; counts how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def __call__(self, caller: Caller, name: str, extension: str, access: Access) -> bool:
        self.asked += 1
        return caller.claims.get("team") == "red"


async def test_a_refresh_with_other_claims_of_the_same_user_is_asked_again() -> None:
    probe = CountingProbe()
    authorization, decisions = Authorization(probe), Decisions()
    red = Caller("authenticated", {"sub": "u", "role": "authenticated", "team": "red"})
    blue = Caller("authenticated", {"sub": "u", "role": "authenticated", "team": "blue"})
    assert await authorization.may(red, "room", "broadcast", "read", decisions)
    assert await authorization.may(red, "room", "broadcast", "read", decisions)
    assert probe.asked == 1  # the same claims: remembered
    assert not await authorization.may(blue, "room", "broadcast", "read", decisions)  # removed from the team


async def test_callers_without_a_string_sub_do_not_share_a_decision() -> None:
    probe = CountingProbe()
    authorization, decisions = Authorization(probe), Decisions()
    first = Caller("authenticated", {"sub": 1, "role": "authenticated", "team": "red"})
    second = Caller("authenticated", {"sub": 2, "role": "authenticated"})
    assert await authorization.may(first, "room", "broadcast", "read", decisions)
    assert not await authorization.may(second, "room", "broadcast", "read", decisions)

"""The JWTs of realtime joins and refreshes, checked as every other API checks them (web/auth.py).

A refused token is worded as Supabase Realtime words it: `InvalidJWTToken: <why>`, and an expired
one `InvalidJWTToken: Token has expired <n> seconds ago`.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING

from backstack.core import json

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.errors import ApiError
    from backstack.web.auth import Authenticator


class Tokens:
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def verify(self, token: str) -> tuple[Caller, float | None]:
        """The token's caller and when it expires (None: no `exp`); raises the API's 401 when refused."""
        caller = self.authenticator.verify(token)
        exp = caller.claims.get("exp")
        return caller, float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None

    def refusal(self, token: str, error: ApiError) -> str:
        """The join error's reason for a token `verify` refused."""
        expired_for = _expired_for(token)
        if error.code == "PGRST303" and expired_for is not None:
            return f"InvalidJWTToken: Token has expired {expired_for} seconds ago"
        return f"InvalidJWTToken: {error.message}"


def _expired_for(token: str) -> int | None:
    """Seconds since the token's `exp`, read from its (already refused) claims only for the message."""
    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
    except (IndexError, ValueError):
        return None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    return max(0, int(time.time() - exp))

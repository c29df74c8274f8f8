"""Who is calling: the role and claims every service and policy reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

KeyKind = Literal["anon", "service_role", "user"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified identity of a request: role from the JWT, user id from `sub`, all claims."""

    role: str
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def is_service(self) -> bool:
        return self.role == "service_role"

    @property
    def is_anonymous(self) -> bool:
        return self.role == "anon"


ANON = Caller(role="anon", claims={"role": "anon"})
SERVICE = Caller(role="service_role", claims={"role": "service_role"})

"""GoTrue-compatible auth service (`/auth/v1`): email/password sign-up and sign-in, sessions, tokens."""

from backstack.auth.routes import build_auth_app
from backstack.auth.schema import ensure_schema
from backstack.auth.service import AuthService

__all__ = ["AuthService", "build_auth_app", "ensure_schema"]

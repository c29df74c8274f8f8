"""GoTrue-compatible auth service (`/auth/v1`): email/password sign-up and sign-in, sessions, tokens."""

from backstack.auth.api.app import build_auth_app
from backstack.auth.service import AuthService
from backstack.auth.store.schema import ensure_schema

__all__ = ["AuthService", "build_auth_app", "ensure_schema"]

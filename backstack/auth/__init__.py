"""GoTrue-compatible auth service (`/auth/v1`): sign-up and sign-in, sessions, tokens, mail, MFA, OAuth.

Layers (each imports only those below it; docs/architecture-auth.md): api/ (HTTP) > service.py
(`AuthService`, built once per app) > flows/ (the rules) > mail/ > store/ (SQL) > core/ (values).
"""

from backstack.auth.api.app import build_auth_app
from backstack.auth.api.errors import render_gotrue
from backstack.auth.service import AuthService
from backstack.auth.store.schema import ensure_schema

__all__ = ["AuthService", "build_auth_app", "ensure_schema", "render_gotrue"]

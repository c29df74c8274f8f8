"""The auth API's error renderer for the platform (web/errors.py): GoTrue's wire shapes, keyed by the
request's `X-Supabase-Api-Version` (core/errors.py `render` builds them).

app.py registers `render_gotrue` for `/auth/v1`, as `render_postgrest` is for `/rest/v1`;
`build_auth_app` uses it for a standalone auth app. `AuthApp` turns every `ApiError` it raises into
an `AuthError` (GoTrue's vocabulary); the errors the platform raises itself under `/auth/v1` before
the auth app is reached (the size limits checked up front) and unexpected exceptions (500 with the
request id) are not `AuthError`s and keep the platform's shape, as they had when the auth app
rendered its own errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.auth.core.errors import AuthError, api_version, render
from backstack.web.errors import render_default, request_id_of
from backstack.web.responses import content_length

if TYPE_CHECKING:
    from starlette.types import Scope

    from backstack.core.errors import ApiError
    from backstack.web.errors import Rendered

_API_VERSION = b"x-supabase-api-version"


def render_gotrue(error: ApiError, scope: Scope) -> Rendered:
    """GoTrue's shape for the version the request asked for; the request id as `error_id` on a 5xx."""
    if not isinstance(error, AuthError):
        return render_default(error, scope)
    header = next((value.decode("latin-1") for name, value in scope["headers"] if name == _API_VERSION), None)
    status, headers, body = render(error, api_version(header), request_id_of(scope))
    return status, [*headers, content_length(body)], body

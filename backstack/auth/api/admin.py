"""HTTP for the admin API (`/admin/users...`): only `service_role` tokens get in; rules in flows/admin_users.py."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from backstack.auth.api import http
from backstack.auth.core import errors
from backstack.auth.core.user import AUDIENCE
from backstack.auth.flows.admin_users import UserParams

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from backstack.auth.api.routes import Route
    from backstack.auth.service import AuthService

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000  # GoTrue has no cap; one page of users must stay a bounded amount of work


def user_params(body: dict[str, Any]) -> UserParams:
    """The body of POST/PUT /admin/users (GoTrue's `adminUserParams`)."""
    return UserParams(
        email=http.text(body, "email").strip(),
        phone=http.text(body, "phone").strip(),
        password=http.optional_text(body, "password"),
        password_hash=http.text(body, "password_hash"),
        email_confirm=bool(http.flag(body, "email_confirm")),
        phone_confirm=bool(http.flag(body, "phone_confirm")),
        user_metadata=http.obj(body, "user_metadata"),
        app_metadata=http.obj(body, "app_metadata"),
        role=http.text(body, "role"),
        ban_duration=http.text(body, "ban_duration"),
        id=http.text(body, "id"),
    )


def _page_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise errors.validation_failed(f'Bad Pagination Parameters: strconv.ParseUint: parsing "{raw}": invalid syntax')
    return int(raw) or default


def _link_header(request: Request, page: int, per_page: int, total: int) -> str:
    """GoTrue's `Link`: `next` while pages remain, and always `last`."""
    path = request.scope.get("root_path", "") + "/admin/users"
    # page first: supabase-js reads the page number as the first value in the URL
    others = {k: v for k, v in request.query_params.items() if k not in ("page", "per_page")}
    last = max(1, math.ceil(total / per_page))

    def link(target: int, rel: str) -> str:
        return f'<{path}?{urlencode({"page": target, "per_page": per_page, **others})}>; rel="{rel}"'

    links = [link(page + 1, "next")] if page < last else []
    links.append(link(last, "last"))
    return ", ".join(links)


async def list_users(service: AuthService, request: Request) -> Response:
    service.bearer.require_admin(http.bearer(request))
    page = _page_param(request, "page", 1)
    per_page = min(_page_param(request, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    found, total = await service.admin_users.page(page, per_page, request.query_params.get("filter", ""))
    headers = {"X-Total-Count": str(total), "Link": _link_header(request, page, per_page, total)}
    return http.json_response({"users": [u.to_json() for u in found], "aud": AUDIENCE}, headers=headers)


async def create_user(service: AuthService, request: Request) -> Response:
    service.bearer.require_admin(http.bearer(request))
    params = user_params(await http.read_body(request))
    return http.json_response((await service.admin_users.create(params)).to_json())


async def get_user(service: AuthService, request: Request) -> Response:
    service.bearer.require_admin(http.bearer(request))
    return http.json_response((await service.admin_users.get(request.path_params["user_id"])).to_json())


async def update_user(service: AuthService, request: Request) -> Response:
    service.bearer.require_admin(http.bearer(request))
    params = user_params(await http.read_body(request))
    updated = await service.admin_users.update(request.path_params["user_id"], params)
    return http.json_response(updated.to_json())


async def delete_user(service: AuthService, request: Request) -> Response:
    service.bearer.require_admin(http.bearer(request))
    body = await http.read_body(request, optional=True)
    await service.admin_users.delete(request.path_params["user_id"], bool(http.flag(body, "should_soft_delete")))
    return http.json_response({})


async def list_factors(service: AuthService, request: Request) -> Response:
    service.bearer.require_admin(http.bearer(request))
    return http.json_response((await service.admin_users.get(request.path_params["user_id"])).factors)


async def delete_factor(service: AuthService, request: Request) -> Response:
    service.bearer.require_admin(http.bearer(request))
    params = request.path_params
    return http.json_response(await service.admin_users.delete_factor(params["user_id"], params["factor_id"]))


def routes() -> list[Route]:
    return [
        ("/admin/users", {"GET": list_users, "POST": create_user}),
        (r"/admin/users/(?P<user_id>[^/]+)", {"GET": get_user, "PUT": update_user, "DELETE": delete_user}),
        (r"/admin/users/(?P<user_id>[^/]+)/factors", {"GET": list_factors}),
        (r"/admin/users/(?P<user_id>[^/]+)/factors/(?P<factor_id>[^/]+)", {"DELETE": delete_factor}),
    ]

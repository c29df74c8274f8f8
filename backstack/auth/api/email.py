"""HTTP for the email flows: /otp, /magiclink, /verify (GET and POST), /recover, /resend, PUT /user,
/reauthenticate, /invite and /admin/generate_link. Parsing and rendering only; the rules live in
flows/ (passwordless, recovery, verify, account, admin_links). `redirect_to` comes as a query
parameter (what the official clients send) and is checked against the allow-list (core/redirects.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import RedirectResponse, Response

from backstack.auth.api.http import bearer, client, client_ip, flag, json_response, obj, optional_text, read_body, text
from backstack.auth.core import errors
from backstack.auth.core.pkce import Challenge, parse_challenge
from backstack.auth.core.redirects import redirect_target
from backstack.auth.flows import verify
from backstack.auth.flows.account import UserUpdate
from backstack.auth.flows.admin_links import LinkRequest
from backstack.auth.flows.passwordless import OtpRequest
from backstack.auth.mail.outbox import PKCE_PREFIX

if TYPE_CHECKING:
    from starlette.requests import Request

    from backstack.auth.api.routes import Route
    from backstack.auth.service import AuthService


def _challenge(body: dict[str, Any]) -> Challenge | None:
    """The PKCE `code_challenge` a client in PKCE mode sends (validated as GoTrue does), or None."""
    return parse_challenge(text(body, "code_challenge"), text(body, "code_challenge_method"))


def _redirect_to(service: AuthService, request: Request, body: dict[str, Any] | None = None) -> str:
    requested = request.query_params.get("redirect_to")
    if not requested and body is not None and isinstance(body.get("redirect_to"), str):
        requested = body["redirect_to"]
    return redirect_target(service.settings, requested)


async def otp(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    email, phone = text(body, "email"), text(body, "phone")
    if email and text(body, "channel"):
        raise errors.validation_failed("Channel should only be specified with Phone OTP")
    await service.limits.check(client_ip(request, service.limits), "otp", email=email, phone=phone)
    create_user = flag(body, "create_user")
    await service.passwordless.send_otp(
        OtpRequest(
            email, phone, obj(body, "data") or {}, True if create_user is None else create_user,
            _redirect_to(service, request, body), challenge=_challenge(body),
        )
    )  # fmt: skip
    return json_response({})


async def magiclink(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    email = text(body, "email")
    await service.limits.check(client_ip(request, service.limits), "otp", email=email)
    if not email:
        raise errors.validation_failed("Password recovery requires an email")
    data = obj(body, "data") or {}
    await service.passwordless.send_otp(OtpRequest(email, "", data, True, _redirect_to(service, request, body)))
    return json_response({})


async def recover(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    email = text(body, "email")
    await service.limits.check(client_ip(request, service.limits), "recover", email=email)
    await service.recovery.recover(email, _redirect_to(service, request, body), challenge=_challenge(body))
    return json_response({})


async def resend(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    email, phone = text(body, "email"), text(body, "phone")
    await service.limits.check(client_ip(request, service.limits), "resend", email=email, phone=phone)
    await service.recovery.resend(text(body, "type"), email, phone, _redirect_to(service, request, body))
    return json_response({})


async def verify_post(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    await service.limits.check(client_ip(request, service.limits), "verify")
    verify_type, token, token_hash = text(body, "type"), text(body, "token"), text(body, "token_hash")
    email = verify.check_post(verify_type, token, token_hash, text(body, "email"), text(body, "phone"))
    await service.limits.check_address("verify", email=email)  # codes typed for one address, from any IP
    verified = await service.verify(
        verify_type, token=token, token_hash=token_hash, email=email, client=client(request, service.limits)
    )
    await service.limits.succeeded("verify", email=email)
    if verified.grant is None:
        return json_response({"msg": verified.message, "code": "200"})
    return json_response(verified.grant.to_json())


async def verify_get(service: AuthService, request: Request) -> Response:
    """The link clicked in a mail: 303 to `redirect_to` with the session or the error in the fragment."""
    params = request.query_params
    await service.limits.check(client_ip(request, service.limits), "verify")
    verify_type, token = params.get("type", ""), params.get("token", "")
    if not verify_type:
        raise errors.validation_failed("Verify requires a verification type")
    if not token:
        raise errors.validation_failed("Verify requires a token or a token hash")
    target = _redirect_to(service, request)
    pkce = token.startswith(PKCE_PREFIX)
    try:
        verified = await service.verify(
            verify_type, token_hash=token, client=client(request, service.limits), via_link=True
        )
    except errors.AuthError as error:
        if error.status >= 500:
            raise
        return RedirectResponse(verify.error_redirect(target, error, pkce=pkce), status_code=303)
    return RedirectResponse(verify.success_redirect(target, verified, verify_type, pkce=pkce), status_code=303)


async def update_user(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    token = bearer(request)
    change = UserUpdate(
        email=optional_text(body, "email"),
        password=optional_text(body, "password"),
        data=obj(body, "data"),
        nonce=text(body, "nonce"),
        current_password=optional_text(body, "current_password"),
        phone=text(body, "phone"),
        app_metadata_sent=body.get("app_metadata") is not None,
        redirect_to=_redirect_to(service, request, body),
        challenge=_challenge(body),
    )
    auth = await service.bearer.authenticate(token)
    return json_response((await service.account.update_user(auth, change)).to_json())


async def reauthenticate(service: AuthService, request: Request) -> Response:
    auth = await service.bearer.authenticate(bearer(request))
    await service.account.reauthenticate(auth)
    return json_response({})


async def invite(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    token = bearer(request)
    email, data = text(body, "email"), obj(body, "data") or {}
    redirect_to = _redirect_to(service, request, body)
    service.bearer.require_admin(token)
    return json_response((await service.admin_links.invite(email, data, redirect_to)).to_json())


async def generate_link(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    token = bearer(request)
    redirect_to = _redirect_to(service, request, body)
    service.bearer.require_admin(token)
    return json_response(await service.admin_links.generate_link(LinkRequest.parse(body), redirect_to))


def routes() -> list[Route]:
    return [
        ("/otp", {"POST": otp}),
        ("/magiclink", {"POST": magiclink}),
        ("/verify", {"GET": verify_get, "POST": verify_post}),
        ("/recover", {"POST": recover}),
        ("/resend", {"POST": resend}),
        ("/reauthenticate", {"GET": reauthenticate}),
        ("/invite", {"POST": invite}),
        ("/admin/generate_link", {"POST": generate_link}),
        ("/user", {"PUT": update_user}),  # joins GET /user (api/session.py)
    ]

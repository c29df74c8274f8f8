"""HTTP for the email flows: /otp, /magiclink, /verify (GET and POST), /recover, /resend, PUT /user,
/reauthenticate, /invite and /admin/generate_link. Parsing and serialising only; the rules live in
passwordless.py, verify.py and account.py. `redirect_to` comes as a query parameter (what the
official clients send) and is checked against the allow-list (redirects.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import RedirectResponse, Response

from backstack.auth.api.http import bearer, client, flag, json_response, obj, optional_text, read_body, text
from backstack.auth.core import errors
from backstack.auth.core.redirects import redirect_target
from backstack.auth.flows import account, passwordless, verify
from backstack.auth.mail.outbox import PKCE_PREFIX
from backstack.auth.store.flow_state import Challenge, parse_challenge

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

    from backstack.auth.service import AuthService

    Endpoint = Callable[[AuthService, Request], Awaitable[Response]]


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
    await service.limits.check(request, "otp", email=email, phone=phone)
    create_user = flag(body, "create_user")
    await passwordless.send_otp(
        service, email, phone, obj(body, "data") or {}, True if create_user is None else create_user,
        _redirect_to(service, request, body), challenge=_challenge(body),
    )  # fmt: skip
    return json_response({})


async def magiclink(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    email = text(body, "email")
    await service.limits.check(request, "otp", email=email)
    if not email:
        raise errors.validation_failed("Password recovery requires an email")
    await passwordless.send_otp(service, email, "", obj(body, "data") or {}, True, _redirect_to(service, request, body))
    return json_response({})


async def recover(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    email = text(body, "email")
    await service.limits.check(request, "recover", email=email)
    await passwordless.recover(service, email, _redirect_to(service, request, body), challenge=_challenge(body))
    return json_response({})


async def resend(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    email, phone = text(body, "email"), text(body, "phone")
    await service.limits.check(request, "resend", email=email, phone=phone)
    await passwordless.resend(service, text(body, "type"), email, phone, _redirect_to(service, request, body))
    return json_response({})


async def verify_post(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    await service.limits.check(request, "verify")
    verify_type, token, token_hash = text(body, "type"), text(body, "token"), text(body, "token_hash")
    email = verify.check_post(verify_type, token, token_hash, text(body, "email"), text(body, "phone"))
    await service.limits.check_address("verify", email=email)  # codes typed for one address, from any IP
    verified = await verify.verify(
        service, verify_type, token=token, token_hash=token_hash, email=email,
        client=client(request, service.limits),
    )
    await service.limits.succeeded("verify", email=email)
    if verified.grant is None:
        return json_response({"msg": verified.message, "code": "200"})
    return json_response(verified.grant.to_json())


async def verify_get(service: AuthService, request: Request) -> Response:
    """The link clicked in a mail: 303 to `redirect_to` with the session or the error in the fragment."""
    params = request.query_params
    await service.limits.check(request, "verify")
    verify_type, token = params.get("type", ""), params.get("token", "")
    if not verify_type:
        raise errors.validation_failed("Verify requires a verification type")
    if not token:
        raise errors.validation_failed("Verify requires a token or a token hash")
    target = _redirect_to(service, request)
    pkce = token.startswith(PKCE_PREFIX)
    try:
        verified = await verify.verify(
            service, verify_type, token_hash=token, client=client(request, service.limits), via_link=True
        )
    except errors.AuthError as error:
        if error.status >= 500:
            raise
        return RedirectResponse(verify.error_redirect(target, error, pkce=pkce), status_code=303)
    return RedirectResponse(verify.success_redirect(target, verified, verify_type, pkce=pkce), status_code=303)


async def update_user(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    user = await account.update_user(
        service,
        bearer(request),
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
    return json_response(user.to_json())


async def reauthenticate(service: AuthService, request: Request) -> Response:
    await account.reauthenticate(service, bearer(request))
    return json_response({})


async def invite(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    user = await passwordless.invite(
        service, bearer(request), text(body, "email"), obj(body, "data") or {}, _redirect_to(service, request, body)
    )
    return json_response(user.to_json())


async def generate_link(service: AuthService, request: Request) -> Response:
    body = await read_body(request)
    result = await passwordless.generate_link(service, bearer(request), body, _redirect_to(service, request, body))
    return json_response(result)


EMAIL_ROUTES: dict[str, dict[str, Endpoint]] = {
    "/otp": {"POST": otp},
    "/magiclink": {"POST": magiclink},
    "/verify": {"GET": verify_get, "POST": verify_post},
    "/recover": {"POST": recover},
    "/resend": {"POST": resend},
    "/reauthenticate": {"GET": reauthenticate},
    "/invite": {"POST": invite},
    "/admin/generate_link": {"POST": generate_link},
}
# PUT /user joins GET /user (routes.py's entry): registered by `register`.
USER_METHODS: dict[str, Endpoint] = {"PUT": update_user}

"""A real OpenID Connect provider for the tests: authlib's authorization server in a small Starlette app.

`running_provider()` serves it with uvicorn on a free loopback port, in a thread with its own
loop, and yields a `LoopbackProvider`:

- discovery at `<issuer>/.well-known/openid-configuration`, keys at `/jwks` (one RS256 key);
- `/authorize` consents at once for `provider.account` (or refuses when `provider.deny`), with
  OIDC nonce and PKCE (S256) handled by authlib's `OpenIDCode` and `CodeChallenge` extensions;
- `/token` (client_secret_basic or client_secret_post), `/userinfo` (Bearer);
- `/gh/user` and `/gh/user/emails`: the two GitHub REST calls the GitHub preset makes.

`provider.extra_claims` are merged into the next id_tokens (to forge a nonce or an audience).
Clients are registered with `provider.add_client(client_id, secret, redirect_uri)`.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Account:
    sub: str = "user-1"
    email: str = "ada@example.com"
    email_verified: bool = True
    name: str = "Ada Lovelace"
    picture: str = "https://img.example/ada.png"
    github_id: int = 4242
    login: str = "ada"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: Account
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Req(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: Request, form: dict[str, str]) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._args = dict(request.query_params)
        self._form = form
        self.payload = BasicOAuth2Payload({**self._args, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class LoopbackProvider:
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))
    issuer: str = ""
    account: Account = field(default_factory=Account)
    deny: bool = False
    extra_claims: dict[str, Any] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: dict[str, Account] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def add_client(self, client_id: str, secret: str, redirect_uri: str) -> None:
        self.clients[client_id] = Client(client_id, secret, [redirect_uri])

    def reset(self) -> None:
        self.account, self.deny, self.extra_claims = Account(), False, {}
        self.token_requests.clear()


def _server(provider: LoopbackProvider) -> AuthorizationServer:
    class Server(AuthorizationServer):  # type: ignore[misc]
        def query_client(self, client_id: str) -> Client | None:
            return provider.clients.get(client_id)

        def save_token(self, token: dict[str, Any], request: Req) -> None:
            provider.tokens[token["access_token"]] = request.user

        def create_oauth2_request(self, request: Req) -> Req:
            return request

        def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
            return status, body, headers

        def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
            return None

    class Grant(AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, request: Req) -> None:
            data = request.payload.data
            provider.codes[code] = Code(
                code, request.client.client_id, request.payload.redirect_uri, request.payload.scope, request.user,
                data.get("nonce"), data.get("code_challenge"), data.get("code_challenge_method"), int(time.time()),
            )  # fmt: skip

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = provider.codes.get(code)
            return found if found is not None and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> Account:
            return authorization_code.user

    class OIDC(OpenIDCode):  # type: ignore[misc]
        def exists_nonce(self, nonce: str, request: Req) -> bool:
            return False

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return provider.key

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": "k1"}

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            return {"iss": provider.issuer, "aud": [client.client_id]}

        def generate_user_info(self, user: Account, scope: str) -> UserInfo:
            info = UserInfo(sub=user.sub, name=user.name, picture=user.picture)
            if "email" in scope:
                info.update(email=user.email, email_verified=user.email_verified)
            info.update(provider.extra_claims)
            return info

    server = Server()
    server.register_token_generator("default", BearerTokenGenerator(lambda *a, **k: secrets.token_urlsafe(24)))
    server.register_grant(Grant, [OIDC(require_nonce=False), CodeChallenge(required=False)])
    return server


def _app(provider: LoopbackProvider) -> Starlette:
    server = _server(provider)

    def reply(result: tuple[int, Any, Any]) -> Response:
        status, body, headers = result
        content = body if isinstance(body, str) else JSONResponse(body).body.decode() if body else ""
        return Response(content, status_code=status, headers=dict(headers or []))

    async def discovery(request: Request) -> Response:
        i = provider.issuer
        return JSONResponse({
            "issuer": i, "authorization_endpoint": i + "/authorize", "token_endpoint": i + "/token",
            "userinfo_endpoint": i + "/userinfo", "jwks_uri": i + "/jwks", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        })  # fmt: skip

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [provider.key.as_dict(private=False)]})

    async def authorize(request: Request) -> Response:
        req = Req(request, {})
        try:
            grant = server.get_consent_grant(req, end_user=provider.account)
        except OAuth2Error as error:
            return JSONResponse({"error": error.error}, status_code=400)
        user = None if provider.deny else provider.account
        return reply(server.create_authorization_response(req, grant_user=user, grant=grant))

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        provider.token_requests.append(form)
        return reply(server.create_token_response(Req(request, form)))

    def bearer_account(request: Request) -> Account | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return provider.tokens.get(value) if scheme.lower() == "bearer" else None

    async def userinfo(request: Request) -> Response:
        user = bearer_account(request)
        if user is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"sub": user.sub, "name": user.name, "email": user.email,
                             "email_verified": user.email_verified, "locale": "en"})  # fmt: skip

    async def gh_user(request: Request) -> Response:
        user = bearer_account(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse({"id": user.github_id, "login": user.login, "name": user.name, "avatar_url": user.picture})

    async def gh_emails(request: Request) -> Response:
        user = bearer_account(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse([
            {"email": "old@example.com", "primary": False, "verified": False},
            {"email": user.email, "primary": True, "verified": user.email_verified},
        ])  # fmt: skip

    return Starlette(routes=[
        Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks),
        Route("/authorize", authorize), Route("/token", token, methods=["POST"]), Route("/userinfo", userinfo),
        Route("/gh/user", gh_user), Route("/gh/user/emails", gh_emails),
    ])  # fmt: skip


@contextlib.contextmanager
def running_provider() -> Iterator[LoopbackProvider]:
    """The provider served on 127.0.0.1:<free port> until the block ends."""
    provider = LoopbackProvider()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(_app(provider), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the loopback OIDC provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

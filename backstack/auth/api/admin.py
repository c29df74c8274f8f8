"""The admin API (`/admin/users...`): list, create, read, update and delete users, and their factors.

Only callers whose bearer token says `role: service_role` (or `supabase_admin`) get in; GoTrue
authorises the admin API by the token's role claim, so the service key works as a bearer, and a
user's own token is answered 403 `not_admin`. Rules follow GoTrue's `api/admin.go`:

- create: email and/or phone, an optional password (checked like a sign-up's) *or* an imported
  `password_hash` (bcrypt or argon2 PHC; verified and upgraded at the next sign-in), an optional
  `id`, `email_confirm`/`phone_confirm`, `user_metadata`, `app_metadata` (merged over the
  provider fields), `role`, `ban_duration` (a Go duration such as "24h", or "none");
  a user created without a password cannot sign in with one until it sets one (GoTrue stores a
  random password instead; an empty hash is cheaper and refuses the same sign-ins);
- update: the same fields; metadata objects merge key by key and a `null` value removes the key;
  a new password or a ban ends every session of the user (GoTrue's `UpdatePassword(nil)`, and
  its refresh refuses banned users; we also end the sessions at once, so a ban takes effect
  within one access-token lifetime);
- delete: hard by default (the row and, by cascade, everything hanging off it); with
  `should_soft_delete` the row stays with `deleted_at` set and its email, phone, password,
  metadata, identities, sessions and factors removed, so the address can sign up again.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from backstack.auth.api import http, mfa
from backstack.auth.core import errors
from backstack.auth.core.passwords import MAX_PASSWORD_LENGTH, weak_message, weak_reasons
from backstack.auth.core.user import AUDIENCE, DEFAULT_ROLE, EMAIL_PROVIDER, User, rfc3339, valid_email
from backstack.auth.store import users
from backstack.auth.store.users import user_columns, user_from_row
from backstack.core import json
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from backstack.auth.service import AuthService
    from backstack.auth.store.sql import AuthSql
    from backstack.db.engine import Connection, Engine

    Endpoint = Callable[[AuthService, Request], Awaitable[Response]]

ADMIN_ROLES = frozenset({"service_role", "supabase_admin"})
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000  # GoTrue has no cap; one page of users must stay a bounded amount of work
_PHONE = re.compile(r"^[1-9][0-9]{1,14}$")
_HASH_PREFIXES = ("$2a$", "$2b$", "$2y$", "$argon2id$", "$argon2i$")
_MAX_DURATION_SECONDS = (2**63 - 1) / 1e9  # Go's time.Duration range
_DURATION_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def require_admin(service: AuthService, token: str | None) -> dict[str, Any]:
    """The claims of an admin bearer token; 401 without a token, 403 for any other role."""
    if not token:
        raise errors.no_authorization()
    claims = service.tokens.verify(token)
    if claims.get("role") not in ADMIN_ROLES:
        raise errors.AuthError(403, "not_admin", "User not allowed")
    return claims


def parse_ban_duration(value: str) -> timedelta | None:
    """A Go duration ("24h", "1h30m", "-1s") as a timedelta; None for "none" (lift the ban)."""
    if value == "none":
        return None
    text = value
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    seconds = 0.0
    if text != "0":
        pos = 0
        if not text:
            raise _bad_duration(value)
        while pos < len(text):
            match = _DURATION_PART.match(text, pos)
            if match is None:
                raise _bad_duration(value)
            seconds += float(match[1]) * _DURATION_UNITS[match[2]]
            pos = match.end()
    if seconds > _MAX_DURATION_SECONDS:
        raise _bad_duration(value)
    return timedelta(seconds=sign * seconds)


def _bad_duration(value: str) -> errors.AuthError:
    return errors.validation_failed(f'invalid format for ban duration: time: invalid duration "{value}"')


@dataclass(slots=True)
class UserParams:
    """The body of POST/PUT /admin/users (GoTrue's `adminUserParams`); None = not given."""

    email: str
    phone: str
    password: str | None
    password_hash: str
    email_confirm: bool
    phone_confirm: bool
    user_metadata: dict[str, Any] | None
    app_metadata: dict[str, Any] | None
    role: str
    ban_duration: str
    id: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> UserParams:
        return cls(
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


class AdminUsers:
    """The admin API's rules over one `AuthService` (its engine, settings, passwords and clock)."""

    def __init__(self, service: AuthService) -> None:
        self.service = service
        self.engine: Engine = service.engine
        self.sql: AuthSql = service.sql

    # ---------------------------------------------------------- reads

    async def page(self, page: int, per_page: int, filter_text: str) -> tuple[list[User], int]:
        """One page of the audience's users, newest first, and the total count."""
        where = "u.aud = ?"
        params: list[Any] = [AUDIENCE]
        if filter_text:
            like = "%" + re.sub(r"([\\%_])", r"\\\1", filter_text.lower()) + "%"
            where += (
                " and (lower(coalesce(u.email, '')) like ? escape '\\' "
                "or lower(coalesce(u.raw_user_meta_data ->> 'full_name', '')) like ? escape '\\')"
            )
            params += [like, like]
        count = await self.engine.fetch_one(self.sql(f"select count(*) from auth.users u where {where}"), tuple(params))
        total = int(count[0]) if count else 0
        rows = await self.engine.fetch_all(
            self.sql(
                f"select {user_columns(self.sql)} from auth.users u where {where} "
                "order by u.created_at desc, u.id limit ? offset ?"
            ),
            (*params, per_page, (page - 1) * per_page),
        )
        return [user_from_row(row) for row in rows], total

    async def get(self, user_id: str) -> User:
        found = await users.find_by_id(self.engine, self.sql, http.path_uuid(user_id, "user_id"))
        if found is None:
            raise errors.AuthError(404, "user_not_found", "User not found")
        return found

    async def factors(self, user_id: str) -> list[dict[str, Any]]:
        return (await self.get(user_id)).factors

    # ---------------------------------------------------------- create

    async def create(self, params: UserParams) -> User:
        if not params.email and not params.phone:
            raise errors.validation_failed("Cannot create a user without either an email or phone")
        if params.password is not None and params.password_hash:
            raise errors.validation_failed("Only a password or a password hash should be provided")
        email = _valid_email(params.email) if params.email else ""
        phone = _valid_phone(params.phone) if params.phone else ""
        ban = parse_ban_duration(params.ban_duration) if params.ban_duration else None
        user_id = _custom_id(params.id) if params.id else str(uuid.uuid4())
        if email and await users.find_by_email(self.engine, self.sql, email) is not None:
            raise _email_exists()
        if phone and await self._phone_taken(phone, None):
            raise _phone_exists()
        password_hash = await self._new_hash(params.password, params.password_hash)
        now = self.service.clock()
        user = _new_user(user_id, email, phone, password_hash, params, now)
        if params.ban_duration and ban is not None:
            user.banned_until = now + ban
        try:
            async with self.engine.transaction() as conn:
                await users.insert_user(conn, self.sql, user)
                await conn.execute(
                    self.sql("update auth.users set phone = ?, phone_confirmed_at = ?, banned_until = ? where id = ?"),
                    (phone or None, self.sql.ts(user.phone_confirmed_at), self.sql.ts(user.banned_until), user.id),
                )
        except DatabaseError as exc:
            if exc.code != "23505":
                raise
            if email and await users.find_by_email(self.engine, self.sql, email) is not None:
                raise _email_exists() from None
            if phone and await self._phone_taken(phone, None):
                raise _phone_exists() from None
            raise errors.AuthError(422, "user_already_exists", "User already registered") from None
        return await self.get(user.id)

    async def _new_hash(self, password: str | None, password_hash: str) -> str:
        if password_hash:
            if not password_hash.startswith(_HASH_PREFIXES) or len(password_hash) > 255:
                raise errors.validation_failed("Invalid password hash format")
            return password_hash
        if not password:
            return ""
        self._check_password(password)
        return await self.service.passwords.hash(password)

    def _check_password(self, password: str) -> None:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise errors.validation_failed(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
        min_length = self.service.settings.auth_password_min_length
        reasons = weak_reasons(password, min_length)
        if reasons:
            raise errors.weak_password(weak_message(min_length), reasons)

    async def _phone_taken(self, phone: str, except_id: str | None) -> bool:
        row = await self.engine.fetch_one(
            self.sql("select id from auth.users where phone = ? and aud = ?"), (phone, AUDIENCE)
        )
        return row is not None and str(row[0]) != except_id

    # ---------------------------------------------------------- update

    async def update(self, user_id: str, params: UserParams) -> User:
        user = await self.get(user_id)
        ban = parse_ban_duration(params.ban_duration) if params.ban_duration else None
        email = _valid_email(params.email) if params.email else ""
        phone = _valid_phone(params.phone) if params.phone else ""
        if params.password is not None and params.password_hash:
            raise errors.validation_failed("Only a password or a password hash should be provided")
        if email and email != user.email:
            other = await users.find_by_email(self.engine, self.sql, email)
            if other is not None and other.id != user.id:
                raise _email_exists()
        if phone and phone != user.phone and await self._phone_taken(phone, user.id):
            raise _phone_exists()
        new_hash: str | None = None
        if params.password_hash or params.password is not None:
            if params.password is not None and not params.password_hash:
                self._check_password(params.password)
            new_hash = await self._new_hash(params.password, params.password_hash)
        now = self.service.clock()
        sql = self.sql
        sets: list[str] = ["updated_at = ?"]
        values: list[Any] = [sql.ts(now)]
        app_metadata = dict(user.app_metadata)
        user_metadata = dict(user.user_metadata)
        if params.role:
            sets.append('"role" = ?')
            values.append(params.role)
        if params.email_confirm and user.email_confirmed_at is None:
            sets.append("email_confirmed_at = ?")
            values.append(sql.ts(now))
            user_metadata["email_verified"] = True
        if params.phone_confirm and user.phone_confirmed_at is None:
            sets.append("phone_confirmed_at = ?")
            values.append(sql.ts(now))
        if new_hash is not None:
            sets.append("encrypted_password = ?")
            values.append(new_hash)
        if email and email != user.email:
            sets.append("email = ?")
            values.append(email)
            _add_provider(app_metadata, EMAIL_PROVIDER)
        if phone and phone != user.phone:
            sets.append("phone = ?")
            values.append(phone)
            _add_provider(app_metadata, "phone")
        if (email or phone) and user.is_anonymous:
            sets.append("is_anonymous = ?")
            values.append(False)
            app_metadata["providers"] = [p for p in app_metadata.get("providers", []) if p != "anonymous"]
            if app_metadata.get("provider") == "anonymous":
                app_metadata["provider"] = EMAIL_PROVIDER if email else "phone"
        _merge(app_metadata, params.app_metadata)
        _merge(user_metadata, params.user_metadata)
        sets += ["raw_app_meta_data = ?::text::jsonb", "raw_user_meta_data = ?::text::jsonb"]
        values += [json.dumps_str(app_metadata), json.dumps_str(user_metadata)]
        if params.ban_duration:
            sets.append("banned_until = ?")
            values.append(sql.ts(now + ban) if ban is not None else None)
        end_sessions = new_hash is not None or (ban is not None and ban > timedelta(0))
        try:
            async with self.engine.transaction() as conn:
                await conn.execute(sql(f"update auth.users set {', '.join(sets)} where id = ?"), (*values, user.id))
                if email and email != user.email:
                    await _set_identity(conn, sql, user, EMAIL_PROVIDER, {"email": email}, now)
                if phone and phone != user.phone:
                    await _set_identity(conn, sql, user, "phone", {"phone": phone}, now)
                if end_sessions:
                    await conn.execute(sql("delete from auth.sessions where user_id = ?"), (user.id,))
        except DatabaseError as exc:
            if exc.code != "23505":
                raise
            raise (_email_exists() if email else _phone_exists()) from None
        return await self.get(user.id)

    # ---------------------------------------------------------- delete

    async def delete(self, user_id: str, soft: bool) -> None:
        user = await self.get(user_id)
        sql = self.sql
        async with self.engine.transaction() as conn:
            if not soft:
                await conn.execute(sql("delete from auth.users where id = ?"), (user.id,))
                return
            now = sql.ts(self.service.clock())
            await conn.execute(
                sql(
                    "update auth.users set email = null, phone = null, encrypted_password = '', email_change = '', "
                    "phone_change = '', raw_user_meta_data = '{}'::text::jsonb, deleted_at = ?, updated_at = ? "
                    "where id = ?"
                ),
                (now, now, user.id),
            )
            for table in ("identities", "sessions", "mfa_factors"):
                await conn.execute(sql(f"delete from auth.{table} where user_id = ?"), (user.id,))

    async def delete_factor(self, user_id: str, factor_id: str) -> dict[str, Any]:
        user = await self.get(user_id)
        factor_id = http.path_uuid(factor_id, "factor_id")
        factor = next((f for f in user.factors if f["id"] == factor_id), None)
        if factor is None:
            raise errors.AuthError(404, "mfa_factor_not_found", "Factor not found")
        async with self.engine.transaction() as conn:
            await mfa.delete_factor(conn, self.sql, factor_id)
        return factor


# ------------------------------------------------------------------ helpers


def _custom_id(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise errors.validation_failed("ID must conform to the uuid v4 format") from None
    if parsed.int == 0:
        raise errors.validation_failed("ID cannot be a nil uuid")
    return str(parsed)


def _valid_email(email: str) -> str:
    if not valid_email(email):
        raise errors.validation_failed("Unable to validate email address: invalid format")
    return email.lower()


def _valid_phone(phone: str) -> str:
    digits = phone.removeprefix("+").replace(" ", "")
    if _PHONE.match(digits) is None:
        raise errors.validation_failed("Invalid phone number format (E.164 required)")
    return digits


def _email_exists() -> errors.AuthError:
    return errors.AuthError(422, "email_exists", "A user with this email address has already been registered")


def _phone_exists() -> errors.AuthError:
    return errors.AuthError(422, "phone_exists", "A user with this phone number has already been registered")


def _merge(target: dict[str, Any], changes: dict[str, Any] | None) -> None:
    """GoTrue's metadata update: keys set, `null` values removed."""
    for key, value in (changes or {}).items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _add_provider(app_metadata: dict[str, Any], provider: str) -> None:
    providers = app_metadata.get("providers")
    providers = list(providers) if isinstance(providers, list) else []
    if provider not in providers:
        providers.append(provider)
    app_metadata["providers"] = providers
    app_metadata.setdefault("provider", provider)


def _identity(user_id: str, provider: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {
        "identity_id": str(uuid.uuid4()),
        "id": user_id,
        "user_id": user_id,
        "identity_data": {"sub": user_id, **data, "email_verified": False, "phone_verified": False},
        "provider": provider,
        "last_sign_in_at": None,
        "created_at": stamp,
        "updated_at": stamp,
    }


def _new_user(
    user_id: str, email: str, phone: str, password_hash: str, params: UserParams, now: datetime
) -> User:
    providers = [p for p, given in ((EMAIL_PROVIDER, email), ("phone", phone)) if given]
    identities = []
    if email:
        identities.append(_identity(user_id, EMAIL_PROVIDER, {"email": email}, now))
    if phone:
        identities.append(_identity(user_id, "phone", {"phone": phone}, now))
    app_metadata: dict[str, Any] = {"provider": providers[0], "providers": providers}
    _merge(app_metadata, params.app_metadata)
    user_metadata = dict(params.user_metadata or {})
    if params.email_confirm and email:
        user_metadata["email_verified"] = True
    return User.new(
        now,
        id=user_id,
        role=params.role or DEFAULT_ROLE,
        email=email,
        encrypted_password=password_hash,
        email_confirmed_at=now if params.email_confirm and email else None,
        phone=phone,
        phone_confirmed_at=now if params.phone_confirm and phone else None,
        app_metadata=app_metadata,
        user_metadata=user_metadata,
        identities=identities,
    )


async def _set_identity(
    conn: Connection, sql: AuthSql, user: User, provider: str, data: dict[str, Any], now: datetime
) -> None:
    """Point the user's `provider` identity at a new address (create it when the user had none)."""
    existing = next((i for i in user.identities if i["provider"] == provider), None)
    if existing is None:
        identity = _identity(user.id, provider, data, now)
        await conn.execute(
            sql(
                "insert into auth.identities (id, provider_id, user_id, identity_data, provider, created_at, "
                "updated_at) values (?, ?, ?, ?::text::jsonb, ?, ?, ?)"
            ),
            (identity["identity_id"], user.id, user.id, json.dumps_str(identity["identity_data"]), provider,
             sql.ts(now), sql.ts(now)),
        )  # fmt: skip
        return
    identity_data = {**existing["identity_data"], **data}
    await conn.execute(
        sql("update auth.identities set identity_data = ?::text::jsonb, updated_at = ? where id = ?"),
        (json.dumps_str(identity_data), sql.ts(now), existing["identity_id"]),
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


# ------------------------------------------------------------------ endpoints


async def list_users(service: AuthService, request: Request) -> Response:
    require_admin(service, http.bearer(request))
    page = _page_param(request, "page", 1)
    per_page = min(_page_param(request, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    found, total = await AdminUsers(service).page(page, per_page, request.query_params.get("filter", ""))
    headers = {"X-Total-Count": str(total), "Link": _link_header(request, page, per_page, total)}
    return http.json_response({"users": [u.to_json() for u in found], "aud": AUDIENCE}, headers=headers)


async def create_user(service: AuthService, request: Request) -> Response:
    require_admin(service, http.bearer(request))
    params = UserParams.parse(await http.read_body(request))
    return http.json_response((await AdminUsers(service).create(params)).to_json())


async def get_user(service: AuthService, request: Request) -> Response:
    require_admin(service, http.bearer(request))
    return http.json_response((await AdminUsers(service).get(request.path_params["user_id"])).to_json())


async def update_user(service: AuthService, request: Request) -> Response:
    require_admin(service, http.bearer(request))
    params = UserParams.parse(await http.read_body(request))
    updated = await AdminUsers(service).update(request.path_params["user_id"], params)
    return http.json_response(updated.to_json())


async def delete_user(service: AuthService, request: Request) -> Response:
    require_admin(service, http.bearer(request))
    body = await http.read_body(request, optional=True)
    await AdminUsers(service).delete(request.path_params["user_id"], bool(http.flag(body, "should_soft_delete")))
    return http.json_response({})


async def list_factors(service: AuthService, request: Request) -> Response:
    require_admin(service, http.bearer(request))
    return http.json_response(await AdminUsers(service).factors(request.path_params["user_id"]))


async def delete_factor(service: AuthService, request: Request) -> Response:
    require_admin(service, http.bearer(request))
    factor = await AdminUsers(service).delete_factor(request.path_params["user_id"], request.path_params["factor_id"])
    return http.json_response(factor)


ADMIN_ROUTES: dict[str, dict[str, Endpoint]] = {"/admin/users": {"GET": list_users, "POST": create_user}}
ADMIN_PATTERNS: tuple[tuple[str, dict[str, Endpoint]], ...] = (
    (r"/admin/users/(?P<user_id>[^/]+)", {"GET": get_user, "PUT": update_user, "DELETE": delete_user}),
    (r"/admin/users/(?P<user_id>[^/]+)/factors", {"GET": list_factors}),
    (r"/admin/users/(?P<user_id>[^/]+)/factors/(?P<factor_id>[^/]+)", {"DELETE": delete_factor}),
)

"""PKCE flow states (`auth.flow_state`): a client's code challenge now, its auth code later, exchanged once.

A client in PKCE mode sends `code_challenge` (+ `code_challenge_method`, `s256` or `plain`) when it
starts a sign-in (/authorize here; /signup, /otp, /recover for email links). The server keeps a
flow state; when the sign-in completes it issues an auth code and redirects to
`redirect_to?code=<auth_code>`; the client then calls `POST /token?grant_type=pkce` with the code
and its `code_verifier`, and gets the session.

- `core/pkce.py parse_challenge(challenge, method)` validates what the client sent (GoTrue's messages);
- `create(...)` stores a flow (inside the caller's transaction or on its own);
- `issue_auth_code(...)` marks the flow done for a user and returns the code to hand out;
- `exchange(engine, sql, auth_code, verifier, now, ttl)` checks and consumes it (single use).

The auth code is stored as its SHA-256, so the table never holds a usable code and the lookup
compares hashes; the verifier is checked with a constant-time comparison.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from backstack.auth.core.errors import AuthError, validation_failed
from backstack.auth.core.pkce import Challenge, hash_secret, verifier_matches
from backstack.auth.store.sql import AuthSql, read_ts

if TYPE_CHECKING:
    from backstack.db.engine import Connection, Engine

_COLUMNS = (
    "id, user_id, code_challenge_method::text, code_challenge, provider_type, provider_access_token, "
    "provider_refresh_token, created_at, authentication_method, auth_code_issued_at, oauth_nonce, "
    "provider_code_verifier, redirect_to, linking_target_id, browser_binding, pending_identity"
)


@dataclass(frozen=True, slots=True)
class FlowState:
    id: str
    user_id: str | None
    challenge: Challenge | None
    provider_type: str
    provider_access_token: str | None
    provider_refresh_token: str | None
    created_at: datetime
    authentication_method: str
    auth_code_issued_at: datetime | None
    oauth_nonce: str | None
    provider_code_verifier: str | None
    redirect_to: str | None
    linking_target_id: str | None = None
    browser_binding: str | None = None  # SHA-256 of the secret in the starting browser's cookie
    pending_identity: str | None = None  # PKCE link flows: the identity to link at the code exchange


def flow_state_not_found() -> AuthError:
    return AuthError(404, "flow_state_not_found", "invalid flow state, no valid flow state found")


def flow_state_expired() -> AuthError:
    return AuthError(422, "flow_state_expired", "invalid flow state, flow state has expired")


def bad_code_verifier() -> AuthError:
    return AuthError(400, "bad_code_verifier", "code challenge does not match previously saved code verifier")


_INSERT = (
    "insert into auth.flow_state (id, user_id, code_challenge_method, code_challenge, provider_type, "
    "created_at, updated_at, authentication_method, oauth_state_hash, oauth_nonce, provider_code_verifier, "
    "redirect_to, linking_target_id, browser_binding) "
    "values (?, ?::uuid, ?::text::auth.code_challenge_method, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::uuid, ?)"
)


async def create(
    conn: Connection,
    sql: AuthSql,
    *,
    provider_type: str,
    authentication_method: str,
    challenge: Challenge | None,
    now: datetime,
    user_id: str | None = None,
    oauth_state: str | None = None,
    oauth_nonce: str | None = None,
    provider_code_verifier: str | None = None,
    redirect_to: str | None = None,
    linking_target_id: str | None = None,
    browser_binding: str | None = None,
) -> str:
    """Store a new flow state (inside the caller's transaction); returns its id.

    `browser_binding` is the secret the starting browser holds in a cookie; only its hash is stored.
    """
    flow_id = str(uuid.uuid4())
    stamp = sql.ts(now)
    state_hash = hash_secret(oauth_state) if oauth_state else None
    await conn.execute(
        sql(_INSERT),
        (
            flow_id, user_id, challenge.method if challenge else None, challenge.value if challenge else None,
            provider_type, stamp, stamp, authentication_method, state_hash, oauth_nonce, provider_code_verifier,
            redirect_to, linking_target_id, hash_secret(browser_binding) if browser_binding else None,
        ),
    )  # fmt: skip
    return flow_id


def _from_row(row: tuple[object, ...] | None) -> FlowState | None:
    if row is None:
        return None
    method, value = row[2], row[3]
    return FlowState(
        id=str(row[0]),
        user_id=str(row[1]) if row[1] is not None else None,
        challenge=Challenge(str(value), str(method)) if method and value else None,
        provider_type=str(row[4]),
        provider_access_token=_opt(row[5]),
        provider_refresh_token=_opt(row[6]),
        created_at=read_ts(row[7]) or datetime.fromtimestamp(0, UTC),
        authentication_method=str(row[8]),
        auth_code_issued_at=read_ts(row[9]),
        oauth_nonce=_opt(row[10]),
        provider_code_verifier=_opt(row[11]),
        redirect_to=_opt(row[12]),
        linking_target_id=_opt(row[13]),
        browser_binding=_opt(row[14]),
        pending_identity=_opt(row[15]),
    )


def _opt(value: object) -> str | None:
    return str(value) if value is not None else None


async def take_oauth_state(engine: Engine, sql: AuthSql, state: str) -> FlowState | None:
    """The flow an OAuth `state` belongs to, consumed: a second callback with the same state finds nothing."""
    statement = sql(
        f"update auth.flow_state set oauth_state_hash = null where oauth_state_hash = ? returning {_COLUMNS}"  # noqa: S608 (fixed column list)
    )
    async with engine.transaction() as conn:
        row = await conn.fetch_one(statement, (hash_secret(state),))
    return _from_row(row)


async def issue_auth_code(
    engine: Engine,
    sql: AuthSql,
    flow_id: str,
    user_id: str,
    now: datetime,
    *,
    provider_access_token: str | None = None,
    provider_refresh_token: str | None = None,
    pending_identity: str | None = None,
) -> str:
    """Mark the flow completed by `user_id` and return the auth code for `redirect_to?code=`."""
    code = str(uuid.uuid4())
    statement = sql(
        "update auth.flow_state set user_id = ?::uuid, auth_code = ?, auth_code_issued_at = ?, updated_at = ?, "
        "provider_access_token = ?, provider_refresh_token = ?, provider_code_verifier = null, oauth_nonce = null, "
        "pending_identity = ? where id = ?"
    )
    params = (
        user_id, hash_secret(code), sql.ts(now), sql.ts(now), provider_access_token, provider_refresh_token,
        pending_identity,
    )  # fmt: skip
    async with engine.transaction() as conn:
        await conn.execute(statement, (*params, flow_id))
    return code


async def create_pkce_flow(
    engine: Engine, sql: AuthSql, user_id: str, challenge: Challenge, authentication_method: str, now: datetime
) -> str:
    """A flow for an email link in PKCE mode (/signup, /otp, /recover): returns the auth code at once.

    Email flows know their user when the link is verified; call this then and redirect to
    `redirect_to?code=<returned code>`.
    """
    async with engine.transaction() as conn:
        flow_id = await create(
            conn, sql, provider_type="email", authentication_method=authentication_method,
            challenge=challenge, now=now, user_id=user_id,
        )  # fmt: skip
    return await issue_auth_code(engine, sql, flow_id, user_id, now)


async def exchange(engine: Engine, sql: AuthSql, auth_code: str, verifier: str, now: datetime, ttl: int) -> FlowState:
    """`grant_type=pkce`: the completed flow for `auth_code`, if `verifier` matches; deleted, so used once."""
    if not auth_code or not verifier:
        raise validation_failed("invalid request: both auth code and code verifier should be non-empty")
    statement = sql(f"select {_COLUMNS} from auth.flow_state where auth_code = ? and user_id is not null")  # noqa: S608 (fixed column list)
    flow = _from_row(await engine.fetch_one(statement, (hash_secret(auth_code),)))
    if flow is None or flow.challenge is None or flow.user_id is None:
        raise flow_state_not_found()
    issued = flow.auth_code_issued_at or flow.created_at
    if now > issued + timedelta(seconds=ttl):
        await delete(engine, sql, flow.id)
        raise flow_state_expired()
    if not verifier_matches(verifier, flow.challenge):
        raise bad_code_verifier()
    async with engine.transaction() as conn:
        deleted = await conn.execute(sql("delete from auth.flow_state where id = ?"), (flow.id,))
    if deleted != 1:  # a concurrent exchange of the same code won
        raise flow_state_not_found()
    return flow


async def delete(engine: Engine, sql: AuthSql, flow_id: str) -> None:
    async with engine.transaction() as conn:
        await conn.execute(sql("delete from auth.flow_state where id = ?"), (flow_id,))


async def delete_expired(engine: Engine, sql: AuthSql, now: datetime, ttl: int) -> None:
    """Forget flows older than `ttl` seconds that nobody finished (run now and then, on new flows).

    Flows of email links (`provider_type = 'email'`) live as long as the link (`auth_otp_expiry`):
    mail/outbox.py starts them when the mail goes out and forgets the stale ones itself.
    """
    async with engine.transaction() as conn:
        await conn.execute(
            sql("delete from auth.flow_state where created_at < ? and provider_type <> 'email'"),
            (sql.ts(now - timedelta(seconds=ttl * 2)),),
        )


def binding_matches(flow: FlowState, cookie: str | None) -> bool:
    """Whether the browser presenting `cookie` is the one that started `flow` (constant time)."""
    if not flow.browser_binding or not cookie:
        return False
    return hmac.compare_digest(hash_secret(cookie).encode(), flow.browser_binding.encode())


async def pending_flow(engine: Engine, sql: AuthSql, user_id: str, method: str) -> str | None:
    """The id of the user's newest email flow of `method` that has not handed out its auth code."""
    row = await engine.fetch_one(
        sql(
            "select id from auth.flow_state where user_id = ?::uuid and authentication_method = ? "
            "and auth_code_issued_at is null order by created_at desc limit 1"
        ),
        (user_id, method),
    )
    return str(row[0]) if row is not None else None


async def delete_unclicked_email_flows(conn: Connection, sql: AuthSql, before: datetime) -> None:
    """Flows of mailed links nobody clicked, created before `before` (no link of theirs is valid any more)."""
    await conn.execute(
        sql("delete from auth.flow_state where provider_type = 'email' and auth_code is null and created_at < ?"),
        (sql.ts(before),),
    )

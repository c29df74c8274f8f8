"""The auth tables: Supabase's `auth` schema on PostgreSQL, `_auth_*` tables in the SQLite file.

On PostgreSQL the tables carry exactly the names and columns Supabase gives them, so a user's
migration can say `references auth.users(id)` and SQL written for Supabase (`auth.uid()` in a
policy, a trigger on `auth.users`) runs unchanged. SQLite has no schemas: the same tables live in
the main database file as `_auth_users`, `_auth_sessions`, ... (the DDL translator maps
`auth.users` to `_auth_users`; introspection skips `_`-prefixed tables, so the data API never
exposes them). Columns the first slice does not use yet (recovery, email change, MFA) exist
already, so later features need no table rewrite.

`ensure_schema(engine)` is idempotent and versioned: every step is `create ... if not exists`, and
the applied versions are recorded in `auth.schema_migrations` (GoTrue's own table name; our
versions are prefixed `backstack-`). A later change adds its DDL to the module of its area (users,
mfa, email, oauth), appends its version to `VERSIONS` and its script to each engine's steps
(engines.py); existing databases get only the steps they lack. On PostgreSQL the step runs under
an advisory lock, so several workers starting at once do not race; on SQLite the writer's
`BEGIN IMMEDIATE` does that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.auth.store.schema.email import EMAIL_VERSION, OTP_ATTEMPTS_VERSION
from backstack.auth.store.schema.engines import schema_for
from backstack.auth.store.schema.mfa import MFA_VERSION
from backstack.auth.store.schema.oauth import OAUTH_BINDING_VERSION, OAUTH_LINK_VERSION, OAUTH_VERSION
from backstack.auth.store.schema.users import SCHEMA_VERSION

if TYPE_CHECKING:
    from backstack.db.engine import Engine

__all__ = ["EMAIL_VERSION", "MFA_VERSION", "SCHEMA_VERSION", "VERSIONS", "applied_versions", "ensure_schema"]

# The steps, applied in this order on every engine; append, never edit a shipped step.
VERSIONS: tuple[str, ...] = (
    SCHEMA_VERSION,
    MFA_VERSION,
    EMAIL_VERSION,
    OAUTH_VERSION,
    OAUTH_LINK_VERSION,
    OAUTH_BINDING_VERSION,
    OTP_ATTEMPTS_VERSION,
)


async def applied_versions(engine: Engine) -> set[str]:
    """The schema versions recorded in this database (creating the record table when missing)."""
    scripts = schema_for(engine.dialect)
    await engine.execute_script(scripts.record_table)
    rows = await engine.fetch_all(scripts.applied)
    return {str(row[0]) for row in rows}


async def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the auth tables on `engine`; safe to call on every start, from every worker."""
    scripts = schema_for(engine.dialect)
    done = await applied_versions(engine)
    for version in VERSIONS:
        if version not in done:
            await engine.execute_script(scripts.steps[version])
    if scripts.every_start:
        await engine.execute_script(scripts.every_start)

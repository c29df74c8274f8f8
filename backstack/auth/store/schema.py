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
versions are prefixed `backstack-`). A later change appends a step to `_STEPS`; existing
databases get only the steps they lack. On PostgreSQL the step runs under an advisory lock, so
several workers starting at once do not race; on SQLite the writer's `BEGIN IMMEDIATE` does that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.db.engine import Engine

SCHEMA_VERSION = "backstack-1"
_LOCK_KEY = 7_201_466_113  # pg_advisory_xact_lock key shared by every backstack process

_PG_MIGRATIONS_TABLE = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
create schema if not exists auth;
create table if not exists auth.schema_migrations (version varchar(255) not null primary key);
"""

_SQLITE_MIGRATIONS_TABLE = """
create table if not exists _auth_schema_migrations (version text not null primary key);
"""

_PG_V1 = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
create schema if not exists auth;
do $$ begin
    create type auth.aal_level as enum ('aal1', 'aal2', 'aal3');
exception when duplicate_object then null;
end $$;

create table if not exists auth.users (
    instance_id uuid null,
    id uuid not null,
    aud varchar(255) null,
    "role" varchar(255) null,
    email varchar(255) null,
    encrypted_password varchar(255) null,
    email_confirmed_at timestamptz null,
    invited_at timestamptz null,
    confirmation_token varchar(255) null,
    confirmation_sent_at timestamptz null,
    recovery_token varchar(255) null,
    recovery_sent_at timestamptz null,
    email_change_token_new varchar(255) null,
    email_change varchar(255) null,
    email_change_sent_at timestamptz null,
    last_sign_in_at timestamptz null,
    raw_app_meta_data jsonb null,
    raw_user_meta_data jsonb null,
    is_super_admin bool null,
    created_at timestamptz null,
    updated_at timestamptz null,
    phone text null default null,
    phone_confirmed_at timestamptz null,
    phone_change text null default '',
    phone_change_token varchar(255) null default '',
    phone_change_sent_at timestamptz null,
    confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
    email_change_token_current varchar(255) null default '',
    email_change_confirm_status smallint null default 0,
    banned_until timestamptz null,
    reauthentication_token varchar(255) null default '',
    reauthentication_sent_at timestamptz null,
    is_sso_user boolean not null default false,
    deleted_at timestamptz null,
    is_anonymous boolean not null default false,
    constraint users_pkey primary key (id),
    constraint users_phone_key unique (phone),
    constraint users_email_change_confirm_status_check
        check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2)
);
create unique index if not exists users_email_partial_key on auth.users (email) where (is_sso_user = false);
create index if not exists users_instance_id_email_idx on auth.users (instance_id, lower((email)::text));
create index if not exists users_instance_id_idx on auth.users (instance_id);
create index if not exists users_is_anonymous_idx on auth.users (is_anonymous);
comment on table auth.users is 'Auth: Stores user login data within a secure schema.';

create table if not exists auth.identities (
    provider_id text not null,
    user_id uuid not null,
    identity_data jsonb not null,
    provider text not null,
    last_sign_in_at timestamptz null,
    created_at timestamptz null,
    updated_at timestamptz null,
    email text generated always as (lower(identity_data->>'email')) stored,
    id uuid not null default gen_random_uuid(),
    constraint identities_pkey primary key (id),
    constraint identities_provider_id_provider_unique unique (provider_id, provider),
    constraint identities_user_id_fkey foreign key (user_id) references auth.users(id) on delete cascade
);
create index if not exists identities_user_id_idx on auth.identities (user_id);
create index if not exists identities_email_idx on auth.identities (email text_pattern_ops);
comment on table auth.identities is 'Auth: Stores identities associated to a user.';

create table if not exists auth.sessions (
    id uuid not null,
    user_id uuid not null,
    created_at timestamptz null,
    updated_at timestamptz null,
    factor_id uuid null,
    aal auth.aal_level null,
    not_after timestamptz null,
    refreshed_at timestamp without time zone null,
    user_agent text null,
    ip inet null,
    tag text null,
    oauth_client_id uuid null,
    refresh_token_hmac_key text null,
    refresh_token_counter bigint null,
    scopes text null,
    constraint sessions_pkey primary key (id),
    constraint sessions_user_id_fkey foreign key (user_id) references auth.users(id) on delete cascade
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);
create index if not exists user_id_created_at_idx on auth.sessions (user_id, created_at);
create index if not exists sessions_not_after_idx on auth.sessions (not_after desc);
comment on table auth.sessions is 'Auth: Stores session data associated to a user.';

create table if not exists auth.refresh_tokens (
    instance_id uuid null,
    id bigserial not null,
    token varchar(255) null,
    user_id varchar(255) null,
    revoked bool null,
    created_at timestamptz null,
    updated_at timestamptz null,
    parent varchar(255) null,
    session_id uuid null,
    constraint refresh_tokens_pkey primary key (id),
    constraint refresh_tokens_token_unique unique (token),
    constraint refresh_tokens_session_id_fkey foreign key (session_id) references auth.sessions(id) on delete cascade
);
create index if not exists refresh_tokens_instance_id_idx on auth.refresh_tokens (instance_id);
create index if not exists refresh_tokens_instance_id_user_id_idx on auth.refresh_tokens (instance_id, user_id);
create index if not exists refresh_tokens_parent_idx on auth.refresh_tokens (parent);
create index if not exists refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);
create index if not exists refresh_tokens_updated_at_idx on auth.refresh_tokens (updated_at desc);
comment on table auth.refresh_tokens is 'Auth: Store of tokens used to refresh JWT tokens once they expire.';

create table if not exists auth.mfa_amr_claims (
    session_id uuid not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    authentication_method text not null,
    id uuid not null,
    constraint amr_id_pk primary key (id),
    constraint mfa_amr_claims_session_id_authentication_method_pkey unique (session_id, authentication_method),
    constraint mfa_amr_claims_session_id_fkey foreign key (session_id) references auth.sessions(id) on delete cascade
);
comment on table auth.mfa_amr_claims is
    'auth: stores authenticator method reference claims for multi factor authentication';

create or replace function auth.uid() returns uuid language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;
create or replace function auth.role() returns text language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;
create or replace function auth.email() returns text language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;
create or replace function auth.jwt() returns jsonb language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

create table if not exists auth.schema_migrations (version varchar(255) not null primary key);
insert into auth.schema_migrations (version) values ('{SCHEMA_VERSION}') on conflict do nothing;
"""

# Same tables on SQLite: uuid, timestamps and JSON as TEXT (JSON checked with json_valid), booleans
# as INTEGER 0/1. `confirmed_at` and `identities.email` stay generated columns, as on PostgreSQL.
_SQLITE_V1 = f"""
create table if not exists _auth_users (
    instance_id text null,
    id text not null primary key,
    aud text null,
    "role" text null,
    email text null,
    encrypted_password text null,
    email_confirmed_at text null,
    invited_at text null,
    confirmation_token text null,
    confirmation_sent_at text null,
    recovery_token text null,
    recovery_sent_at text null,
    email_change_token_new text null,
    email_change text null,
    email_change_sent_at text null,
    last_sign_in_at text null,
    raw_app_meta_data text null check (raw_app_meta_data is null or json_valid(raw_app_meta_data)),
    raw_user_meta_data text null check (raw_user_meta_data is null or json_valid(raw_user_meta_data)),
    is_super_admin integer null,
    created_at text null,
    updated_at text null,
    phone text null default null unique,
    phone_confirmed_at text null,
    phone_change text null default '',
    phone_change_token text null default '',
    phone_change_sent_at text null,
    confirmed_at text generated always as (
        case when email_confirmed_at is null then phone_confirmed_at
             when phone_confirmed_at is null then email_confirmed_at
             else min(email_confirmed_at, phone_confirmed_at) end
    ) virtual,
    email_change_token_current text null default '',
    email_change_confirm_status integer null default 0
        check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
    banned_until text null,
    reauthentication_token text null default '',
    reauthentication_sent_at text null,
    is_sso_user integer not null default 0,
    deleted_at text null,
    is_anonymous integer not null default 0
);
create unique index if not exists _auth_users_email_partial_key on _auth_users (email) where is_sso_user = 0;
create index if not exists _auth_users_is_anonymous_idx on _auth_users (is_anonymous);

create table if not exists _auth_identities (
    provider_id text not null,
    user_id text not null references _auth_users(id) on delete cascade,
    identity_data text not null check (json_valid(identity_data)),
    provider text not null,
    last_sign_in_at text null,
    created_at text null,
    updated_at text null,
    email text generated always as (lower(identity_data ->> 'email')) virtual,
    id text not null primary key,
    unique (provider_id, provider)
);
create index if not exists _auth_identities_user_id_idx on _auth_identities (user_id);
create index if not exists _auth_identities_email_idx on _auth_identities (email);

create table if not exists _auth_sessions (
    id text not null primary key,
    user_id text not null references _auth_users(id) on delete cascade,
    created_at text null,
    updated_at text null,
    factor_id text null,
    aal text null check (aal in ('aal1', 'aal2', 'aal3')),
    not_after text null,
    refreshed_at text null,
    user_agent text null,
    ip text null,
    tag text null,
    oauth_client_id text null,
    refresh_token_hmac_key text null,
    refresh_token_counter integer null,
    scopes text null
);
create index if not exists _auth_sessions_user_id_idx on _auth_sessions (user_id, created_at);
create index if not exists _auth_sessions_not_after_idx on _auth_sessions (not_after desc);

create table if not exists _auth_refresh_tokens (
    instance_id text null,
    id integer primary key autoincrement,
    token text null unique,
    user_id text null,
    revoked integer null,
    created_at text null,
    updated_at text null,
    parent text null,
    session_id text null references _auth_sessions(id) on delete cascade
);
create index if not exists _auth_refresh_tokens_parent_idx on _auth_refresh_tokens (parent);
create index if not exists _auth_refresh_tokens_session_id_revoked_idx on _auth_refresh_tokens (session_id, revoked);

create table if not exists _auth_mfa_amr_claims (
    session_id text not null references _auth_sessions(id) on delete cascade,
    created_at text not null,
    updated_at text not null,
    authentication_method text not null,
    id text not null primary key,
    unique (session_id, authentication_method)
);

create table if not exists _auth_schema_migrations (version text not null primary key);
insert into _auth_schema_migrations (version) values ('{SCHEMA_VERSION}') on conflict do nothing;
"""

# Step "backstack-2-mfa" (admin-mfa): MFA factors and their challenges, under Supabase's names and
# columns, plus `last_totp_step` (ours): the last TOTP time step accepted for the factor, so a code
# cannot be replayed while it is still valid.
MFA_VERSION = "backstack-2-mfa"
_PG_MFA = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
do $$ begin
    create type auth.factor_type as enum ('totp', 'webauthn', 'phone');
exception when duplicate_object then null;
end $$;
do $$ begin
    create type auth.factor_status as enum ('unverified', 'verified');
exception when duplicate_object then null;
end $$;
create table if not exists auth.mfa_factors (
    id uuid not null,
    user_id uuid not null,
    friendly_name text null,
    factor_type auth.factor_type not null,
    status auth.factor_status not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    secret text null,
    phone text null,
    last_challenged_at timestamptz null,
    web_authn_credential jsonb null,
    web_authn_aaguid uuid null,
    last_totp_step bigint null,
    constraint mfa_factors_pkey primary key (id),
    constraint mfa_factors_user_id_fkey foreign key (user_id) references auth.users(id) on delete cascade
);
create index if not exists factor_id_created_at_idx on auth.mfa_factors (user_id, created_at);
create unique index if not exists mfa_factors_user_friendly_name_unique
    on auth.mfa_factors (friendly_name, user_id) where trim(friendly_name) <> '';
comment on table auth.mfa_factors is 'auth: stores metadata about factors';
create table if not exists auth.mfa_challenges (
    id uuid not null,
    factor_id uuid not null,
    created_at timestamptz not null,
    verified_at timestamptz null,
    ip_address inet null,
    otp_code text null,
    web_authn_session_data jsonb null,
    constraint mfa_challenges_pkey primary key (id),
    constraint mfa_challenges_auth_factor_id_fkey foreign key (factor_id)
        references auth.mfa_factors(id) on delete cascade
);
create index if not exists mfa_challenge_created_at_idx on auth.mfa_challenges (created_at desc);
comment on table auth.mfa_challenges is 'auth: stores metadata about challenge requests made';
insert into auth.schema_migrations (version) values ('{MFA_VERSION}') on conflict do nothing;
"""
_SQLITE_MFA = f"""
create table if not exists _auth_mfa_factors (
    id text not null primary key,
    user_id text not null references _auth_users(id) on delete cascade,
    friendly_name text null,
    factor_type text not null check (factor_type in ('totp', 'webauthn', 'phone')),
    status text not null check (status in ('unverified', 'verified')),
    created_at text not null,
    updated_at text not null,
    secret text null,
    phone text null,
    last_challenged_at text null,
    web_authn_credential text null,
    web_authn_aaguid text null,
    last_totp_step integer null
);
create index if not exists _auth_factor_id_created_at_idx on _auth_mfa_factors (user_id, created_at);
create unique index if not exists _auth_mfa_factors_user_friendly_name_unique
    on _auth_mfa_factors (friendly_name, user_id) where trim(friendly_name) <> '';
create table if not exists _auth_mfa_challenges (
    id text not null primary key,
    factor_id text not null references _auth_mfa_factors(id) on delete cascade,
    created_at text not null,
    verified_at text null,
    ip_address text null,
    otp_code text null,
    web_authn_session_data text null
);
insert into _auth_schema_migrations (version) values ('{MFA_VERSION}') on conflict do nothing;
"""

# Step "backstack-3-email" (email): GoTrue's one-time tokens (hashes of emailed codes; one live token
# per user and kind) and the dev inbox, where mails land when no SMTP server is set (`backstack mail`).
EMAIL_VERSION = "backstack-3-email"
_PG_EMAIL = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
do $$ begin
    create type auth.one_time_token_type as enum (
        'confirmation_token', 'reauthentication_token', 'recovery_token',
        'email_change_token_new', 'email_change_token_current', 'phone_change_token'
    );
exception when duplicate_object then null;
end $$;
create table if not exists auth.one_time_tokens (
    id uuid not null,
    user_id uuid not null references auth.users(id) on delete cascade,
    token_type auth.one_time_token_type not null,
    token_hash text not null,
    relates_to text not null,
    created_at timestamp without time zone not null default now(),
    updated_at timestamp without time zone not null default now(),
    constraint one_time_tokens_pkey primary key (id),
    constraint one_time_tokens_token_hash_check check (char_length(token_hash) > 0)
);
create unique index if not exists one_time_tokens_user_id_token_type_key on auth.one_time_tokens (user_id, token_type);
create index if not exists one_time_tokens_token_hash_hash_idx on auth.one_time_tokens using hash (token_hash);
create index if not exists one_time_tokens_relates_to_hash_idx on auth.one_time_tokens using hash (relates_to);
create table if not exists auth.dev_inbox (
    id uuid not null primary key,
    created_at timestamptz not null,
    kind text not null,
    recipient text not null,
    subject text not null,
    html text not null,
    text_body text not null,
    links jsonb not null,
    codes jsonb not null
);
create index if not exists dev_inbox_created_at_idx on auth.dev_inbox (created_at desc);
insert into auth.schema_migrations (version) values ('{EMAIL_VERSION}') on conflict do nothing;
"""
_SQLITE_EMAIL = f"""
create table if not exists _auth_one_time_tokens (
    id text not null primary key,
    user_id text not null references _auth_users(id) on delete cascade,
    token_type text not null check (token_type in (
        'confirmation_token', 'reauthentication_token', 'recovery_token',
        'email_change_token_new', 'email_change_token_current', 'phone_change_token'
    )),
    token_hash text not null check (length(token_hash) > 0),
    relates_to text not null,
    created_at text not null,
    updated_at text not null
);
create unique index if not exists _auth_one_time_tokens_user_id_token_type_key
    on _auth_one_time_tokens (user_id, token_type);
create index if not exists _auth_one_time_tokens_token_hash_idx on _auth_one_time_tokens (token_hash);
create index if not exists _auth_one_time_tokens_relates_to_idx on _auth_one_time_tokens (relates_to);
create table if not exists _auth_dev_inbox (
    id text not null primary key,
    created_at text not null,
    kind text not null,
    recipient text not null,
    subject text not null,
    html text not null,
    text_body text not null,
    links text not null check (json_valid(links)),
    codes text not null check (json_valid(codes))
);
create index if not exists _auth_dev_inbox_created_at_idx on _auth_dev_inbox (created_at desc);
insert into _auth_schema_migrations (version) values ('{EMAIL_VERSION}') on conflict do nothing;
"""

# Step "backstack-4-oauth" (oauth-limits): GoTrue's `flow_state` for PKCE (auth code + code challenge,
# exchanged at /token?grant_type=pkce), plus our columns for the OAuth round trip to a provider: the
# hash of the `state` we sent, the OIDC nonce, our PKCE verifier towards the provider and the
# checked `redirect_to`. `auth_code` holds the SHA-256 of the code handed to the client, never the code.
OAUTH_VERSION = "backstack-4-oauth"
_PG_OAUTH = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
do $$ begin
    create type auth.code_challenge_method as enum ('s256', 'plain');
exception when duplicate_object then null;
end $$;
create table if not exists auth.flow_state (
    id uuid not null,
    user_id uuid null,
    auth_code text null,
    code_challenge_method auth.code_challenge_method null,
    code_challenge text null,
    provider_type text not null,
    provider_access_token text null,
    provider_refresh_token text null,
    created_at timestamptz null,
    updated_at timestamptz null,
    authentication_method text not null,
    auth_code_issued_at timestamptz null,
    oauth_state_hash text null,
    oauth_nonce text null,
    provider_code_verifier text null,
    redirect_to text null,
    constraint flow_state_pkey primary key (id)
);
create index if not exists idx_auth_code on auth.flow_state (auth_code);
create index if not exists idx_user_id_auth_method on auth.flow_state (user_id, authentication_method);
create index if not exists flow_state_created_at_idx on auth.flow_state (created_at desc);
create unique index if not exists flow_state_oauth_state_hash_key on auth.flow_state (oauth_state_hash);
comment on table auth.flow_state is 'stores metadata for pkce logins';
insert into auth.schema_migrations (version) values ('{OAUTH_VERSION}') on conflict do nothing;
"""
_SQLITE_OAUTH = f"""
create table if not exists _auth_flow_state (
    id text not null primary key,
    user_id text null,
    auth_code text null,
    code_challenge_method text null check (code_challenge_method in ('s256', 'plain')),
    code_challenge text null,
    provider_type text not null,
    provider_access_token text null,
    provider_refresh_token text null,
    created_at text null,
    updated_at text null,
    authentication_method text not null,
    auth_code_issued_at text null,
    oauth_state_hash text null unique,
    oauth_nonce text null,
    provider_code_verifier text null,
    redirect_to text null
);
create index if not exists _auth_flow_state_auth_code_idx on _auth_flow_state (auth_code);
create index if not exists _auth_flow_state_user_id_auth_method_idx
    on _auth_flow_state (user_id, authentication_method);
create index if not exists _auth_flow_state_created_at_idx on _auth_flow_state (created_at desc);
insert into _auth_schema_migrations (version) values ('{OAUTH_VERSION}') on conflict do nothing;
"""

# Step "backstack-5-oauth-link" (oauth-limits): `flow_state.linking_target_id` (GoTrue's name): the
# signed-in user an OAuth flow started by GET /user/identities/authorize links the new identity to.
OAUTH_LINK_VERSION = "backstack-5-oauth-link"
_PG_OAUTH_LINK = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
alter table auth.flow_state add column if not exists linking_target_id uuid null;
insert into auth.schema_migrations (version) values ('{OAUTH_LINK_VERSION}') on conflict do nothing;
"""
_SQLITE_OAUTH_LINK = f"""
alter table _auth_flow_state add column linking_target_id text null;
insert into _auth_schema_migrations (version) values ('{OAUTH_LINK_VERSION}') on conflict do nothing;
"""

# Step "backstack-6-oauth-binding" (issue 16): an OAuth flow is bound to the browser that started it
# (`browser_binding`: SHA-256 of the secret in that browser's cookie), and a PKCE link flow keeps the
# provider identity (`pending_identity`, JSON) until the initiating client exchanges its code.
OAUTH_BINDING_VERSION = "backstack-6-oauth-binding"
_PG_OAUTH_BINDING = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
alter table auth.flow_state add column if not exists browser_binding text null;
alter table auth.flow_state add column if not exists pending_identity text null;
insert into auth.schema_migrations (version) values ('{OAUTH_BINDING_VERSION}') on conflict do nothing;
"""
_SQLITE_OAUTH_BINDING = f"""
alter table _auth_flow_state add column browser_binding text null;
alter table _auth_flow_state add column pending_identity text null;
insert into _auth_schema_migrations (version) values ('{OAUTH_BINDING_VERSION}') on conflict do nothing;
"""

# Step "backstack-7-otp-attempts" (issue 16): a mailed code's verification attempts, counted in its
# row so the cap holds across workers and nodes (onetime.py). GoTrue-shaped inserts still work (default 0).
OTP_ATTEMPTS_VERSION = "backstack-7-otp-attempts"
_PG_OTP_ATTEMPTS = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
alter table auth.one_time_tokens add column if not exists attempts integer not null default 0;
insert into auth.schema_migrations (version) values ('{OTP_ATTEMPTS_VERSION}') on conflict do nothing;
"""
_SQLITE_OTP_ATTEMPTS = f"""
alter table _auth_one_time_tokens add column attempts integer not null default 0;
insert into _auth_schema_migrations (version) values ('{OTP_ATTEMPTS_VERSION}') on conflict do nothing;
"""

# (version, PostgreSQL script, SQLite script), applied in order; append, never edit a shipped step.
_STEPS: tuple[tuple[str, str, str], ...] = (
    (SCHEMA_VERSION, _PG_V1, _SQLITE_V1),
    (MFA_VERSION, _PG_MFA, _SQLITE_MFA),
    (EMAIL_VERSION, _PG_EMAIL, _SQLITE_EMAIL),
    (OAUTH_VERSION, _PG_OAUTH, _SQLITE_OAUTH),
    (OAUTH_LINK_VERSION, _PG_OAUTH_LINK, _SQLITE_OAUTH_LINK),
    (OAUTH_BINDING_VERSION, _PG_OAUTH_BINDING, _SQLITE_OAUTH_BINDING),
    (OTP_ATTEMPTS_VERSION, _PG_OTP_ATTEMPTS, _SQLITE_OTP_ATTEMPTS),
)

# Run on every start (cheap, idempotent): roles created after the tables still get to call auth.uid().
_PG_GRANTS = f"""
select pg_advisory_xact_lock({_LOCK_KEY});
do $$
declare r text;
begin
    foreach r in array array['anon', 'authenticated', 'service_role'] loop
        if exists (select 1 from pg_roles where rolname = r) then
            execute format('grant usage on schema auth to %I', r);
        end if;
    end loop;
end $$;
"""


async def applied_versions(engine: Engine) -> set[str]:
    """The schema versions recorded in this database (creating the record table when missing)."""
    if engine.dialect.is_sqlite:
        await engine.execute_script(_SQLITE_MIGRATIONS_TABLE)
        rows = await engine.fetch_all("select version from _auth_schema_migrations")
    else:
        await engine.execute_script(_PG_MIGRATIONS_TABLE)
        rows = await engine.fetch_all("select version from auth.schema_migrations")
    return {str(row[0]) for row in rows}


async def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the auth tables on `engine`; safe to call on every start, from every worker."""
    done = await applied_versions(engine)
    for version, postgres, sqlite in _STEPS:
        if version not in done:
            await engine.execute_script(sqlite if engine.dialect.is_sqlite else postgres)
    if not engine.dialect.is_sqlite:
        await engine.execute_script(_PG_GRANTS)

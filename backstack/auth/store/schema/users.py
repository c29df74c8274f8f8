"""Step `backstack-1`: users, identities, sessions, refresh tokens and the methods of a session.

On PostgreSQL under Supabase's names and columns; on SQLite the same tables as `_auth_*`.
"""

from backstack.auth.store.schema.lock import LOCK_KEY

SCHEMA_VERSION = "backstack-1"

PG_V1 = f"""
select pg_advisory_xact_lock({LOCK_KEY});
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
SQLITE_V1 = f"""
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

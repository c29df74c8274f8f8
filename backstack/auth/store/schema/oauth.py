"""Steps `backstack-4-oauth` to `-6-oauth-binding`: PKCE and OAuth flow state."""

from backstack.auth.store.schema.lock import LOCK_KEY

# Step "backstack-4-oauth" (oauth-limits): GoTrue's `flow_state` for PKCE (auth code + code challenge,
# exchanged at /token?grant_type=pkce), plus our columns for the OAuth round trip to a provider: the
# hash of the `state` we sent, the OIDC nonce, our PKCE verifier towards the provider and the
# checked `redirect_to`. `auth_code` holds the SHA-256 of the code handed to the client, never the code.
OAUTH_VERSION = "backstack-4-oauth"
PG_OAUTH = f"""
select pg_advisory_xact_lock({LOCK_KEY});
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
SQLITE_OAUTH = f"""
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
PG_OAUTH_LINK = f"""
select pg_advisory_xact_lock({LOCK_KEY});
alter table auth.flow_state add column if not exists linking_target_id uuid null;
insert into auth.schema_migrations (version) values ('{OAUTH_LINK_VERSION}') on conflict do nothing;
"""
SQLITE_OAUTH_LINK = f"""
alter table _auth_flow_state add column linking_target_id text null;
insert into _auth_schema_migrations (version) values ('{OAUTH_LINK_VERSION}') on conflict do nothing;
"""

# Step "backstack-6-oauth-binding" (issue 16): an OAuth flow is bound to the browser that started it
# (`browser_binding`: SHA-256 of the secret in that browser's cookie), and a PKCE link flow keeps the
# provider identity (`pending_identity`, JSON) until the initiating client exchanges its code.
OAUTH_BINDING_VERSION = "backstack-6-oauth-binding"
PG_OAUTH_BINDING = f"""
select pg_advisory_xact_lock({LOCK_KEY});
alter table auth.flow_state add column if not exists browser_binding text null;
alter table auth.flow_state add column if not exists pending_identity text null;
insert into auth.schema_migrations (version) values ('{OAUTH_BINDING_VERSION}') on conflict do nothing;
"""
SQLITE_OAUTH_BINDING = f"""
alter table _auth_flow_state add column browser_binding text null;
alter table _auth_flow_state add column pending_identity text null;
insert into _auth_schema_migrations (version) values ('{OAUTH_BINDING_VERSION}') on conflict do nothing;
"""

"""Step `backstack-2-mfa`: MFA factors and their challenges."""

from backstack.auth.store.schema.lock import LOCK_KEY

# Step "backstack-2-mfa" (admin-mfa): MFA factors and their challenges, under Supabase's names and
# columns, plus `last_totp_step` (ours): the last TOTP time step accepted for the factor, so a code
# cannot be replayed while it is still valid.
MFA_VERSION = "backstack-2-mfa"
PG_MFA = f"""
select pg_advisory_xact_lock({LOCK_KEY});
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
SQLITE_MFA = f"""
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

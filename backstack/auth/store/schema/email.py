"""Steps `backstack-3-email` and `backstack-7-otp-attempts`: one-time tokens (emailed codes) and the dev inbox."""

from backstack.auth.store.schema.lock import LOCK_KEY

# Step "backstack-3-email" (email): GoTrue's one-time tokens (hashes of emailed codes; one live token
# per user and kind) and the dev inbox, where mails land when no SMTP server is set (`backstack mail`).
EMAIL_VERSION = "backstack-3-email"
PG_EMAIL = f"""
select pg_advisory_xact_lock({LOCK_KEY});
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
SQLITE_EMAIL = f"""
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

# Step "backstack-7-otp-attempts" (issue 16): a mailed code's verification attempts, counted in its
# row so the cap holds across workers and nodes (store/onetime.py). GoTrue-shaped inserts still work (default 0).
OTP_ATTEMPTS_VERSION = "backstack-7-otp-attempts"
PG_OTP_ATTEMPTS = f"""
select pg_advisory_xact_lock({LOCK_KEY});
alter table auth.one_time_tokens add column if not exists attempts integer not null default 0;
insert into auth.schema_migrations (version) values ('{OTP_ATTEMPTS_VERSION}') on conflict do nothing;
"""
SQLITE_OTP_ATTEMPTS = f"""
alter table _auth_one_time_tokens add column attempts integer not null default 0;
insert into _auth_schema_migrations (version) values ('{OTP_ATTEMPTS_VERSION}') on conflict do nothing;
"""

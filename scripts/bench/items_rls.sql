-- Issue 4's policy-protected list: the columns and indexes of items (items.sql), row-level security on,
-- each user reads the rows they own (the Supabase idiom), plus the index a real project adds for it.
-- scripts/bench/rls_bench.py fills it with a copy of items, every row owned by the bench user.
create table if not exists items_rls (
  id uuid primary key default gen_random_uuid(),
  title text not null default '',
  body text not null default '',
  price numeric not null default 0,
  qty integer not null default 0,
  tags jsonb,
  owner uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists items_rls_price_idx on items_rls (price);
create index if not exists items_rls_created_idx on items_rls (created_at);
create index if not exists items_rls_owner_idx on items_rls (owner);
alter table items_rls enable row level security;
create policy items_rls_owner_reads on items_rls for select using (auth.uid() = owner);

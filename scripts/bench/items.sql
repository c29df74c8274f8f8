-- The benchmark table of ../shared/bench (its PG_DDL without auth and policies), same indexes as PocketBase:
-- price and created.
create table if not exists items (
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
create index if not exists items_price_idx on items (price);
create index if not exists items_created_idx on items (created_at);

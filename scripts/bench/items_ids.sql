-- The distinct-ids read step (scripts/bench/ids_bench.py): 100,000 rows to read one by one, each by its own
-- id, so no cache keyed by the request's values could serve two of them. Columns as items.sql.
create table if not exists items_ids (
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

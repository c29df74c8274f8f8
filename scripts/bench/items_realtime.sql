-- W6 (scripts/bench/realtime_bench.py): the tables whose inserts are delivered as postgres_changes. Their own
-- tables, not `items`: publishing `items` would add change capture to every write of W3/W4.
-- items_rt: items' columns, no policies (subscribers join with the anon key).
-- items_rt_rls: row-level security; a signed-in user reads public rows and its own.
create table if not exists items_rt (
  id uuid primary key default gen_random_uuid(),
  title text not null default '',
  body text not null default '',
  price numeric not null default 0,
  qty integer not null default 0,
  tags jsonb,
  owner uuid,
  created_at timestamptz not null default now()
);
create table if not exists items_rt_rls (
  id uuid primary key default gen_random_uuid(),
  title text not null default '',
  body text not null default '',
  price numeric not null default 0,
  qty integer not null default 0,
  tags jsonb,
  owner uuid,
  is_public boolean not null default false,
  created_at timestamptz not null default now()
);
alter table items_rt_rls enable row level security;
create policy items_rt_rls_reads on items_rt_rls for select to authenticated
  using (is_public or owner = auth.uid());
alter publication supabase_realtime add table items_rt, items_rt_rls;

-- Row-level security (docs/policies.md) and a function for /rest/v1/rpc (docs/rpc.md).
-- Everyone may read; with no write policy, only the service_role key may write.
alter table profiles enable row level security;
alter table todos enable row level security;
create policy "profiles are public" on profiles for select using (true);
create policy "todos are public" on todos for select using (true);

-- supabase.rpc("open_todos").execute(), or GET /rest/v1/rpc/open_todos?select=title
create function open_todos() returns setof todos language sql stable as $$
  select * from todos where not done order by id
$$;

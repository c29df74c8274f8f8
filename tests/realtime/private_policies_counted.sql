-- PostgreSQL only (SQLite has no sequences, and its probe writes nothing a count could outlive):
-- a topic anyone signed in may send to, whose insert policy counts how often it is asked (a sequence
-- is not rolled back with the probe's transaction); `probes()` reads the count through the data API
create sequence public.probe_count;
create policy "send to counted" on realtime.messages for insert to authenticated
  with check (case when realtime.topic() = 'counted' then nextval('public.probe_count') > 0 else false end);
create function public.probes() returns bigint language sql security definer
  as $$ select case when is_called then last_value else 0 end from public.probe_count $$;

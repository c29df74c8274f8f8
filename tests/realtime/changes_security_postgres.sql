-- What only PostgreSQL has (SQLite refuses column privileges and keeps the primary key as old_record):
-- the whole old row captured, column privileges, a published table outside the exposed schemas.
alter table secrets replica identity full;
alter table plain replica identity full;
revoke select on plain from anon;
grant select (id, title) on plain to anon;
create schema hidden;
create table hidden.things (id bigint primary key, x text);
grant usage on schema hidden to anon, authenticated;
grant select on hidden.things to anon, authenticated;
alter publication supabase_realtime add table hidden.things;
create function touch_hidden() returns void language sql security definer as
  $$ insert into hidden.things (id, x) values ((select coalesce(max(id), 0) + 1 from hidden.things), 'hidden') $$;
-- a writer whose session is in another time zone: the outbox holds its timestamps with +09:00
create function write_in_tokyo() returns void language sql set timezone = 'Asia/Tokyo' as
  $$ insert into secrets (code, public) values ('from tokyo', true) $$;
-- a writer with another IntervalStyle: the outbox holds '1 02:00:00', the data API reads '1 day 02:00:00'
alter table kinds add column iv interval;
create function write_interval_sql_standard() returns void language sql set intervalstyle = 'sql_standard' as
  $$ insert into kinds (iv) values ('1 day 2 hours') $$;

-- The table of scripts/bench/items.sql, filled with 10,000 rows shaped like the harness's rand_item (short
-- title, 20-60 word body, price 1..1000, qty, 0-4 tags, an owner on every other row). psql -v NOTHING needed.
drop table if exists items;
create table items (
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
create index items_price_idx on items (price);
create index items_created_idx on items (created_at);
insert into items (title, body, price, qty, tags, owner)
select
  initcap(w[1 + (i % 26)]) || ' ' || w[1 + (i * 7 % 26)],
  (select string_agg(w[1 + ((i * 31 + k * 17) % 26)], ' ') from generate_series(1, 20 + i % 41) as k),
  round((1 + random() * 999)::numeric, 2),
  (random() * 500)::int,
  (select coalesce(jsonb_agg(w[1 + ((i + k * 5) % 26)]), '[]') from generate_series(1, i % 5) as k),
  case when i % 2 = 0 then '5b0a4d2e-8a57-4a4c-9a52-3f3a1a0b7c11'::uuid end
from generate_series(1, 10000) as i,
  (select string_to_array('alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike '
    'november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu', ' ') as w) as words;
analyze items;

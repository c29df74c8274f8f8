"""Callers interleaved on a pool of two PostgreSQL connections, with user code that tries to leave its
session behind (db/postgres/session.py): every answer is the requester's own identity and rows."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from backstack.config import Settings
from tests.rest.test_http_fixtures import Api, running_api

pytestmark = pytest.mark.anyio

A = "00000000-0000-0000-0000-00000000000a"
B = "00000000-0000-0000-0000-00000000000b"
SCHEMA = f"""
create table notes (id int primary key, owner uuid, body text);
alter table notes enable row level security;
create policy own on notes for all to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
grant all on notes to anon, authenticated;
insert into notes values (1, '{A}', 'alice'), (2, '{B}', 'bob');
create sequence counter;
grant usage on sequence counter to anon, authenticated;

create function whoami() returns json language sql stable as $$
  select json_build_object('user', current_user, 'uid', auth.uid(),
    'claims', current_setting('request.jwt.claims', true)::json ->> 'sub',
    'ro', current_setting('transaction_read_only'), 'path', current_setting('search_path'),
    'timeout', current_setting('statement_timeout'),
    'locks', (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()),
    'bodies', (select coalesce(json_agg(body order by id), '[]') from public.notes)) $$;
create function as_bob() returns int language plpgsql as $$
begin
  perform set_config('request.jwt.claims', '{{"sub":"{B}","role":"authenticated"}}', false);
  perform set_config('request.jwt.claim.sub', '{B}', false);
  perform set_config('search_path', 'auth', false);
  perform set_config('statement_timeout', '0', false);
  perform pg_advisory_lock(7);
  return 1;
end $$;
create function as_bob_then_fail() returns int language plpgsql as $$
begin
  perform set_config('request.jwt.claim.sub', '{B}', false);
  raise exception 'after the change';
end $$;
create function reset_role() returns int language plpgsql as $$
begin execute 'reset role'; return 1; end $$;
create function reset_everything() returns int language plpgsql as $$
begin execute 'reset all'; return 1; end $$;
create function definer_claims() returns int language plpgsql security definer as $$
begin perform set_config('request.jwt.claim.sub', '{B}', false); return 1; end $$;
create function sleepy() returns int language sql as $$ select 1 from pg_sleep(0.3) $$;
create function bump() returns bigint language sql as $$ select nextval('counter') $$;
create function scribble() returns int language sql as $$ insert into notes values (99, null, 'x') returning 1 $$;
create function lock_rows() returns setof notes language sql as $$ select * from notes for update $$;
create function many() returns setof int language sql as $$ select generate_series(1, 500) $$;
create function many_then_fail() returns setof int language plpgsql as $$
begin
  perform set_config('request.jwt.claim.sub', '{B}', false);
  return query select generate_series(1, 50);
  raise exception 'late';
end $$;
create view hijacked as select id, body, definer_claims() as x from notes;
grant select on hijacked to anon, authenticated;
"""
ATTACKS = ["as_bob", "as_bob_then_fail", "reset_role", "reset_everything", "definer_claims", "sleepy",
           "many", "many_then_fail"]


@pytest.fixture
async def api(engine_settings: Settings) -> Any:
    if not engine_settings.database_url:
        pytest.skip("pooled-connection session state is PostgreSQL's (SQLite compiles policies in)")
    settings = engine_settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 2, "statement_timeout_ms": 2000})
    async with running_api(settings, SCHEMA) as running:
        yield running


def headers(api: Api, who: str) -> dict[str, str]:
    if who == "anon":
        return {}
    token = api.token(sub=A if who == "alice" else B, role="authenticated")
    return {"Authorization": f"Bearer {token}"}


async def test_interleaved_callers_only_ever_see_themselves(api: Api) -> None:
    expected = {"alice": ("authenticated", A, ["alice"]), "bob": ("authenticated", B, ["bob"]),
                "anon": ("anon", None, [])}
    baseline = (await api.request("GET", "rpc/whoami", role="anon")).json()
    wrong: list[Any] = []

    async def one(i: int) -> None:
        who = random.choice(list(expected))
        if random.random() < 0.4:
            name = random.choice(ATTACKS)
            method = random.choice(["GET", "POST"])
            await api.request(method, f"rpc/{name}", role="anon", headers=headers(api, who),
                              body={} if method == "POST" else None)
            return
        if random.random() < 0.1:
            task = asyncio.ensure_future(api.request("GET", "rpc/sleepy", role="anon", headers=headers(api, who)))
            await asyncio.sleep(0.05)
            task.cancel()
            return
        if random.random() < 0.1:
            await api.request("GET", "hijacked?select=id", role="anon", headers=headers(api, who))
        response = await api.request("GET", "rpc/whoami", role="anon", headers=headers(api, who))
        got = response.json()
        user, uid, bodies = expected[who]
        seen = None if response.status_code != 200 else (
            got["user"], got["uid"], got["claims"], got["ro"], got["bodies"], got["path"], got["timeout"], got["locks"])
        if seen != (user, uid, uid, "on", bodies, baseline["path"], baseline["timeout"], 0):
            wrong.append((i, who, got))

    random.seed(7)
    await asyncio.gather(*(one(i) for i in range(300)))
    assert wrong == [], (len(wrong), wrong[:3])


async def test_reads_cannot_write(api: Api) -> None:
    for name in ("scribble", "bump", "lock_rows"):
        response = await api.request("GET", f"rpc/{name}", role="anon", headers=headers(api, "alice"))
        assert response.status_code >= 400 and response.json()["code"] == "25006", (name, response.text)

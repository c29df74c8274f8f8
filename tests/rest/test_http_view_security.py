"""Views and row-level security through the real app, one body on both engines (issue 16, finding 4).

PostgreSQL: a `security_invoker` view reads its tables with the caller's policies and grants; a plain
view with its owner's (the migration's role: no policies), though the caller still needs SELECT on
the view itself. SQLite keeps the option in its catalog and the policy service reads the view's body
through the caller's policies, in reads, embeds and counts alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from backstack.config import Settings
from backstack.core.errors import DatabaseError
from backstack.db.translate.ddl import translate
from tests.rest.http_api import Api, assert_error_shape, http_settings, running_api

pytestmark = pytest.mark.anyio

ALICE = "00000000-0000-4000-8000-00000000000a"
BOB = "00000000-0000-4000-8000-00000000000b"

SCHEMA = f"""
create table topics (id bigint primary key, name text);
insert into topics (id, name) values (1, 'only');
create table secrets (id bigint primary key, owner uuid, secret text, topic_id bigint references topics(id));
alter table secrets enable row level security;
create policy own_secrets on secrets for select using (auth.uid() = owner);
insert into secrets (id, owner, secret, topic_id) values (1, '{ALICE}', 'alice', 1), (2, '{BOB}', 'bob', 1);

create view invoker_secrets with (security_invoker = true) as select id, owner, secret, topic_id from secrets;
create view plain_secrets as select id, owner, secret from secrets;
create view barrier_secrets with (security_barrier) as select id, secret from secrets where owner = auth.uid();
create view closed_secrets as select id, secret from secrets;
revoke select on closed_secrets from anon;

create table staff_only (id bigint primary key, body text);
insert into staff_only (id, body) values (1, 'x');
revoke select on staff_only from anon;
create view staff_view with (security_invoker) as select id, body from staff_only;
"""


@pytest.fixture
async def api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings), SCHEMA) as running:
        yield running


async def get(api: Api, actor: str, target: str, **headers: str) -> Any:
    sent = dict(headers)
    if actor in ("alice", "bob"):
        sent["Authorization"] = f"Bearer {api.token(sub=ALICE if actor == 'alice' else BOB, role='authenticated')}"
    response = await api.request("GET", target, role="service" if actor == "service" else "anon", headers=sent)
    assert response.status_code in (200, 206), (api.dialect, actor, target, response.text)
    return response.json(), response.headers.get("Content-Range")


async def test_security_invoker_view_applies_the_callers_policies(api: Api) -> None:
    count = {"Prefer": "count=exact"}
    for actor, visible in (("anon", []), ("bob", [2]), ("alice", [1]), ("service", [1, 2])):
        where = (api.dialect, actor)
        rows, _ = await get(api, actor, "invoker_secrets?select=id&order=id")
        assert [r["id"] for r in rows] == visible, where
        rows, total = await get(api, actor, "invoker_secrets?select=id&id=eq.1", **count)
        assert ([r["id"] for r in rows], total.split("/")[1]) == (([1], "1") if 1 in visible else ([], "0")), where
        rows, _ = await get(api, actor, "topics?select=id,invoker_secrets(id)&invoker_secrets.order=id")
        assert rows == [{"id": 1, "invoker_secrets": [{"id": i} for i in visible]}], where
        rows, _ = await get(api, actor, "topics?select=id,invoker_secrets!inner(id)")
        assert [r["id"] for r in rows] == ([1] if visible else []), where


async def test_plain_view_reads_with_the_owners_rights(api: Api) -> None:
    for actor in ("anon", "bob", "alice"):
        rows, total = await get(api, actor, "plain_secrets?select=id&order=id", Prefer="count=exact")
        assert ([r["id"] for r in rows], total) == ([1, 2], "0-1/2"), (api.dialect, actor)


async def test_view_grants_and_invoker_table_grants(api: Api) -> None:
    """The view's own grant is checked for every view; an invoker view needs the table's too."""
    response = await api.request("GET", "closed_secrets?select=id", role="anon")
    assert response.status_code == 401, (api.dialect, response.text)
    assert (
        assert_error_shape(response, "42501")["message"] == "permission denied for view closed_secrets"
        or response.json()["message"] == "permission denied for table closed_secrets"
    )
    response = await api.request("GET", "staff_view?select=id", role="anon")
    assert response.status_code == 401, (api.dialect, response.text)
    assert assert_error_shape(response, "42501")["message"] == "permission denied for table staff_only"


async def test_security_barrier_view(api: Api) -> None:
    for actor, visible in (("anon", []), ("bob", [2]), ("alice", [1])):
        rows, _ = await get(api, actor, "barrier_secrets?select=id&secret=like.*&order=id")
        assert [r["id"] for r in rows] == visible, (api.dialect, actor)


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("create view v with (check_option = local) as select id from secrets", "0A000"),
        ("create view v as select id from secrets where id > 0 with cascaded check option", "0A000"),
        ("create view v with (fillfactor = 70) as select id from secrets", "22023"),
        ("create view v with (security_invoker = maybe) as select id from secrets", "22023"),
        ("create table child (extra int) inherits (secrets)", "0A000"),
    ],
)
def test_options_sqlite_cannot_honour_fail_the_migration(statement: str, code: str) -> None:
    """PostgreSQL accepts the 0A000 ones (and refuses the 22023 ones the same way); SQLite refuses them
    naming the statement instead of dropping the option."""
    with pytest.raises(DatabaseError) as caught:
        translate("create table secrets (id bigint primary key);\n" + statement)
    assert caught.value.code == code, caught.value
    assert "statement 2" in f"{caught.value.message} {caught.value.details}"


OVER_INVOKER = f"""
create table secrets (id bigint primary key, owner uuid, secret text);
alter table secrets enable row level security;
create policy own_secrets on secrets for select using (auth.uid() = owner);
insert into secrets (id, owner, secret) values (1, '{ALICE}', 'alice'), (2, '{BOB}', 'bob');

create view inv2 with (security_invoker = true) as select id, secret, owner from secrets;
create view plain_over_inv as select id, secret from inv2;
create view plain_over_plain as select id, secret from plain_over_inv;
create view plain_mix as
  select s.id, s.secret, i.id as seen from secrets s left join inv2 i on i.id = s.id;
create view invoker_over_plain with (security_invoker = true) as select id, secret from plain_over_inv;

create function read_plain_over_inv() returns setof plain_over_inv language sql stable
  as $$ select * from plain_over_inv order by id $$;
create table probes (id bigint primary key);
alter table probes enable row level security;
create policy through_view on probes for select using (exists (select 1 from plain_over_inv v where v.id = probes.id));
insert into probes (id) values (1), (2);
"""


async def test_plain_view_over_an_invoker_view_applies_the_callers_policies(engine_settings: Settings) -> None:
    """PostgreSQL checks an invoker view's tables as the current user even when a plain view reads it
    (red-team F3): anon sees nothing through plain views over `inv2`, at any depth, in a function or
    a policy subquery; the plain view's own tables keep the owner's rights (`plain_mix`)."""
    async with running_api(http_settings(engine_settings), OVER_INVOKER) as api:
        for actor, visible in (("anon", []), ("bob", [2]), ("alice", [1]), ("service", [1, 2])):
            where = (api.dialect, actor)
            for target in (
                "plain_over_inv",
                "plain_over_plain",
                "invoker_over_plain",
                "rpc/read_plain_over_inv",
                "probes",
            ):
                rows, _ = await get(api, actor, f"{target}?select=id&order=id")
                assert [r["id"] for r in rows] == visible, (*where, target)
            rows, total = await get(api, actor, "plain_over_inv?select=id&secret=like.*", Prefer="count=exact")
            assert (len(rows), total.split("/")[1]) == (len(visible), str(len(visible))), where
            rows, _ = await get(api, actor, "plain_mix?select=id,seen&order=id")
            assert rows == [{"id": i, "seen": i if i in visible else None} for i in (1, 2)], where

"""Writes to views through the real app, one body on both engines (issue 16 follow-up, red-team F4).

PostgreSQL writes through a simple view (automatically updatable), with the base table's policies
for a `security_invoker` view. SQLite's views are not updatable, so every write to a view is refused
before any SQL runs (400 `55000` `cannot insert into view "v"`, with a hint to write to the table)
and nothing is written; it once answered 201 writing nothing, or 400/500 for the other verbs.
"""

from __future__ import annotations

import pytest

from backstack.config import Settings
from tests.rest.http_api import Api, assert_error_shape, http_settings, running_api

pytestmark = pytest.mark.anyio

ALICE = "00000000-0000-4000-8000-00000000000a"
BOB = "00000000-0000-4000-8000-00000000000b"

SCHEMA = f"""
create table items (id bigint primary key, owner uuid not null, body text);
alter table items enable row level security;
create policy own_items on items for all using (auth.uid() = owner) with check (auth.uid() = owner);
insert into items (id, owner, body) values (1, '{ALICE}', 'alice'), (2, '{BOB}', 'bob');

create view inv_items with (security_invoker = true) as select id, owner, body from items;
create view plain_items as select id, owner, body from items;
"""

WRITES = (
    ("POST", "{view}", {"id": 3, "owner": BOB, "body": "new"}, {}, "insert into"),
    (
        "POST",
        "{view}",
        {"id": 2, "owner": BOB, "body": "merged"},
        {"Prefer": "resolution=merge-duplicates"},
        "insert into",
    ),
    ("PATCH", "{view}?id=eq.2", {"body": "patched"}, {}, "update"),
    ("DELETE", "{view}?id=eq.2", None, {}, "delete from"),
)


async def write(api: Api, method: str, target: str, body: object, headers: dict[str, str]) -> tuple[int, str]:
    sent = {"Authorization": f"Bearer {api.token(sub=BOB, role='authenticated')}", **headers}
    response = await api.request(method, target, role="anon", headers=sent, body=body)
    return response.status_code, response.text


@pytest.mark.parametrize("view", ["inv_items", "plain_items"])
async def test_writes_to_a_view(engine_settings: Settings, view: str) -> None:
    async with running_api(http_settings(engine_settings), SCHEMA) as api:
        for method, target, body, headers, verb in WRITES:
            before = await api.table("items")
            status, text = await write(api, method, target.format(view=view), body, headers)
            where = (api.dialect, view, method, headers, status, text)
            if api.dialect == "sqlite":
                assert status == 400, where
                response_error = assert_error_shape(
                    await api.request(method, target.format(view=view), role="service", headers=headers, body=body),
                    "55000",
                )
                assert response_error["message"] == f'cannot {verb} view "{view}"', where
                assert "table" in str(response_error["hint"]), where
                assert await api.table("items") == before, where
            else:
                assert status in (200, 201, 204), where
                assert await api.table("items") != before, where


async def test_invoker_view_writes_keep_the_tables_policies(engine_settings: Settings) -> None:
    """On PostgreSQL Bob cannot insert a row owned by Alice through an invoker view (42501); on SQLite
    the write is refused as a write to a view. Nothing is written either way."""
    async with running_api(http_settings(engine_settings), SCHEMA) as api:
        before = await api.table("items")
        status, text = await write(api, "POST", "inv_items", {"id": 9, "owner": ALICE, "body": "forged"}, {})
        expected = 400 if api.dialect == "sqlite" else 403
        assert status == expected, (api.dialect, status, text)
        assert await api.table("items") == before, api.dialect

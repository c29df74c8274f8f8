"""PostgREST behaviour found missing by issue 18 section 5, through the real app on both engines.

`PUT /t?pk=eq.v` (PostgREST's single-row upsert: its UpsertSpec's rules and errors, and an upsert's
row policies), the total in `Content-Range: */N` on a 416, and PGRST102 for a bulk insert whose
objects differ in keys.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from backstack.config import Settings
from tests.rest.http_api import Api, Scenario, api, http_settings, run, run_all, running_api

__all__ = ["api"]

pytestmark = pytest.mark.anyio

REPR = {"Prefer": "return=representation"}
OBJECT = {"Accept": "application/vnd.pgrst.object+json"}


async def test_put_rules_and_errors(api: Api) -> None:
    """PostgREST's UpsertSpec "with PUT", on `tags` (pk id), `book_tags` (composite pk) and `todos`."""
    body = {"id": 9, "label": "new"}
    await run_all(
        api,
        [
            Scenario(
                "limit is refused",
                "PUT",
                "tags?id=eq.9&limit=1",
                400,
                body=body,
                unchanged=True,
                json={
                    "code": "PGRST114",
                    "message": "limit/offset querystring parameters are not allowed for PUT",
                    "details": None,
                    "hint": None,
                },
            ),
            Scenario(
                "offset is refused", "PUT", "tags?id=eq.9&offset=1", 400, body=body, code="PGRST114", unchanged=True
            ),
            Scenario(
                "a filter on another column",
                "PUT",
                "tags?label=eq.new",
                405,
                body=body,
                unchanged=True,
                json={
                    "code": "PGRST105",
                    "message": "Filters must include all and only primary key columns with 'eq' operators",
                    "details": None,
                    "hint": None,
                },
            ),
            Scenario(
                "the key and another column",
                "PUT",
                "tags?id=eq.9&label=eq.new",
                405,
                body=body,
                code="PGRST105",
                unchanged=True,
            ),
            Scenario("not.eq", "PUT", "tags?id=not.eq.9", 405, body=body, code="PGRST105", unchanged=True),
            Scenario("in.()", "PUT", "tags?id=in.(9)", 405, body=body, code="PGRST105", unchanged=True),
            Scenario("a logic tree", "PUT", "tags?and=(id.eq.9)", 405, body=body, code="PGRST105", unchanged=True),
            Scenario("no filter", "PUT", "tags", 405, body=body, code="PGRST105", unchanged=True),
            Scenario(
                "part of a composite key",
                "PUT",
                "book_tags?book_id=eq.1",
                405,
                body={"book_id": 1, "tag_id": 3},
                code="PGRST105",
                unchanged=True,
            ),
            Scenario(
                "payload key differs from the URL",
                "PUT",
                "tags?id=eq.9",
                400,
                body={"id": 8, "label": "x"},
                unchanged=True,
                json={
                    "code": "PGRST115",
                    "details": None,
                    "hint": None,
                    "message": "Payload values do not match URL in primary key column(s)",
                },
            ),
            Scenario(
                "payload without the key",
                "PUT",
                "tags?id=eq.9",
                400,
                body={"label": "x"},
                code="PGRST115",
                unchanged=True,
            ),
            Scenario("empty array payload", "PUT", "tags?id=eq.9", 400, body=[], code="PGRST115", unchanged=True),
            Scenario(
                "composite key mismatch",
                "PUT",
                "book_tags?book_id=eq.1&tag_id=eq.3",
                400,
                body={"book_id": 2, "tag_id": 3},
                code="PGRST115",
                unchanged=True,
            ),
            Scenario("invalid JSON", "PUT", "tags?id=eq.9", 400, body=b"{", code="PGRST102", unchanged=True),
            Scenario(
                "insert with representation: 201",
                "PUT",
                "tags?id=eq.9",
                201,
                headers=REPR,
                body=[body],
                json=[body],
                expect_headers={"content-range": None, "preference-applied": "return=representation"},
            ),
            Scenario(
                "update with representation: 200",
                "PUT",
                "tags?id=eq.9",
                200,
                headers=REPR,
                body={"id": 9, "label": "renamed"},
                json=[{"id": 9, "label": "renamed"}],
            ),
            Scenario(
                "minimal: 204, no body",
                "PUT",
                "tags?id=eq.9",
                204,
                body={"id": "9", "label": "again"},
                empty=True,
                expect_headers={"content-type": None, "content-range": None},
            ),
            Scenario("the row was replaced", "GET", "tags?id=eq.9", 200, json=[{"id": 9, "label": "again"}]),
            Scenario(
                "only the row matching the URL is put",
                "PUT",
                "tags?id=eq.1",
                200,
                headers={**REPR, **OBJECT},
                body=[{"id": 1, "label": "scifi"}, {"id": 2, "label": "ignored"}],
                json={"id": 1, "label": "scifi"},
            ),
            Scenario(
                "the other row was not touched", "GET", "tags?id=eq.2&select=label", 200, json=[{"label": "classic"}]
            ),
            Scenario(
                "composite key insert",
                "PUT",
                "book_tags?book_id=eq.2&tag_id=eq.1",
                201,
                headers=REPR,
                body={"book_id": 2, "tag_id": 1},
                json=[{"book_id": 2, "tag_id": 1}],
            ),
            Scenario(
                "an embed in the representation",
                "PUT",
                "books?id=eq.4&select=title,authors(name)",
                200,
                headers=REPR,
                body={"id": 4, "title": "Zed II", "author_id": 3},
                json=[{"title": "Zed II", "authors": {"name": "Cy"}}],
            ),
            Scenario(
                "the Range header is ignored",
                "PUT",
                "tags?id=eq.3",
                200,
                headers={**REPR, "Range": "5-9"},
                body={"id": 3, "label": "love"},
                json=[{"id": 3, "label": "love"}],
            ),
            Scenario(
                "tx=rollback",
                "PUT",
                "tags?id=eq.3",
                200,
                headers={"Prefer": "return=representation,tx=rollback"},
                body={"id": 3, "label": "gone"},
                json=[{"id": 3, "label": "gone"}],
            ),
            Scenario("rolled back", "GET", "tags?id=eq.3&select=label", 200, json=[{"label": "love"}]),
        ],
    )


async def test_416_carries_the_total(api: Api) -> None:
    """PostgREST answers an offset (or Range) past the end with `Content-Range: */<total>`."""
    count = {"Prefer": "count=exact"}
    await run_all(
        api,
        [
            Scenario(
                "offset past the end",
                "GET",
                "todos?offset=10",
                416,
                headers=count,
                code="PGRST103",
                expect_headers={"content-range": "*/3"},
            ),
            Scenario(
                "Range past the end",
                "GET",
                "todos",
                416,
                headers={**count, "Range": "7-9"},
                code="PGRST103",
                expect_headers={"content-range": "*/3"},
            ),
            Scenario(
                "HEAD past the end",
                "HEAD",
                "todos?offset=4",
                416,
                headers=count,
                code="PGRST103",
                expect_headers={"content-range": "*/3"},
            ),
            Scenario(
                "filtered total",
                "GET",
                "todos?done=eq.true&offset=2",
                416,
                headers=count,
                code="PGRST103",
                expect_headers={"content-range": "*/1"},
            ),
        ],
    )


async def test_bulk_insert_keys_must_match(api: Api) -> None:
    """PostgREST refuses objects with different keys (400 PGRST102) before the database sees them,
    unless `columns=` names the keys (what supabase-js and supabase-py send for an array)."""
    await run_all(
        api,
        [
            Scenario(
                "different keys",
                "POST",
                "todos",
                400,
                body=[{"title": "a", "priority": 7}, {"title": "b"}],
                unchanged=True,
                json={"code": "PGRST102", "message": "All object keys must match", "details": None, "hint": None},
            ),
            Scenario(
                "same keys in another order",
                "POST",
                "todos?select=title,priority",
                201,
                headers=REPR,
                body=[{"title": "a", "priority": 7}, {"priority": 8, "title": "b"}],
                json=[{"title": "a", "priority": 7}, {"title": "b", "priority": 8}],
            ),
            Scenario(
                "different keys with columns=",
                "POST",
                "todos?columns=title,priority&select=title,priority",
                201,
                headers=REPR,
                body=[{"title": "c", "priority": 9}, {"title": "d"}],
                json=[{"title": "c", "priority": 9}, {"title": "d", "priority": None}],
            ),
        ],
    )


# ---------------------------------------------------------------- PUT under row policies

RLS_SCHEMA = """
create table notes (
  id bigint primary key,
  owner uuid not null default auth.uid(),
  body text not null
);
alter table notes enable row level security;
create policy notes_select on notes for select using (auth.uid() = owner);
create policy notes_insert on notes for insert with check (auth.uid() = owner);
create policy notes_update on notes for update using (auth.uid() = owner) with check (auth.uid() = owner);
"""

ALICE = str(uuid.UUID(int=1))
BOB = str(uuid.UUID(int=2))


@pytest.fixture
async def rls_api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings), RLS_SCHEMA) as running:
        yield running


def as_user(api: Api, user: str) -> dict[str, str]:
    token = api.token(sub=user, role="authenticated", aud="authenticated")
    return {"Authorization": f"Bearer {token}"}


async def test_put_applies_upsert_row_policies(rls_api: Api) -> None:
    """As an upsert: Bob's PUT over Alice's row is an error (not a skip), as is a new row owned by
    Alice; Alice may PUT her own row; nothing Bob sent was written."""
    api = rls_api
    alice, bob = as_user(api, ALICE), as_user(api, BOB)
    await run(
        api,
        Scenario(
            "Alice creates her note",
            "PUT",
            "notes?id=eq.1",
            201,
            headers={**alice, **REPR},
            role="anon",
            body={"id": 1, "owner": ALICE, "body": "mine"},
            json=[{"id": 1, "owner": ALICE, "body": "mine"}],
        ),
    )
    over = await run(
        api,
        Scenario(
            "Bob over Alice's row",
            "PUT",
            "notes?id=eq.1",
            403,
            headers=bob,
            role="anon",
            body={"id": 1, "owner": BOB, "body": "stolen"},
            code="42501",
        ),
    )
    before = await api.table("notes")
    assert "row-level security" in over.json()["message"], over.json()
    await run(
        api,
        Scenario(
            "Bob over Alice's row keeping her as owner",
            "PUT",
            "notes?id=eq.1",
            403,
            headers=bob,
            role="anon",
            body={"id": 1, "owner": ALICE, "body": "edited"},
            code="42501",
        ),
    )
    await run(
        api,
        Scenario(
            "Bob creates a row owned by Alice",
            "PUT",
            "notes?id=eq.2",
            403,
            headers=bob,
            role="anon",
            body={"id": 2, "owner": ALICE, "body": "planted"},
            code="42501",
            message='new row violates row-level security policy for table "notes"',
        ),
    )
    await run(
        api,
        Scenario(
            "Alice moves her row to Bob",
            "PUT",
            "notes?id=eq.1",
            403,
            headers=alice,
            role="anon",
            body={"id": 1, "owner": BOB, "body": "gift"},
            code="42501",
        ),
    )
    assert await api.table("notes") == before == [("1", ALICE, "mine")]
    await run(
        api,
        Scenario(
            "Alice updates her row",
            "PUT",
            "notes?id=eq.1",
            200,
            headers={**alice, **REPR},
            role="anon",
            body={"id": 1, "owner": ALICE, "body": "edited"},
            json=[{"id": 1, "owner": ALICE, "body": "edited"}],
        ),
    )
    rows = await api.app.engine.fetch_all("select id, owner, body from notes order by id")
    assert [(int(r[0]), str(r[1]), r[2]) for r in rows] == [(1, ALICE, "edited")]

"""The official supabase-py client (sync and async) against a live `backstack serve`, on both engines."""

from __future__ import annotations

import pytest
from postgrest.exceptions import APIError
from supabase import AsyncClient, Client, acreate_client, create_client

from tests.compat.conftest import LiveServer

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def sb(live_server: LiveServer) -> Client:
    return create_client(live_server.url, live_server.anon_key)


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Client:
    return create_client(live_server.url, live_server.service_key)


def test_select_with_embeds_and_filters(sb: Client) -> None:
    res = (
        sb.table("books")
        .select("title, pages, author:authors(name), tags(label)")
        .eq("in_print", True)
        .gt("pages", 200)
        .order("pages", desc=True)
        .execute()
    )
    assert res.data == [
        {
            "title": "Guards! Guards!",
            "pages": 416,
            "author": {"name": "Terry Pratchett"},
            "tags": [{"label": "fantasy"}],
        },
        {
            "title": "The Left Hand of Darkness",
            "pages": 304,
            "author": {"name": "Ursula K. Le Guin"},
            "tags": [{"label": "scifi"}, {"label": "classic"}],
        },
        {"title": "Mort", "pages": 272, "author": {"name": "Terry Pratchett"}, "tags": [{"label": "fantasy"}]},
    ]


def test_one_to_many_embed_with_order_and_limit(sb: Client) -> None:
    res = (
        sb.table("authors")
        .select("name, books(title)")
        .order("title", desc=True, foreign_table="books")
        .limit(1, foreign_table="books")
        .order("id")
        .execute()
    )
    assert res.data == [
        {"name": "Ursula K. Le Guin", "books": [{"title": "The Left Hand of Darkness"}]},
        {"name": "Terry Pratchett", "books": [{"title": "Mort"}]},
        {"name": "Nobody", "books": []},
    ]


def test_inner_embed_and_or_filter(sb: Client) -> None:
    res = (
        sb.table("authors")
        .select("name, books!inner(title)")
        .or_("title.eq.Mort,title.like.*Earthsea", reference_table="books")
        .order("id")
        .execute()
    )
    assert res.data == [
        {"name": "Ursula K. Le Guin", "books": [{"title": "A Wizard of Earthsea"}]},
        {"name": "Terry Pratchett", "books": [{"title": "Mort"}]},
    ]


def test_filters_in_is_ilike_json_path(sb: Client) -> None:
    assert [
        r["id"]
        for r in sb.table("books").select("id").in_("title", ["Mort", "Guards! Guards!"]).order("id").execute().data
    ] == [4, 5]
    assert sb.table("authors").select("name").is_("born", "null").execute().data == [{"name": "Nobody"}]
    assert sb.table("books").select("title").ilike("title", "%HAND%").execute().data == [
        {"title": "The Left Hand of Darkness"}
    ]
    series = (
        sb.table("books")
        .select("title, series:meta->>series")
        .eq("meta->>series", "Discworld")
        .order("id")
        .execute()
        .data
    )
    assert series == [{"title": "Guards! Guards!", "series": "Discworld"}, {"title": "Mort", "series": "Discworld"}]


def test_count_and_range(sb: Client) -> None:
    res = sb.table("books").select("id", count="exact").order("id").range(1, 2).execute()
    assert res.count == 5
    assert res.data == [{"id": 2}, {"id": 3}]
    head = sb.table("books").select("*", count="exact", head=True).execute()
    assert head.count == 5


def test_single_and_csv(sb: Client) -> None:
    one = sb.table("authors").select("name, born").eq("id", 2).single().execute()
    assert one.data == {"name": "Terry Pratchett", "born": "1948-04-28"}
    with pytest.raises(APIError) as error:
        sb.table("authors").select("*").eq("id", 999).single().execute()
    assert error.value.code == "PGRST116"
    csv = sb.table("authors").select("id,name").order("id").limit(2).csv().execute()
    # PostgREST writes each row as PostgreSQL's record text: values with spaces are quoted.
    assert csv.data == 'id,name\n1,"Ursula K. Le Guin"\n2,"Terry Pratchett"'


def test_insert_update_upsert_delete(sb: Client) -> None:
    # Bulk rows with different keys: missing keys take the column default only with default_to_null=False
    # (Prefer: missing=default), as in PostgREST.
    rows = [{"title": "write"}, {"title": "ship", "done": True}]
    inserted = sb.table("todos").insert(rows, default_to_null=False).execute()
    assert [(r["title"], r["done"], r["priority"]) for r in inserted.data] == [("write", False, 1), ("ship", True, 1)]
    first, second = (r["id"] for r in inserted.data)
    updated = sb.table("todos").update({"done": True}).eq("id", first).execute()
    assert updated.data == [{"id": first, "title": "write", "done": True, "priority": 1}]
    upserted = sb.table("todos").upsert({"id": second, "title": "ship it", "done": False}).execute()
    assert upserted.data == [{"id": second, "title": "ship it", "done": False, "priority": 1}]
    deleted = sb.table("todos").delete().in_("id", [first, second]).execute()
    assert sorted(r["id"] for r in deleted.data) == [first, second]
    assert sb.table("todos").select("id").in_("id", [first, second]).execute().data == []


def test_bulk_insert_missing_keys_are_null_by_default(sb: Client) -> None:
    with pytest.raises(APIError) as error:
        sb.table("todos").insert([{"title": "a"}, {"title": "b", "done": True}]).execute()
    assert error.value.code == "23502"
    assert sb.table("todos").select("id").eq("title", "a").execute().data == []


def test_errors_reach_the_client(sb: Client) -> None:
    with pytest.raises(APIError) as error:
        sb.table("authors").insert({"name": "Nobody"}).execute()
    assert error.value.code == "23505"
    with pytest.raises(APIError) as error:
        sb.table("nope").select("*").execute()
    assert error.value.code == "PGRST205"
    with pytest.raises(APIError) as error:
        sb.table("books").select("nope").execute()
    assert error.value.code == "42703"


@pytest.mark.anyio
async def test_async_client(live_server: LiveServer) -> None:
    client: AsyncClient = await acreate_client(live_server.url, live_server.anon_key)
    res = await client.table("authors").select("name, books(title)", count="exact").order("id").limit(1).execute()
    assert res.count == 3
    ins = await client.table("todos").insert({"title": "async"}).execute()
    todo_id = ins.data[0]["id"]
    one = await client.table("todos").select("title").eq("id", todo_id).single().execute()
    assert one.data == {"title": "async"}
    await client.table("todos").delete().eq("id", todo_id).execute()

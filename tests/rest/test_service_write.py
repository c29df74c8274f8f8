"""Writes through `rest.service` (insert/upsert, update, delete) on both engines.

Each test asserts the whole answer (status, body, Content-Range, headers) and what the table
holds afterwards; rollback cases assert the table did not change.
"""

from __future__ import annotations

from typing import Any

import pytest

from backstack.core.errors import ApiError
from tests.rest.service_setup import db, delete, get, patch, post, snapshot

__all__ = ["db"]

pytestmark = pytest.mark.anyio
REPR = "return=representation"
OBJECT = "application/vnd.pgrst.object+json"


async def titles(engine: Any, qs: str = "") -> list[Any]:
    r = await get(engine, f"books?select=id,title&order=id&{qs}")
    return [(row["id"], row["title"]) for row in r.json]


# ---------------------------------------------------------------- insert


async def test_insert_minimal(db: Any) -> None:
    r = await post(db, "books", {"title": "New"})
    assert (r.status, r.result.body, r.content_range, r.headers) == (201, None, "*/*", {})
    assert (await titles(db, "id=gt.4")) == [(5, "New")]


async def test_insert_representation_has_defaults(db: Any) -> None:
    r = await post(db, "books", {"title": "New", "price": 2.5}, prefer=REPR)
    assert r.status == 201
    assert r.json == [
        {
            "id": 5,
            "title": "New",
            "author_id": None,
            "buyer_id": None,
            "seller_id": None,
            "price": 2.5,
            "in_stock": True,
            "meta": None,
            "labels": None,
            "published_at": None,
            "summary": None,
        }
    ]
    assert r.headers == {"Preference-Applied": "return=representation"}


async def test_insert_converts_json_bool_array(db: Any) -> None:
    row = {
        "title": "T",
        "in_stock": False,
        "meta": {"a": [1, {"b": None}], "s": "x"},
        "labels": ["a", "b c"],
        "published_at": "2021-02-03T04:05:06+00:00",
    }
    r = await post(db, "books?select=title,in_stock,meta,labels,published_at", row, prefer=REPR)
    assert r.json == [row]
    r = await get(db, "books?select=title,in_stock,meta,labels,published_at&id=eq.5")
    assert r.json == [row]


async def test_bulk_insert_union_of_keys_in_input_order(db: Any) -> None:
    body = [
        {"id": 20, "title": "B20", "price": 1},
        {"id": 10, "title": "B10", "summary": "s"},
        {"id": 15, "title": "B15"},
    ]
    r = await post(
        db, "books?columns=id,title,price,summary&select=id,title,price,summary", body, prefer=f"{REPR},count=exact"
    )
    assert (r.status, r.content_range) == (201, "*/3")
    assert r.json == [
        {"id": 20, "title": "B20", "price": 1, "summary": None},
        {"id": 10, "title": "B10", "price": None, "summary": "s"},
        {"id": 15, "title": "B15", "price": None, "summary": None},
    ]


async def test_bulk_insert_missing_identity_key_is_null(db: Any) -> None:
    """A row lacking a key gets NULL, even for the primary key: PostgreSQL refuses it, as PostgREST's
    does; SQLite's rowid alias assigns the next id (documented difference)."""
    body = [{"id": 20, "title": "B20"}, {"title": "B?"}]
    if db.dialect.is_sqlite:
        r = await post(db, "books?columns=id,title&select=id,title", body, prefer=REPR)
        assert r.json == [{"id": 20, "title": "B20"}, {"id": 21, "title": "B?"}]
        return
    with pytest.raises(ApiError) as info:
        await post(db, "books?columns=id,title", body)
    assert (info.value.status, info.value.code) == (400, "23502")


async def test_insert_columns_param_limits_the_keys(db: Any) -> None:
    body = [{"title": "A", "price": 1, "summary": "ignored"}, {"title": "B"}]
    r = await post(db, 'books?columns="title","price"&select=title,price,summary', body, prefer=REPR)
    assert r.json == [{"title": "A", "price": 1, "summary": None}, {"title": "B", "price": None, "summary": None}]


async def test_insert_missing_default(db: Any) -> None:
    body = [{"title": "A"}, {"title": "B", "in_stock": False}]
    r = await post(db, "books?columns=title,in_stock&select=title,in_stock", body, prefer=f"{REPR},missing=default")
    assert r.json == [{"title": "A", "in_stock": True}, {"title": "B", "in_stock": False}]


async def test_insert_missing_null_violates_not_null(db: Any) -> None:
    with pytest.raises(ApiError) as info:
        await post(db, "books?columns=title,in_stock", [{"title": "A"}])
    assert (info.value.status, info.value.code) == (400, "23502")


async def test_insert_with_embed_in_representation(db: Any) -> None:
    r = await post(db, "books?select=title,authors(name),reviews(stars)", {"title": "N", "author_id": 2}, prefer=REPR)
    assert r.json == [{"title": "N", "authors": {"name": "Bob"}, "reviews": []}]


async def test_insert_singular(db: Any) -> None:
    r = await post(db, "books?select=title", {"title": "One"}, prefer=REPR, accept=OBJECT)
    assert (r.status, r.json) == (201, {"title": "One"})


async def test_insert_singular_with_two_rows_rolls_back(db: Any) -> None:
    before = await snapshot(db)
    with pytest.raises(ApiError) as info:
        await post(db, "books", [{"title": "a"}, {"title": "b"}], prefer=REPR, accept=OBJECT)
    assert (info.value.status, info.value.code, info.value.details) == (406, "PGRST116", "The result contains 2 rows")
    assert await snapshot(db) == before


async def test_insert_headers_only_location(db: Any) -> None:
    r = await post(db, "books", {"title": "L"}, prefer="return=headers-only")
    assert (r.status, r.result.body) == (201, None)
    assert r.headers["Location"] == "/books?id=eq.5"
    r = await post(db, "book_tags", {"book_id": 3, "tag_id": 1}, prefer="return=headers-only")
    assert r.headers["Location"] == "/book_tags?book_id=eq.3&tag_id=eq.1"


async def test_insert_tx_rollback(db: Any) -> None:
    before = await snapshot(db)
    r = await post(db, "books?select=title", {"title": "Gone"}, prefer=f"{REPR},tx=rollback")
    assert (r.status, r.json) == (201, [{"title": "Gone"}])
    assert await snapshot(db) == before


async def test_insert_empty_array(db: Any) -> None:
    r = await post(db, "books", [], prefer=f"{REPR},count=exact")
    assert (r.status, r.json, r.content_range) == (201, [], "*/0")


async def test_insert_empty_objects_use_defaults(db: Any) -> None:
    r = await post(db, 'odd "names"', [{}, {}], prefer=REPR)
    assert r.json == [{'we"ird': None, "sp ace": None}, {'we"ird': None, "sp ace": None}]


async def test_insert_weird_column_names(db: Any) -> None:
    r = await post(db, 'odd "names"', {'we"ird': "q", "sp ace": 7}, prefer=REPR)
    assert r.json == [{'we"ird': "q", "sp ace": 7}]
    r = await patch(db, 'odd "names"?"we""ird"=eq.q&select="we""ird"', {'we"ird': "r"}, prefer=REPR)
    assert r.json == [{'we"ird': "r"}]


@pytest.mark.parametrize("body", [b"", b"   ", b"{", b"[1, 2]", b'"x"', b"3", b"[{}, 1]", b"null"])
async def test_insert_bad_body(db: Any, body: bytes) -> None:
    with pytest.raises(ApiError) as info:
        await post(db, "books", body)
    assert (info.value.status, info.value.code, info.value.message) == (400, "PGRST102", "Empty or invalid json")


async def test_insert_unknown_column(db: Any) -> None:
    with pytest.raises(ApiError) as info:
        await post(db, "books", {"title": "x", "nope": 1})
    assert (info.value.status, info.value.code, info.value.message) == (
        400,
        "PGRST204",
        "Could not find the 'nope' column of 'books' in the schema cache",
    )
    with pytest.raises(ApiError) as info:
        await post(db, "books?columns=title,nope", {"title": "x"})
    assert info.value.code == "PGRST204"


async def test_insert_unique_violation(db: Any) -> None:
    with pytest.raises(ApiError) as info:
        await post(db, "tags", {"id": 9, "name": "sf"})
    assert (info.value.status, info.value.code) == (409, "23505")


# ---------------------------------------------------------------- upsert


async def test_upsert_merge_existing_only_is_200(db: Any) -> None:
    r = await post(
        db, "books?select=id,title,price", {"id": 1, "title": "Dune 2"}, prefer=f"{REPR},resolution=merge-duplicates"
    )
    assert (r.status, r.json) == (200, [{"id": 1, "title": "Dune 2", "price": 9.5}])


async def test_upsert_merge_with_a_new_row_is_201(db: Any) -> None:
    body = [{"id": 2, "title": "Emma 2"}, {"id": 7, "title": "Seven"}]
    r = await post(db, "books?select=id,title", body, prefer=f"{REPR},resolution=merge-duplicates")
    assert (r.status, r.json) == (201, [{"id": 2, "title": "Emma 2"}, {"id": 7, "title": "Seven"}])
    assert await titles(db, "id=in.(2,7)") == [(2, "Emma 2"), (7, "Seven")]


async def test_upsert_ignore_returns_only_inserted(db: Any) -> None:
    body = [{"id": 2, "title": "Emma 2"}, {"id": 8, "title": "Eight"}]
    r = await post(db, "books?select=id,title", body, prefer=f"{REPR},resolution=ignore-duplicates")
    assert (r.status, r.json) == (201, [{"id": 8, "title": "Eight"}])
    assert await titles(db, "id=in.(2,8)") == [(2, "Emma"), (8, "Eight")]


async def test_upsert_on_conflict_unique_column(db: Any) -> None:
    r = await post(
        db,
        "tags?on_conflict=name&select=id,name",
        {"id": 1, "name": "sf"},
        prefer=f"{REPR},resolution=merge-duplicates",
    )
    assert (r.status, r.json) == (200, [{"id": 1, "name": "sf"}])


async def test_upsert_on_conflict_without_constraint(db: Any) -> None:
    with pytest.raises(ApiError) as info:
        await post(db, "books?on_conflict=title", {"title": "Dune"}, prefer="resolution=merge-duplicates")
    assert (info.value.status, info.value.code) == (400, "42P10")


# ---------------------------------------------------------------- update


async def test_update_minimal(db: Any) -> None:
    r = await patch(db, "books?id=eq.1", {"title": "Dune!"})
    assert (r.status, r.result.body, r.content_range) == (204, None, "0-0/*")
    assert await titles(db, "id=eq.1") == [(1, "Dune!")]


async def test_update_representation_and_count(db: Any) -> None:
    r = await patch(
        db,
        "books?author_id=eq.1&select=id,price,in_stock,meta",
        {"price": 1, "in_stock": False, "meta": {"k": [True]}},
        prefer=f"{REPR},count=exact",
    )
    assert (r.status, r.content_range) == (200, "0-1/2")
    assert sorted(r.json, key=lambda x: x["id"]) == [
        {"id": 1, "price": 1, "in_stock": False, "meta": {"k": [True]}},
        {"id": 2, "price": 1, "in_stock": False, "meta": {"k": [True]}},
    ]


async def test_update_without_filters_changes_every_row(db: Any) -> None:
    r = await patch(db, "people", {"name": "X"}, prefer="count=exact")
    assert (r.status, r.content_range) == (204, "0-1/2")
    assert (await get(db, "people?select=name")).json == [{"name": "X"}, {"name": "X"}]


async def test_update_nothing_matched(db: Any) -> None:
    r = await patch(db, "books?id=eq.99", {"title": "x"})
    assert (r.status, r.content_range) == (204, "*/*")
    r = await patch(db, "books?id=eq.99", {"title": "x"}, prefer=f"{REPR},count=exact")
    assert (r.status, r.json, r.content_range) == (200, [], "*/0")


async def test_update_with_embed(db: Any) -> None:
    r = await patch(db, "books?id=eq.3&select=title,authors(name)", {"author_id": 1}, prefer=REPR)
    assert r.json == [{"title": "Ulysses", "authors": {"name": "Ann"}}]


async def test_update_filter_on_json_path_and_embedded_null(db: Any) -> None:
    r = await patch(db, "books?meta->>genre=eq.romance&select=id", {"price": 0}, prefer=REPR)
    assert r.json == [{"id": 2}]
    r = await patch(db, "books?select=id,authors()&authors=is.null", {"price": 0}, prefer=REPR)
    assert r.json == [{"id": 4}]


async def test_update_empty_body(db: Any) -> None:
    before = await snapshot(db)
    r = await patch(db, "books?id=eq.1", {}, prefer=f"{REPR},count=exact")
    assert (r.status, r.json, r.content_range) == (200, [], "*/0")
    assert await snapshot(db) == before


async def test_update_bad_bodies(db: Any) -> None:
    for body in (b"[]", b'[{"title": "x"}]', b"nope", b""):
        with pytest.raises(ApiError) as info:
            await patch(db, "books?id=eq.1", body)
        assert info.value.code == "PGRST102"
    with pytest.raises(ApiError) as info:
        await patch(db, "books?id=eq.1", {"nope": 1})
    assert info.value.code == "PGRST204"


async def test_update_max_affected(db: Any) -> None:
    before = await snapshot(db)
    with pytest.raises(ApiError) as info:
        await patch(db, "books?author_id=eq.1", {"price": 0}, prefer="handling=strict,max-affected=1")
    assert (info.value.status, info.value.code, info.value.details) == (400, "PGRST124", "The query affects 2 rows")
    assert await snapshot(db) == before
    r = await patch(db, "books?author_id=eq.1", {"price": 0}, prefer="max-affected=1")
    assert r.status == 204  # lenient handling ignores it
    r = await patch(db, "books?id=eq.1", {"price": 5}, prefer="handling=strict,max-affected=1")
    assert r.status == 204


async def test_update_singular_rolls_back(db: Any) -> None:
    before = await snapshot(db)
    with pytest.raises(ApiError) as info:
        await patch(db, "books?author_id=eq.1", {"price": 0}, prefer=REPR, accept=OBJECT)
    assert (info.value.status, info.value.code) == (406, "PGRST116")
    assert await snapshot(db) == before
    r = await patch(db, "books?id=eq.2&select=id,price", {"price": 0}, prefer=REPR, accept=OBJECT)
    assert (r.status, r.json) == (200, {"id": 2, "price": 0})


async def test_update_tx_rollback(db: Any) -> None:
    before = await snapshot(db)
    r = await patch(db, "books?id=eq.1&select=title", {"title": "Temp"}, prefer=f"{REPR},tx=rollback")
    assert r.json == [{"title": "Temp"}]
    assert await snapshot(db) == before


# ---------------------------------------------------------------- delete


async def test_delete_minimal(db: Any) -> None:
    r = await delete(db, "reviews?stars=lt.5")
    assert (r.status, r.result.body, r.content_range) == (204, None, "*/*")
    assert (await get(db, "reviews?select=id")).json == [{"id": 1}]


async def test_delete_count(db: Any) -> None:
    r = await delete(db, "reviews?stars=lt.5", prefer="count=exact")
    assert (r.status, r.content_range) == (204, "*/2")


async def test_delete_representation_with_embed(db: Any) -> None:
    r = await delete(db, "reviews?book_id=eq.1&select=stars,books(title)&order=id", prefer=REPR)
    assert r.status == 200
    assert sorted(r.json, key=lambda x: x["stars"]) == [
        {"stars": 3, "books": {"title": "Dune"}},
        {"stars": 5, "books": {"title": "Dune"}},
    ]
    assert (await get(db, "reviews?select=id")).json == [{"id": 3}]


async def test_delete_everything_without_filter(db: Any) -> None:
    r = await delete(db, "reviews", prefer="count=exact")
    assert r.content_range == "*/3"
    assert (await get(db, "reviews?select=id")).json == []


async def test_delete_max_affected_and_singular_change_nothing(db: Any) -> None:
    before = await snapshot(db)
    with pytest.raises(ApiError) as info:
        await delete(db, "reviews?book_id=eq.1", prefer="handling=strict,max-affected=1")
    assert info.value.code == "PGRST124"
    with pytest.raises(ApiError) as info:
        await delete(db, "reviews?book_id=eq.1", accept=OBJECT)
    assert (info.value.code, info.value.details) == ("PGRST116", "The result contains 2 rows")
    assert await snapshot(db) == before


async def test_delete_tx_rollback(db: Any) -> None:
    before = await snapshot(db)
    r = await delete(db, "reviews?select=id&order=id", prefer=f"{REPR},tx=rollback")
    assert sorted(x["id"] for x in r.json) == [1, 2, 3]
    assert await snapshot(db) == before


async def test_delete_cascades(db: Any) -> None:
    r = await delete(db, "books?id=eq.1&select=id,reviews(id)", prefer=REPR)
    assert r.json == [{"id": 1, "reviews": [{"id": 1}, {"id": 2}]}] or r.json == [{"id": 1, "reviews": []}]
    assert (await get(db, "reviews?select=id")).json == [{"id": 3}]


async def test_delete_foreign_key_violation(db: Any) -> None:
    with pytest.raises(ApiError) as info:
        await delete(db, "authors?id=eq.1")
    assert (info.value.status, info.value.code) == (409, "23503")


async def test_representation_follows_root_order(db: Any) -> None:
    r = await patch(db, "books?author_id=eq.1&select=id&order=id.desc", {"price": 1}, prefer=REPR)
    assert r.json == [{"id": 2}, {"id": 1}]
    r = await delete(db, "reviews?select=id&order=stars", prefer=REPR)
    assert r.json == [{"id": 2}, {"id": 3}, {"id": 1}]

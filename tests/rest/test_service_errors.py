"""Every error the query compiler answers, and SQL-injection attempts in every position.

Errors are asserted whole (status, code, message, details, hint). Injection attempts must answer a
4xx (or treat the text as a strange but quoted name or value) and leave every table unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest

from backstack.core.errors import ApiError
from tests.rest.service_setup import db as fresh_db
from tests.rest.service_setup import delete, get, patch, post, snapshot
from tests.rest.service_setup import shared_db as db  # for the tests that only read or roll back

__all__ = ["db", "fresh_db"]

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


async def error_of(call: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        await call
    return info.value


def whole(error: ApiError) -> tuple[Any, ...]:
    return error.status, error.code, error.message, error.details, error.hint


ERRORS: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = [
    (
        "book?select=*",
        {},
        (
            404,
            "PGRST205",
            "Could not find the table 'public.book' in the schema cache",
            None,
            "Perhaps you meant the table 'public.books'",
        ),
    ),
    ("zzz?select=*", {}, (404, "PGRST205", "Could not find the table 'public.zzz' in the schema cache", None, None)),
    ("books?select=nope", {}, (400, "42703", "column books.nope does not exist", None, None)),
    ("books?select=id&nope=eq.1", {}, (400, "42703", "column books.nope does not exist", None, None)),
    ("books?select=id&order=nope", {}, (400, "42703", "column books.nope does not exist", None, None)),
    ("books?select=id,authors(nope)", {}, (400, "42703", "column authors.nope does not exist", None, None)),
    (
        "books?select=id,authors(name)&authors.nope=eq.1",
        {},
        (400, "42703", "column authors.nope does not exist", None, None),
    ),
    ("books?select=id&id=eq.abc", {}, (400, "22P02", 'invalid input syntax for type bigint: "abc"', None, None)),
    (
        "books?select=id&in_stock=eq.maybe",
        {},
        (400, "22P02", 'invalid input syntax for type boolean: "maybe"', None, None),
    ),
    ("books?select=id&id=in.(1,x)", {}, (400, "22P02", 'invalid input syntax for type bigint: "x"', None, None)),
    (
        "reviews?select=id&stars=eq.99999999999",
        {},
        (400, "22003", 'value "99999999999" is out of range for type integer', None, None),
    ),
    (
        "books?select=title->x",
        {},
        (
            404,
            "42883",
            "operator does not exist: text -> unknown",
            None,
            "No operator matches the given name and argument types. You might need to add explicit type casts.",
        ),
    ),
    (
        "books?select=id,people(name)",
        {},
        (
            300,
            "PGRST201",
            "Could not embed because more than one relationship was found for 'books' and 'people'",
            [
                {
                    "cardinality": "many-to-one",
                    "embedding": "books with people",
                    "relationship": "books_buyer_id_fkey using books(buyer_id) and people(id)",
                },
                {
                    "cardinality": "many-to-one",
                    "embedding": "books with people",
                    "relationship": "books_seller_id_fkey using books(seller_id) and people(id)",
                },
            ],
            "Try changing 'people' to one of the following: 'people!books_buyer_id_fkey', "
            "'people!books_seller_id_fkey'. Find the desired relationship in the 'details' key.",
        ),
    ),
    (
        "books?select=id,employees(name)",
        {},
        (
            400,
            "PGRST200",
            "Could not find a relationship between 'books' and 'employees' in the schema cache",
            "Searched for a foreign key relationship between 'books' and 'employees' in the schema 'public', "
            "but no matches were found.",
            None,
        ),
    ),
    (
        "books?select=id,authors!nope(name)",
        {},
        (
            400,
            "PGRST200",
            "Could not find a relationship between 'books' and 'authors' in the schema cache",
            "Searched for a foreign key relationship between 'books' and 'authors' using the hint 'nope' in the "
            "schema 'public', but no matches were found.",
            None,
        ),
    ),
    (
        "books?select=id,author(name)",
        {},
        (
            400,
            "PGRST200",
            "Could not find a relationship between 'books' and 'author' in the schema cache",
            "Searched for a foreign key relationship between 'books' and 'author' in the schema 'public', "
            "but no matches were found.",
            "Perhaps you meant 'authors' instead of 'author'.",
        ),
    ),
    (
        "authors?select=id,books(title)&order=books(title)",
        {},
        (
            400,
            "PGRST118",
            "A related order on 'books' is not possible",
            "'authors' and 'books' do not form a many-to-one or one-to-one relationship",
            None,
        ),
    ),
    (
        "books?select=id&order=authors(name)",
        {},
        (
            400,
            "PGRST108",
            "'authors' is not an embedded resource in this request",
            None,
            "Verify that 'authors' is included in the 'select' query parameter.",
        ),
    ),
    (
        "books?select=id,authors(name)&authors=eq.1",
        {},
        (
            400,
            "PGRST120",
            "Bad operator on the 'authors' embedded resource",
            "Only is null or not is null filters are allowed on embedded resources",
            None,
        ),
    ),
    (
        "books?select=id&id=eq.9",
        {"accept": "application/vnd.pgrst.object+json"},
        (406, "PGRST116", "Cannot coerce the result to a single JSON object", "The result contains 0 rows", None),
    ),
    (
        "books?select=id",
        {"accept": "application/vnd.pgrst.object+json"},
        (406, "PGRST116", "Cannot coerce the result to a single JSON object", "The result contains 4 rows", None),
    ),
    (
        "books?select=id&offset=5",
        {"prefer": "count=exact"},
        (
            416,
            "PGRST103",
            "Requested range not satisfiable",
            "An offset of 5 was requested, but there are only 4 rows.",
            None,
        ),
    ),
    (
        "books?select=id&limit=1",
        {"range_": "2-3"},
        (416, "PGRST103", "Requested range not satisfiable", "Limit should be greater than or equal to zero.", None),
    ),
]


@pytest.mark.parametrize(("path", "kwargs", "expected"), ERRORS)
async def test_read_errors(db: Any, path: str, kwargs: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert whole(await error_of(get(db, path, **kwargs))) == expected


async def test_aggregates_are_refused(db: Any) -> None:
    for select in ("count()", "price.sum()", "id,authors(id.max())"):
        error = await error_of(get(db, f"books?select={select}"))
        assert whole(error) == (400, "PGRST123", "Use of aggregate functions is not allowed", None, None)


async def test_unknown_cast(db: Any) -> None:
    error = await error_of(get(db, "books?select=id::nosuchtype"))
    if db.dialect.is_sqlite:
        assert (error.status, error.code, error.details) == (
            400,
            "PGRST127",
            "Casting to 'nosuchtype' is not supported on SQLite",
        )
    else:
        assert (error.status, error.code, error.message) == (400, "42704", 'type "nosuchtype" does not exist')


async def test_invalid_regex(db: Any) -> None:
    error = await error_of(get(db, "books?select=id&title=match.("))
    assert (error.status, error.code) == (400, "2201B")


async def test_sqlite_gaps_are_pgrst127(db: Any) -> None:
    if not db.dialect.is_sqlite:
        r = await get(db, "books?select=id&title=fts.dune")
        assert r.json == [{"id": 1}]
        return
    error = await error_of(get(db, "books?select=id&title=fts.dune"))
    assert (error.status, error.code, error.message) == (400, "PGRST127", "Feature not implemented")
    assert error.details == "Full-text search on 'books.title' needs an FTS5 index on SQLite, and there is none"
    assert error.hint is not None and "CREATE VIRTUAL TABLE books_title_fts USING fts5(title" in error.hint
    error = await error_of(get(db, "books?select=id&summary=fts.!desert"))
    assert error.code == "PGRST127"


async def test_write_errors(fresh_db: Any) -> None:
    error = await error_of(post(fresh_db, "nope", {"a": 1}))
    assert (error.status, error.code) == (404, "PGRST205")
    error = await error_of(patch(fresh_db, "books?nope=eq.1", {"title": "x"}))
    assert (error.status, error.code, error.message) == (400, "42703", "column books.nope does not exist")
    error = await error_of(delete(fresh_db, "books?id=eq.x"))
    assert (error.status, error.code) == (400, "22P02")
    error = await error_of(
        post(fresh_db, "books?on_conflict=nope", {"title": "x"}, prefer="resolution=merge-duplicates")
    )
    assert (error.status, error.code) == (400, "42703")


# ---------------------------------------------------------------- injection


READ_INJECTIONS = [
    "books?select=id;drop table reviews",
    'books?select="id""; drop table reviews; --"',
    "books?select=id,title&title=eq.x');drop table reviews;--",
    "books?select=id&title=in.(x'),y);drop table reviews;--)",
    "books?select=id&title=like.*';drop table reviews;--",
    "books?select=id&title=ilike.%25'--",
    "books?select=id&title=match.'); drop table reviews; --",
    "books?select=id&order=id;drop table reviews",
    "books?select=id&order=id.desc,title;drop table reviews--",
    'books?select=id&"id;drop table reviews"=eq.1',
    "books?select=meta->>x'||(select 1)||'",
    "books?select=id&meta->>a'b=eq.1",
    'books?select=id&meta->a"b=eq.1',
    "books?select=id::text;drop table reviews",
    "books?select=id::int)); drop table reviews; --",
    "books?select=id&summary=fts(english';drop table reviews;--).x",
    "books?select=id&summary=fts.x' | 'y');drop table reviews;--",
    "books?select=id&summary=wfts.\"x\" or ''; drop table reviews",
    "books?select=id&labels=cs.{a'}",
    'books?select=id&meta=cs.{"a\'":"b\'--"}',
    "books?select=id,authors!books_author_id_fkey';drop table reviews;--(name)",
    "books?select=id&limit=1;drop table reviews",
    "books?select=id&or=(title.eq.x'),id.eq.1);drop table reviews;--)",
    "books?select=id&published_at=gt.2020-01-01'::date;drop table reviews;--",
]


@pytest.mark.parametrize("path", READ_INJECTIONS)
async def test_read_injection(db: Any, path: str) -> None:
    before = await snapshot(db)
    try:
        r = await get(db, path)
        assert r.status == 200
    except ApiError as error:
        assert 400 <= error.status < 500, error
    assert await snapshot(db) == before


WRITE_INJECTIONS: list[tuple[str, str, Any]] = [
    ("post", "books", {"title; drop table reviews; --": 1}),
    ("post", "books", {"title": "x'); drop table reviews; --"}),
    ("post", 'books?columns=title,"x""); drop table reviews; --"', {"title": "a"}),
    ("post", "books?on_conflict=id);drop table reviews;--", {"title": "a"}),
    ("post", "books?select=id;drop table reviews", {"title": "a"}),
    ("patch", "books?id=eq.1", {'title"; drop table reviews; --': "x"}),
    ("patch", "books?id=eq.1';drop table reviews;--", {"title": "x"}),
    ("delete", "books?id=in.(1);drop table reviews;--", None),
    ("delete", "reviews?body=eq.x' or '1'='1", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITE_INJECTIONS)
async def test_write_injection(db: Any, method: str, path: str, body: Any) -> None:
    before = await snapshot(db)
    call = {
        "post": lambda: post(db, path, body, prefer="resolution=merge-duplicates,tx=rollback"),
        "patch": lambda: patch(db, path, body, prefer="tx=rollback"),
        "delete": lambda: delete(db, path, prefer="tx=rollback"),
    }[method]
    try:
        r = await call()
        assert r.status < 300
    except ApiError as error:
        assert 400 <= error.status < 500, error
    assert await snapshot(db) == before


async def test_quoted_values_are_values(fresh_db: Any) -> None:
    await post(fresh_db, "reviews", {"book_id": 4, "stars": 1, "body": "x' or '1'='1"})
    r = await get(fresh_db, "reviews?select=stars&body=eq.x' or '1'='1")
    assert r.json == [{"stars": 1}]
    r = await get(fresh_db, "reviews?select=stars&body=like.*' or *")
    assert r.json == [{"stars": 1}]


async def test_strict_handling_refuses_unknown_preferences(fresh_db: Any) -> None:
    error = await error_of(get(fresh_db, "books?select=id", prefer="handling=strict, nope=1"))
    assert whole(error) == (
        400,
        "PGRST122",
        "Invalid preferences given with handling=strict",
        "Invalid preferences: nope=1",
        None,
    )
    r = await get(fresh_db, "books?select=id&id=eq.1", prefer="handling=lenient, nope=1")
    assert r.json == [{"id": 1}]
    error = await error_of(delete(fresh_db, "books?id=eq.1", prefer="handling=strict,x"))
    assert error.code == "PGRST122"

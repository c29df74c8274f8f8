"""Bad input through the real app: each answers the right 4xx in PostgREST's error shape, and every
table is read before and after to prove nothing changed (`unchanged=True` on every scenario).

Malformed filters/select/order/logic trees, unknown columns in every position, unknown tables and
operators, invalid and non-object JSON bodies, wrong value types, NUL bytes, oversized bodies.
Bad tokens are in test_http_keys.py; SQL-injection attempts in test_http_injection.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.rest.http_api import Api, Scenario, api, run, run_all

__all__ = ["api"]

pytestmark = pytest.mark.anyio


def bad(
    id: str,
    target: str,
    status: int,
    code: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    message: str | None = None,
) -> Scenario:
    return Scenario(
        id, method, target, status, headers=headers or {}, body=body, code=code, message=message, unchanged=True
    )


MALFORMED = [
    bad(
        "filter without a value",
        "todos?id=eq",
        400,
        "PGRST100",
        message='"failed to parse filter (eq)" (line 1, column 3)',
    ),
    bad("filter without an operator", "todos?id=1", 400, "PGRST100"),
    bad("unknown operator", "todos?id=zz.1", 400, "PGRST100"),
    bad("unknown operator after not", "todos?id=not.zz.1", 400, "PGRST100"),
    bad("unknown operator in a tree", "todos?or=(id.zz.1,id.eq.2)", 400, "PGRST100"),
    bad("unterminated in list", "todos?id=in.(1,2", 400, "PGRST100"),
    bad("in without parentheses", "todos?id=in.1,2", 400, "PGRST100"),
    bad("quantifier on a bad operator", "todos?id=is(any).{1}", 400, "PGRST100"),
    bad("is with a bad value", "todos?note=is.maybe", 400, "PGRST100"),
    bad("select with a trailing comma", "todos?select=id,", 400, "PGRST100"),
    bad("select with an extra parenthesis", "todos?select=id)", 400, "PGRST100"),
    bad("select opening with a parenthesis", "todos?select=(id", 400, "PGRST100"),
    bad("select with an unterminated quote", 'todos?select="id', 400, "PGRST100"),
    bad("select with an empty alias", "todos?select=:id", 400, "PGRST100"),
    bad("select with an empty cast", "todos?select=id::", 400, "PGRST100"),
    bad("order direction", "todos?order=id.sideways", 400, "PGRST100"),
    bad("order with an empty term", "todos?order=id,,title", 400, "PGRST100"),
    bad("limit not a number", "todos?limit=abc", 400, "PGRST100"),
    bad("offset not a number", "todos?offset=1.5", 400, "PGRST100"),
    bad("negative limit", "todos?limit=-1", 416, "PGRST103"),
    bad("negative offset", "todos?offset=-1", 400, "2201X"),
    bad("or without parentheses", "todos?or=id.eq.1", 400, "PGRST100"),
    bad("unterminated or", "todos?or=(id.eq.1", 400, "PGRST100"),
    bad("empty and", "todos?and=()", 400, "PGRST100"),
    bad("tree item without an operator", "todos?or=(id)", 400, "PGRST100"),
    bad("not.or without parentheses", "todos?not.or=id.eq.1", 400, "PGRST100"),
    bad("columns with an unterminated quote", 'todos?columns="title', 400, "PGRST100", "POST", {"title": "x"}),
    bad(
        "on_conflict empty item",
        "todos?on_conflict=id,,title",
        400,
        "PGRST100",
        "POST",
        {"title": "x"},
        {"Prefer": "resolution=merge-duplicates"},
    ),
    bad("malformed filter on DELETE", "todos?id=eq", 400, "PGRST100", "DELETE"),
    bad("malformed filter on PATCH", "todos?or=(", 400, "PGRST100", "PATCH", {"title": "x"}),
    bad("invalid regex", "todos?title=match.(", 400, "2201B"),
    bad("value not of the column type", "todos?id=eq.abc", 400, "22P02"),
    bad("boolean filter not a boolean", "todos?done=eq.maybe", 400, "22P02"),
    bad("integer filter out of range", "todos?priority=eq.99999999999", 400, "22003"),
    bad("JSON arrow on a text column", "todos?select=title->x", 404, "42883"),
]

UNKNOWN = [
    bad("unknown column in select", "todos?select=nope", 400, "42703", message="column todos.nope does not exist"),
    bad("unknown column in an embed's select", "books?select=id,authors(nope)", 400, "42703"),
    bad("unknown column in a filter", "todos?nope=eq.1", 400, "42703"),
    bad("unknown column in a tree", "todos?or=(nope.eq.1,id.eq.1)", 400, "42703"),
    bad("unknown column in an embedded filter", "books?select=id,authors(name)&authors.nope=eq.1", 400, "42703"),
    bad("unknown column in order", "todos?order=nope.desc", 400, "42703"),
    bad("unknown column in an embedded order", "authors?select=id,books(id)&books.order=nope", 400, "42703"),
    bad("unknown column in a PATCH filter", "todos?nope=eq.1", 400, "42703", "PATCH", {"title": "x"}),
    bad("unknown column in a DELETE filter", "todos?nope=eq.1", 400, "42703", "DELETE"),
    bad(
        "unknown column in a POST select",
        "todos?select=nope",
        400,
        "42703",
        "POST",
        {"title": "x"},
        {"Prefer": "return=representation"},
    ),
    bad(
        "unknown key in a POST body",
        "todos",
        400,
        "PGRST204",
        "POST",
        {"title": "x", "nope": 1},
        message="Could not find the 'nope' column of 'todos' in the schema cache",
    ),
    bad(
        "unknown key in a bulk body",
        "todos",
        400,
        "PGRST204",
        "POST",
        [{"title": "x", "nope": 0}, {"title": "y", "nope": 1}],
    ),
    bad("unknown key in a PATCH body", "todos?id=eq.1", 400, "PGRST204", "PATCH", {"nope": 1}),
    bad("unknown column in columns=", "todos?columns=title,nope", 400, "PGRST204", "POST", {"title": "x"}),
    bad(
        "unknown column in on_conflict",
        "todos?on_conflict=nope",
        400,
        "42703",
        "POST",
        {"title": "x"},
        {"Prefer": "resolution=merge-duplicates"},
    ),
    bad(
        "unknown table on GET",
        "nope",
        404,
        "PGRST205",
        message="Could not find the table 'public.nope' in the schema cache",
    ),
    bad("unknown table on HEAD", "nope", 404, "PGRST205", "HEAD"),
    bad("unknown table on POST", "nope", 404, "PGRST205", "POST", {"a": 1}),
    bad("unknown table on PATCH", "nope", 404, "PGRST205", "PATCH", {"a": 1}),
    bad("unknown table on DELETE", "nope", 404, "PGRST205", "DELETE"),
    bad("unknown embed", "todos?select=id,nope(*)", 400, "PGRST200"),
    bad("unknown embed hint", "books?select=id,authors!nope(name)", 400, "PGRST200"),
    bad("unknown cast", "todos?select=id::nosuchtype", 400, "*"),
]

BODIES = [
    bad("truncated JSON", "todos", 400, "PGRST102", "POST", "{", message="Empty or invalid json"),
    bad("JSON with trailing garbage", "todos", 400, "PGRST102", "POST", '{"title": "x"} trailing'),
    bad("empty body", "todos", 400, "PGRST102", "POST", ""),
    bad("whitespace body", "todos", 400, "PGRST102", "POST", "  \n "),
    bad("null body", "todos", 400, "PGRST102", "POST", "null"),
    bad("string body", "todos", 400, "PGRST102", "POST", '"x"'),
    bad("number body", "todos", 400, "PGRST102", "POST", "1"),
    bad("array of numbers", "todos", 400, "PGRST102", "POST", "[1,2]"),
    bad("array mixing objects and numbers", "todos", 400, "PGRST102", "POST", '[{"title":"a"}, 3]'),
    bad("nested arrays", "todos", 400, "PGRST102", "POST", '[[{"title":"a"}]]'),
    bad("not UTF-8", "todos", 400, "PGRST102", "POST", b"\xff\xfe{}"),
    bad("PATCH with an array", "todos?id=eq.1", 400, "PGRST102", "PATCH", '[{"title":"a"}]'),
    bad("PATCH with an empty body", "todos?id=eq.1", 400, "PGRST102", "PATCH", ""),
    bad("PATCH with invalid JSON", "todos?id=eq.1", 400, "PGRST102", "PATCH", "{title: 1}"),
    bad(
        "integer column given a word",
        "todos",
        400,
        "22P02",
        "POST",
        {"title": "x", "priority": "high"},
        message='invalid input syntax for type integer: "high"',
    ),
    bad("integer column given a fraction", "todos", 400, "22P02", "POST", {"title": "x", "priority": 1.5}),
    bad("integer column given an object", "todos", 400, "22P02", "POST", {"title": "x", "priority": {"a": 1}}),
    bad("integer column out of range", "todos", 400, "22003", "POST", {"title": "x", "priority": 99999999999}),
    bad("boolean column given a word", "todos", 400, "22P02", "POST", {"title": "x", "done": "maybe"}),
    bad("boolean column given a list", "todos", 400, "22P02", "POST", {"title": "x", "done": [True]}),
    bad(
        "bad value in the second row",
        "todos",
        400,
        "22P02",
        "POST",
        [{"title": "a", "priority": 1}, {"title": "b", "priority": "x"}],
    ),
    bad("PATCH integer column given a word", "todos?id=eq.1", 400, "22P02", "PATCH", {"priority": "high"}),
    bad("NUL in a text value", "todos", 400, "22P05", "POST", {"title": "a\u0000b"}),
    bad("NUL in a PATCH value", "todos?id=eq.1", 400, "22P05", "PATCH", {"note": "\u0000"}),
    bad("NOT NULL column missing", "todos", 400, "23502", "POST", {"note": "x"}),
    bad("NOT NULL column null", "todos", 400, "23502", "POST", {"title": None}),
    bad("foreign key violation", "books", 409, "23503", "POST", {"title": "x", "author_id": 99}),
    bad("unique violation", "authors", 409, "23505", "POST", {"name": "Ann"}),
    bad("delete referenced row", "authors?id=eq.1", 409, "23503", "DELETE"),
    bad("form body that is not JSON", "todos", 400, "PGRST102", "POST", "title=x"),
]


async def run_checked(api: Api, scenarios: list[Scenario]) -> None:
    """`run_all`, with code "*" meaning: any code (it differs by engine), the shape still checked."""
    await run_all(api, [s if s.code != "*" else Scenario(**{**s.__dict__, "code": None}) for s in scenarios])


async def test_malformed_queries(api: Api) -> None:
    await run_checked(api, MALFORMED)


async def test_unknown_names(api: Api) -> None:
    await run_checked(api, UNKNOWN)


async def test_bad_bodies(api: Api) -> None:
    await run_checked(api, BODIES)


async def test_nul_and_unicode_in_names_and_values(api: Api) -> None:
    await run_all(
        api,
        [
            bad("NUL in a column name", "todos?ti%00tle=eq.1", 400, "PGRST100"),
            bad("NUL in a select name", "todos?select=ti%00tle", 400, "PGRST100"),
            bad("NUL in the table name", "to%00dos", 404, "PGRST205"),
            bad("NUL in a body key", "todos", 400, "PGRST204", "POST", {"ti\u0000tle": "x"}),
            bad("unicode table name", "t%C3%B6dos", 404, "PGRST205"),
            bad("unicode column name", "todos?select=%C3%BC", 400, "42703", message="column todos.ü does not exist"),
            Scenario("emoji value", "GET", "todos?title=eq.%F0%9F%98%80&select=id", 200, json=[]),
            Scenario(
                "right-to-left and combining marks", "GET", "todos?title=eq.%E2%80%AEa%CC%81&select=id", 200, json=[]
            ),
        ],
    )
    # NUL in a filter value: PostgreSQL refuses the text (22021); SQLite compares it and finds nothing.
    response = await api.request("GET", "todos?title=eq.%00&select=id")
    if api.dialect == "postgres":
        assert response.status_code == 400 and response.json()["code"] == "22021"
    else:
        assert response.status_code == 200 and response.json() == []


async def test_body_over_the_limit(api: Api) -> None:
    """`settings.max_body_bytes` (64 KiB here): 413 BS413, declared or chunked, and nothing written."""
    limit = api.app.settings.max_body_bytes
    big = '{"title": "' + "x" * limit + '"}'
    too_large = {
        "code": "BS413",
        "message": f"The request body is larger than the {limit} bytes allowed",
        "details": None,
        "hint": "Send the data in smaller requests, or raise max_body_bytes.",
    }
    await run_all(
        api,
        [
            Scenario(
                "declared Content-Length over the limit", "POST", "todos", 413, body=big, json=too_large, unchanged=True
            ),
            Scenario("PATCH over the limit", "PATCH", "todos?id=eq.1", 413, body=big, json=too_large, unchanged=True),
            Scenario(
                "just under the limit is fine",
                "POST",
                "todos",
                201,
                body='{"title": "' + "y" * (limit - 20) + '"}',
                empty=True,
            ),
        ],
    )
    before = await api.snapshot()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(limit // 1024 + 1):
            yield b"z" * 1024
        yield b'"}'

    response = await api.client.post("/rest/v1/todos", content=chunks(), headers=api.auth())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413 and response.json() == too_large
    assert await api.snapshot() == before


async def test_errors_leave_reads_working(api: Api) -> None:
    """After a run of failures the app still answers normally (no poisoned cache or connection)."""
    for target in ("todos?id=eq.x", "nope", "todos?select=(", "todos?priority=eq.99999999999"):
        await api.request("GET", target)
    await run(
        api, Scenario("still fine", "GET", "todos?select=id&order=id", 200, json=[{"id": 1}, {"id": 2}, {"id": 3}])
    )

"""contract/README.md section 9, the REST items, through the real app on both engines.

Prefer parsing; insert 201 with an empty body; PATCH/DELETE 204; counts only in Content-Range;
`columns` with quoted identifiers; `on_conflict`; `missing=default`; bulk inserts as the union of
keys given as `columns=`; singular Accept (406 PGRST116, writes rolled back); 206/416 only with a count.
Embeds are in test_http_embeds.py; error shapes are checked by every error scenario (`run`).
"""

from __future__ import annotations

import pytest

from tests.rest.http_api import Api, Scenario, api, assert_error_shape, run_all

__all__ = ["api"]

pytestmark = pytest.mark.anyio

OBJECT = {"Accept": "application/vnd.pgrst.object+json"}
REPR = {"Prefer": "return=representation"}
ROW2 = [{"id": 2, "title": "two"}]


def prefer_case(
    id: str, headers: dict[str, str] | list[tuple[str, str]], applied: str | None, json: object = ROW2
) -> Scenario:
    """PATCH todo 2 to its own title: the Prefer headers decide the answer's shape."""
    status = 204 if json is None else 200
    return Scenario(
        id,
        "PATCH",
        "todos?id=eq.2&select=id,title",
        status,
        headers=headers,
        body={"title": "two"},
        json=json if json is not None else Scenario.json,
        empty=json is None,
        expect_headers={"preference-applied": applied},
    )


async def test_prefer_parsing(api: Api) -> None:
    await run_all(
        api,
        [
            prefer_case("one token", {"Prefer": "return=representation"}, "return=representation"),
            prefer_case(
                "commas without spaces",
                {"Prefer": "return=representation,count=exact"},
                "return=representation, count=exact",
            ),
            prefer_case(
                "commas with spaces (JS Headers.append)",
                {"Prefer": "return=representation, count=exact"},
                "return=representation, count=exact",
            ),
            prefer_case(
                "extra spaces and empty tokens",
                {"Prefer": " count=exact ,, return=representation "},
                "return=representation, count=exact",
            ),
            prefer_case(
                "several Prefer headers",
                [("Prefer", "count=exact"), ("Prefer", "return=representation")],
                "return=representation, count=exact",
            ),
            prefer_case(
                "last return= wins (py rewrites it)",
                {"Prefer": "return=minimal,return=representation"},
                "return=representation",
            ),
            prefer_case(
                "last return= wins across headers",
                [("Prefer", "return=representation"), ("Prefer", "return=minimal")],
                "return=minimal",
                None,
            ),
            prefer_case(
                "unknown tokens are ignored (lenient)",
                {"Prefer": "return=representation, foo=bar, baz"},
                "return=representation",
            ),
            prefer_case("unknown value of a known token is ignored", {"Prefer": "return=everything"}, None, None),
            Scenario(
                "handling=strict refuses unknown tokens",
                "PATCH",
                "todos?id=eq.2",
                400,
                headers={"Prefer": "handling=strict, foo=bar"},
                body={"title": "changed"},
                code="PGRST122",
                unchanged=True,
                json={
                    "code": "PGRST122",
                    "message": "Invalid preferences given with handling=strict",
                    "details": "Invalid preferences: foo=bar",
                    "hint": None,
                },
            ),
        ],
    )


async def test_write_statuses_and_bodies(api: Api) -> None:
    """Insert 201 with an EMPTY body by default (not `[]`); PATCH/DELETE 204; representation 201/200."""
    await run_all(
        api,
        [
            Scenario(
                "insert, no Prefer: 201 empty",
                "POST",
                "todos",
                201,
                body={"title": "four"},
                empty=True,
                expect_headers={"content-range": "*/*", "content-type": None, "location": None},
            ),
            Scenario(
                "insert, return=minimal: 201 empty",
                "POST",
                "todos",
                201,
                body={"title": "five"},
                headers={"Prefer": "return=minimal"},
                empty=True,
            ),
            Scenario(
                "insert, return=representation: 201 + rows",
                "POST",
                "todos?select=title,done,priority",
                201,
                body={"title": "six"},
                headers=REPR,
                json=[{"title": "six", "done": False, "priority": 1}],
                expect_headers={"content-type": "application/json; charset=utf-8"},
            ),
            Scenario(
                "insert, return=headers-only: Location",
                "POST",
                "tags",
                201,
                body={"id": 7, "label": "new"},
                headers={"Prefer": "return=headers-only"},
                empty=True,
                expect_headers={"location": "/tags?id=eq.7"},
            ),
            Scenario(
                "bulk insert keeps input order",
                "POST",
                "tags?select=id",
                201,
                headers=REPR,
                body=[{"id": 9, "label": "n9"}, {"id": 8, "label": "n8"}],
                json=[{"id": 9}, {"id": 8}],
            ),
            Scenario(
                "PATCH minimal: 204",
                "PATCH",
                "todos?title=eq.four",
                204,
                body={"note": "p"},
                empty=True,
                expect_headers={"content-range": "0-0/*", "content-type": None},
            ),
            Scenario(
                "PATCH matching nothing: 204",
                "PATCH",
                "todos?id=eq.999",
                204,
                body={"note": "p"},
                empty=True,
                expect_headers={"content-range": "*/*"},
            ),
            Scenario(
                "PATCH representation: 200",
                "PATCH",
                "todos?title=eq.five&select=title,note",
                200,
                body={"note": "q"},
                headers=REPR,
                json=[{"title": "five", "note": "q"}],
            ),
            Scenario(
                "DELETE minimal: 204",
                "DELETE",
                "todos?title=eq.four",
                204,
                empty=True,
                expect_headers={"content-range": "*/*", "content-type": None},
            ),
            Scenario(
                "DELETE representation: 200",
                "DELETE",
                "todos?title=eq.five&select=title",
                200,
                headers=REPR,
                json=[{"title": "five"}],
            ),
            Scenario(
                "rows left",
                "GET",
                "todos?select=title&order=id",
                200,
                json=[{"title": "one"}, {"title": "two"}, {"title": "three"}, {"title": "six"}],
            ),
        ],
    )


async def test_counts_only_in_content_range(api: Api) -> None:
    count = {"Prefer": "count=exact"}
    await run_all(
        api,
        [
            Scenario(
                "read without count",
                "GET",
                "todos?select=id&order=id",
                200,
                json=[{"id": 1}, {"id": 2}, {"id": 3}],
                expect_headers={"content-range": "0-2/*"},
            ),
            Scenario(
                "read with count: the body is still the bare array",
                "GET",
                "todos?select=id&order=id",
                200,
                headers=count,
                json=[{"id": 1}, {"id": 2}, {"id": 3}],
                expect_headers={"content-range": "0-2/3"},
            ),
            Scenario(
                "planned / estimated answer the exact count",
                "GET",
                "todos?select=id&id=gt.1",
                200,
                headers={"Prefer": "count=planned"},
                expect_headers={"content-range": "0-1/2"},
            ),
            Scenario(
                "empty read with count",
                "GET",
                "todos?id=eq.99",
                200,
                headers=count,
                json=[],
                expect_headers={"content-range": "*/0"},
            ),
            Scenario(
                "HEAD with count",
                "HEAD",
                "todos",
                200,
                headers=count,
                empty=True,
                expect_headers={"content-range": "0-2/3"},
            ),
            Scenario(
                "insert with count: minimal body",
                "POST",
                "todos",
                201,
                headers=count,
                body=[{"title": "a"}, {"title": "b"}],
                empty=True,
                expect_headers={"content-range": "*/2"},
            ),
            Scenario(
                "insert with count and representation",
                "POST",
                "todos?select=title",
                201,
                headers={"Prefer": "count=exact,return=representation"},
                body={"title": "c"},
                json=[{"title": "c"}],
                expect_headers={"content-range": "*/1"},
            ),
            Scenario(
                "update with count",
                "PATCH",
                "todos?title=in.(a,b)",
                204,
                headers=count,
                body={"note": "n"},
                empty=True,
                expect_headers={"content-range": "0-1/2"},
            ),
            Scenario(
                "delete with count",
                "DELETE",
                "todos?title=in.(a,b,c)",
                204,
                headers=count,
                empty=True,
                expect_headers={"content-range": "*/3"},
            ),
        ],
    )


async def test_partial_content_only_with_a_count(api: Api) -> None:
    count = {"Prefer": "count=exact"}
    await run_all(
        api,
        [
            Scenario(
                "limit without count: 200",
                "GET",
                "todos?select=id&order=id&limit=2",
                200,
                json=[{"id": 1}, {"id": 2}],
                expect_headers={"content-range": "0-1/*"},
            ),
            Scenario(
                "limit with count: 206",
                "GET",
                "todos?select=id&order=id&limit=2",
                206,
                headers=count,
                json=[{"id": 1}, {"id": 2}],
                expect_headers={"content-range": "0-1/3"},
            ),
            Scenario(
                "offset past the end without count: 200 []",
                "GET",
                "todos?offset=10",
                200,
                json=[],
                expect_headers={"content-range": "*/*"},
            ),
            Scenario(
                "offset past the end with count: 416",
                "GET",
                "todos?offset=10",
                416,
                headers=count,
                json={
                    "code": "PGRST103",
                    "message": "Requested range not satisfiable",
                    "details": "An offset of 10 was requested, but there are only 3 rows.",
                    "hint": None,
                },
                expect_headers={"content-range": "*/3"},
            ),
            Scenario(
                "offset at the end with count: 206 [] (as PostgREST's rangeStatus)",
                "GET",
                "todos?offset=3",
                206,
                headers=count,
                json=[],
                expect_headers={"content-range": "*/3"},
            ),
            Scenario(
                "HEAD offset past the end with count: 416 + Proxy-Status",
                "HEAD",
                "todos?offset=10",
                416,
                headers=count,
                code="PGRST103",
                empty=True,
            ),
            Scenario(
                "whole page with count: 200",
                "GET",
                "todos?select=id&limit=3",
                200,
                headers=count,
                expect_headers={"content-range": "0-2/3"},
            ),
        ],
    )


async def test_columns_and_bulk_inserts(api: Api) -> None:
    quoted = 'gadgets?columns="Display Name","a,b"&select=id,"Display Name","a,b",qty'
    await run_all(
        api,
        [
            Scenario(
                "columns= with quoted identifiers (a comma inside one)",
                "POST",
                quoted,
                201,
                headers=REPR,
                body=[{"Display Name": "g", "a,b": "ab", "qty": 9}, {"Display Name": "h"}],
                json=[
                    {"id": 1, "Display Name": "g", "a,b": "ab", "qty": 5},
                    {"id": 2, "Display Name": "h", "a,b": None, "qty": 5},
                ],
            ),
            Scenario(
                "missing=null (default): absent keys are NULL",
                "POST",
                'gadgets?columns="Display Name",qty&select=qty',
                201,
                headers=REPR,
                body=[{"Display Name": "i", "qty": 1}, {"Display Name": "j"}],
                json=[{"qty": 1}, {"qty": None}],
            ),
            Scenario(
                "missing=default: absent keys take the DEFAULT",
                "POST",
                'gadgets?columns="Display Name",qty&select=qty',
                201,
                headers={"Prefer": "return=representation, missing=default"},
                body=[{"Display Name": "k", "qty": 1}, {"Display Name": "l"}],
                json=[{"qty": 1}, {"qty": 5}],
            ),
            Scenario(
                "bulk with columns=: absent keys are NULL",
                "POST",
                "todos?columns=title,priority,note&select=title,priority,note",
                201,
                headers=REPR,
                body=[{"title": "u1", "priority": 7}, {"title": "u2", "note": "n"}],
                json=[{"title": "u1", "priority": 7, "note": None}, {"title": "u2", "priority": None, "note": "n"}],
            ),
            Scenario(
                "columns= with an unknown column: PGRST204",
                "POST",
                "todos?columns=title,nope",
                400,
                body=[{"title": "x"}],
                unchanged=True,
                json={
                    "code": "PGRST204",
                    "message": "Could not find the 'nope' column of 'todos' in the schema cache",
                    "details": None,
                    "hint": None,
                },
            ),
            Scenario(
                "unknown body key: PGRST204",
                "POST",
                "todos",
                400,
                body={"title": "x", "nope": 1},
                unchanged=True,
                json={
                    "code": "PGRST204",
                    "message": "Could not find the 'nope' column of 'todos' in the schema cache",
                    "details": None,
                    "hint": None,
                },
            ),
        ],
    )


async def test_upsert_on_conflict(api: Api) -> None:
    merge = {"Prefer": "resolution=merge-duplicates,return=representation"}
    await run_all(
        api,
        [
            Scenario(
                "merge on a unique column: one merged, one new -> 201",
                "POST",
                "authors?on_conflict=name&select=name,country",
                201,
                headers=merge,
                body=[{"name": "Ann", "country": "AU"}, {"name": "Dee", "country": "UK"}],
                json=[{"name": "Ann", "country": "AU"}, {"name": "Dee", "country": "UK"}],
            ),
            Scenario(
                "merge where every row existed -> 200",
                "POST",
                "authors?on_conflict=name&select=name,country",
                200,
                headers=merge,
                body={"name": "Ann", "country": "ZZ"},
                json=[{"name": "Ann", "country": "ZZ"}],
            ),
            Scenario(
                "ignore-duplicates leaves the row and omits it",
                "POST",
                "authors?on_conflict=name&select=name",
                201,
                headers={"Prefer": "resolution=ignore-duplicates,return=representation"},
                body={"name": "Ann", "country": "XX"},
                json=[],
                unchanged=True,
            ),
            Scenario(
                "merge on the primary key (no on_conflict)",
                "POST",
                "tags?select=id,label",
                200,
                headers=merge,
                body={"id": 1, "label": "scifi"},
                json=[{"id": 1, "label": "scifi"}],
            ),
            Scenario(
                "plain insert of a duplicate: 409 23505",
                "POST",
                "authors",
                409,
                body={"name": "Ann"},
                code="23505",
                unchanged=True,
            ),
            Scenario(
                "on_conflict naming an unknown column",
                "POST",
                "authors?on_conflict=nope",
                400,
                headers=merge,
                body={"name": "Ann"},
                unchanged=True,
            ),
            Scenario(
                "state after the upserts",
                "GET",
                "authors?select=name,country&order=id",
                200,
                json=[
                    {"name": "Ann", "country": "ZZ"},
                    {"name": "Bob", "country": None},
                    {"name": "Cy", "country": "US"},
                    {"name": "Dee", "country": "UK"},
                ],
            ),
        ],
    )


async def test_singular_accept(api: Api) -> None:
    """406 PGRST116 when the result is not exactly one row; writes are rolled back (DB unchanged)."""

    def pgrst116(rows: int) -> dict[str, object]:
        return {
            "code": "PGRST116",
            "message": "Cannot coerce the result to a single JSON object",
            "details": f"The result contains {rows} rows",
            "hint": None,
        }

    both = {**OBJECT, **REPR}
    await run_all(
        api,
        [
            Scenario(
                "read of one row: an object",
                "GET",
                "todos?select=id,title&id=eq.2",
                200,
                headers=OBJECT,
                json={"id": 2, "title": "two"},
                expect_headers={"content-type": "application/vnd.pgrst.object+json; charset=utf-8"},
            ),
            Scenario("read of no row", "GET", "todos?id=eq.99", 406, headers=OBJECT, json=pgrst116(0)),
            Scenario("read of many rows", "GET", "todos", 406, headers=OBJECT, json=pgrst116(3)),
            Scenario(
                "HEAD of many rows: code in Proxy-Status",
                "HEAD",
                "todos",
                406,
                headers=OBJECT,
                code="PGRST116",
                empty=True,
            ),
            Scenario(
                "PATCH of two rows is rolled back",
                "PATCH",
                "todos?done=eq.false",
                406,
                headers=both,
                body={"note": "s"},
                json=pgrst116(2),
                unchanged=True,
            ),
            Scenario(
                "PATCH minimal of two rows is rolled back too",
                "PATCH",
                "todos?done=eq.false",
                406,
                headers=OBJECT,
                body={"note": "s"},
                json=pgrst116(2),
                unchanged=True,
            ),
            Scenario(
                "DELETE of three rows is rolled back",
                "DELETE",
                "todos",
                406,
                headers=OBJECT,
                json=pgrst116(3),
                unchanged=True,
            ),
            Scenario(
                "DELETE of no row", "DELETE", "todos?id=eq.99", 406, headers=OBJECT, json=pgrst116(0), unchanged=True
            ),
            Scenario(
                "bulk POST of two rows is rolled back",
                "POST",
                "todos",
                406,
                headers=both,
                body=[{"title": "a"}, {"title": "b"}],
                json=pgrst116(2),
                unchanged=True,
            ),
            Scenario(
                "POST of an empty array", "POST", "todos", 406, headers=both, body=[], json=pgrst116(0), unchanged=True
            ),
            Scenario(
                "PATCH of exactly one row commits",
                "PATCH",
                "todos?id=eq.1&select=id,note",
                200,
                headers=both,
                body={"note": "single"},
                json={"id": 1, "note": "single"},
            ),
            Scenario(
                "DELETE of exactly one row commits",
                "DELETE",
                "todos?id=eq.3&select=id",
                200,
                headers=both,
                json={"id": 3},
            ),
            Scenario(
                "after: one patched, one deleted",
                "GET",
                "todos?select=id,note&order=id",
                200,
                json=[{"id": 1, "note": "single"}, {"id": 2, "note": "x"}],
            ),
        ],
    )


async def test_tx_rollback_and_max_affected(api: Api) -> None:
    await run_all(
        api,
        [
            Scenario(
                "tx=rollback answers and changes nothing",
                "POST",
                "todos?select=title",
                201,
                headers={"Prefer": "tx=rollback,return=representation"},
                body={"title": "ghost"},
                json=[{"title": "ghost"}],
                unchanged=True,
            ),
            Scenario(
                "max-affected breached with handling=strict",
                "DELETE",
                "todos",
                400,
                headers={"Prefer": "handling=strict, max-affected=1"},
                code="PGRST124",
                unchanged=True,
                json={
                    "code": "PGRST124",
                    "message": "Query result exceeds max-affected preference constraint",
                    "details": "The query affects 3 rows",
                    "hint": None,
                },
            ),
        ],
    )


async def test_client_errors_are_never_retryable(api: Api) -> None:
    """GET/HEAD are retried on 503/520 by the clients: no deterministic error may use them."""
    targets = [
        "nope",
        "todos?id=eq.x",
        "todos?select=(",
        "todos?order=nope",
        "todos?limit=-1",
        "todos?or=(",
        "books?select=nope(*)",
        "todos?title=zz.1",
    ]
    for method in ("GET", "HEAD"):
        for target in targets:
            response = await api.request(method, target)
            assert 400 <= response.status_code < 500, (method, target, response.status_code, response.text)
            assert_error_shape(response)

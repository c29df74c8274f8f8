"""Route-level behaviour of /rest/v1 through the real app: the OpenAPI root, schema profiles, paths,
methods, request body media types, HEAD, the Range headers and CORS preflights."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

from backstack.config import Settings
from tests.rest.http_api import TABLES, Api, Scenario, api, http_settings, run, run_all, running_api

__all__ = ["api"]

pytestmark = pytest.mark.anyio

TODO_IDS = [{"id": 1}, {"id": 2}, {"id": 3}]
CSV_BODY = {"Content-Type": "text/csv", "Prefer": "return=representation"}


async def test_openapi_root(api: Api) -> None:
    response = await run(
        api,
        Scenario("root", "GET", "", 200, expect_headers={"content-type": "application/openapi+json; charset=utf-8"}),
    )
    doc: dict[str, Any] = response.json()
    validate(doc, cls=OpenAPIV2SpecValidator)  # raises on an invalid Swagger 2.0 document
    assert doc["swagger"] == "2.0" and doc["basePath"] == "/rest/v1"
    assert set(doc["paths"]) == {"/", "/whoami", *(f"/{t}" for t in TABLES)}
    assert set(doc["paths"]["/todos"]) == {"get", "post", "patch", "delete"}
    assert set(doc["paths"]["/whoami"]) == {"get"}  # a view: read only
    todos = doc["definitions"]["todos"]
    assert list(todos["properties"]) == ["id", "title", "done", "priority", "note"]
    assert todos["required"] == ["title"]
    assert todos["properties"]["done"] == {"format": "boolean", "type": "boolean", "default": False}
    assert todos["properties"]["priority"] == {"format": "integer", "type": "integer", "default": 1}
    counters = doc["definitions"]["counters"]["properties"]
    assert counters["label"]["default"] == "it's" and counters["ratio"]["default"] == 0.5
    assert "default" not in counters["at"]  # now(): an expression, no JSON value
    assert "Foreign Key to `authors.id`" in doc["definitions"]["books"]["properties"]["author_id"]["description"]
    same = await api.request("GET", "", headers={"Accept": "application/openapi+json"})
    assert same.json() == doc
    bare = await api.client.get("/rest/v1", headers=api.auth())  # the mount redirects to its slash
    assert bare.status_code == 307 and bare.headers["location"] == "http://test/rest/v1/"


async def test_root_methods(api: Api) -> None:
    await run_all(
        api,
        [
            Scenario("HEAD root", "HEAD", "", 200, empty=True),
            Scenario("POST root", "POST", "", 405, body={}, code="PGRST117", message="Unsupported HTTP method: POST"),
            Scenario(
                "root with an unknown profile", "GET", "", 406, headers={"Accept-Profile": "nope"}, code="PGRST106"
            ),
        ],
    )


async def test_openapi_can_be_disabled(engine_settings: Settings) -> None:
    async with running_api(http_settings(engine_settings, openapi=False)) as off:
        await run(
            off,
            Scenario(
                "root disabled",
                "GET",
                "",
                404,
                json={
                    "code": "PGRST126",
                    "message": "Root endpoint metadata is disabled",
                    "details": None,
                    "hint": None,
                },
            ),
        )


def pgrst106(name: str) -> dict[str, Any]:
    return {
        "code": "PGRST106",
        "message": f"Invalid schema: {name}",
        "details": None,
        "hint": "Only the following schemas are exposed: public",
    }


async def test_schema_profiles(api: Api) -> None:
    both = {"Accept-Profile": "public", "Content-Profile": "public"}  # what supabase-py sends on every request
    await run_all(
        api,
        [
            Scenario(
                "GET, unknown Accept-Profile",
                "GET",
                "todos",
                406,
                headers={"Accept-Profile": "nope"},
                json=pgrst106("nope"),
            ),
            Scenario(
                "HEAD, unknown Accept-Profile",
                "HEAD",
                "todos",
                406,
                headers={"Accept-Profile": "nope"},
                code="PGRST106",
                empty=True,
            ),
            Scenario(
                "POST, unknown Content-Profile",
                "POST",
                "todos",
                406,
                headers={"Content-Profile": "auth"},
                body={"title": "x"},
                json=pgrst106("auth"),
                unchanged=True,
            ),
            Scenario(
                "PATCH, unknown Content-Profile",
                "PATCH",
                "todos?id=eq.1",
                406,
                headers={"Content-Profile": "private"},
                body={"title": "x"},
                json=pgrst106("private"),
                unchanged=True,
            ),
            Scenario(
                "DELETE, unknown Content-Profile",
                "DELETE",
                "todos",
                406,
                headers={"Content-Profile": "x"},
                json=pgrst106("x"),
                unchanged=True,
            ),
            Scenario(
                "GET with both profiles public (py)",
                "GET",
                "todos?select=id&order=id",
                200,
                headers=both,
                json=TODO_IDS,
            ),
            Scenario("HEAD with both profiles public", "HEAD", "todos", 200, headers=both, empty=True),
            Scenario(
                "POST with both profiles public",
                "POST",
                "todos?select=title",
                201,
                headers={**both, "Prefer": "return=representation"},
                body={"title": "p"},
                json=[{"title": "p"}],
            ),
            Scenario(
                "PATCH with both profiles public",
                "PATCH",
                "todos?title=eq.p",
                204,
                headers=both,
                body={"note": "n"},
                empty=True,
            ),
            Scenario("DELETE with both profiles public", "DELETE", "todos?title=eq.p", 204, headers=both, empty=True),
            Scenario(
                "GET with Content-Profile only (JS sends Accept-Profile)",
                "GET",
                "todos?select=id&order=id",
                200,
                headers={"Content-Profile": "public"},
                json=TODO_IDS,
            ),
        ],
    )


async def test_paths_and_methods(api: Api) -> None:
    await run_all(
        api,
        [
            Scenario(
                "two path segments", "GET", "a/b", 404, code="PGRST125", message="Invalid path specified in request URL"
            ),
            Scenario("a row path", "GET", "todos/1", 404, code="PGRST125"),
            Scenario("a row path on DELETE", "DELETE", "todos/1", 404, code="PGRST125", unchanged=True),
            Scenario(
                "unknown table",
                "GET",
                "todo",
                404,
                json={
                    "code": "PGRST205",
                    "message": "Could not find the table 'public.todo' in the schema cache",
                    "details": None,
                    "hint": "Perhaps you meant the table 'public.todos'",
                },
            ),
            Scenario("the path is decoded once", "GET", "todo%2573", 404, code="PGRST205", raw_query=True),
            Scenario("a quoted name with a space", "GET", "no%20such", 404, code="PGRST205"),
            Scenario(
                "PUT without the primary key filters",
                "PUT",
                "todos",
                405,
                body={"id": 1, "title": "x"},
                code="PGRST105",
                unchanged=True,
            ),
            Scenario("TRACE", "TRACE", "todos", 405, code="PGRST117", message="Unsupported HTTP method: TRACE"),
            Scenario(
                "OPTIONS without CORS: 200 and Allow",
                "OPTIONS",
                "todos",
                200,
                empty=True,
                expect_headers={"allow": "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"},
            ),
            Scenario(
                "OPTIONS on the root", "OPTIONS", "", 200, empty=True, expect_headers={"allow": "OPTIONS,GET,HEAD"}
            ),
            Scenario("OPTIONS on an unknown table", "OPTIONS", "nope", 404, code="PGRST205"),
        ],
    )


async def test_request_body_media_types(api: Api) -> None:
    await run_all(
        api,
        [
            Scenario(
                "text/csv insert",
                "POST",
                "todos?select=title,done,note",
                201,
                headers=CSV_BODY,
                body='title,done,note\nc1,true,NULL\n"c,2",false,"say ""hi"""\n',
                json=[{"title": "c1", "done": True, "note": None}, {"title": "c,2", "done": False, "note": 'say "hi"'}],
            ),
            Scenario(
                "form-urlencoded insert",
                "POST",
                "todos?select=title,priority",
                201,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Prefer": "return=representation"},
                body="title=f%20one&priority=4",
                json=[{"title": "f one", "priority": 4}],
            ),
            Scenario(
                "form-urlencoded update",
                "PATCH",
                "todos?title=eq.c1&select=note",
                200,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Prefer": "return=representation"},
                body="note=via+form",
                json=[{"note": "via form"}],
            ),
            Scenario(
                "JSON with a charset parameter",
                "POST",
                "todos?select=title",
                201,
                headers={"Content-Type": "application/json; charset=utf-8", "Prefer": "return=representation"},
                body={"title": "cs"},
                json=[{"title": "cs"}],
            ),
            # PostgREST reads an unknown body type as an invalid body: 400 PGRST102.
            Scenario(
                "unsupported Content-Type on POST",
                "POST",
                "todos",
                400,
                headers={"Content-Type": "application/xml"},
                body="<todo/>",
                code="PGRST102",
                message="Content-Type not acceptable: application/xml",
                unchanged=True,
            ),
            Scenario(
                "unsupported Content-Type on PATCH",
                "PATCH",
                "todos?id=eq.1",
                400,
                headers={"Content-Type": "text/plain"},
                body="title=x",
                code="PGRST102",
                unchanged=True,
            ),
            Scenario(
                "CSV with a row longer than the header",
                "POST",
                "todos",
                400,
                headers=CSV_BODY,
                body="title\na,b\n",
                code="PGRST102",
                unchanged=True,
            ),
            Scenario(
                "CSV that is not UTF-8",
                "POST",
                "todos",
                400,
                headers=CSV_BODY,
                body=b"title\n\xff\xfe\n",
                code="PGRST102",
                unchanged=True,
            ),
            Scenario(
                "text/csv response",
                "GET",
                "todos?select=id,title&id=lte.2&order=id",
                200,
                headers={"Accept": "text/csv"},
                expect_headers={"content-type": "text/csv; charset=utf-8"},
            ),
            Scenario(
                "unavailable Accept",
                "GET",
                "todos",
                406,
                headers={"Accept": "application/xml"},
                json={
                    "code": "PGRST107",
                    "message": "None of these media types are available: application/xml",
                    "details": None,
                    "hint": None,
                },
            ),
        ],
    )
    response = await api.request("GET", "todos?select=id,title&id=lte.2&order=id", headers={"Accept": "text/csv"})
    assert response.text == "id,title\n1,one\n2,two"


async def test_head(api: Api) -> None:
    count = {"Prefer": "count=exact"}
    await run_all(
        api,
        [
            Scenario(
                "HEAD",
                "HEAD",
                "todos",
                200,
                empty=True,
                expect_headers={"content-range": "0-2/*", "content-type": "application/json; charset=utf-8"},
            ),
            Scenario(
                "HEAD count", "HEAD", "todos", 200, headers=count, empty=True, expect_headers={"content-range": "0-2/3"}
            ),
            Scenario(
                "HEAD count, partial",
                "HEAD",
                "todos?limit=1&offset=1",
                206,
                headers=count,
                empty=True,
                expect_headers={"content-range": "1-1/3"},
            ),
            Scenario(
                "HEAD of nothing",
                "HEAD",
                "todos?id=eq.0",
                200,
                headers=count,
                empty=True,
                expect_headers={"content-range": "*/0"},
            ),
            Scenario(
                "HEAD with a Range",
                "HEAD",
                "todos",
                206,
                headers={**count, "Range": "0-0"},
                empty=True,
                expect_headers={"content-range": "0-0/3"},
            ),
            Scenario("HEAD error", "HEAD", "todos?id=eq.x", 400, code="22P02", empty=True),
        ],
    )


async def test_range_headers(api: Api) -> None:
    count = {"Prefer": "count=exact"}
    await run_all(
        api,
        [
            Scenario(
                "Range",
                "GET",
                "todos?select=id&order=id",
                200,
                headers={"Range": "1-2", "Range-Unit": "items"},
                json=[{"id": 2}, {"id": 3}],
                expect_headers={"content-range": "1-2/*"},
            ),
            Scenario(
                "Range without Range-Unit",
                "GET",
                "todos?select=id&order=id",
                200,
                headers={"Range": "0-0"},
                json=[{"id": 1}],
                expect_headers={"content-range": "0-0/*"},
            ),
            Scenario(
                "open Range with a count",
                "GET",
                "todos?select=id&order=id",
                206,
                headers={**count, "Range": "1-"},
                json=[{"id": 2}, {"id": 3}],
                expect_headers={"content-range": "1-2/3"},
            ),
            Scenario(
                "Range intersected with limit",
                "GET",
                "todos?select=id&order=id&limit=2",
                200,
                headers={"Range": "1-2"},
                json=[{"id": 2}],
                expect_headers={"content-range": "1-1/*"},
            ),
            Scenario(
                "Range disjoint from limit (PostgREST's wording)",
                "GET",
                "todos?limit=1",
                416,
                headers={"Range": "1-2"},
                code="PGRST103",
            ),
            Scenario(
                "Range in another unit is ignored",
                "GET",
                "todos?select=id&order=id",
                200,
                headers={"Range": "0-0", "Range-Unit": "bytes"},
                json=TODO_IDS,
            ),
            Scenario(
                "malformed Range is ignored",
                "GET",
                "todos?select=id&order=id",
                200,
                headers={"Range": "abc"},
                json=TODO_IDS,
            ),
            Scenario(
                "Range with lower > upper",
                "GET",
                "todos",
                416,
                headers={"Range": "2-1"},
                json={
                    "code": "PGRST103",
                    "message": "Requested range not satisfiable",
                    "details": (
                        "The lower boundary must be lower than or equal to the upper boundary in the Range header."
                    ),
                    "hint": None,
                },
            ),
            Scenario(
                "Range past the end with a count",
                "GET",
                "todos",
                416,
                headers={**count, "Range": "5-9"},
                code="PGRST103",
            ),
            Scenario(
                "Range past the end without a count",
                "GET",
                "todos",
                200,
                headers={"Range": "5-9"},
                json=[],
                expect_headers={"content-range": "*/*"},
            ),
            Scenario(
                "Range does not apply to writes",
                "PATCH",
                "todos?select=id",
                200,
                headers={"Range": "0-0", "Prefer": "return=representation"},
                body={"note": "all"},
                json=TODO_IDS,
            ),
            Scenario("negative limit", "GET", "todos?limit=-1", 416, code="PGRST103"),
        ],
    )


PREFLIGHT = {
    "Origin": "http://localhost:5173",
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "apikey, authorization, content-profile, prefer, x-custom",
}
NEEDED = (
    "authorization",
    "apikey",
    "content-type",
    "x-client-info",
    "accept-profile",
    "content-profile",
    "prefer",
    "range",
    "range-unit",
    "x-custom",
)


async def test_cors(api: Api) -> None:
    response = await run(
        api,
        Scenario(
            "preflight, no key",
            "OPTIONS",
            "todos",
            200,
            role="none",
            headers=PREFLIGHT,
            empty=True,
            expect_headers={"access-control-allow-origin": "*"},
        ),
    )
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert set(NEEDED) <= allowed, allowed
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"} <= methods
    origin = {"Origin": "http://localhost:5173"}
    for scenario in (
        Scenario("browser GET", "GET", "todos?id=eq.1&select=id", 200, headers=origin, json=[{"id": 1}]),
        Scenario("browser error", "GET", "nope", 404, headers=origin, code="PGRST205"),
        Scenario("browser without a key", "GET", "todos", 401, role="none", headers=origin, gateway=True),
    ):
        response = await run(api, scenario)
        assert response.headers["access-control-allow-origin"] == "*"
        exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
        assert {"content-range", "proxy-status", "preference-applied", "location"} <= exposed

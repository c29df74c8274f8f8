"""Runaway requests through the real app: each answers (a 4xx, or a bounded page) within seconds.

A 5,000-term `or=`, a 300-deep `or=(and(...))`, a 300-deep embed nesting, very wide selects, orders
and embed lists, and `limit=10000000` on a table with more rows than `max_rows`. The app runs with
`max_url_bytes` raised so the query parsers (not the URL limit) meet these requests; the URL limit
itself (414) is checked too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backstack.config import Settings
from tests.rest.http_api import Api, Scenario, http_settings, run, run_all, running_api

pytestmark = [pytest.mark.anyio, pytest.mark.serial]  # every scenario is timed against FAST

FAST = 2.0  # seconds; every scenario here must answer within this


@pytest.fixture
async def api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings, max_url_bytes=1_000_000)) as running:
        yield running


def nested_tree(depth: int) -> str:
    inner = "id.eq.1"
    for level in range(depth - 1):
        inner = f"{'and' if level % 2 else 'or'}(id.gt.0,{inner})"
    return f"({inner})"


def nested_embeds(depth: int) -> str:
    inner = "id"
    for level in reversed(range(depth)):
        inner = f"id,{'books' if level % 2 == 0 else 'authors'}({inner})"
    return inner


def fast(id: str, target: str, status: int, code: str | None = None, method: str = "GET") -> Scenario:
    return Scenario(id, method, target, status, code=code, seconds=FAST, unchanged=True, raw_query=True)


async def test_huge_filters_and_nesting(api: Api) -> None:
    five_thousand = ",".join(f"id.eq.{i}" for i in range(5000))
    await run_all(
        api,
        [
            fast("5,000-term or=", f"todos?or=({five_thousand})", 400, "PGRST100"),
            fast("5,000-term or= on DELETE", f"todos?or=({five_thousand})", 400, "PGRST100", "DELETE"),
            fast("5,000 repeated filters", "todos?" + "&".join(f"id=neq.{i}" for i in range(5000)), 400, "PGRST100"),
            fast("300-deep or=(and(...))", f"todos?or={nested_tree(300)}", 400, "PGRST100"),
            fast("300-deep and=(or(...)) on PATCH", f"todos?and={nested_tree(300)}", 400, "PGRST100", "PATCH"),
            fast("300-deep embedded or", f"authors?select=id,books(id)&books.or={nested_tree(300)}", 400, "PGRST100"),
            fast("300-deep embed nesting", f"authors?select={nested_embeds(300)}", 400, "PGRST100"),
            fast("300-deep parentheses only", "todos?select=" + "(" * 300 + ")" * 300, 400, "PGRST100"),
            fast("wide select (2,000 columns)", "todos?select=" + ",".join(["id"] * 2000), 400, "54011"),
            fast("wide order (5,000 terms)", "todos?order=" + ",".join(["id.desc"] * 5000), 400, "54001"),
            fast("many embeds (500)", "authors?select=id," + ",".join(["books(id)"] * 500), 400, "PGRST100"),
            fast(
                "5,000-element in list", "todos?select=id&id=in.(" + ",".join(map(str, range(5000))) + ")&order=id", 200
            ),
            fast("5,000-step JSON path", "books?select=meta" + "->a" * 5000, 200 if api.dialect == "sqlite" else 400),
            fast("5,000 casts", "todos?select=id" + "::text" * 5000, 400, "PGRST100"),
            fast("long like pattern", "todos?title=like." + "*a" * 2000, 200),
            fast("regex with nested quantifiers", "todos?title=match." + "(a|a)*" * 20 + "$", 200),
        ],
    )


async def test_the_url_limit(engine_settings: Settings) -> None:
    """With the default max_url_bytes, a 5,000-term or= is refused before any parsing: 414."""
    async with running_api(http_settings(engine_settings)) as default:
        target = "todos?or=(" + ",".join(f"id.eq.{i}" for i in range(5000)) + ")"
        response = await run(
            default, Scenario("URL over the limit", "GET", target, 414, code="BS414", seconds=FAST, raw_query=True)
        )
        assert response.json()["message"].endswith(f"more than the {default.app.settings.max_url_bytes} allowed")


async def test_nesting_within_the_limits_still_works(api: Api) -> None:
    """The limits refuse only the runaway shapes: ordinary depth and width answer normally."""
    four = "authors?select=id,books(id,authors(id,books(id,authors(id))))&id=eq.1&books.order=id&books.limit=1"
    response = await run(api, fast("four embed levels", four, 200))
    assert response.json() == [
        {
            "id": 1,
            "books": [
                {
                    "id": 1,
                    "authors": {"id": 1, "books": [{"id": 1, "authors": {"id": 1}}, {"id": 2, "authors": {"id": 1}}]},
                }
            ],
        }
    ]
    await run_all(
        api,
        [
            fast("16-deep logic tree (max_nesting)", f"todos?select=id&or={nested_tree(16)}", 200),
            fast("17-deep logic tree", f"todos?select=id&or={nested_tree(17)}", 400, "PGRST100"),
            fast("100 embeds", "authors?select=id," + ",".join(["books(id)"] * 100) + "&id=eq.0", 200),
            fast("1,664 columns", "todos?select=" + ",".join(["id"] * 1664) + "&id=eq.0", 200),
            fast("500 filter terms", "todos?or=(" + ",".join(f"id.eq.{i}" for i in range(500)) + ")&select=id", 200),
        ],
    )
    deep = await api.request("GET", f"authors?select={nested_embeds(8)}", raw_query=True)
    if api.dialect == "sqlite":  # SQLite < 3.46 cannot parse statements nested this deep: a clear 400
        assert deep.status_code == 400 and deep.json()["code"] == "54001", deep.text
    else:
        assert deep.status_code == 200, deep.text


async def test_limit_is_bounded_by_max_rows(api: Api) -> None:
    max_rows = api.app.settings.max_rows
    rows = [{"id": i, "n": i} for i in range(1, max_rows + 51)]
    await run(api, Scenario("seed", "POST", "counters?columns=id,n", 201, body=rows, empty=True))
    total = max_rows + 50
    count = {"Prefer": "count=exact"}
    await run_all(
        api,
        [
            fast("limit=10000000, no count: a full page of max_rows, 200", "counters?select=id&limit=10000000", 200),
            Scenario(
                "limit=10000000 with count: 206 and the true total",
                "GET",
                "counters?select=id&limit=10000000",
                206,
                headers=count,
                seconds=FAST,
                expect_headers={"content-range": f"0-{max_rows - 1}/{total}"},
            ),
            Scenario(
                "no limit with count: 206",
                "GET",
                "counters?select=id",
                206,
                headers=count,
                seconds=FAST,
                expect_headers={"content-range": f"0-{max_rows - 1}/{total}"},
            ),
            Scenario(
                "offset near the end: the rest",
                "GET",
                f"counters?select=id&order=id&offset={total - 10}&limit=10000000",
                206,
                headers=count,
                seconds=FAST,
                expect_headers={"content-range": f"{total - 10}-{total - 1}/{total}"},
            ),
            Scenario(
                "Range: 0-10000000",
                "GET",
                "counters?select=id",
                206,
                headers={**count, "Range": "0-10000000"},
                seconds=FAST,
                expect_headers={"content-range": f"0-{max_rows - 1}/{total}"},
            ),
            Scenario(
                "limit beyond 64 bits",
                "GET",
                "counters?select=id&limit=99999999999999999999999",
                200,
                seconds=FAST,
                expect_headers={"content-range": f"0-{max_rows - 1}/*"},
            ),
            Scenario(
                "embedded limit is bounded too",
                "GET",
                "authors?select=id,books(id)&books.limit=10000000&id=eq.1",
                200,
                seconds=FAST,
                json=[{"id": 1, "books": [{"id": 1}, {"id": 2}]}],
            ),
        ],
    )
    page = await api.request("GET", "counters?select=id&limit=10000000&order=id")
    assert len(page.json()) == max_rows and page.json()[-1] == {"id": max_rows}
    csv = await api.request("GET", "counters?select=id&limit=10000000", headers={"Accept": "text/csv"})
    assert csv.text.count("\n") == max_rows  # header + max_rows lines, no trailing newline

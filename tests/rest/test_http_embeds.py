"""Embedded resources through the real app: cardinality, `!inner`, `rel=not.is.null`, embedded order/limit.

Schema (http_api.SCHEMA): books -> authors (many-to-one), authors -> books (one-to-many),
authors - profiles (one-to-one), books <-> tags through book_tags (many-to-many).
"""

from __future__ import annotations

import pytest

from tests.rest.http_api import Api, Scenario, api, run_all

__all__ = ["api"]

pytestmark = pytest.mark.anyio


def get(id: str, target: str, json: object, status: int = 200) -> Scenario:
    return Scenario(id, "GET", target, status, json=json)


EMBEDS = [
    get(
        "many-to-one is an object (or null)",
        "books?select=title,authors(name)&order=id",
        [
            {"title": "Dune", "authors": {"name": "Ann"}},
            {"title": "Emma", "authors": {"name": "Ann"}},
            {"title": "Ulysses", "authors": {"name": "Bob"}},
            {"title": "Zed", "authors": None},
        ],
    ),
    get(
        "one-to-many is an array (possibly empty)",
        "authors?select=name,books(title)&order=id&books.order=id",
        [
            {"name": "Ann", "books": [{"title": "Dune"}, {"title": "Emma"}]},
            {"name": "Bob", "books": [{"title": "Ulysses"}]},
            {"name": "Cy", "books": []},
        ],
    ),
    get(
        "one-to-one is an object (or null)",
        "authors?select=name,profiles(bio)&order=id",
        [
            {"name": "Ann", "profiles": {"bio": "Ann writes"}},
            {"name": "Bob", "profiles": None},
            {"name": "Cy", "profiles": None},
        ],
    ),
    get(
        "many-to-many through the junction is an array",
        "books?select=title,tags(label)&order=id&tags.order=id",
        [
            {"title": "Dune", "tags": [{"label": "sf"}, {"label": "classic"}]},
            {"title": "Emma", "tags": [{"label": "romance"}]},
            {"title": "Ulysses", "tags": []},
            {"title": "Zed", "tags": []},
        ],
    ),
    get(
        "alias and nested embeds",
        "books?select=title,writer:authors(name,profiles(bio))&id=lte.2&order=id",
        [
            {"title": "Dune", "writer": {"name": "Ann", "profiles": {"bio": "Ann writes"}}},
            {"title": "Emma", "writer": {"name": "Ann", "profiles": {"bio": "Ann writes"}}},
        ],
    ),
    get(
        "hint by FK column",
        "books?select=title,authors!author_id(name)&id=eq.3",
        [{"title": "Ulysses", "authors": {"name": "Bob"}}],
    ),
    get(
        "hint by constraint name",
        "books?select=title,authors!books_author_id_fkey(name)&id=eq.3",
        [{"title": "Ulysses", "authors": {"name": "Bob"}}],
    ),
    get(
        "embedded filter does not filter parents",
        "authors?select=name,books(title)&books.title=eq.Emma&order=id",
        [{"name": "Ann", "books": [{"title": "Emma"}]}, {"name": "Bob", "books": []}, {"name": "Cy", "books": []}],
    ),
    get(
        "!inner filters parents",
        "authors?select=name,books!inner(title)&books.title=eq.Emma&order=id",
        [{"name": "Ann", "books": [{"title": "Emma"}]}],
    ),
    get(
        "!inner without a filter drops parents with no children",
        "authors?select=name,books!inner(title)&order=id&books.order=id",
        [
            {"name": "Ann", "books": [{"title": "Dune"}, {"title": "Emma"}]},
            {"name": "Bob", "books": [{"title": "Ulysses"}]},
        ],
    ),
    get(
        "!inner on a to-one embed",
        "books?select=title,authors!inner(name)&authors.name=eq.Bob",
        [{"title": "Ulysses", "authors": {"name": "Bob"}}],
    ),
    get(
        "rel=not.is.null filters parents like !inner",
        "authors?select=name,books(title)&books.title=eq.Emma&books=not.is.null&order=id",
        [{"name": "Ann", "books": [{"title": "Emma"}]}],
    ),
    get(
        "rel=is.null keeps the parents without a match",
        "authors?select=name,books(title)&books.title=eq.Emma&books=is.null&order=id",
        [{"name": "Bob", "books": []}, {"name": "Cy", "books": []}],
    ),
    get("to-one rel=is.null", "books?select=title,authors(name)&authors=is.null", [{"title": "Zed", "authors": None}]),
    get(
        "empty embed used only for filtering",
        "books?select=title,authors!inner()&authors.country=eq.NZ&order=id",
        [{"title": "Dune"}, {"title": "Emma"}],
    ),
    get(
        "embedded order and limit",
        "authors?select=name,books(title)&books.order=title.desc&books.limit=1&order=id",
        [
            {"name": "Ann", "books": [{"title": "Emma"}]},
            {"name": "Bob", "books": [{"title": "Ulysses"}]},
            {"name": "Cy", "books": []},
        ],
    ),
    get(
        "embedded offset",
        "authors?select=name,books(title)&books.order=title&books.offset=1&id=eq.1",
        [{"name": "Ann", "books": [{"title": "Emma"}]}],
    ),
    get(
        "embedded or",
        "authors?select=name,books(title)&books.or=(title.eq.Dune,pages.gt.700)&order=id&books.order=id",
        [
            {"name": "Ann", "books": [{"title": "Dune"}]},
            {"name": "Bob", "books": [{"title": "Ulysses"}]},
            {"name": "Cy", "books": []},
        ],
    ),
    get(
        "order parents by a to-one embed",
        "books?select=title,authors(name)&order=authors(name).desc.nullslast,id&author_id=not.is.null",
        [
            {"title": "Ulysses", "authors": {"name": "Bob"}},
            {"title": "Dune", "authors": {"name": "Ann"}},
            {"title": "Emma", "authors": {"name": "Ann"}},
        ],
    ),
    get(
        "spread a to-one embed",
        "books?select=title,...authors(author:name)&id=eq.1",
        [{"title": "Dune", "author": "Ann"}],
    ),
    Scenario(
        "singular Accept with an embed",
        "GET",
        "authors?select=name,books(title)&id=eq.2",
        200,
        headers={"Accept": "application/vnd.pgrst.object+json"},
        json={"name": "Bob", "books": [{"title": "Ulysses"}]},
    ),
    Scenario(
        "filter on an embed that is not selected",
        "GET",
        "authors?select=name&books.title=eq.Dune",
        400,
        code="PGRST108",
    ),
    Scenario(
        "order by a to-many embed", "GET", "authors?select=name,books(title)&order=books(title)", 400, code="PGRST118"
    ),
    Scenario("bad operator on an embed", "GET", "authors?select=name,books(title)&books=eq.1", 400, code="PGRST120"),
    Scenario("no relationship", "GET", "todos?select=title,authors(name)", 400, code="PGRST200"),
    Scenario(
        "count with an embed",
        "GET",
        "authors?select=name,books!inner(title)&limit=1&order=id",
        206,
        headers={"Prefer": "count=exact"},
        expect_headers={"content-range": "0-0/2"},
        json=[{"name": "Ann", "books": [{"title": "Dune"}, {"title": "Emma"}]}],
    ),
]


async def test_embeds(api: Api) -> None:
    await run_all(api, EMBEDS)


async def test_write_representation_with_embeds(api: Api) -> None:
    rep = {"Prefer": "return=representation"}
    await run_all(
        api,
        [
            Scenario(
                "insert returns an embed",
                "POST",
                "books?select=title,authors(name)",
                201,
                headers=rep,
                body={"title": "New", "author_id": 3},
                json=[{"title": "New", "authors": {"name": "Cy"}}],
            ),
            Scenario(
                "update returns a to-many embed",
                "PATCH",
                "authors?id=eq.3&select=name,books(title)",
                200,
                headers=rep,
                body={"country": "CA"},
                json=[{"name": "Cy", "books": [{"title": "New"}]}],
            ),
            Scenario(
                "delete returns an embed",
                "DELETE",
                "books?title=eq.New&select=title,authors(name)",
                200,
                headers=rep,
                json=[{"title": "New", "authors": {"name": "Cy"}}],
            ),
        ],
    )

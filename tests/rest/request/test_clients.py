"""The exact query strings and headers supabase-py's postgrest builder produces parse as intended.

Each case builds a request with the real client (never sent), URL-encodes its parameters the way
httpx puts them on the wire, decodes them as the server will, and checks the resulting AST.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import postgrest
import pytest

from backstack.rest.request.parse import parse_accept, parse_columns, parse_on_conflict, parse_prefer, parse_read
from backstack.rest.request.query import (
    Accept,
    Condition,
    Embed,
    EmbedNullFilter,
    Field,
    Filter,
    JsonStep,
    Logic,
    OrderTerm,
    Preferences,
    ReadQuery,
    SelectField,
    Star,
)

Builder = Any  # postgrest's builders are generic over the HTTP client; tests only read .request


@pytest.fixture(scope="module")
def client() -> Iterator[postgrest.SyncPostgrestClient]:
    client = postgrest.SyncPostgrestClient("http://backstack.invalid")
    yield client
    client.session.close()


def wire(builder: Builder) -> list[tuple[str, str]]:
    """The builder's params as the server decodes them from the encoded query string."""
    return parse_qsl(str(builder.request.params), keep_blank_values=True)


def read(builder: Builder) -> ReadQuery:
    return parse_read(wire(builder), max_terms=500, max_depth=16)


def leaf(name: str, op: str, value: object, **kw: object) -> Filter:
    return Filter(Field(name), op, value, **kw)  # type: ignore[arg-type]


Case = tuple[str, Callable[[Builder], Builder], list[Condition]]

FILTER_CASES: list[Case] = [
    ("eq int", lambda q: q.eq("a", 1), [leaf("a", "eq", "1")]),
    ("eq None", lambda q: q.eq("a", None), [leaf("a", "eq", "null")]),
    ("eq bool", lambda q: q.eq("a", True), [leaf("a", "eq", "true")]),
    ("eq spaces", lambda q: q.eq("a", "hello world"), [leaf("a", "eq", "hello world")]),
    ("eq plus", lambda q: q.eq("a", "1+1=2 & 50%"), [leaf("a", "eq", "1+1=2 & 50%")]),
    ("eq dotted value", lambda q: q.eq("a", "x.y,z"), [leaf("a", "eq", "x.y,z")]),
    ("eq dict", lambda q: q.eq("a", {"k": [1, 2]}), [leaf("a", "eq", '{"k":[1,2]}')]),
    ("neq", lambda q: q.neq("a", "x"), [leaf("a", "neq", "x")]),
    ("gt", lambda q: q.gt("a", 1.5), [leaf("a", "gt", "1.5")]),
    ("gte", lambda q: q.gte("a", 2), [leaf("a", "gte", "2")]),
    ("lt", lambda q: q.lt("a", "2024-01-01T00:00:00+00:00"), [leaf("a", "lt", "2024-01-01T00:00:00+00:00")]),
    ("lte", lambda q: q.lte("a", -3), [leaf("a", "lte", "-3")]),
    ("like", lambda q: q.like("a", "%abc%"), [leaf("a", "like", "%abc%")]),
    ("like star", lambda q: q.like("a", "*abc*"), [leaf("a", "like", "*abc*")]),
    ("ilike", lambda q: q.ilike("a", "ab_c%"), [leaf("a", "ilike", "ab_c%")]),
    ("like any", lambda q: q.like_any_of("a", "a*,b*"), [leaf("a", "like", ("a*", "b*"), quantifier="any")]),
    ("like all", lambda q: q.like_all_of("a", "%a%,%b%"), [leaf("a", "like", ("%a%", "%b%"), quantifier="all")]),
    ("ilike any", lambda q: q.ilike_any_of("a", "x*"), [leaf("a", "ilike", ("x*",), quantifier="any")]),
    ("ilike all", lambda q: q.ilike_all_of("a", "x*,y*"), [leaf("a", "ilike", ("x*", "y*"), quantifier="all")]),
    ("is None", lambda q: q.is_("a", None), [leaf("a", "is", "null")]),
    ("is True", lambda q: q.is_("a", True), [leaf("a", "is", "true")]),
    ("is False", lambda q: q.is_("a", False), [leaf("a", "is", "false")]),
    ("not is None", lambda q: q.not_.is_("a", None), [leaf("a", "is", "null", negated=True)]),
    ("not eq", lambda q: q.not_.eq("a", 5), [leaf("a", "eq", "5", negated=True)]),
    (
        "in quoting",
        lambda q: q.in_("a", ["x,y", "z", None, 'q"r', "a\\b", "(p)", "k:v", 7]),
        [leaf("a", "in", ("x,y", "z", "null", 'q"r', "a\\b", "(p)", "k:v", "7"))],
    ),
    ("in empty", lambda q: q.in_("a", []), [leaf("a", "in", ())]),
    ("not in", lambda q: q.not_.in_("a", [1, 2]), [leaf("a", "in", ("1", "2"), negated=True)]),
    ("fts", lambda q: q.fts("t", "cat & dog"), [leaf("t", "fts", "cat & dog")]),
    ("plfts", lambda q: q.plfts("t", "cat dog"), [leaf("t", "plfts", "cat dog")]),
    ("phfts", lambda q: q.phfts("t", "cat dog"), [leaf("t", "phfts", "cat dog")]),
    ("wfts", lambda q: q.wfts("t", '"cat dog" -fish'), [leaf("t", "wfts", '"cat dog" -fish')]),
    (
        "text_search config",
        lambda q: q.text_search("t", "a b", options={"config": "english", "type": "web_search"}),
        [leaf("t", "wfts", "a b", fts_config="english")],
    ),
    (
        "text_search plain",
        lambda q: q.text_search("t", "a b", options={"type": "plain"}),
        [leaf("t", "plfts", "a b")],
    ),
    ("cs list", lambda q: q.cs("tags", ["a b", "c,d", None, ""]), [leaf("tags", "cs", '{"a b","c,d",NULL,""}')]),
    ("cd list", lambda q: q.cd("tags", ["a", "b"]), [leaf("tags", "cd", "{a,b}")]),
    ("ov list", lambda q: q.ov("tags", [1, 3]), [leaf("tags", "ov", "{1,3}")]),
    ("contains dict", lambda q: q.contains("j", {"a": 1}), [leaf("j", "cs", '{"a": 1}')]),
    ("contains range", lambda q: q.contains("r", "[1,5)"), [leaf("r", "cs", "[1,5)")]),
    ("contained_by", lambda q: q.contained_by("r", ["x"]), [leaf("r", "cd", "{x}")]),
    ("overlaps range", lambda q: q.ov("r", "[1,5]"), [leaf("r", "ov", "[1,5]")]),
    ("sl", lambda q: q.sl("r", (1, 10)), [leaf("r", "sl", "(1,10)")]),
    ("sr", lambda q: q.sr("r", (1, 10)), [leaf("r", "sr", "(1,10)")]),
    ("nxl", lambda q: q.nxl("r", (1, 10)), [leaf("r", "nxl", "(1,10)")]),
    ("nxr", lambda q: q.nxr("r", (1, 10)), [leaf("r", "nxr", "(1,10)")]),
    ("adj", lambda q: q.adj("r", (1, 10)), [leaf("r", "adj", "(1,10)")]),
    ("range_gte", lambda q: q.range_gte("r", (1, 10)), [leaf("r", "nxl", "(1,10)")]),
    ("match", lambda q: q.match({"a": 1, "b": "x"}), [leaf("a", "eq", "1"), leaf("b", "eq", "x")]),
    ("filter raw", lambda q: q.filter("a", "in", "(1,2)"), [leaf("a", "in", ("1", "2"))]),
    ("filter not", lambda q: q.filter("a", "not.eq", "1"), [leaf("a", "eq", "1", negated=True)]),
    ("quoted key", lambda q: q.eq("a,b", 1), [leaf("a,b", "eq", "1")]),
    ("quote in key", lambda q: q.eq('a"b', "v"), [leaf('a"b', "eq", "v")]),
    ("unicode", lambda q: q.eq("名前", "値"), [leaf("名前", "eq", "値")]),
    ("json key", lambda q: q.eq("data->>k", "x"), [Filter(Field("data", (JsonStep("->>", "k"),)), "eq", "x")]),
    (
        "or",
        lambda q: q.or_("a.eq.1,b.gt.2,and(c.lt.3,d.is.null)"),
        [
            Logic(
                "or",
                (
                    leaf("a", "eq", "1"),
                    leaf("b", "gt", "2"),
                    Logic("and", (leaf("c", "lt", "3"), leaf("d", "is", "null"))),
                ),
            )
        ],
    ),
    (
        "not or",
        lambda q: q.not_.or_("a.eq.1,b.eq.2"),
        [Logic("or", (leaf("a", "eq", "1"), leaf("b", "eq", "2")), negated=True)],
    ),
    (
        "or quoted",
        lambda q: q.or_('name.eq."a,b",x.in.("c)","d")'),
        [Logic("or", (leaf("name", "eq", "a,b"), leaf("x", "in", ("c)", "d"))))],
    ),
]


@pytest.mark.parametrize(("name", "build", "where"), FILTER_CASES, ids=[case[0] for case in FILTER_CASES])
def test_filters(
    client: postgrest.SyncPostgrestClient, name: str, build: Callable[[Builder], Builder], where: list[Condition]
) -> None:
    query = read(build(client.from_("t").select("*")))
    assert query.select == (Star(),)
    assert query.where == {(): where}


def test_select_whitespace_is_stripped_by_the_client(client: postgrest.SyncPostgrestClient) -> None:
    query = read(client.from_("t").select('id, name, owner:profiles!inner ( name ), "my col"'))
    assert query.select == (
        SelectField(Field("id")),
        SelectField(Field("name")),
        Embed("profiles", (SelectField(Field("name")),), alias="owner", join="inner"),
        SelectField(Field("my col")),
    )


def test_embedded_filters_order_and_paging(client: postgrest.SyncPostgrestClient) -> None:
    builder = (
        client.from_("t")
        .select("*, books(title, reviews(*))")
        .eq("books.title", "x")
        .or_("title.eq.a,title.eq.b", reference_table="books")
        .not_.or_("stars.lt.2", reference_table="books.reviews")
        .order("id", desc=True, nullsfirst=False)
        .order("name")
        .order("title", foreign_table="books")
        .limit(3, foreign_table="books")
        .range(10, 19)
    )
    query = read(builder)
    assert query.where == {
        ("books",): [leaf("title", "eq", "x"), Logic("or", (leaf("title", "eq", "a"), leaf("title", "eq", "b")))],
        ("books", "reviews"): [Logic("or", (leaf("stars", "lt", "2"),), negated=True)],
    }
    assert query.order == {
        (): (OrderTerm(Field("id"), True, "last"), OrderTerm(Field("name"))),
        ("books",): (OrderTerm(Field("title")),),
    }
    assert query.limit == {("books",): 3, (): 10}
    assert query.offset == {(): 10}


def test_embed_null_filter_from_client(client: postgrest.SyncPostgrestClient) -> None:
    builder = client.from_("t").select("*, books()").not_.is_("books", None)
    assert read(builder).where == {(): [EmbedNullFilter("books", is_null=False)]}


def test_order_nullsfirst_and_limit_offset(client: postgrest.SyncPostgrestClient) -> None:
    query = read(client.from_("t").select("*").order("a", nullsfirst=True).limit(5).offset(2))
    assert query.order == {(): (OrderTerm(Field("a"), False, "first"),)}
    assert (query.limit, query.offset) == ({(): 5}, {(): 2})


def test_upsert_params_and_prefer(client: postgrest.SyncPostgrestClient) -> None:
    builder = client.from_("t").upsert(
        [{"a": 1, "b c": 2, 'q"r': 3}], on_conflict="a,b c", ignore_duplicates=True, default_to_null=False
    )
    params = dict(wire(builder))
    assert set(parse_columns(params["columns"])) == {"a", "b c", 'q"r'}
    assert parse_on_conflict(params["on_conflict"]) == ("a", "b c")
    assert parse_read(wire(builder), max_terms=10, max_depth=4).where == {}
    prefer = parse_prefer(builder.request.headers.get_list("prefer"))
    assert prefer == Preferences(return_="representation", resolution="ignore-duplicates", missing="default")


def test_insert_upsert_prefer(client: postgrest.SyncPostgrestClient) -> None:
    builder = client.from_("t").insert([{"a": 1}, {"b": 2}], upsert=True)
    assert set(parse_columns(dict(wire(builder))["columns"])) == {"a", "b"}
    prefer = parse_prefer(builder.request.headers.get_list("prefer"))
    assert (prefer.return_, prefer.resolution) == ("representation", "merge-duplicates")


def test_update_with_max_affected(client: postgrest.SyncPostgrestClient) -> None:
    builder = client.from_("t").update({"a": 1}, count="exact").eq("id", 1).max_affected(3)
    assert read(builder).where == {(): [leaf("id", "eq", "1")]}
    prefer = parse_prefer(builder.request.headers.get_list("prefer"))
    assert prefer == Preferences(return_="representation", count="exact", handling="strict", max_affected=3)


def test_delete_filters(client: postgrest.SyncPostgrestClient) -> None:
    builder = client.from_("t").delete(returning="minimal").in_("id", [1, 2]).neq("x", "y")
    assert read(builder).where == {(): [leaf("id", "in", ("1", "2")), leaf("x", "neq", "y")]}
    assert parse_prefer(builder.request.headers.get_list("prefer")).return_ == "minimal"


@pytest.mark.parametrize(
    ("build", "accept"),
    [
        (lambda q: q, Accept("json")),
        (lambda q: q.single(), Accept("object")),
        (lambda q: q.csv(), Accept("csv")),
    ],
)
def test_accept_from_client(
    client: postgrest.SyncPostgrestClient, build: Callable[[Builder], Builder], accept: Accept
) -> None:
    builder = build(client.from_("t").select("*", count="exact"))
    assert parse_accept(builder.request.headers.get("accept")) == accept
    assert parse_prefer(builder.request.headers.get_list("prefer")).count == "exact"


@pytest.mark.parametrize(
    ("header", "accept"),
    [
        # what RequestConfig.send sets when strip_nulls() was called
        ("application/vnd.pgrst.array+json;nulls=stripped", Accept("json", strip_nulls=True)),
        ("application/vnd.pgrst.object+json;nulls=stripped", Accept("object", strip_nulls=True)),
    ],
)
def test_strip_nulls_accept(header: str, accept: Accept) -> None:
    assert parse_accept(header) == accept

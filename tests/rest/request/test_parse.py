"""`parse_read`: which parameter is which, embed paths, order, paging, limits (contract/rest.md 2.2, 2.5)."""

from __future__ import annotations

import contextlib
import time
from urllib.parse import parse_qsl

import pytest

from backstack.core.errors import ApiError, BadRequest, RangeNotSatisfiable
from backstack.rest.request.parse import parse_columns, parse_limit, parse_on_conflict, parse_read
from backstack.rest.request.query import (
    Embed,
    EmbedNullFilter,
    Field,
    Filter,
    JsonStep,
    Logic,
    OrderTerm,
    ReadQuery,
    SelectField,
    Star,
)


def read(query: str, *, max_terms: int = 50, max_depth: int = 8) -> ReadQuery:
    """Parse a raw query string as the router will hand it over (decoded pairs, order kept)."""
    return parse_read(parse_qsl(query, keep_blank_values=True), max_terms=max_terms, max_depth=max_depth)


def leaf(name: str, op: str, value: object, **kw: object) -> Filter:
    return Filter(Field(name), op, value, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- sorting parameters


def test_defaults() -> None:
    assert read("") == ReadQuery()
    assert read("").select == (Star(),)


def test_everything_at_once() -> None:
    query = read(
        "select=id,books!inner(title,reviews(*))&age=gte.18&age=lte.30&books.title=eq.x"
        "&books.reviews.stars=gt.3&or=(a.eq.1,b.eq.2)&books.or=(title.eq.a,title.eq.b)"
        "&order=id.desc&books.order=title&limit=10&offset=20&books.limit=2&books.offset=1"
        "&books.reviews.limit=5"
    )
    assert query.where == {
        (): [
            leaf("age", "gte", "18"),
            leaf("age", "lte", "30"),
            Logic("or", (leaf("a", "eq", "1"), leaf("b", "eq", "2"))),
        ],
        ("books",): [leaf("title", "eq", "x"), Logic("or", (leaf("title", "eq", "a"), leaf("title", "eq", "b")))],
        ("books", "reviews"): [leaf("stars", "gt", "3")],
    }
    assert query.order == {(): (OrderTerm(Field("id"), descending=True),), ("books",): (OrderTerm(Field("title")),)}
    assert query.limit == {(): 10, ("books",): 2, ("books", "reviews"): 5}
    assert query.offset == {(): 20, ("books",): 1}


@pytest.mark.parametrize("reserved", ["columns", "on_conflict"])
def test_write_params_are_not_filters(reserved: str) -> None:
    assert read(f'{reserved}="a","b"&x=eq.1').where == {(): [leaf("x", "eq", "1")]}


def test_same_column_twice_is_anded_not_overwritten() -> None:
    assert read("age=gte.18&age=lte.30").where[()] == [leaf("age", "gte", "18"), leaf("age", "lte", "30")]


def test_first_select_wins_like_postgrest() -> None:
    assert read("select=id&select=name").select == (SelectField(Field("id")),)


def test_empty_select_is_an_empty_list() -> None:
    assert read("select=").select == ()


def test_empty_values_are_ignored() -> None:
    assert read("a=&order=&limit=") == ReadQuery()


def test_dotted_keys_are_embed_paths_unless_quoted() -> None:
    assert read('select=*,my(*)&my.col=eq.1&"my.col"=eq.2').where == {
        ("my",): [leaf("col", "eq", "1")],
        (): [leaf("my.col", "eq", "2")],
    }


def test_reserved_words_as_quoted_columns() -> None:
    query = read('"order"=eq.1&"limit"=eq.2&"or"=eq.3&"select"=eq.4')
    assert query.where[()] == [
        leaf("order", "eq", "1"),
        leaf("limit", "eq", "2"),
        leaf("or", "eq", "3"),
        leaf("select", "eq", "4"),
    ]
    assert query.order == {} and query.limit == {}


def test_json_path_filter_keys() -> None:
    assert read("data->>k=eq.x&data->a->0=gt.1").where[()] == [
        Filter(Field("data", (JsonStep("->>", "k"),)), "eq", "x"),
        Filter(Field("data", (JsonStep("->", "a"), JsonStep("->", 0))), "gt", "1"),
    ]


# ---------------------------------------------------------------- logic trees


@pytest.mark.parametrize(
    ("query", "path", "expected"),
    [
        ("or=(a.eq.1)", (), Logic("or", (leaf("a", "eq", "1"),))),
        ("and=(a.eq.1)", (), Logic("and", (leaf("a", "eq", "1"),))),
        ("not.or=(a.eq.1)", (), Logic("or", (leaf("a", "eq", "1"),), negated=True)),
        ("not.and=(a.eq.1)", (), Logic("and", (leaf("a", "eq", "1"),), negated=True)),
        ("select=*,r(*)&r.or=(a.eq.1)", ("r",), Logic("or", (leaf("a", "eq", "1"),))),
        ("select=*,r(*)&r.not.or=(a.eq.1)", ("r",), Logic("or", (leaf("a", "eq", "1"),), negated=True)),
        ("select=*,r(*)&r.and=(a.eq.1)", ("r",), Logic("and", (leaf("a", "eq", "1"),))),
    ],
)
def test_logic_params(query: str, path: tuple[str, ...], expected: Logic) -> None:
    assert read(query).where[path] == [expected]


# ---------------------------------------------------------------- embed null filters


@pytest.mark.parametrize(
    ("query", "path", "expected"),
    [
        ("select=*,books(*)&books=is.null", (), EmbedNullFilter("books", is_null=True)),
        ("select=*,books(*)&books=not.is.null", (), EmbedNullFilter("books", is_null=False)),
        ("select=*,b:books(*)&b=not.is.null", (), EmbedNullFilter("b", is_null=False)),
        ("select=*,books()&books=IS.NULL", (), None),
        ("select=*,...books(*)&books=is.null", (), EmbedNullFilter("books", is_null=True)),
        ("select=*,a(b(*))&a.b=is.null", ("a",), EmbedNullFilter("b", is_null=True)),
        ("books=is.null", (), leaf("books", "is", "null")),
        ("select=*,books(*)&books=eq.1", (), leaf("books", "eq", "1")),
        ("select=*,books(*)&books=is.not_null", (), leaf("books", "is", "not_null")),
    ],
)
def test_embed_null_filters(query: str, path: tuple[str, ...], expected: object) -> None:
    if expected is None:
        with pytest.raises(BadRequest):
            read(query)
        return
    assert read(query).where[path] == [expected]


def test_or_across_embeds_with_not_is_null() -> None:
    query = read("select=*,a(),b()&a.x=eq.1&b.y=eq.2&or=(a.not.is.null,b.not.is.null)")
    assert query.where[()] == [Logic("or", (EmbedNullFilter("a", False), EmbedNullFilter("b", False)))]


# ---------------------------------------------------------------- PGRST108


@pytest.mark.parametrize(
    "query",
    [
        "books.title=eq.x",
        "books.order=title",
        "books.limit=1",
        "books.offset=1",
        "books.or=(a.eq.1)",
        "select=*,books(*)&books.reviews.stars=eq.1",
        "select=*,books(reviews(*))&reviews.stars=eq.1",
    ],
)
def test_unknown_embed_paths(query: str) -> None:
    with pytest.raises(BadRequest) as caught:
        read(query)
    error = caught.value
    assert (error.status, error.code) == (400, "PGRST108")
    assert error.message.endswith("is not an embedded resource in this request")
    assert error.hint is not None and "'select' query parameter" in error.hint


def test_aliased_embed_must_be_addressed_by_alias() -> None:
    with pytest.raises(BadRequest) as caught:
        read("select=*,owner:profiles(*)&profiles.name=eq.x")
    error = caught.value
    assert error.code == "PGRST108"
    assert error.details == "Target names are not allowed in filters if they have an alias"
    assert error.hint == "Change 'profiles' to 'owner' in filters, orders or limits."
    assert read("select=*,owner:profiles(*)&owner.name=eq.x").where == {("owner",): [leaf("name", "eq", "x")]}


# ---------------------------------------------------------------- order


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("id", (OrderTerm(Field("id")),)),
        ("id.asc", (OrderTerm(Field("id")),)),
        ("id.desc", (OrderTerm(Field("id"), descending=True),)),
        ("id.nullsfirst", (OrderTerm(Field("id"), nulls="first"),)),
        ("id.desc.nullslast", (OrderTerm(Field("id"), True, "last"),)),
        ("id.asc.nullsfirst", (OrderTerm(Field("id"), False, "first"),)),
        (
            "a,b.desc,c.nullslast",
            (OrderTerm(Field("a")), OrderTerm(Field("b"), True), OrderTerm(Field("c"), nulls="last")),
        ),
        ("data->>k.desc", (OrderTerm(Field("data", (JsonStep("->>", "k"),)), True),)),
        ("data->0.asc", (OrderTerm(Field("data", (JsonStep("->", 0),))),)),
        ("rel(col).desc", (OrderTerm(Field("col"), True, relation="rel"),)),
        ("rel(data->>k).desc.nullsfirst", (OrderTerm(Field("data", (JsonStep("->>", "k"),)), True, "first", "rel"),)),
        (
            "name,rel(name),id",
            (OrderTerm(Field("name")), OrderTerm(Field("name"), relation="rel"), OrderTerm(Field("id"))),
        ),
        ('"my col".desc', (OrderTerm(Field("my col"), True),)),
        (" a , b.desc ", (OrderTerm(Field("a")), OrderTerm(Field("b"), True))),
    ],
)
def test_order(raw: str, expected: tuple[OrderTerm, ...]) -> None:
    assert read(f"order={raw}").order == {(): expected}


def test_last_order_param_wins() -> None:
    assert read("order=a&order=b").order == {(): (OrderTerm(Field("b")),)}


@pytest.mark.parametrize(
    ("raw", "details"),
    [
        ("id.ac", 'unexpected "a" expecting "asc", "desc", "nullsfirst" or "nullslast"'),
        ("id.descc", 'unexpected "d"'),
        ("id.nulsfist", 'unexpected "n" expecting "asc"'),
        ("id.nullslasttt", 'unexpected "n"'),
        ("id.asc.nlsfst", 'unexpected "n" expecting "nullsfirst" or "nullslast"'),
        ("id.asc.desc", 'unexpected "d" expecting "nullsfirst" or "nullslast"'),
        ("id.nullsfirst.asc", 'unexpected "." expecting'),
        ("clients(name,id)", 'unexpected "," expecting ")" or "->"'),
        ("id,", "unexpected end of input expecting field name"),
        ("id;x", 'unexpected ";"'),
    ],
)
def test_order_errors(raw: str, details: str) -> None:
    with pytest.raises(BadRequest) as caught:
        read(f"order={raw}")
    assert caught.value.code == "PGRST100"
    assert caught.value.message.startswith(f'"failed to parse order ({raw})"')
    assert details in caught.value.details


# ---------------------------------------------------------------- limit / offset


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0", 0), ("10", 10), ("007", 7), (" 5 ", 5), ("9" * 40, 2**63 - 1), ("9223372036854775808", 2**63 - 1)],
)
def test_limit_values(raw: str, value: int) -> None:
    assert parse_limit("limit", raw) == value
    assert parse_limit("offset", raw) == value


def test_negative_limit_is_416() -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        read("limit=-1")
    error = caught.value
    assert (error.status, error.code, error.message) == (416, "PGRST103", "Requested range not satisfiable")
    assert error.details == "Limit should be greater than or equal to zero."


def test_negative_offset_is_postgres_error() -> None:
    with pytest.raises(ApiError) as caught:
        read("offset=-5")
    assert (caught.value.status, caught.value.code) == (400, "2201X")


@pytest.mark.parametrize("raw", ["abc", "1.5", "+5", "1e3", "0x10", "١٢", "5 5", "-"])
@pytest.mark.parametrize("kind", ["limit", "offset"])
def test_garbage_limits(kind: str, raw: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_limit(kind, raw)
    assert caught.value.code == "PGRST100"
    assert caught.value.message.startswith(f'"failed to parse {kind} parameter ({raw})"')


# ---------------------------------------------------------------- columns / on_conflict


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"id","name"', ("id", "name")),
        ("id,name", ("id", "name")),
        ('"b c","a,b","x\\"y"', ("b c", "a,b", 'x"y')),
        ('"a", "b"', ("a", "b")),
        ('"a","a"', ("a",)),
        ('"x;drop table t"', ("x;drop table t",)),
    ],
)
def test_columns_and_on_conflict(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_columns(raw) == expected
    assert parse_on_conflict(raw) == expected


@pytest.mark.parametrize("raw", ["", "a,", '"a', "a b,(c)", ","])
def test_bad_columns(raw: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_columns(raw)
    assert caught.value.message.startswith(f'"failed to parse columns parameter ({raw})"')
    with pytest.raises(BadRequest) as caught:
        parse_on_conflict(raw)
    assert caught.value.message.startswith(f'"failed to parse on_conflict parameter ({raw})"')


# ---------------------------------------------------------------- names round-trip unchanged


@pytest.mark.parametrize(
    "name", ['a"b', "x;drop table t", "名前", "größe", "a b", "Robert'); DROP TABLE students;--", "a.b", "back\\slash"]
)
def test_weird_names_round_trip(name: str) -> None:
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    params = [
        ("select", f"{quoted},x:{quoted}"),
        (quoted, f"eq.{name}"),
        ("or", f"({quoted}.eq.1)"),
        ("order", f"{quoted}.desc"),
    ]
    query = parse_read(params, max_terms=10, max_depth=4)
    assert query.select == (SelectField(Field(name)), SelectField(Field(name), alias="x"))
    assert query.where[()] == [leaf(name, "eq", name), Logic("or", (leaf(name, "eq", "1"),))]
    assert query.order[()] == (OrderTerm(Field(name), True),)


# ---------------------------------------------------------------- limits and cost


def test_term_limit_counts_root_filters_and_tree_leaves() -> None:
    query = "a=eq.1&b=in.(1,2,3)&or=(c.eq.1,and(d.eq.1,e.eq.1))"
    assert read(query, max_terms=5)
    with pytest.raises(BadRequest) as caught:
        read(query, max_terms=4)
    assert (caught.value.code, caught.value.status) == ("PGRST100", 400)
    assert "4" in caught.value.message


@pytest.mark.serial  # bounds its CPU time
def test_huge_or_is_rejected_fast() -> None:
    value = "(" + ",".join(f"c{i}.eq.{i}" for i in range(5000)) + ")"
    started = time.perf_counter()
    with pytest.raises(BadRequest) as caught:
        parse_read([("or", value)], max_terms=500, max_depth=16)
    assert time.perf_counter() - started < 0.5
    assert "more than 500 filter terms" in caught.value.message


def test_many_root_filters_are_rejected() -> None:
    params = [(f"c{i}", "eq.1") for i in range(1000)]
    with pytest.raises(BadRequest):
        parse_read(params, max_terms=500, max_depth=16)


@pytest.mark.serial  # bounds its CPU time
def test_deep_logic_is_rejected_fast_without_recursion_error() -> None:
    value = "(" + "and(" * 300 + "a.eq.1" + ")" * 301
    started = time.perf_counter()
    with pytest.raises(BadRequest) as caught:
        parse_read([("or", value)], max_terms=500, max_depth=16)
    assert time.perf_counter() - started < 0.5
    assert "deeper than 16" in caught.value.message


def test_deep_select_is_rejected() -> None:
    with pytest.raises(BadRequest) as caught:
        read("select=" + "a(" * 300 + "*" + ")" * 300, max_depth=16)
    assert "deeper than 16" in caught.value.message


@pytest.mark.serial  # bounds its CPU time
def test_pathological_inputs_stay_linear() -> None:
    started = time.perf_counter()
    for value in ['"' * 20000, "(" * 20000, "a->" * 5000, "a" * 50000, "\\" * 20000, "{" * 20000]:
        for key in ("select", "order", "or", "x", value[:1000]):
            with contextlib.suppress(ApiError):
                parse_read([(key, value)], max_terms=500, max_depth=16)
    assert time.perf_counter() - started < 2.0


@pytest.mark.serial  # bounds its CPU time
def test_typical_request_is_cheap() -> None:
    params = parse_qsl(
        "select=id,title,owner:profiles!inner(name,avatar_url),tags(*)&done=eq.false&owner.name=ilike.*a*"
        "&or=(priority.gte.3,due.is.null)&order=created_at.desc.nullslast&limit=25&offset=50"
    )
    started = time.perf_counter()
    for _ in range(1000):
        parse_read(params, max_terms=500, max_depth=16)
    assert (time.perf_counter() - started) / 1000 < 0.001  # well under a millisecond per parse


def test_embed_shapes_survive_into_the_query() -> None:
    query = read("select=*,owner:profiles!inner(name)")
    assert query.select == (Star(), Embed("profiles", (SelectField(Field("name")),), alias="owner", join="inner"))

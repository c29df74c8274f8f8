"""`select=` grammar: every item shape PostgREST accepts, and its PGRST100 errors."""

from __future__ import annotations

import pytest

from backstack.core.errors import BadRequest
from backstack.rest.request.query import Embed, Field, JsonStep, SelectField, SelectItem, Star
from backstack.rest.request.select import parse_select


def col(name: str, **kw: object) -> SelectField:
    return SelectField(Field(name), **kw)  # type: ignore[arg-type]


def select(raw: str, max_depth: int = 8) -> tuple[SelectItem, ...]:
    return parse_select(raw, max_depth=max_depth)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("*", (Star(),)),
        ("", ()),
        ("id", (col("id"),)),
        ("id,name", (col("id"), col("name"))),
        ('"quoted col"', (col("quoted col"),)),
        ('"a,b"', (col("a,b"),)),
        ('"with \\"escape\\""', (col('with "escape"'),)),
        ('"a""b"', (col('a"b'),)),
        ("first-name", (col("first-name"),)),
        ("inner space", (col("inner space"),)),
        ("$col_1", (col("$col_1"),)),
        ("größe,名前", (col("größe"), col("名前"))),
        ("alias:col", (col("col", alias="alias"),)),
        ("col::text", (col("col", cast="text"),)),
        ("alias:col::int", (col("col", alias="alias", cast="int"),)),
        ("col::double precision", (col("col", cast="double precision"),)),
        ("data->a->>b", (SelectField(Field("data", (JsonStep("->", "a"), JsonStep("->>", "b")))),)),
        ("data->0", (SelectField(Field("data", (JsonStep("->", 0),))),)),
        ("data->-1", (SelectField(Field("data", (JsonStep("->", -1),))),)),
        ("data->0->>num", (SelectField(Field("data", (JsonStep("->", 0), JsonStep("->>", "num")))),)),
        ("data->'x'", (SelectField(Field("data", (JsonStep("->", "'x'"),))),)),
        ('data->"a.b"', (SelectField(Field("data", (JsonStep("->", "a.b"),))),)),
        ("data->my-key", (SelectField(Field("data", (JsonStep("->", "my-key"),))),)),
        ("alias:data->>k", (SelectField(Field("data", (JsonStep("->>", "k"),)), alias="alias"),)),
        ("data->>k::int", (SelectField(Field("data", (JsonStep("->>", "k"),)), cast="int"),)),
        ("count()", (SelectField(None, aggregate="count"),)),
        ("total:count()", (SelectField(None, alias="total", aggregate="count"),)),
        ("count()::int", (SelectField(None, aggregate="count", aggregate_cast="int"),)),
        ("amount.sum()", (col("amount", aggregate="sum"),)),
        ("amount.avg()::int", (col("amount", aggregate="avg", aggregate_cast="int"),)),
        ("amount::int.max()", (col("amount", cast="int", aggregate="max"),)),
        ("x:amount.min()", (col("amount", alias="x", aggregate="min"),)),
        ("id.count()", (col("id", aggregate="count"),)),
        ('"count"', (col("count"),)),
        ("count", (col("count"),)),
        (" id , name ", (col("id"), col("name"))),
        ("alias : col", (col("col", alias="alias"),)),
        ("col :: int", (col("col", cast="int"),)),
        ("\tid,\tname\t", (col("id"), col("name"))),
        ('"x;drop table t"', (col("x;drop table t"),)),
    ],
)
def test_fields(raw: str, expected: tuple[SelectItem, ...]) -> None:
    assert select(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("rel(*)", Embed("rel", (Star(),))),
        ("rel()", Embed("rel", ())),
        ("rel( )", Embed("rel", ())),
        ("alias:rel(id)", Embed("rel", (col("id"),), alias="alias")),
        ("rel!fk_name(id)", Embed("rel", (col("id"),), hint="fk_name")),
        ("rel!inner(id)", Embed("rel", (col("id"),), join="inner")),
        ("rel!left(id)", Embed("rel", (col("id"),), join="left")),
        ("rel!hint!inner(id)", Embed("rel", (col("id"),), hint="hint", join="inner")),
        ("rel!inner!hint(id)", Embed("rel", (col("id"),), hint="hint", join="inner")),
        ("a:rel!hint!inner(id)", Embed("rel", (col("id"),), alias="a", hint="hint", join="inner")),
        ("...rel(id,name)", Embed("rel", (col("id"), col("name")), spread=True)),
        ("...rel!inner(*)", Embed("rel", (Star(),), join="inner", spread=True)),
        ("...rel!hint(*)", Embed("rel", (Star(),), hint="hint", spread=True)),
        ('"my rel"(*)', Embed("my rel", (Star(),))),
        ("rel ( id , name )", Embed("rel", (col("id"), col("name")))),
        (
            "a(b(c(*)))",
            Embed("a", (Embed("b", (Embed("c", (Star(),)),)),)),
        ),
        (
            "rel(*,total:count(),x:amount.sum())",
            Embed(
                "rel",
                (Star(), SelectField(None, "total", aggregate="count"), col("amount", alias="x", aggregate="sum")),
            ),
        ),
    ],
)
def test_embeds(raw: str, expected: Embed) -> None:
    assert select(raw) == (expected,)
    assert select(f"id,{raw},name") == (col("id"), expected, col("name"))


def test_embed_key_is_alias_or_name() -> None:
    aliased, plain = select("owner:profiles(name),books(*)")
    assert isinstance(aliased, Embed) and aliased.key == "owner"
    assert isinstance(plain, Embed) and plain.key == "books"


def test_supabase_docs_example() -> None:
    items = select("*,owner:profiles!inner(name,avatar:avatar_url),...country(code),tags(),cnt:count()")
    assert items == (
        Star(),
        Embed("profiles", (col("name"), col("avatar_url", alias="avatar")), alias="owner", join="inner"),
        Embed("country", (col("code"),), spread=True),
        Embed("tags", ()),
        SelectField(None, "cnt", aggregate="count"),
    )


@pytest.mark.parametrize(
    ("raw", "details"),
    [
        ("id,clients(name[])", 'unexpected "[" expecting ",", ")" or end of input'),
        ("name!hint", 'unexpected end of input expecting "(" or "!"'),
        ("*!hint", 'unexpected "!" expecting ",", ")" or end of input'),
        ("name::", "unexpected end of input expecting cast type"),
        ("id,", "unexpected end of input expecting field name"),
        (",id", 'unexpected "," expecting field name'),
        ("rel(id", 'unexpected end of input expecting ")" or ","'),
        ("id)", 'unexpected ")" expecting ",", ")" or end of input'),
        ("rel->x(*)", 'unexpected "(" expecting'),
        ("col.foo()", 'unexpected "f" expecting "sum", "avg", "count", "max" or "min"'),
        ("col.sum", 'unexpected end of input expecting "()"'),
        ('"unterminated', 'unexpected end of input expecting "\\""'),
        ("a:", "unexpected end of input expecting field name"),
        ("data->>-78xy", "unexpected"),
        ("x;drop table t", 'unexpected ";"'),
    ],
)
def test_errors(raw: str, details: str) -> None:
    with pytest.raises(BadRequest) as caught:
        select(raw)
    error = caught.value
    assert (error.status, error.code) == (400, "PGRST100")
    assert error.message.startswith(f'"failed to parse select parameter ({raw})" (line 1, column ')
    assert details in error.details


def test_error_position_is_reported() -> None:
    with pytest.raises(BadRequest) as caught:
        select("id,clients(name[])")
    assert caught.value.message.endswith("(line 1, column 16)")


def test_embed_depth_limit() -> None:
    assert select("a(b(c(*)))", max_depth=3)
    with pytest.raises(BadRequest) as caught:
        select("a(b(c(d(*))))", max_depth=3)
    assert caught.value.code == "PGRST100"
    assert "3" in caught.value.message


def test_deep_embed_rejected_without_recursion_error() -> None:
    raw = "a(" * 5000 + "*" + ")" * 5000
    with pytest.raises(BadRequest):
        select(raw, max_depth=16)

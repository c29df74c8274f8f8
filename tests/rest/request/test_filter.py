"""Horizontal filters and logic trees: operators, values, quoting, keys and their errors."""

from __future__ import annotations

import pytest

from backstack.core.errors import BadRequest
from backstack.rest.request.filter import (
    OPERATORS,
    TermBudget,
    parse_filter,
    parse_filter_key,
    parse_logic,
)
from backstack.rest.request.query import Condition, EmbedNullFilter, Field, Filter, JsonStep, Logic

A = Field("a")


def flt(value: str, field: Field = A) -> Filter:
    return parse_filter(field, value)


def logic(value: str, op: str = "or", negated: bool = False, embeds: frozenset[str] = frozenset()) -> Logic:
    return parse_logic(
        "or" if op == "or" else "and", negated, value, embeds=embeds, budget=TermBudget(100), max_depth=8
    )


def leaf(name: str, op: str, value: object, **kw: object) -> Filter:
    return Filter(Field(name), op, value, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- single filters


@pytest.mark.parametrize("op", sorted(set(OPERATORS) - {"in", "is"}))
def test_every_simple_operator(op: str) -> None:
    assert flt(f"{op}.some value") == Filter(A, op, "some value")  # type: ignore[arg-type]
    assert flt(f"not.{op}.x") == Filter(A, op, "x", negated=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("eq.5", Filter(A, "eq", "5")),
        ("eq.", Filter(A, "eq", "")),
        ("eq.a.b.c", Filter(A, "eq", "a.b.c")),
        ("eq.a,b", Filter(A, "eq", "a,b")),
        ('eq."quoted"', Filter(A, "eq", '"quoted"')),
        ("eq.null", Filter(A, "eq", "null")),
        ("neq.x;drop table t", Filter(A, "neq", "x;drop table t")),
        ("eq.ünïcødé ✓", Filter(A, "eq", "ünïcødé ✓")),
        ("like.*abc*", Filter(A, "like", "*abc*")),
        ("ilike.%abc%", Filter(A, "ilike", "%abc%")),
        ("match.^a.*$", Filter(A, "match", "^a.*$")),
        ("imatch.(x|y)", Filter(A, "imatch", "(x|y)")),
        ("isdistinct.5", Filter(A, "isdistinct", "5")),
        ("not.isdistinct.null", Filter(A, "isdistinct", "null", negated=True)),
        ("cs.{a,b}", Filter(A, "cs", "{a,b}")),
        ('cs.{"a":1}', Filter(A, "cs", '{"a":1}')),
        ("cd.[1,5)", Filter(A, "cd", "[1,5)")),
        ("ov.{1,3}", Filter(A, "ov", "{1,3}")),
        ("sl.(1,10)", Filter(A, "sl", "(1,10)")),
        ("adj.[2,5)", Filter(A, "adj", "[2,5)")),
        ("fts.cat & dog", Filter(A, "fts", "cat & dog")),
        ("fts(english).cat", Filter(A, "fts", "cat", fts_config="english")),
        ("plfts(simple).a b", Filter(A, "plfts", "a b", fts_config="simple")),
        ("phfts.a b", Filter(A, "phfts", "a b")),
        ("not.wfts(french).chat", Filter(A, "wfts", "chat", negated=True, fts_config="french")),
    ],
)
def test_values(value: str, expected: Filter) -> None:
    assert flt(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("in.(1,2,3)", ("1", "2", "3")),
        ('in.(a,"b,c",null)', ("a", "b,c", "null")),
        ("in.()", ()),
        ("in.( )", ()),
        ('in.("")', ("",)),
        ("in.(a,)", ("a", "")),
        ('in.("c)","d")', ("c)", "d")),
        ('in.("a\\"b","c\\\\d")', ('a"b', "c\\d")),
        ('in.("a.b:c(d)")', ("a.b:c(d)",)),
        ('in.("x"y)', ('"x"y',)),
        ("in.(x;drop table t)", ("x;drop table t",)),
        (" in.(1)", None),
    ],
)
def test_in_lists(value: str, expected: tuple[str, ...] | None) -> None:
    if expected is None:
        with pytest.raises(BadRequest):
            flt(value)
        return
    assert flt(value) == Filter(A, "in", expected)
    assert flt("not." + value) == Filter(A, "in", expected, negated=True)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("null", "null"),
        ("NULL", "null"),
        ("Null", "null"),
        ("not_null", "not_null"),
        ("NOT_NULL", "not_null"),
        ("true", "true"),
        ("TRUE", "true"),
        ("false", "false"),
        ("unknown", "unknown"),
        ("UnKnown", "unknown"),
    ],
)
def test_is_values(raw: str, value: str) -> None:
    assert flt(f"is.{raw}") == Filter(A, "is", value)
    assert flt(f"not.is.{raw}") == Filter(A, "is", value, negated=True)


@pytest.mark.parametrize(
    ("value", "op", "quantifier", "items"),
    [
        ("like(any).{O*,P*}", "like", "any", ("O*", "P*")),
        ("ilike(all).{%a%,%b%}", "ilike", "all", ("%a%", "%b%")),
        ("eq(any).{1,2,3}", "eq", "any", ("1", "2", "3")),
        ("gt(all).{}", "gt", "all", ()),
        ('eq(any).{"a b","c,d",NULL,""}', "eq", "any", ("a b", "c,d", "NULL", "")),
        ('eq(any).{"q\\"r"}', "eq", "any", ('q"r',)),
        ("match(any).{ ^a , b$ }", "match", "any", ("^a", "b$")),
        ("gte(any).{1}", "gte", "any", ("1",)),
        ("lte(all).{1}", "lte", "all", ("1",)),
        ("lt(any).{1}", "lt", "any", ("1",)),
        ("imatch(any).{x}", "imatch", "any", ("x",)),
    ],
)
def test_quantifiers(value: str, op: str, quantifier: str, items: tuple[str, ...]) -> None:
    assert flt(value) == Filter(A, op, items, quantifier=quantifier)  # type: ignore[arg-type]
    assert flt("not." + value).negated


@pytest.mark.parametrize(
    ("value", "details"),
    [
        ("fake.value", 'unexpected "f" expecting "not" or operator (eq, gt, ...)'),
        ("", "unexpected end of input"),
        ("eq", 'unexpected end of input expecting "."'),
        ("EQ.1", 'unexpected "E"'),
        ("not.fake.1", 'unexpected "f" expecting operator'),
        ("not.not.eq.1", 'unexpected "n" expecting operator'),
        ("is.nope", 'unexpected "n" expecting "null", "not_null", "true", "false" or "unknown"'),
        ("is.nullx", 'unexpected "n"'),
        ("is.", "unexpected end of input"),
        ("in.1,2", 'unexpected "1" expecting "("'),
        ("in.(1,2", 'unexpected end of input expecting ")" or ","'),
        ("in.(1)x", 'unexpected "x" expecting end of input'),
        ('in.("a', 'unexpected end of input expecting "\\""'),
        ("neq(any).{1}", 'unexpected "(" expecting "."'),
        ("eq(some).{1}", 'unexpected "s" expecting "any" or "all"'),
        ("eq(any).1", 'unexpected "1" expecting "{"'),
        ("eq(any).{1,{2}}", 'unexpected "{"'),
        ("eq(any).{1}x", 'unexpected "x" expecting end of input'),
        ("fts().x", 'unexpected ")" expecting fts configuration'),
        ("fts(english.x", 'unexpected "." expecting ")"'),
        ("eqx.1", 'unexpected "e"'),
    ],
)
def test_filter_errors(value: str, details: str) -> None:
    with pytest.raises(BadRequest) as caught:
        flt(value)
    error = caught.value
    assert (error.status, error.code) == (400, "PGRST100")
    assert error.message.startswith(f'"failed to parse filter ({value})"')
    assert details in error.details


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("key", "path", "field"),
    [
        ("age", (), Field("age")),
        ("books.title", ("books",), Field("title")),
        ("books.reviews.stars", ("books", "reviews"), Field("stars")),
        ('"my.col"', (), Field("my.col")),
        ('books."my.col"', ("books",), Field("my.col")),
        ('"a\\"b"', (), Field('a"b')),
        ('"a""b"', (), Field('a"b')),
        ('"x;drop table t"', (), Field("x;drop table t")),
        ("名前", (), Field("名前")),
        ("data->>k", (), Field("data", (JsonStep("->>", "k"),))),
        ("data->a->>b", (), Field("data", (JsonStep("->", "a"), JsonStep("->>", "b")))),
        ("data->0", (), Field("data", (JsonStep("->", 0),))),
        ("books.data->>k", ("books",), Field("data", (JsonStep("->>", "k"),))),
        ("first-name", (), Field("first-name")),
    ],
)
def test_filter_keys(key: str, path: tuple[str, ...], field: Field) -> None:
    assert parse_filter_key(key) == (path, field)


@pytest.mark.parametrize("key", ["", "a..b", "a.", "x;drop table t", "data->>k.x", '"open'])
def test_bad_filter_keys(key: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_filter_key(key)
    assert caught.value.code == "PGRST100"
    assert caught.value.message.startswith(f'"failed to parse tree path ({key})"')


# ---------------------------------------------------------------- logic trees


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("(a.eq.1,b.gt.2)", (leaf("a", "eq", "1"), leaf("b", "gt", "2"))),
        ("(a.eq.1)", (leaf("a", "eq", "1"),)),
        ('(name.eq."a,b")', (leaf("name", "eq", "a,b"),)),
        ('(name.eq."a)b",x.eq.1)', (leaf("name", "eq", "a)b"), leaf("x", "eq", "1"))),
        ('(name.eq."x\\"y")', (leaf("name", "eq", 'x"y'),)),
        ('(name.eq."x"y)', (leaf("name", "eq", '"x"y'),)),
        ('(x.in.("c)","d"))', (leaf("x", "in", ("c)", "d")),)),
        ("(x.in.())", (leaf("x", "in", ()),)),
        ("(x.not.in.(1,2))", (leaf("x", "in", ("1", "2"), negated=True),)),
        ("(d.is.null,e.is.TRUE)", (leaf("d", "is", "null"), leaf("e", "is", "true"))),
        ("(tags.cs.{a,b},x.eq.1)", (leaf("tags", "cs", "{a,b}"), leaf("x", "eq", "1"))),
        ('(j.cs.{"a":1})', (leaf("j", "cs", '{"a":1}'),)),
        ("(n.like(any).{a*,b*})", (leaf("n", "like", ("a*", "b*"), quantifier="any"),)),
        ("(t.fts(english).cat)", (leaf("t", "fts", "cat", fts_config="english"),)),
        ("(a.eq.1.5)", (leaf("a", "eq", "1.5"),)),
        ("(a.eq.)", (leaf("a", "eq", ""),)),
        ("(a.like.*x*)", (leaf("a", "like", "*x*"),)),
        (
            "(data->>k.eq.x,data->0.gt.1)",
            (
                Filter(Field("data", (JsonStep("->>", "k"),)), "eq", "x"),
                Filter(Field("data", (JsonStep("->", 0),)), "gt", "1"),
            ),
        ),
        ('("my.col".eq.1)', (leaf("my.col", "eq", "1"),)),
        ("( a.eq.1 , b.eq.2 )", (leaf("a", "eq", "1 "), leaf("b", "eq", "2 "))),
        ("(and.eq.1,or.eq.2,not.eq.3)", (leaf("and", "eq", "1"), leaf("or", "eq", "2"), leaf("not", "eq", "3"))),
        ("(order.eq.1)", (leaf("order", "eq", "1"),)),
    ],
)
def test_logic_leaves(value: str, expected: tuple[Condition, ...]) -> None:
    assert logic(value) == Logic("or", expected)


def test_nested_logic() -> None:
    tree = logic("(a.eq.1,and(b.gt.2,c.lt.3),not.or(d.is.null,e.eq.x))")
    assert tree == Logic(
        "or",
        (
            leaf("a", "eq", "1"),
            Logic("and", (leaf("b", "gt", "2"), leaf("c", "lt", "3"))),
            Logic("or", (leaf("d", "is", "null"), leaf("e", "eq", "x")), negated=True),
        ),
    )


def test_root_and_and_negation() -> None:
    assert logic("(a.eq.1,b.eq.2)", op="and", negated=True) == Logic(
        "and", (leaf("a", "eq", "1"), leaf("b", "eq", "2")), negated=True
    )
    assert logic("(age.eq.14,not.and(age.gte.11,age.lte.17))") == Logic(
        "or",
        (leaf("age", "eq", "14"), Logic("and", (leaf("age", "gte", "11"), leaf("age", "lte", "17")), negated=True)),
    )


def test_embed_null_inside_tree() -> None:
    tree = logic("(books.not.is.null,authors.is.null,a.eq.1)", embeds=frozenset({"books", "authors"}))
    assert tree.conditions == (
        EmbedNullFilter("books", is_null=False),
        EmbedNullFilter("authors", is_null=True),
        leaf("a", "eq", "1"),
    )


def test_embed_name_with_other_operator_stays_a_filter() -> None:
    tree = logic("(books.eq.1,books.is.not_null)", embeds=frozenset({"books"}))
    assert tree.conditions == (leaf("books", "eq", "1"), leaf("books", "is", "not_null"))


@pytest.mark.parametrize(
    ("value", "details"),
    [
        ("()", 'unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator'),
        ("(id.in.1,2,id.eq.3)", 'unexpected "1" expecting "("'),
        (")(", 'unexpected ")" expecting "("'),
        ("a.eq.1", 'unexpected "a" expecting "("'),
        ("(a.eq.1", 'unexpected end of input expecting ")" or ","'),
        ("(a.eq.1))", 'unexpected ")" expecting end of input'),
        ("(a.eq.1,)", 'unexpected ")" expecting field name'),
        ("(a.fake.1)", 'unexpected "f"'),
        ("(a)", 'unexpected ")" expecting "." or "->"'),
        ("(a.is.maybe)", 'unexpected "m" expecting "null"'),
        ("(and(a.eq.1)", 'unexpected end of input expecting ")" or ","'),
        ("(xor(a.eq.1))", 'unexpected "("'),
        ("(not.xor(a.eq.1))", 'unexpected "x" expecting "not" or operator'),
    ],
)
def test_logic_errors(value: str, details: str) -> None:
    with pytest.raises(BadRequest) as caught:
        logic(value)
    error = caught.value
    assert (error.status, error.code) == (400, "PGRST100")
    assert error.message.startswith(f'"failed to parse logic tree ({value})"')
    assert details in error.details


@pytest.mark.parametrize("value", ["(books.title.eq.x)", "(books.Title.eq.x)", "(a.eq.1,books.data->>k.eq.x)"])
def test_embedded_column_in_tree_is_a_clear_error(value: str) -> None:
    with pytest.raises(BadRequest) as caught:
        logic(value)
    assert caught.value.code == "PGRST100"
    assert "books.or=(...)" in caught.value.details
    assert "books.not.is.null" in caught.value.details


def test_logic_error_column_counts_the_operator_like_postgrest() -> None:
    with pytest.raises(BadRequest) as caught:
        logic("()")
    assert caught.value.message == '"failed to parse logic tree (())" (line 1, column 4)'


# ---------------------------------------------------------------- limits


def test_term_budget_counts_every_leaf() -> None:
    value = "(a.eq.1,and(b.eq.2,c.in.(1,2,3)),not.or(d.is.null,e.eq.5))"
    parse_logic("or", False, value, embeds=frozenset(), budget=TermBudget(5), max_depth=4)
    with pytest.raises(BadRequest) as caught:
        parse_logic("or", False, value, embeds=frozenset(), budget=TermBudget(4), max_depth=4)
    assert caught.value.code == "PGRST100"
    assert "more than 4 filter terms" in caught.value.message


def test_depth_limit() -> None:
    value = "(and(or(a.eq.1)))"
    parse_logic("or", False, value, embeds=frozenset(), budget=TermBudget(9), max_depth=3)
    with pytest.raises(BadRequest) as caught:
        parse_logic("or", False, value, embeds=frozenset(), budget=TermBudget(9), max_depth=2)
    assert "deeper than 2" in caught.value.message

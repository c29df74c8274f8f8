"""The SQL builders' pure parts: value parsing, LIKE -> GLOB, array literals, FTS5 translation, and
compile-level guarantees (deterministic, values always bound, identifiers quoted)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from backstack.core.errors import ApiError
from backstack.db.dialect import POSTGRES, SQLITE
from backstack.db.schema.model import Column, Schema, Table
from backstack.rest.plan.values import coerce, like_to_glob, parse_array_literal
from backstack.rest.request.parse import parse_read
from backstack.rest.sql.common import csv_header
from backstack.rest.sql.fts import to_fts5
from backstack.rest.sql.read import ReadOptions, compile_read
from backstack.rest.sql.write import compile_insert
from backstack.rest.sql.write_plan import WriteOptions

INT = Column("n", "integer", "int")
BIG = Column("n", "bigint", "int")
BOOL = Column("b", "boolean", "bool")
FLOAT = Column("f", "double precision", "float")
NUM = Column("x", "numeric", "numeric")
UUID = Column("u", "uuid", "uuid")


@pytest.mark.parametrize(
    ("column", "raw", "value"),
    [
        (INT, "5", 5),
        (INT, " -7 ", -7),
        (BIG, "+12", 12),
        (FLOAT, "1.5", 1.5),
        (FLOAT, "1e3", 1000.0),
        (FLOAT, "NaN", None),
        (NUM, "10", 10),
        (NUM, "9.5", 9.5),
        (BOOL, "true", 1),
        (BOOL, "F", 0),
        (BOOL, "yes", 1),
        (BOOL, "off", 0),
        (BOOL, "t", 1),
        (BOOL, "0", 0),
        (UUID, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (UUID, "{a0eebc999c0b4ef8bb6d6bb9bd380a11}", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (INT, "007", 7),
        (Column("s", "smallint", "int"), "32767", 32767),
        (Column("x", "numeric(10,2)", "numeric"), "3", 3),
        (Column("t", "varchar(3)", "text"), " a ", " a "),
    ],
)
def test_coerce(column: Column, raw: str, value: object) -> None:
    got = coerce(column, raw)
    if value is None:
        assert got != got  # NaN
    else:
        assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("column", "raw", "message"),
    [
        (INT, "abc", 'invalid input syntax for type integer: "abc"'),
        (BIG, "1.5", 'invalid input syntax for type bigint: "1.5"'),
        (INT, "1_000", 'invalid input syntax for type integer: "1_000"'),
        (BOOL, "maybe", 'invalid input syntax for type boolean: "maybe"'),
        (BOOL, "o", 'invalid input syntax for type boolean: "o"'),
        (FLOAT, "x", 'invalid input syntax for type double precision: "x"'),
        (NUM, "1,5", 'invalid input syntax for type numeric: "1,5"'),
        (UUID, "nope", 'invalid input syntax for type uuid: "nope"'),
        (INT, "3000000000", 'value "3000000000" is out of range for type integer'),
        (Column("s", "smallint", "int"), "32768", 'value "32768" is out of range for type smallint'),
        (
            UUID,
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            'invalid input syntax for type uuid: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g"',
        ),
        (Column("f", "real", "float"), "x", 'invalid input syntax for type real: "x"'),
    ],
)
def test_coerce_errors(column: Column, raw: str, message: str) -> None:
    with pytest.raises(ApiError) as info:
        coerce(column, raw)
    assert info.value.status == 400
    assert info.value.message == message


@pytest.mark.parametrize(
    ("like", "glob"),
    [
        ("abc", "abc"),
        ("a%c", "a*c"),
        ("a_c", "a?c"),
        ("a*c", "a[*]c"),
        ("a?c[", "a[?]c[[]"),
        ("100\\%", "100%"),
        ("a\\_b", "a_b"),
        ("x]", "x]"),
    ],
)
def test_like_to_glob(like: str, glob: str) -> None:
    assert like_to_glob(like) == glob


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("{}", []),
        ("{a,b}", ["a", "b"]),
        ('{"a,b",c}', ["a,b", "c"]),
        ('{"x\\"y",NULL,"NULL"}', ['x"y', None, "NULL"]),
        ("{ 1 , 2 }", ["1", "2"]),
    ],
)
def test_parse_array_literal(text: str, items: list[str | None]) -> None:
    assert parse_array_literal(text) == items


@pytest.mark.parametrize("text", ["a,b", "{a", '{"a}', "{a{b}"])
def test_parse_array_literal_refuses(text: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_array_literal(text)
    assert info.value.code == "22P02"


@pytest.mark.parametrize(
    ("operator", "text", "fts5"),
    [
        ("fts", "cat", '"cat"'),
        ("fts", "cat & dog", '("cat" AND "dog")'),
        ("fts", "cat | dog", '("cat" OR "dog")'),
        ("fts", "cat & !dog", '("cat" NOT "dog")'),
        ("fts", "!dog & cat", '("cat" NOT "dog")'),
        ("fts", "(cat | dog) & bird", '(("cat" OR "dog") AND "bird")'),
        ("fts", "fat <-> cat", '"fat" + "cat"'),
        ("fts", "fat <2> cat", 'NEAR("fat" "cat", 2)'),
        ("fts", "sup:*", '"sup" *'),
        ("fts", 'a"b', '"a b"'),
        ("fts", "", None),
        ("plfts", "The fat cats!", '"The" AND "fat" AND "cats"'),
        ("phfts", "fat  cats", '"fat cats"'),
        ("wfts", '"sad cat" or fat -rat', '("sad cat") OR ("fat" NOT "rat")'),
        ("wfts", "cat dog", '"cat" AND "dog"'),
        ("wfts", "  ", None),
    ],
)
def test_fts5(operator: str, text: str, fts5: str | None) -> None:
    assert to_fts5(operator, text) == fts5


@pytest.mark.parametrize(("operator", "text"), [("fts", "!cat"), ("fts", "cat | !dog"), ("wfts", "-cat")])
def test_fts5_lone_negation(operator: str, text: str) -> None:
    with pytest.raises(ApiError) as info:
        to_fts5(operator, text)
    assert info.value.code == "PGRST127"


def test_csv_header() -> None:
    assert csv_header(["id", "a b", 'q"', "x,y", ""]) == 'id,"a b","q""","x,y",""'


SCHEMA = Schema(
    {
        "t": Table(
            "public",
            "t",
            {
                "id": Column("id", "bigint", "int"),
                "name": Column("name", "text", "text"),
                "data": Column("data", "jsonb", "json"),
                "ok": Column("ok", "boolean", "bool"),
            },
            ("id",),
            (("id",),),
        )
    }
)
EVIL = "x'); drop table t; --"


def compile_qs(qs: str, dialect: object = SQLITE) -> tuple[str, tuple[object, ...]]:
    query = parse_read(parse_qsl(qs, keep_blank_values=True), max_terms=50, max_depth=5)
    st = compile_read(SCHEMA, dialect, "t", query, ReadOptions(count_total=True))  # type: ignore[arg-type]
    return st.sql, st.params


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES])
def test_compile_is_pure(dialect: object) -> None:
    qs = "select=id,name&name=eq.a&or=(id.gt.1,ok.is.true)&order=name.desc&limit=3"
    assert compile_qs(qs, dialect) == compile_qs(qs, dialect)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES])
@pytest.mark.parametrize(
    "qs",
    [
        f"name=eq.{EVIL}",
        f"name=like.{EVIL}",
        f'name=in.("{EVIL}",b)',
        f"name=ilike.{EVIL}",
        f"name=isdistinct.{EVIL}",
        f"name=like(any).{{{EVIL},b}}",
        f"data->>k=eq.{EVIL}",
    ],
)
def test_values_are_bound_never_spliced(dialect: object, qs: str) -> None:
    sql, params = compile_qs(qs, dialect)
    assert "drop table" not in sql
    assert any("drop table" in str(p) for p in params)


def test_page_and_count_share_parameters() -> None:
    sql, params = compile_qs("name=eq.a&id=gt.1")
    assert params == ("a", 1)
    assert sql.count("?1") == 2 and sql.count("?2") == 2


def test_identifiers_are_quoted() -> None:
    schema = Schema({'we"ird': Table("public", 'we"ird', {'c"ol': Column('c"ol', "text", "text")})})
    query = parse_read([("select", '"c""ol"')], max_terms=5, max_depth=5)
    sql = compile_read(schema, POSTGRES, 'we"ird', query, ReadOptions()).sql
    assert '"public"."we""ird"' in sql and 't0."c""ol" AS "c""ol"' in sql


def test_insert_compiles_per_key_set() -> None:
    query = parse_read([], max_terms=5, max_depth=5)
    plan = compile_insert(SCHEMA, SQLITE, "t", query, ("id", "name"), WriteOptions())
    assert plan.main is not None and plan.main.params == (None,)
    assert plan.main.sql.startswith('INSERT INTO "t" ("id", "name") SELECT')
    assert plan.represent is None
    plan = compile_insert(SCHEMA, POSTGRES, "t", query, ("ok",), WriteOptions(media="json"))
    assert plan.main is not None and 'json_populate_record(NULL::"public"."t", _j.v)' in plan.main.sql

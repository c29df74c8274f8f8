"""Range types below the data API: the canonical text both engines store, migrations that write
range literals, casts and constructors, and `db.pgtypes.ranges`'s operators checked against PostgreSQL."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from backstack.core.errors import ApiError
from backstack.db.engine import Engine
from backstack.db.pgtypes import ranges as pgrange
from tests.conftest import ApplySql

pytestmark = pytest.mark.anyio

# (literal, range type, what PostgreSQL 15 stores, or the SQLSTATE it refuses the literal with)
CANONICAL = [
    ("[2000-01-01,2000-01-05]", "daterange", "[2000-01-01,2000-01-06)"),
    ("(2000-01-01,2000-01-02)", "daterange", "empty"),
    ("[-infinity,infinity]", "daterange", "[-infinity,infinity]"),
    ("(,infinity]", "daterange", "(,infinity]"),
    ("(infinity,infinity]", "daterange", "empty"),
    ("[9999-12-31,9999-12-31]", "daterange", "[9999-12-31,10000-01-01)"),
    ("[20000101,2000-1-9)", "daterange", "[2000-01-01,2000-01-09)"),
    ("[1,5]", "int4range", "[1,6)"),
    ("(1,2)", "int4range", "empty"),
    ("[,5]", "int4range", "(,6)"),
    ("[,]", "int4range", "(,)"),
    (" [ 1 , 5 ] ", "int4range", "[1,6)"),
    ('["1","5")', "int4range", "[1,5)"),
    ("[\\1,5)", "int4range", "[1,5)"),
    (" EmPtY ", "int4range", "empty"),
    ("[1,1)", "int4range", "empty"),
    ("(0,1]", "int4range", "[1,2)"),
    ("[+1,+2]", "int4range", "[1,3)"),
    ("[2147483647,2147483647]", "int4range", "22003"),
    ("[2147483648,)", "int4range", "22003"),
    ("[9223372036854775806,9223372036854775806]", "int8range", "[9223372036854775806,9223372036854775807)"),
    ("[9223372036854775807,9223372036854775807]", "int8range", "22003"),
    ("[1.50,2e1]", "numrange", "[1.50,20]"),
    ("[1.0,1.0)", "numrange", "empty"),
    ("[1.0,1.0]", "numrange", "[1.0,1.0]"),
    ("[-0, 0.000]", "numrange", "[0,0.000]"),
    ("[5,NaN]", "numrange", "[5,NaN]"),
    ("[NaN,5]", "numrange", "22000"),
    ("[-inf,inf]", "numrange", "[-Infinity,Infinity]"),
    ("[1.5e-3,1e3]", "numrange", "[0.0015,1000]"),
    ("[1e131072,)", "numrange", "22003"),
    ("[1x,)", "numrange", "22P02"),
    ("[1e99999999999999999999999999,)", "numrange", "22003"),
    ("[1," + "9" * 5000 + ")", "int4range", "22003"),
    ("[1," + "0" * 5000 + "7)", "int8range", "[1,7)"),
    ('("",2)', "numrange", "22P02"),
    ("[2000-01-01 13:00, 2000-01-01 13:30)", "tsrange", '["2000-01-01 13:00:00","2000-01-01 13:30:00")'),
    ("[2000-01-01 13:00:00.50,)", "tsrange", '["2000-01-01 13:00:00.5",)'),
    ('[ "2000-01-01  10:00",)', "tsrange", '["2000-01-01 10:00:00",)'),
    ("[2000-01-01T10:00:00Z,)", "tsrange", '["2000-01-01 10:00:00",)'),
    ("[2000-01-01 24:00,)", "tsrange", '["2000-01-02 00:00:00",)'),
    ("[2000-01-01 10:00:00.9999999,)", "tsrange", '["2000-01-01 10:00:01",)'),
    ("[-infinity,infinity]", "tsrange", "[-infinity,infinity]"),
    ("[2000-01-01 10,)", "tsrange", "22007"),
    ("[2000-01-01 25:00,)", "tsrange", "22008"),
    ("[2000-01-01 13:00+02, infinity)", "tstzrange", '["2000-01-01 11:00:00+00",infinity)'),
    ("[2000-01-01 10:00 +05:30:15,)", "tstzrange", '["2000-01-01 04:29:45+00",)'),
    ("[2000-01-01 10:00 UTC,)", "tstzrange", '["2000-01-01 10:00:00+00",)'),
    (
        "[2000-01-01 00:00:00+05:30,2000-01-01 00:00:00.123456789Z]",
        "tstzrange",
        '["1999-12-31 18:30:00+00","2000-01-01 00:00:00.123457+00"]',
    ),
    ("[0001-01-01 00:30+01,)", "tstzrange", '["0001-12-31 23:30:00+00 BC",)'),
    ("[epoch,)", "tstzrange", '["1970-01-01 00:00:00+00",)'),
    ("[2000-01-01 10:00+25,)", "tstzrange", "22009"),
    ("3", "int4range", "22P02"),
    ("[1,5", "int4range", "22P02"),
    ("[1 2]", "int4range", "22P02"),
    ("[1,5]x", "int4range", "22P02"),
    ("empty x", "int4range", "22P02"),
    ("[1,,2]", "int4range", "22P02"),
    ("[5,1]", "int4range", "22000"),
]


async def stored(engine: Engine, literal: str, type_name: str) -> str:
    """What the engine stores for `literal` in a `type_name` column (SQLite: its range function)."""
    if engine.dialect.is_sqlite:
        row = await engine.fetch_one(f"select _bs_range(?, '{type_name}')", (literal,))
    else:
        row = await engine.fetch_one(f"select $1::text::{type_name}::text", (literal,))
    assert row is not None
    return str(row[0])


async def test_canonical_text(engine: Engine) -> None:
    """Each literal is stored as PostgreSQL stores it, or refused with PostgreSQL's SQLSTATE (400)."""
    answers = []
    for literal, type_name, _ in CANONICAL:
        try:
            answers.append(await stored(engine, literal, type_name))
        except ApiError as error:
            answers.append(error.code if error.status == 400 else f"{error.code} ({error.status})")
    assert [(c[0], c[1], a) for c, a in zip(CANONICAL, answers, strict=True)] == CANONICAL


async def test_migration_literals_casts_and_constructors(engine: Engine, apply_sql: ApplySql) -> None:
    """Defaults, inserted literals, casts (literal or computed) and the constructor functions all
    store the canonical text on both engines."""
    schema = await apply_sql(
        """
        create table r (
          id int primary key,
          i int4range default '[1,5]',
          d daterange default '[2000-01-01,2000-01-01]'::daterange,
          n numrange,
          t tstzrange default tstzrange('2000-01-01 10:00+02', null)
        );
        insert into r (id, n) values (1, '[1.50,2e1]');
        insert into r (id, i, n, d)
          values (2, '(1,5)'::int4range, numrange(1.5, 3), daterange('2000-01-01', '2000-01-03', '[]'));
        insert into r (id, i) select 3, ('[' || 2 || ',' || 4 || ']')::int4range;
        insert into r (id, i, n) values (4, int4range(null, 4, '(]'), 'empty');
        """
    )
    assert {c.name: (c.type, c.kind) for c in schema.tables["r"].columns.values() if c.name != "id"} == {
        "i": ("int4range", "range"),
        "d": ("daterange", "range"),
        "n": ("numrange", "range"),
        "t": ("tstzrange", "range"),
    }
    rows = await engine.fetch_all(
        "select id, cast(i as text), cast(d as text), cast(n as text), cast(t as text) from r order by id"
    )
    at = '["2000-01-01 08:00:00+00",)'
    assert [tuple(r) for r in rows] == [
        (1, "[1,6)", "[2000-01-01,2000-01-02)", "[1.50,20]", at),
        (2, "[2,5)", "[2000-01-01,2000-01-04)", "[1.5,3)", at),
        (3, "[2,5)", "[2000-01-01,2000-01-02)", None, at),
        (4, "(,5)", "[2000-01-01,2000-01-02)", "empty", at),
    ]


async def test_bad_literal_in_a_migration(engine: Engine, apply_sql: ApplySql) -> None:
    with pytest.raises(ApiError) as info:
        await apply_sql("create table bad (r int4range default '[1,2');")
    assert (info.value.code, info.value.message) == ("22P02", 'malformed range literal: "[1,2"')


async def test_constructor_flags(engine: Engine) -> None:
    assert await _one(engine, "select cast(int4range(1, 5, '[]') as text)") == "[1,6)"
    with pytest.raises(ApiError) as info:
        await _one(engine, "select int4range(1, 5, 'x')")
    assert (info.value.code, info.value.message) == ("42601", "invalid range bound flags")


async def _one(engine: Engine, sql: str) -> Any:
    row = await engine.fetch_one(sql)
    assert row is not None
    return row[0]


# ---------------------------------------------------------------- the operators, against PostgreSQL

OPERATORS = {"cs": "@>", "cd": "<@", "ov": "&&", "sl": "<<", "sr": ">>", "nxr": "&<", "nxl": "&>", "adj": "-|-"}
BOUNDS = {
    "int4range": ["1", "2", "5", ""],
    "numrange": ["1", "2.0", "Infinity", "NaN", ""],
    "daterange": ["2000-01-01", "2000-01-02", "2000-01-05", "infinity", ""],
    "tstzrange": ["2000-01-01 10:00+00", "2000-01-01 11:00+01", "infinity", ""],
}


def literals(bounds: list[str]) -> list[str]:
    return ["empty", *(f"{a}{lo},{hi}{b}" for lo, hi in itertools.product(bounds, bounds) for a in "[(" for b in "])")]


@pytest.mark.postgres
@pytest.mark.parametrize("engine_settings", ["postgres"], indirect=True)
async def test_operators_agree_with_postgresql(engine: Engine) -> None:
    """Every pair of ranges built from a few bounds (inclusive, exclusive, infinite, empty, NaN,
    infinity values): `db.pgtypes.ranges` (what SQLite runs) answers each operator and the ordering as
    PostgreSQL does, and makes the same literals canonical or refuses the same ones."""
    mismatches = []
    for type_name, bounds in BOUNDS.items():
        valid = set()
        for literal in literals(bounds):
            try:
                theirs = await stored(engine, literal, type_name)
            except ApiError as error:
                theirs = error.code
            try:
                ours = pgrange.canonical(literal, type_name)
            except ApiError as error:
                ours = error.code
            if ours != theirs:
                mismatches.append((type_name, literal, theirs, ours))
            elif len(theirs) != 5 or not theirs[:2].isdigit():
                valid.add(theirs)
        tests = ", ".join(f"$1::text::{type_name} {op} $2::text::{type_name}" for op in OPERATORS.values())
        order = (
            f"case when $1::text::{type_name} < $2::text::{type_name} then -1 "
            f"when $1::text::{type_name} = $2::text::{type_name} then 0 else 1 end"
        )
        for left, right in itertools.product(sorted(valid), repeat=2):
            row = await engine.fetch_one(f"select {tests}, {order}", (left, right))
            assert row is not None
            ours_row = [pgrange.test(op, left, right, type_name) for op in OPERATORS]
            ours_row.append(pgrange.compare(pgrange.parse(left, type_name), pgrange.parse(right, type_name)))
            if list(row) != ours_row:
                mismatches.append((type_name, left, right, list(row), ours_row))
    assert not mismatches, mismatches[:20]

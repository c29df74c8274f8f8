"""Range columns through the data API on both engines (issue 18 section 5): PostgREST's range operators
(`cs cd ov sl sr nxr nxl adj`) on each range type family, comparisons, bounds, empty and NULL ranges,
PostgreSQL's errors for bad literals, writes that store (and read back) the canonical text, and range
filters on a table behind row policies.

Expected answers were taken from PostgreSQL 15; the same scenarios run on SQLite, where
`db.pgtypes.ranges` emulates the types.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from backstack.config import Settings
from tests.rest.http_api import Api, Scenario, http_settings, run, run_all, running_api

pytestmark = pytest.mark.anyio

SCHEMA = """
create table spans (
  id bigint primary key,
  ts tsrange,
  tstz tstzrange,
  d daterange,
  i4 int4range,
  i8 int8range,
  n numrange
);
insert into spans (id, ts, tstz, d, i4, i8, n) values
  (1, '[2000-01-01 01:00,2000-01-01 05:00]', '[2000-01-01 01:00+00,2000-01-01 05:00+00]',
   '[2000-01-01,2000-01-05]', '[1,5]', '[1,5]', '[1,5]'),
  (2, '(2000-01-01 05:00,2000-01-01 10:00)', '(2000-01-01 06:00+01,2000-01-01T10:00Z)',
   '(2000-01-05,2000-01-10)', '(5,10)', '(5,10)', '(5,10)'),
  (3, '[2000-01-01 10:00,)', '[2000-01-01 10:00+00,infinity]', '[2000-01-10,)', '[10,)', '[10,)', '[10,)'),
  (4, '(,2000-01-01 00:00]', '(,2000-01-01 00:00+00]', '(,1999-12-31]', '(,0]', '(,0]', '(,0]'),
  (5, 'empty', 'empty', 'empty', 'empty', 'empty', 'empty'),
  (6, null, null, null, null, null, null),
  (7, '(,)', '(,)', '(,)', '(,)', '(,)', '[-Infinity,Infinity]');
"""

# What PostgreSQL stores (and prints) for the rows above: discrete ranges as [lower,upper).
STORED = [
    {
        "id": 1,
        "ts": '["2000-01-01 01:00:00","2000-01-01 05:00:00"]',
        "tstz": '["2000-01-01 01:00:00+00","2000-01-01 05:00:00+00"]',
        "d": "[2000-01-01,2000-01-06)",
        "i4": "[1,6)",
        "i8": "[1,6)",
        "n": "[1,5]",
    },
    {
        "id": 2,
        "ts": '("2000-01-01 05:00:00","2000-01-01 10:00:00")',
        "tstz": '("2000-01-01 05:00:00+00","2000-01-01 10:00:00+00")',
        "d": "[2000-01-06,2000-01-10)",
        "i4": "[6,10)",
        "i8": "[6,10)",
        "n": "(5,10)",
    },
    {
        "id": 3,
        "ts": '["2000-01-01 10:00:00",)',
        "tstz": '["2000-01-01 10:00:00+00",infinity]',
        "d": "[2000-01-10,)",
        "i4": "[10,)",
        "i8": "[10,)",
        "n": "[10,)",
    },
    {
        "id": 4,
        "ts": '(,"2000-01-01 00:00:00"]',
        "tstz": '(,"2000-01-01 00:00:00+00"]',
        "d": "(,2000-01-01)",
        "i4": "(,1)",
        "i8": "(,1)",
        "n": "(,0]",
    },
    {"id": 5, "ts": "empty", "tstz": "empty", "d": "empty", "i4": "empty", "i8": "empty", "n": "empty"},
    {"id": 6, "ts": None, "tstz": None, "d": None, "i4": None, "i8": None, "n": None},
    {"id": 7, "ts": "(,)", "tstz": "(,)", "d": "(,)", "i4": "(,)", "i8": "(,)", "n": "[-Infinity,Infinity]"},
]

# One value per column, the same shape in each family: [3,7) and its counterparts.
VALUES = {
    "ts": "[2000-01-01 03:00,2000-01-01 07:00)",
    "tstz": "[2000-01-01 04:00+01,2000-01-01T07:00Z)",
    "d": "[2000-01-03,2000-01-07)",
    "i4": "[3,7)",
    "i8": "[3,7)",
    "n": "[3,7)",
}
ADJACENT = {
    "ts": "(2000-01-01 00:00,2000-01-01 01:00)",
    "tstz": "(2000-01-01 00:00Z,2000-01-01 02:00+01)",
    "d": "[2000-01-06,2000-01-08)",
    "i4": "[6,8)",
    "i8": "[6,8)",
    "n": "(5,6)",
}
# operator -> (ids matching, ids matching `not.`): NULL (6) matches neither, the empty range (5) only
# `cd` (it is contained by every range) and the negations.
EXPECTED = {
    "cs": ([7], [1, 2, 3, 4, 5]),
    "cd": ([5], [1, 2, 3, 4, 7]),
    "ov": ([1, 2, 7], [3, 4, 5]),
    "sl": ([4], [1, 2, 3, 5, 7]),
    "sr": ([3], [1, 2, 4, 5, 7]),
    "nxr": ([1, 4], [2, 3, 5, 7]),
    "nxl": ([2, 3], [1, 4, 5, 7]),
}
ADJACENT_IDS = {"ts": [1, 4], "tstz": [1, 4], "d": [1], "i4": [1], "i8": [1], "n": [1]}


def ids(found: list[int]) -> list[dict[str, int]]:
    return [{"id": i} for i in found]


def get(name: str, query: str, expected: list[int]) -> Scenario:
    return Scenario(name, "GET", f"spans?select=id&order=id&{query}", 200, json=ids(expected))


def operator_scenarios() -> list[Scenario]:
    scenarios = []
    for column, value in VALUES.items():
        for op, (matching, negated) in EXPECTED.items():
            scenarios.append(get(f"{column} {op}", f"{column}={op}.{value}", matching))
            scenarios.append(get(f"{column} not.{op}", f"{column}=not.{op}.{value}", negated))
        scenarios.append(get(f"{column} adj", f"{column}=adj.{ADJACENT[column]}", ADJACENT_IDS[column]))
    return scenarios


@pytest.fixture
async def api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings), SCHEMA) as running:
        yield running


async def test_reads_answer_the_canonical_text(api: Api) -> None:
    await run(api, Scenario("stored as PostgreSQL stores them", "GET", "spans?order=id", 200, json=STORED))


async def test_each_operator_on_each_range_type(api: Api) -> None:
    await run_all(api, operator_scenarios())


async def test_bounds_elements_and_comparisons(api: Api) -> None:
    """Inclusive and exclusive bounds decide; an element is tested as a one-value range `[x,x]`;
    `eq`/`gt`/`in`... compare ranges as PostgreSQL orders them (not as text)."""
    await run_all(
        api,
        [
            get("touching an inclusive bound is not strictly left", "ts=sl.[2000-01-01 05:00,)", [4]),
            get("past an inclusive bound is", "ts=sl.(2000-01-01 05:00,)", [1, 4]),
            get("numrange holds its inclusive upper bound", "n=cs.[5,5]", [1, 7]),
            get("an exclusive lower bound", "n=ov.(10,11)", [3, 7]),
            get("int4range element 5 ([1,5] is [1,6))", "i4=cs.[5,5]", [1, 7]),
            get("int4range element 6 ((5,10) is [6,10))", "i4=cs.[6,6]", [2, 7]),
            get("daterange element", "d=cs.[2000-01-05,2000-01-05]", [1, 7]),
            get("tstzrange element, another zone", "tstz=cs.[2000-01-01 06:00+01,2000-01-01 06:00+01]", [1, 7]),
            get("everything but NULL is within (,)", "i8=cd.(,)", [1, 2, 3, 4, 5, 7]),
            get("eq compares canonical ranges", "i4=eq.[1,5]", [1]),
            get("eq compares numeric bounds by value", "n=eq.[1.0,5.00]", [1]),
            get("eq empty", "ts=eq.empty", [5]),
            get("in", 'i4=in.("[1,5]",empty)', [1, 5]),
            get("gt orders by lower, then upper bound", "i4=gt.[1,6)", [2, 3]),
            get("lt: empty and unbounded lower bounds first", "n=lt.[1,5]", [4, 5, 7]),
            get("not.lt leaves NULL out", "n=not.lt.[1,5]", [1, 2, 3]),
            get("neq", "d=neq.[2000-01-01,2000-01-05]", [2, 3, 4, 5, 7]),
            get("isdistinct keeps NULL", "ts=isdistinct.(,)", [1, 2, 3, 4, 5, 6]),
            get("eq(any)", 'i4=eq(any).{"[1,5]","[6,9]"}', [1, 2]),
            get("gte(all)", 'i4=gte(all).{"[1,5]","[6,9]"}', [2, 3]),
            get("in a logic tree", 'or=(i4.cs."[5,5]",n.sr."[-5,-1)")', [1, 2, 3, 7]),
        ],
    )


async def test_one_compiled_shape_serves_every_value(api: Api) -> None:
    """The statement cache keys by shape (values bound per request): the same filter with another
    range, list or a bad literal gets its own answer, and empty lists answer as PostgreSQL's arrays."""
    await run_all(
        api,
        [
            get("first value", "i4=eq.[1,5]", [1]),
            get("second value, same shape", "i4=eq.[6,10)", [2]),
            get("third, not canonical", "i4=eq.(5,9]", [2]),
            get("a list", 'i4=eq(any).{"[1,5]","[10,)"}', [1, 3]),
            get("another list, same shape", 'i4=eq(any).{"[6,10)"}', [2]),
            get("an empty list matches nothing", "i4=eq(any).{}", []),
            get("ALL of an empty list holds, NULL too", "i4=eq(all).{}", [1, 2, 3, 4, 5, 6, 7]),
            get("not.eq(any) of an empty list keeps NULL", "i4=not.eq(any).{}", [1, 2, 3, 4, 5, 6, 7]),
            get("NULL eq(all) a list is NULL, so its negation drops it", 'i4=not.eq(all).{"[1,5]"}', [2, 3, 4, 5, 7]),
        ],
    )
    await run(api, Scenario("then a bad literal", "GET", "spans?select=id&order=id&i4=eq.[1,x)", 400, code="22P02"))


async def test_bad_literals_answer_postgresqls_errors(api: Api) -> None:
    """A bare element is not a range literal (PostgREST sends the value untyped, so PostgreSQL reads
    it as the column's range type): 22P02 with PostgreSQL's DETAIL, as every malformed literal."""

    def bad(
        name: str, query: str, code: str, message: str, details: str | None = None, hint: str | None = None
    ) -> Scenario:
        return Scenario(
            name,
            "GET",
            f"spans?{query}",
            400,
            code=code,
            message=message,
            json={"code": code, "message": message, "details": details, "hint": hint},
        )

    await run_all(
        api,
        [
            bad(
                "a bare element",
                "i4=cs.3",
                "22P02",
                'malformed range literal: "3"',
                "Missing left parenthesis or bracket.",
            ),
            bad(
                "no closing bracket",
                "ts=ov.[2000-01-01,",
                "22P02",
                'malformed range literal: "[2000-01-01,"',
                "Unexpected end of input.",
            ),
            bad("three bounds", "n=cd.[1,2,3]", "22P02", 'malformed range literal: "[1,2,3]"', "Too many commas."),
            bad(
                "junk after the range",
                "d=sl.[2000-01-01,)x",
                "22P02",
                'malformed range literal: "[2000-01-01,)x"',
                "Junk after right parenthesis or bracket.",
            ),
            bad("a bound of the wrong type", "i8=sr.[1,x)", "22P02", 'invalid input syntax for type bigint: "x"'),
            bad(
                "a bad date",
                "d=adj.[2000-13-01,)",
                "22008",
                'date/time field value out of range: "2000-13-01"',
                hint='Perhaps you need a different "datestyle" setting.',
            ),
            bad(
                "a day past the month's end",
                "d=adj.[2000-02-30,)",
                "22008",
                'date/time field value out of range: "2000-02-30"',
            ),
            bad(
                "a bad timestamp",
                "tstz=nxl.[soon,)",
                "22007",
                'invalid input syntax for type timestamp with time zone: "soon"',
            ),
            bad(
                "bounds the wrong way round",
                "n=nxr.[5,1]",
                "22000",
                "range lower bound must be less than or equal to range upper bound",
            ),
            bad(
                "int4range bound too large",
                "i4=eq.[1,2147483648)",
                "22003",
                'value "2147483648" is out of range for type integer',
            ),
            Scenario("a range operator on a column that is not a range", "GET", "spans?id=sl.(1,2)", 404, code="42883"),
            bad(
                "a bad value in a list",
                'i4=in.("[1,2)",oops)',
                "22P02",
                'malformed range literal: "oops"',
                "Missing left parenthesis or bracket.",
            ),
        ],
    )


async def test_writes_store_the_canonical_text(api: Api) -> None:
    representation = {"Prefer": "return=representation"}
    written = {
        "id": 10,
        "ts": '["2000-01-01 13:00:00","2000-01-01 13:30:00")',
        "tstz": '["2000-01-01 11:00:00+00",)',
        "d": "[2000-01-01,2000-01-02)",
        "i4": "empty",
        "i8": "(,6)",
        "n": "[1.50,20]",
    }
    await run_all(
        api,
        [
            Scenario(
                "insert",
                "POST",
                "spans",
                201,
                headers=representation,
                body={
                    "id": 10,
                    "ts": "[2000-01-01 13:00, 2000-01-01 13:30)",
                    "tstz": "[2000-01-01 13:00+02,)",
                    "d": "[2000-01-01,2000-01-01]",
                    "i4": "(1,2)",
                    "i8": "[,5]",
                    "n": "[1.50,2e1]",
                },
                json=[written],
            ),
            Scenario("read back", "GET", "spans?id=eq.10", 200, json=[written]),
            Scenario(
                "update",
                "PATCH",
                "spans?id=eq.10&select=i4,d",
                200,
                headers=representation,
                body={"i4": "[1,1]", "d": "(2000-01-01,2000-01-03]"},
                json=[{"i4": "[1,2)", "d": "[2000-01-02,2000-01-04)"}],
            ),
            Scenario("found by the canonical value", "GET", "spans?select=id&i4=eq.[1,2)", 200, json=[{"id": 10}]),
            Scenario(
                "put",
                "PUT",
                "spans?id=eq.12&select=id,i8",
                201,
                headers=representation,
                body={"id": 12, "i8": "(3,4]"},
                json=[{"id": 12, "i8": "[4,5)"}],
            ),
            Scenario(
                "upsert",
                "POST",
                "spans?select=id,d",
                200,
                headers={"Prefer": "return=representation,resolution=merge-duplicates"},
                body={"id": 12, "d": "[2000-02-28,2000-02-29]"},
                json=[{"id": 12, "d": "[2000-02-28,2000-03-01)"}],
            ),
            Scenario(
                "a malformed range is not written",
                "POST",
                "spans",
                400,
                body={"id": 11, "i4": "[1,2"},
                json={
                    "code": "22P02",
                    "message": 'malformed range literal: "[1,2"',
                    "details": "Unexpected end of input.",
                    "hint": None,
                },
            ),
            Scenario(
                "nor bounds the wrong way round", "PATCH", "spans?id=eq.10", 400, body={"n": "[2,1]"}, code="22000"
            ),
            Scenario(
                "nothing was written",
                "GET",
                "spans?select=id,n&id=gte.10",
                200,
                json=[{"id": 10, "n": "[1.50,20]"}, {"id": 12, "n": None}],
            ),
            Scenario(
                "null",
                "PATCH",
                "spans?id=eq.10&select=ts",
                200,
                headers=representation,
                body={"ts": None},
                json=[{"ts": None}],
            ),
        ],
    )


# ---------------------------------------------------------------- behind row policies

RLS_SCHEMA = """
create table slots (
  id bigint primary key,
  owner uuid not null default auth.uid(),
  during tstzrange not null
);
alter table slots enable row level security;
create policy slots_select on slots for select using (auth.uid() = owner);
"""
ALICE = str(uuid.UUID(int=1))
BOB = str(uuid.UUID(int=2))


@pytest.fixture
async def rls_api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings), RLS_SCHEMA) as running:
        yield running


async def test_range_filters_under_row_policies(rls_api: Api) -> None:
    """Range filters see only the caller's rows. On SQLite they are not leakproof, so they run on a row
    only once its policy passed: a hidden row whose stored text they could not read never fails
    Alice's request (the same filter, bypassing the policies, does fail on it)."""
    api = rls_api
    slots = [
        (1, ALICE, "[2000-01-01 10:00+00,2000-01-01 11:00+00)"),
        (2, BOB, "[2000-01-01 10:30+00,2000-01-01 12:00+00)"),
        (3, ALICE, "[2000-01-02 10:00+00,2000-01-02 11:00+00)"),
    ]
    for id_, owner, during in slots:
        body = {"id": id_, "owner": owner, "during": during}
        await run(api, Scenario(f"seed {id_}", "POST", "slots", 201, body=body))

    def alice(name: str, query: str, expected: list[int]) -> Scenario:
        token = api.token(sub=ALICE, role="authenticated", aud="authenticated")
        return Scenario(
            name,
            "GET",
            f"slots?select=id&order=id&{query}",
            200,
            role="anon",
            headers={"Authorization": f"Bearer {token}"},
            json=ids(expected),
        )

    overlapping = "during=ov.[2000-01-01 10:45Z,2000-01-01 10:50Z]"
    await run_all(
        api,
        [
            alice("overlaps: Bob's row is hidden", overlapping, [1]),
            alice("strictly right", "during=sr.(,2000-01-01 12:00Z)", [3]),
            alice("not.cd", "during=not.cd.[2000-01-01,2000-01-02)", [3]),
            alice("in an or=", 'or=(during.adj."[2000-01-01 11:00Z,2000-01-01 12:00Z)",id.eq.3)', [1, 3]),
            Scenario(
                "the service role sees both", "GET", f"slots?select=id&order=id&{overlapping}", 200, json=ids([1, 2])
            ),
        ],
    )
    if api.dialect != "sqlite":
        return
    async with api.app.engine.transaction() as conn:
        await conn.execute("update slots set during = '[not a range' where id = 2")
    await run(api, alice("a hidden bad row is never read", overlapping, [1]))
    await run(api, alice("nor compared", "during=eq.[2000-01-01 10:00Z,2000-01-01 11:00Z)", [1]))
    await run(api, Scenario("read without policies, it fails", "GET", f"slots?{overlapping}", 400, code="22P02"))

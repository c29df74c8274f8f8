"""Hidden rows cannot be observed through errors or time (issue 16, findings 1 and 7), both engines.

Alice owns one row of `secrets` under `auth.uid() = owner`; Bob and anon must learn nothing of it.
PostgreSQL's security barrier runs the policy before any expression the caller controls. On SQLite
the data API guards the caller's leaky filters behind the policy, and SQL it did not build goes
through `protect()`. The probes:

- an error oracle: a JSON path on a text column fails on text that is not JSON (SQLite:
  "malformed JSON") — so Alice's secret is made not-JSON, then JSON, and every request as Bob and
  anon must answer the same both times (reads, counts, embeds, `!inner`, `or=`, PATCH, DELETE,
  set-returning RPC with filters, an RPC whose own body filters with the caller's argument);
- a time oracle: a backtracking regex that costs seconds on Alice's secret and nothing on others;
- `@rpc` Python queries naming the table in another case, quoted, `main.`-prefixed or shadowed by
  a CTE in another scope still read through the policy; an unknown table is an error.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.rest.http_api import Api, running_api
from tests.services import postgres_database

pytestmark = pytest.mark.anyio

ALICE = "00000000-0000-4000-8000-00000000000a"
BOB = "00000000-0000-4000-8000-00000000000b"
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

SCHEMA = """
create table boxes (id bigint primary key, label text not null);
create table secrets (
  id bigint primary key,
  box_id bigint not null references boxes(id),
  owner uuid not null,
  secret text not null,
  meta jsonb
);
create index secrets_fts on secrets using gin (to_tsvector('simple', secret));
alter table secrets enable row level security;
create policy own_secrets on secrets for all using (auth.uid() = owner) with check (auth.uid() = owner);
create table haystack (id bigint primary key, owner uuid not null, body text not null);
create index haystack_fts on haystack using gin (to_tsvector('simple', body));
create index haystack_owner on haystack (owner);
alter table haystack enable row level security;
create policy own_hay on haystack for select using (auth.uid() = owner);
create view secrets_inv with (security_invoker = true) as select * from secrets;
create function all_secrets() returns setof secrets language sql stable as $$ select * from secrets $$;
create function secrets_by_k(k text) returns setof secrets language sql stable
  as $$ select * from secrets where meta->>'k' = k $$;
create function touch_by_k(k text) returns void language sql
  as $$ update secrets set box_id = box_id where meta->>'k' = k $$;
"""

FUNCTIONS = """
from backstack import rpc


@rpc(volatility="stable")
async def py_query(ctx, sql: str) -> list:
    return [list(row) for row in await ctx.db.fetch_all(sql)]


@rpc
async def py_write(ctx, sql: str) -> list:
    return [list(row) for row in await ctx.db.fetch_all(sql)]
"""

SECRET = "hunter2-" + "a" * 24
SLOW_REGEX = "^hunter2-(?:a|a){0,24}!"  # ~2^24 backtracking steps (seconds) on SECRET, none on others
FTS = "secret=like.hunter*&secret=fts.(a|b)<->c"  # a query SQLite's FTS5 may only fail on when it runs


def _states(dialect: str) -> tuple[dict[str, str], dict[str, str]]:
    """Alice's row as SQL values: one that makes the probes fail if they reach it, one that does not.

    On SQLite a JSON column holding text that is not JSON (written around the API) makes any JSON
    path on it fail; PostgreSQL cannot store it, and its security barrier needs no such proof."""
    failing_meta = '\'{"k": "x"}\'' if dialect == "postgres" else "'not json'"
    return ({"secret": f"'{SECRET}'", "meta": failing_meta}, {"secret": "'zzz'", "meta": "'{\"k\": 2}'"})


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=ENGINES)
async def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    with postgres_database(request.param) as database_url:
        settings = make_settings(Path(tmp_path_factory.mktemp(f"oracles-{request.param}")), database_url)
        (settings.project_dir / "functions").mkdir(parents=True, exist_ok=True)
        (settings.project_dir / "functions" / "rpcs.py").write_text(FUNCTIONS, encoding="utf-8")
        async with running_api(settings, SCHEMA) as running:
            await _service(running, "POST", "boxes", [{"id": 1, "label": "shared"}])
            await _service(running, "POST", "secrets", [{"id": 1, "box_id": 1, "owner": ALICE, "secret": SECRET}])
            yield running


async def _set_alice(api: Api, values: dict[str, str]) -> None:
    sets = ", ".join(f"{column} = {value}" for column, value in values.items())
    async with api.app.engine.transaction() as conn:
        await conn.execute(f"update secrets set {sets} where id = 1")


async def _service(api: Api, method: str, target: str, body: Any = None) -> None:
    response = await api.request(method, target, body=body)
    assert response.status_code in (200, 201, 204), response.text


def _headers(api: Api, actor: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = dict(extra or {})
    if actor == "bob":
        headers["Authorization"] = "Bearer " + api.token(sub=BOB, role="authenticated")
    return headers


async def _as(
    api: Api, actor: str, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await api.request(method, target, role="anon", headers=_headers(api, actor, headers), body=body)


def _answer(response: httpx.Response) -> tuple[int, str, str | None]:
    return response.status_code, response.text, response.headers.get("content-range")


COUNT = {"Prefer": "count=exact"}
PROBES: list[tuple[str, str, Any, dict[str, str] | None]] = [
    ("GET", f"secrets?{FTS}", None, None),
    ("GET", "secrets?meta->>k=eq.1", None, None),
    ("GET", "secrets?select=id&meta->k=eq.1", None, COUNT),
    ("HEAD", f"secrets?{FTS}", None, COUNT),
    ("GET", 'secrets?meta=cs.{"k":1}', None, None),
    ("GET", "secrets?or=(meta->>k.eq.1,id.eq.0)", None, COUNT),
    ("GET", "secrets?and=(owner.neq." + BOB + ",or(meta->>k.eq.1,meta->>k.eq.2))", None, None),
    ("GET", "boxes?select=id,secrets(id)&secrets.meta->>k=eq.1", None, None),
    ("GET", "boxes?select=id,secrets!inner(id)&secrets.meta->>k=eq.1", None, COUNT),
    (
        "GET",
        "boxes?select=id,secrets(id)&secrets=not.is.null&secrets.secret=like.hunter*&secrets.secret=fts.(a|b)<->c",
        None,
        None,
    ),
    ("PATCH", "secrets?meta->>k=eq.1", {"box_id": 1}, {"Prefer": "return=representation"}),
    ("PATCH", f"secrets?{FTS}", {"box_id": 1}, None),
    ("DELETE", "secrets?meta->>k=eq.1", None, {"Prefer": "return=representation"}),
    ("DELETE", f"secrets?{FTS}", None, None),
    ("GET", "secrets_inv?meta->>k=eq.1", None, COUNT),
    ("GET", f"secrets_inv?{FTS}", None, None),
    ("POST", "rpc/py_query", {"sql": "SELECT id FROM secrets_inv WHERE meta ->> 'k' = '1'"}, None),
    ("GET", "rpc/all_secrets?meta->>k=eq.1", None, COUNT),
    ("GET", "rpc/all_secrets?select=id&or=(meta->>k.eq.1)", None, None),
    ("POST", "rpc/secrets_by_k", {"k": "1"}, None),
    ("POST", "rpc/touch_by_k", {"k": "1"}, None),
]


async def _answers(api: Api, actor: str) -> list[tuple[int, str, str | None]]:
    return [_answer(await _as(api, actor, method, target, body, headers)) for method, target, body, headers in PROBES]


@pytest.mark.parametrize("actor", ["bob", "anon"])
async def test_errors_do_not_depend_on_hidden_rows(api: Api, actor: str) -> None:
    """Each probe answers the same whether Alice's hidden secret would make it fail or not."""
    failing, passing = _states(api.dialect)
    try:
        await _set_alice(api, failing)
        when_failing = await _answers(api, actor)
        await _set_alice(api, passing)
        when_passing = await _answers(api, actor)
    finally:
        await _set_alice(api, failing)
    leaks = [
        f"{method} {target}: {fails} != {passes}"
        for (method, target, _, _), fails, passes in zip(PROBES, when_failing, when_passing, strict=True)
        if fails != passes or fails[0] >= 500
    ]
    assert not leaks, f"[{api.dialect}] {actor}:\n" + "\n".join(leaks)
    assert [row[:4] for row in await api.table("secrets")] == [("1", "1", ALICE, SECRET)]


@pytest.mark.parametrize("actor", ["bob", "anon"])
@pytest.mark.serial  # times requests
async def test_time_does_not_depend_on_hidden_rows(api: Api, actor: str) -> None:
    """A regex that backtracks for seconds on Alice's secret never runs on it."""
    slow = []
    for target in (
        f"secrets?secret=match.{SLOW_REGEX}",
        f"boxes?select=id,secrets!inner(id)&secrets.secret=match.{SLOW_REGEX}",
        f"rpc/all_secrets?secret=match.{SLOW_REGEX}",
        f"secrets?secret=imatch.{SLOW_REGEX}&or=(id.eq.1,id.eq.2)",
    ):
        started = time.monotonic()
        response = await _as(api, actor, "GET", target)
        elapsed = time.monotonic() - started
        assert response.status_code in (200, 400), response.text  # 400: a regex the engine refuses
        if elapsed > 0.5:
            slow.append(f"{target}: {elapsed:.2f} s")
    assert not slow, f"[{api.dialect}] {actor}:\n" + "\n".join(slow)


async def test_alice_still_sees_through_the_same_filters(api: Api) -> None:
    """The guard keeps the owner's answers: her leaky filters still run on her own row."""
    alice = {"Authorization": "Bearer " + api.token(sub=ALICE, role="authenticated")}
    response = await api.request("GET", "secrets?select=id&secret=like.hunter*", role="anon", headers=alice)
    assert response.json() == [{"id": 1}]
    response = await api.request(
        "GET", "boxes?select=id,secrets!inner(id)&secrets.secret=like.hunter*", role="anon", headers=alice
    )
    assert response.json() == [{"id": 1, "secrets": [{"id": 1}]}]
    response = await api.request("GET", "rpc/all_secrets?select=id&secret=match.^hunter", role="anon", headers=alice)
    assert response.json() == [{"id": 1}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, secret FROM Secrets",
        'SELECT id, secret FROM "SECRETS"',
        "SELECT id, secret FROM main.secrets",
        'SELECT s.id, s.secret FROM "main"."Secrets" AS s',
        "SELECT id, secret FROM secrets WHERE EXISTS (WITH secrets AS (SELECT 1) SELECT * FROM secrets)",
        "WITH x AS (SELECT 1) SELECT id, secret FROM SeCrEtS, x",
    ],
)
async def test_python_queries_resolve_names_as_the_engine(api: Api, sql: str) -> None:
    """Bob's @rpc query sees no hidden row however it spells the table."""
    if api.dialect == "postgres":
        sql = sql.replace("main.", "public.").replace('"main".', '"public".').replace('"SECRETS"', "secrets")
        sql = sql.replace('"Secrets"', "secrets")
    response = await _as(api, "bob", "POST", "rpc/py_query", body={"sql": sql})
    assert response.status_code == 200, response.text
    assert response.json() == []


async def test_python_queries_refuse_unknown_tables(api: Api) -> None:
    """A table the schema does not know is an error, never read unprotected."""
    response = await _as(api, "bob", "POST", "rpc/py_query", body={"sql": "SELECT * FROM no_such_table"})
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "42P01"


HIDDEN_MATCHES = 100_000


@pytest.mark.serial  # compares medians of request times
async def test_full_text_search_time_does_not_count_hidden_matches(api: Api) -> None:
    """`fts.` as Bob costs the same whether 100,000 of Alice's hidden rows hold the word or none do
    (SQLite: each row is looked up in the index behind the policy, not every match collected)."""
    rows = f"select i, '{ALICE}', 'a needle in ' || i from "
    rows += (
        f"(with recursive n(i) as (select 2 union all select i + 1 from n where i <= {HIDDEN_MATCHES}) select i from n)"
        if api.dialect == "sqlite"
        else f"generate_series(2, {HIDDEN_MATCHES + 1}) as s(i)"
    )
    async with api.app.engine.transaction() as conn:
        await conn.execute(f"insert into haystack (id, owner, body) values (1, '{BOB}', 'hay and more hay')")
        await conn.execute(f"insert into haystack (id, owner, body) {rows}")
    if api.dialect == "postgres":
        async with api.app.engine.transaction() as conn:
            await conn.execute("analyze haystack")

    async def median(word: str) -> float:
        times = []
        for _ in range(7):
            started = time.monotonic()
            response = await _as(api, "bob", "GET", f"haystack?select=id&body=fts.{word}")
            times.append(time.monotonic() - started)
            assert response.status_code == 200 and response.json() == [], response.text
        return statistics.median(times)

    await median("warmup")
    hidden, absent = await median("needle"), await median("absent")
    timings = f"[{api.dialect}] needle {hidden * 1000:.1f} ms, absent {absent * 1000:.1f} ms"
    assert hidden - absent < 0.03 + absent, timings


@pytest.mark.parametrize(
    ("function", "sql"),
    [
        ("py_query", "SELECT rowid, * FROM haystack_fts('needle')"),
        ("py_query", "SELECT * FROM dbstat('main')"),
        ("py_query", "SELECT 1 IN secrets"),
        ("py_query", "PRAGMA table_info(secrets)"),
        ("py_write", "ATTACH DATABASE ':memory:' AS other"),
        ("py_write", "REPLACE INTO boxes (id, label) SELECT id + 100, secret FROM secrets"),
        ("py_write", f"INSERT OR REPLACE INTO secrets (id, box_id, owner, secret) VALUES (1, 1, '{BOB}', 'mine')"),
    ],
)
async def test_python_queries_around_the_policies_are_refused(api: Api, function: str, sql: str) -> None:
    """Table-valued functions over tables, `x IN table`, REPLACE and non-DML statements are refused
    on SQLite (0A000); PostgreSQL rejects them as its own SQL. Nothing is read or written."""
    response = await _as(api, "bob", "POST", f"rpc/{function}", body={"sql": sql})
    assert response.status_code in (400, 404), response.text
    assert "hunter" not in response.text
    assert await api.table("boxes") == [("1", "shared")]
    assert [row[:4] for row in await api.table("secrets")] == [("1", "1", ALICE, SECRET)]

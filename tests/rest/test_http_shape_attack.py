"""Statement cache by request shape: a request answered with a statement compiled for another request
of the same shape (other values) answers exactly as when compiled for its own values, on both engines."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from backstack.config import Settings
from backstack.rest.routes import RestApp
from backstack.rest.sql import statement_cache
from tests.rest.http_api import Api, http_settings, running_api

pytestmark = pytest.mark.anyio

SCHEMA = """
create table parents (id bigint primary key, name text);
create table items (
  id bigint primary key,
  parent_id bigint references parents(id),
  n numeric,
  s text,
  j jsonb,
  arr integer[],
  r int4range,
  d date,
  ok boolean
);
insert into parents values (1, 'p1'), (2, 'p%2');
insert into items values
  (1, 1, 1.5, 'a_b', '{"k": 1, "x": "y", "l": [1, 2]}', '{1,2}', '[1,5)', '2024-01-01', true),
  (2, 1, 2, 'a%b', '{"k": "1", "x": null}', '{}', 'empty', '2024-02-01', false),
  (3, 2, null, 'null', null, null, null, null, null),
  (4, 2, -3, 'The quick brown fox', '{"k": [1]}', '{3}', '(,10]', '2023-12-31', true);
create function all_items() returns setof items language sql stable as $$ select * from items $$;
"""

# (a request warming the cache, then one of the same shape with other values)
PAIRS = [
    ("id=eq.1", "id=eq.abc"),
    ("id=eq.1", "id=eq.2.5"),
    ("id=eq.1", "id=eq."),
    ("n=eq.1.5", "n=eq.null"),
    ("s=eq.x", "s=eq.null"),
    ("s=is.null", "s=is.not_null"),
    ("ok=is.true", "ok=is.false"),
    ("s=in.(x)", "s=in.()"),
    ("s=in.()", "s=in.(null,a_b)"),
    ("id=in.(1)", "id=in.(1,2,x)"),
    ("id=in.(1)", 'id=in.("2",3)'),
    ("s=like.*a*", "s=like.a_b"),
    ("s=like.*a*", "s=like.a%b"),
    ("s=like.*a*", "s=like.a\\%b"),
    ("s=ilike.A*", "s=ilike.*%*"),
    ("s=match.^a", "s=match.("),
    ("j->>k=eq.1", "j->>k=eq.x"),
    ("j->k=eq.1", 'j->k=eq."1"'),
    ("j->k=eq.1", "j->k=eq.[1]"),
    ("j->k=eq.1", "j->k=eq.nope"),
    ('j=cs.{"k":1}', 'j=cs.{"k":"1"}'),
    ('j=cs.{"k":1}', "j=cs.[]"),
    ('j=cs.{"k":1}', "j=cs.nope"),
    ("arr=cs.{1}", "arr=cs.{}"),
    ("arr=cs.{1}", "arr=cs.{x}"),
    ("arr=ov.{1}", "arr=ov.{3,1}"),
    ("arr=cd.{1,2,3}", "arr=cd.{}"),
    ("arr=eq.{1,2}", "arr=eq.{}"),
    ("r=cs.3", "r=cs.[2,3]"),
    ("r=adj.[5,6)", "r=adj.empty"),
    ("r=eq.[1,5)", "r=eq.[1,4]"),
    ("r=sl.[6,7)", "r=sl.(,0]"),
    ("r=in.([1,5))", 'r=in.(empty,"(,10]")'),
    ("d=gt.2024-01-01", "d=gt.infinity"),
    ("d=gt.2024-01-01", "d=gt.1 day"),
    ("s=fts.fox", "s=fts.quick & fox"),
    ("s=fts.fox", "s=fts.'"),
    ("s=plfts.fox", "s=plfts."),
    ("s=wfts.fox", 's=wfts."quick brown" -cat'),
    ("s=phfts.fox", "s=phfts.quick brown"),
    ("s=fts(english).fox", "s=fts(english).foxes"),
    ("s=fts(english).fox", "s=fts(simple).foxes"),
    ("id=eq(any).{1,2}", "id=eq(any).{}"),
    ("id=gt(all).{1,2}", "id=gt(all).{}"),
    ("s=like(any).{a*,*fox}", "s=like(any).{}"),
    ("s=like(all).{a*}", "s=like(all).{*%*,*b}"),
    ("id=isdistinct.1", "id=isdistinct.null"),
    ("s=isdistinct.x", "s=isdistinct.null"),
    ("or=(id.eq.1,s.eq.x)", "or=(id.eq.3,s.eq.null)"),
    ("or=(id.eq.1,s.is.null)", "or=(id.eq.2,s.is.null)"),
    ("or=(id.in.(1),n.gt.0)", "or=(id.in.(),n.gt.-5)"),
    ("and=(id.gt.0,or(s.eq.x,s.eq.y))", "and=(id.gt.2,or(s.eq.null,s.like.*fox))"),
    ("not.s=eq.x", "not.s=eq.a_b"),
    ("not.s=in.(x)", "not.s=in.()"),
    ("id=not.in.(1)", "id=not.in.()"),
    ("select=id,parents(name)&parents.name=eq.p1", "select=id,parents(name)&parents.name=eq.p%2"),
    ("select=id,parents!inner(name)&parents.name=eq.p1", "select=id,parents!inner(name)&parents.name=in.()"),
    ("select=id,parents!inner(name)&parents.name=like.p*", "select=id,parents!inner(name)&parents.name=like.p%"),
    ("select=id,parents(id)&parents.id=eq.1", "select=id,parents(id)&parents.id=eq.x"),
    ("select=id,n::text&n=gt.1", "select=id,n::text&n=gt.-10"),
    ("id=eq.1&limit=1&offset=0", "id=eq.2&limit=1&offset=0"),
    ("id=gte.1&order=id.desc&limit=2", "id=gte.3&order=id.desc&limit=2"),
    ("ok=eq.true", "ok=eq.yes"),
    ("ok=eq.true", "ok=eq.2"),
    ("n=gt.1", "n=gt.NaN"),
    ("n=gt.1", "n=gt.1e3"),
    ("s=eq.x", "s=eq.'; drop table items; --"),
    ("s=eq.x", "s=eq.$1"),
    ("s=eq.x", "s=eq.?1"),
    ("j->>x=is.null", "j->>x=eq.null"),
]


@pytest.fixture
async def api(engine_settings: Settings) -> Any:
    async with running_api(http_settings(engine_settings), SCHEMA) as running:
        yield running


def rest_app() -> RestApp:
    apps = [o for o in gc.get_objects() if isinstance(o, RestApp)]
    return apps[-1]


async def answer(api: Api, path: str, target: str, headers: dict[str, str]) -> tuple[int, Any]:
    response = await api.request(
        "GET",
        f"{path}?select=id&{target}" if "select=" not in target else f"{path}?{target}",
        headers={**headers, "Prefer": "count=exact"},
    )
    body = response.json() if response.content else None
    return response.status_code, (body, response.headers.get("content-range"))


@pytest.mark.parametrize("path", ["items", "rpc/all_items"])
@pytest.mark.parametrize("headers", [{}, {"Range": "1-2"}])
async def test_a_shared_statement_answers_as_its_own(
    api: Api, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], path: str
) -> None:
    app = rest_app()
    warm: dict[str, tuple[int, Any]] = {}
    for first, second in PAIRS:
        await answer(api, path, first, headers)
        warm[second] = await answer(api, path, second, headers)
    # every value compiled into its own statement (nothing taken out of the shape, nothing cached)
    monkeypatch.setattr(statement_cache, "shape_parameters", lambda *a, **k: False)
    app._parse_query.cache_clear()
    app.data.statements._items.clear()
    differ = []
    for _, second in PAIRS:
        app.data.statements._items.clear()
        cold = await answer(api, path, second, headers)
        if cold != warm[second] or cold[0] >= 500:
            differ.append((second, warm[second], cold))
    assert differ == []


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_shared_write_statement_answers_as_its_own(
    api: Api, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """The same for writes (rolled back: `Prefer: tx=rollback`), filters choosing the rows changed."""
    app = rest_app()
    pairs = [(a, b) for a, b in PAIRS if "parents" not in a]
    prefer = {"Prefer": "return=representation,tx=rollback"}
    body = {"ok": True} if method == "PATCH" else None

    async def write(target: str) -> tuple[int, Any]:
        path = f"items?select=id&{target}" if "select=" not in target else f"items?{target}"
        response = await api.request(method, path, headers=prefer, body=body)
        return response.status_code, response.json() if response.content else None

    warm: dict[str, tuple[int, Any]] = {}
    for first, second in pairs:
        await write(first)
        warm[second] = await write(second)
    monkeypatch.setattr(statement_cache, "shape_parameters", lambda *a, **k: False)
    app._parse_query.cache_clear()
    differ = []
    for _, second in pairs:
        app.data.statements._items.clear()
        cold = await write(second)
        if cold != warm[second] or cold[0] >= 500:
            differ.append((second, warm[second], cold))
    assert differ == []

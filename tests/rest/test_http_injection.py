"""SQL-injection attempts in every position of a request, through the real app on both engines.

Each payload is put in each position (table path, select names/aliases/casts, JSON path keys,
filter names and values, logic trees, order, limit, embeds and hints, fts config, columns=,
on_conflict, body keys, Prefer/profile headers). The rule: never a 5xx, a 4xx in PostgREST's error
shape or a 2xx that treated the text as a name or value, and every table exactly as before.
Values must round-trip: a payload stored as a title is read back and deleted by `eq` exactly.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.rest.http_api import Api, api, assert_error_shape

__all__ = ["api"]

pytestmark = pytest.mark.anyio

PAYLOADS = [
    '"; drop table todos; --',
    "todos); delete from todos; --",
    "' or '1'='1",
    "x'); drop table todos; --",
    '" or ""="',
    "id/**/or/**/1=1",
    "1; delete from todos",
    "title\x00; drop table todos",
    "t\u00eftle\u2019; drop table todos; -- \u02bc\uff1b",
    "$1) or (1=1",
    "\\'; drop table todos; --",
    ") union select 1,2,3 --",
    "title`; drop table todos",
    "todos.title = todos.title --",
]

P = "{p}"  # where the payload goes; it is percent-encoded there
GET_POSITIONS = [
    "{p}",  # the table name in the path
    "todos?select={p}",
    'todos?select="{p}"',
    "todos?select={p}:title",
    "todos?select=title::{p}",
    "todos?select={p}:title::text",
    "books?select=meta->{p}",
    "books?select=meta->>{p}",
    'books?select=meta->"{p}"',
    'books?select="{p}":meta->x',
    'todos?select="{p}":title',
    "books?select=id&meta->>{p}=eq.1",
    "books?select=id&meta->{p}->>x=eq.1",
    "todos?{p}=eq.1",
    'todos?"{p}"=eq.1',
    "todos?title=eq.{p}",
    "todos?title=neq.{p}",
    "todos?title=in.({p})",
    'todos?title=in.("{p}")',
    "todos?title=like.{p}",
    "todos?title=ilike.*{p}*",
    "todos?title=is.{p}",
    "todos?title=match.{p}",
    "todos?id=eq.{p}",
    "todos?title=eq.{p}&select=id",
    "todos?or=(title.eq.{p},id.eq.99)",
    "todos?or=({p}.eq.1)",
    "todos?and=(id.gt.0,not.or(title.eq.{p}))",
    "todos?order={p}",
    "todos?order=title.{p}",
    "todos?order=title.desc,{p}",
    "todos?limit={p}",
    "todos?offset={p}",
    "books?title=fts({p}).x",
    "books?title=fts.{p}",
    "books?title=wfts.{p}",
    "books?select=id,{p}(*)",
    "books?select=id,authors!{p}(name)",
    "books?select=id,authors!inner!{p}(name)",
    "books?select=id,{p}:authors(name)",
    "books?select=id,authors(name)&authors.{p}=eq.1",
    "books?select=id,authors(name)&authors.name=eq.{p}",
    "authors?select=id,books(id)&books.order={p}",
    "authors?select=id,books(id)&books.limit={p}",
    "books?select=id,authors(name)&{p}=not.is.null",
]
WRITE_POSITIONS = [
    ("POST", "todos?columns={p}", '{"title": "x"}'),
    ("POST", 'todos?columns="{p}"', '{"title": "x"}'),
    ("POST", "todos?columns=title,{p}", '{"title": "x"}'),
    ("POST", "todos?on_conflict={p}", '{"title": "x"}'),
    ("POST", "todos?select={p}", '{"title": "x"}'),
    ("POST", "todos?select=id,{p}(*)", '{"title": "x"}'),
    ("POST", "{p}", '{"title": "x"}'),
    ("PATCH", "todos?title=eq.{p}", '{"note": "x"}'),
    ("PATCH", "todos?{p}=eq.1", '{"note": "x"}'),
    ("PATCH", "todos?or=(title.eq.{p})", '{"note": "x"}'),
    ("PATCH", "todos?id=in.({p})", '{"note": "x"}'),
    ("DELETE", "todos?title=eq.{p}", None),
    ("DELETE", "todos?{p}=eq.1", None),
    ("DELETE", "todos?or=(title.eq.{p},id.eq.99)", None),
    ("DELETE", "todos?id=in.({p})", None),
    ("DELETE", "{p}?id=eq.1", None),
]
WRITE_HEADERS = {"Prefer": "resolution=merge-duplicates, return=representation"}


def fill(template: str, payload: str) -> str:
    """The target with the payload percent-encoded (in the path too); everything else kept as written."""
    path, _, qs = template.partition("?")
    encoded = quote(payload, safe="")
    target = path.replace(P, encoded)
    if qs:
        target += "?" + quote(qs, safe="=&,()*.:!\"'->{}").replace(P, encoded)
    return target


async def attempt(
    api: Api, method: str, target: str, body: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    response = await api.request(method, target, body=body, headers=headers, raw_query=True)
    where = f"[{api.dialect}] {method} {target} -> {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        assert_error_shape(response)
    return response


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"payload{i}" for i in range(len(PAYLOADS))])
async def test_injection_in_every_position(api: Api, payload: str) -> None:
    before = await api.snapshot()
    failures: list[str] = []
    for template in GET_POSITIONS:
        for method in ("GET", "HEAD"):
            try:
                await attempt(api, method, fill(template, payload))
            except AssertionError as error:
                failures.append(str(error))
    for method, template, body in WRITE_POSITIONS:
        try:
            await attempt(api, method, fill(template, payload), body, WRITE_HEADERS)
            if method != "POST" and await api.snapshot() != before:
                failures.append(f"{method} {template}: changed the database")
        except AssertionError as error:
            failures.append(str(error))
    for body in (f'{{"{json_key(payload)}": "x"}}', f'[{{"title": "a"}}, {{"{json_key(payload)}": 1}}]'):
        for method, target in (("POST", "todos"), ("PATCH", "todos?id=eq.1")):
            try:
                response = await attempt(api, method, target, body)
                assert response.status_code >= 400, f"{method} with body key {payload!r} was accepted"
            except AssertionError as error:
                failures.append(str(error))
    for name, value in (
        ("Accept-Profile", payload),
        ("Content-Profile", payload),
        ("Prefer", payload),
        ("Range", payload),
        ("Accept", payload),
    ):
        if "\x00" in value or not value.isascii():
            continue  # not sendable as an HTTP header value
        try:
            await attempt(api, "GET", "todos", headers={name: value})
            await attempt(api, "DELETE", "todos?id=eq.99", headers={name: value})
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)
    after = await api.snapshot()
    inserted = [row for row in after["todos"] if row not in before["todos"]]
    assert {k: v for k, v in after.items() if k != "todos"} == {k: v for k, v in before.items() if k != "todos"}
    assert all(row in after["todos"] for row in before["todos"]), "a seeded todo was changed or deleted"
    assert all(row[1] == "x" for row in inserted), inserted  # only the plain {"title": "x"} bodies went in


def json_key(payload: str) -> str:
    """The payload as the inside of a JSON string."""
    import json

    return json.dumps(payload)[1:-1]


async def test_values_round_trip_as_values(api: Api) -> None:
    """Each payload stored as a title comes back byte for byte, is found by `eq`/`in` and deleted alone."""
    for payload in PAYLOADS:
        await round_trip(api, payload)


async def round_trip(api: Api, payload: str) -> None:
    before = await api.snapshot()
    encoded = quote(payload, safe="")
    stored = await api.request(
        "POST", "todos?select=title", body={"title": payload}, headers={"Prefer": "return=representation"}
    )
    if "\x00" in payload:  # PostgreSQL text cannot hold NUL: both engines refuse it
        assert stored.status_code == 400 and stored.json()["code"] == "22P05"
        assert await api.snapshot() == before
        return
    assert stored.status_code == 201 and stored.json() == [{"title": payload}], stored.text
    found = await api.request("GET", f"todos?select=title&title=eq.{encoded}", raw_query=True)
    assert found.json() == [{"title": payload}]
    quoted = '"' + payload.replace("\\", "\\\\").replace('"', '\\"') + '"'
    found_in = await api.request("GET", f"todos?select=title&title=in.({quote(quoted, safe='')})", raw_query=True)
    assert found_in.json() == [{"title": payload}], found_in.text
    gone = await api.request("DELETE", f"todos?title=eq.{encoded}", headers={"Prefer": "count=exact"}, raw_query=True)
    assert gone.status_code == 204 and gone.headers["content-range"] == "*/1"
    assert await api.snapshot() == before

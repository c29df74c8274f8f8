"""Row-level security through the official supabase-py (sync) client against a live `backstack serve`.

Two users sign up and sign in for real through /auth/v1; each client then sends its own access token,
as an application does. The schema is tests/compat/policies_schema.sql (policies written as for
Supabase); expectations are PostgreSQL's, on both engines. tests/rest/test_http_policies.py holds the
full matrix and the attacks; this file checks what the client sees of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

from tests.compat.conftest import LiveServer, compat_server

pytestmark = pytest.mark.compat
PASSWORD = "correct horse battery"
RLS_INSERT = 'new row violates row-level security policy for table "todos"'


@dataclass(frozen=True)
class Party:
    """A live server and one client per actor: anon, users A and B (signed in), service_role."""

    server: LiveServer
    anon: Client
    a: Client
    b: Client
    service: Client
    a_id: str
    b_id: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def party(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Party]:
    schema = Path(__file__).with_name("policies_schema.sql")
    with compat_server(request.param, tmp_path_factory.mktemp(f"policies-{request.param}"), schema) as server:
        a, a_id = _signed_in(server, "Ann")
        b, b_id = _signed_in(server, "Bob")
        yield Party(server, _client(server, server.anon_key), a, b, _client(server, server.service_key), a_id, b_id)


def _client(server: LiveServer, key: str) -> Client:
    return create_client(server.url, key, ClientOptions(auto_refresh_token=False, persist_session=True))


def _signed_in(server: LiveServer, name: str) -> tuple[Client, str]:
    """A client signed up, signed out, then signed in with its password; its own profile created."""
    sb = _client(server, server.anon_key)
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    sb.auth.sign_up({"email": email, "password": PASSWORD})
    sb.auth.sign_out()
    signed_in = sb.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.user is not None and signed_in.session is not None
    assert sb.table("profiles").insert({"name": name}).execute().data[0]["id"] == signed_in.user.id
    return sb, signed_in.user.id


def _todo(sb: Client, title: str | None = None) -> dict[str, object]:
    row = sb.table("todos").insert({"title": title or f"t-{uuid.uuid4().hex[:8]}"}).execute().data[0]
    return dict(row)


def _exists(party: Party, id: object) -> dict[str, object] | None:
    found = party.service.table("todos").select("*").eq("id", id).execute().data
    return dict(found[0]) if found else None


def test_each_user_sees_only_their_own_rows(party: Party) -> None:
    mine, theirs = _todo(party.a), _todo(party.b)
    seen_by_a = {r["id"] for r in party.a.table("todos").select("id, owner").execute().data}
    assert mine["id"] in seen_by_a and theirs["id"] not in seen_by_a
    assert mine["owner"] == party.a_id  # `owner default auth.uid()`: the request ran as A
    assert all(r["owner"] == party.b_id for r in party.b.table("todos").select("owner").execute().data)
    assert party.anon.table("todos").select("*").execute().data == []
    everything = {r["id"] for r in party.service.table("todos").select("id").execute().data}
    assert {mine["id"], theirs["id"]} <= everything


def test_counts_and_embeds_show_only_visible_rows(party: Party) -> None:
    _todo(party.a)
    _todo(party.b)
    own = party.a.table("todos").select("id", count="exact").execute()
    assert own.count == len(own.data) and own.count > 0
    assert own.count == len(party.service.table("todos").select("id").eq("owner", party.a_id).execute().data)
    profiles = party.a.table("profiles").select("id, todos(owner)").execute().data
    assert {p["id"] for p in profiles} == {party.a_id, party.b_id}  # profiles are public
    assert all(t["owner"] == party.a_id for p in profiles for t in p["todos"])
    assert party.anon.table("todos").select("id", count="exact", head=True).execute().count == 0


def test_or_filter_cannot_reach_hidden_rows(party: Party) -> None:
    theirs = _todo(party.b)
    found = party.a.table("todos").select("id").or_(f"owner.eq.{party.b_id},id.eq.{theirs['id']}").execute()
    assert found.data == []


def test_updates_and_deletes_of_others_rows_change_nothing(party: Party) -> None:
    theirs = _todo(party.b)
    assert party.a.table("todos").update({"title": "mine now"}).eq("id", theirs["id"]).execute().data == []
    assert party.a.table("todos").delete().eq("id", theirs["id"]).execute().data == []
    assert party.anon.table("todos").delete().eq("id", theirs["id"]).execute().data == []
    assert _exists(party, theirs["id"]) == theirs


def test_owner_updates_and_deletes_own_rows(party: Party) -> None:
    mine = _todo(party.a)
    assert party.a.table("todos").update({"done": True}).eq("id", mine["id"]).execute().data == [{**mine, "done": True}]
    assert party.a.table("todos").delete().eq("id", mine["id"]).execute().data == [{**mine, "done": True}]
    assert _exists(party, mine["id"]) is None


def test_with_check_violations_are_42501(party: Party) -> None:
    """Inserting for someone else, or giving one's row away: refused, nothing written."""
    title = f"forged-{uuid.uuid4().hex[:8]}"
    with pytest.raises(APIError) as forged:
        party.a.table("todos").insert({"title": title, "owner": party.b_id}).execute()
    assert (forged.value.code, forged.value.message) == ("42501", RLS_INSERT)
    mine = _todo(party.a)
    with pytest.raises(APIError) as given_away:
        party.a.table("todos").update({"owner": party.b_id}).eq("id", mine["id"]).execute()
    assert (given_away.value.code, given_away.value.message) == ("42501", RLS_INSERT)
    with pytest.raises(APIError) as anonymous:
        party.anon.table("todos").insert({"title": title}).execute()
    assert anonymous.value.code == "42501"
    assert _exists(party, mine["id"]) == mine
    assert party.service.table("todos").select("id").eq("title", title).execute().data == []


def test_upsert_onto_someone_elses_row_is_refused(party: Party) -> None:
    theirs = _todo(party.b)
    with pytest.raises(APIError) as error:
        party.a.table("todos").upsert(
            {"id": theirs["id"], "title": "hijacked", "owner": party.a_id}, on_conflict="id"
        ).execute()
    assert error.value.code == "42501"
    assert _exists(party, theirs["id"]) == theirs


def test_service_role_bypasses_policies(party: Party) -> None:
    row = party.service.table("todos").insert({"title": "assigned", "owner": party.b_id}).execute().data[0]
    assert row["owner"] == party.b_id
    assert party.service.table("vault").select("secret").execute().data == [{"secret": "kept"}]


def test_closed_table_and_revoked_privilege(party: Party) -> None:
    assert party.a.table("vault").select("*").execute().data == []
    with pytest.raises(APIError) as closed:
        party.a.table("vault").insert({"id": 2, "secret": "x"}).execute()
    assert (closed.value.code, closed.value.message) == (
        "42501",
        'new row violates row-level security policy for table "vault"',
    )
    with pytest.raises(APIError) as revoked:
        party.anon.table("notices").insert({"body": "spam"}).execute()
    assert (revoked.value.code, revoked.value.message) == ("42501", "permission denied for table notices")
    assert party.a.table("notices").insert({"body": "hello"}).execute().data[0]["body"] == "hello"

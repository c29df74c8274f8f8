"""Policy expressions -> SQLite predicates, and how a role's policies combine (no database needed
except the in-memory probe): scoping, subqueries through their tables' policies, recursion, JWT
paths, permissive/restrictive, roles, grants. Run against SQLite in tests/policy/test_enforce.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from backstack.core.errors import ApiError
from backstack.db.schema.model import Column, Policy, Schema, Table
from backstack.policy.compile import compile_expression
from backstack.policy.service import SqlitePolicies


def table(name: str, *columns: str, **extra: object) -> Table:
    return Table("public", name, {c: Column(c, "text", "text") for c in columns}, **extra)  # type: ignore[arg-type]


TODOS = table("todos", "id", "owner", "team_id", "tags", "is_public")
MEMBERS = table("members", "team_id", "user_id")
TEAMS = table("teams", "id", "name")


def schema(*tables: Table) -> Schema:
    return Schema({t.name: t for t in tables}, fingerprint="1")


def compile_(text: str, protect: dict[str, str] | None = None) -> str:
    guarded = protect or {}
    return compile_expression(
        text, TODOS, schema(TODOS, MEMBERS, TEAMS), lambda t: guarded.get(t.name), "authenticated"
    )


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("owner = auth.uid()", '({row}."owner" = (SELECT AUTH_UID()))'),
        ("(select auth.uid()) = owner", '((SELECT AUTH_UID()) = {row}."owner")'),
        ("todos.owner = auth.email()", '({row}."owner" = (SELECT AUTH_EMAIL()))'),
        ("public.todos.owner = auth.role()", '({row}."owner" = (SELECT AUTH_ROLE()))'),
        ("auth.jwt() ->> 'email' = owner", "((SELECT AUTH_JWT()) ->> '$.email' = {row}.\"owner\")"),
        (
            "auth.jwt() -> 'app_metadata' ->> 'role' = 'admin'",
            "((SELECT AUTH_JWT()) -> '$.app_metadata' ->> '$.role' = 'admin')",
        ),
        (
            "current_setting('request.jwt.claims', true)::json ->> 'sub' = owner",
            "((SELECT CURRENT_SETTING('request.jwt.claims', 1)) ->> '$.sub' = {row}.\"owner\")",
        ),
        ("owner = any(array['a', 'b'])", "({row}.\"owner\" IN ('a', 'b'))"),
        (
            "auth.uid()::text = any(tags)",
            '(CAST((SELECT AUTH_UID()) AS TEXT) IN (SELECT "value" FROM JSON_EACH({row}."tags")))',
        ),
        ("is_public = true and not (owner is null)", '({row}."is_public" = 1 AND NOT ({row}."owner" IS NULL))'),
        ("true", "(1)"),
        ("owner like 'a%' and owner ilike 'B%'", "(LIKE_CS('a%', {row}.\"owner\") AND ILIKE('B%', {row}.\"owner\"))"),
    ],
)
def test_expressions(text: str, sql: str) -> None:
    assert compile_(text) == sql


def test_subquery_columns_resolve_inside_first() -> None:
    """PostgreSQL scoping: `team_id` inside the subquery is the member's, not the todo's (the
    classic policy bug, kept faithfully); a qualified `todos.team_id` reaches the outer row."""
    inner = compile_("exists (select 1 from members m where m.team_id = team_id)")
    assert inner == '(EXISTS(SELECT 1 FROM "members" AS "_bs_a1" WHERE "_bs_a1"."team_id" = "_bs_a1"."team_id"))'
    outer = compile_("exists (select 1 from members m where m.team_id = todos.team_id and user_id = auth.uid())")
    assert '"_bs_a1"."team_id" = {row}."team_id"' in outer
    assert '"_bs_a1"."user_id" = (SELECT AUTH_UID())' in outer
    outer_only = compile_("exists (select 1 from teams where name = owner)")
    assert '"_bs_a1"."name" = {row}."owner"' in outer_only


def test_subquery_tables_go_through_their_policies() -> None:
    sql = compile_(
        "team_id in (select team_id from members where user_id = auth.uid())",
        {"members": '({row}."user_id" = (SELECT auth_uid()))'},
    )
    assert sql == (
        '({row}."team_id" IN (SELECT "_bs_a1"."team_id" FROM (SELECT * FROM "members" AS _bs_row '
        'WHERE (_bs_row."user_id" = (SELECT auth_uid()))) AS "_bs_a1" '
        'WHERE "_bs_a1"."user_id" = (SELECT AUTH_UID())))'
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope = 1", "42703"),
        ("exists (select 1 from missing)", "42P01"),
        ("exists (select 1 from auth.users u where u.id = owner)", "42501"),
        ("x.owner = 1", "42P01"),
    ],
)
def test_name_errors(text: str, code: str) -> None:
    with pytest.raises(ApiError) as info:
        compile_(text)
    assert info.value.code == code


# ---------------------------------------------------------------- combining, per role


def with_policies(
    base: Table, *policies: Policy, rls: bool = True, grants: dict[str, frozenset[str]] | None = None
) -> Table:
    return replace(base, rls_enabled=rls, policies=policies, grants=grants)


def role_policies(*tables: Table, role: str = "authenticated"):  # type: ignore[no-untyped-def]
    found = SqlitePolicies().for_role(schema(*tables), role)
    assert found is not None
    return found


OWN = Policy("own", "todos", "select", using="owner = auth.uid()")
PUBLIC = Policy("public", "todos", "select", roles=("anon",), using="is_public")


def test_bypass_and_nothing_to_enforce() -> None:
    protected = with_policies(TODOS, OWN)
    provider = SqlitePolicies()
    assert provider.for_role(schema(protected), "service_role") is None
    assert provider.for_role(schema(protected), "") is None
    assert provider.for_role(schema(TODOS), "anon") is None  # no RLS and no grants anywhere


def test_permissive_policies_or_per_role() -> None:
    todos = with_policies(TODOS, OWN, PUBLIC)
    assert role_policies(todos).using(todos, "select") == '({row}."owner" = (SELECT AUTH_UID()))'
    anon = role_policies(todos, role="anon").using(todos, "select")
    assert anon == '(({row}."owner" = (SELECT AUTH_UID())) OR ({row}."is_public"))'


def test_no_permissive_policy_closes_the_table() -> None:
    todos = with_policies(TODOS, Policy("r", "todos", "all", permissive=False, using="true"))
    policies = role_policies(todos)
    assert policies.using(todos, "select") == "(0)"
    assert policies.check(todos, "insert") == "(0)"
    assert role_policies(with_policies(TODOS)).using(with_policies(TODOS), "delete") == "((0) AND (0))"


def test_rls_off_means_no_predicate_but_grants_hold() -> None:
    todos = with_policies(TODOS, rls=False, grants={"authenticated": frozenset({"select"})})
    policies = role_policies(todos)
    assert policies.using(todos, "select") is None
    with pytest.raises(ApiError) as info:
        policies.check(todos, "insert")
    assert (info.value.code, info.value.message, info.value.status) == (
        "42501",
        "permission denied for table todos",
        403,
    )
    with pytest.raises(ApiError) as info:
        role_policies(todos, role="anon").using(todos, "select")
    assert info.value.status == 401


def test_public_grant_applies_to_every_role() -> None:
    todos = with_policies(TODOS, rls=False, grants={"public": frozenset({"select", "update"})})
    assert role_policies(todos).using(todos, "update") is None


def test_update_and_delete_include_select() -> None:
    todos = with_policies(TODOS, OWN, Policy("upd", "todos", "update", using="team_id = '1'"))
    policies = role_policies(todos)
    assert policies.using(todos, "update") == '(({row}."team_id" = \'1\') AND ({row}."owner" = (SELECT AUTH_UID())))'
    assert policies.using(todos, "delete") == '((0) AND ({row}."owner" = (SELECT AUTH_UID())))'


def test_check_falls_back_to_using_and_restrictive_names_itself() -> None:
    todos = with_policies(
        TODOS,
        Policy("all", "todos", "all", using="owner = auth.uid()"),
        Policy("ins", "todos", "insert", check="team_id is not null"),
        Policy("frozen", "todos", "update", permissive=False, using="is_public", check="owner is not null"),
    )
    policies = role_policies(todos)
    assert policies.check(todos, "insert") == '(({row}."owner" = (SELECT AUTH_UID())) OR ({row}."team_id" IS NOT NULL))'
    assert policies.check(todos, "update") == (
        '(({row}."owner" = (SELECT AUTH_UID())) AND (CASE WHEN ({row}."owner" IS NOT NULL) THEN 1 '
        "ELSE _bs_rls_violation('todos', 'frozen', 'check') END))"
    )
    assert (
        policies.using(todos, "update")
        == '((({row}."owner" = (SELECT AUTH_UID())) AND ({row}."is_public")) AND ({row}."owner" = (SELECT AUTH_UID())))'
    )


def test_policy_subqueries_use_the_read_tables_policies() -> None:
    members = with_policies(MEMBERS, Policy("me", "members", "select", using="user_id = auth.uid()"))
    todos = with_policies(
        TODOS,
        Policy("team", "todos", "select", using=("exists (select 1 from members m where m.team_id = todos.team_id)")),
    )
    sql = role_policies(todos, members).using(todos, "select")
    assert sql is not None
    assert '(SELECT * FROM "members" AS _bs_row WHERE (_bs_row."user_id" = (SELECT AUTH_UID()))) AS "_bs_a1"' in sql


def test_policy_cycle_is_42P17() -> None:
    members = with_policies(
        MEMBERS,
        Policy("m", "members", "select", using=("exists (select 1 from todos t where t.team_id = members.team_id)")),
    )
    todos = with_policies(
        TODOS,
        Policy("t", "todos", "select", using=("exists (select 1 from members m where m.team_id = todos.team_id)")),
    )
    policies = role_policies(todos, members)
    for _ in range(2):  # memoised errors answer the same
        with pytest.raises(ApiError) as info:
            policies.using(todos, "select")
        assert (info.value.code, info.value.message) == (
            "42P17",
            'infinite recursion detected in policy for relation "todos"',
        )


def test_self_reference_without_subquery_in_select_is_not_a_cycle() -> None:
    """PostgreSQL checks recursion only when the re-entered table's policies read other rows."""
    todos = with_policies(
        TODOS,
        OWN,
        Policy(
            "upd",
            "todos",
            "update",
            using=("exists (select 1 from todos t where t.team_id = todos.team_id and t.owner = auth.uid())"),
        ),
    )
    assert '(SELECT * FROM "todos" AS _bs_row' in (role_policies(todos).using(todos, "update") or "")


def test_subquery_needs_select_privilege() -> None:
    members = with_policies(MEMBERS, rls=False, grants={"authenticated": frozenset({"insert"})})
    todos = with_policies(TODOS, Policy("t", "todos", "select", using=("team_id in (select team_id from members)")))
    with pytest.raises(ApiError) as info:
        role_policies(todos, members).using(todos, "select")
    assert info.value.message == "permission denied for table members"


def test_sqlite_cannot_run_it_names_the_policy() -> None:
    todos = with_policies(TODOS, Policy("pg only", "todos", "select", using="current_user = 'x'"))
    with pytest.raises(ApiError) as info:
        role_policies(todos).using(todos, "select")
    error = info.value
    assert (error.code, error.status) == ("0A000", 400)
    assert error.message == 'policy "pg only" on table "todos" cannot be enforced on SQLite'


def test_memoised_per_schema_and_role() -> None:
    todos = with_policies(TODOS, OWN)
    provider = SqlitePolicies()
    first = provider.for_role(schema(todos), "authenticated")
    assert provider.for_role(schema(todos), "authenticated") is first
    assert provider.for_role(schema(todos), "anon") is not first
    assert provider.for_role(replace(schema(todos), fingerprint="2"), "authenticated") is not first

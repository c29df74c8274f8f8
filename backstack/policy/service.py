"""`PolicyProvider` for SQLite: a role's policies over a schema, compiled once into SQL predicates.

PostgreSQL's rules ("Policies Applied by Command Type" in CREATE POLICY), per role:

- a policy applies when its roles hold the role or `public`, and its command is the statement's
  or `all`; RLS off -> no predicate (grants still checked);
- permissive policies are ORed, restrictive ones ANDed onto that; no permissive policy -> FALSE;
- `using(update|delete)` = that command's USING AND the SELECT USING (the data API reads the rows
  it changes); `check(insert|update)` = WITH CHECK, or USING where a policy has no WITH CHECK. A
  restrictive policy's check raises itself, so the error names it, as PostgreSQL's does;
- tables read by a policy's subqueries go through their own SELECT predicate; a policy cycle is
  42P17; a missing privilege is 42501 `permission denied for table t`;
- views (`relation`): a `security_invoker` view is read as its body with the caller's policies and
  grants applied to the tables it reads; a `security_barrier` view's rows are computed before any
  filter of the request runs; a plain view reads its tables with its owner's rights (no policies),
  as on PostgreSQL. The view's own grants are checked either way. PostgreSQL checks an invoker
  view's relations as the current user even when a plain view reads it, so a plain view whose body
  reads an invoker view at any depth is read as its body too: the invoker views in it through the
  caller's policies, its other tables with the owner's rights (`_OwnerRights`).

Predicates depend on the role and the schema only (the caller's identity is read by SQL functions
at run time), so they are memoised per (schema fingerprint, role).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from backstack.core.errors import ApiError
from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.sqlite.functions import ConnState, install
from backstack.policy import errors
from backstack.policy.compile import Unsupported, compile_expression, has_subquery
from backstack.policy.protect import names_cte, protect_sql

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.schema.model import Policy, Schema, Table

BYPASS_ROLES = frozenset({"service_role", "postgres", "supabase_admin"})
FALSE = "(0)"
_MISSING = object()


class SqlitePolicies:
    """The `PolicyProvider` of a SQLite engine: one `RolePolicies` per (schema, role), kept in an LRU."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._roles: OrderedDict[tuple[str, str], RolePolicies | None] = OrderedDict()
        self._probes: dict[str, Probe] = {}

    def for_role(self, schema: Schema, role: str) -> RowPolicies | None:
        """None for service_role, for a caller without a role and when no table needs enforcing."""
        if not role or role in BYPASS_ROLES:
            return None
        key = (schema.fingerprint, role)
        if schema.fingerprint and key in self._roles:
            self._roles.move_to_end(key)
            return self._roles[key]
        policies = RolePolicies(schema, role, self._probe(schema)) if _enforced(schema) else None
        if schema.fingerprint:
            self._roles[key] = policies
            if len(self._roles) > self.size:
                self._roles.popitem(last=False)
        return policies

    def _probe(self, schema: Schema) -> Probe:
        probe = self._probes.get(schema.fingerprint)
        if probe is None or probe.schema is not schema:
            probe = Probe(schema)
            self._probes = {schema.fingerprint: probe} if schema.fingerprint else {}
        return probe


def _enforced(schema: Schema) -> bool:
    return any(t.rls_enabled or t.grants is not None or t.security_barrier for t in schema.tables.values())


class RolePolicies:
    """`RowPolicies` of one role over one schema (see the module docstring for the rules)."""

    def __init__(self, schema: Schema, role: str, probe: Probe) -> None:
        self.schema = schema
        self.role = role
        self._probe = probe
        self._memo: dict[tuple[str, str, str], object] = {}
        self._active: set[str] = set()

    def using(self, table: Table, command: str) -> str | None:
        self.require(table, "select")
        select = self._predicate(table, "select", "using")
        if command == "select":
            return select
        self.require(table, command)
        return _and(self._predicate(table, command, "using"), select)

    def check(self, table: Table, command: str) -> str | None:
        self.require(table, command)
        return self._predicate(table, command, "check")

    def protect(self, sql: str) -> str:
        return protect_sql(sql, self)

    def relation(self, table: Table) -> str | None:
        """What a read of `table` reads in its place (a parenthesised derived table), or None for the
        table itself: see "views" in the module docstring. `LIMIT -1` keeps SQLite from pushing the
        request's filters into it (or flattening it), so they only ever see rows it returns."""
        if not table.is_view:
            return None
        key = (table.name, "relation", "")
        hit = self._memo.get(key, _MISSING)
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        value: str | None = None
        if table.security_invoker:
            value = _derived(table, protect_sql(view_body(table.definition), self))
        elif self._reads_invoker_view(table):
            value = _derived(table, protect_sql(view_body(table.definition), _OwnerRights(self)))
        elif table.security_barrier:
            value = f"(SELECT * FROM {quote_ident(table.name)} LIMIT -1)"  # noqa: S608 (quoted identifier)
        self._memo[key] = value
        return value

    def _reads_invoker_view(self, view: Table) -> bool:
        """Whether the body of `view` reads a security_invoker view, directly or through other views."""
        if not any(t.security_invoker for t in self.schema.tables.values()):
            return False
        key = (view.name, "reads_invoker", "")
        hit = self._memo.get(key, _MISSING)
        if hit is not _MISSING:
            return bool(hit)
        self._memo[key] = False  # SQLite refuses a view that reads itself; this only stops a loop
        found = any(read.security_invoker or self._reads_invoker_view(read) for read in _views_read(view, self.schema))
        self._memo[key] = found
        return found

    def require(self, table: Table, privilege: str) -> None:
        """Raise 42501 unless the role holds `privilege` on `table` (directly or through `public`)."""
        grants = table.grants
        if grants is None:
            return
        if privilege not in grants.get(self.role, frozenset()) | grants.get("public", frozenset()):
            raise errors.permission_denied(table.name, self.role)

    def read_through(self, table: Table) -> str | None:
        """The SELECT predicate of `table` read from inside a policy or a protected statement."""
        self.require(table, "select")
        if not table.rls_enabled:
            return None
        if table.name in self._active and any(
            p.using is not None and has_subquery(p.using) for p in self._applicable(table, "select")
        ):
            raise errors.infinite_recursion(table.name)
        return self._predicate(table, "select", "using")

    # ------------------------------------------------------------ compiling, memoised

    def _predicate(self, table: Table, command: str, kind: str) -> str | None:
        key = (table.name, command, kind)
        hit = self._memo.get(key, _MISSING)
        if isinstance(hit, ApiError):  # a fresh copy: a raised exception collects tracebacks, handlers edit it
            raise type(hit)(hit.code, hit.message, hit.details, hit.hint, status=hit.status, headers=dict(hit.headers))
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        try:
            value = self._build(table, command, kind)
        except ApiError as error:
            self._memo[key] = error
            raise
        self._memo[key] = value
        return value

    def _applicable(self, table: Table, command: str) -> list[Policy]:
        return [
            p for p in table.policies if p.command in (command, "all") and ("public" in p.roles or self.role in p.roles)
        ]

    def _build(self, table: Table, command: str, kind: str) -> str | None:
        if not table.rls_enabled:
            return None
        added = table.name not in self._active
        self._active.add(table.name)
        try:
            permissive: list[str] = []
            restrictive: list[str] = []
            for policy in self._applicable(table, command):
                text = policy.using if kind == "using" else (policy.check if policy.check is not None else policy.using)
                if text is None:
                    continue
                sql = self._compile(policy, text, table)
                if policy.permissive:
                    permissive.append(sql)
                elif kind == "check":  # raises itself so the error names the policy
                    violation = f"_bs_rls_violation({quote_literal(table.name)}, {quote_literal(policy.name)}, 'check')"
                    restrictive.append(f"(CASE WHEN {sql} THEN 1 ELSE {violation} END)")
                else:
                    restrictive.append(sql)
        finally:
            if added:
                self._active.discard(table.name)
        if not permissive:
            return FALSE
        head = permissive[0] if len(permissive) == 1 else "(" + " OR ".join(permissive) + ")"
        return head if not restrictive else "(" + " AND ".join([head, *restrictive]) + ")"

    def _compile(self, policy: Policy, text: str, table: Table) -> str:
        try:
            sql = compile_expression(text, table, self.schema, self.read_through, self.role, self.relation)
        except Unsupported as error:
            raise errors.unsupported(policy.name, table.name, str(error)) from None
        except ApiError as error:
            if error.code not in ("42501", "42P17") and error.details is None:
                error.details = f'in policy "{policy.name}" on table "{table.name}"'
            raise
        reason = self._probe.refusal(sql, table)
        if reason is not None:
            raise errors.unsupported(policy.name, table.name, reason)
        return sql


class _OwnerRights:
    """How a plain view's body reads its tables: with its owner's rights (no policies, no grants
    checked), except the invoker views it reads, which the caller's `relation` reads as the caller."""

    def __init__(self, caller: RolePolicies) -> None:
        self.schema = caller.schema
        self.role = caller.role
        self._caller = caller

    def using(self, table: Table, command: str) -> str | None:
        return None

    def check(self, table: Table, command: str) -> str | None:
        return None

    def read_through(self, table: Table) -> str | None:
        return None

    def relation(self, table: Table) -> str | None:
        return self._caller.relation(table)


def _derived(view: Table, body: str) -> str:
    """The derived table standing for `view`, computed from `body` behind an optimisation barrier."""
    names = ", ".join(quote_ident(c) for c in view.columns)
    return f'(WITH "_bs_view"({names}) AS ({body}) SELECT * FROM "_bs_view" LIMIT -1)'  # noqa: S608 (quoted identifiers, our view body)


def _views_read(view: Table, schema: Schema) -> list[Table]:
    """The views that the body of `view` names (CTEs excepted), resolved as SQLite resolves names."""
    folded = {name.lower(): table for name, table in schema.tables.items() if table.is_view}
    try:
        tree = sqlglot.parse_one(view_body(view.definition), read="sqlite")
    except sqlglot.errors.SqlglotError:
        raise errors.unsupported_view(view.definition) from None  # it may read one: never read it unprotected
    found: list[Table] = []
    for node in tree.find_all(exp.Table):
        if isinstance(node.this, exp.Identifier) and not names_cte(node) and node.name.lower() in folded:
            found.append(folded[node.name.lower()])
    return found


def view_body(definition: str) -> str:
    """The SELECT of a SQLite `CREATE VIEW ... AS <select>` statement."""
    try:
        tree = sqlglot.parse_one(definition, read="sqlite")
    except sqlglot.errors.SqlglotError:
        raise errors.unsupported_view(definition) from None
    body = tree.expression if isinstance(tree, exp.Create) else None
    if body is None:
        raise errors.unsupported_view(definition)
    return str(body.sql(dialect="sqlite"))


def _and(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return first if second is None else second
    return f"({first} AND {second})"


class Probe:
    """An empty in-memory copy of the schema (tables and columns only) with backstack's SQL functions:
    a compiled predicate that SQLite cannot prepare there cannot run on the real file either."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        install(ConnState(self._conn))
        for table in schema.tables.values():
            columns = ", ".join(quote_ident(c) for c in table.columns) or "_bs_none"
            self._conn.execute(f"CREATE TABLE {quote_ident(table.name)} ({columns})")

    def refusal(self, predicate: str, table: Table) -> str | None:
        """SQLite's reason for refusing `predicate` over a row of `table`, or None when it prepares."""
        return self.refusal_of(
            f"SELECT 1 FROM {quote_ident(table.name)} AS _bs_probe "  # noqa: S608 (quoted identifier, compiled policy SQL)
            f"WHERE {predicate.replace('{row}', '_bs_probe')} LIMIT 0"
        )

    def refusal_of(self, sql: str) -> str | None:
        try:
            self._conn.execute(sql).fetchall()
        except sqlite3.Error as error:
            return str(error)
        return None

"""`backstack policies`: every exposed table, whether row-level security is on, and its policies.

Read from the engine's schema (PostgreSQL's catalogs, or the SQLite catalog the migrations wrote), so
it shows what the data API enforces, not what the migration files say. The two states that matter
most stand out: RLS off (the table is open to whoever holds the anon key) and RLS on without any
policy (closed to anon and authenticated; only service_role gets through).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table as RichTable

from backstack.cli.consoles import console
from backstack.cli.project import DirOption, describe_database, open_engine, project_settings, run
from backstack.db.schema.policies import Privileges, api_privileges

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.db.engine import Engine
    from backstack.db.schema.model import Policy, Schema, Table

CLOSED = "closed to anon and authenticated"


def policies(project_dir: DirOption = Path(".")) -> None:
    """List tables, whether row-level security is on (and forced), and their policies."""
    settings = project_settings(project_dir)

    async def body() -> tuple[Schema, Privileges]:
        async with open_engine(settings) as engine:
            schema = await engine.schema()
            return schema, await api_privileges_of(engine, schema, settings)

    schema, privileges = run(body())
    tables = sorted((t for t in schema.tables.values() if not t.is_view), key=lambda t: (t.schema, t.name))
    if not tables:
        console.print("No tables yet: write a migration (`backstack migrate new NAME`) and apply it.")
        return
    console.print(_render(tables, f"Row-level security ({describe_database(settings)})"))
    _summary(tables, privileges)


def _render(tables: list[Table], title: str) -> RichTable:
    grid = RichTable(title=title, show_lines=True)
    for heading in ("table", "RLS", "policy", "command", "kind", "roles", "USING", "WITH CHECK"):
        grid.add_column(heading, overflow="fold")
    for table in tables:
        name, rls = escape(_qualified(table)), _rls(table)
        if not table.policies:
            note = f"[yellow]none: {CLOSED}[/]" if table.rls_enabled else "[dim]none[/]"
            grid.add_row(name, rls, note, "", "", "", "", "")
        for index, policy in enumerate(table.policies):
            grid.add_row(name if index == 0 else "", rls if index == 0 else "", *_policy_cells(policy))
    return grid


def _qualified(table: Table) -> str:
    return table.name if table.schema == "public" else f"{table.schema}.{table.name}"


def _rls(table: Table) -> str:
    if not table.rls_enabled:
        return "[red]off[/]"
    return "[green]on[/] (forced)" if table.rls_forced else "[green]on[/]"


def _policy_cells(policy: Policy) -> list[str]:
    kind = "permissive" if policy.permissive else "[magenta]restrictive[/]"
    return [
        escape(policy.name),
        policy.command.upper(),
        kind,
        escape(", ".join(policy.roles)),
        escape(policy.using or ""),
        escape(policy.check or ""),
    ]


def _summary(tables: list[Table], privileges: Privileges) -> None:
    """One line each for the tables that are wide open or shut, which are easy to miss in the grid."""
    closed = [_qualified(t) for t in tables if t.rls_enabled and not t.policies]
    if closed:
        console.print(f"[yellow]RLS on, no policy ({CLOSED}; service_role only):[/] {escape(', '.join(closed))}")
    warning = open_tables_warning(tables, privileges)
    if warning:
        console.print(f"[red]{escape(warning)}[/]", soft_wrap=True)


API_ROLES = ("anon", "authenticated")
PRIVILEGES = ("select", "insert", "update", "delete")


async def api_privileges_of(engine: Engine, schema: Schema, settings: Settings) -> Privileges:
    """anon's and authenticated's privileges on each table (see `db.schema.policies.api_privileges`)."""
    return await api_privileges(engine, schema, settings.exposed_schemas, API_ROLES)


def open_to(table: Table, privileges: Privileges) -> dict[str, list[str]]:
    """What `anon` and `authenticated` may do to every row of `table`, by role: RLS off, as granted.

    Supabase's security advisor flags the same tables ("RLS disabled in public")."""
    if table.rls_enabled or table.is_view:
        return {}
    held: dict[str, list[str]] = {}
    for role in API_ROLES:
        granted = privileges.get(_qualified(table), {}).get(role)
        allowed = [p for p in PRIVILEGES if granted is None or p in granted]
        if allowed:
            held[role] = allowed
    return held


def open_tables_warning(tables: list[Table], privileges: Privileges) -> str | None:
    """The warning naming every table any API key may read or write whole, and how to close it."""
    exposed = [(table, open_to(table, privileges)) for table in tables]
    lines = [
        f"  {_qualified(table)} (" + "; ".join(f"{role}: {', '.join(p)}" for role, p in held.items()) + ")"
        for table, held in exposed
        if held
    ]
    if not lines:
        return None
    first = next(_qualified(table) for table, held in exposed if held)
    return (
        "RLS off: these tables are open to every request with the anon key, on every row:\n"
        + "\n".join(lines)
        + f"\nClose one in a migration: `alter table {first} enable row level security;` "
        "then add policies (docs/policies.md), or revoke the privileges it should not have."
    )

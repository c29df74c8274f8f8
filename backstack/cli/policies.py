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

from backstack.cli.project import DirOption, console, describe_database, open_engine, project_settings, run

if TYPE_CHECKING:
    from backstack.db.schema import Policy, Schema, Table

CLOSED = "closed to anon and authenticated"


def policies(project_dir: DirOption = Path(".")) -> None:
    """List tables, whether row-level security is on (and forced), and their policies."""
    settings = project_settings(project_dir)

    async def body() -> Schema:
        async with open_engine(settings) as engine:
            return await engine.schema()

    schema = run(body())
    tables = sorted((t for t in schema.tables.values() if not t.is_view), key=lambda t: (t.schema, t.name))
    if not tables:
        console.print("No tables yet: write a migration (`backstack migrate new NAME`) and apply it.")
        return
    console.print(_render(tables, f"Row-level security ({describe_database(settings)})"))
    _summary(tables)


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


def _summary(tables: list[Table]) -> None:
    """One line each for the tables that are wide open or shut, which are easy to miss in the grid."""
    closed = [_qualified(t) for t in tables if t.rls_enabled and not t.policies]
    open_ = [_qualified(t) for t in tables if not t.rls_enabled]
    if closed:
        console.print(f"[yellow]RLS on, no policy ({CLOSED}; service_role only):[/] {escape(', '.join(closed))}")
    if open_:
        console.print(
            f"[red]RLS off (anyone with the anon key can read and write):[/] {escape(', '.join(open_))}. "
            "Add `alter table <name> enable row level security;` and policies in a migration."
        )

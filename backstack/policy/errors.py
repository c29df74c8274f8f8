"""The errors row-level security answers, in PostgreSQL's words (SQLSTATE in `code`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.errors import database_error

if TYPE_CHECKING:
    from backstack.core.errors import DatabaseError


def permission_denied(table: str, role: str) -> DatabaseError:
    """42501: the role lacks the table privilege (401 for anon, 403 for others, as PostgREST)."""
    return database_error("42501", f"permission denied for table {table}", anonymous=role == "anon")


def infinite_recursion(table: str) -> DatabaseError:
    """42P17: a policy reads (through its subqueries) a table whose policies are being expanded."""
    return database_error("42P17", f'infinite recursion detected in policy for relation "{table}"')


def unsupported(policy: str, table: str, reason: str) -> DatabaseError:
    """0A000: a policy expression SQLite cannot run; names the policy so its author can fix it."""
    return database_error(
        "0A000",
        f'policy "{policy}" on table "{table}" cannot be enforced on SQLite',
        reason,
        "Policies on SQLite support comparisons, boolean logic, IN, EXISTS/IN subqueries over other "
        "tables, auth.uid()/role()/email()/jwt() and current_setting('request.jwt.claims', true).",
    )


def undefined_table(name: str) -> DatabaseError:
    """42P01: a policy subquery reads a table that does not exist."""
    return database_error("42P01", f'relation "{name}" does not exist')


def undefined_column(name: str) -> DatabaseError:
    """42703: a policy names a column none of its tables has."""
    return database_error("42703", f'column "{name}" does not exist')


def unsupported_view(definition: str) -> DatabaseError:
    """0A000: a security_invoker view, or a view that may read one, whose definition backstack cannot
    read back (never read unprotected)."""
    return database_error("0A000", "view cannot be read through row-level security on SQLite", definition[:200])

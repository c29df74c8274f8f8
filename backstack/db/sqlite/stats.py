"""Planner statistics for SQLite: ANALYZE once enough rows changed, as PostgreSQL's autovacuum does.

Without statistics SQLite's planner guesses that an equality on an indexed column matches a handful
of rows. A policy `auth.uid() = owner` over a list ordered by `created_at` then walks the owner
index and sorts every row the user owns: with 10k rows owned by one user that list ran 20x slower
than the same list without the policy (scripts/bench/rls_bench.py), and 1.5x faster than it once
ANALYZE had run (the planner walks the `created_at` index and stops after one page).

PostgreSQL analyzes a table after 50 rows + 10% of it changed; here the writer counts the rows its
connection changed (`total_changes`) and runs ANALYZE after `max(MIN_CHANGES, 10% of the rows
counted last time)`, right after a commit while it still holds the write lock. A full ANALYZE
(measured 42 ms for 85k rows) rather than a sampled one (`analysis_limit`): sampling 1000 entries
of an index whose one value covers every row estimated 1001 rows per value, and the planner went
back to sorting all of them. Other connections read statistics only when they open, so the
ANALYZE is followed by a schema-version bump (`db.catalog.stamp.STAMP`): every worker process reloads
its schema, and the engine renews a connection whose statistics predate the last reload.
"""

from __future__ import annotations

import logging
import sqlite3

from backstack.db.catalog.stamp import STAMP

log = logging.getLogger("backstack.db")
MIN_CHANGES = 500
_ROWS = "SELECT coalesce(sum(n), 0) FROM (SELECT max(CAST(stat AS INTEGER)) AS n FROM sqlite_stat1 GROUP BY tbl)"


class AutoAnalyze:
    """Decides, on the writer thread, when the file's statistics are stale enough to refresh."""

    def __init__(self) -> None:
        self._baseline = 0  # the writer's total_changes at the last ANALYZE (or at start)
        self._rows = 0  # rows the last ANALYZE counted

    def start(self, conn: sqlite3.Connection) -> None:
        self._baseline = conn.total_changes
        self._rows = _counted_rows(conn)

    def after_commit(self, conn: sqlite3.Connection) -> bool:
        """ANALYZE when due; call outside a transaction, holding the process write lock. Never raises:
        the write it follows has committed, and statistics can wait for the next one."""
        if conn.total_changes - self._baseline < max(MIN_CHANGES, self._rows // 10):
            return False
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ANALYZE")
            for statement in STAMP:
                conn.execute(statement)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.debug("ANALYZE skipped: %s", exc)
            return False
        self._baseline = conn.total_changes
        self._rows = _counted_rows(conn)
        return True


def _counted_rows(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute(_ROWS).fetchone()
    except sqlite3.OperationalError:  # no sqlite_stat1 yet: nothing analyzed
        return 0
    return int(row[0]) if row else 0

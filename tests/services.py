"""Real services for tests: a throw-away PostgreSQL database per use, skip-or-fail when unreachable.

The admin URL is postgresql://postgres@127.0.0.1:5432/postgres (override with env
BACKSTACK_TEST_PG_URL). With BACKSTACK_REQUIRE_SERVICES=1 (CI) a missing service fails the test;
otherwise it skips with a loud reason. `tests/conftest.py` re-exports these helpers.

Databases come from templates (`CREATE DATABASE x TEMPLATE t`, a file-level copy): each test
process prepares a template once per kind in `TEMPLATES` and every test gets a fresh clone of it, so
the work that kind stands for is paid once per process instead of once per test:

- "empty": a plain new database (PostgreSQL's template1), for tests of what an engine sets up;
- "backstack": a database an engine has started on once (`_backstack`, the API roles' grants, the
  `extensions` schema, the schema-change event triggers): what every engine start leaves behind;
- "auth": "backstack" plus the auth tables (`backstack.auth.ensure_schema`, run by the auth app).

Names are `bs_test_<run>_<worker>_<n>` (templates `..._tpl_<kind>`): `<run>` is one random token
per test run (pytest-xdist's run id, shared by its workers), `<worker>` the xdist worker (`gw0`,
or `main`), so parallel workers and runs of other people on one server never collide.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import pytest

PG_ADMIN_URL = os.environ.get("BACKSTACK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("BACKSTACK_REQUIRE_SERVICES") == "1"
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID", secrets.token_hex(4))[:8]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

T = TypeVar("T")
Template = Literal["empty", "backstack", "auth"]


def require_service(reason: str) -> NoReturn:
    """Fail (CI: BACKSTACK_REQUIRE_SERVICES=1) or skip (laptop) a test whose real service is missing."""
    if REQUIRE_SERVICES:
        pytest.fail(reason + " and BACKSTACK_REQUIRE_SERVICES=1")
    pytest.skip(reason)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a private loop in a thread (never disturbs the test's loop)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


def pg_url(database: str) -> str:
    """The admin URL with its database replaced by `database`."""
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _engine_start(url: str) -> None:
    await _with_engine(url, lambda engine: asyncio.sleep(0))


async def _auth_schema(url: str) -> None:
    from backstack.auth import ensure_schema

    await _with_engine(url, ensure_schema)


async def _with_engine(url: str, work: Callable[[Any], Awaitable[Any]]) -> None:
    """Start an engine on `url` (its start is part of every kind but "empty"), run `work`, close it."""
    from backstack.config import Settings
    from backstack.db.engine import connect

    folder = tempfile.mkdtemp(prefix="bs_template_")
    engine = connect(Settings(project_dir=Path(folder), database_url=url, jwt_secret=secrets.token_urlsafe(32)))
    try:
        await engine.start()
        await work(engine)
    finally:
        await engine.close()
        shutil.rmtree(folder, ignore_errors=True)


# kind -> (the kind it is cloned from, what brings a clone of that to this kind)
TEMPLATES: dict[str, tuple[str, Callable[[str], Awaitable[None]]]] = {
    "backstack": ("empty", _engine_start),
    "auth": ("backstack", _auth_schema),
}


# PostgreSQL 15's default CREATE DATABASE strategy (WAL_LOG) writes every page of the template to the
# WAL: ~8 MB per test database, gigabytes per run, flushed by the checkpoints every DROP forces.
# FILE_COPY copies the files and asks for a checkpoint instead, which concurrent requests share
# (tests/rest/test_service_{read,write}.py on PostgreSQL, 3 workers: 39 -> 29 s).
STRATEGY = " strategy file_copy"


class _DatabasePool:
    """Databases cloned ahead and dropped behind, on one background event loop.

    A test waits neither for a clone (the next ones of its kind are made while it runs) nor for a
    drop. DROP DATABASE forces an immediate checkpoint of the whole cluster (PostgreSQL 15), which is
    what made a database per test expensive: drops are batched and run together, so one
    checkpoint serves a batch (concurrent requests share it). One batch runs at a time: under load a
    checkpoint can take seconds, and batches started side by side each held connections until
    `max_connections` ran out (CI failed with "too many clients"); what is doomed meanwhile goes in
    the next, larger batch. A database is handed out once and dropped after its test, never reused;
    what is left is dropped at exit.
    """

    AHEAD = 2  # clones made in advance, per kind in use
    DROP_BATCH = 8  # drops waiting before a batch goes
    DROP_CONNECTIONS = 8  # drops of a batch run at once on that many connections (they share checkpoints)

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-databases", daemon=True)
        self._thread.start()
        self._names = itertools.count()
        self._admin: Any = None
        self._admin_lock: asyncio.Lock | None = None
        self._templates: dict[str, asyncio.Task[str | None]] = {}
        self._ahead: dict[str, list[asyncio.Task[str]]] = {}
        self._doomed: list[str] = []
        self._dropping: asyncio.Task[None] | None = None
        atexit.register(self.close)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def take(self, kind: Template) -> str:
        """A new database of `kind`; raises what creating it raised."""
        return self._call(self._take(kind))

    def drop(self, name: str) -> None:
        self._loop.call_soon_threadsafe(self._doom, name)

    def close(self) -> None:
        """Drop every database still here (clones made ahead, those queued, the templates)."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    # ------------------------------------------------------------------ on the pool's loop

    def _name(self, suffix: str = "") -> str:
        return f"bs_test_{RUN_ID}_{WORKER}_{suffix or next(self._names)}"

    async def _execute(self, sql: str) -> None:
        """One statement on the admin connection; statements take turns on it. A connection the
        server ended (tests/test_reliability.py restarts PostgreSQL) is reopened and the statement
        sent once more."""
        import asyncpg

        if self._admin_lock is None:
            self._admin_lock = asyncio.Lock()
        async with self._admin_lock:
            for last in (False, True):
                if self._admin is None or self._admin.is_closed():
                    self._admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
                try:
                    await self._admin.execute(sql)
                    return
                except Exception:
                    if last or not self._admin.is_closed():
                        raise

    async def _take(self, kind: str) -> str:
        ahead = self._ahead.setdefault(kind, [])
        while len(ahead) < self.AHEAD + 1:
            ahead.append(self._loop.create_task(self._clone(kind)))
        return await ahead.pop(0)

    async def _clone(self, kind: str) -> str:
        source = await self._template(kind)
        name = self._name()
        await self._create(name, source)
        return name

    async def _create(self, name: str, source: str | None) -> None:
        await self._execute(f'create database "{name}"' + (f' template "{source}"' if source else "") + STRATEGY)

    async def _template(self, kind: str) -> str | None:
        """The name of this process's template of `kind` (None: template1), made on first use."""
        if kind == "empty":
            return None
        task = self._templates.get(kind)
        if task is None or (task.done() and task.exception() is not None):  # retry after a failure
            task = self._templates[kind] = self._loop.create_task(self._make_template(kind))
        return await asyncio.shield(task)

    async def _make_template(self, kind: str) -> str:
        parent, prepare = TEMPLATES[kind]
        source = await self._template(parent)
        name = self._name(f"tpl_{kind}")
        await self._execute(f'drop database if exists "{name}" with (force)')  # a failed attempt's
        await self._create(name, source)
        await prepare(pg_url(name))
        return name

    def _doom(self, name: str) -> None:
        self._doomed.append(name)
        if len(self._doomed) >= self.DROP_BATCH and self._dropping is None:
            self._dropping = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        """Drop batches one after another while a batch's worth waits; stop when one dropped nothing."""
        try:
            while len(self._doomed) >= self.DROP_BATCH:
                names, self._doomed = self._doomed, []
                await self._drop_batch(names)
                if set(names) <= set(self._doomed):
                    return  # the server is away: the next doomed name, or exit, tries again
        finally:
            self._dropping = None

    async def _drop_batch(self, names: list[str]) -> None:
        """Drop `names` on up to DROP_CONNECTIONS connections at once (their checkpoints coincide)."""
        import asyncpg

        queue = list(names)

        async def dropper() -> None:
            conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
            try:
                while queue:
                    name = queue.pop()
                    try:
                        await conn.execute(f'drop database if exists "{name}" with (force)')
                    except BaseException:
                        queue.append(name)  # for the other connection, or the next batch
                        raise
            finally:
                await conn.close()

        await asyncio.gather(
            *(dropper() for _ in range(min(self.DROP_CONNECTIONS, len(queue)))), return_exceptions=True
        )
        self._doomed += queue  # not dropped (the server was away): tried again with the next batch, or at exit

    async def _close(self) -> None:
        made = [task for tasks in self._ahead.values() for task in tasks] + list(self._templates.values())
        names = [task.result() for task in made if await _settled(task)]  # let a CREATE under way finish
        self._ahead, self._templates = {}, {}
        if self._dropping is not None:
            await _settled(self._dropping)
        await self._drop_batch(self._doomed + [name for name in names if name])
        self._doomed = []
        if self._admin is not None:
            await self._admin.close()


async def _settled(task: asyncio.Task[Any]) -> bool:
    """Wait for `task`; True when it returned a value."""
    with contextlib.suppress(BaseException):
        await task
    return task.done() and not task.cancelled() and task.exception() is None


_pool: _DatabasePool | None = None


def create_pg_database(template: Template = "empty") -> str:
    """Create a uniquely named database from `template` (see the module docstring); skip (or fail)
    loudly when PostgreSQL is unreachable."""
    global _pool
    if _pool is None:
        _pool = _DatabasePool()
    try:
        return _pool.take(template)
    except Exception as exc:
        require_service(f"PostgreSQL UNREACHABLE at {PG_ADMIN_URL} ({exc!r}): postgres tests NOT RUN")


def close_pool() -> None:
    """Drop what this process still holds (tests/conftest.py calls it when the session ends)."""
    global _pool
    if _pool is not None:
        pool, _pool = _pool, None
        pool.close()


def drop_pg_database(name: str) -> None:
    """Drop the database (its sessions are ended) behind the test, in the background."""
    if _pool is None:
        run_sync(_drop_now(name))
    else:
        _pool.drop(name)


async def _drop_now(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


@contextmanager
def postgres_database(engine: str, template: Template = "empty") -> Iterator[str | None]:
    """The URL of a fresh database for engine "postgres" (None for "sqlite"); dropped afterwards."""
    if engine != "postgres":
        yield None
        return
    name = create_pg_database(template)
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)

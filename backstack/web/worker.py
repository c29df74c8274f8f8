"""What a server worker process sets up for itself: a garbage collector tuned for serving requests.

CPython collects its young generation every 700 allocations of container objects; one data API read
allocates a few hundred, so a collection ran every few requests, and each full collection walked every
object the app built at start (settings, routes, the schema cache, compiled statements). A server
worker instead freezes what startup built (`gc.freeze`: never scanned again) and collects the young
generation every 50,000 allocations. Reference counting still frees a request's objects as soon as
they are dropped; only reference cycles wait for the next collection. Measured on `make bench`'s W2
(get by id, PostgreSQL, 2 workers, c=64, alternating runs): 8,300-9,350 -> 9,800-10,700 requests/s.
Tests and embedders that call `create_app` keep the interpreter's defaults: only `app_from_env`, the
server workers' factory, tunes.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.core.events import StartupEvent
    from backstack.core.hookspecs import Hooks

THRESHOLDS = (50_000, 50, 100)  # young, middle, old (CPython's defaults: 700, 10, 10)
LAST = 1_000_000  # hook priority: after every other on_startup handler (lower runs first)


def tune_collector(hooks: Hooks) -> None:
    """Collect less often from now on, and freeze what startup built once every startup handler has run."""
    gc.set_threshold(*THRESHOLDS)
    hooks.on_startup.bind(_freeze_startup_objects, id="gc-freeze", priority=LAST)


async def _freeze_startup_objects(event: StartupEvent) -> None:
    gc.collect()  # what startup threw away is freed, not frozen
    gc.freeze()
    await event.next()

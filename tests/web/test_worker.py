"""A server worker's garbage collector (web/worker.py): tuned by the workers' factory only, frozen last at start."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from backstack.app import app_from_env, create_app
from backstack.core.events import StartupEvent
from backstack.web.worker import THRESHOLDS
from tests.conftest import make_settings


@pytest.fixture
def collector() -> Iterator[None]:
    """Give the test process its collector back as it was."""
    saved = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


@pytest.mark.anyio
async def test_the_workers_factory_freezes_what_startup_built_after_every_startup_handler(
    tmp_path: Path, collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKSTACK_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("BACKSTACK_JWT_SECRET", "a" * 40)
    monkeypatch.delenv("BACKSTACK_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = app_from_env()
    assert gc.get_threshold() == THRESHOLDS
    frozen_during_startup: list[int] = []

    async def plugin(event: StartupEvent) -> None:  # bound after the factory, still runs before the freeze
        frozen_during_startup.append(gc.get_freeze_count())
        await event.next()

    app.hooks.on_startup.bind(plugin, id="plugin", priority=10)
    gc.unfreeze()
    async with app.lifespan():
        assert frozen_during_startup == [0]
        assert gc.get_freeze_count() > 0


@pytest.mark.anyio
async def test_create_app_leaves_the_collector_alone(tmp_path: Path, collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    app = create_app(make_settings(tmp_path), access_log=lambda line: None)
    async with app.lifespan():
        assert gc.get_threshold() == (700, 10, 10)
        assert gc.get_freeze_count() == 0

"""Hook chains: order, ids, priorities, tags, next() before/after/instead of the default."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from backstack.core.events import RowsChanged
from backstack.core.hooks import Event, Hook, specs
from backstack.core.hookspecs import Hooks


@dataclass(eq=False)
class Ping(Event):
    trail: list[str] = field(default_factory=list)
    tag: str = ""

    def hook_tags(self) -> tuple[str, ...]:
        return (self.tag,) if self.tag else ()


async def _default(event: Ping) -> None:
    event.trail.append("default")


def _around(name: str):  # type: ignore[no-untyped-def]
    async def handler(event: Ping) -> None:
        event.trail.append(f"{name}:before")
        await event.next()
        event.trail.append(f"{name}:after")

    return handler


@pytest.mark.anyio
async def test_no_handlers_runs_the_default_only() -> None:
    event = await Hook[Ping]("ping").trigger(Ping(), _default)
    assert event.trail == ["default"]


@pytest.mark.anyio
async def test_handlers_wrap_the_default_in_priority_then_binding_order() -> None:
    hook = Hook[Ping]("ping")
    hook.bind(_around("b"), id="b")
    hook.bind(_around("c"), id="c", priority=5)
    hook.bind(_around("a"), id="a", priority=-1)
    hook.bind(_around("b2"), id="b2")
    assert hook.ids == ["a", "b", "b2", "c"]
    event = await hook.trigger(Ping(), _default)
    assert event.trail == [
        "a:before",
        "b:before",
        "b2:before",
        "c:before",
        "default",
        "c:after",
        "b2:after",
        "b:after",
        "a:after",
    ]


@pytest.mark.anyio
async def test_a_handler_that_does_not_call_next_vetoes_the_rest() -> None:
    hook = Hook[Ping]("ping")

    async def veto(event: Ping) -> None:
        event.trail.append("veto")

    hook.bind(veto, priority=-1)
    hook.bind(_around("later"))
    assert (await hook.trigger(Ping(), _default)).trail == ["veto"]


@pytest.mark.anyio
async def test_same_id_replaces_and_unbind_removes() -> None:
    hook = Hook[Ping]("ping")
    hook.bind(_around("old"), id="x")
    hook.bind(_around("new"), id="x")
    assert len(hook) == 1
    assert (await hook.trigger(Ping(), _default)).trail == ["new:before", "default", "new:after"]
    hook.unbind("x", "unknown")
    assert len(hook) == 0
    generated = hook.bind(_around("anon"))
    assert generated.startswith("ping:")


@pytest.mark.anyio
async def test_tagged_handlers_only_see_matching_events() -> None:
    hook = Hook[Ping]("ping")
    hook.bind(_around("todos"), tags=["todos"])
    hook.bind(_around("all"))
    assert (await hook.trigger(Ping(tag="todos"), _default)).trail == [
        "todos:before",
        "all:before",
        "default",
        "all:after",
        "todos:after",
    ]
    assert (await hook.trigger(Ping(tag="other"), _default)).trail == ["all:before", "default", "all:after"]


@pytest.mark.anyio
async def test_an_exception_in_a_handler_propagates_and_the_chain_is_restored() -> None:
    hook = Hook[Ping]("ping")

    async def boom(event: Ping) -> None:
        raise RuntimeError("boom")

    hook.bind(boom)
    event = Ping()
    with pytest.raises(RuntimeError):
        await hook.trigger(event, _default)
    await event.next()  # outside a chain: a no-op
    assert event.trail == []


@pytest.mark.anyio
async def test_rows_changed_is_tagged_with_its_table() -> None:
    hooks = Hooks()
    seen: list[str] = []

    async def on_todos(event: RowsChanged) -> None:
        seen.append(f"{event.operation} {event.table} {event.count}")
        await event.next()

    hooks.rows_changed.bind(on_todos, tags=["public.todos"])
    await hooks.rows_changed.trigger(RowsChanged(schema="public", table="todos", operation="INSERT", count=2))
    await hooks.rows_changed.trigger(RowsChanged(schema="public", table="notes", operation="INSERT", count=1))
    assert seen == ["INSERT todos 2"]


def test_listens_says_whether_a_handler_would_see_the_tags() -> None:
    hook = Hook[Ping]("ping")
    assert not hook.listens(("todos",))

    async def handler(event: Ping) -> None:
        await event.next()

    hook.bind(handler, id="todos", tags=["public.todos"])
    assert hook.listens(("todos", "public.todos")) and not hook.listens(("notes", "public.notes"))
    hook.bind(handler, id="all")
    assert hook.listens(("notes", "public.notes"))


def test_two_apps_share_no_handlers_and_the_catalogue_lists_every_hook() -> None:
    first, second = Hooks(), Hooks()

    async def handler(event: Event) -> None:
        await event.next()

    first.on_startup.bind(handler)
    assert len(first.on_startup) == 1 and len(second.on_startup) == 0
    assert first.on_startup is first.on_startup
    assert list(specs(Hooks)) == ["on_startup", "on_shutdown", "on_request", "rows_changed", "on_error"]
    assert all(spec.__doc__ for spec in specs(Hooks).values())

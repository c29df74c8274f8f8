"""Hook[E]: an ordered chain of async handlers around a default action (PocketBase's hook model).

A handler receives the event and decides when the rest of the chain (and finally the default
action) runs by awaiting `event.next()`: code before the await runs before the default, code after
it runs after, and not awaiting it replaces or vetoes the default. Handlers have an id (to unbind
or replace them), a priority (lower runs first; ties keep binding order) and optional tags (a table
or bucket name) that restrict them to events carrying one of those tags.

With no handlers bound, `trigger` calls the default action directly: a hook costs one tuple check
on the hot path. The catalogue of hooks an app offers is `core.hookspecs.Hooks`.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

Step = Callable[[], Awaitable[None]]


class Event:
    """Base of every hook event: carries the rest of the chain so a handler can `await event.next()`."""

    _next: Step | None = None

    async def next(self) -> None:
        """Run the remaining handlers, then the default action; a no-op outside a chain."""
        step = self._next
        if step is not None:
            await step()

    def hook_tags(self) -> tuple[str, ...]:
        """Tags this event matches (e.g. the table name); tagged handlers only see matching events."""
        return ()


E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Binding(Generic[E]):
    """One bound handler."""

    id: str
    priority: int
    handler: Handler[E]
    tags: frozenset[str]

    def matches(self, tags: tuple[str, ...]) -> bool:
        return not self.tags or any(tag in self.tags for tag in tags)


_ids = itertools.count(1)


class Hook(Generic[E]):
    """An extension point: handlers bound by id and priority, run as a chain by `trigger`."""

    __slots__ = ("_bindings", "name")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._bindings: tuple[Binding[E], ...] = ()

    def __len__(self) -> int:
        return len(self._bindings)

    def listens(self, tags: tuple[str, ...]) -> bool:
        """Whether a handler would see an event carrying `tags`: a caller skips building an event
        (and the work behind its fields) when nobody would receive it."""
        return any(b.matches(tags) for b in self._bindings)

    @property
    def ids(self) -> list[str]:
        """Ids of the bound handlers, in the order they run."""
        return [b.id for b in self._bindings]

    def bind(self, handler: Handler[E], *, id: str | None = None, priority: int = 0, tags: Iterable[str] = ()) -> str:
        """Add `handler` (replacing any handler with the same `id`); return its id."""
        hid = id or f"{self.name or 'hook'}:{next(_ids)}"
        binding = Binding(hid, priority, handler, frozenset(tags))
        kept = [b for b in self._bindings if b.id != hid]
        # sorted() is stable, so equal priorities keep the order they were bound in.
        self._bindings = tuple(sorted([*kept, binding], key=lambda b: b.priority))
        return hid

    def unbind(self, *ids: str) -> None:
        """Remove the handlers with these ids (unknown ids are ignored)."""
        self._bindings = tuple(b for b in self._bindings if b.id not in ids)

    def unbind_all(self) -> None:
        self._bindings = ()

    async def trigger(self, event: E, default: Handler[E] | None = None) -> E:
        """Run the chain for `event`, ending with `default` unless a handler stops it; return the event."""
        bindings = self._bindings
        if bindings:
            tags = event.hook_tags()
            bindings = tuple(b for b in bindings if b.matches(tags))
        if not bindings:
            if default is not None:
                await default(event)
            return event
        await _run(bindings, 0, event, default)
        return event


async def _run(bindings: tuple[Binding[E], ...], index: int, event: E, default: Handler[E] | None) -> None:
    """Call handler `index` with `event.next` pointing at handler `index + 1` (or the default)."""
    if index == len(bindings):
        if default is not None:
            await default(event)
        return
    previous = event._next

    async def step() -> None:
        await _run(bindings, index + 1, event, default)

    object.__setattr__(event, "_next", step)  # events may be frozen dataclasses
    try:
        await bindings[index].handler(event)
    finally:
        object.__setattr__(event, "_next", previous)


class HookSpec(Generic[E]):
    """Declares a hook in the `Hooks` catalogue: its event type and what it is for.

    Each `Hooks` instance gets its own `Hook` on first access, so two apps share nothing.
    """

    def __init__(self, event: type[E], doc: str) -> None:
        self.event = event
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> HookSpec[E]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> Hook[E]: ...

    def __get__(self, obj: object | None, owner: type) -> HookSpec[E] | Hook[E]:
        if obj is None:
            return self
        hook: Hook[E] = Hook(self.name)
        vars(obj)[self.name] = hook  # later lookups find the instance attribute first
        return hook


def specs(catalogue: type) -> dict[str, HookSpec[Any]]:
    """Every hook declared on `catalogue`, by name, in declaration order."""
    return {name: value for name, value in vars(catalogue).items() if isinstance(value, HookSpec)}

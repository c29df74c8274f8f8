"""`@rpc`: Python functions a project serves at `/rest/v1/rpc/<name>`, and their loader.

A project's `functions/*.py` marks functions with the decorator::

    from backstack import rpc

    @rpc(volatility="stable")
    async def add(ctx, a: int, b: int = 2) -> int:
        row = await ctx.db.fetch_one("select count(*) from todos")
        return a + b + row[0]

The first parameter receives an `RpcContext`: `.caller` (role, uid, claims) and `.db`, a handle whose
statements run under the caller's row-level security. The other parameters are the named arguments;
their annotations give the argument types (`int`, `float`, `bool`, `str`, `dict`/`list` as JSON, text
otherwise) and the return annotation the result's shape (`None` -> 204, `list` -> a set, `dict` -> an
object).

The decorator only marks the function: `load_rpc_functions(folder)` imports the files and collects
the marked functions into a registry owned by the app (no module-global registry: two apps in one
process share nothing). Sync functions run in a worker thread and get a sync `.db`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from pathlib import Path

    from backstack.core.caller import Caller

Volatility = Literal["volatile", "stable", "immutable"]
F = TypeVar("F", bound=Callable[..., Any])
D = TypeVar("D")
MARK = "__backstack_rpc__"
_TYPES: dict[Any, str] = {
    int: "integer",
    float: "double precision",
    bool: "boolean",
    str: "text",
    dict: "jsonb",
    list: "jsonb",
}


class Database(Protocol):
    """What `ctx.db` offers an async `@rpc` function; statements in the engine's own SQL dialect."""

    dialect: str  # "sqlite" or "postgres"

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...


class SyncDatabase(Protocol):
    """What `ctx.db` offers a sync `@rpc` function (it runs in a worker thread)."""

    dialect: str

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...


@dataclass(frozen=True, slots=True)
class RpcContext(Generic[D]):
    """The first argument of an `@rpc` function: who calls, and a database handle under their policies."""

    caller: Caller
    db: D


@dataclass(frozen=True, slots=True)
class RpcOptions:
    """What `@rpc(...)` was given; stored on the function under `MARK`."""

    name: str | None = None
    volatility: Volatility = "volatile"


@dataclass(frozen=True, slots=True)
class RpcParameter:
    """A named argument: its PostgreSQL type name (from the annotation) and whether it has a default."""

    name: str
    type: str
    has_default: bool


@dataclass(frozen=True, slots=True)
class RpcFunction:
    """A loaded `@rpc` function."""

    name: str
    fn: Callable[..., Any]
    volatility: Volatility
    parameters: tuple[RpcParameter, ...]
    returns: str  # "void", "jsonb", "integer"...
    returns_set: bool
    source: str  # the file it came from, for messages

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)


class RpcLoadError(Exception):
    """A functions/ file that cannot be imported, or a bad `@rpc` declaration; the message names the file
    (and, for an import failure, the line: `line` is then set too)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@overload
def rpc(fn: F, /) -> F: ...


@overload
def rpc(*, name: str | None = None, volatility: Volatility = "volatile") -> Callable[[F], F]: ...


def rpc(fn: Any = None, /, *, name: str | None = None, volatility: Volatility = "volatile") -> Any:
    """Mark a function as callable at `/rest/v1/rpc/<name>` (`name` defaults to the function's)."""
    if volatility not in ("volatile", "stable", "immutable"):
        raise ValueError(f"volatility must be volatile, stable or immutable, not {volatility!r}")
    options = RpcOptions(name, volatility)

    def mark(target: F) -> F:
        setattr(target, MARK, options)
        return target

    return mark(fn) if fn is not None else mark


def load_rpc_functions(folder: Path) -> dict[str, RpcFunction]:
    """Import every `*.py` of `folder` (not `_`-prefixed) and collect its `@rpc` functions by name."""
    found: dict[str, RpcFunction] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = _import(path)
        for value in vars(module).values():
            options = getattr(value, MARK, None)
            if isinstance(options, RpcOptions) and callable(value):
                function = describe(value, options, f"functions/{path.name}")
                if function.name in found:
                    raise RpcLoadError(
                        f"{function.source}: @rpc function {function.name!r} is already defined "
                        f"in {found[function.name].source}"
                    )
                found[function.name] = function
    return found


def _import(path: Path) -> types.ModuleType:
    digest = hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    module_name = f"backstack_functions_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RpcLoadError(f"functions/{path.name}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        line = _failing_line(exc, path)
        where = f" (line {line})" if line else ""
        raise RpcLoadError(f"functions/{path.name}: {type(exc).__name__}: {exc}{where}", line=line) from exc
    return module


def _failing_line(exc: BaseException, path: Path) -> int | None:
    """The line of `path` where importing it failed: a SyntaxError's own, else the file's last frame."""
    target = str(path)  # the code's file name, as spec_from_file_location was given it
    if isinstance(exc, SyntaxError) and exc.filename == target:
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == target:
            line = lineno
    return line


def describe(fn: Callable[..., Any], options: RpcOptions, source: str) -> RpcFunction:
    """The `RpcFunction` for a marked callable: arguments and result shape from its signature."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise RpcLoadError(f"{source}: @rpc function {fn.__name__} must take the context as its first parameter")
    arguments: list[RpcParameter] = []
    for param in params[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise RpcLoadError(
                f"{source}: @rpc function {fn.__name__}: argument {param.name} must be a named "
                "parameter (no *args, **kwargs or positional-only)"
            )
        arguments.append(RpcParameter(param.name, _type_name(hints.get(param.name)), param.default is not param.empty))
    returns, returns_set = _result(hints.get("return", Any))
    return RpcFunction(
        options.name or fn.__name__, fn, options.volatility, tuple(arguments), returns, returns_set, source
    )


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation) or annotation
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _type_name(inner[0]) if len(inner) == 1 else "text"
    return _TYPES.get(origin, "text")


def _result(annotation: Any) -> tuple[str, bool]:
    if annotation is None or annotation is type(None):
        return "void", False
    origin = typing.get_origin(annotation) or annotation
    if origin is list:
        return "jsonb", True
    return _type_name(annotation), False

"""`@rpc` and the loader of a project's functions/ folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backstack import RpcContext, rpc
from backstack.core.rpc import MARK, RpcLoadError, RpcOptions, RpcParameter, describe, load_rpc_functions


def test_decorator_forms_only_mark() -> None:
    def plain(ctx: Any) -> None: ...

    assert rpc(plain) is plain
    assert getattr(plain, MARK) == RpcOptions()

    @rpc(name="other", volatility="stable")
    async def named(ctx: Any) -> int:
        return 1

    assert getattr(named, MARK) == RpcOptions("other", "stable")
    with pytest.raises(ValueError, match="volatility"):
        rpc(volatility="sometimes")  # type: ignore[call-overload]


def test_signature_gives_arguments_and_result() -> None:
    async def f(
        ctx: RpcContext[Any],
        a: int,
        b: float,
        c: bool,
        d: str,
        e: dict[str, Any],
        g: list[int],
        h: int | None = None,
        i=1,
    ) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        return []

    described = describe(f, RpcOptions(), "functions/x.py")
    assert described.parameters == (
        RpcParameter("a", "integer", False),
        RpcParameter("b", "double precision", False),
        RpcParameter("c", "boolean", False),
        RpcParameter("d", "text", False),
        RpcParameter("e", "jsonb", False),
        RpcParameter("g", "jsonb", False),
        RpcParameter("h", "integer", True),
        RpcParameter("i", "text", True),
    )
    assert (described.returns, described.returns_set, described.is_async) == ("jsonb", True, True)
    assert describe(lambda ctx: None, RpcOptions(name="n"), "x").returns == "text"

    def void(ctx: Any) -> None: ...

    assert (describe(void, RpcOptions(), "x").returns, describe(void, RpcOptions(), "x").is_async) == ("void", False)


def test_bad_signatures_name_the_file() -> None:
    with pytest.raises(RpcLoadError, match=r"functions/x.py: .* context as its first parameter"):
        describe(lambda: None, RpcOptions(), "functions/x.py")
    with pytest.raises(RpcLoadError, match=r"functions/x.py: .*argument rest must be a named parameter"):
        describe(lambda ctx, *rest: None, RpcOptions(), "functions/x.py")


def write(folder: Path, name: str, source: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(source, encoding="utf-8")


def test_loader_collects_marked_functions(tmp_path: Path) -> None:
    folder = tmp_path / "functions"
    write(
        folder,
        "a.py",
        "from backstack import rpc\n\n@rpc\nasync def one(ctx):\n    return 1\n\ndef helper(ctx):\n    return 2\n",
    )
    write(
        folder,
        "b.py",
        "from backstack import rpc\n\n@rpc(name='two', volatility='immutable')\n"
        "def second(ctx, x: int):\n    return x\n",
    )
    write(folder, "_private.py", "raise RuntimeError('never imported')\n")
    found = load_rpc_functions(folder)
    assert sorted(found) == ["one", "two"]
    assert found["two"].volatility == "immutable" and found["two"].source == "functions/b.py"
    assert load_rpc_functions(tmp_path / "missing") == {}


def test_loader_errors_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "functions"
    write(folder, "broken.py", "import not_a_module_anywhere\n")
    with pytest.raises(RpcLoadError, match=r"functions/broken.py: ModuleNotFoundError"):
        load_rpc_functions(folder)
    (folder / "broken.py").unlink()
    write(folder, "a.py", "from backstack import rpc\n\n@rpc\ndef same(ctx):\n    return 1\n")
    write(folder, "b.py", "from backstack import rpc\n\n@rpc(name='same')\ndef other(ctx):\n    return 2\n")
    with pytest.raises(
        RpcLoadError,
        match=r"functions/b.py: @rpc function 'same' is already defined in "
        r"functions/a.py",
    ):
        load_rpc_functions(folder)

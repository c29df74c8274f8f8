"""backstack: Supabase-compatible APIs (data, auth, storage, realtime, functions) in one Python package.

The public API is listed in `__all__`. Names are imported on first use: `backstack.create_app`
loads the server stack (and prometheus-client), which `backstack serve` must not do before it has
prepared the environment of its worker processes.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from backstack.core.version import __version__

_EXPORTS = {
    "create_app": "backstack.app",
    "Backstack": "backstack.app",
    "Settings": "backstack.config",
    "load_settings": "backstack.config",
    "Caller": "backstack.core.caller",
    "ApiError": "backstack.core.errors",
    "Hook": "backstack.core.hooks",
    "Event": "backstack.core.hooks",
    "Hooks": "backstack.core.hookspecs",
    "StartupEvent": "backstack.core.events",
    "ShutdownEvent": "backstack.core.events",
    "RequestEvent": "backstack.core.events",
    "RowsChanged": "backstack.core.events",
    "ErrorEvent": "backstack.core.events",
    "rpc": "backstack.core.rpc",
    "RpcContext": "backstack.core.rpc",
}

__all__ = [
    "ApiError",
    "Backstack",
    "Caller",
    "ErrorEvent",
    "Event",
    "Hook",
    "Hooks",
    "RequestEvent",
    "RowsChanged",
    "RpcContext",
    "Settings",
    "ShutdownEvent",
    "StartupEvent",
    "__version__",
    "create_app",
    "load_settings",
    "rpc",
]

if TYPE_CHECKING:
    from backstack.app import Backstack, create_app
    from backstack.config import Settings, load_settings
    from backstack.core.caller import Caller
    from backstack.core.errors import ApiError
    from backstack.core.events import ErrorEvent, RequestEvent, RowsChanged, ShutdownEvent, StartupEvent
    from backstack.core.hooks import Event, Hook
    from backstack.core.hookspecs import Hooks
    from backstack.core.rpc import RpcContext, rpc


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'backstack' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value

"""Helpers of the realtime tests: a served project with extra settings, and a raw client's frames.

`serve_with` starts `backstack serve` on a fresh SQLite project whose backstack.toml gets `settings`
appended (the limits the tests reach); the rest speaks Phoenix frames as the clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
from websockets.asyncio.client import ClientConnection

from tests.compat.conftest import LiveServer, _run, start_server, stop_server


@contextlib.contextmanager
def serve_with(project: Path, settings: str) -> Iterator[LiveServer]:
    """`backstack serve` on a new SQLite project at `project` with `settings` added to its backstack.toml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k != "DATABASE_URL"}
    _run(["init", str(project)], env)
    with (project / "backstack.toml").open("a") as toml:
        toml.write(settings)
    live, proc = start_server(project, env, "sqlite")
    try:
        yield live
    finally:
        stop_server(proc)


def push_frame(
    join_ref: str, ref: str, topic: str, event: str, payload: bytes, *, encoding: int = 1, meta: str = ""
) -> bytes:
    """A kind 3 frame exactly as realtime-js's serializer lays it out."""
    header = struct.pack("!7B", 3, len(join_ref), len(ref), len(topic), len(event), len(meta), encoding)
    return header + (join_ref + ref + topic + event + meta).encode() + payload


def secret(server: LiveServer) -> str:
    text = (server.project / "backstack.toml").read_text()
    return text.split('jwt_secret = "', 1)[1].split('"', 1)[0]


def user_token(server: LiveServer, *, expires_in: int = 3600, sub: str = "u1") -> str:
    claims = {"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": int(time.time()) + expires_in}
    return jwt.encode(claims, secret(server), algorithm="HS256")


def ws_url(server: LiveServer, vsn: str = "1.0.0", apikey: str | None = None) -> str:
    base = server.url.replace("http://", "ws://")
    return f"{base}/realtime/v1/websocket?apikey={apikey or server.anon_key}&vsn={vsn}"


async def send(ws: ClientConnection, topic: str, event: str, payload: dict[str, Any], ref: str | None = "1") -> None:
    await ws.send(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": ref}))


async def recv(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(message, dict)
    return message


async def heartbeats(ws: ClientConnection) -> None:
    """What the clients do every 25-30 s, every second."""
    while True:
        await send(ws, "phoenix", "heartbeat", {}, ref="hb")
        await asyncio.sleep(1)


async def join(ws: ClientConnection, topic: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    await send(ws, topic, "phx_join", {"config": config or {}, **extra}, ref=extra.pop("ref", "1"))
    return await recv(ws)

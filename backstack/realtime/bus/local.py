"""The workers of one machine, without Redis or PostgreSQL: unix sockets in a folder of the project.

Each worker listens on `<folder>/<node>.sock` (the folder is `.backstack/realtime/`, mode 0700: only
the server's own user can connect) and sends each message to every other socket it finds there, as
a length-prefixed frame on one stream connection per peer, opened on first use. Why this rather than
the SQLite file: the file would have to be polled (latency or load), while a socket wakes its
reader at once and the kernel does the rest; streams rather than datagrams because a message may be
up to `realtime_max_message_bytes` (1 MiB, above a datagram's limit) and a stream never drops or
reorders. A peer that cannot take a message within `DRAIN_SECONDS` is disconnected (and reconnected
for the next one); the socket of a worker that died refuses connections and is removed. Not on
Windows (no AF_UNIX): there a worker delivers to its own sockets only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
import uuid
from pathlib import Path

from backstack.realtime.bus.base import Deliver, Outbox, Throttled, logger

DRAIN_SECONDS = 5.0
STALE_SECONDS = 10.0  # a refused socket younger than this may be a worker still starting
MAX_FRAME = 64 * 1024 * 1024
PATH_MAX = 100  # sun_path holds 108 bytes


class LocalBus:
    def __init__(self, folder: Path) -> None:
        self.folder = _short_enough(folder)
        self.description = f"unix sockets in {self.folder}"
        self.path = self.folder / f"{uuid.uuid4().hex[:16]}.sock"
        self._warnings = Throttled()
        self._outbox = Outbox(self._send, self._warnings)
        self._peers: dict[str, asyncio.StreamWriter] = {}
        self._server: asyncio.AbstractServer | None = None
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(self.folder):
            logger.error("realtime bus: %s is not this user's alone; each worker keeps to its sockets", self.folder)
            return
        self._server = await asyncio.start_unix_server(self._serve_peer, path=str(self.path))
        self._outbox.start()

    def publish(self, data: bytes) -> None:
        if self._server is not None:
            self._outbox.put(data)

    async def _serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Frames from one peer, until it disconnects."""
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big")
                if size > MAX_FRAME:
                    break
                data = await reader.readexactly(size)
                if self._deliver is not None:
                    self._deliver(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _send(self, data: bytes) -> None:
        frame = len(data).to_bytes(4, "big") + data
        writers = [writer for name in self._peer_names() if (writer := await self._writer(name)) is not None]
        for writer in writers:
            writer.write(frame)
        await asyncio.gather(*(self._drain(writer) for writer in writers))

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(writer.drain(), DRAIN_SECONDS)
        except (OSError, TimeoutError) as error:
            self._warnings.warn("a worker did not take a message; disconnected", error)
            self._forget(writer)

    def _peer_names(self) -> list[str]:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        return [name for name in names if name.endswith(".sock") and name != self.path.name]

    async def _writer(self, name: str) -> asyncio.StreamWriter | None:
        writer = self._peers.get(name)
        if writer is not None and not writer.is_closing():
            return writer
        path = self.folder / name
        try:
            _, writer = await asyncio.open_unix_connection(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > STALE_SECONDS:  # its worker is gone
                    path.unlink()
            return None
        except OSError as error:
            self._warnings.warn(f"cannot reach the worker at {path}", error)
            return None
        self._peers[name] = writer
        return writer

    def _forget(self, writer: asyncio.StreamWriter) -> None:
        for name, known in tuple(self._peers.items()):
            if known is writer:
                del self._peers[name]
        writer.close()

    async def close(self) -> None:
        await self._outbox.close()
        for writer in tuple(self._peers.values()):
            self._forget(writer)
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._deliver = None


def _private(folder: Path) -> bool:
    """Whether only this user can reach the sockets in `folder` (a folder under /tmp may be someone else's)."""
    status = folder.stat()
    if status.st_uid != os.getuid():
        return False
    if status.st_mode & 0o077:
        folder.chmod(0o700)
    return True


def _short_enough(folder: Path) -> Path:
    """`folder`, or one under the temporary folder named after it when a socket path would be too long."""
    folder = folder.resolve()
    if len(str(folder)) + 22 <= PATH_MAX:
        return folder
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"backstack-realtime-{digest}"

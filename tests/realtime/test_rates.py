"""A worker's join and message rates (rates.py), and the topic checks at join, over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
import websockets

from backstack.realtime.rates import Rate
from tests.compat.conftest import LiveServer
from tests.realtime.wire import join, recv, send, serve_with, ws_url

RATES = """
realtime_joins_per_second = 5
realtime_messages_per_second = 5
"""


def test_a_rate_allows_one_seconds_worth_then_refills() -> None:
    rate = Rate(10)
    assert sum(rate.allow() for _ in range(30)) == 10
    time.sleep(0.25)
    assert 1 <= sum(rate.allow() for _ in range(30)) <= 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_with(tmp_path_factory.mktemp("realtime-rates") / "app", RATES) as live:
        yield live


@pytest.mark.anyio
async def test_joins_and_messages_over_the_rate_are_refused_with_supabases_codes(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        reasons = [
            (await join(ws, f"realtime:r{n}", ref=str(n)))["payload"]["response"].get("reason") for n in range(20)
        ]
        assert 5 <= reasons.count(None) < 15  # a second's worth, plus what refills while the joins go by
        assert set(reasons) - {None} == {"ClientJoinRateLimitReached: Too many joins per second"}
        for n in range(40):
            message = {"type": "broadcast", "event": "e", "payload": {}}
            await send(ws, "realtime:r0", "broadcast", message, ref=f"m{n}")
        refusals = []  # no ack asked: only the refused messages are answered
        with contextlib.suppress(TimeoutError):
            while True:
                refusals.append((await asyncio.wait_for(recv(ws), 1))["payload"]["response"]["reason"])
        assert len(refusals) >= 20
        assert set(refusals) == {"MessagePerSecondRateLimitReached: Too many messages per second"}


@pytest.mark.anyio
async def test_a_topic_must_have_a_name_and_fit_a_frame(server: LiveServer) -> None:
    time.sleep(1)  # a fresh second's joins
    async with websockets.connect(ws_url(server)) as ws:
        empty = await join(ws, "realtime:")
        assert empty["payload"]["response"] == {"reason": "TopicNameRequired: You must provide a topic name"}
        long = await join(ws, "realtime:" + "x" * 300, ref="2")
        assert long["payload"]["response"]["reason"].startswith("InvalidJoinPayload")

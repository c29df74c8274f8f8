"""Password hashing: argon2id parameters, bcrypt import, re-hashing, and that the event loop stays free."""

from __future__ import annotations

import asyncio
import time

import bcrypt
import pytest
from argon2 import PasswordHasher

from backstack.auth.core.passwords import MEMORY_COST_KIB, PARALLELISM, TIME_COST, Passwords, weak_reasons

pytestmark = [pytest.mark.anyio, pytest.mark.real_password_cost]


async def test_hash_and_verify() -> None:
    passwords = Passwords()
    encoded = await passwords.hash("correct horse")
    assert encoded.startswith(f"$argon2id$v=19$m={MEMORY_COST_KIB},t={TIME_COST},p={PARALLELISM}$")
    assert (await passwords.verify(encoded, "correct horse")).ok
    assert (await passwords.verify(encoded, "correct horse")).new_hash is None
    assert not (await passwords.verify(encoded, "Correct horse")).ok
    assert not (await passwords.verify(None, "anything")).ok
    assert not (await passwords.verify("", "")).ok
    assert not (await passwords.verify("$argon2id$garbage", "x")).ok


async def test_outdated_argon2_parameters_are_upgraded() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-12345678")
    result = await Passwords().verify(old, "pw-12345678")
    assert result.ok and result.new_hash is not None and result.new_hash.startswith("$argon2id$v=19$m=19456,t=3")


async def test_bcrypt_hashes_verify_and_upgrade() -> None:
    encoded = bcrypt.hashpw(b"hunter2-hunter2", bcrypt.gensalt(rounds=4)).decode()
    result = await Passwords().verify(encoded, "hunter2-hunter2")
    assert result.ok and result.new_hash is not None and result.new_hash.startswith("$argon2id$")
    assert not (await Passwords().verify(encoded, "hunter3-hunter3")).ok
    assert not (await Passwords().verify("$2b$10$short", "x")).ok


@pytest.mark.serial  # measures event-loop gaps against one hash
async def test_hashing_does_not_block_the_event_loop() -> None:
    passwords = Passwords()
    started = time.perf_counter()
    await passwords.hash("warm-up password")
    one_hash = time.perf_counter() - started
    worst_gap = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst_gap
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst_gap = max(worst_gap, now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(passwords.hash(f"password {i}") for i in range(6)))
    done.set()
    await task
    assert worst_gap < one_hash, (worst_gap, one_hash)


def test_weak_reasons() -> None:
    assert weak_reasons("1234567", 8) == ["length"]
    assert weak_reasons("12345678", 8) == []
    assert weak_reasons("ünïcödé!", 8) == []  # characters, not bytes

"""Password hashing (argon2id), verification of imported bcrypt hashes, and the strength rules.

Parameters: argon2id, time_cost=3, memory_cost=19 MiB (19456 KiB), parallelism=1, 16-byte salt,
32-byte hash; OWASP's password-storage guidance lists m=19 MiB with t=2 as its minimum, we take
one more pass. Measured on the 2-core development machine (argon2-cffi 25.1, Python 3.11):
~29 ms per hash and per verification (t=2 was ~21 ms, m=32 MiB t=2 ~47 ms). Hashes are PHC strings
(`$argon2id$v=19$m=19456,t=3,p=1$...`), which GoTrue itself can verify, so users can move back.

Hashing and verification run in worker threads (argon2-cffi releases the GIL), never on the event
loop, and at most `os.cpu_count()` at once: a burst of sign-ins queues here instead of starving
the threads the database engines use.

bcrypt hashes (`$2a$`/`$2b$`/`$2y$`, what GoTrue and most exports hold) verify with the `bcrypt`
package and are flagged for re-hashing, so the sign-in that proves the password upgrades it to
argon2id. bcrypt only ever looked at the first 72 bytes of a password; we do the same when checking
a bcrypt hash (bcrypt>=5 refuses longer input), while new argon2id hashes use the whole password.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import ClassVar

import anyio
import anyio.to_thread
import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from backstack.auth.core import errors

TIME_COST = 3
MEMORY_COST_KIB = 19_456
PARALLELISM = 1
MAX_PASSWORD_LENGTH = 1024  # characters; bounds the work one request can ask for
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$", "$2x$")
_BCRYPT_MAX_BYTES = 72


@dataclass(frozen=True, slots=True)
class HashCost:
    """argon2id's work parameters."""

    time_cost: int = TIME_COST
    memory_cost_kib: int = MEMORY_COST_KIB
    parallelism: int = PARALLELISM


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of checking a password: whether it matched and whether its hash should be replaced."""

    ok: bool
    new_hash: str | None = None


class Passwords:
    """Hashes and verifies passwords off the event loop; one instance per app."""

    default_cost: ClassVar[HashCost] = HashCost()
    """What `Passwords()` uses. The test suite lowers it for the tests that do not check the cost
    itself, as GoTrue's tests use bcrypt's minimum cost (docs/testing.md)."""

    def __init__(self, *, cost: HashCost | None = None, max_concurrent: int | None = None) -> None:
        cost = cost or self.default_cost
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_cost_kib, parallelism=cost.parallelism, type=Type.ID
        )
        self._limiter = anyio.CapacityLimiter(max_concurrent or os.cpu_count() or 2)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """A new argon2id hash of `password`."""
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, encoded: str | None, password: str) -> Verification:
        """Check `password` against `encoded`; `new_hash` is set when the stored hash should be upgraded.

        A missing or unknown hash still costs one argon2 verification, so the answer time does not
        tell an attacker whether the account exists or has a password.
        """
        return await anyio.to_thread.run_sync(self._verify_sync, encoded, password, limiter=self._limiter)

    def _verify_sync(self, encoded: str | None, password: str) -> Verification:
        if encoded and encoded.startswith(_BCRYPT_PREFIXES):
            if not _bcrypt_matches(encoded, password):
                return Verification(False)
            return Verification(True, self._hasher.hash(password))
        if not encoded or not encoded.startswith("$argon2"):
            self._burn(password)
            return Verification(False)
        try:
            self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(False)
        if self._hasher.check_needs_rehash(encoded):
            return Verification(True, self._hasher.hash(password))
        return Verification(True)

    def _burn(self, password: str) -> None:
        """Spend what a real verification costs (timing must not reveal unknown accounts)."""
        if self._dummy is None:
            self._dummy = self._hasher.hash("backstack-dummy-password")
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy, password)


def _bcrypt_matches(encoded: str, password: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode()[:_BCRYPT_MAX_BYTES], encoded.encode())
    except ValueError:  # malformed hash
        return False


def weak_reasons(password: str, min_length: int) -> list[str]:
    """GoTrue's `weak_password.reasons` for `password` ([] when it is acceptable)."""
    reasons: list[str] = []
    if len(password) < min_length:
        reasons.append("length")
    return reasons


def weak_message(min_length: int) -> str:
    """GoTrue's message for a password that is too short."""
    return f"Password should be at least {min_length} characters."


def check_new_password(password: str, min_length: int) -> None:
    """GoTrue's rules for a password being set: at most `MAX_PASSWORD_LENGTH`, strong enough (422)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        raise errors.validation_failed(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
    reasons = weak_reasons(password, min_length)
    if reasons:
        raise errors.weak_password(weak_message(min_length), reasons)

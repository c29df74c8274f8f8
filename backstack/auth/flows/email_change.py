"""Starting an email change: tokens for the current and the new address, mailed to both (GoTrue's
secure email change; with `auth_secure_email_change` off only the new address is asked)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.auth.core.pkce import Challenge
    from backstack.auth.core.user import User
    from backstack.auth.mail.outbox import Outbox
    from backstack.auth.store.db import AuthDb
    from backstack.config import Settings


class EmailChange:
    """Issues and mails the email-change tokens (used by PUT /user and /resend)."""

    def __init__(self, db: AuthDb, settings: Settings, outbox: Outbox, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.outbox = outbox
        self.clock = clock

    async def send(self, user: User, new_email: str, redirect_to: str, *, challenge: Challenge | None = None) -> None:
        """Tokens for changing `user`'s address to `new_email`, mailed to the current and the new address."""
        now = self.clock()
        secure = self.settings.auth_secure_email_change
        async with self.db.engine.transaction() as conn:
            current, new = await self.outbox.issue_email_change(
                conn, user, new_email, redirect_to, now, secure=secure, challenge=challenge
            )
        if current is not None:
            await self.outbox.send("email_change", user.email, current, user, new_email=new_email)
        await self.outbox.send("email_change", new_email, new, user, new_email=new_email)

"""The dev inbox (`auth.dev_inbox`): mails stored instead of sent, listed by `backstack mail`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.auth.core.user import rfc3339
from backstack.auth.store.sql import AuthSql, read_ts, sql_for
from backstack.core import json

if TYPE_CHECKING:
    from backstack.db.engine import Engine

_INSERT = (
    "insert into auth.dev_inbox (id, created_at, kind, recipient, subject, html, text_body, links, codes) "
    "values (?, ?, ?, ?, ?, ?, ?, ?::text::jsonb, ?::text::jsonb)"
)


async def insert(
    engine: Engine, sql: AuthSql, now: datetime, kind: str, to: str, subject: str, html: str, text: str,
    links: list[str], codes: list[str],
) -> None:  # fmt: skip
    """Store one mail (its own transaction: a mail is kept even when the caller's work fails later)."""
    params = (
        str(uuid.uuid4()), sql.ts(now), kind, to, subject, html, text, json.dumps_str(links), json.dumps_str(codes),
    )  # fmt: skip
    async with engine.transaction() as conn:
        await conn.execute(sql(_INSERT), params)


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A stored mail, as `backstack mail` lists it."""

    id: str
    created_at: datetime
    kind: str
    to: str
    subject: str
    links: list[str]
    codes: list[str]
    html: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "created_at": rfc3339(self.created_at), "kind": self.kind, "to": self.to,
            "subject": self.subject, "links": self.links, "codes": self.codes, "html": self.html, "text": self.text,
        }  # fmt: skip


def _list(text: Any) -> list[str]:
    value = json.loads(text) if isinstance(text, str | bytes) else text
    return [str(v) for v in value] if isinstance(value, list) else []


async def read_inbox(engine: Engine, *, to: str | None = None, limit: int = 50) -> list[InboxEntry]:
    """The newest stored mails first (optionally only those to one address)."""
    sql = sql_for(engine.dialect)
    where, params = ("where recipient = ? ", [to.strip().lower(), limit]) if to else ("", [limit])
    rows = await engine.fetch_all(
        sql(
            "select id, created_at, kind, recipient, subject, links::text, codes::text, html, text_body "  # noqa: S608 (fixed clause; values bound)
            f"from auth.dev_inbox {where}order by created_at desc, id limit ?"
        ),
        tuple(params),
    )
    out = []
    for r in rows:
        created = read_ts(r[1])
        assert created is not None
        out.append(InboxEntry(str(r[0]), created, r[2], r[3], r[4], _list(r[5]), _list(r[6]), r[7], r[8]))
    return out

"""Where email links send the browser: `redirect_to` checked against the allow-list, as GoTrue does.

A `redirect_to` is honoured when it has the host of the site URL (`auth_site_url`, else
`site_url`) or matches one of `auth_redirect_urls` (glob patterns: `*` within a path segment or
host label, `**` across them). Anything else falls back to the site URL, so a link can never be
turned into an open redirect that hands tokens to another origin.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from backstack.config import Settings


def site_url(settings: Settings) -> str:
    """The app's URL: where links land by default."""
    return settings.auth_site_url or settings.public_url


@lru_cache(maxsize=128)
def _pattern(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append(r"[^/.]*")
            i += 1
        elif glob[i] == "?":
            out.append(r"[^/.]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


def is_allowed(settings: Settings, url: str) -> bool:
    if not url:
        return False
    try:
        target = urlsplit(url)
        base = urlsplit(site_url(settings))
    except ValueError:
        return False
    if any(ch in url for ch in "\r\n\t\\"):
        return False
    if target.scheme in ("http", "https") and target.hostname and target.hostname == base.hostname:
        return True
    return any(_pattern(glob).fullmatch(url) for glob in settings.auth_redirect_urls)


def redirect_target(settings: Settings, requested: str | None) -> str:
    """`requested` when allowed, else the site URL."""
    if requested and is_allowed(settings, requested):
        return requested
    return site_url(settings)

"""Where email links and OAuth sign-ins send the browser: `redirect_to` checked against the allow-list.

A `redirect_to` is honoured when it is on the site URL's origin (`auth_site_url`, else
`site_url`: same scheme, host and port, any path) or matches one of `auth_redirect_urls`. Anything
else falls back to the site URL, as GoTrue does, so a link can never hand tokens to another origin.

The URL is parsed first, with the WHATWG rules browsers apply (`ada-url`), and the parts are
matched one by one, never the raw string: a glob could otherwise swallow a `?`, `#` or `%2e` and
accept `https://attacker%2ecom?.example.com/`, which a browser reads as host `attacker.com`.
Patterns are `scheme://host[:port][/path]` with GoTrue's documented wildcards (Supabase's
"Redirect URLs"): `*` any run of characters without a separator (`.` in the host, `.` and `/` in
the path), `**` any run, `?` one non-separator character, `[a-z]` / `[!a-z]`, `{a,b}`, `\\c` a
literal `c`. Refused whatever the patterns say: userinfo (`user@`), control characters, spaces and
backslashes, schemes that run code or carry content (`javascript:`, `data:`, ...), and IP hosts
(`https://3232235777/` is 192.168.1.1 to a browser) unless the site URL or a pattern names that
exact address.

The URL handed on is the parser's serialisation, so what was checked is what the browser gets.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ada_url import URL, idna_to_ascii

if TYPE_CHECKING:
    from backstack.config import Settings

_NEVER_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about", "filesystem"})
_HOST_TYPE_DOMAIN = 0  # ada's HostType: 0 domain, 1 IPv4, 2 IPv6
_GLOB_CHARS = frozenset("*?[]{}\\")
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_ROOT = re.compile("/?")  # a pattern without a path admits the bare origin only


def site_url(settings: Settings) -> str:
    """The app's URL: where links land by default."""
    return settings.auth_site_url or settings.public_url


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed redirect URL, in the form browsers give it."""

    href: str
    scheme: str  # without the colon, lower case
    host: str  # IDNA-encoded, percent-decoded, lower case; IPv6 in brackets
    is_ip: bool
    port: str  # "" for the scheme's default port
    rest: str  # path + query + fragment, as serialised


def parse(url: str) -> Target | None:
    """`url` as a browser would read it, or None when it is no URL a redirect may go to."""
    if not url or any(ord(ch) <= 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in url):
        return None
    try:
        parsed = URL(url)
    except ValueError:
        return None
    scheme = parsed.protocol.rstrip(":").lower()
    if scheme in _NEVER_SCHEMES or parsed.username or parsed.password or not parsed.hostname:
        return None
    host = parsed.hostname.lower()
    is_ip = parsed.host_type != _HOST_TYPE_DOMAIN or _looks_numeric(host)
    return Target(parsed.href, scheme, host, is_ip, parsed.port, parsed.pathname + parsed.search + parsed.hash)


def _looks_numeric(host: str) -> bool:
    """An opaque host (custom scheme) that an IP parser would read as an address."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return bool(last) and (last.isdigit() or last.lower().startswith("0x"))


@dataclass(frozen=True, slots=True)
class Pattern:
    """One `auth_redirect_urls` entry, split into the parts a target is matched on."""

    scheme: re.Pattern[str]
    host: re.Pattern[str]
    host_literal: str | None  # the host when it has no wildcard (IP hosts must equal it)
    port: re.Pattern[str]
    rest: re.Pattern[str]


@lru_cache(maxsize=256)
def compile_pattern(glob: str) -> Pattern | None:
    """The parts of `glob`; None for an entry that is not `scheme://host...` (it then matches nothing)."""
    scheme, sep, after = glob.partition("://")
    if not sep or not scheme:
        return None
    authority, slash, path = after.partition("/")
    host, port = _split_port(authority)
    host, is_ip = _normalise_host(host)
    scheme = scheme.lower()
    if port == _DEFAULT_PORTS.get(scheme):
        port = ""
    literal = host if is_ip or not any(ch in _GLOB_CHARS for ch in host) else None
    return Pattern(
        scheme=_glob_regex(scheme, ""),
        host=re.compile(re.escape(host)) if is_ip else _glob_regex(host, "."),
        host_literal=literal,
        port=_glob_regex(port, ""),
        rest=_glob_regex(slash + path, "./") if slash else _ROOT,
    )


def _split_port(authority: str) -> tuple[str, str]:
    end = authority.find("]")
    if authority.startswith("[") and ":" in authority[:end]:  # [IPv6]:port, not a [a-z] class
        port = authority[end + 1 :]
        return authority[: end + 1], port[1:] if port.startswith(":") else ""
    host, colon, port = authority.rpartition(":")
    return (host, port) if colon else (authority, "")


def _normalise_host(host: str) -> tuple[str, bool]:
    """Lower case and IDNA labels, the wildcards left alone; IP literals in their canonical form."""
    host = host.lower()
    try:
        return _canonical_ip(host), True
    except ValueError:
        pass
    labels = (label if label.isascii() else idna_to_ascii(label).decode() for label in host.split("."))
    return ".".join(labels), False


def _canonical_ip(host: str) -> str:
    address = ipaddress.ip_address(host.strip("[]"))
    return f"[{address}]" if address.version == 6 else str(address)


@lru_cache(maxsize=512)
def _glob_regex(glob: str, separators: str) -> re.Pattern[str]:
    """GoTrue's glob (gobwas/glob) with `separators` as a regular expression over the whole text."""
    not_sep = f"[^{re.escape(separators)}]" if separators else "."
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(glob):
        ch = glob[i]
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append(f"{not_sep}*")
        elif ch == "?":
            out.append(not_sep)
        elif ch == "\\" and i + 1 < len(glob):
            i += 1
            out.append(re.escape(glob[i]))
        elif ch == "[" and (end := glob.find("]", i + 2)) != -1:
            body = glob[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            chars = "".join(re.escape(c) if c != "-" else "-" for c in body)
            out.append(f"[^{chars}{re.escape(separators)}]" if negate else f"[{chars}]")
            i = end
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(ch))
        i += 1
    out.append(")" * depth)
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return re.compile(re.escape(glob))  # a malformed class or group: the text literally


def _matches(pattern: Pattern, target: Target) -> bool:
    if not pattern.scheme.fullmatch(target.scheme) or not pattern.port.fullmatch(target.port):
        return False
    if target.is_ip:
        if pattern.host_literal is None or pattern.host_literal != target.host:
            return False
    elif not pattern.host.fullmatch(target.host):
        return False
    return pattern.rest.fullmatch(target.rest) is not None


def _same_origin(target: Target, site: Target | None) -> bool:
    return site is not None and (target.scheme, target.host, target.port) == (site.scheme, site.host, site.port)


def allowed_target(settings: Settings, url: str) -> str | None:
    """The browser-normalised `url` when the site URL or an allow-list entry admits it, else None."""
    target = parse(url)
    if target is None:
        return None
    if _same_origin(target, parse(site_url(settings))):
        return target.href
    for glob in settings.auth_redirect_urls:
        pattern = compile_pattern(glob.strip())
        if pattern is not None and _matches(pattern, target):
            return target.href
    return None


def is_allowed(settings: Settings, url: str) -> bool:
    return allowed_target(settings, url) is not None


def redirect_target(settings: Settings, requested: str | None) -> str:
    """`requested` (as a browser reads it) when allowed, else the site URL."""
    if requested:
        allowed = allowed_target(settings, requested)
        if allowed is not None:
            return allowed
    return site_url(settings)

"""Who may connect: the bind-address rule, the bearer token and the browser Origin allow-list.

Pure functions, no I/O, so that each decision is unit-tested without opening a socket:

- `check_bind(host, token)`: a server bound to anything but a loopback address is reachable from
  the network, so it refuses to start without a token (`InsecureBindError`).
- `request_token(path, headers)` / `token_ok(...)`: clients pass the token as a `?token=` query
  parameter (browsers cannot set headers on a WebSocket) or as `Authorization: Bearer <token>`;
  the comparison is constant-time.
- `origin_allowed(origin, allowed)`: browsers send an `Origin` header, so a page on another site
  cannot drive the local service through the visitor's browser (cross-site WebSocket hijacking).
  Requests without `Origin` (native clients, scripts) are always allowed: they cannot be
  hijacked, and the token guards them when one is set.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

DEFAULT_ORIGINS: tuple[str, ...] = (
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
    "null",  # pages opened from file:// (and sandboxed iframes)
)
"""Browser origins allowed by default: pages served from this machine, any port, and file://."""

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class InsecureBindError(ValueError):
    """Binding to a non-loopback address without a token."""


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine: `localhost`, 127.0.0.0/8 or ::1.

    The wildcard addresses (`0.0.0.0`, `::`, empty) and every other name or address are not
    loopback: a host name could resolve to a public interface, so it counts as exposed."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse an exposed server without a token: raises `InsecureBindError` when `host` is not a
    loopback address and no (non-empty) token is set."""
    if token is not None and not token.strip():
        raise InsecureBindError("the token must not be empty")
    if token is None and not is_loopback(host):
        raise InsecureBindError(
            f"binding to {host!r} exposes the avatar service to the network: set a token "
            "(--token, clients pass ?token=... or 'Authorization: Bearer ...') or bind 127.0.0.1"
        )


def request_token(path: str, headers: Mapping[str, str]) -> str | None:
    """The token a request carries: `Authorization: Bearer <t>` first, else the `token` query
    parameter of `path`; None when there is neither."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query, keep_blank_values=True).get("token")
    return values[0] if values else None


def token_ok(expected: str | None, given: str | None) -> bool:
    """Whether a request with token `given` may connect (always, when no token is configured)."""
    if expected is None:
        return True
    if given is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def _split_origin(origin: str) -> tuple[str, str, str | None] | None:
    """(scheme, host, port or None) of a serialized origin, lower-cased; None if it is not one."""
    parts = urlsplit(origin.strip())
    if not parts.scheme or not parts.netloc or parts.path not in ("", "/"):
        return None
    host = parts.netloc.lower()
    port: str | None = None
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        host, rest = host[: end + 1], host[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port = rest[1:]
    elif ":" in host:
        host, port = host.rsplit(":", 1)
    return parts.scheme.lower(), host, port


def origin_matches(origin: str, pattern: str) -> bool:
    """`pattern`: `*` (any origin), an exact origin (`https://app.example`, `null`), or an origin
    with `*` as its port (`http://localhost:*`: that host on any port, or on none)."""
    pattern = pattern.strip()
    if pattern == "*":
        return True
    if origin.strip().lower() == pattern.lower():
        return True
    pat, org = _split_origin(pattern), _split_origin(origin)
    if pat is None or org is None:
        return False
    if pat[0] != org[0] or pat[1] != org[1]:
        return False
    return pat[2] == "*" or pat[2] == org[2]


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request with this `Origin` header (None: no header) may connect."""
    if origin is None:
        return True
    return any(origin_matches(origin, p) for p in allowed)

"""What every request meets first, outside Gradio's own middleware: who the client really is, which
host name it asked for, and the headers that tell a browser how to treat the answers.

- **Forwarded headers** (``--trusted-proxies``). uvicorn believes ``X-Forwarded-For`` from
  127.0.0.1 by default, so any local process could claim any client address (another's uploads and
  events without a login, a fresh address for each password guess). Here they are believed only from
  the proxies the operator names (none by default): from those, the client is the right-most
  address the proxies did not add themselves, and ``X-Forwarded-Proto``/``-Host`` are kept; from
  anyone else the ``X-Forwarded-*`` and ``Forwarded`` headers are dropped before Gradio sees them.
- **Host names** (``--allowed-hosts``). A page of another site can rename itself to this machine's
  address (DNS rebinding): its requests are then same-origin, with the attacker's name in ``Host``.
  Only the names the app is reached by are answered: localhost (and ``*.localhost``), any IP address
  (a rebinding page has a name, never an address), this machine's name, ``--host``, the hosts of
  ``--allowed-origins``, ``*.gradio.live`` when shared, and ``--allowed-hosts``. Anything else: 421.
- **Browser headers.** Gradio answers any ``Origin`` with ``Access-Control-Allow-Credentials: true``
  when the host is not localhost: those CORS headers leave only for ``--allowed-origins``. Every
  answer says ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``, and may not
  be framed by another site (``X-Frame-Options: DENY`` and ``frame-ancestors 'none'``, or the
  allowed origins).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable

log = logging.getLogger("whisper_ui.server")

SHARE_DOMAIN = ".gradio.live"  # where --share links live
LOCAL_NAMES = frozenset({"localhost"})
FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port",
             b"x-forwarded-prefix", b"forwarded", b"x-real-ip")


class Proxies:
    """The addresses whose forwarded headers are believed."""

    def __init__(self, networks: Iterable[str] = ()):
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __contains__(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, forwarded_for: str, peer: str) -> str:
        """The first address from the right that is not one of the proxies (each proxy appends the one it
        heard from); the peer itself if the header names none."""
        for entry in reversed([e.strip() for e in forwarded_for.split(",") if e.strip()]):
            address = host_name(entry)
            if address not in self:
                return address
        return peer


def host_name(value: str) -> str:
    """``Host``'s name (or an ``X-Forwarded-For`` entry's address), without port or brackets, lowercase."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return (value.rsplit(":", 1)[0] if value.count(":") == 1 else value).rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostNames:
    """The host names the app answers to (``--allowed-hosts`` besides the local ones)."""

    def __init__(self, allowed: Iterable[str] = (), bind: str = "", origins: Iterable[str] = (), share: bool = False):
        allowed = {a.lower() for a in allowed}
        self.any = "*" in allowed
        self.suffixes = tuple(a for a in allowed if a.startswith("."))
        names = {a for a in allowed if a != "*" and not a.startswith(".")} | set(LOCAL_NAMES)
        names |= {host_name(o.partition("://")[2]) for o in origins}
        if bind and bind not in ("0.0.0.0", "::"):
            names.add(host_name(bind))
        if name := socket.gethostname():  # not getfqdn(): a DNS lookup at start, slow on a host offline
            names.add(name.lower())
        self.names = frozenset(names)
        self.share = share

    def __contains__(self, name: str) -> bool:
        return (self.any or name in self.names or name.endswith(".localhost") or _is_address(name)
                or any(name == s[1:] or name.endswith(s) for s in self.suffixes)
                or (self.share and name.endswith(SHARE_DOMAIN)))


class Edge:
    """ASGI middleware around the whole app (Gradio's CORS and compression included): see the module."""

    def __init__(self, app, proxies: Proxies, hosts: HostNames, allowed_origins: Iterable[str] = ()):
        self.app = app
        self.proxies = proxies
        self.hosts = hosts
        self.allowed_origins = frozenset(allowed_origins)
        frame = " ".join(sorted(self.allowed_origins)) or "'none'"
        self.extra_headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                              (b"content-security-policy", f"frame-ancestors {frame}".encode("latin-1"))]
        if not self.allowed_origins:
            self.extra_headers.append((b"x-frame-options", b"DENY"))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        headers = scope.get("headers") or []
        peer = (scope.get("client") or (None,))[0]
        if peer in self.proxies:
            values = {}
            for name, value in headers:
                if name in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"):
                    values[name] = (values[name] + b", " + value) if name in values else value
            if b"x-forwarded-for" in values:
                client = self.proxies.client(values[b"x-forwarded-for"].decode("latin-1"), peer)
                scope["client"] = (client, 0)
            proto = values.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
            asked = values.get(b"x-forwarded-host", b"").decode("latin-1").split(",")[0].strip()
            if asked:  # the name the browser used: Gradio's links and the cross-site check compare with it
                scope["headers"] = headers = [(n, v) for n, v in headers if n != b"host"] + [
                    (b"host", asked.encode("latin-1"))]
        else:
            scope["headers"] = headers = [(n, v) for n, v in headers if n not in FORWARDED]
            asked = ""
        if not asked:
            asked = next((v.decode("latin-1") for n, v in headers if n == b"host"), "")
        name = host_name(asked)
        if asked and name not in self.hosts:
            await self._refuse(scope, receive, send, asked)
            return
        await self.app(scope, receive, self._with_headers(scope, send))

    async def _refuse(self, scope, receive, send, asked: str) -> None:
        from .connections import quiet_log

        quiet_log("unknown-host", "refused %s %s for the host %s: not a name this app answers to (--allowed-hosts)",
                  scope.get("method", "GET"), ascii(scope.get("path", "")[:200]), ascii(asked[:200]))
        if scope["type"] != "http":
            return
        from fastapi.responses import JSONResponse

        response = JSONResponse({"detail": "Misdirected request: this server does not answer to that host name "
                                           "(its --allowed-hosts names the ones it does)."}, status_code=421)
        await response(scope, receive, send)

    def _with_headers(self, scope, send):
        origin = next((v.decode("latin-1").strip().lower().rstrip("/") for n, v in scope.get("headers", [])
                       if n == b"origin"), None)
        keep_cors = origin is not None and origin in self.allowed_origins

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = [(n, v) for n, v in message.get("headers", [])
                           if keep_cors or not n.lower().startswith(b"access-control-")]
                present = {n.lower() for n, _ in headers}
                headers += [(n, v) for n, v in self.extra_headers if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        return sending

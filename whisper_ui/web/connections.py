"""Slow and idle clients: read timeouts on every connection, and caps per client address.

Gradio serves the app with uvicorn, whose HTTP/1.1 protocol waits as long as a client likes for a
request's headers and body (its only timer is the keep-alive one, between requests): ten thousand
uploads that send a byte now and then held as many file descriptors and temporary files. Here:

- ``GuardedH11Protocol`` (uvicorn's h11 protocol, installed on Gradio's server by ``guard_server``):
  a request's headers must arrive within ``--read-timeout`` seconds of its first byte (of the
  connection's opening for the first request), and its body may pause at most that long between two
  pieces (unless the server itself stopped reading). Over either, the client gets 408 and the
  connection is closed; the app sees a disconnect, so the partial upload is deleted at once
  (``server.limit_uploads``). The connections one address may hold open at once are capped
  (``--max-connections-per-client``): more are answered 429 and closed before anything is read.
- ``ClientCaps`` (ASGI middleware): uploads in progress and event streams (Gradio's heartbeat and
  queue streams, open for as long as a page or a job lasts) are capped per client address, with a
  login or without: more get 429.

Behind a reverse proxy every connection comes from the proxy: the connection cap does not apply to
``--trusted-proxies`` (none unless named), whose proxy should cap per client itself; the request caps
use the forwarded client address (``web/edge.py`` believes it from those proxies only).
"""

from __future__ import annotations

import collections
import logging
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("whisper_ui.connections")

MAX_UPLOADS_PER_CLIENT = 8  # uploads in progress at once, per client address
MAX_STREAMS_PER_CLIENT = 32  # open event streams (heartbeats of pages, streams of jobs), per client address
STREAM_PREFIXES = ("/gradio_api/heartbeat/", "/gradio_api/queue/data", "/gradio_api/mcp/sse")
LOG_EVERY_SECONDS = 10.0  # refusals and timeouts are logged at most this often (a count of the others)


class _QuietLog:
    """One log line per kind of event and ``LOG_EVERY_SECONDS``, with the count of those not logged:
    hundreds of slow clients give a few lines, not hundreds."""

    def __init__(self):
        self._last: dict[str, float] = {}
        self._missed: collections.Counter = collections.Counter()

    def __call__(self, kind: str, message: str, *args) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            self._missed[kind] += 1
            return
        self._last[kind] = now
        missed = self._missed.pop(kind, 0)
        log.warning(message + (f" (and {missed} more like it in the last {LOG_EVERY_SECONDS:.0f} s)" if missed else ""),
                    *args)


quiet_log = _QuietLog()


def _raw_answer(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}"
            "\r\nConnection: close\r\n\r\n").encode() + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with read timeouts and a cap on open connections per address.

    ``read_timeout``, ``per_client`` and ``trusted`` are set on a subclass by ``guard_server``; the
    open connections of every address are counted on that subclass (one event loop, no lock)."""

    read_timeout: float = 30.0
    per_client: int = 64  # 0: no cap
    trusted: object = ()  # addresses exempt from the cap (reverse proxies): supports ``in``
    open_by_address: collections.Counter

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._timer = None
        self._timer_for = None  # "headers" or "body"
        self._address = self.client[0] if self.client else None
        if self.per_client and self._address is not None and self._address not in self.trusted:
            if self.open_by_address[self._address] >= self.per_client:
                quiet_log("connections", "refused a connection from %s: %d open already (--max-connections-per-client)",
                          self._address, self.per_client)
                self._address = None  # not counted
                transport.write(_raw_answer(429, "Too Many Requests", "Too many connections from your address: close "
                                                                      "some and try again.\n"))
                transport.close()
                return
            self.open_by_address[self._address] += 1
        else:
            self._address = None
        self._arm("headers")

    def connection_lost(self, exc) -> None:
        self._disarm()
        if self._address is not None:
            self.open_by_address[self._address] -= 1
            if self.open_by_address[self._address] <= 0:
                del self.open_by_address[self._address]
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.more_body:
                self._arm("body")  # each piece of the body resets the body's timer
            else:
                self._disarm()  # the whole request is in: the app's turn, however long it takes
        elif self._timer_for != "headers" and not self.transport.is_closing():
            self._arm("headers")  # the next request's first bytes: its headers' deadline, not reset by more

    def on_response_complete(self) -> None:
        self._disarm()  # between requests uvicorn's keep-alive timer closes an idle connection
        super().on_response_complete()

    def _arm(self, phase: str) -> None:
        self._disarm()
        self._timer_for = phase
        self._timer = self.loop.call_later(self.read_timeout, self._timed_out)

    def _disarm(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
        self._timer = self._timer_for = None

    def _timed_out(self) -> None:
        phase, self._timer, self._timer_for = self._timer_for, None, None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if phase == "body" and (cycle is None or cycle.response_complete or not cycle.more_body):
            return
        if phase == "body" and self.flow.read_paused:  # the app is behind, not the client
            self._arm("body")
            return
        quiet_log(f"slow-{phase}", "closed a connection from %s: no %s for %.0f s (--read-timeout)",
                  self.client[0] if self.client else "?",
                  "request headers" if phase == "headers" else "more of the request body", self.read_timeout)
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        answered_while_sending = (cycle is not None and cycle.response_complete
                                  and self.conn.their_state is h11.SEND_BODY)  # refused before its body was read
        if not (answering or answered_while_sending):
            self.transport.write(_raw_answer(408, "Request Timeout", "The request was not sent in time.\n"))
        self.transport.close()  # the app, if it was reading the body, sees the client go


def guard_server(read_timeout: float, per_client: int, trusted=(), wrap=None) -> None:
    """Gradio's uvicorn server, from the next ``launch``, with ``GuardedH11Protocol`` and no WebSocket
    upgrade (the app serves none; ``RouteGuard`` refuses them): replaces ``gradio.http_server.Server``
    by a subclass that sets both on the server's configuration. uvicorn's own forwarded headers are
    off (``web/edge.py`` believes them from ``trusted`` only, whose connections are not capped: a
    proxy carries many clients); ``wrap`` puts middleware around the whole app, Gradio's own
    middleware included."""
    from gradio import http_server

    base = getattr(http_server.Server, "_whisper_ui_base", http_server.Server)

    class GuardedServer(base):
        _whisper_ui_base = base

        def __init__(self, config, *args, **kwargs):
            protocol = type("GuardedH11", (GuardedH11Protocol,), {
                "read_timeout": read_timeout, "per_client": per_client, "trusted": trusted,
                "open_by_address": collections.Counter()})
            config.http = protocol
            config.ws = "none"
            config.proxy_headers = False
            if wrap is not None:
                config.app = wrap(config.app)
            super().__init__(config, *args, **kwargs)

    http_server.Server = GuardedServer


class ClientCaps:
    """ASGI middleware: at most ``uploads`` uploads in progress and ``streams`` event streams open per
    client address (the forwarded one behind a trusted proxy); more are answered 429 at once."""

    def __init__(self, app, upload_routes: frozenset[str], uploads: int = MAX_UPLOADS_PER_CLIENT,
                 streams: int = MAX_STREAMS_PER_CLIENT):
        self.app = app
        self.upload_routes = upload_routes
        self.caps = {"upload": uploads, "stream": streams}
        self.open: dict[str, collections.Counter] = {"upload": collections.Counter(), "stream": collections.Counter()}

    def _kind(self, scope) -> str | None:
        method, path = scope.get("method"), scope.get("path", "")
        if method == "POST" and path in self.upload_routes:
            return "upload"
        if method == "GET" and path.startswith(STREAM_PREFIXES):
            return "stream"
        return None

    async def __call__(self, scope, receive, send):
        kind = self._kind(scope) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("?",))[0]
        counter = self.open[kind]
        if counter[address] >= self.caps[kind]:
            from fastapi.responses import JSONResponse

            quiet_log(f"many-{kind}s", "refused %s %s from %s: %d %ss of this address in progress", scope["method"],
                      ascii(scope.get("path", "")[:200]), address, self.caps[kind], kind)
            what = "uploads" if kind == "upload" else "open pages or jobs"
            await JSONResponse({"detail": f"Too many {what} at once from your address: wait for one to finish."},
                               status_code=429, headers={"Retry-After": "5"})(scope, receive, send)
            return
        from starlette.requests import ClientDisconnect

        counter[address] += 1
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:  # its partial file is deleted already (server.limit_uploads): no traceback
            log.info("an upload from %s ended before its body was complete", address)
        finally:
            counter[address] -= 1
            if counter[address] <= 0:
                del counter[address]


def replay(body: bytes, receive):
    """``receive`` for the app: the body read already, then the client's own messages (its disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

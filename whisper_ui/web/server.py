"""Launching the page: Gradio's hardened settings, and the health routes.

Gradio's defaults are changed here (see shared/SECURITY-NOTES.md): a bounded
queue, ``api_open=False`` so the REST route cannot skip the queue, an upload
size limit, no monitoring page, no analytics.

With ``--auth``, Gradio's login guards the page, the API and the file routes;
the health routes are added beside Gradio's (``app_kwargs``), outside its login,
so a load balancer or ``HEALTHCHECK`` can reach them: they tell only the model's
state. The OpenAI-compatible routes (``whisper_ui.web.openai_api``) are added the same way, with
their own bearer-key check, and ``--mcp`` turns on Gradio's MCP server, its one tool kept
(``ui.mcp_tools_only``) and its path guarded by the same keys (``McpGuard``). A share
link is public, so ``check_share`` refuses it without a login before anything starts, and
``share`` is always passed explicitly, so Gradio's own ``GRADIO_SHARE`` variable cannot open
a tunnel behind the settings' back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from ..core.errors import ConfigError, public_reason
from ..core.settings import Settings
from ..runtime.manager import ModelManager
from ..runtime.service import TranscriptionService
from .connections import ClientCaps, guard_server, replay
from .edge import SHARE_DOMAIN, Edge, HostNames, Proxies

log = logging.getLogger("whisper_ui.server")


def health_routes(manager: ModelManager) -> list:
    """``/healthz``: the process serves. ``/readyz``: a model is loaded and ready (503 otherwise); with
    ``--backend ray``, at least one replica serves it."""
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readyz() -> JSONResponse:
        state = manager.state
        body = {"status": state.status, "model": state.model, "device": state.device,
                "engine": state.engine or manager.engine_name, "compute_type": state.compute_type}
        if state.error:
            body["error"] = public_reason(state.error)  # no server paths: /readyz needs no login
        ready = state.ready
        if hasattr(manager.engine, "replicas"):  # --backend ray: ready while at least one replica serves the model
            serving = manager.engine.backend.ready_replicas(state.model)
            body["replicas_ready"] = len(serving)
            ready = ready and bool(serving)
        return JSONResponse(body, status_code=200 if ready else 503)

    return [APIRoute("/healthz", healthz, methods=["GET"]), APIRoute("/readyz", readyz, methods=["GET"])]


# Every route this app serves: the page (Gradio's frontend and its queue), gradio_client (the same
# queue), the health checks and the OpenAI-compatible API; MCP's when --mcp is on. Anything else
# Gradio adds (its webcam-recording helper that runs ffmpeg on any body, /openapi.json, the REST
# /call and /run routes, streaming, monitoring, proxies...) answers 404 before Gradio sees it.
READ_ROUTES = frozenset({
    "/", "/config", "/config/", "/favicon.ico", "/manifest.json", "/robots.txt", "/theme.css", "/login",
    "/login/", "/logout", "/healthz", "/readyz", "/v1/models", "/api-guide", "/gradio_api/info", "/gradio_api/info/",
    "/gradio_api/startup-events", "/gradio_api/upload_progress", "/gradio_api/queue/data",
    "/gradio_api/login_check", "/gradio_api/app_id",
})
READ_PREFIXES = ("/assets/", "/static/", "/svelte/", "/gradio_api/file=", "/gradio_api/heartbeat/")
WRITE_ROUTES = frozenset({"/login", "/login/", "/gradio_api/queue/join", "/gradio_api/cancel", "/gradio_api/upload",
                          # the page's events outside the queue (the Status tab's refresh...); Gradio refuses
                          # a queued function there (api_open=False)
                          "/gradio_api/run/predict",
                          "/gradio_api/reset",  # gradio_client's cancel
                          "/v1/audio/transcriptions", "/v1/audio/translations"})
# routes whose bodies are audio, held to --max-upload-mb by their own handlers; every other body is a
# few KB of JSON or form (a job: its options and a file's server path)
UPLOAD_ROUTES = frozenset({"/gradio_api/upload", "/v1/audio/transcriptions", "/v1/audio/translations"})
MCP_PREFIX = "/gradio_api/mcp"
MAX_REQUEST_BYTES = 1024 * 1024


def route_allowed(method: str, path: str, mcp: bool = False) -> bool:
    """Does this app serve ``method path``?"""
    if mcp and (path == MCP_PREFIX or path.startswith(MCP_PREFIX + "/")):
        return True
    if method in ("GET", "HEAD"):
        return path in READ_ROUTES or path.startswith(READ_PREFIXES)
    return method == "POST" and path in WRITE_ROUTES


class UploadSpace:
    """``--max-upload-disk-mb``: does an upload fit in what the upload folder may still hold?

    Counted before the body is read: what the folder holds (Gradio's uploads and the API's, kept for
    ``--upload-retention-minutes``) plus the request's ``Content-Length``, or the largest upload
    allowed when it gives none."""

    def __init__(self, folder, limit: int, max_upload: int):
        self.folder = folder
        self.limit = limit
        self.max_upload = max_upload

    def used(self) -> int:
        total = 0
        for root, _, files in os.walk(self.folder):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_size
        return total

    def room_for(self, scope) -> bool:
        incoming = self.max_upload
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.isdigit():
                incoming = min(int(value), self.max_upload)
        return self.used() + incoming <= self.limit


def limit_uploads(max_files: int = 1) -> None:
    """Gradio's upload route: at most ``max_files`` files a request (it allows 1000: 1000 times the size
    limit in one request), and nothing left of an upload whose client goes away mid-way (Gradio deletes
    the partial files of a malformed or oversized request, not of a dropped one). Gradio internals,
    replaced on its class once; ``tests/test_health_auth.py`` checks both."""
    from gradio import route_utils

    parser = route_utils.GradioMultiPartParser
    if getattr(parser, "_whisper_ui_limited", False):
        return
    init, parse = parser.__init__, parser.parse

    def limited_init(self, *args, **kwargs):
        kwargs["max_files"] = max_files
        kwargs["max_fields"] = min(kwargs.get("max_fields", 1000), 16)
        init(self, *args, **kwargs)

    async def parse_or_clean_up(self):
        try:
            return await parse(self)
        except BaseException:
            for file in self._files_to_close_on_error:
                with contextlib.suppress(OSError):
                    file.close()
                    Path(file.name).unlink(missing_ok=True)
            raise

    parser.__init__, parser.parse, parser._whisper_ui_limited = limited_init, parse_or_clean_up, True


class LoginThrottle:
    """Failed logins, per client address: each failure answers after ``delay`` seconds, and an address
    with ``limit`` failures in the last ``window`` seconds is refused (429) until the oldest is older.
    Behind a reverse proxy every client has the proxy's address: the proxy should limit per client."""

    def __init__(self, limit: int = 5, window: float = 60.0, delay: float = 1.0):
        self.limit, self.window, self.delay = limit, window, delay
        self._failures: dict[str, list[float]] = {}

    def forgive(self, address: str) -> None:
        """Take back the latest counted attempt of ``address`` (it logged in)."""
        recent = self._failures.get(address)
        if recent:
            recent.pop()
            if not recent:
                self._failures.pop(address, None)

    def _recent(self, address: str) -> list[float]:
        now = time.monotonic()
        recent = [t for t in self._failures.get(address, []) if now - t < self.window]
        if recent:
            self._failures[address] = recent
        else:
            self._failures.pop(address, None)
        return recent

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        recent = self._recent(address)
        return 0.0 if len(recent) < self.limit else max(0.0, self.window - (time.monotonic() - recent[0]))

    def failed(self, address: str) -> None:
        """Count a failure (or an attempt not answered yet: counted before it is checked, so that many
        guesses at once cannot all pass the limit; ``forgive`` takes it back if it succeeds)."""
        self._failures.setdefault(address, []).append(time.monotonic())
        if len(self._failures) > 10_000:  # many addresses: forget the quietest, memory stays bounded
            for old in [a for a in self._failures if not self._recent(a)]:
                self._failures.pop(old, None)


LOGIN_ROUTES = frozenset({"/login", "/login/"})
# above Gradio's login form (which says only "Login"): whose login it is, in both of the page's languages
LOGIN_MESSAGE = ("<p><strong>whisper-ui</strong>: speech to text on this server. Sign in to use it.<br>"
                 "이 서버의 음성 받아쓰기입니다. 로그인해서 쓰세요.</p>")


class RouteGuard:
    """ASGI middleware: only the routes this app serves (``route_allowed``); no POST from another
    site's page (403) unless ``--allowed-origins`` names it; request bodies other than audio bounded
    to ``MAX_REQUEST_BYTES`` (413) before they are read into memory."""

    def __init__(self, app, mcp: bool = False, allowed_origins: tuple[str, ...] = (), uploads: UploadSpace | None = None,
                 logins: LoginThrottle | None = None, share: bool = False):
        self.app = app
        self.mcp = mcp
        self.allowed_origins = frozenset(allowed_origins)
        self.share = share  # the page may come through a share link (https://*.gradio.live, Host rewritten or not)
        self.uploads = uploads
        self.logins = logins or LoginThrottle()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        from fastapi.responses import JSONResponse

        path, method = scope.get("path", ""), scope.get("method", "GET")
        if scope["type"] == "websocket" or not route_allowed(method, path, self.mcp):
            log.info("refused %s %s: not a route this app serves", method, ascii(path[:200]))
            if scope["type"] == "http":
                await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        if method == "POST" and (site := self._foreign_site(scope)) is not None:
            log.info("refused %s %s from a page of %s: cross-site", method, ascii(path[:200]), ascii(site[:200]))
            await JSONResponse({"detail": "Cross-site request refused: this app takes requests only from its own "
                                          "pages (the server's --allowed-origins names others)."},
                               status_code=403)(scope, receive, send)
            return
        # MCP's messages carry their audio as base64 and Gradio stores it in the same folder
        carries_audio = path in UPLOAD_ROUTES or path.startswith(MCP_PREFIX)
        if method == "POST" and carries_audio and self.uploads is not None and not self.uploads.room_for(scope):
            log.warning("refused an upload: the upload folder holds %d MB of its %d MB (--max-upload-disk-mb)",
                        self.uploads.used() // 2**20, self.uploads.limit // 2**20)
            await JSONResponse({"detail": "The server is busy: its upload space is full. Try again later."},
                               status_code=503, headers={"Retry-After": "60"})(scope, receive, send)
            return
        if method == "POST" and path not in UPLOAD_ROUTES and not path.startswith(MCP_PREFIX):
            try:
                body = await self._bounded_body(scope, receive)
            except _ClientGone:
                return
            if body is None:
                log.info("refused %s %s: request body over %d bytes", method, ascii(path[:200]), MAX_REQUEST_BYTES)
                await JSONResponse({"detail": f"The request is too large (at most {MAX_REQUEST_BYTES // 1024} KB)."},
                                   status_code=413)(scope, receive, send)
                return
            if path in LOGIN_ROUTES:
                await self._login(scope, body, replay(body, receive), send)
                return
            receive = replay(body, receive)
        await self.app(scope, receive, send)

    async def _login(self, scope, body: bytes, receive, send) -> None:
        """Gradio's login, with failed attempts slowed and counted per address, and the user name taken
        as typed (Gradio strips it: " alice" logged in as alice)."""
        import asyncio
        import urllib.parse

        from fastapi.responses import JSONResponse

        address = (scope.get("client") or ("?",))[0]
        if wait := self.logins.wait(address):
            log.warning("refused a login from %s: %d failed logins in %.0f s", address, self.logins.limit,
                        self.logins.window)
            await JSONResponse({"detail": "Too many failed logins: wait a minute and try again."}, status_code=429,
                               headers={"Retry-After": str(max(1, round(wait)))})(scope, receive, send)
            return
        users = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("username", [""])
        if users[0] != users[0].strip():
            self.logins.failed(address)
            await asyncio.sleep(self.logins.delay)
            await JSONResponse({"detail": "Incorrect credentials."}, status_code=400)(scope, receive, send)
            return

        self.logins.failed(address)  # counted before Gradio checks it: 60 guesses at once passed a limit of 5

        async def send_slowing_failures(message):
            if message["type"] == "http.response.start":
                if message["status"] in (400, 401):
                    log.info("failed login from %s", address)
                    await asyncio.sleep(self.logins.delay)
                else:
                    self.logins.forgive(address)
            await send(message)

        await self.app(scope, receive, send_slowing_failures)

    def _foreign_site(self, scope) -> str | None:
        """The site of another origin's page that sent this request (None: the app's own page, a site
        in ``--allowed-origins``, or no browser at all).

        A browser names the page's origin in ``Origin`` (or ``Referer``) on every cross-site POST, and
        a page cannot forge either; ``gradio_client``, curl and the OpenAI SDK send neither. The origin
        must be this server as the browser reached it (the ``Host`` it sent, so a share link or a
        reverse proxy's name works), in any scheme."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin is None and "referer" in headers:
            scheme, _, rest = headers["referer"].partition("://")
            origin = f"{scheme}://{rest.split('/', 1)[0]}"
        if origin is None:
            return None
        origin = origin.strip().lower().rstrip("/")
        host = origin.partition("://")[2]
        if origin in self.allowed_origins or (host and host == headers.get("host", "").strip().lower()):
            return None
        if self.share and origin.startswith("https://") and host.endswith(SHARE_DOMAIN):
            return None
        return origin  # "null" too: a sandboxed page or a file's

    @staticmethod
    async def _bounded_body(scope, receive) -> bytes | None:
        """The whole body if it is at most ``MAX_REQUEST_BYTES`` (None otherwise), read no further."""
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and (not value.isdigit() or int(value) > MAX_REQUEST_BYTES):
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_REQUEST_BYTES:
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)


class _ClientGone(Exception):
    """The client disconnected before its body was read."""


class RefuseRemoteFiles:
    """ASGI middleware: Gradio's file route fetches an http(s) URL given in place of a path
    (``/gradio_api/file=https://...``) for any client. This app serves its own files only and
    opens no connection to the internet on anyone's behalf, so such requests get 403 at once."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            for marker in ("/file=", "/file/"):
                _, found, rest = path.partition(marker)
                if found and rest.lstrip().lower().startswith(("http:", "https:")):
                    from fastapi.responses import JSONResponse

                    response = JSONResponse({"detail": "Remote files are not fetched: this app serves only its "
                                                       "own files."}, status_code=403)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def check_share(settings: Settings) -> None:
    """Refuse a public share link without a login, unless the operator asked for exactly that."""
    if settings.share and not settings.credentials and not settings.share_without_auth:
        raise ConfigError(
            "--share (WHISPER_UI_SHARE) without a login is refused: anyone with the link could use the app "
            "and your GPU. Add --auth user:password (WHISPER_UI_AUTH) or --auth-file FILE (WHISPER_UI_AUTH_FILE), "
            "or pass --share-without-auth (WHISPER_UI_SHARE_WITHOUT_AUTH=true) to share it openly on purpose."
        )


def check_startup(settings: Settings) -> None:
    """Refuse at start, before any model loads, what cannot work: a ``--model`` that is neither official
    nor in the model folder, and a port another program holds (Gradio's own message names its
    ``GRADIO_SERVER_PORT``, not this app's ``--port``, and comes after the model has loaded)."""
    from ..core.errors import UnknownModelError
    from ..models.sources import list_models, model_info

    try:
        model_info(settings.model, settings.model_dir)
    except UnknownModelError as e:
        local = [m.name for m in list_models(settings.model_dir) if not m.official]
        raise ConfigError(f"--model (WHISPER_UI_MODEL): {e}"
                          + (f" In {settings.model_dir} now: {', '.join(local)}." if local else "")) from None
    try:
        family = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)[0][0]
        socket.create_server((settings.host, settings.port), family=family).close()
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise ConfigError(
            f"Port {settings.port} on {settings.host} cannot be used ({reason}): another program (another "
            "whisper-ui?) may be listening there. Choose another with --port N (WHISPER_UI_PORT)."
        ) from None


def launch(service: TranscriptionService, settings: Settings, prevent_thread_lock: bool = False, **launch_kwargs):
    """Build and launch the page; returns the Blocks (running in the background if prevent_thread_lock)."""
    check_share(settings)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # onnxruntime's (speech detection): see whisper_ui.engines.vad
    # Gradio reads this when the app is created (uploads) and when it is imported (its other
    # temporary folders): everything goes to this process's own folder
    os.environ["GRADIO_TEMP_DIR"] = str(service.uploads_dir)
    limit_uploads()
    proxies = Proxies(settings.trusted_proxies)
    hosts = HostNames(settings.allowed_hosts, settings.host, settings.allowed_origins, settings.share)
    guard_server(settings.read_timeout, settings.max_connections_per_client, trusted=proxies,
                 wrap=lambda app: Edge(app, proxies, hosts, settings.allowed_origins))
    from starlette.middleware import Middleware

    from ..ui import build_app, mcp_tools_only, share_model_queue
    from ..ui import launch_kwargs as ui_launch_kwargs
    from .isolation import Isolation
    from .openai_api import McpGuard, api_routes

    credentials = list(settings.credentials)
    if credentials:
        log.info("login required (%d user%s)", len(credentials), "" if len(credentials) == 1 else "s")
        if settings.admin:
            log.info("admins: %s (only they may load, switch or unload models and clean caches)",
                     ", ".join(settings.admin))
        else:
            log.warning("a login (--auth) without --admin: no user may load, switch or unload models or clean the "
                        "caches on the page; name the users who may with --admin USER")
    elif settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("no login (--auth): anyone who can reach %s:%d can use the app", settings.host, settings.port)
    if settings.share and not credentials:
        log.warning("sharing without a login (--share-without-auth): anyone with the link can use the app")

    if settings.api_keys:
        log.info("API keys: %d (the /v1 routes and MCP need one)", len(settings.api_keys))
    elif credentials or settings.share:
        log.info("no API key (--api-key): the /v1 routes and MCP are refused")

    demo = build_app(service)
    # The model's queue is bounded by share_model_queue (one running + --queue-size waiting, page and
    # API together). Gradio's own bound counts waiting events only, and the job that is about to run
    # still counts as waiting until Gradio's loop next takes it: with the same bound, a burst of jobs
    # lost one place (CI saw 2 admitted, not 3). So Gradio's bound is one more, never the tighter one.
    demo.queue(max_size=settings.queue_size + 1, default_concurrency_limit=1, api_open=False)
    share_model_queue(demo, service)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        mcp_tools_only(demo)  # before the first request
        yield

    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=settings.max_upload_bytes,
        enable_monitoring=False,
        show_error=True,
        quiet=True,  # its lines name launch() arguments and GRADIO_ variables: serve() logs the app's own
        prevent_thread_lock=prevent_thread_lock,
        auth=credentials or None,
        auth_message=LOGIN_MESSAGE if credentials else None,
        ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        ssl_verify=False,  # only Gradio's own start-up request to itself: allows a self-signed certificate
        share=settings.share,
        mcp_server=settings.mcp,
        app_kwargs={"routes": health_routes(service.manager) + api_routes(service), "docs_url": None,
                    "redoc_url": None, "lifespan": lifespan,
                    "middleware": [Middleware(RouteGuard, mcp=settings.mcp, allowed_origins=settings.allowed_origins,
                                              share=settings.share,
                                              uploads=UploadSpace(service.uploads_dir, settings.max_upload_disk_bytes,
                                                                  settings.max_upload_bytes)),
                                   Middleware(ClientCaps, upload_routes=UPLOAD_ROUTES),
                                   Middleware(Isolation, private=service.work_dir),
                                   Middleware(RefuseRemoteFiles), Middleware(McpGuard, settings=settings)]},
        **ui_launch_kwargs(),
        **launch_kwargs,
    )
    return demo


def serve(settings: Settings) -> int:
    from ..runtime import configure_runtime, create_service

    check_share(settings)  # before anything loads
    check_startup(settings)
    configure_runtime(settings)
    service = create_service(settings)
    service.manager.start(preload=settings.preload)
    service.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    demo = launch(service, settings, prevent_thread_lock=True)
    log.info("serving on %s://%s:%d", "https" if settings.ssl_certfile else "http", settings.host, settings.port)
    if demo.share_url:
        log.info("shared at %s (a public link, about a week; anyone with it reaches the login)", demo.share_url)
    elif settings.share:
        log.warning("--share was asked for but no share link could be made (no internet, or Gradio's share "
                    "server is down): the app serves locally only")
    else:
        log.info("not shared: --share gives a public link (with --auth), --host 0.0.0.0 serves this network")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        log.info("shutting down")
        demo.close()
        service.manager.close()
        service.close()
    return 0

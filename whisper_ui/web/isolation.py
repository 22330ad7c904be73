"""One user's sessions, jobs and files are not another's: ASGI middleware in front of Gradio.

Gradio's queue knows a job by its session hash and event id, and serves files by their path: anyone
who learns those (a shared screen, a log, a guess) could read another user's transcript from
``/gradio_api/queue/data``, cancel their job through ``/gradio_api/cancel``, or fetch their upload
and result files from ``/gradio_api/file=``. Gradio checks the login on those routes, not whose
they are. Here each session, event and file is bound to its owner when it is made: the logged-in
user, or without a login the client's address. Another owner gets 404, as for something that
does not exist.

- a session hash is claimed by the first owner to use it (``heartbeat``, ``queue/join``,
  ``queue/data``); an event id by the owner whose join made it (read from Gradio's answer);
- an uploaded file by the owner whose upload stored it (Gradio's answer lists the paths), and a
  result file by the owner whose job's results named it (the ``process_completed`` message of
  the queue's event stream); the same content uploaded by two users is stored once and is both's;
- a file under the app's own folder (uploads, results) that no one owns here is no one's: 404;
- a job's inputs (``queue/join``, ``run/predict``: the page's uploads and microphone, gradio_client)
  may name only the asker's own files there: a job that names another's (alice sending bob's upload
  path as her file, to get his transcript) is refused with "not your file" before Gradio reads it; a path
  outside the app's folder (``/etc/passwd``, ``file:/tmp/x``, a relative name) with "not an uploaded file"
  (Gradio refuses it too, in words that name the server's working directory).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

log = logging.getLogger("whisper_ui.isolation")

FILE_PREFIX = "/gradio_api/file="
MAX_REMEMBERED = 100_000  # sessions, events or files: past this the oldest are forgotten (memory stays bounded)


class Isolation:
    def __init__(self, app, private: Path):
        self.app = app
        self.private = os.path.realpath(private)
        self._lock = threading.Lock()
        self.sessions: dict[str, str] = {}
        self.events: dict[str, str] = {}
        self.files: dict[str, set[str]] = {}

    # --- who asks ---------------------------------------------------------------------------

    @staticmethod
    def owner(scope) -> str:
        app = scope.get("app")
        if getattr(app, "auth", None) is None:
            return "client " + (scope.get("client") or ("?",))[0]
        cookie = SimpleCookie()
        for name, value in scope.get("headers", []):
            if name.lower() == b"cookie":
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # noqa: BLE001 - a malformed cookie is no login
                    pass
        cookie_id = getattr(app, "cookie_id", "")
        token = next((cookie[key].value for key in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}")
                      if key in cookie), None)
        user = getattr(app, "tokens", {}).get(token)
        return "user " + user if user else "nobody"

    # --- the bindings ----------------------------------------------------------------------

    def _remember(self, table: dict, key: str, value) -> None:
        if len(table) >= MAX_REMEMBERED:
            table.pop(next(iter(table)))
        table[key] = value

    def claim_session(self, session: str, owner: str) -> bool:
        """Bind ``session`` to ``owner`` if it is new; is it ``owner``'s?"""
        with self._lock:
            current = self.sessions.get(session)
            if current is None:
                self._remember(self.sessions, session, owner)
                return True
            return current == owner

    def _own_file(self, path: str, owner: str) -> None:
        real = os.path.realpath(path)
        with self._lock:
            owners = self.files.get(real)
            if owners is None:
                self._remember(self.files, real, {owner})
            else:
                owners.add(owner)

    def _in_private(self, path: str) -> str | None:
        """``path``'s real path when it is under the app's own folder (uploads, results), else None."""
        real = os.path.realpath(path) if isinstance(path, str) and "\0" not in path else ""
        return real if real == self.private or real.startswith(self.private + os.sep) else None

    def may_read_file(self, path: str, owner: str) -> bool:
        real = self._in_private(path)
        if real is None:
            return True  # not the app's: Gradio's own checks decide (they refuse everything else)
        with self._lock:
            return owner in self.files.get(real, ())

    def uploaded_here(self, path: str) -> bool:
        """Whether a job's input may name ``path``: a file under the app's folder, or a link (Gradio's http(s)://,
        which the inputs refuse in their own words). Gradio refuses any other path too, but its message names
        the server's working directory ("Cannot move /srv/app/file:/etc/passwd to the gradio cache dir...")."""
        return path.startswith(("http://", "https://")) or self._in_private(path) is not None

    # --- the middleware --------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method, owner = scope.get("path", ""), scope.get("method", "GET"), self.owner(scope)
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if path.startswith("/gradio_api/heartbeat/"):
            if not self.claim_session(path.rsplit("/", 1)[-1], owner):
                return await self._not_found(scope, receive, send, "heartbeat of another's session")
        elif path == "/gradio_api/queue/data":
            if not self.claim_session((query.get("session_hash") or [""])[0], owner):
                return await self._not_found(scope, receive, send, "events of another's session")
            send = self._watch_results(send, owner)
        elif path.startswith(FILE_PREFIX):
            wanted = path[len(FILE_PREFIX):]  # (the ASGI path is decoded already)
            if not self.may_read_file(wanted, owner):
                return await self._not_found(scope, receive, send, "a file that is not the asker's")
        elif method == "POST" and path in ("/gradio_api/queue/join", "/gradio_api/cancel", "/gradio_api/run/predict"):
            body, receive = await _read(receive)
            try:
                request = json.loads(body or b"{}")
            except (ValueError, RecursionError):
                request = {}
            request = request if isinstance(request, dict) else {}
            session, event = str(request.get("session_hash") or ""), request.get("event_id")
            if path != "/gradio_api/cancel":
                named = _input_paths(request.get("data"))
                if any(not self.uploaded_here(p) for p in named):
                    return await self._not_uploaded(scope, receive, send)
                others = [p for p in named if not self.may_read_file(p, owner)]
                if others:
                    return await self._not_yours(scope, receive, send, others[0])
            if path.endswith("/join"):
                if session and not self.claim_session(session, owner):
                    return await self._not_found(scope, receive, send, "a job in another's session")
                send = self._watch_join(send, owner)
            elif path.endswith("/predict"):  # the page's steps outside the queue (its Cancel button among them)
                if session and not self.claim_session(session, owner):
                    return await self._not_found(scope, receive, send, "a step in another's session")
            else:
                with self._lock:
                    mine = self.sessions.get(session) == owner and (event is None or self.events.get(event) == owner)
                if not mine:
                    return await self._not_found(scope, receive, send, "a cancel of another's job")
        elif method == "POST" and path == "/gradio_api/upload":
            send = self._watch_upload(send, owner)
        await self.app(scope, receive, send)

    async def _not_found(self, scope, receive, send, what: str) -> None:
        from fastapi.responses import JSONResponse

        log.warning("refused %s %s for %s: %s", scope.get("method"), ascii(scope.get("path", "")[:120]),
                    self.owner(scope), what)
        await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)

    async def _not_uploaded(self, scope, receive, send) -> None:
        from fastapi.responses import JSONResponse

        log.info("refused %s %s for %s: a job input names a path that is not an upload", scope.get("method"),
                 ascii(scope.get("path", "")[:120]), self.owner(scope))
        await JSONResponse({"detail": "Not an uploaded file: upload the file first (gradio_client: "
                                      "handle_file(path)) and name what the upload answered."},
                           status_code=400)(scope, receive, send)

    async def _not_yours(self, scope, receive, send, path: str) -> None:
        from fastapi.responses import JSONResponse

        log.warning("refused %s %s for %s: a job input names a file that is not theirs (%s)", scope.get("method"),
                    ascii(scope.get("path", "")[:120]), self.owner(scope), ascii(os.path.basename(path)[:120]))
        await JSONResponse({"detail": "Not your file: a job may only use files you uploaded yourself."},
                           status_code=403)(scope, receive, send)

    # --- reading Gradio's answers ------------------------------------------------------------

    def _watch_join(self, send, owner: str):
        def bind(answer) -> None:
            event = answer.get("event_id") if isinstance(answer, dict) else None
            if event:
                with self._lock:
                    self._remember(self.events, str(event), owner)

        return _on_json_answer(send, bind)

    def _watch_upload(self, send, owner: str):
        def bind(answer) -> None:
            for path in answer if isinstance(answer, list) else []:
                if isinstance(path, str):
                    self._own_file(path, owner)

        return _on_json_answer(send, bind)

    def _watch_results(self, send, owner: str):
        """The event stream: each completed job's file paths become the owner's before the message leaves."""
        pending = b""

        async def watching(message):
            nonlocal pending
            if message["type"] == "http.response.body":
                pending += message.get("body", b"")
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.startswith(b"data:") and b"process_completed" in line:
                        try:
                            for path in _file_paths(json.loads(line[5:])):
                                self._own_file(path, owner)
                        except ValueError:
                            pass
                if len(pending) > 16 * 2**20:  # a line this long is not Gradio's: stop buffering it
                    pending = b""
            await send(message)

        return watching


def _on_json_answer(send, handle):
    """``send`` that also gives Gradio's whole JSON answer (None if it is not JSON) to ``handle`` before
    its last part leaves."""
    chunks: list[bytes] = []

    async def watching(message):
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                try:
                    handle(json.loads(b"".join(chunks)))
                except ValueError:
                    handle(None)
        await send(message)

    return watching


def _file_paths(value) -> list[str]:
    """Every Gradio FileData path in a message."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("path"), str) and (item.get("meta") or {}).get("_type") == "gradio.FileData":
                found.append(item["path"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _input_paths(value) -> list[str]:
    """Every file path in a job's inputs: any object with a ``path`` (Gradio reads one as a file whether
    or not its ``meta`` says so), and a ``url`` of Gradio's own file route."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("path", "url"):
                target = item.get(key)
                if isinstance(target, str):
                    if key == "url":
                        _, marker, rest = target.partition(FILE_PREFIX)
                        target = urllib.parse.unquote(rest) if marker else None
                    if target:
                        found.append(target)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


async def _read(receive) -> tuple[bytes, object]:
    """The whole request body (RouteGuard has bounded it already), and a ``receive`` that gives it again."""
    from .connections import replay

    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, replay(body, receive)

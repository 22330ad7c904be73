"""Health, readiness, login and the share guard, against the real ``python app.py`` on 127.0.0.1.

A model download that hangs and then fails is made on purpose with a local HTTPS
proxy that holds every CONNECT until the test releases it: the server never
reaches the internet, and the 'downloading' and 'failed' states last exactly as
long as the test needs.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file

from whisper_ui.core.errors import ConfigError
from whisper_ui.core.settings import Settings, load_settings
from whisper_ui.web.server import check_share

from .conftest import APP_COMMAND, ROOT, Server, start_server, start_server_own_tmp, words

SHARE_REFUSED = "anyone with the link could use the app and your GPU"


def readyz(server: Server) -> tuple[int, dict]:
    code, body = server.get("/readyz")
    return code, json.loads(body)


def poll_readyz(server: Server, until: Callable[[int, dict], bool], timeout: float = 60,
                seen: list | None = None) -> tuple[int, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, body = readyz(server)
        if seen is not None:
            seen.append((code, body["status"]))
        assert code == (200 if body["status"] == "ready" else 503), (code, body)
        if until(code, body):
            return code, body
        time.sleep(0.01)
    raise AssertionError(f"/readyz never got there; last {code} {body}\n{server.log()}")


class HoldingProxy:
    """An HTTPS proxy that answers no CONNECT until ``release()``, then refuses them all (502)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[str] = []
        self.connected = threading.Event()
        self._released = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            self.requests.append(conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
            self.connected.set()
            self._released.wait(120)
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.listener.close()

    def env(self) -> dict[str, str]:
        return {"https_proxy": self.url, "HTTPS_PROXY": self.url, "no_proxy": "127.0.0.1,localhost",
                "NO_PROXY": "127.0.0.1,localhost"}


@pytest.fixture
def proxy():
    p = HoldingProxy()
    yield p
    p.close()


# --- readiness, no login --------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["openai-whisper", "faster-whisper"])
def test_readyz_before_during_and_after_a_load(tmp_path, models_dir, speech, engine):
    # GRADIO_SHARE is Gradio's own switch: the app passes share explicitly, so it must not open a tunnel
    server = start_server(tmp_path, "--model", "base", "--model-dir", str(models_dir), "--no-preload",
                          "--engine", engine, wait_ready=False, env={"GRADIO_SHARE": "True"})
    try:
        assert server.get("/healthz") == (200, b'{"status":"ok"}')
        assert readyz(server) == (503, {"status": "not loaded", "model": None, "device": None, "engine": engine,
                                        "compute_type": None})

        # nothing is loaded: the first transcription loads base, while /readyz is polled
        seen: list[tuple[int, str]] = []
        job = Client(server.url, verbose=False).submit(handle_file(str(speech.english)), api_name="/transcribe")
        code, body = poll_readyz(server, lambda code, body: code == 200, timeout=120, seen=seen)
        compute_type = "int8" if engine == "faster-whisper" else "float32"
        assert body == {"status": "ready", "model": "base", "device": "cpu", "engine": engine,
                        "compute_type": compute_type}
        assert (503, "loading") in seen, seen
        assert seen.index((503, "loading")) < seen.index((200, "ready"))
        assert {"london", "peter"} <= words(job.result(timeout=120)[0])
        assert server.get("/healthz")[0] == 200
        # torch (~220 MB of memory) is in the process only for the engine that runs on it
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert ("libtorch_cpu" in maps) == (engine == "openai-whisper"), engine

        log = server.log()
        # the app's own words for sharing, not Gradio's ("set `share=True` in `launch()`")
        assert "not shared: --share gives a public link" in log and "launch()" not in log
        assert "gradio.live" not in log and "share link" not in log
    finally:
        server.stop()


@pytest.mark.parametrize(("engine", "host", "message", "advice"), [
    ("openai-whisper", "openaipublic.azureedge.net", "Could not download model 'small'", "models import-ct2"),
    ("faster-whisper", "huggingface.co", "Could not download the faster-whisper model 'small' from "
     "https://huggingface.co/Systran/faster-whisper-small", "put the openai-whisper checkpoint"),
])
def test_readyz_while_a_download_hangs_then_fails(tmp_path, proxy, engine, host, message, advice):
    empty = tmp_path / "models"
    empty.mkdir()
    server = start_server(tmp_path, "--model", "small", "--model-dir", str(empty), "--engine", engine,
                          wait_ready=False, env=proxy.env())
    try:
        code, body = poll_readyz(server, lambda code, body: body["status"] == "downloading")
        assert (code, body["model"], body["engine"]) == (503, "small", engine)
        assert proxy.connected.wait(30)
        assert any(r.startswith(f"CONNECT {host}:443") for r in proxy.requests), proxy.requests
        assert server.get("/healthz")[0] == 200
        assert readyz(server)[1]["status"] == "downloading"  # held by the proxy

        proxy.release()
        code, body = poll_readyz(server, lambda code, body: body["status"] == "failed")
        assert code == 503 and body["model"] == "small"
        assert message in body["error"]
        # /readyz needs no login: the reason, no server path; the log says what to do and where
        assert str(tmp_path) not in body["error"] and "/tmp" not in body["error"] and len(body["error"]) <= 240
        log = server.log()
        assert advice in log and str(empty / "small") in log  # what to do on a host without internet, and where
        assert server.get("/healthz")[0] == 200  # the process still serves
        assert list(empty.iterdir()) == []  # no partial download left behind
    finally:
        server.stop()


# --- login ----------------------------------------------------------------------------------

INTRANET = "https://intranet.example"  # --allowed-origins of the login server
ALICE = ("alice", "s3cret:with-colon")  # from --auth
BOB = ("bob", "file pass")  # from --auth-file


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory, models_dir):
    folder = tmp_path_factory.mktemp("auth")
    users = folder / "users.txt"
    users.write_text(f"# whisper-ui users\n\n{BOB[0]}:{BOB[1]}\n")
    # start_server waits for /readyz without credentials: readiness answers with the login on
    server = start_server(folder, "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--auth", ":".join(ALICE), "--auth-file", str(users), "--allowed-origins", INTRANET,
                          "--admin", ALICE[0])
    yield server
    server.stop()


@contextmanager
def logged_in(server: Server, user: tuple[str, str]) -> Iterator[httpx.Client]:
    """A browser-like session: Gradio's login form sets its cookie."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/login", data={"username": user[0], "password": user[1]})
        assert response.status_code == 200, response.text
        yield client


def test_health_routes_stay_open_with_auth(auth_server):
    assert auth_server.get("/healthz") == (200, b'{"status":"ok"}')
    assert readyz(auth_server) == (200, {"status": "ready", "model": "tiny.en", "device": "cpu",
                                         "engine": "openai-whisper", "compute_type": "float32"})


def test_page_requires_login(auth_server):
    anonymous = httpx.get(auth_server.url + "/", timeout=30)
    assert anonymous.status_code == 200  # Gradio's login form, without the app's config
    # the app's components and events stay out; (Gradio 6 still inlines the API's description, not data)
    assert '"auth_required":true' in anonymous.text and '"components":[],"dependencies":[]' in anonymous.text
    # Gradio's login form says only "Login": the app says whose it is
    assert "whisper-ui\\u003c/strong\\u003e: speech to text on this server" in anonymous.text
    assert httpx.get(auth_server.url + "/config", timeout=30).status_code == 401

    wrong = httpx.post(auth_server.url + "/login", data={"username": ALICE[0], "password": "guess"}, timeout=30)
    assert wrong.status_code == 400

    for user in (ALICE, BOB):
        with logged_in(auth_server, user) as client:
            page = client.get("/")
            assert page.status_code == 200 and '"auth_required":true' not in page.text
            config = client.get("/config")
            assert config.status_code == 200
            assert "transcribe" in {d.get("api_name") for d in config.json()["dependencies"]}
            logout = next(c["props"] for c in config.json()["components"] if c["props"].get("elem_id") == "logout")
            assert logout["link"] == "logout"


def test_log_out_ends_the_users_logins_on_the_server(auth_server):
    """The page's Log out (Gradio's ``/logout``): the user's logins end on the server, not only the browser's
    cookie; another user's goes on."""
    with logged_in(auth_server, ALICE) as here, logged_in(auth_server, ALICE) as elsewhere, \
            logged_in(auth_server, BOB) as bob:
        cookies = dict(here.cookies)
        assert here.get("/logout").status_code == 302
        assert httpx.get(auth_server.url + "/config", cookies=cookies, timeout=30).status_code == 401
        assert elsewhere.get("/config").status_code == 401
        assert bob.get("/config").status_code == 200


def test_api_requires_login(auth_server, speech):
    with pytest.raises(ValueError, match="credentials were not provided"):
        Client(auth_server.url, verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(auth_server.url, auth=(ALICE[0], "guess"), verbose=False)
    # the queue itself, without gradio_client
    join = httpx.post(auth_server.url + "/gradio_api/queue/join", timeout=30,
                      json={"data": [None], "fn_index": 0, "session_hash": "anonymous"})
    assert join.status_code == 401

    client = Client(auth_server.url, auth=BOB, verbose=False, download_files=False)
    text, _, _, files = client.predict(handle_file(str(speech.english)), api_name="/transcribe")
    assert {"london", "peter"} <= words(text)

    # the transcript files it made are served to bob only (in any of his sessions): to no one without
    # a login, and not to alice (404: for her they do not exist)
    transcript = next(f["url"] for f in files if f["orig_name"].endswith(".txt"))
    assert httpx.get(transcript, timeout=30).status_code in (401, 404)
    with logged_in(auth_server, ALICE) as session:
        assert session.get(transcript).status_code == 404
    with logged_in(auth_server, BOB) as session:
        served = session.get(transcript)
        assert served.status_code == 200 and served.text.strip() == text.strip()


def test_file_routes_require_login(auth_server, speech):
    wav = speech.fox.read_bytes()
    upload = httpx.post(auth_server.url + "/gradio_api/upload", files={"files": ("fox.wav", wav)}, timeout=30)
    assert upload.status_code == 401
    with logged_in(auth_server, ALICE) as session:
        upload = session.post("/gradio_api/upload", files={"files": ("fox.wav", wav)})
        assert upload.status_code == 200
        path = upload.json()[0]
        assert session.get(f"/gradio_api/file={path}").content == wav
    assert httpx.get(f"{auth_server.url}/gradio_api/file={path}", timeout=30).status_code in (401, 404)
    with logged_in(auth_server, BOB) as session:  # alice's upload is not bob's
        assert session.get(f"/gradio_api/file={path}").status_code == 404


# --- the share guard ------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "allowed"), [
    (Settings(), True),
    (Settings(share=True), False),
    (Settings(share=True, auth=(ALICE,)), True),
    (Settings(share=True, share_without_auth=True), True),
    (Settings(share_without_auth=True), True),
])
def test_check_share(settings, allowed):
    if allowed:
        check_share(settings)
    else:
        with pytest.raises(ConfigError, match=SHARE_REFUSED) as refused:
            check_share(settings)
        assert "--auth" in str(refused.value) and "--share-without-auth" in str(refused.value)


def test_check_share_counts_an_auth_file(tmp_path):
    users = tmp_path / "users"
    users.write_text("bob:pw\n")
    check_share(load_settings(["--share", "--auth-file", str(users)], {}))
    check_share(load_settings([], {"WHISPER_UI_SHARE": "true", "WHISPER_UI_AUTH": "bob:pw"}))


def run_app(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([*APP_COMMAND, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})})


@pytest.mark.parametrize(("args", "env"), [(["--share"], {}), ([], {"WHISPER_UI_SHARE": "true"})])
def test_app_refuses_to_share_without_auth(args, env, tmp_path):
    started = time.monotonic()
    proc = run_app("--model-dir", str(tmp_path), *args, env=env)
    assert proc.returncode == 2
    assert SHARE_REFUSED in proc.stderr and "--share-without-auth" in proc.stderr
    assert time.monotonic() - started < 30  # refused before any model, page or tunnel
    assert "public URL" not in proc.stdout + proc.stderr
    assert "loading model" not in proc.stderr


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--auth", "alice"], {}, "--auth: must be user:password (no ':' found)"),
    (["--auth", ":s3cret"], {}, "--auth: must be user:password, with a user name"),
    (["--auth", "alice:ok", "--auth", "bob:"], {}, "--auth: entry 2 must be user:password, with a password"),
    ([], {"WHISPER_UI_AUTH": "alice:s3cret,bob"}, "WHISPER_UI_AUTH: entry 2 must be user:password (no ':'"),
    ([], {"WHISPER_UI_AUTH": ""}, "WHISPER_UI_AUTH: is empty"),
    (["--auth-file", "/nonexistent/users"], {}, "--auth-file='/nonexistent/users': cannot be read"),
    ([], {"WHISPER_UI_AUTH_FILE": "/dev/null"}, "WHISPER_UI_AUTH_FILE='/dev/null': has no user:password line"),
])
def test_bad_auth_stops_start_up(args, env, named):
    proc = run_app(*args, env=env)
    assert proc.returncode == 2
    assert named in proc.stderr
    assert "s3cret" not in proc.stderr  # passwords are never echoed


def test_auth_file_errors_name_the_line(tmp_path):
    users = tmp_path / "users"
    users.write_text("# users\nalice:pw\nbob\n")
    with pytest.raises(ConfigError, match=r"--auth-file='.*users': line 3 must be user:password"):
        load_settings(["--auth-file", str(users)], {})
    users.write_bytes(b"alice:\xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(["--auth-file", str(users)], {})


def test_credentials_from_flags_variables_and_file(tmp_path):
    users = tmp_path / "users"
    users.write_text("bob:pw:with:colons\n# carol:commented-out\nalice:from-file\n")
    settings = load_settings(["--auth", "alice:a,b", "--auth", "dave:d", "--auth-file", str(users)], {})
    assert dict(settings.credentials) == {"bob": "pw:with:colons", "alice": "a,b", "dave": "d"}
    assert "pw" not in repr(settings)  # settings may be logged
    env = load_settings([], {"WHISPER_UI_AUTH": "alice:1, bob:2,", "WHISPER_UI_AUTH_FILE": str(users)})
    assert dict(env.credentials) == {"bob": "2", "alice": "1"}
    # the flag wins over the variable, as for every option
    assert load_settings(["--auth", "x:y"], {"WHISPER_UI_AUTH": "alice:1"}).credentials == (("x", "y"),)
    assert load_settings([], {}).credentials == ()


def test_help_documents_auth_and_share():
    proc = run_app("--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for flag, env in (("--auth USER:PASSWORD", "WHISPER_UI_AUTH;"), ("--auth-file FILE", "WHISPER_UI_AUTH_FILE;"),
                      ("--share", "WHISPER_UI_SHARE;"), ("--share-without-auth", "WHISPER_UI_SHARE_WITHOUT_AUTH;")):
        assert flag in text and f"env {env}" in text


# --- start-up refuses what cannot work -------------------------------------------------------


def test_start_refuses_an_unknown_model_and_a_taken_port(models_dir, tmp_path):
    """Both end the start with the app's own words (exit 2) before any model loads: the names that would
    work, and ``--port`` (Gradio's own message names GRADIO_SERVER_PORT, after the model has loaded)."""
    (tmp_path / "mine.pt").symlink_to(models_dir / "tiny.en.pt")
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]

        def start(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*APP_COMMAND, "--host", "127.0.0.1", "--port", str(port), "--model-dir",
                                   str(tmp_path), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)

        unknown = start("--model", "nosuch")
        assert unknown.returncode == 2, unknown.stderr
        assert "Unknown model 'nosuch'" in unknown.stderr and "tiny.en, tiny, base.en" in unknown.stderr
        assert f"In {tmp_path} now: mine." in unknown.stderr

        taken = start("--model", "mine")
        assert taken.returncode == 2, taken.stderr
        assert f"Port {port} on 127.0.0.1 cannot be used (Address already in use)" in taken.stderr
        assert "--port N (WHISPER_UI_PORT)" in taken.stderr and "GRADIO_SERVER_PORT" not in taken.stderr
        assert "loading model" not in taken.stderr + taken.stdout


# --- routes and request sizes -----------------------------------------------------------------

# routes Gradio adds that the app does not use: each answers 404 before Gradio sees it, logged in or not
UNSERVED = [
    ("POST", "/gradio_api/process_recording"),  # runs ffmpeg on any posted body
    ("GET", "/openapi.json"),  # answered 500 with a traceback in the log
    ("GET", "/gradio_api/openapi.json"),
    ("POST", "/gradio_api/call/transcribe"),  # the REST route around the queue
    ("POST", "/gradio_api/run/transcribe"),  # (/run/predict is served: the page's events outside the queue)
    ("POST", "/gradio_api/api/transcribe"),
    ("GET", "/gradio_api/proxy=http://127.0.0.1:9/x"),
    ("POST", "/gradio_api/stream/123"),
    ("GET", "/gradio_api/stream/abc/0/1/playlist.m3u8"),
    ("GET", "/gradio_api/run-history/records"),
    ("POST", "/gradio_api/vibe-edit"),
    ("GET", "/gradio_api/profiling/traces"),
    ("GET", "/monitoring"),
    ("GET", "/docs"),
    ("DELETE", "/gradio_api/upload"),
    ("PUT", "/gradio_api/queue/join"),
    ("GET", "/gradio_api/queue/join"),
    ("GET", "/gradio_api/file/x.wav"),  # the old file route: the page uses file=
]


def check_unserved(server: Server, client: httpx.Client) -> None:
    tools_before = {p.pid for p in psutil.Process(server.process.pid).children(recursive=True)}
    log_before = len(server.log())  # (the shared server's earlier jobs may have logged their own errors)
    for method, path in UNSERVED:
        response = client.request(method, server.url + path, content=b"#EXTM3U\n" if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.status_code, response.text[:200])
        assert response.json() == {"detail": "Not Found"}
    children = [p.name() for p in psutil.Process(server.process.pid).children(recursive=True)
                if p.pid not in tools_before]
    assert not [name for name in children if name.startswith(("ffmpeg", "ffprobe"))], children
    assert "Traceback" not in server.log()[log_before:]
    assert server.get("/healthz")[0] == 200


def test_routes_the_app_does_not_use_answer_404(server, auth_server):
    with httpx.Client(timeout=30) as anonymous:
        check_unserved(server, anonymous)
        check_unserved(auth_server, anonymous)
    with logged_in(auth_server, ALICE) as alice:
        check_unserved(auth_server, alice)
        assert alice.get("/config").status_code == 200  # what it serves, it still serves
    assert httpx.get(server.url + "/config", timeout=30).status_code == 200
    assert "refused POST '/gradio_api/process_recording'" in server.log()


def test_request_bodies_are_bounded_before_they_are_read(server, speech):
    from whisper_ui.web.server import MAX_REQUEST_BYTES

    rss = psutil.Process(server.process.pid).memory_info().rss
    big = b'{"data": ["' + b"a" * (3 * MAX_REQUEST_BYTES) + b'"], "fn_index": 0, "session_hash": "x"}'

    def chunked():  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    for path in ("/gradio_api/queue/join", "/gradio_api/cancel", "/login"):
        sized = httpx.post(server.url + path, content=big, headers={"content-type": "application/json"}, timeout=30)
        assert sized.status_code == 413 and "too large" in sized.json()["detail"], (path, sized.text[:200])
        streamed = httpx.post(server.url + path, content=chunked(), headers={"content-type": "application/json"},
                              timeout=30)
        assert streamed.status_code == 413, (path, streamed.text[:200])
    assert psutil.Process(server.process.pid).memory_info().rss - rss < 50 * 1024 * 1024
    # a job's request is a few KB: it goes through, and the server keeps serving
    client = Client(server.url, verbose=False)
    text = client.predict(handle_file(str(speech.english)), "transcribe", "en", 1, api_name="/transcribe")[0]
    assert "london" in words(text)


def test_the_initial_prompt_is_bounded_with_a_clear_message(server, speech):
    from whisper_ui.core.transcription import MAX_PROMPT_CHARS

    client = Client(server.url, verbose=False)
    for prompt in ("x" * (MAX_PROMPT_CHARS + 1), "word " * 100_000):  # the second near the body limit
        with pytest.raises(Exception, match=rf"at most {MAX_PROMPT_CHARS} are accepted"):
            client.predict(handle_file(str(speech.english)), "transcribe", "en", 1, False, prompt,
                           api_name="/transcribe")
    text = client.predict(handle_file(str(speech.english)), "transcribe", "en", 1, False, "London, Peter",
                          api_name="/transcribe")[0]
    assert "london" in words(text)


def test_requests_from_another_sites_page_are_refused(server, auth_server, speech):
    """A page on another site cannot make the app work (no login needed for that on the local demo):
    a browser names the page's origin; gradio_client, curl and SDKs name none and are served."""
    wav = speech.english.read_bytes()
    own = {"Origin": server.url}
    for headers in ({"Origin": "https://other.site"}, {"Origin": "null"}, {"Referer": "https://other.site/page.html"},
                    {"Origin": "http://127.0.0.1.other.site"}, {"Origin": server.url.replace("127.0.0.1", "localhost")}):
        upload = httpx.post(server.url + "/gradio_api/upload", files={"files": ("a.wav", wav, "audio/wav")},
                            headers=headers, timeout=30)
        assert upload.status_code == 403 and "Cross-site request refused" in upload.text, (headers, upload.text)
        join = httpx.post(server.url + "/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"},
                          headers=headers, timeout=30)
        assert join.status_code == 403, (headers, join.text)
    # the app's own page, and a client that is no browser, are served
    for headers in (own, {"Referer": server.url + "/?view=api"}, {}):
        upload = httpx.post(server.url + "/gradio_api/upload", files={"files": ("a.wav", wav, "audio/wav")},
                            headers=headers, timeout=30)
        assert upload.status_code == 200 and upload.json()[0].endswith("a.wav"), (headers, upload.text)
    # --allowed-origins names another site: its pages may log in; others may not
    for origin, code in ((INTRANET, 200), (INTRANET + "/", 200), ("https://other.site", 403)):
        login = httpx.post(auth_server.url + "/login", data={"username": ALICE[0], "password": ALICE[1]},
                           headers={"Origin": origin}, timeout=30)
        assert login.status_code == code, (origin, login.status_code, login.text)
    assert "cross-site" in server.log() and server.get("/healthz")[0] == 200


def test_allowed_origins_must_be_origins():
    assert load_settings(["--allowed-origins", "HTTPS://Intranet.example/", "--allowed-origins", "http://a:8080"],
                         {}).allowed_origins == ("https://intranet.example", "http://a:8080")
    assert load_settings([], {"WHISPER_UI_ALLOWED_ORIGINS": "https://a,https://b"}).allowed_origins == (
        "https://a", "https://b")
    for bad in ("intranet.example", "ftp://a", "https://a/path", "https://"):
        with pytest.raises(ConfigError, match="--allowed-origins"):
            load_settings(["--allowed-origins", bad], {})


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory, models_dir):
    """A server whose upload folder may hold 3 MB, uploads up to 1 MB, its temporary files in its own folder."""
    server = start_server_own_tmp(tmp_path_factory.mktemp("disk"), "--model", "tiny.en", "--model-dir", str(models_dir),
                                  "--max-upload-mb", "1", "--max-upload-disk-mb", "3")
    yield server
    server.stop()


def upload_files(tmp: Path) -> list[Path]:
    return [p for p in tmp.rglob("*") if p.is_file() and "uploads" in p.parts]


def test_one_file_per_upload_and_nothing_left_of_a_refused_or_dropped_one(small_disk):
    noise = np.random.default_rng(1).integers(-2000, 2000, 200_000).astype("<i2").tobytes()  # 0.4 MB
    before = upload_files(small_disk.tmpdir)
    for count in (2, 5):
        many = httpx.post(small_disk.url + "/gradio_api/upload", timeout=30,
                          files=[("files", (f"{i}.wav", noise, "audio/wav")) for i in range(count)])
        assert many.status_code == 400 and "Too many files" in many.text, many.text
    # a client that goes away in the middle of its upload: its partial file goes at once
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", int(small_disk.url.rsplit(":", 1)[1]))) as sock:
            sock.sendall(f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                         f"boundary={boundary}\r\nContent-Length: 900000\r\n\r\n".encode() + head + noise[:300_000])
            time.sleep(0.5)
    deadline = time.monotonic() + 10
    while upload_files(small_disk.tmpdir) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert upload_files(small_disk.tmpdir) == before
    one = httpx.post(small_disk.url + "/gradio_api/upload", files={"files": ("one.wav", noise, "audio/wav")}, timeout=30)
    assert one.status_code == 200 and len(one.json()) == 1


def test_uploads_stop_before_the_upload_space_is_full(small_disk):
    rng = np.random.default_rng(2)
    stored = []
    for i in range(8):  # 0.9 MB each, all different (Gradio stores a file once per content)
        data = rng.integers(-2000, 2000, 450_000).astype("<i2").tobytes()
        answer = httpx.post(small_disk.url + "/gradio_api/upload", files={"files": (f"{i}.wav", data, "audio/wav")},
                            timeout=30)
        if answer.status_code == 503:
            assert "upload space is full" in answer.json()["detail"] and answer.headers["retry-after"] == "60"
            break
        assert answer.status_code == 200, answer.text
        stored.append(answer.json()[0])
    else:
        raise AssertionError("never refused")
    held = sum(p.stat().st_size for p in upload_files(small_disk.tmpdir))
    assert 1 <= len(stored) <= 3 and held <= 3 * 2**20, (len(stored), held)
    assert "--max-upload-disk-mb" in small_disk.log() and small_disk.get("/healthz")[0] == 200
    with pytest.raises(ConfigError, match="--max-upload-disk-mb"):
        load_settings(["--max-upload-mb", "200", "--max-upload-disk-mb", "100"], {})


# --- roles ----------------------------------------------------------------------------------


def call_hidden(client: httpx.Client, elem_id: str) -> dict:
    """Run the page's click handler of the button ``elem_id`` through the queue, as the page does (it has
    no API name: its fn_index is read from the config), and return Gradio's completion message."""
    config = client.get("/config").json()
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    fn_index = next(d["id"] for d in config["dependencies"] if [component, "click"] in d["targets"])
    session = uuid.uuid4().hex[:11]
    client.post("/gradio_api/queue/join", json={"data": [], "fn_index": fn_index, "session_hash": session,
                                                 "event_data": None, "trigger_id": component}).raise_for_status()
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}, timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and (message := json.loads(line[5:])).get("msg") == "process_completed":
                return message
    raise AssertionError("no completion")


def test_only_admins_change_the_model_or_clean_caches(auth_server, speech):
    """--admin alice: bob (a user of --auth-file) may transcribe, not load, unload or clean, whether
    through gradio_client or the page's hidden confirm step; alice may, and each action is logged."""
    bob = Client(auth_server.url, auth=BOB, verbose=False)
    for call in (lambda: bob.predict("tiny.en", "openai-whisper", api_name="/load_model"),
                 lambda: bob.predict(api_name="/unload_model")):
        with pytest.raises(Exception, match=r"Only an administrator may .* \(the server's --admin\)"):
            call()
    with logged_in(auth_server, BOB) as page:
        for button in ("cache-confirm", "cache-clean"):
            message = call_hidden(page, button)
            assert not message["success"] and "Only an administrator" in message["output"]["error"], message
    assert readyz(auth_server)[1]["status"] == "ready"  # nothing was unloaded
    assert {"london"} <= words(bob.predict(handle_file(str(speech.english)), "transcribe", "en", 1,
                                           api_name="/transcribe")[0])
    alice = Client(auth_server.url, auth=ALICE, verbose=False)
    state, _ = alice.predict("tiny.en", "openai-whisper", api_name="/load_model")
    assert "ready — tiny.en" in state
    with logged_in(auth_server, ALICE) as page:
        assert call_hidden(page, "cache-confirm")["success"]
    log = auth_server.log()
    assert "refused to load model tiny.en (openai-whisper) for user 'bob'" in log
    assert "refused to clean the old caches for user 'bob'" in log
    assert "admin alice: load model tiny.en (openai-whisper)" in log and "admin alice: clean the old caches" in log


def test_admins_must_be_users_of_the_login(tmp_path):  # (the warning without --admin: tests/test_api.py)
    assert load_settings(["--auth", "a:b", "--admin", "a"], {}).admin == ("a",)
    assert load_settings(["--auth", "a:b", "--auth", "c:d"], {"WHISPER_UI_ADMINS": "a,c"}).admin == ("a", "c")
    for argv in (["--auth", "a:b", "--admin", "z"], ["--auth", "a:b", "--admin", "a:b"]):
        with pytest.raises(ConfigError, match="--admin"):
            load_settings(argv, {})


def test_failed_logins_are_slowed_then_refused_and_names_are_exact(models_dir, tmp_path):
    """Each failed login answers after a second; five in a minute from one address and even the right
    password is refused until the minute is over (429). A name is taken as typed: " carol" is not carol."""
    server = start_server(tmp_path, "--model", "tiny.en", "--model-dir", str(models_dir), "--auth", "carol:c-pass",
                          "--admin", "carol")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            tries = [{"username": " carol", "password": "c-pass"}, {"username": "carol ", "password": "c-pass"},
                     {"username": "Carol", "password": "c-pass"}, {"username": "carol", "password": "guess"},
                     {"username": "carol", "password": "c-pass "}]
            for form in tries:
                started = time.monotonic()
                answer = http.post("/login", data=form)
                assert answer.status_code == 400 and time.monotonic() - started >= 0.9, (form, answer.text)
            locked = http.post("/login", data={"username": "carol", "password": "c-pass"})
            assert locked.status_code == 429 and "Too many failed logins" in locked.text
            assert 1 <= int(locked.headers["retry-after"]) <= 60
        assert "refused a login from 127.0.0.1: 5 failed logins" in server.log()
        assert server.get("/healthz")[0] == 200
    finally:
        server.stop()


def test_one_users_jobs_and_events_are_not_anothers(auth_server, speech):
    """Bob's session: alice cannot read its events, cancel its job, or fetch its files, knowing its
    session hash and event id; bob can. Without a login the same holds between two client addresses."""
    bob = Client(auth_server.url, auth=BOB, verbose=False, download_files=False)
    job = bob.submit(handle_file(str(speech.varied)), "transcribe", "en", 1, api_name="/transcribe")
    deadline = time.monotonic() + 60
    while job.status().code.name not in ("PROCESSING", "FINISHED") and time.monotonic() < deadline:
        time.sleep(0.1)
    session = bob.session_hash
    with logged_in(auth_server, ALICE) as alice:
        events = alice.get("/gradio_api/queue/data", params={"session_hash": session})
        assert events.status_code == 404
        cancel = alice.post("/gradio_api/cancel", json={"session_hash": session, "fn_index": 0, "event_id": "x"})
        assert cancel.status_code == 404
        heartbeat = alice.get(f"/gradio_api/heartbeat/{session}")
        assert heartbeat.status_code == 404
        # nor the page's Cancel button (a step outside the queue) in bob's session
        for fn_index in range(3):
            step = alice.post("/gradio_api/run/predict", json={"session_hash": session, "fn_index": fn_index,
                                                               "data": [], "event_data": None, "trigger_id": None})
            assert step.status_code == 404
        # her own session with the same event id is no way in either
        own = alice.post("/gradio_api/cancel", json={"session_hash": "alice-own", "fn_index": 0, "event_id": "x"})
        assert own.status_code == 404
    text = job.result(timeout=300)[0]
    assert {"city", "council"} & words(text), text  # not cancelled by alice
    assert "events of another's session" in auth_server.log() and "a cancel of another's job" in auth_server.log()
    assert "a step in another's session" in auth_server.log()


def test_without_a_login_each_client_address_has_its_own(server, speech):
    """The local demo has no users: a client is its address (127.0.0.2 is another one on the loopback)."""
    wav = speech.fox.read_bytes()
    with httpx.Client(base_url=server.url, timeout=30) as here, \
            httpx.Client(base_url=server.url, timeout=30,
                         transport=httpx.HTTPTransport(local_address="127.0.0.2")) as there:
        path = here.post("/gradio_api/upload", files={"files": ("fox.wav", wav)}).json()[0]
        assert here.get(f"/gradio_api/file={path}").content == wav
        assert there.get(f"/gradio_api/file={path}").status_code == 404
        # a session is the first client's to use it (the heartbeat stream is opened, then closed)
        with here.stream("GET", "/gradio_api/heartbeat/session-of-here") as stream:
            assert stream.status_code == 200
        with there.stream("GET", "/gradio_api/heartbeat/session-of-here") as stream:
            assert stream.status_code == 404
        assert there.get("/gradio_api/queue/data", params={"session_hash": "session-of-here"}).status_code == 404


def test_a_share_links_pages_are_the_apps_own():
    """With --share the page may reach the app through https://*.gradio.live, whatever Host the tunnel sends."""
    from whisper_ui.web.server import RouteGuard

    def scope(origin: str) -> dict:
        return {"headers": [(b"host", b"127.0.0.1:7860"), (b"origin", origin.encode())]}

    shared, local = RouteGuard(None, share=True), RouteGuard(None)
    assert shared._foreign_site(scope("https://abc123.gradio.live")) is None
    assert local._foreign_site(scope("https://abc123.gradio.live")) == "https://abc123.gradio.live"
    for other in ("http://abc.gradio.live", "https://gradio.live.evil.example", "https://evilgradio.live"):
        assert shared._foreign_site(scope(other)) == other

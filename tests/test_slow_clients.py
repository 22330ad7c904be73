"""Slow and idle clients (SECURITY.md "Slow clients"): read timeouts on every connection, and caps per
client address on connections, uploads in progress and event streams, on the real server.

The server here takes ``--read-timeout 2`` and ``--max-connections-per-client 250``, and trusts no
proxy (the default: no ``--trusted-proxies``), so 127.0.0.1 is an ordinary client; a trusted proxy's
exemption from the cap is in tests/test_edge.py.
Hundreds of connections, not tens of thousands: each kind of slowness, enough of it to matter.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid

import httpx
import pytest

from whisper_ui.core.errors import ConfigError
from whisper_ui.core.settings import load_settings
from whisper_ui.web.connections import MAX_STREAMS_PER_CLIENT, MAX_UPLOADS_PER_CLIENT

from .conftest import start_server_own_tmp, words

READ_TIMEOUT = 2
PER_CLIENT = 250
BOUNDARY = "b0undary"


@pytest.fixture(scope="module")
def guarded(models_dir, tmp_path_factory):
    server = start_server_own_tmp(tmp_path_factory.mktemp("slow"), "--model", "tiny.en", "--model-dir",
                                  str(models_dir), "--read-timeout", str(READ_TIMEOUT), "--max-connections-per-client",
                                  str(PER_CLIENT))
    yield server
    server.stop()


def port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def files_in(folder) -> set[str]:
    """The files under ``folder`` now; a folder the app deletes while this walks is skipped (``rglob`` raised
    FileNotFoundError on one once)."""
    return {os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names}


def upload_head(path: str = "/gradio_api/upload", length: int = 5_000_000) -> bytes:
    """A multipart upload's request and the start of its body (the rest never comes)."""
    field = "file" if path.startswith("/v1/") else "files"
    part = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; "
    body = (part + "filename=\"slow.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode() + b"RIFF" + b"\0" * 60_000
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode() + body


def answer_of(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before it closed the connection (b"" if it sent nothing in ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(4096):
            data += chunk
    return data


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def healthz_seconds(server) -> float:
    start = time.monotonic()
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    return time.monotonic() - start


def test_slow_headers_and_bodies_get_408_and_leave_nothing(guarded, speech):
    before = files_in(guarded.tmpdir)
    address = ("127.0.0.1", port(guarded))
    silent = [socket.create_connection(address) for _ in range(150)]  # connect, send nothing
    partial = [socket.create_connection(address) for _ in range(40)]  # headers that never end
    for sock in partial:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    uploads = []  # uploads that stop half-way: Gradio's route and the API's
    for path in ["/gradio_api/upload"] * (MAX_UPLOADS_PER_CLIENT - 2) + ["/v1/audio/transcriptions"] * 2:
        uploads.append(socket.create_connection(address))
        uploads[-1].sendall(upload_head(path))
    drip = socket.create_connection(address)  # a byte of header every half second: never done in time
    dripped, stop = threading.Event(), threading.Event()

    def drip_headers():
        with contextlib.suppress(OSError):
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
                if stop.wait(0.5):
                    return
                drip.sendall(bytes([byte]))
        dripped.set()

    threading.Thread(target=drip_headers, daemon=True).start()
    started = time.monotonic()
    try:
        # while they hang, the server answers others at once
        assert healthz_seconds(guarded) < 1.0
        assert wait_until(lambda: len(files_in(guarded.tmpdir) - before) >= 1, 5), "the partial uploads never arrived"
        deadline = started + READ_TIMEOUT * 4  # for all of them together: a server without timeouts fails fast
        answers = [answer_of(sock, max(0.05, deadline - time.monotonic())) for sock in silent + partial + uploads + [drip]]
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for sock in silent + partial + uploads + [drip]:
            sock.close()
    statuses = [status_of(a) for a in answers]
    assert statuses == [408] * len(answers), {s: statuses.count(s) for s in set(statuses)}
    assert not dripped.is_set()  # closed while it was still sending its headers
    assert elapsed < READ_TIMEOUT * 4, elapsed
    # every partial upload is gone at once, the server is fine, and it still transcribes
    assert wait_until(lambda: files_in(guarded.tmpdir) == before, 5), files_in(guarded.tmpdir) - before
    assert healthz_seconds(guarded) < 1.0
    with open(speech.fox, "rb") as audio:
        job = httpx.post(guarded.url + "/v1/audio/transcriptions", files={"file": ("fox.wav", audio, "audio/wav")},
                         timeout=120)
    assert job.status_code == 200 and {"quick", "lazy"} <= words(job.json()["text"]), job.text
    log = guarded.log()
    assert "no request headers for 2 s (--read-timeout)" in log and "no more of the request body" in log
    assert "Traceback" not in log and log.count("--read-timeout") < 20  # a few lines, not 200


def test_a_slow_body_that_keeps_coming_is_not_cut(guarded):
    """The timer is a pause between pieces, not a limit on the whole upload: a client sending its body
    slowly but steadily for longer than the timeout gets its file stored."""
    payload = b"RIFF" + bytes(range(256)) * 40
    part = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"steady.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode() + payload + f"\r\n--{BOUNDARY}--\r\n".encode()
    with socket.create_connection(("127.0.0.1", port(guarded))) as sock:
        sock.sendall((f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                      f"boundary={BOUNDARY}\r\nContent-Length: {len(part)}\r\nConnection: close\r\n\r\n").encode())
        pieces = [part[i:i + len(part) // 6 + 1] for i in range(0, len(part), len(part) // 6 + 1)]
        for piece in pieces:  # ~7 pieces, one every 0.6 s: 4 s in all, twice the timeout
            sock.sendall(piece)
            time.sleep(READ_TIMEOUT * 0.3)
        answer = answer_of(sock, 10)
    assert status_of(answer) == 200 and b"steady.wav" in answer, answer[:300]


def test_caps_per_client_on_uploads_streams_and_connections(guarded):
    address = ("127.0.0.1", port(guarded))
    held: list[socket.socket] = []
    try:
        # uploads in progress: the cap's worth hang, the next is refused at once
        for _ in range(MAX_UPLOADS_PER_CLIENT):
            held.append(socket.create_connection(address))
            held[-1].sendall(upload_head())
        time.sleep(0.5)
        for path in ("/gradio_api/upload", "/v1/audio/transcriptions"):
            refused = httpx.post(guarded.url + path, files={"files" if "gradio" in path else "file": ("a.wav", b"RIFF")},
                                 timeout=5)
            assert refused.status_code == 429 and "Too many uploads" in refused.json().get("detail", str(refused.json())), \
                refused.text
        for sock in held:
            sock.close()
        held.clear()
        assert wait_until(lambda: httpx.post(guarded.url + "/gradio_api/upload", timeout=5,
                                             files={"files": ("b.wav", b"RIFF" + b"\1" * 100)}).status_code == 200, 20)

        # event streams: a page's heartbeat stays open as long as the page; the cap's worth, then 429
        for _ in range(MAX_STREAMS_PER_CLIENT):
            held.append(socket.create_connection(address))
            held[-1].sendall(f"GET /gradio_api/heartbeat/{uuid.uuid4().hex} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        for sock in held:
            sock.settimeout(5)
            assert sock.recv(64).startswith(b"HTTP/1.1 200"), "a stream under the cap was refused"
        for path in (f"/gradio_api/heartbeat/{uuid.uuid4().hex}", f"/gradio_api/queue/data?session_hash={uuid.uuid4().hex}"):
            refused = first_answer(guarded, path)
            assert status_of(refused) == 429 and b"Too many open pages" in refused, refused
        assert httpx.get(guarded.url + "/healthz", timeout=5).status_code == 200  # other requests are not capped
        for sock in held:
            sock.close()
        held.clear()
        # a closed stream's place frees when the server sees the disconnect: at once here, seconds on a busy machine
        assert wait_until(lambda: status_of(first_answer(guarded, "/gradio_api/heartbeat/x")) == 200, 20)

        # connections: the cap's worth open (idle, within the read timeout), the next ones get 429 at once
        held = [socket.create_connection(address) for _ in range(PER_CLIENT)]
        extra = [socket.create_connection(address) for _ in range(5)]
        answers = [answer_of(sock, 1.0) for sock in extra]
        assert [status_of(a) for a in answers] == [429] * 5 and b"Too many connections" in answers[0]
    finally:
        for sock in held:
            sock.close()
    # closed ones count no more
    assert wait_until(lambda: _healthz_ok(guarded), 5)
    assert "--max-connections-per-client" in guarded.log()


def first_answer(server, path: str) -> bytes:
    """The first bytes answered to ``GET path`` (a stream is not read to its end)."""
    with socket.create_connection(("127.0.0.1", port(server))) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        sock.settimeout(5)
        data = sock.recv(4096)
        if status_of(data) != 200:  # an answer, not a stream: to its end
            data += answer_of(sock, 5)
        return data


def _healthz_ok(server) -> bool:
    try:
        return httpx.get(server.url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_settings_are_checked():
    settings = load_settings(["--read-timeout", "7.5", "--max-connections-per-client", "0"], {})
    assert settings.read_timeout == 7.5 and settings.max_connections_per_client == 0
    assert load_settings([], {"WHISPER_UI_READ_TIMEOUT": "12"}).read_timeout == 12
    assert load_settings([], {}).read_timeout == 30 and load_settings([], {}).max_connections_per_client == 64
    for bad in (["--read-timeout", "0"], ["--read-timeout", "-1"], ["--max-connections-per-client", "-1"],
                ["--max-connections-per-client", "many"]):
        with pytest.raises(ConfigError, match=bad[0]):
            load_settings(bad, {})

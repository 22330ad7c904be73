"""What every request meets first (whisper_ui/web/edge.py), on real servers: forwarded headers believed
only from --trusted-proxies, a Host allow-list against DNS rebinding (--allowed-hosts), and the headers
that keep other sites' pages from reading or framing the app.

Local clients at several addresses: Linux answers on all of 127.0.0.0/8, and a client binds its
socket to 127.0.0.2 as a second machine would have its own address.
"""

from __future__ import annotations

import contextlib
import socket

import httpx
import pytest

from .conftest import start_server, words
from .harness import RawGradio, file_data

ALICE = ("alice", "right-password")
BOB = ("bob", "bobs-password")
INTRANET = "https://intranet.example"
EVIL = "rebind.attacker.example"


def client(address: str = "127.0.0.1", **kwargs) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30, **kwargs)


def upload(server, address: str) -> str:
    """A WAV uploaded from ``address`` through Gradio's upload route: its server path."""
    with client(address) as http:
        response = http.post(server.url + "/gradio_api/upload",
                             files={"files": ("note.wav", b"RIFF" + b"\0" * 60, "audio/wav")})
    assert response.status_code == 200, response.text
    return response.json()[0]


@pytest.fixture(scope="module")
def plain(models_dir, tmp_path_factory):
    """The app as a user starts it: no login, no proxy trusted, --mcp on."""
    server = start_server(tmp_path_factory.mktemp("edge"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--mcp", wait_ready=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxied(models_dir, tmp_path_factory):
    """Behind a reverse proxy at 127.0.0.1, reached as whisper.example, with an intranet page allowed; MCP on,
    uploads of 1 MB at most and 2 MB of upload space."""
    server = start_server(tmp_path_factory.mktemp("edge-proxied"), "--model", "tiny.en", "--model-dir",
                          str(models_dir), "--trusted-proxies", "127.0.0.1", "--allowed-hosts", "whisper.example",
                          "--allowed-origins", INTRANET, "--mcp", "--max-upload-mb", "1", "--max-upload-disk-mb", "2",
                          wait_ready=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def login(models_dir, tmp_path_factory):
    """With a login: alice and bob; no proxy trusted."""
    server = start_server(tmp_path_factory.mktemp("edge-login"), "--model", "tiny.en", "--model-dir",
                          str(models_dir), "--auth", ":".join(ALICE), "--auth", ":".join(BOB), wait_ready=False)
    yield server
    server.stop()


@contextlib.contextmanager
def logged_in(server, user: tuple[str, str]):
    with client() as http:
        response = http.post(server.url + "/login", data={"username": user[0], "password": user[1]})
        assert response.status_code == 200, response.text
        yield http


# --- forwarded headers ------------------------------------------------------------------------------


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(plain):
    """Before: 127.0.0.1 with X-Forwarded-For: 127.0.0.2 read 127.0.0.2's upload (uvicorn trusts 127.0.0.1)."""
    path = upload(plain, "127.0.0.2")
    with client("127.0.0.2") as owner:
        assert owner.get(plain.url + "/gradio_api/file=" + path).status_code == 200
    with client("127.0.0.1") as other:
        spoofed = other.get(plain.url + "/gradio_api/file=" + path, headers={"X-Forwarded-For": "127.0.0.2"})
        assert spoofed.status_code == 404
        forwarded = other.get(plain.url + "/gradio_api/file=" + path, headers={"Forwarded": "for=127.0.0.2"})
        assert forwarded.status_code == 404


def test_a_trusted_proxy_passes_the_client_on(proxied):
    path = upload(proxied, "127.0.0.2")
    with client("127.0.0.1") as proxy:  # the proxy says whose request it carries: 127.0.0.2's
        carried = proxy.get(proxied.url + "/gradio_api/file=" + path,
                            headers={"X-Forwarded-For": "127.0.0.2", "Host": "whisper.example"})
        assert carried.status_code == 200
        # the right-most address the proxy did not add: a client's own X-Forwarded-For is not believed
        chained = proxy.get(proxied.url + "/gradio_api/file=" + path,
                            headers={"X-Forwarded-For": "127.0.0.2, 127.0.0.9", "Host": "whisper.example"})
        assert chained.status_code == 404
    with client("127.0.0.3") as stranger:  # not the proxy: its header is dropped
        refused = stranger.get(proxied.url + "/gradio_api/file=" + path,
                               headers={"X-Forwarded-For": "127.0.0.2", "Host": "whisper.example"})
        assert refused.status_code == 404


def test_a_trusted_proxy_address_is_not_capped(proxied):
    """A proxy carries every client's connections: its address is not held to --max-connections-per-client
    (64); any other address is."""
    port = int(proxied.url.rsplit(":", 1)[1])
    for address, expected in (("127.0.0.1", 200), ("127.0.0.4", 429)):
        held = []
        try:
            for _ in range(80):
                sock = socket.create_connection(("127.0.0.1", port), source_address=(address, 0))
                held.append(sock)
            last = held[-1]
            last.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            last.settimeout(10)
            answer = last.recv(100)
            assert answer.startswith(f"HTTP/1.1 {expected}".encode()), (address, answer)
        finally:
            for sock in held:
                sock.close()


def test_forged_addresses_do_not_escape_the_login_throttle(login):
    """Before: 60 guesses from 127.0.0.1, each with a new X-Forwarded-For, none refused."""
    statuses = []
    with client("127.0.0.5") as http:
        for i in range(7):
            response = http.post(login.url + "/login", data={"username": ALICE[0], "password": f"guess{i}"},
                                 headers={"X-Forwarded-For": f"10.0.0.{i + 1}"})
            statuses.append(response.status_code)
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429], statuses
    with client("127.0.0.6") as elsewhere:  # another address is not locked out
        response = elsewhere.post(login.url + "/login", data={"username": ALICE[0], "password": ALICE[1]})
        assert response.status_code == 200, response.text


# --- files named in a job's inputs -----------------------------------------------------------------


def _transcribe(raw: RawGradio, path: str):
    return raw.call("/transcribe", file_data(path), "transcribe", "en", 1, False, "", [])


def test_a_job_may_not_name_another_users_upload(login, speech):
    """Before: alice sent bob's upload path as her file (queue/join) and got bob's transcript."""
    with logged_in(login, BOB) as bob_http, logged_in(login, ALICE) as alice_http:
        bob, alice = RawGradio(login.url, bob_http), RawGradio(login.url, alice_http)
        path = bob.upload("bob.wav", speech.fox.read_bytes()).json()[0]
        with pytest.raises(httpx.HTTPStatusError) as refused:
            _transcribe(alice, path)
        assert refused.value.response.status_code == 403 and "Not your file" in refused.value.response.text
        predict = alice_http.post(login.url + "/gradio_api/run/predict", json={
            "data": [{"path": path}], "fn_index": 0, "session_hash": "alice-session"})
        assert predict.status_code == 403 and "Not your file" in predict.text
        assert {"quick", "lazy"} <= words(_transcribe(bob, path)[0])  # bob's own job runs
    assert login.log().count("a job input names a file that is not theirs") == 2


def test_a_job_may_not_name_another_addresss_upload(plain, speech):
    with client("127.0.0.7") as owner_http, client("127.0.0.8") as other_http:
        owner, other = RawGradio(plain.url, owner_http), RawGradio(plain.url, other_http)
        path = owner.upload("mine.wav", speech.fox.read_bytes()).json()[0]
        for data in ({"path": path}, {"path": path, "meta": {"_type": "gradio.FileData"}},
                     {"url": f"{plain.url}/gradio_api/file={path}"}):
            with pytest.raises(httpx.HTTPStatusError) as refused:
                other.call("/transcribe", data, "transcribe", "en", 1, False, "", [])
            assert refused.value.response.status_code == 403, data
        assert {"quick", "lazy"} <= words(_transcribe(owner, path)[0])


# --- host names -----------------------------------------------------------------------------------


def test_a_foreign_host_name_is_refused_on_every_route(plain):
    """Before: with Host and Origin both the attacker's name, an upload was accepted and unload_model ran."""
    port = plain.url.rsplit(":", 1)[1]
    with client() as http:
        for method, path in (("GET", "/"), ("GET", "/config"), ("GET", "/healthz"), ("GET", "/v1/models"),
                             ("POST", "/gradio_api/upload"), ("POST", "/gradio_api/queue/join"),
                             ("POST", "/gradio_api/run/predict"), ("POST", "/gradio_api/mcp/messages/"),
                             ("GET", "/gradio_api/mcp/sse")):
            response = http.request(method, plain.url + path, headers={"Host": f"{EVIL}:{port}",
                                                                       "Origin": f"http://{EVIL}:{port}"})
            assert response.status_code == 421, (method, path, response.status_code)
            assert "--allowed-hosts" in response.json()["detail"]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"app.localhost:{port}",
                     f"192.168.1.20:{port}", f"{socket.gethostname()}:{port}"):
            assert http.get(plain.url + "/healthz", headers={"Host": host}).status_code == 200, host
    assert "not a name this app answers to" in plain.log()


def test_allowed_hosts_and_the_proxy_s_forwarded_host(proxied):
    with client() as proxy:
        def status(**headers):
            return proxy.get(proxied.url + "/healthz", headers=headers).status_code

        assert status(Host="whisper.example") == 200 and status(Host="WHISPER.example:443") == 200
        assert status(Host="intranet.example") == 200  # an --allowed-origins host
        assert status(Host="sub.whisper.example") == 421 and status(Host=EVIL) == 421
        # from the trusted proxy, the name the browser asked for is X-Forwarded-Host
        assert status(Host="10.1.2.3:7860", **{"X-Forwarded-Host": "whisper.example"}) == 200
        assert status(Host="10.1.2.3:7860", **{"X-Forwarded-Host": EVIL}) == 421
    with client("127.0.0.3") as stranger:  # from anyone else, X-Forwarded-Host is dropped: Host decides
        assert stranger.get(proxied.url + "/healthz", headers={"Host": "whisper.example",
                                                               "X-Forwarded-Host": EVIL}).status_code == 200


# --- browser headers ----------------------------------------------------------------------------------


def test_every_answer_forbids_framing_and_sniffing(plain):
    with client() as http:
        for path in ("/", "/config", "/healthz", "/no-such-route"):
            headers = http.get(plain.url + path).headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY", path
            assert headers["content-security-policy"] == "frame-ancestors 'none'", path
            assert headers["referrer-policy"] == "same-origin", path


def test_no_credentialed_cors_for_a_foreign_origin(proxied):
    """Before: with a Host that is not localhost, Gradio answered any Origin with Allow-Credentials."""
    with client() as http:
        foreign = http.get(proxied.url + "/config", headers={"Host": "whisper.example", "Origin": "https://evil.example"})
        assert foreign.status_code == 200
        assert not [h for h in foreign.headers if h.lower().startswith("access-control-")], dict(foreign.headers)
        preflight = http.options(proxied.url + "/config", headers={
            "Host": "whisper.example", "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers
        allowed = http.get(proxied.url + "/config", headers={"Host": "whisper.example", "Origin": INTRANET})
        assert allowed.headers.get("access-control-allow-origin") == INTRANET
        # the intranet may frame the page; no other site
        assert allowed.headers["content-security-policy"] == f"frame-ancestors {INTRANET}"
        assert "x-frame-options" not in allowed.headers


def test_the_settings_are_checked():
    from whisper_ui.core.errors import ConfigError
    from whisper_ui.core.settings import load_settings

    settings = load_settings(["--allowed-hosts", "Whisper.Example.org.", "--allowed-hosts", ".corp.example",
                              "--trusted-proxies", "10.1.2.3/8", "--trusted-proxies", "::1"], {})
    assert settings.allowed_hosts == ("whisper.example.org", ".corp.example")
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1/128")
    env = load_settings([], {"WHISPER_UI_ALLOWED_HOSTS": "a.example,*", "WHISPER_UI_TRUSTED_PROXIES": "127.0.0.1"})
    assert env.allowed_hosts == ("a.example", "*") and env.trusted_proxies == ("127.0.0.1/32",)
    assert load_settings([], {}).trusted_proxies == () and load_settings([], {}).allowed_hosts == ()
    for bad in (["--allowed-hosts", "https://a.example"], ["--allowed-hosts", "a b"], ["--trusted-proxies", "proxy"],
                ["--trusted-proxies", "10.0.0.0/33"]):
        with pytest.raises(ConfigError, match=bad[0]):
            load_settings(bad, {})


# --- smaller ones -----------------------------------------------------------------------------------


def test_simultaneous_guesses_are_counted_before_they_are_checked(login):
    """Before: 10 of 60 simultaneous wrong passwords were checked against a limit of 5."""
    from concurrent.futures import ThreadPoolExecutor

    def guess(i: int) -> int:
        with client("127.0.0.10") as http:
            return http.post(login.url + "/login", data={"username": BOB[0], "password": f"wrong{i}"}).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert statuses.count(400) <= 5 and statuses.count(400) + statuses.count(429) == 30, statuses


def test_mcp_event_streams_count_against_the_stream_cap(plain):
    """Before: /gradio_api/mcp/sse was outside the 32 streams an address may hold open."""
    from whisper_ui.web.connections import MAX_STREAMS_PER_CLIENT

    with client("127.0.0.11") as http, contextlib.ExitStack() as streams:
        for _ in range(MAX_STREAMS_PER_CLIENT):
            response = streams.enter_context(http.stream("GET", plain.url + "/gradio_api/mcp/sse"))
            assert response.status_code == 200
        with http.stream("GET", plain.url + "/gradio_api/mcp/sse") as over:
            assert over.status_code == 429, over.status_code


def test_many_empty_form_fields_are_refused_early(plain):
    """Before: 2.3 M empty fields in one /v1 body cost the server 460 MB."""
    import psutil

    server = psutil.Process(plain.process.pid)
    before = server.memory_info().rss
    boundary = "fieldsfieldsfields"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\r\n" * 300_000).encode()
    body += f"--{boundary}--\r\n".encode()
    with client() as http:
        response = http.post(plain.url + "/v1/audio/transcriptions", content=body,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413 and "too many fields" in response.json()["error"]["message"], response.text
    assert server.memory_info().rss - before < 100 * 2**20


def test_no_transcript_text_in_the_log_at_info(plain, speech):
    with client() as http:
        raw = RawGradio(plain.url, http)
        path = raw.upload("fox.wav", speech.fox.read_bytes()).json()[0]
        text = _transcribe(raw, path)[0]
    assert {"quick", "lazy"} <= words(text)
    log = plain.log()
    assert "transcribed " in log and "characters" in log
    assert "quick" not in log.lower() and "lazy" not in log.lower(), log[-2000:]


def test_mcp_messages_count_against_the_upload_space(proxied):
    """Before: MCP's base64 audio bypassed --max-upload-disk-mb (42 MB stored against 20, then every page
    upload got 503 for an hour)."""
    with client("127.0.0.12") as http:
        for i in range(2):  # 1.8 MB of the 2 MB held by page uploads
            stored = http.post(proxied.url + "/gradio_api/upload", headers={"Host": "whisper.example"},
                               files={"files": (f"part{i}.wav", b"RIFF" + b"\0" * 900_000, "audio/wav")})
            assert stored.status_code == 200, stored.text
        # an MCP message within its own limit (1 MB of audio as base64) but not within the space left
        response = http.post(proxied.url + "/gradio_api/mcp/messages/?session_id=0", content=b"{" + b" " * 1_200_000,
                             headers={"Host": "whisper.example", "Content-Type": "application/json"})
    assert response.status_code == 503 and "upload space is full" in response.text, response.text

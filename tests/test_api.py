"""The OpenAI-compatible routes and the MCP tool (issue 16), against the real ``python app.py``.

The official ``openai`` package and the ``mcp`` SDK are the clients, over real HTTP on 127.0.0.1,
with the real tiny.en (and base, for translation) weights and real ffmpeg; curl-style requests
(httpx, raw sockets) check the error cases: a missing file, an unknown model, an oversize body
(413 before it is stored), a full queue (429), keys (401), a client that goes away mid-job.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import openai
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from whisper_ui.core.errors import ConfigError
from whisper_ui.core.settings import Settings, load_settings
from whisper_ui.web.openai_api import ApiError, check_key

from .conftest import start_server, words
from .harness import wait_until

MAX_UPLOAD_MB = 5
KEY, OTHER_KEY = "test-key-" + "a" * 24, "test-key-" + "b" * 24
# the API's beam_size extra (docs/api-and-mcp.md): greedy where a test is about the route, not the words
GREEDY = {"beam_size": "1"}


@pytest.fixture(scope="module")
def work_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api-tmp")


@pytest.fixture(scope="module")
def api(models_dir, tmp_path_factory, work_tmp):
    """Open (no key, 127.0.0.1), MCP on, one job may wait: the queue is easy to fill."""
    srv = start_server(tmp_path_factory.mktemp("api"), "--model", "tiny.en", "--model-dir", str(models_dir),
                       "--models", "tiny.en,base", "--mcp", "--queue-size", "1", "--max-upload-mb",
                       str(MAX_UPLOAD_MB), env={"TMPDIR": str(work_tmp)})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sdk(api):
    return openai.OpenAI(base_url=api.url + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def page(api):
    return Client(api.url, verbose=False, download_files=False, analytics_enabled=False)


def uploads_left(work_tmp: Path) -> list[Path]:
    return [p for p in work_tmp.glob("whisper-ui-*/uploads/api-*")]


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


# --- the openai SDK -------------------------------------------------------------------------


def test_every_response_format_through_the_sdk(sdk, speech, page):
    with open(speech.english, "rb") as f:
        result = sdk.audio.transcriptions.create(model="whisper-1", file=f)
    assert {"peter", "london"} <= words(result.text)
    assert result.usage.type == "duration" and result.usage.seconds == 3
    # the same text as the page's /transcribe for the same file and options
    page_text = page.predict(handle_file(str(speech.english)), api_name="/transcribe")[0]
    assert result.text == page_text

    with open(speech.english, "rb") as f:
        text = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="text")
    assert text == page_text + "\n"
    with open(speech.english, "rb") as f:
        srt = sdk.audio.transcriptions.create(model="tiny.en", file=f, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and page_text in srt and srt.endswith("\n\n")
    with open(speech.english, "rb") as f:
        vtt = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00.000 --> 00:0") and page_text in vtt


def test_verbose_json_segments_and_words(sdk, speech, page):
    with open(speech.medium, "rb") as f:
        verbose = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                                  language="en", temperature=0.0, prompt="Peter, London",
                                                  extra_body=GREEDY)
    assert verbose.task == "transcribe" and verbose.language == "english"
    assert 9 < verbose.duration < 12
    assert verbose.segments and verbose.words is None
    page_out = page.predict(handle_file(str(speech.medium)), "transcribe", "en", 1, False, "Peter, London",
                            api_name="/transcribe")
    assert verbose.text == page_out[0]
    table = page_out[1]["data"] if isinstance(page_out[1], dict) else page_out[1]
    assert [[round(s.start, 2), round(s.end, 2), s.text.strip()] for s in verbose.segments] == table
    first = verbose.segments[0].model_dump()
    assert set(first) >= {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                          "compression_ratio", "no_speech_prob"}

    with open(speech.medium, "rb") as f:
        both = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                               timestamp_granularities=["word", "segment"], extra_body=GREEDY)
    with open(speech.medium, "rb") as f:
        only_words = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                                     timestamp_granularities=["word"], extra_body=GREEDY)
    assert only_words.segments is None and only_words.words
    assert both.segments and len(both.words) >= 20
    assert {"peter", "fox", "good"} <= {w.word.strip(".,").lower() for w in both.words}
    times = [(w.start, w.end) for w in both.words]
    assert all(a <= b for a, b in times) and times == sorted(times)
    page_words = page.predict(handle_file(str(speech.medium)), "transcribe", "auto", 1, True,
                              api_name="/transcribe")[0]
    assert both.text == page_words


def test_translation_through_the_sdk(models_dir, tmp_path_factory, speech):
    """base (multilingual) with an API key: Spanish speech comes back in English."""
    srv = start_server(tmp_path_factory.mktemp("api-base"), "--model", "base", "--model-dir", str(models_dir),
                       env={"WHISPER_UI_API_KEYS": f"{KEY},{OTHER_KEY}"})
    try:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key=OTHER_KEY, max_retries=0, timeout=180)
        with open(speech.spanish, "rb") as f:
            result = client.audio.translations.create(model="whisper-1", file=f, response_format="verbose_json")
        assert result.task == "translate" and result.language == "spanish"
        assert {"madrid"} <= words(result.text) and "llamo" not in words(result.text)
        with open(speech.spanish, "rb") as f:
            text = client.audio.translations.create(model="base", file=f, response_format="text")
        assert text.strip() == result.text
        wrong = openai.OpenAI(base_url=srv.url + "/v1", api_key="x" * 30, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        assert KEY not in srv.log() and OTHER_KEY not in srv.log()
    finally:
        srv.stop()


def test_models_list(sdk):
    models = {m.id: m for m in sdk.models.list()}
    assert list(models) == ["whisper-1", "tiny.en", "base"]
    assert models["whisper-1"].model_extra["root"] == "tiny.en"
    assert models["tiny.en"].owned_by == "openai" and models["tiny.en"].model_extra["loaded"] is True
    assert models["base"].model_extra == {"on_disk": True, "loaded": False}


# --- curl: errors ----------------------------------------------------------------------------------


def test_multipart_with_curl_and_errors(api, speech):
    import subprocess

    url = api.url + "/v1/audio/transcriptions"
    done = subprocess.run(["curl", "-sS", url, "-F", f"file=@{speech.fox}", "-F", "model=whisper-1", "-F",
                           "beam_size=1", "-F", "vad=false", "-F", "word_timestamps=true", "-F",
                           "response_format=verbose_json"], capture_output=True, text=True, timeout=120)
    body = json.loads(done.stdout)
    assert {"lazy", "dog"} <= words(body["text"])
    assert body["segments"] and {"lazy", "dog"} <= {w["word"].strip(".").lower() for w in body["words"]}

    with httpx.Client(timeout=60) as http:
        missing = http.post(url, data={"model": "whisper-1"}, files={"other": ("a.txt", b"x")})
        assert missing.status_code == 400 and error_of(missing)["param"] == "file"
        not_form = http.post(url, json={"file": "x"})
        assert not_form.status_code == 400 and "multipart/form-data" in error_of(not_form)["message"]
        audio = {"file": ("fox.wav", speech.fox.read_bytes(), "audio/wav")}
        unknown = http.post(url, data={"model": "gpt-9"}, files=audio)
        assert unknown.status_code == 404 and error_of(unknown)["code"] == "model_not_found"
        not_loaded = http.post(url, data={"model": "base"}, files=audio)
        assert not_loaded.status_code == 400 and "not loaded (tiny.en is)" in error_of(not_loaded)["message"]
        for field, value in (("response_format", "xml"), ("beam_size", "99"), ("temperature", "nan"),
                             ("language", "klingon"), ("vad", "maybe")):
            bad = http.post(url, data={field: value}, files=audio)
            assert bad.status_code == 400, (field, bad.text)
            assert error_of(bad)["param"] == field, bad.text
        words_only_json = http.post(url, data={"timestamp_granularities[]": "word"}, files=audio)
        assert words_only_json.status_code == 400
        not_audio = http.post(url, files={"file": ("notes.wav", b"this is not audio" * 100, "audio/wav")})
        assert not_audio.status_code == 400 and error_of(not_audio)["type"] == "invalid_request_error"
        assert "uploads" not in not_audio.text and "Traceback" not in not_audio.text
        assert http.get(api.url + "/readyz").status_code == 200


def test_oversize_is_refused_before_the_body_is_stored(api, work_tmp):
    limit = MAX_UPLOAD_MB * 1024 * 1024
    host, port = api.url.removeprefix("http://").split(":")
    boundary = "b" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    # 1) a Content-Length over the limit: the answer comes before any of the body is sent
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
                      f"boundary={boundary}\r\nContent-Length: {limit * 2}\r\n\r\n").encode())
        answer = b""
        while b'"code"' not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    answer = answer.decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert '"code":"file_too_large"' in answer
    # 2) chunked, no length: refused as soon as the file passes the limit; what was stored is deleted
    def body():
        yield head
        for _ in range(limit * 3 // 65536):
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    with httpx.Client(timeout=60) as http:
        response = http.post(api.url + "/v1/audio/transcriptions", content=body(),
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413 and error_of(response)["code"] == "file_too_large"
    assert uploads_left(work_tmp) == []
    assert "big.wav" not in api.log()


def test_a_full_queue_is_429_both_ways(api, speech, page, work_tmp):
    """--queue-size 1: one job runs, one waits; a third, from the API or the page, is refused at once."""
    url = api.url + "/v1/audio/transcriptions"
    results: list[httpx.Response] = []

    def long_job():
        with httpx.Client(timeout=300) as http:
            results.append(http.post(url, data={"vad": "false", "beam_size": "1"},
                                     files={"file": ("varied.wav", speech.varied.read_bytes(), "audio/wav")}))

    threads = [threading.Thread(target=long_job) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.5)
    try:
        assert wait_until(lambda: page.predict(api_name="/status")["jobs"]["running"] == 1 and
                          page.predict(api_name="/status")["jobs"]["waiting"] == 1, 60)
        with httpx.Client(timeout=30) as http:
            started = time.monotonic()
            busy = http.post(url, files={"file": ("fox.wav", speech.fox.read_bytes(), "audio/wav")})
            assert time.monotonic() - started < 5
        assert busy.status_code == 429, busy.text
        assert error_of(busy)["code"] == "queue_full" and int(busy.headers["Retry-After"]) >= 1
        with pytest.raises(Exception, match="(?i)queue is full"):
            page.predict(handle_file(str(speech.fox)), api_name="/transcribe")
    finally:
        for thread in threads:
            thread.join(300)
    assert [r.status_code for r in results] == [200, 200]
    assert all({"city", "council"} <= words(r.json()["text"]) for r in results)
    assert uploads_left(work_tmp) == []


def test_a_client_that_disconnects_cancels_its_job(api, speech, page, work_tmp):
    host, port = api.url.removeprefix("http://").split(":")
    boundary = "b" + uuid.uuid4().hex
    audio = speech.long.read_bytes()
    fields = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                      for k, v in (("vad", "false"), ("beam_size", "5")))
    body = (fields + f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"long.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n".encode() + audio + f"\r\n--{boundary}--\r\n".encode())
    log_before = len(api.log())
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
                      f"boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        assert wait_until(lambda: page.predict(api_name="/status")["jobs"]["running"] == 1, 30)
        time.sleep(1.0)  # the job is on the model now
    assert wait_until(lambda: "job cancelled" in api.log()[log_before:], 30), api.log()[log_before:]
    assert "API client disconnected: cancelling its job" in api.log()[log_before:]
    assert not re.search(r"transcribed [1-9]\d+\.\d s", api.log()[log_before:])  # the 80 s clip was not finished
    # the model serves the next job at once
    with httpx.Client(timeout=60) as http:
        started = time.monotonic()
        response = http.post(api.url + "/v1/audio/transcriptions",
                             files={"file": ("fox.wav", speech.fox.read_bytes(), "audio/wav")})
    assert response.status_code == 200 and {"lazy", "dog"} <= words(response.json()["text"])
    assert time.monotonic() - started < 30
    assert wait_until(lambda: uploads_left(work_tmp) == [], 5)


# --- MCP --------------------------------------------------------------------------------------


async def _mcp(url: str, audio: Path, headers: dict | None = None):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    data = "data:audio/wav;base64," + base64.b64encode(audio.read_bytes()).decode()
    async with streamablehttp_client(url + "/gradio_api/mcp/", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            result = await session.call_tool("transcribe", {"audio": data, "task": "transcribe", "language": "en"})
            other = await session.call_tool("load_model", {"name": "base"})
            return tools, result, other


def test_mcp_lists_one_tool_and_transcribes(api, speech):
    tools, result, other = asyncio.run(_mcp(api.url, speech.english))
    assert [t.name for t in tools] == ["transcribe"]
    assert "Transcribe speech" in tools[0].description
    assert set(tools[0].inputSchema["properties"]) == {"audio", "task", "language"}
    assert not result.isError
    assert {"peter", "london"} <= words(result.content[0].text)
    assert "segments" in result.content[1].text
    assert other.isError and "Unknown tool" in other.content[0].text  # the page's other listeners are not tools


def test_an_mcp_client_that_disconnects_cancels_its_job(api, speech, page, tmp_path):
    """Before: the tool's job ran to its end (107 s more) for a client that had gone; the page and /v1 cancel."""
    host, port = api.url.removeprefix("http://").split(":")
    small = tmp_path / "long-8k.wav"  # the 80 s clip within the mcp library's 4 MB body (as base64)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech.long), "-ar", "8000", "-ac", "1", str(small)], check=True)
    data = "data:audio/wav;base64," + base64.b64encode(small.read_bytes()).decode()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "transcribe", "arguments": {"audio": data, "language": "en"}}}).encode()
    log_before = len(api.log())
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # MCP's stateless Streamable HTTP
        sock.sendall((f"POST /gradio_api/mcp/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                      f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
                      ).encode() + body)
        assert wait_until(lambda: page.predict(api_name="/status")["jobs"]["running"] == 1, 30)
        time.sleep(1.0)  # the job is on the model now
    assert wait_until(lambda: "job cancelled" in api.log()[log_before:], 30), api.log()[log_before:]
    assert "MCP client disconnected: cancelling its job" in api.log()[log_before:]
    assert not re.search(r"transcribed [1-9]\d+\.\d s", api.log()[log_before:])  # the 80 s clip was not finished
    # the model serves the next client at once
    tools, result, _ = asyncio.run(_mcp(api.url, speech.english))
    assert not result.isError and {"peter", "london"} <= words(result.content[0].text)


def test_keys_login_and_mcp_with_a_key(models_dir, tmp_path_factory, speech, tmp_path):
    """--auth with an --api-key-file: the routes and MCP take the key, not a login; a wrong key is 401."""
    key_file = tmp_path / "keys"
    key_file.write_text(f"# keys\n{KEY}\n")
    srv = start_server(tmp_path_factory.mktemp("api-keys"), "--model", "tiny.en", "--model-dir", str(models_dir),
                       "--auth", "admin:secret-pass", "--api-key-file", str(key_file), "--mcp")
    try:
        url = srv.url + "/v1/audio/transcriptions"
        audio = {"file": ("english.wav", speech.english.read_bytes(), "audio/wav")}
        with httpx.Client(timeout=120) as http:
            none = http.post(url, files=audio)
            assert none.status_code == 401 and error_of(none)["code"] == "missing_api_key"
            wrong = http.post(url, files=audio, headers={"Authorization": "Bearer " + OTHER_KEY})
            assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_api_key"
            assert OTHER_KEY not in wrong.text
            assert http.get(srv.url + "/v1/models").status_code == 401
            ok = http.post(url, files=audio, headers={"Authorization": "Bearer " + KEY})
            assert ok.status_code == 200 and {"peter", "london"} <= words(ok.json()["text"])
            mcp_none = http.post(srv.url + "/gradio_api/mcp/", json={})
            assert mcp_none.status_code == 401
        tools, result, _ = asyncio.run(_mcp(srv.url, speech.english, {"Authorization": "Bearer " + KEY}))
        assert [t.name for t in tools] == ["transcribe"] and {"peter"} <= words(result.content[0].text)
        # the tool's function is one of Gradio's endpoints too: a login (no API key) got its transcript there,
        # with or without the key beside it; only the MCP server's path checks keys, so only it answers
        for headers in ({}, {"Authorization": "Bearer " + KEY}):
            client = Client(srv.url, auth=("admin", "secret-pass"), verbose=False, headers=headers)
            with pytest.raises(AppError, match="answers only through the MCP server"):
                client.predict(handle_file(str(speech.english)), "transcribe", "en", api_name="/mcp_transcribe")
        assert "the MCP tool was called outside the MCP server (/gradio_api/" in srv.log()
        assert KEY not in srv.log() and "secret-pass" not in srv.log()
        # (and a login without --admin is warned about at start: nobody may change the model)
        assert "a login (--auth) without --admin: no user may load, switch or unload models" in srv.log()
    finally:
        srv.stop()


# --- the rules (plumbing) --------------------------------------------------------------------------


def _refused(settings: Settings, header: str | None) -> str | None:
    try:
        check_key(settings, header)
    except ApiError as e:
        assert e.status == 401
        return e.code
    return None


def test_key_rules():
    open_local = Settings()
    assert _refused(open_local, None) is None
    login = Settings(auth=(("u", "p"),))
    assert _refused(login, None) == "api_key_required"
    assert _refused(login, "Basic dTpw") == "api_key_required"  # a login is no API credential
    shared = Settings(share=True, share_without_auth=True)
    assert _refused(shared, None) == "api_key_required"
    keyed = Settings(api_key=(KEY,), auth=(("u", "p"),), share=True)
    assert _refused(keyed, None) == "missing_api_key"
    assert _refused(keyed, "Bearer " + OTHER_KEY) == "invalid_api_key"
    assert _refused(keyed, "Bearer " + KEY[:-1]) == "invalid_api_key"
    assert _refused(keyed, "bearer " + KEY) is None


def test_key_settings(tmp_path):
    settings = load_settings(["--api-key", KEY, "--api-key", OTHER_KEY], {})
    assert settings.api_keys == (KEY, OTHER_KEY)
    assert load_settings([], {"WHISPER_UI_API_KEYS": f"{KEY}, {OTHER_KEY}"}).api_keys == (KEY, OTHER_KEY)
    assert load_settings(["--api-key", KEY], {"WHISPER_UI_API_KEYS": OTHER_KEY}).api_keys == (KEY,)
    key_file = tmp_path / "keys"
    key_file.write_text(f"{OTHER_KEY}\n\n# a comment\n")
    assert load_settings(["--api-key-file", str(key_file), "--api-key", KEY], {}).api_keys == (KEY, OTHER_KEY)
    assert load_settings([], {"WHISPER_UI_MCP": "1"}).mcp is True and load_settings([], {}).mcp is False
    with pytest.raises(ConfigError) as short:
        load_settings(["--api-key", "short-key"], {})
    assert "short-key" not in str(short.value) and "too short" in str(short.value)
    assert KEY not in repr(settings)

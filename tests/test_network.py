"""No network at run time: the server opens no connection but to 127.0.0.1, and the page loads nothing from elsewhere.

The server runs under ``strace -f -e trace=%network,...``: every ``connect``,
``sendto`` and ``sendmsg`` of it and of every process it starts (ffmpeg included)
is in the log, DNS lookups too. It is started without ``GRADIO_ANALYTICS_ENABLED``
in its environment and without a proxy, so nothing but the app's own settings keeps
Gradio's analytics, version checks and any hub call away. The test then does what
users and hostile clients do (the page in Chromium, a transcription, links posted in
place of files, the file route asked to fetch URLs, the OpenAI-compatible routes and the
MCP tool), stops the server and reads
the log. The counts are written to ``artifacts/hardening/network.json``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import pytest
from gradio_client import Client, handle_file

from .conftest import ROOT, words
from .harness import GradioCallError, RawGradio, file_data, start_traced_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
REPORT = ROOT / "artifacts" / "hardening"
PAGE_REQUESTS: list[str] = []


@pytest.fixture(scope="module")
def watched(models_dir, tmp_path_factory):
    server = start_traced_server(tmp_path_factory.mktemp("network"), "--model", "tiny.en", "--model-dir",
                                 str(models_dir), "--mcp")
    yield server
    server.stop()


def test_the_app_turns_analytics_off_itself(watched):
    config = httpx.get(watched.url + "/config").json()
    assert config["analytics_enabled"] is False
    assert "GRADIO_ANALYTICS_ENABLED" not in watched.app.environ()
    assert watched.get("/monitoring")[0] in (403, 404)  # enable_monitoring=False


@pytest.mark.browser
def test_the_page_loads_everything_from_the_server(watched, speech):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.on("request", lambda request: PAGE_REQUESTS.append(request.url))
            page = context.new_page()
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(f"{request.url} {request.failure}"))
            page.on("response", lambda response: response.status >= 400 and failed.append(
                f"{response.url} {response.status}"))
            page.goto(watched.url)
            page.wait_for_selector("#upload-file", timeout=30_000)
            for tab in ("microphone", "model", "status", "upload"):
                page.click(f"#tab-{tab}-button")
                page.wait_for_timeout(500)
            page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
            page.wait_for_timeout(500)
            page.click("#upload-run")
            page.wait_for_function("document.querySelector('#upload-text textarea').value.includes('lazy')",
                                   timeout=120_000)
            # what the page asks for after a job (its plots' code, the downloads' links...): Playwright's
            # "networkidle" never comes once the page's heartbeat stream opens during its load events
            page.wait_for_timeout(3000)
            # the page closes its event streams itself once a job is done (ERR_ABORTED): not a failure
            failures = [f for f in failed if not ("/gradio_api/queue/data?" in f and f.endswith("net::ERR_ABORTED"))]
        finally:
            browser.close()
    assert len(PAGE_REQUESTS) > 10
    foreign = [url for url in PAGE_REQUESTS if not url.startswith((watched.url + "/", "data:", "blob:"))]
    assert foreign == [], foreign
    assert failures == [], failures


def test_links_posted_in_place_of_files_are_not_fetched(watched):
    raw = RawGradio(watched.url)
    try:
        for endpoint in ("/transcribe", "/transcribe_microphone"):
            for link in ("https://example.com/talk.mp3", "http://93.184.215.14/talk.wav"):
                with pytest.raises(GradioCallError, match=r"^Links are not fetched: upload the file itself\.$"):
                    raw.call(endpoint, file_data(link), "transcribe", "en", 1, False, "", [])
            # not a link to Gradio (it checks the scheme case by case): a path, and not an uploaded one. Gradio's
            # own refusal named the working directory ("Cannot move /…/HTTP:/example.org/a.wav to the gradio
            # cache dir…"); the app refuses first, in words of its own
            for path in ("HTTP://example.org/a.wav", "file:/etc/passwd", "a.wav", "/etc/passwd"):
                with pytest.raises(httpx.HTTPStatusError) as refused:
                    raw.call(endpoint, file_data(path), "transcribe", "en", 1, False, "", [])
                response = refused.value.response
                assert response.status_code == 400 and "Not an uploaded file" in response.text, response.text
                assert str(ROOT) not in response.text and "Cannot move" not in response.text
    finally:
        raw.close()


def test_the_file_route_does_not_fetch_urls(watched):
    with httpx.Client(base_url=watched.url, timeout=10) as http:
        for target in ("https://example.com/x.wav", "http://93.184.215.14/", "HTTPS://example.com/x",
                       "%68ttps://example.com/x", " https://example.com/x"):
            # file= is the page's file route: a URL there is refused (403); file/ is not served at all (404)
            for route, code in (("/gradio_api/file=", 403), ("/gradio_api/file/", 404)):
                response = http.get(route + target)
                assert response.status_code == code, (route, target, response.status_code)


def test_a_transcription_works_offline(watched, speech, tmp_path):
    client = Client(watched.url, verbose=False, download_files=False, analytics_enabled=False)
    # a WAV (header read in Python, then ffmpeg) and an MP3 (ffprobe, then ffmpeg): every child is traced
    mp3 = tmp_path / "english.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(speech.english), str(mp3)], check=True)
    for path in (speech.english, mp3):
        text = client.predict(handle_file(str(path)), "transcribe", "en", 1, api_name="/transcribe")[0]
        assert {"peter", "london"} <= words(text), path.name


def test_the_openai_routes_and_mcp_work_offline(watched, speech):
    """The OpenAI-compatible routes and the MCP tool, traced like the page."""
    from .test_api import _mcp

    with httpx.Client(timeout=120) as http:
        for response_format in ("json", "verbose_json"):
            response = http.post(watched.url + "/v1/audio/transcriptions", data={"response_format": response_format},
                                 files={"file": ("english.wav", speech.english.read_bytes())})
            assert response.status_code == 200 and {"peter", "london"} <= words(response.json()["text"])
        assert http.get(watched.url + "/v1/models").status_code == 200
    tools, result, _ = asyncio.run(_mcp(watched.url, speech.english))
    assert [t.name for t in tools] == ["transcribe"] and {"peter", "london"} <= words(result.content[0].text)


def test_no_outbound_connection_at_all(watched):
    """Last: stop the server, then read every connection attempt of the run."""
    watched.stop()
    log = watched.strace
    connections = log.connections()
    outbound = log.outbound()
    loopback = [c for c in connections if c[1] in ("AF_INET", "AF_INET6")]
    programs = sorted({p.rsplit("/", 1)[-1] for p in log.programs().values()})
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "network.json").write_text(json.dumps({
        "outbound_attempts": len(outbound),
        "outbound": outbound,
        "loopback_attempts": len(loopback),
        "unix_socket_attempts": len([c for c in connections if c[1] == "AF_UNIX"]),
        "programs_started": programs,
        "page_requests": len(PAGE_REQUESTS),
        "page_requests_elsewhere": [u for u in PAGE_REQUESTS if not u.startswith(watched.url)],
    }, indent=2) + "\n")
    assert outbound == [], outbound
    assert loopback, "the log holds the server's own loopback connections (Gradio's start-up check)"
    assert "ffmpeg" in programs and "ffprobe" in programs  # the children were traced too

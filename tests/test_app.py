"""The running app: ``python app.py`` on 127.0.0.1, driven with gradio_client."""

import re

import pytest
from gradio_client import Client, handle_file

from .conftest import words


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def test_transcribe_endpoint_returns_the_text_first(client, speech):
    text, segments, summary, files = client.predict(handle_file(str(speech.english)), api_name="/transcribe")
    assert {"peter", "london"} <= words(text)
    assert segments["headers"] == ["start", "end", "text"] and segments["data"]
    assert summary["model"] == "tiny.en" and summary["real_time_factor"] > 0  # data, not Markdown
    assert sorted(f.rsplit(".", 1)[1] for f in files) == ["json", "srt", "tsv", "txt", "vtt"]


def test_options_reach_the_model(client, speech):
    text, _, _, files = client.predict(handle_file(str(speech.fox)), "transcribe", "en", 1, True, "", ["srt"],
                                       api_name="/transcribe")
    assert {"quick", "lazy"} <= words(text)
    assert len(files) == 1 and files[0].endswith(".srt")


def test_bad_upload_gets_a_clear_error_and_the_next_request_works(client, speech, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"this is not audio at all\n" * 50)
    with pytest.raises(Exception, match="not audio or video that can be read"):
        client.predict(handle_file(str(bad)), api_name="/transcribe")
    text = client.predict(handle_file(str(speech.morning)), api_name="/transcribe")[0]
    assert "morning" in words(text)


def test_health_and_readiness(server):
    assert server.get("/healthz")[0] == 200
    status, body = server.get("/readyz")
    assert status == 200 and b'"ready"' in body and b"tiny.en" in body


def test_server_logs_each_job_with_its_real_time_factor(server, client, speech):
    client.predict(handle_file(str(speech.english)), api_name="/transcribe")
    log = server.log()
    assert "model tiny.en ready on cpu" in log
    assert "real-time factor" in log and re.search(r"language en 100%, \d+ characters", log)
    assert "Peter" not in log  # users' words are not logged at INFO (SECURITY.md "The log")

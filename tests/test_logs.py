"""What the operator reads: normal events (a refused upload, an unknown language, a failed download, a
link in place of a file, a cancel) are one log line each and never a traceback; Gradio's start-up hints
that name its own launch() arguments are the app's words."""

import re
import time

import pytest
from gradio_client import Client, handle_file

from .conftest import OFFLINE, start_server
from .test_browser import long_speech  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("logs"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base,small", env=OFFLINE)
    yield server
    server.stop()


def new_lines(app, since: int) -> str:
    return app.log()[since:]


def test_normal_events_are_one_line_each_and_no_traceback(app, speech, long_speech, tmp_path):  # noqa: F811
    client = Client(app.url, verbose=False)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"these are not samples " * 200)
    events = [
        ("a file that is not audio", lambda: client.predict(handle_file(str(not_audio)), api_name="/transcribe"),
         "not audio or video that can be read"),
        ("an unknown language", lambda: client.predict(handle_file(str(speech.fox)), "transcribe", "xx",
                                                       api_name="/transcribe"), "Unknown language"),
        ("a failed download", lambda: client.predict("small", "openai-whisper", api_name="/load_model"),
         "Could not download model 'small'"),
    ]
    for what, call, words in events:
        before = len(app.log())
        with pytest.raises(Exception, match=re.escape(words)):
            call()
        time.sleep(0.5)
        lines = new_lines(app, before)
        assert "Traceback" not in lines, f"{what}:\n{lines}"
        assert sum(words in line for line in lines.splitlines()) == 1, f"{what}:\n{lines}"
    # a cancel through the API: one line, and no "exception was never retrieved" afterwards
    before = len(app.log())
    job = client.submit(handle_file(str(long_speech)), api_name="/transcribe")
    deadline = time.monotonic() + 60
    while "speech detection" not in new_lines(app, before) and "decoding" not in new_lines(app, before):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    job.cancel()
    deadline = time.monotonic() + 30
    while "job cancelled" not in new_lines(app, before):
        assert time.monotonic() < deadline, new_lines(app, before)
        time.sleep(0.2)
    time.sleep(2)
    lines = new_lines(app, before)
    assert lines.count("job cancelled") == 1 and "Traceback" not in lines and "never retrieved" not in lines, lines
    assert client.predict(handle_file(str(speech.fox)), api_name="/transcribe")[0]  # and the next job runs


def test_start_up_speaks_of_the_apps_own_flags(app):
    log = app.log()
    assert "--share" in log and "launch()" not in log and "GRADIO_SERVER_PORT" not in log
    assert "HTTP Request" not in log  # gradio_client's own requests at start

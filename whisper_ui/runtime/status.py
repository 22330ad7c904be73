"""What the Status tab and ``/status`` show: device, memory, model state, jobs, versions, and the
last minutes of memory and jobs (``History``, one sample every few seconds, kept whether or not
anyone looks).

Cheap to call every few seconds: no model access, no locks held for long;
the ffmpeg version is read once.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..engines.base import imported_torch
from . import nvml
from .manager import ModelManager

_MB = 1024 * 1024


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    ffmpeg = shutil.which("ffmpeg")
    ffmpeg_version = "not found"
    if ffmpeg:
        try:
            first = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, timeout=10).stdout
            ffmpeg_version = first.split()[2] if first.startswith("ffmpeg version") else first.split("\n")[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            ffmpeg_version = "unknown"
    return {"torch": package("torch"), "openai-whisper": package("openai-whisper"),
            "faster-whisper": package("faster-whisper"), "ctranslate2": package("ctranslate2"),
            "gradio": package("gradio"), "ffmpeg": ffmpeg_version}


@functools.lru_cache(maxsize=1)
def _gpu_name() -> str | None:
    torch = imported_torch()
    if torch is not None:
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    gpu = nvml.gpu_memory()  # a faster-whisper process, which never imports torch
    return gpu.name if gpu else None


def memory(engine: str | None = None) -> dict[str, Any]:
    """Process and system memory; on a GPU, the device's used memory (the driver's count, which holds
    CTranslate2's buffers as well as torch's) and, for openai-whisper, what torch has allocated."""
    import psutil

    process = psutil.Process()
    system = psutil.virtual_memory()
    info: dict[str, Any] = {
        "process_rss_mb": round(process.memory_info().rss / _MB, 1),
        "system_used_mb": round((system.total - system.available) / _MB),
        "system_total_mb": round(system.total / _MB),
        "cuda_used_mb": None,
        "cuda_total_mb": None,
    }
    if _gpu_name() is None:
        return info
    torch = imported_torch()
    if torch is not None and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        info["cuda_used_mb"] = round((total - free) / _MB)
        info["cuda_total_mb"] = round(total / _MB)
        # torch's allocator knows only openai-whisper's tensors; CTranslate2 allocates on its own
        info["cuda_allocated_mb"] = round(torch.cuda.memory_allocated() / _MB) if engine != "faster-whisper" else None
    else:
        gpu = nvml.gpu_memory()
        if gpu is not None:
            info["cuda_used_mb"] = round(gpu.used_bytes / _MB)
            info["cuda_total_mb"] = round(gpu.total_bytes / _MB)
    return info


def jobs(state, queued: int | None = None) -> dict[str, int]:
    """Running, waiting, done. Waiting: the jobs at the model's lock (the API's, and a page job behind
    one) plus the page's jobs in Gradio's queue (``queued``), which have not reached the lock: each
    job is counted once, wherever it waits."""
    return {"running": state.jobs_running, "waiting": state.jobs_waiting + (queued or 0), "done": state.jobs_done}


def collect(manager: ModelManager, queued: int | None = None) -> dict[str, Any]:
    """A JSON-able snapshot. ``queued``: jobs waiting in the web queue, if known."""
    state = manager.state
    gpu = _gpu_name()
    return {
        "device": f"GPU: {gpu}" if gpu else "CPU",
        "device_setting": manager.device_setting,
        "model": asdict(state),
        "jobs": jobs(state, queued),
        "recent_jobs": manager.recent_jobs(),
        "engine": state.engine or manager.engine_name,
        "compute_type": state.compute_type,
        "memory": memory(state.engine),
        "versions": versions(),
        **({"replicas": replicas(manager)} if hasattr(manager.engine, "replicas") else {}),
    }


def replicas(manager: ModelManager) -> list[dict[str, Any]]:
    """With ``--backend ray``: each replica's node, device, model, state, memory (MB) and jobs done."""
    return [{"node": r["node"], "device": r["device"], "model": r["model"], "engine": r["engine"], "state": r["state"],
             "memory_mb": r["memory_mb"], "gpu_memory_mb": r["gpu_memory_mb"], "jobs_done": r["jobs_done"],
             "replica": r["replica"], "pid": r["pid"], "error": r["error"]} for r in manager.engine.replicas()]


HISTORY_SECONDS = 5.0  # one sample every 5 s...
HISTORY_SPAN = 600.0  # ...over the last 10 minutes


def sample(manager: ModelManager, queued: int | None = None, snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
    """One point of the history: the time, memory (MB) and jobs; from ``snapshot`` (``collect``'s) if given."""
    if snapshot is None:
        state = manager.state
        snapshot = {"memory": memory(state.engine), "jobs": jobs(state, queued)}
    mem, job = snapshot["memory"], snapshot["jobs"]
    return {"at": round(time.time(), 3), "process_mb": mem["process_rss_mb"], "system_mb": mem["system_used_mb"],
            "gpu_mb": mem["cuda_used_mb"], "running": job["running"], "waiting": job["waiting"], "done": job["done"]}


class History:
    """The last ``span`` seconds of ``sample``, one every ``every`` seconds, in a ring; a daemon thread
    samples from ``start`` until the manager closes (``ModelManager.closing``) or ``stop``."""

    def __init__(self, manager: ModelManager, queued: Callable[[], int | None] = lambda: None,
                 every: float = HISTORY_SECONDS, span: float = HISTORY_SPAN):
        self.manager, self.queued, self.every = manager, queued, every
        self._samples: deque[dict[str, Any]] = deque(maxlen=max(2, int(span / every)))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self) -> dict[str, Any]:
        point = sample(self.manager, self.queued())
        with self._lock:
            self._samples.append(point)
        return point

    def samples(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._samples)

    def start(self) -> History:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="whisper-ui-status-history", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        closing = self.manager.closing
        while not (self._stop.is_set() or closing.is_set()):
            try:
                self.record()
            except Exception:  # a sample is worth nothing next to the thread going on  # noqa: BLE001
                pass
            self._stop.wait(self.every)

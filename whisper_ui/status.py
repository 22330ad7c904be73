"""What the Status tab and ``/status`` show: device, memory, model state, jobs, versions.

Cheap to call every few seconds: no model access, no locks held for long;
the ffmpeg version is read once.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import nvml
from .engine import imported_torch
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


def collect(manager: ModelManager, queued: int | None = None) -> dict[str, Any]:
    """A JSON-able snapshot. ``queued``: jobs waiting in the web queue, if known."""
    state = manager.state
    gpu = _gpu_name()
    return {
        "device": f"GPU: {gpu}" if gpu else "CPU",
        "device_setting": manager.device_setting,
        "model": asdict(state),
        "jobs": {"running": state.jobs_running, "waiting": state.jobs_waiting + (queued or 0),
                 "done": state.jobs_done},
        "engine": state.engine or manager.engine_name,
        "compute_type": state.compute_type,
        "memory": memory(state.engine),
        "versions": versions(),
    }

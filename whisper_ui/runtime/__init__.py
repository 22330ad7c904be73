"""What the app runs on, without Gradio: the model manager (``manager``), the service the page and the
API call (``service``), what the Status tab shows (``status``, ``nvml``), and, here, how they are built
from settings with the engines (``create_service``, ``create_engines``) and the engine's runtime (torch
threads). Above the engines; below the page (``ui``), the web app (``web``) and the entry points."""

from __future__ import annotations

from ..core.settings import Settings


def create_service(settings: Settings, engine=None):
    """Build the manager and service from settings (an engine may be injected by tests)."""
    from .manager import ModelManager
    from .service import TranscriptionService

    engines = engine or create_engines(settings)
    remote = next(iter(engines.values())) if isinstance(engines, dict) else engines
    backend = getattr(remote, "backend", None)  # --backend ray: as many jobs at once as replicas
    manager = ModelManager(engines, settings.model, settings.device, settings.idle_unload_minutes * 60,
                           default_engine=None if engine is not None else settings.engine,
                           max_job_seconds=settings.max_job_minutes * 60, compute_budget=settings.compute_budget,
                           concurrency=backend.concurrency if backend is not None else 1)
    return TranscriptionService(settings, manager)


def create_engines(settings: Settings) -> dict:
    """Both engines over the same model folder; ``--engine`` picks the one used at start. With ``--backend
    ray`` both run in replicas on Ray Serve (``whisper_ui.engines.ray_backend``), and this process never loads a model."""
    if settings.backend == "ray":
        from ..engines.ray_backend import ray_engines

        return ray_engines(settings)
    from ..engines.faster import FasterWhisperEngine
    from ..engines.openai_whisper import WhisperEngine

    return {"openai-whisper": WhisperEngine(settings.model_dir, settings.threads),
            "faster-whisper": FasterWhisperEngine(settings.model_dir, settings.compute_type, settings.batch_size,
                                                  settings.threads)}


def configure_runtime(settings: Settings) -> None:
    """The engine's runtime, before anything loads: torch for openai-whisper (its threads), nothing
    to set for faster-whisper, whose process never imports torch (~220 MB); both log what they found.
    With ``--backend ray`` the replicas do this for themselves."""
    if settings.backend == "ray":
        return
    if settings.engine == "openai-whisper":
        from ..engines.openai_whisper import configure_torch

        configure_torch(settings.threads)
    else:
        from ..engines.faster import log_runtime

        log_runtime(settings.threads)


__all__ = ["configure_runtime", "create_engines", "create_service"]

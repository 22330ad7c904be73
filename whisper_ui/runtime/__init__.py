"""What the app runs on, built from settings: the engines, the model manager and the service, and the
engine's runtime (torch threads). Below both ``cli`` (the commands) and ``server`` (the web app)."""

from __future__ import annotations

from .settings import Settings


def create_service(settings: Settings, engine=None):
    """Build the manager and service from settings (an engine may be injected by tests)."""
    from .manager import ModelManager
    from .service import TranscriptionService

    engines = engine or create_engines(settings)
    remote = next(iter(engines.values())) if isinstance(engines, dict) else engines
    backend = getattr(remote, "backend", None)  # --backend ray: as many jobs at once as replicas
    manager = ModelManager(engines, settings.model, settings.device, settings.idle_unload_minutes * 60,
                           default_engine=None if engine is not None else settings.engine,
                           max_job_seconds=settings.max_job_minutes * 60,
                           concurrency=backend.concurrency if backend is not None else 1)
    return TranscriptionService(settings, manager)


def create_engines(settings: Settings) -> dict:
    """Both engines over the same model folder; ``--engine`` picks the one used at start. With ``--backend
    ray`` both run in replicas on Ray Serve (``whisper_ui.ray_backend``), and this process never loads a model."""
    if settings.backend == "ray":
        from .ray_backend import ray_engines

        return ray_engines(settings)
    from .engine import WhisperEngine
    from .faster import FasterWhisperEngine

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
        from .engine import configure_torch

        configure_torch(settings.threads)
    else:
        from .faster import log_runtime

        log_runtime(settings.threads)


__all__ = ["configure_runtime", "create_engines", "create_service"]

"""A model replica on Ray Serve (``--backend ray``): the app's own model manager and engine, one job
at a time, in a Ray worker process of its own (on its own GPU with ``--ray-gpus-per-replica 1``).

The front (``engines.ray_backend``) keeps the page, the API, the decoding and the limits; it sends
each job's 16 kHz samples (int16, through Ray's object store) and options here and gets the
segments as they are finished, then the ``TranscriptionResult``. A replica says what it is doing
(node, device, model, state, memory, jobs done) to a small named actor, the ``Registry``, every
``HEARTBEAT_SECONDS`` and after each change: the front's Status tab and ``/status`` read the replicas
there. The model is the deployment's ``user_config`` (``{"model", "engine"}``): Serve calls
``reconfigure`` on each replica, which switches after its running job (the manager's rule: the new
model's files first, the old one loaded back if the new one fails to load).

What the front and the replicas share (the names, the ``Registry``, the deployment) is in
``engines.ray_serve``; this host sits with the entry points because it builds the manager
(``runtime``), above the engines. ``whisper_ui.ray_replica:build_app`` is the application's import
path for ``serve run`` and a RayService's Serve config.

Importing this module imports Ray: only ``--backend ray`` does (the front's first deployment).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import serve

from .core.errors import WhisperUIError
from .engines.ray_serve import HEARTBEAT_SECONDS, deployment, error_record, registry

log = logging.getLogger(__name__)

class WhisperReplica:
    """One replica: ``settings`` are the front's (model folder, engine, device, threads, job time limit)."""

    def __init__(self, settings: dict[str, Any]):
        from .core.logs import setup_logging
        from .core.settings import Settings
        from .runtime import configure_runtime, create_engines
        from .runtime.manager import ModelManager

        setup_logging(settings.get("log_level", "INFO"))
        self.settings = Settings().replace(**{**settings, "model_dir": Path(settings.get("model_dir") or Settings().model_dir)})
        configure_runtime(self.settings)
        self.manager = ModelManager(create_engines(self.settings), self.settings.model, self.settings.device,
                                    default_engine=self.settings.engine,
                                    max_job_seconds=self.settings.max_job_minutes * 60)
        context = serve.get_replica_context()
        self.replica_id = context.replica_id.unique_id
        self.node = socket.gethostname()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.pid = os.getpid()
        self.registry = registry()
        self._stop = threading.Event()
        threading.Thread(target=self._heartbeat, name="whisper-ui-replica-heartbeat", daemon=True).start()
        log.info("replica %s on %s (pid %d): engine %s, device %s", self.replica_id, self.node, self.pid,
                 self.settings.engine, self.settings.device)

    # --- what the replica says of itself ---------------------------------------------------

    def info(self) -> dict[str, Any]:
        from .runtime.status import memory

        state = self.manager.state
        mem = memory(state.engine)
        return {"replica": self.replica_id, "node": self.node, "node_id": self.node_id, "pid": self.pid,
                "device": state.device or self.manager.resolve_device(), "model": state.model, "engine": state.engine,
                "compute_type": state.compute_type, "state": "busy" if state.jobs_running and state.ready else state.status,
                "error": state.error or state.last_error, "memory_mb": mem["process_rss_mb"],
                "gpu_memory_mb": mem["cuda_used_mb"], "jobs_done": state.jobs_done,
                "jobs_running": state.jobs_running, "load_seconds": state.load_seconds}

    def report(self, wait: bool = False) -> None:
        try:
            ref = self.registry.report.remote(self.replica_id, self.info())
            if wait:
                ray.get(ref, timeout=10)
        except Exception as e:  # the registry restarting: the next beat tells it  # noqa: BLE001
            log.debug("report to the registry failed: %s", e)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.report()

    def status(self) -> dict[str, Any]:
        return self.info()

    def check_health(self) -> None:
        """Serve's health check: the process answers (a failed model is a state, shown, not a dead replica)."""
        self.report()

    def __del__(self):
        """Serve calls this when it stops the replica (scaling down, an update): the registry forgets it."""
        self._stop.set()
        try:
            ray.get(self.registry.gone.remote(self.replica_id), timeout=5)
        except Exception:  # noqa: BLE001 -- it is forgotten after FORGET_SECONDS anyway
            pass

    # --- the model ---------------------------------------------------------------------------

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Serve's ``user_config``: load ``config["model"]`` with ``config["engine"]`` (after the running job).
        A model that cannot be had leaves the replica up with its state and error shown: the front reads
        them from the registry and says so; a replica that failed to start would only be restarted."""
        model, engine = config.get("model"), config.get("engine") or self.settings.engine
        if model:
            try:
                self.manager.load(model, engine)
            except WhisperUIError as e:
                log.error("replica %s could not load %s (%s): %s", self.replica_id, model, engine, e)
            except Exception:
                log.exception("replica %s: loading %s failed", self.replica_id, model)
        self.report(wait=True)

    def prepare(self, model: str, engine: str) -> dict[str, Any] | None:
        """Make ``model``'s files ready on this replica's node (download, checksum, conversion) without
        loading it: the front asks before a switch, so a model that cannot be had changes nothing."""
        from .models.sources import canonical_name

        try:
            self.manager.engines[engine].prepare(canonical_name(model))
        except Exception as e:  # noqa: BLE001 -- it goes back to the front as data
            return error_record(e)
        return None

    # --- jobs --------------------------------------------------------------------------------

    async def transcribe(self, samples: np.ndarray, options):
        """Yield ``("progress", done, total, segments)`` as segments are finished, then ``("result",
        TranscriptionResult)`` or ``("error", record)``. A cancelled request (the front's Cancel, its
        disconnect, its time limit) stops the model at its next step."""
        audio = samples.astype(np.float32) / 32768.0 if samples.dtype == np.int16 else samples
        loop = asyncio.get_running_loop()
        news: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def on_progress(done: float, total: float, segments, attempt=None) -> None:
            loop.call_soon_threadsafe(news.put_nowait, ("progress", done, total, segments, attempt))

        job = asyncio.ensure_future(asyncio.to_thread(self.manager.transcribe, audio, options, cancel, on_progress))
        try:
            while not job.done():
                waiting = asyncio.ensure_future(news.get())
                await asyncio.wait({job, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    waiting.cancel()
                    continue
                latest = waiting.result()
                while not news.empty():  # only the latest news: it holds every segment so far
                    latest = news.get_nowait()
                yield latest
            try:
                result = job.result()
            except WhisperUIError as e:
                self.report()
                yield "error", error_record(e)
                return
            self.report()
            yield "result", replace(result, device=f"{result.device} ({self.node})")
        finally:
            if not job.done():  # cancelled: the model stops at its next step; the replica's next job waits for it
                cancel.set()
                log.info("replica %s: job cancelled by the front", self.replica_id)

    async def transcribe_whole(self, samples: np.ndarray, options):
        """``transcribe``'s last answer (the result or the error), for a front on Ray Client, through which
        Serve streams nothing."""
        last = None
        async for answer in self.transcribe(samples, options):
            last = answer
        return last


def build_app(args: dict[str, Any]):
    """Serve's application builder (``serve run whisper_ui.ray_replica:build_app model=base``, or a RayService's
    ``serveConfigV2`` ``import_path``): ``args`` are settings (model, engine, model_dir, device...); the
    deployment's options (replicas, GPUs) come from the Serve config."""
    from .core.settings import Settings

    fields = set(asdict(Settings()))
    settings = {k: v for k, v in args.items() if k in fields}
    return deployment((1, 1), 0, WhisperReplica).options(user_config={"model": settings.get("model", "base"),
                                    "engine": settings.get("engine", "openai-whisper")}).bind(settings)


__all__ = ["WhisperReplica", "build_app"]

"""Launching the page: Gradio's hardened settings, and the health routes.

Gradio's defaults are changed here (see shared/SECURITY-NOTES.md): a bounded
queue, ``api_open=False`` so the REST route cannot skip the queue, an upload
size limit, no monitoring page, no analytics.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from .manager import ModelManager
from .service import TranscriptionService
from .settings import Settings

log = logging.getLogger(__name__)


def health_routes(manager: ModelManager) -> list:
    """``/healthz``: the process serves. ``/readyz``: a model is loaded and ready (503 otherwise)."""
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readyz() -> JSONResponse:
        state = manager.state
        body = {"status": state.status, "model": state.model, "device": state.device}
        if state.error:
            body["error"] = state.error
        return JSONResponse(body, status_code=200 if state.ready else 503)

    return [APIRoute("/healthz", healthz, methods=["GET"]), APIRoute("/readyz", readyz, methods=["GET"])]


def launch(service: TranscriptionService, settings: Settings, prevent_thread_lock: bool = False, **launch_kwargs):
    """Build and launch the page; returns the Blocks (running in the background if prevent_thread_lock)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from .ui import build_app

    demo = build_app(service)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1, api_open=False)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=settings.max_upload_bytes,
        enable_monitoring=False,
        show_error=True,
        quiet=False,
        prevent_thread_lock=prevent_thread_lock,
        app_kwargs={"routes": health_routes(service.manager), "docs_url": None, "redoc_url": None},
        **launch_kwargs,
    )
    return demo


def serve(settings: Settings) -> int:
    from .cli import configure_torch, create_service

    configure_torch(settings)
    service = create_service(settings)
    service.manager.start(preload=settings.preload)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    demo = launch(service, settings, prevent_thread_lock=True)
    log.info("serving on http://%s:%d", settings.host, settings.port)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        log.info("shutting down")
        demo.close()
        service.manager.close()
        service.close()
    return 0

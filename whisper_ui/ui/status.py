"""The Status tab: device, memory, the model's state, jobs, the last error, versions; refreshed every
few seconds while the tab is open (outside the model's queue: it never waits for a job)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import status as status_mod
from ..service import TranscriptionService
from .format import mb, model_line
from .inputs import i18n

STATUS_SECONDS = 2.0


def status_tab(service: TranscriptionService, demo: gr.Blocks, model_queue: str) -> tuple[gr.Tab, gr.Timer]:
    """The tab, and its timer (the app stops it when another tab is chosen)."""
    manager = service.manager

    def _queued() -> int | None:
        try:
            queue = demo._queue.event_queue_per_concurrency_id.get(model_queue)  # Gradio internals: best effort
            return len(queue.queue) if queue is not None else 0
        except AttributeError:
            return None

    def status() -> dict[str, Any]:
        return status_mod.collect(manager, _queued())

    def status_fields():
        s = status()
        m, mem, jobs = s["model"], s["memory"], s["jobs"]
        cuda = (f"{mb(mem['cuda_used_mb'])} / {mb(mem['cuda_total_mb'])}" if mem["cuda_total_mb"] else "no GPU")
        model = model_line(manager.state) if m["model"] else "-"
        if m["fallback"]:
            model += f" — {m['fallback']}"
        load = f"{m['load_seconds']:.1f} s" if m["load_seconds"] is not None else "-"
        versions = " · ".join(f"{k} {v}" for k, v in s["versions"].items())
        job_line = f"{jobs['running']} running, {jobs['waiting']} waiting, {jobs['done']} done"
        if m["last_speech_seconds"] is not None and m["last_audio_seconds"]:
            job_line += (f" · last job: {m['last_speech_seconds']:.1f} s of speech in {m['last_audio_seconds']:.1f} s "
                         f"of audio ({m['last_speech_seconds'] / m['last_audio_seconds']:.0%})")
        return (s["device"], cuda, mb(mem["process_rss_mb"]),
                f"{mb(mem['system_used_mb'])} / {mb(mem['system_total_mb'])}", m["status"], model, load, job_line,
                m["last_error"] or "-", versions, s)

    # --- layout and wiring ---------------------------------------------------------------

    with gr.Tab(i18n("wui_tab_status"), id="status", elem_id="tab-status") as tab:
        with gr.Row():
            device = gr.Textbox(label=i18n("wui_device"), interactive=False, elem_id="status-device")
            cuda_memory = gr.Textbox(label=i18n("wui_gpu_memory"), interactive=False)
            rss = gr.Textbox(label=i18n("wui_process_memory"), interactive=False, elem_id="status-rss")
            system_memory = gr.Textbox(label=i18n("wui_system_memory"), interactive=False)
        with gr.Row():
            state_box = gr.Textbox(label=i18n("wui_model_state"), interactive=False, elem_id="status-state")
            model_box = gr.Textbox(label=i18n("wui_model"), interactive=False, elem_id="status-model")
            load_time = gr.Textbox(label=i18n("wui_load_time"), interactive=False)
            jobs = gr.Textbox(label=i18n("wui_jobs"), interactive=False, elem_id="status-jobs")
        last_error = gr.Textbox(label=i18n("wui_last_error"), interactive=False, elem_id="status-error")
        versions = gr.Textbox(label=i18n("wui_versions"), interactive=False)
        with gr.Accordion("JSON", open=False):
            status_json = gr.JSON(elem_id="status-json")
        refresh = gr.Button(i18n("wui_refresh"), elem_id="status-refresh")
        timer = gr.Timer(STATUS_SECONDS, active=False)


    status_outputs = [device, cuda_memory, rss, system_memory, state_box, model_box, load_time, jobs,
                      last_error, versions, status_json]
    refresh.click(status, None, status_json, api_name="status", queue=False)
    for event in (timer.tick, tab.select, refresh.click):
        event(status_fields, None, status_outputs, api_visibility="private", queue=False)
    tab.select(lambda: gr.Timer(active=True), None, timer, api_visibility="private", queue=False)
    return tab, timer

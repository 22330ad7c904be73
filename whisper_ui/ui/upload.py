"""The Upload tab: a file, its length and estimated time, the options, Transcribe / Cancel, the results."""

from __future__ import annotations

import gradio as gr

from ..errors import WhisperUIError
from ..service import TranscriptionService
from .inputs import UPLOAD_TYPES, i18n, options_panel, results_panel, upload_input
from .jobs import Jobs


def estimate_text(service: TranscriptionService, file: str | None) -> str:
    if not file:
        return ""
    try:
        duration, seconds = service.estimate(file)
    except WhisperUIError as e:
        return f"⚠️ {e}"
    if duration is None:
        return "Length unknown until decoded."
    text = f"Audio: {duration:.1f} s."
    if seconds is not None:
        text += f" Estimated processing time: about {max(seconds, 0.5):.0f} s (from this model's last job)."
    return text


def upload_tab(service: TranscriptionService, jobs: Jobs, job_events: dict) -> gr.Tab:
    settings = service.settings
    with gr.Tab(i18n("wui_tab_upload"), id="upload", elem_id="tab-upload") as tab:
        with gr.Row():
            with gr.Column():
                file = upload_input(label=i18n("wui_file"), file_types=UPLOAD_TYPES, elem_id="upload-file")
                gr.Textbox(f"≤ {settings.max_upload_mb} MB · ≤ {settings.max_audio_minutes:g} min",
                           label=i18n("wui_limits"), interactive=False, elem_id="upload-limits")
                estimate_box = gr.Markdown(elem_id="upload-estimate")
                options = options_panel(settings.vad)
                with gr.Row():
                    run = gr.Button(i18n("wui_transcribe"), variant="primary", elem_id="upload-run")
                    cancel = gr.Button(i18n("wui_cancel"), variant="secondary", interactive=False,
                                       elem_id="upload-cancel")
            with gr.Column():
                results = results_panel("upload")

    run.click(jobs.starts("upload"), None, cancel, queue=False, api_visibility="private").then(
        jobs.transcribe, [file, *options], results, api_name="transcribe", show_progress_on=results[2],
        **job_events).then(jobs.ends, None, cancel, queue=False, api_visibility="private")
    cancel.click(jobs.cancel("upload"), None, cancel, queue=False, api_visibility="private")
    file.upload(lambda path: estimate_text(service, path), file, estimate_box, api_visibility="private",
                concurrency_id="probe", concurrency_limit=4)
    file.clear(lambda: "", None, estimate_box, api_visibility="private", queue=False)
    return tab

"""The Upload tab: a file, its length and estimated time, the options, Transcribe / Cancel, the results."""

from __future__ import annotations

import gradio as gr

from ..core.errors import WhisperUIError
from ..runtime.service import TranscriptionService
from .inputs import UPLOAD_TYPES, i18n, options_panel, results_panel, upload_input
from .jobs import Jobs
from .notice import show_notice, show_runs
from .words import language_events, message, remount_on_language, text


def estimate_text(service: TranscriptionService, file: str | None, request: gr.Request | None = None,
                  beam_size: float = 5, word_timestamps: bool = False) -> str:
    """The file's length and, once this model has run jobs with options like these, about how long this one
    will take: a range ("about 20–35 s")."""
    if not file:
        return ""
    try:
        duration, span = service.estimate(file, int(beam_size or 5), bool(word_timestamps))
    except WhisperUIError as e:
        return f"⚠️ {message(request, e)}"
    if duration is None:
        return text(request, "estimate_unknown")
    line = text(request, "estimate_audio", seconds=f"{duration:.1f}")
    if span is not None:
        low, high = (f"{max(s, 0.5):.0f}" for s in span)
        line += " " + text(request, "estimate_time", seconds=low if low == high else f"{low}–{high}")
    return line


def limits_text(service: TranscriptionService, request: gr.Request | None) -> str:
    settings = service.settings
    return text(request, "limits", mb=settings.max_upload_mb, minutes=f"{settings.max_audio_minutes:g}")


def upload_tab(service: TranscriptionService, jobs: Jobs, job_events: dict, demo: gr.Blocks) -> gr.Tab:
    settings = service.settings
    with gr.Tab(i18n("wui_tab_upload"), id="upload", elem_id="tab-upload") as tab:
        notice = gr.Markdown(visible=False, elem_id="upload-notice")
        with gr.Row():
            with gr.Column():
                file = upload_input(label=i18n("wui_file"), file_types=UPLOAD_TYPES, elem_id="upload-file")
                limits = gr.Markdown(elem_id="upload-limits")  # in the reader's language, when the page opens
                estimate_box = gr.Markdown(elem_id="upload-estimate")
                options = options_panel(settings.vad)
                runs = gr.Markdown(elem_id="upload-runs", elem_classes=["wui-hint"])
                run, cancel = jobs.buttons("upload")
            with gr.Column():
                results = results_panel("upload")

    jobs.wire("upload", run, cancel, jobs.transcribe, [file, *options], results, "transcribe", job_events)
    show_notice(service, demo, tab, run, notice)
    show_runs(service, demo, tab, run, runs)

    def show_limits(request: gr.Request):
        return limits_text(service, request)

    for event in language_events(demo):
        event(show_limits, None, limits, api_visibility="private", queue=False)
    remount_on_language(demo, file)
    def estimate(path: str | None, beam_size: float, word_timestamps: bool, request: gr.Request):
        return estimate_text(service, path, request, beam_size, word_timestamps)

    # options: task, language, beam size, word timestamps... (inputs.options_panel): the estimate follows them
    for event in (file.upload, options[2].release, options[3].change, *language_events(demo)[1:]):
        event(estimate, [file, options[2], options[3]], estimate_box, api_visibility="private",
              concurrency_id="probe", concurrency_limit=4)
    file.clear(lambda: "", None, estimate_box, api_visibility="private", queue=False)
    return tab

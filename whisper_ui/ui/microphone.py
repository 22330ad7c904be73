"""The Microphone tab: the browser's recorder, the options, Transcribe / Cancel, the results."""

from __future__ import annotations

import gradio as gr

from ..service import TranscriptionService
from .inputs import i18n, microphone_input, options_panel, results_panel
from .jobs import Jobs
from .notice import model_notice


def microphone_tab(service: TranscriptionService, jobs: Jobs, job_events: dict, demo: gr.Blocks) -> gr.Tab:
    with gr.Tab(i18n("wui_tab_microphone"), id="microphone", elem_id="tab-microphone") as tab:
        notice = gr.Markdown(visible=False, elem_id="mic-notice")
        with gr.Row():
            with gr.Column():
                recording = microphone_input(service.limits, label=i18n("wui_recording"), elem_id="mic-audio")
                gr.Markdown(i18n("wui_mic_note"))
                options = options_panel(service.settings.vad)
                with gr.Row():
                    run = gr.Button(i18n("wui_transcribe"), variant="primary", elem_id="mic-run")
                    cancel = gr.Button(i18n("wui_cancel"), variant="secondary", interactive=False,
                                       elem_id="mic-cancel")
            with gr.Column():
                results = results_panel("mic")

    run.click(jobs.starts("mic"), None, cancel, queue=False, api_visibility="private").then(
        jobs.transcribe_microphone, [recording, *options], results, api_name="transcribe_microphone",
        show_progress_on=results.line, **job_events).then(jobs.ends, None, cancel, queue=False,
                                                         api_visibility="private")
    cancel.click(jobs.cancel("mic"), None, cancel, queue=False, api_visibility="private")
    show_notice = model_notice(service)
    for event in (demo.load, tab.select, run.click):
        event(show_notice, None, notice, api_visibility="private", queue=False)
    return tab

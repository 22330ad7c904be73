"""The Microphone tab: the browser's recorder, the options, Transcribe / Cancel, the results."""

from __future__ import annotations

import gradio as gr

from ..runtime.service import TranscriptionService
from .inputs import i18n, microphone_input, options_panel, results_panel
from .jobs import Jobs
from .notice import show_notice, show_runs
from .words import remount_on_language


def microphone_tab(service: TranscriptionService, jobs: Jobs, job_events: dict, demo: gr.Blocks) -> gr.Tab:
    with gr.Tab(i18n("wui_tab_microphone"), id="microphone", elem_id="tab-microphone") as tab:
        notice = gr.Markdown(visible=False, elem_id="mic-notice")
        with gr.Row():
            with gr.Column():
                recording = microphone_input(service.limits, label=i18n("wui_recording"), elem_id="mic-audio")
                gr.Markdown(i18n("wui_mic_note"))
                options = options_panel(service.settings.vad)
                runs = gr.Markdown(elem_id="mic-runs", elem_classes=["wui-hint"])
                run, cancel = jobs.buttons("mic")
            with gr.Column():
                results = results_panel("mic")

    jobs.wire("mic", run, cancel, jobs.transcribe_microphone, [recording, *options], results,
              "transcribe_microphone", job_events)
    show_notice(service, demo, tab, run, notice)
    show_runs(service, demo, tab, run, runs)
    remount_on_language(demo, recording)
    return tab

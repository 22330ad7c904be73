"""The notice at the top of the Upload and Microphone tabs while no model can serve a job: what is wrong
and what to do, before anyone clicks Transcribe (a first run on a host without internet, a failed load).
A model that is only being downloaded or loaded gets a short line; a ready or idle-unloaded one nothing."""

from __future__ import annotations

import gradio as gr

from ..core.errors import keyed
from ..runtime.manager import DOWNLOADING, FAILED, LOADING
from ..runtime.service import TranscriptionService
from .words import language, language_events, message, text


def _block(value: str) -> str:
    """Copyable text: a code block (the page gives it a copy button)."""
    return f"\n```text\n{value}\n```\n"


def notice_text(service: TranscriptionService, request: gr.Request | None) -> str:
    """Markdown for the notice, or "" when there is nothing to say."""
    state = service.manager.state
    if state.status == DOWNLOADING:
        percent = "" if state.download_fraction is None else f" {state.download_fraction:.0%}"
        return text(request, "notice_downloading", model=state.model, percent=percent)
    if state.status == LOADING:
        return text(request, "notice_loading", model=state.model)
    if state.status != FAILED:
        return ""
    error = state.error or ""
    key, values = keyed(error) or (None, {})
    lines = [text(request, "notice_failed", model=state.model or "-")]
    if key in ("download_failed", "download_failed_ct2"):
        reason = values["reason"] if language(request) == "ko" else values["reason_en"]
        lines.append(text(request, "notice_offline", model=values["name"], reason=reason))
        lines.append(text(request, "notice_put_file", url=_block(values["url"]), path=_block(values["path"])))
        if key == "download_failed":
            lines.append(text(request, "notice_convert", command=_block(values["command"])))
        else:
            lines.append(text(request, "notice_checkpoint", url=_block(values["checkpoint_url"]),
                              path=_block(values["checkpoint_path"])))
    else:
        lines.append(message(request, error))
    others = [info.name for info in service.offered_models() if info.on_disk or info.ct2_on_disk]
    if others:
        lines.append(text(request, "notice_other_models", models=", ".join(others)))
    return "\n\n".join(lines)


def show_notice(service: TranscriptionService, demo: gr.Blocks, tab: gr.Tab, run: gr.Button,
                notice: gr.Markdown) -> None:
    """The notice (shown only when it says something), said when the page opens, when its tab is chosen and
    when a job is asked for (a failed load says so before the job)."""
    def said(request: gr.Request):
        value = notice_text(service, request)
        return gr.update(value=value, visible=bool(value))

    for event in (*language_events(demo), tab.select, run.click):
        event(said, None, notice, api_visibility="private", queue=False)


def usual_speed(service: TranscriptionService, model: str, engine: str) -> float | None:
    """The median real-time factor of this model's recent jobs on this engine (None before any)."""
    return service.manager.usual_factor(model, engine=engine)


def engines_compared(service: TranscriptionService, request: gr.Request | None, model: str | None) -> list[str]:
    """For the Model tab: how much faster faster-whisper has run this model than openai-whisper on this machine
    (recent jobs of both), where both engines are here; before jobs of both, that it usually is, when the
    engine is openai-whisper. A line, or none."""
    manager = service.manager
    if not model or not {"openai-whisper", "faster-whisper"} <= set(manager.engines):
        return []
    faster, plain = (usual_speed(service, model, name) for name in ("faster-whisper", "openai-whisper"))
    if not faster or not plain:
        return [text(request, "model_compare_unknown")] if manager.engine_name == "openai-whisper" else []
    return [text(request, "model_compare", model=model, ratio=f"{plain / faster:.1f}")]


def runs_text(service: TranscriptionService, request: gr.Request | None) -> str:
    """What will run a job of this tab, and how fast it has been here: "base · openai-whisper · cpu · ~0.7× real
    time" (the engine sat on the Model tab only, out of reach of users without --admin)."""
    manager = service.manager
    state = manager.state
    model, engine = state.model or manager.default_model, state.engine or manager.engine_name
    device = state.device or manager.device_setting
    speed = usual_speed(service, model, engine)
    pace = text(request, "runs_speed", factor=f"{speed:.2g}") if speed else text(request, "runs_no_job")
    return text(request, "runs", model=model, engine=engine, device=device, pace=pace)


def show_runs(service: TranscriptionService, demo: gr.Blocks, tab: gr.Tab, run: gr.Button, line: gr.Markdown) -> None:
    """The tab's line of what runs its jobs, said when the page opens, when the tab is chosen and at each job."""
    def said(request: gr.Request):
        return runs_text(service, request)

    for event in (*language_events(demo), tab.select, run.click):
        event(said, None, line, api_visibility="private", queue=False)

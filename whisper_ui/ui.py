"""The Gradio page. Thin: handlers call the service and turn its errors into ``gr.Error``."""

from __future__ import annotations

import logging

import gradio as gr

from .errors import WhisperUIError
from .service import TranscriptionService
from .transcription import OUTPUT_FORMATS, TranscribeOptions

log = logging.getLogger(__name__)

# Every listener that touches the model shares this queue, one job at a time.
MODEL_QUEUE = "model"
AUTO = "auto"
UPLOAD_TYPES = ["audio", "video", ".wav", ".mp3", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4",
                ".mkv", ".mov", ".aac", ".wma", ".aiff", ".amr", ".avi", ".3gp", ".caf"]
LANGUAGES = [AUTO, "en", "ko", "ja", "zh", "de", "fr", "es", "it", "pt", "ru", "nl", "pl", "tr", "ar", "hi",
             "vi", "th", "id", "uk", "sv"]


def _options(task: str, language: str, beam_size: float, word_timestamps: bool, initial_prompt: str) -> TranscribeOptions:
    try:
        return TranscribeOptions(
            task=task or "transcribe",
            language=None if not language or language == AUTO else language,
            beam_size=int(beam_size or 5),
            word_timestamps=bool(word_timestamps),
            initial_prompt=(initial_prompt or "").strip() or None,
        )
    except ValueError as e:
        raise gr.Error(str(e)) from e


def _segments_table(result) -> list[list]:
    return [[round(s.start, 2), round(s.end, 2), s.text.strip()] for s in result.segments]


def _summary(result) -> str:
    if result.language_probability is not None:
        language = f"{result.language} ({result.language_probability:.0%})"
    else:
        language = result.language or "?"
    return (f"**Language:** {language} · **Audio:** {result.duration:.1f} s · "
            f"**Processing:** {result.processing_seconds:.1f} s · **Real-time factor:** {result.real_time_factor:.2f} · "
            f"**Model:** {result.model} on {result.device}")


def build_app(service: TranscriptionService) -> gr.Blocks:
    settings = service.settings

    def transcribe(file, task="transcribe", language=AUTO, beam_size=5, word_timestamps=False,
                   initial_prompt="", formats=None):
        if not file:
            raise gr.Error("Choose an audio or video file first.")
        options = _options(task, language, beam_size, word_timestamps, initial_prompt)
        chosen = tuple(f for f in (formats if formats is not None else OUTPUT_FORMATS) if f in OUTPUT_FORMATS)
        try:
            job = service.transcribe_file(file, options, chosen)
        except WhisperUIError as e:
            raise gr.Error(str(e)) from e
        for notice in job.result.notices:
            gr.Warning(notice)
        result = job.result
        return result.text, _segments_table(result), _summary(result), [str(p) for p in job.files]

    with gr.Blocks(title="whisper-ui", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("# whisper-ui\nSpeech to text with OpenAI Whisper, on this machine.")
        with gr.Tab("Upload"):
            gr.Markdown(f"Limits: {settings.max_upload_mb} MB, {settings.max_audio_minutes:g} minutes of audio.")
            with gr.Row():
                with gr.Column():
                    file = gr.File(label="Audio or video file", file_types=UPLOAD_TYPES, type="filepath")
                    task = gr.Radio(["transcribe", "translate"], value="transcribe", label="Task")
                    language = gr.Dropdown(LANGUAGES, value=AUTO, label="Language", allow_custom_value=True)
                    beam_size = gr.Slider(1, 10, value=5, step=1, label="Beam size")
                    word_timestamps = gr.Checkbox(False, label="Word timestamps")
                    initial_prompt = gr.Textbox("", label="Initial prompt", lines=1)
                    formats = gr.CheckboxGroup(list(OUTPUT_FORMATS), value=list(OUTPUT_FORMATS), label="Output files")
                    run = gr.Button("Transcribe", variant="primary")
                with gr.Column():
                    text = gr.Textbox(label="Text", lines=8, buttons=["copy"])
                    summary = gr.Markdown()
                    segments = gr.Dataframe(headers=["start", "end", "text"], label="Segments", wrap=True)
                    files = gr.File(label="Downloads", file_count="multiple")
        run.click(
            transcribe,
            [file, task, language, beam_size, word_timestamps, initial_prompt, formats],
            [text, segments, summary, files],
            api_name="transcribe",
            concurrency_id=MODEL_QUEUE,
            concurrency_limit=1,
        )
    return demo

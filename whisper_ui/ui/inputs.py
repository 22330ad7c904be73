"""The page's inputs and result panels: the upload and recorder components (hardened), the options and
what they become (``TranscribeOptions``)."""

from __future__ import annotations

import gradio as gr

from .. import audio as audio_mod
from ..errors import WhisperUIError
from ..i18n import TRANSLATIONS
from ..transcription import MAX_PROMPT_CHARS, OUTPUT_FORMATS, TranscribeOptions

AUTO = "auto"
UPLOAD_TYPES = ["audio", "video", ".wav", ".mp3", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4",
                ".mkv", ".mov", ".aac", ".wma", ".aiff", ".amr", ".avi", ".3gp", ".caf"]
LANGUAGES = [AUTO, "en", "ko", "ja", "zh", "de", "fr", "es", "it", "pt", "ru", "nl", "pl", "tr", "ar", "hi",
             "vi", "th", "id", "uk", "sv", "fi", "da", "no", "cs", "el", "he", "hu", "ro", "ms"]

i18n = gr.I18n(**TRANSLATIONS)


def _uploads_only(component):
    """Refuse a link posted in place of a file. Gradio would download it: a connection to
    the internet that any client can make the server open, past the upload size limit."""
    move = component.async_move_resource_to_block_cache

    async def move_uploads_only(url_or_file_path):
        if isinstance(url_or_file_path, str) and url_or_file_path.lower().startswith(("http:", "https:")):
            raise gr.Error("Links are not fetched: upload the file itself.")
        return await move(url_or_file_path)

    component.async_move_resource_to_block_cache = move_uploads_only
    return component


def upload_input(**kwargs) -> gr.File:
    """A ``gr.File`` that hands the handler the upload's path and leaves nothing behind.

    Gradio 6's own preprocess (``type="filepath"``) also opens an empty temporary file
    in the upload folder on every call and never deletes it. (Replaced on the instance,
    as in ``microphone_input``.)
    """
    from gradio.data_classes import ListFiles
    from gradio.utils import NamedString
    from gradio_client.utils import is_valid_file

    component = _uploads_only(gr.File(type="filepath", **kwargs))

    def preprocess(payload):
        if payload is None:
            return None
        upload = payload[0] if isinstance(payload, ListFiles) else payload
        if component.file_types and not is_valid_file(upload.path, component.file_types):
            raise gr.Error(f"Invalid file type. Please upload a file that is one of these formats: "
                           f"{component.file_types}")
        return NamedString(upload.path)

    component.preprocess = preprocess
    return component


def microphone_input(limits: audio_mod.AudioLimits, **kwargs) -> gr.Audio:
    """A ``gr.Audio`` recorder that never hands a recording to ffmpeg unhardened.

    Gradio's own numpy conversion runs pydub, which runs ffmpeg on whatever was
    posted, with no whitelists or limits. A browser recording is a WAV: it is
    read in memory. Anything else posted to the API goes through the hardened
    decoder. (Replaced on the instance: a subclass would make Gradio write a
    .pyi stub beside this module.)
    """
    component = _uploads_only(gr.Audio(sources=["microphone"], type="numpy", **kwargs))

    def preprocess(payload):
        if payload is None:
            return None
        if not payload.path:
            raise gr.Error("The recording was not received. Record again.")
        try:
            return audio_mod.read_recording(payload.path, limits)
        except WhisperUIError as e:
            raise gr.Error(str(e)) from e

    component.preprocess = preprocess
    return component


def job_options(task: str, language: str, beam_size: float, word_timestamps: bool, initial_prompt: str,
             vad: bool) -> TranscribeOptions:
    try:
        return TranscribeOptions(
            task=task or "transcribe",
            language=None if not language or language == AUTO else language,
            beam_size=int(beam_size or 5),
            word_timestamps=bool(word_timestamps),
            initial_prompt=(initial_prompt or "").strip() or None,
            vad=bool(vad),
        )
    except (ValueError, TypeError) as e:
        raise gr.Error(str(e)) from e


def chosen_formats(formats: list[str] | None) -> tuple[str, ...]:
    return tuple(f for f in (OUTPUT_FORMATS if formats is None else formats) if f in OUTPUT_FORMATS)


def options_panel(vad_default: bool) -> list:
    """The options of a job (task, language, beam, word timestamps, prompt, files, speech detection)."""
    with gr.Accordion(i18n("wui_options"), open=False):
        task = gr.Radio(["transcribe", "translate"], value="transcribe", label=i18n("wui_task"),
                        info=i18n("wui_task_info"))
        language = gr.Dropdown(LANGUAGES, value=AUTO, label=i18n("wui_language"), allow_custom_value=True,
                               info=i18n("wui_language_info"))
        beam = gr.Slider(1, 10, value=5, step=1, label=i18n("wui_beam_size"), info=i18n("wui_beam_info"))
        words = gr.Checkbox(False, label=i18n("wui_word_timestamps"))
        prompt = gr.Textbox("", label=i18n("wui_initial_prompt"), info=i18n("wui_prompt_info"), lines=1,
                            max_length=MAX_PROMPT_CHARS)
        formats = gr.CheckboxGroup(list(OUTPUT_FORMATS), value=list(OUTPUT_FORMATS), label=i18n("wui_formats"))
        vad = gr.Checkbox(vad_default, label=i18n("wui_vad"), info=i18n("wui_vad_info"))
    return [task, language, beam, words, prompt, formats, vad]


def results_panel(prefix: str) -> list:
    """Text, segments, summary (the progress line while a job runs) and downloads: a job's outputs."""
    text = gr.Textbox(label=i18n("wui_text"), lines=8, buttons=["copy"], elem_id=f"{prefix}-text")
    summary = gr.Markdown(elem_id=f"{prefix}-summary")
    segments = gr.Dataframe(headers=["start", "end", "text"], label=i18n("wui_segments"), wrap=True,
                            interactive=False, elem_id=f"{prefix}-segments")
    files = gr.File(label=i18n("wui_downloads"), file_count="multiple", interactive=False, elem_id=f"{prefix}-files")
    return [text, segments, summary, files]

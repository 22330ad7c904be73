"""The page's inputs and result panels: the upload and recorder components (hardened), the options and
what they become (``TranscribeOptions``)."""

from __future__ import annotations

import gradio as gr

from ..core import audio as audio_mod
from ..core.errors import WhisperUIError
from ..core.i18n import TRANSLATIONS
from ..core.languages import language_choices
from ..core.transcription import MAX_LINE_WIDTH, MAX_PROMPT_CHARS, OUTPUT_FORMATS, SubtitleOptions, TranscribeOptions
from .words import language as reader_language
from .words import language_events, refuse

AUTO = "auto"
UPLOAD_TYPES = ["audio", "video", ".wav", ".mp3", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4",
                ".mkv", ".mov", ".aac", ".wma", ".aiff", ".amr", ".avi", ".3gp", ".caf"]

i18n = gr.I18n(**TRANSLATIONS)


def _uploads_only(component):
    """Refuse a link posted in place of a file. Gradio would download it: a connection to
    the internet that any client can make the server open, past the upload size limit."""
    move = component.async_move_resource_to_block_cache

    async def move_uploads_only(url_or_file_path):
        if isinstance(url_or_file_path, str) and url_or_file_path.lower().startswith(("http:", "https:")):
            raise refuse("Links are not fetched: upload the file itself.")
        return await move(url_or_file_path)

    component.async_move_resource_to_block_cache = move_uploads_only
    component.data_model = _FilesOnly(component.data_model)
    return component


class _FilesOnly:
    """A component's data model that refuses a link or a bare string (a URL posted in place of the file)
    with the app's own words, before pydantic does with its own ("Input should be a valid dictionary")."""

    def __init__(self, model):
        self.model = model

    def model_validate(self, value, *args, **kwargs):
        path = value.get("path") if isinstance(value, dict) else value
        if isinstance(path, str) and path.lower().startswith(("http:", "https:")):
            raise refuse("Links are not fetched: upload the file itself.")
        if isinstance(value, str):
            raise refuse("Upload the file itself (gradio_client: handle_file(path)): a name is not a file.")
        return self.model.model_validate(value, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


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
            raise refuse(f"Invalid file type. Please upload a file that is one of these formats: "
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
            raise refuse("The recording was not received. Record again.")
        try:
            return audio_mod.read_recording(payload.path, limits)
        except WhisperUIError as e:
            raise refuse(str(e)) from e

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
        raise refuse(str(e)) from e


def chosen_formats(formats: list[str] | None) -> tuple[str, ...]:
    return tuple(f for f in (OUTPUT_FORMATS if formats is None else formats) if f in OUTPUT_FORMATS)


def options_panel(vad_default: bool) -> list:
    """The options of a job (task, language, beam, word timestamps, prompt, files, speech detection)."""
    with gr.Accordion(i18n("wui_options"), open=False):
        task = gr.Radio([(i18n("wui_choice_transcribe"), "transcribe"), (i18n("wui_choice_translate"), "translate")],
                        value="transcribe", label=i18n("wui_task"),
                        info=i18n("wui_task_info"))
        # every language Whisper knows, by name ("Korean · 한국어 (ko)"), searchable; the value is the code; named
        # in the reader's language when the page loads (named_languages)
        language = gr.Dropdown([(i18n("wui_auto_detect"), AUTO), *language_choices()], value=AUTO, filterable=True,
                               label=i18n("wui_language"), allow_custom_value=True, info=i18n("wui_language_info"))
        beam = gr.Slider(1, 10, value=5, step=1, label=i18n("wui_beam_size"), info=i18n("wui_beam_info"))
        words = gr.Checkbox(False, label=i18n("wui_word_timestamps"))
        prompt = gr.Textbox("", label=i18n("wui_initial_prompt"), info=i18n("wui_prompt_info"), lines=1,
                            max_length=MAX_PROMPT_CHARS)
        formats = gr.CheckboxGroup(list(OUTPUT_FORMATS), value=list(OUTPUT_FORMATS), label=i18n("wui_formats"))
        vad = gr.Checkbox(vad_default, label=i18n("wui_vad"), info=i18n("wui_vad_info"))
        with gr.Accordion(i18n("wui_subtitles"), open=False):  # openai-whisper CLI's subtitle options
            with gr.Row():
                line_width = gr.Number(0, minimum=0, maximum=MAX_LINE_WIDTH, precision=0, step=1,
                                       label=i18n("wui_max_line_width"), info=i18n("wui_max_line_width_info"))
                line_count = gr.Number(0, minimum=0, maximum=MAX_LINE_WIDTH, precision=0, step=1,
                                       label=i18n("wui_max_line_count"), info=i18n("wui_max_line_count_info"))
            highlight = gr.Checkbox(False, label=i18n("wui_highlight_words"), info=i18n("wui_highlight_words_info"))

    def named_languages(request: gr.Request):  # the languages' names in the reader's language, searchable in it
        return gr.Dropdown(choices=[(i18n("wui_auto_detect"), AUTO), *language_choices(reader_language(request))])

    for event in language_events(gr.context.Context.root_block):
        event(named_languages, None, language, queue=False, show_progress="hidden", api_visibility="private")
    return [task, language, beam, words, prompt, formats, vad, line_width, line_count, highlight]


def subtitle_options(max_line_width: float | None, max_line_count: float | None, highlight_words: bool,
                     request: gr.Request | None = None) -> SubtitleOptions:
    """The subtitle options of a job (0 or nothing: no limit)."""
    from . import words

    width, count = (int(v) if v else None for v in (max_line_width, max_line_count))
    if count is not None and width is None:
        raise words.error(request, "job_line_count_needs_width")
    try:
        return SubtitleOptions(width, count, bool(highlight_words))
    except (ValueError, TypeError) as e:
        raise refuse(str(e)) from e


# the results' looks: a table whose text wraps and whose headers never break inside a word (Korean breaks
# between any two syllables unless told to keep words), a word's time beside it on hover or focus, unsure words
# dotted; and the page's: Korean lines break between words ("단어별 타|임스탬프" no more); on a phone (600 px and
# less) a table (.wui-fit) shares the screen's width among its columns, and their text wraps
RESULTS_CSS = """
.wui-segments th, .wui-segments th * { word-break: keep-all; overflow-wrap: normal; white-space: nowrap; }
.wui-segments [role=gridcell] { cursor: pointer; }
.wui-segments [role=gridcell] .cell-wrap { word-break: keep-all; overflow-wrap: break-word; }
.wui-segments [role=gridcell][data-col="2"] { font-family: var(--font); line-height: 1.9; }
.wui-segments [role=gridcell]:is([data-col="0"], [data-col="1"]) .cell-wrap,
.wui-segments [role=gridcell]:is([data-col="0"], [data-col="1"]) .cell-wrap * { white-space: nowrap; word-break: keep-all; }
.wui-segments .wui-word { white-space: nowrap; border-radius: 3px; }
.wui-segments .wui-word:is(:hover, :focus) { background: var(--color-accent-soft); outline: none; }
.wui-segments .wui-word:is(:hover, :focus)::after { content: " " attr(data-t); font-family: var(--font-mono);
  font-size: 0.8em; color: var(--body-text-color-subdued); }
.wui-segments .wui-unsure { text-decoration: underline dotted; }
.wui-player audio { width: 100%; margin-top: var(--spacing-md); }
.wui-files .label-clear-button { display: none; }
.wui-hint p { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
html[lang|=ko] .gradio-container { word-break: keep-all; overflow-wrap: break-word; }
@media (max-width: 600px) {
  .wui-fit table.header-table { table-layout: fixed; width: 100% !important; }
  .wui-fit :is(th, td) { width: auto !important; min-width: 0 !important; max-width: none !important; }
  .wui-fit .body-cell { flex: 1 1 0 !important; width: auto !important; min-width: 0 !important; }
  .wui-fit :is(th, .body-cell), .wui-fit :is(th, .body-cell) * { white-space: normal !important;
    word-break: keep-all !important; overflow-wrap: break-word; font-size: var(--text-xs); font-family: var(--font); }
  .wui-fit :is(th, .body-cell) { padding: var(--size-1) !important; }
  .wui-segments table.header-table { table-layout: fixed; width: 100% !important; }
  .wui-segments :is(th, td, .body-cell):nth-child(-n+2) { width: 4.6rem !important; min-width: 4.6rem !important;
    max-width: 4.6rem !important; flex: 0 0 4.6rem !important; }
  .wui-segments :is(th, td, .body-cell):nth-child(3) { width: auto !important; min-width: 0 !important;
    max-width: none !important; flex: 1 1 0 !important; }
  .wui-segments [role=gridcell]:is([data-col="0"], [data-col="1"]) { font-size: var(--text-sm); }
}
"""

# Where each tab's audio is: the upload's link, the recording's player. A click on a segment plays it from
# the segment's start in the panel's own player (the browser streams the file the page already has).
AUDIO_SOURCES = {"upload": "#upload-file", "mic": "#mic-audio"}

SEEK_JS = """(start) => {
  const box = document.querySelector(%(player)s);
  const source = document.querySelector(%(source)s);
  if (!box || !source || start === null || start === undefined) return;
  const link = source.querySelector('a[href*="file="]');
  const media = source.querySelector('audio[src]:not([src=""]), video[src]:not([src=""])');
  const src = link ? link.href : (media ? media.src : null);
  if (!src) return;
  let audio = box.querySelector('audio');
  if (!audio) {
    audio = document.createElement('audio');
    audio.controls = true;
    audio.preload = 'auto';
    box.appendChild(audio);
  }
  if (audio.dataset.src !== src) { audio.dataset.src = src; audio.src = src; }
  const play = () => { audio.currentTime = start; audio.play().catch(() => {}); };
  if (audio.readyState >= 1) play(); else audio.addEventListener('loadedmetadata', play, {once: true});
}"""


def _segment_start(evt: gr.SelectData) -> float | None:
    row = evt.row_value or []
    try:
        return float(row[0])
    except (IndexError, TypeError, ValueError):
        return None


class Results(list):
    """A job's outputs (text, segments, summary, files), and ``line``: where the page shows its progress."""

    line: gr.Markdown


def results_panel(prefix: str) -> Results:
    """A job's outputs, as the API names them: text, segments, summary (data) and files.

    The page also shows the summary as a line (the progress while a job runs) in the reader's language,
    and plays the audio from a segment's start when the segment is clicked."""
    import json

    from . import words
    from .format import HEADERS, rows

    text = gr.Textbox(label=i18n("wui_text"), lines=8, buttons=["copy"], elem_id=f"{prefix}-text")
    line = gr.Markdown(elem_id=f"{prefix}-summary")
    summary = gr.JSON(label="summary", visible="hidden", elem_id=f"{prefix}-summary-data")
    segments = gr.Dataframe(headers=list(HEADERS), label=i18n("wui_segments"), wrap=True, interactive=False,
                            datatype=["number", "number", "html"], column_widths=["16%", "16%", "68%"],
                            elem_id=f"{prefix}-segments", elem_classes=["wui-segments"])
    gr.HTML(f"<style>{RESULTS_CSS}</style>", elem_id=f"{prefix}-player", elem_classes=["wui-player"],
            js_on_load=None)
    gr.Markdown(i18n("wui_player"), elem_classes=["wui-hint"])
    files = gr.File(label=i18n("wui_downloads"), file_count="multiple", interactive=False, elem_id=f"{prefix}-files",
                    elem_classes=["wui-files"])  # its "×" (Gradio shows one beside each of several files) hidden
    seek = gr.Number(visible="hidden", elem_id=f"{prefix}-seek")
    for component, name in ((text, "text"), (segments, "segments"), (summary, "summary"), (files, "files")):
        component.wui_api_name = name  # what the API calls it (api_docs.describe_api)

    def show_summary(data: dict | None, request: gr.Request) -> str:
        return words.summary_text(data, request)

    def empty_table(table, request: gr.Request):  # the headers in the reader's language before any job
        if table is not None and len(table):  # a job's rows (a language picked after it: gradio_words relabels)
            return gr.skip()
        return rows((), [words.text(request, key) for key in ("col_start", "col_end", "col_text")])

    private = dict(queue=False, show_progress="hidden", api_visibility="private")
    summary.change(show_summary, summary, line, **private)
    root = gr.context.Context.root_block
    root.load(empty_table, segments, segments, **private)
    for event in words.language_events(root)[1:]:  # a language picked in Settings
        event(empty_table, segments, segments, **private)
        event(show_summary, summary, line, **private)
    segments.select(_segment_start, None, seek, queue=False, show_progress="hidden", api_visibility="private").then(
        None, seek, None, js=SEEK_JS % {"player": json.dumps(f"#{prefix}-player"),
                                        "source": json.dumps(AUDIO_SOURCES.get(prefix, f"#{prefix}-audio"))},
        queue=False, show_progress="hidden", api_visibility="private")
    results = Results([text, segments, summary, files])
    results.line = line
    return results

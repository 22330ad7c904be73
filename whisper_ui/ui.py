"""The Gradio page: Upload, Microphone, Model and Status tabs.

Thin on purpose: handlers call the service (``whisper_ui.service``) and turn
its ``WhisperUIError`` into ``gr.Error``. Functions first, then the layout,
then the wiring. Every listener that uses the model shares one queue
(``MODEL_QUEUE``, one at a time); the status refresh does not touch the model
and runs outside that queue, only while the Status tab is open.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import Any

import gradio as gr
import numpy as np

from . import audio as audio_mod
from . import i18n as i18n_mod
from . import status as status_mod
from .errors import CancelledError, WhisperUIError
from .i18n import TRANSLATIONS, say
from .service import TranscriptionService
from .settings import cache_environment
from .transcription import MAX_PROMPT_CHARS, OUTPUT_FORMATS, TranscribeOptions, TranscriptionResult

log = logging.getLogger(__name__)

MODEL_QUEUE = "model"  # the concurrency_id of every listener that uses the model
MCP_ENDPOINT = "mcp_transcribe"  # the API name of the MCP tool "transcribe" (with --mcp)
AUTO = "auto"
UPLOAD_TYPES = ["audio", "video", ".wav", ".mp3", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4",
                ".mkv", ".mov", ".aac", ".wma", ".aiff", ".amr", ".avi", ".3gp", ".caf"]
LANGUAGES = [AUTO, "en", "ko", "ja", "zh", "de", "fr", "es", "it", "pt", "ru", "nl", "pl", "tr", "ar", "hi",
             "vi", "th", "id", "uk", "sv", "fi", "da", "no", "cs", "el", "he", "hu", "ro", "ms"]
STATUS_SECONDS = 2.0
STREAM_SECONDS = 0.25  # how often a running job's page hears of new segments (and the job checks its client)

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


def _options(task: str, language: str, beam_size: float, word_timestamps: bool, initial_prompt: str,
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


def _formats(formats: list[str] | None) -> tuple[str, ...]:
    return tuple(f for f in (OUTPUT_FORMATS if formats is None else formats) if f in OUTPUT_FORMATS)


def _clock(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}" if whole >= 3600 else f"{whole // 60:02d}:{whole % 60:02d}"


def _rows(segments) -> list[list]:
    return [[round(s.start, 2), round(s.end, 2), s.text.strip()] for s in segments]


def _segments_table(result: TranscriptionResult) -> list[list]:
    return _rows(result.segments)


def _summary(result: TranscriptionResult) -> str:
    if result.language_probability is not None:
        language = f"{result.language} ({result.language_probability:.0%})"
    else:
        language = f"{result.language or '?'}"
    if len(result.languages) > 1:
        language = ", ".join(f"{lang} {share:.0%}" for lang, share in result.languages)
    speech = "" if result.speech_seconds is None else f" ({result.speech_seconds:.1f} s of speech)"
    return (f"**Language:** {language} · **Audio:** {result.duration:.1f} s{speech} · "
            f"**Processing:** {result.processing_seconds:.1f} s · "
            f"**Real-time factor:** {result.real_time_factor:.2f} · **Model:** {result.model} on {result.device} "
            f"({result.engine})")


def _mb(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} GB" if value >= 1000 else f"{value:.0f} MB"


def _size(nbytes: int | None) -> str:
    return "-" if nbytes is None else _mb(nbytes / 1e6)


def _model_line(state) -> str:
    """"base on cpu · faster-whisper int8": what serves the next job."""
    return f"{state.model} on {state.device} · {state.engine} {state.compute_type or ''}".rstrip()


def build_app(service: TranscriptionService) -> gr.Blocks:
    settings = service.settings
    manager = service.manager

    # --- jobs ------------------------------------------------------------------

    def _client_gone(request: gr.Request | None) -> bool:
        """Whether the client of this job has gone: Gradio marks a running job dead when its
        event stream closes, but lets it run on, holding the model for nobody."""
        session = getattr(request, "session_hash", None)
        if session is None:
            return False
        try:  # Gradio internals: best effort
            return any(job.session_hash == session and not job.alive
                       for jobs in demo._queue.active_jobs if jobs for job in jobs)
        except AttributeError:
            return False

    running: dict[tuple[str, str], threading.Event] = {}  # (session, tab) -> the cancel flag of its running job
    cancelled_early: set[tuple[str, str]] = set()  # (session, tab) whose job was cancelled while it waited

    def _key(request: gr.Request | None, tab: str) -> tuple[str, str]:
        return getattr(request, "session_hash", None) or "", tab

    def job_starts(tab: str):
        """Before a job is queued (queue=False): Cancel becomes active, an earlier cancel is forgotten."""
        def start(request: gr.Request):
            cancelled_early.discard(_key(request, tab))
            return gr.update(interactive=True)
        return start

    def job_ends():
        return gr.update(interactive=False)

    def cancel_job(tab: str):
        """The Cancel button: stops this user's job of this tab at the model's next step (what was
        transcribed stays on the page), or, if it is still waiting, before it starts."""
        def cancel(request: gr.Request):
            key = _key(request, tab)
            flag = running.get(key)
            if flag is not None:
                flag.set()
            else:
                cancelled_early.add(key)
            return gr.update(interactive=False)
        return cancel

    def _progress_line(language: str, done: float, total: float, elapsed: float) -> str:
        line = say("progress", language, done=_clock(done), total=_clock(total))
        if done > 0 and elapsed > 1:
            line += " · " + say("left", language, seconds=max(1, round(elapsed / done * (total - done))))
        return line

    async def _run_job(work, request: gr.Request | None, tab: str):
        """Run ``work(cancel, on_progress)`` in a worker thread, yielding the page's outputs (text,
        segments, summary, files) as segments are finished, with one progress line in seconds of audio.

        The tab's Cancel button sets the job's flag: the model stops at its next step and the page
        keeps what was transcribed, saying "Cancelled". A client's cancel through the API (Gradio
        cancels this generator), a closed page or a disconnect set it too."""
        language = i18n_mod.language_of(request.headers.get("accept-language") if request is not None else None)
        key = _key(request, tab)
        if key in cancelled_early:
            cancelled_early.discard(key)
            yield "", [], say("cancelled_before", language), None
            return
        cancel = threading.Event()
        news: list = [None]  # the latest (done, total, segments) from the model's thread

        def on_progress(done: float, total: float, segments) -> None:
            news[0] = (done, total, segments)

        running[key] = cancel
        started = time.monotonic()
        worker = asyncio.ensure_future(asyncio.to_thread(work, cancel, on_progress))
        shown = None
        try:
            yield "", [], say("starting", language), None
            while not worker.done():
                await asyncio.wait({worker}, timeout=STREAM_SECONDS)
                if not cancel.is_set() and _client_gone(request):
                    log.info("client disconnected: cancelling its job")
                    cancel.set()
                if news[0] is not None and news[0] is not shown and not worker.done():
                    shown = news[0]
                    done, total, segments = shown
                    yield ("".join(s.text for s in segments).strip(), _rows(segments),
                           _progress_line(language, done, total, time.monotonic() - started), gr.skip())
            job = worker.result()
        except asyncio.CancelledError:
            cancel.set()
            raise
        except CancelledError as e:
            if not cancel.is_set():  # not this page's cancel (the manager's own stop)
                raise gr.Error(str(e), title="Cancelled") from e
            segments = news[0][2] if news[0] is not None else ()
            yield "".join(s.text for s in segments).strip(), _rows(segments), say("cancelled", language), None
            return
        except WhisperUIError as e:
            raise gr.Error(str(e)) from e
        finally:
            running.pop(key, None)
        for notice in job.result.notices:
            gr.Warning(notice)
        result = job.result
        yield result.text, _segments_table(result), _summary(result), [str(p) for p in job.files]

    async def transcribe(file: str | None, task: str = "transcribe", language: str = AUTO, beam_size: float = 5,
                         word_timestamps: bool = False, initial_prompt: str = "", formats: list[str] | None = None,
                         vad: bool | None = None, request: gr.Request = None):
        if not file:
            raise gr.Error("Choose an audio or video file first.")
        options = _options(task, language, beam_size, word_timestamps, initial_prompt,
                           settings.vad if vad is None else vad)
        chosen = _formats(formats)
        async for outputs in _run_job(lambda cancel, report: service.transcribe_file(file, options, chosen, cancel,
                                                                                     report), request, "upload"):
            yield outputs

    async def transcribe_microphone(recording: tuple[int, np.ndarray] | None, task: str = "transcribe",
                                    language: str = AUTO, beam_size: float = 5, word_timestamps: bool = False,
                                    initial_prompt: str = "", formats: list[str] | None = None, vad: bool | None = None,
                                    request: gr.Request = None):
        if recording is None:
            raise gr.Error("Record something first: press the microphone button, speak, then stop.")
        rate, data = recording
        options = _options(task, language, beam_size, word_timestamps, initial_prompt,
                           settings.vad if vad is None else vad)
        chosen = _formats(formats)
        async for outputs in _run_job(lambda cancel, report: service.transcribe_array(rate, data, options, chosen,
                                                                                      cancel, report), request, "mic"):
            yield outputs

    def mcp_transcribe(audio: str | None, task: str = "transcribe", language: str = AUTO) -> tuple[str, dict]:
        """Transcribe speech in an audio or video file to text with Whisper, running on this server (or translate
        it into English). Use it when you have a recording (mp3, wav, m4a, mp4, ogg, flac, webm...) and need its
        words or timed segments. One job runs at a time; long files take a while (about a tenth of their length
        or less on a CPU with small models).

        Args:
            audio: the audio or video file, as a data URI (data:audio/wav;base64,...). Links are not fetched.
            task: "transcribe" (keep the spoken language) or "translate" (into English).
            language: the spoken language as an ISO-639-1 code ("en", "ko", "de"...), or "auto" to detect it.

        Returns:
            text: the whole transcript.
            segments: {"language", "duration", "segments": [{"start", "end", "text"}]}, times in seconds.
        """
        if not audio:
            raise gr.Error("Give the audio file (a data: URI).")
        options = _options(task, language, 5, False, "", settings.vad)
        try:
            with service.api_job():
                job = service.transcribe_file(audio, options, ())
        except WhisperUIError as e:
            raise gr.Error(str(e)) from e
        result = job.result
        return result.text, {"language": result.language, "duration": round(result.duration, 3),
                             "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text.strip()}
                                          for s in result.segments]}

    def estimate(file: str | None) -> str:
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

    # --- model tab -------------------------------------------------------------

    def model_rows() -> list[list]:
        state = manager.state
        rows = []
        for info in service.offered_models():
            loaded = f"✔ {state.engine}" if state.ready and state.model == info.name else ""
            rows.append([info.name + ("" if info.official else " (local)"),
                         _size(info.size_bytes) if info.on_disk else "no",
                         _size(info.ct2_size_bytes) if info.ct2_on_disk else "no",
                         f"~{_mb(info.approx_memory_mb)}", loaded])
        return rows

    def model_state_text() -> str:
        state = manager.state
        lines = [f"**State:** {state.status}" + (f" — {_model_line(state)}" if state.model else "")]
        if state.download_fraction is not None:
            lines.append(f"**Downloading:** {state.download_fraction:.0%}")
        if state.load_seconds is not None:
            lines.append(f"**Load time:** {state.load_seconds:.1f} s")
        engine = manager.engines.get(state.engine or "")
        batch = engine.batch_size_for(state.device) if hasattr(engine, "batch_size_for") and state.device else None
        if batch is not None:  # faster-whisper: say what batching trades
            lines.append(f"**Batching:** {batch} windows at once: faster on a GPU, but its segments are whole "
                         "speech chunks of up to 30 s (coarse subtitles) and it uses one temperature" if batch else
                         "**Batching:** off (`--batch-size N` decodes N windows at once: faster on a GPU, not on "
                         "a CPU)")
        if state.fallback:
            lines.append(f"**Fallback:** {state.fallback}")
        if state.error:
            lines.append(f"**Error:** {state.error}")
        return "  \n".join(lines)

    def is_admin(request: gr.Request | None) -> bool:
        """Without a login everyone is; with one, the users ``--admin`` names."""
        return not settings.credentials or getattr(request, "username", None) in settings.admin

    def admin(request: gr.Request | None, action: str) -> str:
        """The user doing an admin ``action``, logged; anyone else gets an error (checked here, in the
        server: the page's read-only Model tab is only a courtesy)."""
        user = getattr(request, "username", None)
        if not is_admin(request):
            log.warning("refused to %s for user %s: not an admin (--admin)", action, ascii(user))
            raise gr.Error(f"Only an administrator may {action} (the server's --admin).", title="Not allowed")
        log.info("%s %s: %s", "admin" if settings.credentials else "local user", user or "-", action)
        return user or ""

    def load_model(name: str, engine: str | None = None, progress=gr.Progress(track_tqdm=True),
                   request: gr.Request = None):
        if not name:
            raise gr.Error("Choose a model first.")
        admin(request, f"load model {name} ({engine or manager.engine_name})")
        progress(0, desc=f"Loading {name}")
        try:
            state = manager.load(name, engine or None)
        except WhisperUIError as e:
            raise gr.Error(str(e)) from e
        if state.fallback:
            gr.Warning(state.fallback)
        else:
            gr.Info(f"{state.model} is ready on {state.device} ({state.engine}, {state.compute_type}).")
        return model_state_text(), model_rows()

    def unload_model(request: gr.Request = None):
        admin(request, "unload the model")
        manager.unload()
        return model_state_text(), model_rows()

    def refresh_models():
        return model_state_text(), model_rows()

    # --- old caches (migration) ------------------------------------------------------

    def _cache_entries():
        from .hfcache import find_whisper_caches, select_entries

        entries = find_whisper_caches(cache_environment(), sys.platform, keep=settings.model_dir)
        return select_entries(entries, ())

    def cache_rows():
        from .hfcache import find_whisper_caches, human_size

        entries = find_whisper_caches(cache_environment(), sys.platform, keep=settings.model_dir)
        rows = [[e.kind, e.name + (" (kept: app model folder)" if e.in_model_dir else ""), human_size(e.size),
                 str(e.path)] for e in entries]
        deletable = [e for e in entries if not e.in_model_dir]
        total = sum(e.size for e in deletable)
        summary = (f"{len(deletable)} old Whisper cache {'entry' if len(deletable) == 1 else 'entries'}, "
                   f"{human_size(total)} in all."
                   if deletable else "No old Whisper model files found in the caches.")
        return rows, summary

    def ask_clean(request: gr.Request = None):
        from .hfcache import human_size

        if not is_admin(request):
            admin(request, "clean the old caches")

        entries = _cache_entries()
        if not entries:
            gr.Info("Nothing to clean.")
            return gr.Row(visible=False), ""
        total = sum(e.size for e in entries)
        question = (f"Delete {len(entries)} entries ({human_size(total)})? The app's own model folder is kept. "
                    "This cannot be undone.")
        return gr.Row(visible=True), question

    def confirm_clean(request: gr.Request = None):
        from .hfcache import clean

        admin(request, "clean the old caches")
        report = clean(_cache_entries(), dry_run=False)
        for error in report.errors:
            gr.Warning(str(error))
        gr.Info(report.summary())
        rows, summary = cache_rows()
        return gr.Row(visible=False), rows, summary

    # --- status ------------------------------------------------------------------

    def _queued() -> int | None:
        try:
            queue = demo._queue.event_queue_per_concurrency_id.get(MODEL_QUEUE)  # Gradio internals: best effort
            return len(queue.queue) if queue is not None else 0
        except AttributeError:
            return None

    def status() -> dict[str, Any]:
        return status_mod.collect(manager, _queued())

    def status_fields():
        s = status()
        m, mem, jobs = s["model"], s["memory"], s["jobs"]
        cuda = (f"{_mb(mem['cuda_used_mb'])} / {_mb(mem['cuda_total_mb'])}" if mem["cuda_total_mb"] else "no GPU")
        model = _model_line(manager.state) if m["model"] else "-"
        if m["fallback"]:
            model += f" — {m['fallback']}"
        load = f"{m['load_seconds']:.1f} s" if m["load_seconds"] is not None else "-"
        versions = " · ".join(f"{k} {v}" for k, v in s["versions"].items())
        job_line = f"{jobs['running']} running, {jobs['waiting']} waiting, {jobs['done']} done"
        if m["last_speech_seconds"] is not None and m["last_audio_seconds"]:
            job_line += (f" · last job: {m['last_speech_seconds']:.1f} s of speech in {m['last_audio_seconds']:.1f} s "
                         f"of audio ({m['last_speech_seconds'] / m['last_audio_seconds']:.0%})")
        return (s["device"], cuda, _mb(mem["process_rss_mb"]),
                f"{_mb(mem['system_used_mb'])} / {_mb(mem['system_total_mb'])}", m["status"], model, load, job_line,
                m["last_error"] or "-", versions, s)

    # --- layout ----------------------------------------------------------------------

    def options_panel():
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
            vad = gr.Checkbox(settings.vad, label=i18n("wui_vad"), info=i18n("wui_vad_info"))
        return [task, language, beam, words, prompt, formats, vad]

    def results_panel(prefix: str):
        text = gr.Textbox(label=i18n("wui_text"), lines=8, buttons=["copy"], elem_id=f"{prefix}-text")
        summary = gr.Markdown(elem_id=f"{prefix}-summary")
        segments = gr.Dataframe(headers=["start", "end", "text"], label=i18n("wui_segments"), wrap=True,
                                interactive=False, elem_id=f"{prefix}-segments")
        files = gr.File(label=i18n("wui_downloads"), file_count="multiple", interactive=False, elem_id=f"{prefix}-files")
        return [text, segments, summary, files]

    limits_text = (f"≤ {settings.max_upload_mb} MB · ≤ {settings.max_audio_minutes:g} min")
    # Gradio deletes uploads (and its copies of result files) older than the retention, checking every sixth of it
    retention = settings.upload_retention_seconds
    with gr.Blocks(title="whisper-ui", analytics_enabled=False, delete_cache=(min(600, max(1, retention // 6)),
                                                                              retention)) as demo:
        gr.Markdown(i18n("wui_intro"))
        with gr.Tabs():
            with gr.Tab(i18n("wui_tab_upload"), id="upload", elem_id="tab-upload") as upload_tab:
                with gr.Row():
                    with gr.Column():
                        file = upload_input(label=i18n("wui_file"), file_types=UPLOAD_TYPES, elem_id="upload-file")
                        gr.Textbox(limits_text, label=i18n("wui_limits"), interactive=False, elem_id="upload-limits")
                        estimate_box = gr.Markdown(elem_id="upload-estimate")
                        upload_options = options_panel()
                        with gr.Row():
                            upload_run = gr.Button(i18n("wui_transcribe"), variant="primary", elem_id="upload-run")
                            upload_cancel = gr.Button(i18n("wui_cancel"), variant="secondary", interactive=False,
                                                      elem_id="upload-cancel")
                    with gr.Column():
                        upload_results = results_panel("upload")
            with gr.Tab(i18n("wui_tab_microphone"), id="microphone", elem_id="tab-microphone") as mic_tab:
                with gr.Row():
                    with gr.Column():
                        recording = microphone_input(service.limits, label=i18n("wui_recording"), elem_id="mic-audio")
                        gr.Markdown(i18n("wui_mic_note"))
                        mic_options = options_panel()
                        with gr.Row():
                            mic_run = gr.Button(i18n("wui_transcribe"), variant="primary", elem_id="mic-run")
                            mic_cancel = gr.Button(i18n("wui_cancel"), variant="secondary", interactive=False,
                                                   elem_id="mic-cancel")
                    with gr.Column():
                        mic_results = results_panel("mic")
            with gr.Tab(i18n("wui_tab_model"), id="model", elem_id="tab-model") as model_tab:
                model_state = gr.Markdown(elem_id="model-state")
                with gr.Row():
                    offered = [info.name for info in service.offered_models()]
                    choice = gr.Dropdown(offered, value=settings.model if settings.model in offered else None,
                                         label=i18n("wui_model"), elem_id="model-choice", allow_custom_value=False)
                    engine_choice = gr.Dropdown(list(manager.engines), value=manager.engine_name,
                                                label=i18n("wui_engine"), info=i18n("wui_engine_info"),
                                                elem_id="model-engine", allow_custom_value=False)
                    read_only_note = gr.Markdown(i18n("wui_read_only"), visible=False, elem_id="model-read-only")
                    load_button = gr.Button(i18n("wui_load"), variant="primary", elem_id="model-load")
                    unload_button = gr.Button(i18n("wui_unload"), elem_id="model-unload")
                models_table = gr.Dataframe(headers=["model", "openai-whisper file", "faster-whisper folder",
                                                     "memory", "loaded"],
                                            label=i18n("wui_models"), interactive=False, elem_id="model-table")
                with gr.Accordion(i18n("wui_old_caches"), open=False):
                    cache_summary = gr.Markdown(elem_id="cache-summary")
                    cache_table = gr.Dataframe(headers=["kind", "name", "size", "path"], interactive=False,
                                               label=i18n("wui_old_caches"), elem_id="cache-table")
                    clean_button = gr.Button(i18n("wui_clean"), variant="stop", elem_id="cache-clean")
                    with gr.Row(visible=False) as confirm_row:
                        confirm_text = gr.Markdown()
                        confirm_button = gr.Button(i18n("wui_confirm_delete"), variant="stop", elem_id="cache-confirm")
                        keep_button = gr.Button(i18n("wui_keep"), elem_id="cache-keep")
            with gr.Tab(i18n("wui_tab_status"), id="status", elem_id="tab-status") as status_tab:
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

        # --- wiring ------------------------------------------------------------------
        model_events = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=1)
        # one progress line (the summary's place) instead of a bar over each output
        job_events = dict(model_events, show_progress="minimal")
        upload_run.click(job_starts("upload"), None, upload_cancel, queue=False, api_visibility="private").then(
            transcribe, [file, *upload_options], upload_results, api_name="transcribe", show_progress_on=upload_results[2],
            **job_events).then(job_ends, None, upload_cancel, queue=False, api_visibility="private")
        upload_cancel.click(cancel_job("upload"), None, upload_cancel, queue=False, api_visibility="private")
        file.upload(estimate, file, estimate_box, api_visibility="private", concurrency_id="probe",
                    concurrency_limit=4)
        file.clear(lambda: "", None, estimate_box, api_visibility="private", queue=False)

        mic_run.click(job_starts("mic"), None, mic_cancel, queue=False, api_visibility="private").then(
            transcribe_microphone, [recording, *mic_options], mic_results, api_name="transcribe_microphone",
            show_progress_on=mic_results[2], **job_events).then(job_ends, None, mic_cancel, queue=False,
                                                                api_visibility="private")
        mic_cancel.click(cancel_job("mic"), None, mic_cancel, queue=False, api_visibility="private")

        load_button.click(load_model, [choice, engine_choice], [model_state, models_table], api_name="load_model",
                          **model_events)
        unload_button.click(unload_model, None, [model_state, models_table], api_name="unload_model",
                            **model_events)
        def model_controls(request: gr.Request):
            allowed = is_admin(request)
            return (*(gr.update(interactive=allowed) for _ in admin_controls),
                    gr.update(visible=not allowed))

        admin_controls = [choice, engine_choice, load_button, unload_button, clean_button]
        for event in (demo.load, model_tab.select):
            event(model_controls, None, [*admin_controls, read_only_note], api_visibility="private", queue=False)
        model_tab.select(refresh_models, None, [model_state, models_table], api_visibility="private", queue=False)
        model_tab.select(lambda: manager.engine_name, None, engine_choice, api_visibility="private", queue=False)
        model_tab.select(cache_rows, None, [cache_table, cache_summary], api_visibility="private", queue=False)
        clean_button.click(ask_clean, None, [confirm_row, confirm_text], api_visibility="private", queue=False)
        keep_button.click(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private", queue=False)
        confirm_button.click(confirm_clean, None, [confirm_row, cache_table, cache_summary],
                             api_visibility="private", concurrency_id="cache", concurrency_limit=1)

        status_outputs = [device, cuda_memory, rss, system_memory, state_box, model_box, load_time, jobs,
                          last_error, versions, status_json]
        refresh.click(status, None, status_json, api_name="status", queue=False)
        for event in (timer.tick, status_tab.select, refresh.click):
            event(status_fields, None, status_outputs, api_visibility="private", queue=False)
        status_tab.select(lambda: gr.Timer(active=True), None, timer, api_visibility="private", queue=False)
        for tab in (upload_tab, mic_tab, model_tab):
            tab.select(lambda: gr.Timer(active=False), None, timer, api_visibility="private", queue=False)

        if settings.mcp:  # the one MCP tool (see mcp_tools_only): hidden from the page
            with gr.Group(visible=False):
                tool_audio = upload_input(label="audio", file_types=UPLOAD_TYPES)
                tool_task = gr.Radio(["transcribe", "translate"], value="transcribe", label="task")
                tool_language = gr.Textbox(AUTO, label="language")
                tool_text = gr.Textbox(label="text")
                tool_segments = gr.JSON(label="segments")
                tool_button = gr.Button()
            tool_button.click(mcp_transcribe, [tool_audio, tool_task, tool_language], [tool_text, tool_segments],
                              api_name=MCP_ENDPOINT, queue=False)
    return demo


QUEUE_POLL_SECONDS = 0.02
PROGRESS_POLL_SECONDS = 0.1


def share_model_queue(demo: gr.Blocks, service: TranscriptionService) -> None:
    """One queue for the model: the page's jobs and the API's count together against ``--queue-size``.

    The service learns how many of the page's model jobs are in Gradio's queue (waiting or running),
    and Gradio refuses a page job when the API's jobs fill the queue (Gradio internals, replaced on
    the instance; ``tests/test_api.py`` checks both directions)."""
    queue = demo._queue

    pushing = 0  # page jobs admitted here and not yet in Gradio's queue (its push awaits a lock first)

    def page_jobs() -> int:
        try:
            events = queue.event_queue_per_concurrency_id.get(MODEL_QUEUE)
            return pushing + (0 if events is None else len(events.queue) + events.current_concurrency)
        except AttributeError:
            return pushing

    push = queue.push

    async def push_sharing(body, request, username):
        nonlocal pushing
        fn = demo.fns.get(body.fn_index) if body.fn_index is not None else None
        if fn is None or fn.concurrency_id != MODEL_QUEUE:
            return await push(body, request, username)
        if service.queue_full():
            return False, f"Queue is full. Max size is {service.settings.queue_size} and size is " \
                f"{service.model_jobs() - 1}.", "queue_full"
        pushing += 1  # the check and this count are one step of the event loop: two pushes cannot both pass
        try:
            return await push(body, request, username)
        finally:
            pushing -= 1

    queue.push = push_sharing
    service.page_jobs = page_jobs
    # Gradio's loops look for queued events every 1 ms and for progress every 10 ms, busy or idle: 5 % of
    # a core and a thousand GIL hand-offs a second beside the model's thread (bench/README.md, Engines).
    # A job waits up to 20 ms more to start; the progress bar moves ten times a second.
    queue.sleep_when_free = QUEUE_POLL_SECONDS
    queue.progress_update_sleep_when_free = PROGRESS_POLL_SECONDS


def mcp_tools_only(demo: gr.Blocks) -> None:
    """Gradio's MCP server makes every public endpoint a tool; only one is: ``transcribe``."""
    server = getattr(demo, "mcp_server_obj", None)
    if server is not None:
        server.tool_to_endpoint = {"transcribe": "/" + MCP_ENDPOINT}


def launch_kwargs() -> dict[str, Any]:
    """What ``demo.launch`` needs from this module."""
    # no "Runs" link: the run-history routes are not served (server.RouteGuard), so it led nowhere
    return {"i18n": i18n, "footer_links": ["api", "gradio", "settings"]}


__all__ = ["build_app", "launch_kwargs", "mcp_tools_only", "share_model_queue", "MODEL_QUEUE"]

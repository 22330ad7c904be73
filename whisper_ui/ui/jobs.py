"""A user's job on the page: run in a worker thread, its text streamed as segments are finished, one
progress line in seconds of audio, and a Cancel button of its tab that stops it (what was transcribed
stays on the page)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import gradio as gr
import numpy as np

from ..core.errors import CancelledError, WhisperUIError
from ..runtime.service import SpeakerRequest, TranscriptionService
from . import words
from .api_docs import describe_api
from .format import progress, rows, summary
from .inputs import AUTO, chosen_formats, i18n, job_options, subtitle_options

log = logging.getLogger("whisper_ui.ui")

STREAM_SECONDS = 0.25  # how often a running job's page hears of new segments (and the job checks its client)
WAIT_SECONDS = 1.0  # how often a waiting job's page hears of its place in the queue


class Jobs:
    """The page's jobs, per session and tab (``upload``, ``mic``): their cancel flags and handlers."""

    def __init__(self, demo: gr.Blocks, service: TranscriptionService):
        self.demo = demo
        self.service = service
        self.running: dict[tuple[str, str], threading.Event] = {}  # (session, tab) -> its running job's cancel flag
        self.cancelled_early: set[tuple[str, str]] = set()  # (session, tab) whose job was cancelled while it waited
        self.waiting: dict[str, gr.Timer] = {}  # tab -> its timer while a job waits its turn (``buttons``)
        self.waiting_line: dict[str, gr.Markdown] = {}  # tab -> where the waiting job's place is written
        describe_api(demo)

    @staticmethod
    def _key(request: gr.Request | None, tab: str) -> tuple[str, str]:
        return getattr(request, "session_hash", None) or "", tab

    def _client_gone(self, request: gr.Request | None) -> bool:
        """Whether the client of this job has gone: Gradio marks a running job dead when its
        event stream closes, but lets it run on, holding the model for nobody."""
        session = getattr(request, "session_hash", None)
        if session is None:
            return False
        try:  # Gradio internals: best effort
            return any(job.session_hash == session and not job.alive
                       for jobs in self.demo._queue.active_jobs if jobs for job in jobs)
        except AttributeError:
            return False

    # --- the Cancel button ----------------------------------------------------------

    def starts(self, tab: str):
        """Before a job is queued (queue=False): Cancel becomes active, an earlier cancel is forgotten, and the
        tab's waiting timer starts (``waits``)."""
        def start(request: gr.Request):
            self.cancelled_early.discard(self._key(request, tab))
            return gr.update(interactive=True), gr.Timer(active=True)
        return start

    # --- a job waiting its turn -------------------------------------------------------------

    def position(self, request: gr.Request | None, api_name: str, queue_id: str) -> dict | None:
        """This session's job of this endpoint while it waits in Gradio's queue for the model: the jobs ahead
        (the page's running and waiting before it, the API's admitted) and about how long they take (the
        median of this model's recent jobs); None once it runs, or if it is not there."""
        session = getattr(request, "session_hash", None)
        try:  # Gradio internals: best effort
            events = self.demo._queue.event_queue_per_concurrency_id.get(queue_id)
            if session is None or events is None:
                return None
            index = next((i for i, event in enumerate(events.queue)
                          if event.session_hash == session and event.fn.api_name == api_name), None)
            running = events.current_concurrency
        except AttributeError:
            return None
        if index is None:
            return None
        ahead = running + index + self.service.api_jobs
        model = self.service.manager.state.model
        took = sorted(job["processing_seconds"] for job in self.service.manager.recent_jobs()
                      if job.get("model") == model and job.get("processing_seconds"))
        each = took[len(took) // 2] if took else None
        return {"status": "waiting", "ahead": ahead,
                "seconds_ahead": max(1, round(each * ahead)) if each and ahead else None}

    def waits(self, tab: str, api_name: str, queue_id: str):
        """The waiting timer's tick: the job's place in the queue, in the reader's language, on a line of its own
        under the buttons until it starts (a user waiting behind another's job saw nothing but, at best,
        Gradio's English "queue: 1/1"); then the line empties and the timer stops."""
        def wait(request: gr.Request):
            place = self.position(request, api_name, queue_id)
            if place is None or self._key(request, tab) in self.running:
                return "", gr.Timer(active=False)
            return words.summary_text(place, request), gr.skip()
        return wait

    @staticmethod
    def ends():
        return gr.update(interactive=False), gr.Timer(active=False), ""

    def buttons(self, tab: str) -> tuple[gr.Button, gr.Button]:
        """A tab's Transcribe and Cancel, side by side (Cancel active only while this user's job of it runs), and
        the tab's waiting timer (``waits``), made here, inside the tab: one among the tabs breaks their bar."""
        with gr.Row():
            run = gr.Button(i18n("wui_transcribe"), variant="primary", elem_id=f"{tab}-run")
            cancel = gr.Button(i18n("wui_cancel"), variant="secondary", interactive=False, elem_id=f"{tab}-cancel")
        self.waiting[tab] = gr.Timer(WAIT_SECONDS, active=False)
        self.waiting_line[tab] = gr.Markdown(elem_id=f"{tab}-waiting")  # Gradio's own tracker has the summary line
        return run, cancel

    def wire(self, tab: str, run: gr.Button, cancel: gr.Button, handler, inputs: list, results, api_name: str,
             job_events: dict) -> None:
        """Transcribe: Cancel on, the job (outputs streamed, progress on the summary line), Cancel off; Cancel."""
        private = dict(queue=False, api_visibility="private")
        summary = results[2]
        waiting = self.waiting[tab]
        place = self.waiting_line[tab]
        job = run.click(self.starts(tab), None, [cancel, waiting], **private).then(
            handler, inputs, results, api_name=api_name, show_progress_on=results.line, **job_events)
        job.then(self.ends, None, [cancel, waiting, place], show_progress="hidden",
                 **private)  # after a job that ended well (Gradio 6: only then)
        job.failure(failed_after, summary, [summary, cancel, waiting, place], show_progress="hidden", **private)
        waiting.tick(self.waits(tab, api_name, job_events["concurrency_id"]), None, [place, waiting],
                     show_progress="hidden", **private)
        cancel.click(self.cancel(tab), None, cancel, **private)

    def cancel(self, tab: str):
        """The Cancel button: stops this user's job of this tab at the model's next step (what was
        transcribed stays on the page), or, if it is still waiting, before it starts."""
        def cancel(request: gr.Request):
            key = self._key(request, tab)
            flag = self.running.get(key)
            if flag is not None:
                flag.set()
            else:
                self.cancelled_early.add(key)
            return gr.update(interactive=False)
        return cancel

    # --- running a job ----------------------------------------------------------------

    async def run(self, work, request: gr.Request | None, tab: str, prior: float | None = None):
        """Run ``work(cancel, on_progress)`` in a worker thread, yielding the page's outputs (text,
        segments, summary, files) as segments are finished; the summary is data (``format.summary``), while
        the job runs its progress in seconds of audio (``format.progress``), which the page writes as a line.

        The tab's Cancel button sets the job's flag: the model stops at its next step and the page
        keeps what was transcribed, saying "Cancelled". A client's cancel through the API (Gradio
        cancels this generator), a closed page or a disconnect set it too."""
        headers = [words.text(request, key) for key in ("col_start", "col_end", "col_text")]
        key = self._key(request, tab)
        if key in self.cancelled_early:
            self.cancelled_early.discard(key)
            yield "", rows((), headers), {"status": "cancelled", "before_start": True}, None
            return
        cancel = threading.Event()
        news: list = [None]  # the latest (done, total, segments) from the model's thread

        def on_progress(done: float, total: float, segments, attempt: tuple[int, int] | None = None) -> None:
            news[0] = (done, total, segments, attempt)

        self.running[key] = cancel
        started = time.monotonic()
        worker = asyncio.ensure_future(asyncio.to_thread(work, cancel, on_progress))
        shown = None
        try:
            yield "", rows((), headers), {"status": "starting"}, None
            while not worker.done():
                await asyncio.wait({worker}, timeout=STREAM_SECONDS)
                if not cancel.is_set() and self._client_gone(request):
                    log.info("client disconnected: cancelling its job")
                    cancel.set()
                if news[0] is not None and news[0] is not shown and not worker.done():
                    shown = news[0]
                    done, total, segments, attempt = shown
                    # no files yet, said as None: an update (gr.skip()) makes Gradio keep a copy of the File
                    # component for this session, which then holds the job's files where the retention's sweep
                    # never looks (they stayed until the server stopped)
                    yield ("".join(s.text for s in segments).strip(), rows(segments, headers),
                           progress(done, total, time.monotonic() - started, prior, attempt), None)
            job = worker.result()
        except asyncio.CancelledError:
            cancel.set()
            raise
        except CancelledError as e:
            if not cancel.is_set():  # not this page's cancel (the manager's own stop)
                error = words.page_error(e, request, "job_cancelled_title")
                yield failed(error, headers)
                raise error from e
            segments = news[0][2] if news[0] is not None else ()
            text = "".join(s.text for s in segments).strip()  # and a file of it, to keep
            yield text, rows(segments, headers), {"status": "cancelled", "kept": bool(text)}, self.service.partial(text)
            return
        except WhisperUIError as e:
            error = words.page_error(e, request)
            yield failed(error, headers)  # the line says it until the next job (the toast goes in seconds)
            raise error from e
        finally:
            self.running.pop(key, None)
        for notice in job.result.notices:
            gr.Warning(words.message(request, notice), title=words.text(request, "warning_title"))
        result = job.result
        yield (result.text, rows(result.segments, headers, result.gaps, words.text(request, "gap_no_speech")),
               summary(result), [str(p) for p in job.files])

    # --- the handlers ----------------------------------------------------------------------

    def _prior(self, options) -> float | None:
        """The usual real-time factor of this model's recent jobs with options like these, at the machine's load
        now (None before any): the middle of their range."""
        span = self.service.expected(1.0, options.beam_size, options.word_timestamps)
        return None if span is None else (span[0] + span[1]) / 2

    def _options(self, task, language, beam_size, word_timestamps, initial_prompt, vad, subtitles):
        # the subtitle options need the words' times, as openai-whisper's CLI's do: asking for them asks for those
        return job_options(task, language, beam_size, word_timestamps or subtitles.needs_words, initial_prompt,
                           self.service.settings.vad if vad is None else vad)

    async def transcribe(self, file: str | None, task: str = "transcribe", language: str = AUTO, beam_size: float = 5,
                         word_timestamps: bool = False, initial_prompt: str = "", formats: list[str] | None = None,
                         vad: bool | None = None, max_line_width: float = 0, max_line_count: float = 0,
                         highlight_words: bool = False, request: gr.Request = None):
        if not file:
            async for outputs in refused(request, "job_no_file"):
                yield outputs
        subtitles = subtitle_options(max_line_width, max_line_count, highlight_words, request)
        options = self._options(task, language, beam_size, word_timestamps, initial_prompt, vad, subtitles)
        chosen = chosen_formats(formats)
        speakers = self._speakers(request)
        async for outputs in self.run(lambda cancel, report: self.service.transcribe_file(
                file, options, chosen, cancel, report, subtitles, speakers), request, "upload", self._prior(options)):
            yield outputs

    async def transcribe_microphone(self, recording: tuple[int, np.ndarray] | None, task: str = "transcribe",
                                    language: str = AUTO, beam_size: float = 5, word_timestamps: bool = False,
                                    initial_prompt: str = "", formats: list[str] | None = None,
                                    vad: bool | None = None, max_line_width: float = 0, max_line_count: float = 0,
                                    highlight_words: bool = False, request: gr.Request = None):
        if recording is None:
            async for outputs in refused(request, "job_no_recording"):
                yield outputs
        rate, data = recording
        subtitles = subtitle_options(max_line_width, max_line_count, highlight_words, request)
        options = self._options(task, language, beam_size, word_timestamps, initial_prompt, vad, subtitles)
        chosen = chosen_formats(formats)
        speakers = self._speakers(request)
        async for outputs in self.run(lambda cancel, report: self.service.transcribe_array(
                rate, data, options, chosen, cancel, report, subtitles, speakers), request, "mic",
                self._prior(options)):
            yield outputs

    def _speakers(self, request: gr.Request | None) -> SpeakerRequest:
        """The server's --speakers (the page has no choice of its own yet), named in the reader's language."""
        return SpeakerRequest(self.service.settings.speakers,
                              default_name=words.text(request, "speaker_default", n="{n}"))


def failed(error: gr.Error, headers: list[str]) -> tuple:
    """A failed job's outputs: no text, and its message on the summary line (``status`` "failed"), where
    "Starting…" stayed after the toast had gone."""
    return "", rows((), headers), {"status": "failed", "message": error.message}, None


def failed_after(data: dict | None):
    """After a failed job (Gradio runs no ``then`` listener after one: Cancel stayed active): Cancel off, the
    waiting timer and line off, and a line that still says "Starting…" or a progress (an error before the
    handler could say it: Gradio's own checks of the inputs, an unexpected one) says the job stopped."""
    line = {"status": "failed"} if (data or {}).get("status") in ("starting", "running") else gr.skip()
    return line, gr.update(interactive=False), gr.Timer(active=False), ""


async def refused(request: gr.Request | None, key: str):
    """A job refused before it starts (no file, no recording): the line says why, then the toast."""
    error = words.error(request, key)
    yield failed(error, [words.text(request, k) for k in ("col_start", "col_end", "col_text")])
    raise error

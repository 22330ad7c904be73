"""The engine interface: what turns a model name into a loaded model that transcribes.

The model manager only speaks to ``Engine`` and ``LoadedModel``. Two engines
implement them: openai-whisper (``engines.openai_whisper``, the default) and
faster-whisper (CTranslate2, ``engines.faster``); with ``--backend ray`` a third
(``engines.ray_backend``) sends the jobs to replicas that run one of those two.
A load is two steps: ``prepare`` makes the model's files ready (download,
conversion) while the old model still serves, then ``load`` reads them into
memory once the old model is freed. ``LoadedModel.transcribe`` is what every
engine does around its own ``decode``: speech detection, the language of each
window, the loop guards and the phantom phrases (``engines.vad``, ``engines.phantoms``).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import CancelledError
from ..core.transcription import Segment, TranscribeOptions, TranscriptionResult
from . import vad

log = logging.getLogger("whisper_ui.engine")


@dataclass(frozen=True)
class LoadEvents:
    """Callbacks the manager passes to ``Engine.load`` to follow its progress."""

    on_download: Callable[[], None] = lambda: None
    on_progress: Callable[[int, int | None], None] = lambda done, total: None


Clips = tuple[tuple[float, float], ...]
# a job's progress, as each segment is finished: (seconds of the recording done, its length, the segments so far)
# (seconds done, seconds in all, the segments so far[, attempt]): ``attempt`` is (k, n) while openai-whisper's
# temperature fallback decodes a window again (its k-th try of n), None otherwise
OnProgress = Callable[..., None]
# what an engine's decode reports: (the segments so far, the seconds done[, attempt]), in the time of the audio it got
OnDecoded = Callable[..., None]
JOB_SEED = 0  # the random generator's seed at the start of each job (temperature fallback samples)


class LoadedModel(ABC):
    """A loaded model. ``transcribe`` is the same for every engine: speech detection, the language
    of each region and the loop guard (``engines.vad``) around the engine's own ``decode``."""

    name: str
    device: str
    fp16: bool
    english_only: bool
    engine: str = "openai-whisper"
    compute_type: str = "float32"  # what the weights are computed in: float32, float16, int8...

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions, cancel: threading.Event | None = None,
                   on_progress: OnProgress | None = None) -> TranscriptionResult:
        """Transcribe 16 kHz mono float32 samples. Not thread-safe: the manager serialises calls.

        ``on_progress`` hears of each segment as it is finished (in the recording's time), from the
        model's own thread: it should only hand the news on."""
        started = time.perf_counter()
        language = options.language
        if self.english_only and language not in (None, "en"):
            log.warning("model %s is English-only: ignoring language %s", self.name, language)
        task = "transcribe" if self.english_only else options.task
        speech = vad.detect_speech(audio) if options.vad else None
        plan = vad.plan(audio, vad=options.vad, language=language, english_only=self.english_only,
                        detect=self.detect_language, speech=speech)
        if options.vad:
            log.info("speech detection: %.1f s of speech in %.1f s of audio, %d region(s)", plan.speech_seconds,
                     len(audio) / vad.SAMPLE_RATE, sum(len(run.regions) for run in plan.runs))
        followers: list[vad.Follower] = []
        segments, over_budget = self._decode_plan(audio, options, task, plan, cancel, on_progress, followers)
        segments.sort(key=lambda s: s.start)
        kept, loops = vad.cut_loops(tuple(segments))
        kept, phantoms = _without_phantoms(kept, audio, speech)
        detected = options.language is None and not self.english_only
        shares = vad.language_shares(kept)
        language, probability = plan.language, plan.probability
        if plan.follow and language is None:  # the windows found it: the language most of the text is in
            language = shares[0][0] if shares else next((f.language for f in followers if f.language), None)
            probability = max((p for f in followers if (p := f.probability_of(language)) is not None), default=None)
        return TranscriptionResult(
            text="".join(s.text for s in kept).strip(),
            segments=kept,
            language=language,
            language_probability=probability if detected else None,
            duration=len(audio) / vad.SAMPLE_RATE,
            processing_seconds=time.perf_counter() - started,
            model=self.name,
            device=self.device,
            task=task,
            notices=tuple(loops + phantoms) + ((cancel.budget_notice,) if over_budget else ()),
            engine=self.engine,
            speech_seconds=plan.speech_seconds,
            languages=shares,
            gaps=plan.gaps,
        )

    def _decode_plan(self, audio: np.ndarray, options: TranscribeOptions, task: str, plan: vad.Plan,
                     cancel: threading.Event | None, on_progress: OnProgress | None,
                     followers: list[vad.Follower]) -> tuple[list[Segment], bool]:
        """Each run of the plan through the engine's ``decode``: the segments, in the recording's time, and whether
        the job's compute budget stopped it (``runtime.manager``; the segments are then those decoded by then)."""
        started = time.perf_counter()
        segments: list[Segment] = []
        total = len(audio) / vad.SAMPLE_RATE
        done = 0.0
        current: list[list[Segment]] = [[]]  # the segments of the run being decoded, as the engine reported them

        def reporter(language: str | None, chunks: list[dict[str, int]] | None = None) -> OnDecoded:
            """The engine's news of one run (of the joined speech when ``chunks``), in the recording's
            time, to ``on_progress`` (and kept: a job stopped at its budget keeps them). The engine's list only
            grows: each segment is taken once (a job's news cost O(segments), not its square)."""
            mapped: list[Segment] = []
            current[0] = mapped

            def report(decoded: list[Segment], seconds: float, attempt: tuple[int, int] | None = None) -> None:
                nonlocal done
                done = max(done, min(total, seconds))
                mapped.extend(replace(s, language=s.language or language) for s in decoded[len(mapped):])
                if on_progress is not None:
                    so_far = segments + mapped
                    ordered = tuple(sorted(so_far, key=lambda s: s.start) if len(plan.runs) > 1 else so_far)
                    if attempt is None:
                        on_progress(done, total, ordered)
                    else:
                        on_progress(done, total, ordered, attempt)

            return vad.restoring(report, chunks) if chunks else report

        over_budget = False
        for run in plan.runs:
            try:
                if cancel is not None and cancel.is_set():
                    raise CancelledError("The transcription was cancelled.")
                follow = vad.Follower(run.language, run.probability) if plan.follow else None
                if follow is not None:
                    followers.append(follow)
                if len(plan.runs) == 1 and (not options.vad or vad.whole_file(run.regions, len(audio))):
                    # one run over the whole file (without speech detection, or speech from end to end): the
                    # engine's plain path, as without a plan
                    decoded = self.decode(audio, options, task, run.language, None, cancel, reporter(run.language),
                                          follow)
                else:  # only the speech, joined, and its times mapped back
                    joined, chunks = vad.join(audio, run.regions)
                    decoded = vad.restore(self.decode(joined, options, task, run.language, None, cancel,
                                                      reporter(run.language, chunks), follow), chunks)
            except CancelledError:
                if not getattr(cancel, "budget_spent", False):  # the caller's cancel, a time limit
                    raise
                # the job's compute budget is spent (runtime.manager): it ends with what was decoded by then
                log.warning("compute budget spent after %.1f s: the job ends with %d segment(s) decoded",
                            time.perf_counter() - started, len(segments) + len(current[0]))
                segments.extend(current[0])
                over_budget = True
                break
            segments.extend(replace(s, language=s.language or run.language) for s in decoded)
        return segments, over_budget

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """(language, probability) of up to 30 s of samples."""
        raise NotImplementedError

    def decode(self, audio: np.ndarray, options: TranscribeOptions, task: str, language: str | None,
               clips: Clips | None, cancel: threading.Event | None, report: OnDecoded | None = None,
               follow: vad.Follower | None = None) -> list[Segment]:
        """The engine's decode of ``clips`` (seconds; None: all of it) in ``language``, times in the
        recording's time; ``report`` gets the segments so far as the engine finishes them. With ``follow``,
        each window's language is detected from the encoder output it is decoded from and chosen by
        ``follow.window`` (``language`` is then the first window's, or None to take what it hears), and
        each segment carries the language it was decoded in."""
        raise NotImplementedError

    @abstractmethod
    def unload(self) -> None:
        """Drop the weights so their memory can be freed."""


def _without_phantoms(segments: tuple[Segment, ...], audio: np.ndarray,
                      speech: vad.Speech | None) -> tuple[tuple[Segment, ...], list[str]]:
    """The segments less the stock phrases Whisper invents where no speech is (``engines.phantoms``).
    Speech detection runs here (0.1 s a minute) only when detection was off and such a phrase came."""
    from .phantoms import cut_phantoms, is_phantom

    if not any(is_phantom(s.text, s.language) for s in segments):
        return segments, []
    return cut_phantoms(segments, (speech or vad.detect_speech(audio)).share)


class Engine(ABC):
    name: str

    def prepare(self, model: str, events: LoadEvents | None = None) -> None:
        """Make ``model``'s files ready on disk (download, check, convert), without loading it.

        The manager calls this before it frees the loaded model, so a model that
        cannot be had (offline, bad checksum) never costs the one that serves.
        An engine whose ``load`` needs no files does nothing here.
        """
        return None

    @abstractmethod
    def load(self, model: str, device: str, events: LoadEvents | None = None) -> LoadedModel:
        """Load ``model`` on ``device`` ("cpu" or "cuda")."""

    def compute_type(self, device: str) -> str:
        """The compute type a model of this engine gets on ``device``."""
        return "float16" if device == "cuda" else "float32"

    def cuda_available(self) -> bool:
        """Whether this engine can run on a CUDA GPU here (``--device auto`` picks it then)."""
        import torch

        return torch.cuda.is_available()


def imported_torch():
    """torch if this process has imported it, else None.

    Only the openai-whisper engine needs torch; importing it costs ~220 MB of
    memory and about a second, so a process serving faster-whisper never does.
    Code that only has to react to torch's state (its CUDA cache, its error
    types) asks here instead of importing it.
    """
    return sys.modules.get("torch")


def is_cuda_oom(error: BaseException) -> bool:
    """torch's out-of-memory error, or CTranslate2's ("CUDA failed with error out of memory")."""
    torch = imported_torch()
    if torch is not None and isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("CUDA out of memory" in text or "CUDA failed with error out of memory"
                                                  in text or "CUBLAS_STATUS_ALLOC_FAILED" in text)


def free_memory() -> None:
    gc.collect()
    trim_heap()
    torch = imported_torch()
    if torch is None:
        return  # nothing of torch's to free; CTranslate2 frees its buffers when its model is deleted
    try:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - freeing is best effort
        log.debug("could not empty the CUDA cache", exc_info=True)


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """glibc, for ``malloc_trim`` and ``madvise``; None elsewhere (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.malloc_trim, libc.madvise  # noqa: B018 - both must be there
    except (OSError, AttributeError):
        return None
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return libc


def trim_heap() -> None:
    """Give freed heap memory back to the system (glibc's ``malloc_trim``; 2-8 ms).

    glibc keeps what a job or an unloaded model freed: after a switch from base back
    to tiny.en the process stayed ~180 MB larger than one that only ever loaded
    tiny.en, and each job left 40-90 MB of activations behind.
    """
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)

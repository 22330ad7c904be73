"""The faster-whisper engine: the same Whisper weights run by CTranslate2.

On this project's 2-core CPU it is 3-7x faster than openai-whisper with int8
weights and needs about half the memory (bench/README.md). It speaks the
same ``TranscribeOptions`` -> ``TranscriptionResult`` contract, so the page,
the API and the output writers do not know which engine ran a job.

Model files live in the same model folder as openai-whisper's: a CTranslate2
folder ``<model-dir>/NAME/`` (``model.bin``, ``config.json``,
``tokenizer.json``, ``vocabulary.*``) is used as it is; when only
``NAME.pt`` is there, it is exported once into that folder (lossless fp16,
``whisper_ui.models.export_ct2``), so one offline copy serves both engines; an
official name with neither is downloaded from the ``Systran/faster-whisper-*``
repositories at a pinned revision, every file's hash checked
(``whisper_ui.models.hub``).

faster-whisper transcribes lazily: segments come from a generator, one
30-second window at a time. Progress follows the segments' end times, and a
cancel takes effect between two segments.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CancelledError, ConversionError, ModelError
from ..core.transcription import Segment, TranscribeOptions, Word
from . import vad
from .base import Clips, Engine, LoadedModel, LoadEvents, OnDecoded

log = logging.getLogger("whisper_ui.faster")

SAMPLE_RATE = 16000
AUTO_CUDA_BATCH = 8  # --batch-size auto on a GPU
FALLBACK_BEST_OF = 5  # samples per fallback temperature, at least (faster-whisper's own default best_of)


def resolve_compute_type(setting: str, device: str) -> str:
    """``auto``: int8 on the CPU (fastest there, ~1/4 of fp32's memory), float16 on CUDA."""
    if setting == "auto":
        return "float16" if device == "cuda" else "int8"
    return setting


def supported_compute_types(device: str) -> set[str]:
    import ctranslate2

    try:
        return set(ctranslate2.get_supported_compute_types(device))
    except (RuntimeError, ValueError):  # no CUDA device, or a CTranslate2 built without CUDA
        return set()


def cuda_device_count() -> int:
    """CUDA GPUs CTranslate2 can use (0 with a CPU-only build or no driver)."""
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count()
    except RuntimeError:
        return 0


CUBLAS = "libcublas.so.12"
CUBLAS_PACKAGE = "nvidia-cublas-cu12==12.9.3.13"


def _pip_cublas_folders() -> list[Path]:
    """``nvidia/cublas/lib`` of the ``nvidia-cublas-cu12`` wheel, wherever ``nvidia`` is installed."""
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    return [Path(p) / "cublas" / "lib" for p in (spec.submodule_search_locations or [])] if spec else []


@functools.cache
def cublas_missing() -> str | None:
    """None when CTranslate2 will find CUDA 12's cuBLAS, else the message that says what to install.

    CTranslate2 4.8.5's wheel is built for CUDA 12 and opens ``libcublas.so.12``
    at its first GPU job. PyPI's torch 2.13.0, and the container image, bring
    CUDA 13 (``libcublas.so.13``): there the model loaded on the GPU and the first
    job failed with "Library libcublas.so.12 is not found or cannot be loaded"
    (an H200 with CUDA 13 only, bench/README.md). The ``nvidia-cublas-cu12``
    wheel holds it; loading it here, globally, lets CTranslate2's own
    ``dlopen("libcublas.so.12")`` find it without ``LD_LIBRARY_PATH``.
    """
    if not sys.platform.startswith("linux"):
        return None  # Windows wheels carry their own; macOS has no CUDA
    try:
        ctypes.CDLL(CUBLAS, mode=ctypes.RTLD_GLOBAL)  # on the library path: the system's CUDA 12
        return None
    except OSError:
        pass
    for folder in _pip_cublas_folders():
        try:
            ctypes.CDLL(str(folder / "libcublasLt.so.12"), mode=ctypes.RTLD_GLOBAL)
            ctypes.CDLL(str(folder / CUBLAS), mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        log.info("CUDA 12's cuBLAS for CTranslate2: %s", folder)
        return None
    return (f"faster-whisper on the GPU needs CUDA 12's cuBLAS ({CUBLAS}: CTranslate2 is built for CUDA 12) and this "
            f"host has none. Install it with `pip install {CUBLAS_PACKAGE}` (the container image has it), or use "
            "--engine openai-whisper or --device cpu.")


def default_cpu_threads() -> int:
    """CTranslate2's CPU threads when ``--threads`` is 0: half the cores this process may use, at least 1.

    Its OpenMP threads busy-wait for each other between steps. With as many
    threads as cores, any other busy process (another job's ffmpeg, the page,
    a neighbour on a shared host) leaves one thread spinning for another that
    is not running: on this project's 2-core machine the 12.7 s clip took 20-45 s
    instead of 0.6 s while one other process ran. With a core to spare it took
    0.8 s loaded or idle (bench/README.md, Engines). CTranslate2's own default is 4.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def log_runtime(threads: int = 0) -> None:
    import ctranslate2

    gpus = cuda_device_count()
    log.info("CTranslate2 %s, %d CPU threads, CUDA %s", ctranslate2.__version__, threads or default_cpu_threads(),
             f"{gpus} GPU(s)" if gpus else "not available")


class FasterWhisperEngine(Engine):
    name = "faster-whisper"

    def __init__(self, model_dir: Path, compute_type: str = "auto", batch_size: int | None = None,
                 cpu_threads: int = 0):
        self.model_dir = Path(model_dir)
        self.compute_type_setting = compute_type
        self.batch_size = batch_size
        self.cpu_threads = cpu_threads

    def compute_type(self, device: str) -> str:
        wanted = resolve_compute_type(self.compute_type_setting, device)
        supported = supported_compute_types(device)
        if supported and wanted not in supported:
            fallback = resolve_compute_type("auto", device)
            log.warning("compute type %s is not supported on %s (supported: %s): using %s",
                        wanted, device, ", ".join(sorted(supported)), fallback)
            return fallback
        return wanted

    def cuda_available(self) -> bool:
        if cuda_device_count() == 0:
            return False
        missing = cublas_missing()
        if missing:
            log.warning("%s Using the CPU.", missing)
        return not missing

    def batch_size_for(self, device: str) -> int:
        """``--batch-size``; auto (None): 8 windows at once on CUDA, off on the CPU (bench/README.md, Engines)."""
        if self.batch_size is None:
            return AUTO_CUDA_BATCH if device == "cuda" else 0
        return self.batch_size

    def prepare(self, model: str, events: LoadEvents | None = None) -> None:
        self.model_folder(model, events)

    def model_folder(self, model: str, events: LoadEvents | None = None) -> Path:
        """The CTranslate2 folder of ``model``: there already, exported from ``NAME.pt``, or downloaded."""
        from ..models.sources import model_info

        events = events or LoadEvents()
        info = model_info(model, self.model_dir)
        if info.ct2_on_disk:
            return info.ct2_dir
        if info.on_disk:
            from ..models.export_ct2 import export_ct2

            log.info("model %s: exporting %s once into the CTranslate2 folder %s", info.name, info.path, info.ct2_dir)
            try:
                return export_ct2(info.name, self.model_dir)
            except ConversionError:
                if info.ct2_on_disk:  # another process sharing the model folder exported it meanwhile
                    return info.ct2_dir
                raise
        from ..models.hub import download_ct2

        events.on_download()  # only official names get here: model_info refuses other names with no files
        return download_ct2(info.name, info.ct2_dir, events.on_progress)

    def load(self, model: str, device: str, events: LoadEvents | None = None) -> LoadedModel:
        from faster_whisper import WhisperModel as CT2Whisper

        if device == "cuda" and not supported_compute_types("cuda"):
            raise ModelError("CUDA was asked for (--device cuda) but CTranslate2 finds no CUDA GPU; "
                             "use --device cpu or auto.")
        if device == "cuda" and (missing := cublas_missing()):
            raise ModelError(missing)
        folder = self.model_folder(model, events)
        compute_type = self.compute_type(device)
        try:
            net = CT2Whisper(str(folder), device=device, compute_type=compute_type,
                             cpu_threads=self.cpu_threads or default_cpu_threads())
        except (RuntimeError, ValueError, OSError) as e:
            from .base import is_cuda_oom

            if is_cuda_oom(e):
                raise
            raise ModelError(
                f"The faster-whisper model in {folder} could not be loaded ({e}). It is damaged or incomplete: "
                f"delete the folder and download it again, or export it from {model}.pt with "
                f"`python -m whisper_ui models export-ct2 {model}`."
            ) from e
        from ..models.sources import canonical_name

        return FasterWhisperModel(canonical_name(model), net, device, compute_type, self.batch_size_for(device))


def faster_whisper_kwargs(options: TranscribeOptions, task: str, language: str | None) -> dict[str, Any]:
    """``WhisperModel.transcribe``'s keyword arguments for ``options``: the same decoding as ``engine.whisper_kwargs``.

    ``beam_size`` shapes only the temperature-0 pass. A window that fails the compression or
    log-probability check is sampled again at 0.2 ... 1.0, ``best_of`` samples each, the best kept.
    With one sample (openai-whisper's ``transcribe`` default when greedy) a window of real but
    repetitive speech can fail the compression check at every temperature until the lone sample at
    1.0 is gibberish (average log-probability below -1); faster-whisper then skips the window as
    silence when its no-speech probability is above the threshold, as it often is on clean recorded
    speech (0.79-0.95 measured). Greedy tiny.en lost a whole window of 70 s of pytest-audioeval's
    English recordings (WER 0.20) that beam 5 kept (0.00). So every beam falls back with at least
    five samples, faster-whisper's default, and greedy then gave 0.00 too (tests/test_vad.py).
    """
    return dict(
        task=task,
        language=language,
        beam_size=options.beam_size,
        best_of=max(options.beam_size, FALLBACK_BEST_OF),
        temperature=list(options.temperatures()),
        compression_ratio_threshold=options.compression_ratio_threshold,
        log_prob_threshold=options.logprob_threshold,
        no_speech_threshold=options.no_speech_threshold,
        condition_on_previous_text=options.condition_on_previous_text,
        initial_prompt=options.initial_prompt or None,
        word_timestamps=options.word_timestamps,
        hallucination_silence_threshold=options.hallucination_silence_threshold if options.word_timestamps else None,
        vad_filter=False,
    )


class FasterWhisperModel(LoadedModel):
    engine = "faster-whisper"

    def __init__(self, name: str, net, device: str, compute_type: str, batch_size: int = 0):
        self.name = name
        self.net = net
        self.device = device
        self.compute_type = compute_type
        self.fp16 = "float16" in compute_type
        self.english_only = not net.model.is_multilingual
        self.batch_size = batch_size

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        language, probability, _ = self.net.detect_language(audio)
        return language, float(probability)

    def decode(self, audio: np.ndarray, options: TranscribeOptions, task: str, language: str | None,
               clips: Clips | None, cancel: threading.Event | None, report: OnDecoded | None = None,
               follow: vad.Follower | None = None) -> list[Segment]:
        """``WhisperModel.transcribe``, the clips through its ``clip_timestamps`` (the batched pipeline
        takes none: the clips' samples joined, and the times mapped back). With ``follow``, faster-whisper's
        ``multilingual`` mode detects each window's language from the encoder output it decodes, and
        ``_Following`` chooses it (the batched pipeline on a GPU detects the language once, as before)."""
        kwargs = faster_whisper_kwargs(options, task=task, language=language)
        if follow is not None and self.batch_size > 0:
            follow = None  # its windows' segments come a batch at a time, untold which window they are of
        elif follow is not None:
            # a language given: faster-whisper spends no encoder pass detecting one; each window's is chosen
            kwargs.update(multilingual=True, language=language or "en")
        chunks = None
        if clips and self.batch_size > 0:
            audio, chunks = vad.join(audio, clips)
        elif clips:
            kwargs["clip_timestamps"] = [t for clip in clips for t in clip]
        duration = len(audio) / SAMPLE_RATE
        if self.batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            # the batched pipeline always cuts the audio by its own speech detection and decodes without timestamps
            kwargs.pop("vad_filter")
            segments, info = BatchedInferencePipeline(self.net).transcribe(audio, batch_size=self.batch_size, **kwargs)
        else:
            segments, info = self.net.transcribe(audio, **kwargs)
        detected = info.language if language is None and follow is None else None  # the batched pipeline's own
        if report is not None and chunks:
            report = vad.restoring(report, chunks)  # in the time of the audio this decode was given
        collected: list[Segment] = []
        with _Following.on(self.net, follow) as following:
            for raw in segments:  # a generator: each segment is decoded when it is asked for
                if cancel is not None and cancel.is_set():
                    raise CancelledError("The transcription was cancelled.")
                # its window's language was chosen before the window was decoded, and the next window's
                # is chosen only after this window's segments have all been taken
                collected.append(_segment(len(collected), raw, following.language if following else detected))
                if report is not None:  # each segment as it is finished (the page shows them as they come)
                    report(collected, min(raw.end, duration))
        if cancel is not None and cancel.is_set():
            raise CancelledError("The transcription was cancelled.")
        return vad.restore(collected, chunks) if chunks else collected

    def unload(self) -> None:
        if self.net is not None:
            self.net.model.unload_model()  # CTranslate2 frees its buffers (RAM or VRAM) now, not at garbage collection
        self.net = None


class _Following:
    """CTranslate2's model as faster-whisper's ``multilingual`` mode sees it: each window's language
    detection (from the encoder output the window is then decoded from) answers the language
    ``vad.Follower`` chooses, not merely the likeliest one, so one-language audio does not flip-flop
    on an uncertain window. The window's length is read from faster-whisper's ``generate_segments``."""

    def __init__(self, model, follow: vad.Follower):
        self._model = model
        self._follow = follow
        self.language: str | None = None

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def detect_language(self, *args, **kwargs):
        results = self._model.detect_language(*args, **kwargs)
        caller = sys._getframe(1).f_locals
        seconds = float(caller.get("segment_duration", 30.0))
        chosen = []
        for found in results:  # a window's (token, probability) pairs, likeliest first
            token, probability = found[0]
            self.language = self._follow.window(token[2:-2], float(probability), seconds,
                                                {t[2:-2]: float(p) for t, p in found})
            wanted = f"<|{self.language}|>"
            first = next((pair for pair in found if pair[0] == wanted), (wanted, 0.0))
            chosen.append([first, *(pair for pair in found if pair[0] != wanted)])
        return chosen

    @staticmethod
    @contextmanager
    def on(net, follow: vad.Follower | None):
        """``net``'s CTranslate2 model swapped for a ``_Following`` one while a decode runs (one job at a
        time holds the model)."""
        if follow is None:
            yield None
            return
        following = _Following(net.model, follow)
        net.model = following
        try:
            yield following
        finally:
            net.model = following._model


def _segment(index: int, raw, language: str | None = None) -> Segment:
    return Segment(
        id=index,
        start=float(raw.start),
        end=float(raw.end),
        text=raw.text,
        words=tuple(Word(float(w.start), float(w.end), w.word, float(w.probability)) for w in raw.words or ()),
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
        compression_ratio=float(raw.compression_ratio),
        temperature=None if raw.temperature is None else float(raw.temperature),
        language=language,
    )

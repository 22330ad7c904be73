"""Engines: what turns a model name into a loaded model that transcribes.

The model manager only speaks to ``Engine`` and ``LoadedModel``. Two engines
implement them: openai-whisper (here, the default) and faster-whisper
(CTranslate2, ``whisper_ui.faster``). A load is two steps: ``prepare`` makes
the model's files ready (download, conversion) while the old model still
serves, then ``load`` reads them into memory once the old model is freed.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import vad
from .errors import CancelledError, CorruptCheckpointError, ModelError
from .transcription import Segment, TranscribeOptions, TranscriptionResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadEvents:
    """Callbacks the manager passes to ``Engine.load`` to follow its progress."""

    on_download: Callable[[], None] = lambda: None
    on_progress: Callable[[int, int | None], None] = lambda done, total: None


Clips = tuple[tuple[float, float], ...]
# a job's progress, as each segment is finished: (seconds of the recording done, its length, the segments so far)
OnProgress = Callable[[float, float, tuple[Segment, ...]], None]
# what an engine's decode reports: (the segments so far, the seconds done), both in the time of the audio it got
OnDecoded = Callable[[list[Segment], float], None]
JOB_SEED = 0  # the random generator's seed at the start of each job (temperature fallback samples)


class LoadedModel(ABC):
    """A loaded model. ``transcribe`` is the same for every engine: speech detection, the language
    of each region and the loop guard (``whisper_ui.vad``) around the engine's own ``decode``."""

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
        segments: list[Segment] = []
        total = len(audio) / vad.SAMPLE_RATE
        done = 0.0
        followers: list[vad.Follower] = []

        def reporter(language: str | None, chunks: list[dict[str, int]] | None = None) -> OnDecoded | None:
            """The engine's news of one run (of the joined speech when ``chunks``), in the recording's
            time, to ``on_progress``. The engine's list only grows: each segment is taken once (a job's
            news cost O(segments), not its square)."""
            if on_progress is None:
                return None
            mapped: list[Segment] = []

            def report(decoded: list[Segment], seconds: float) -> None:
                nonlocal done
                done = max(done, min(total, seconds))
                mapped.extend(replace(s, language=s.language or language) for s in decoded[len(mapped):])
                so_far = segments + mapped
                on_progress(done, total, tuple(sorted(so_far, key=lambda s: s.start) if len(plan.runs) > 1 else so_far))

            return vad.restoring(report, chunks) if chunks else report

        for run in plan.runs:
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
            segments.extend(replace(s, language=s.language or run.language) for s in decoded)
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
            notices=tuple(loops + phantoms),
            engine=self.engine,
            speech_seconds=plan.speech_seconds,
            languages=shares,
            gaps=plan.gaps,
        )

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
    """The segments less the stock phrases Whisper invents where no speech is (``whisper_ui.phantoms``).
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
def _glibc() -> ctypes.CDLL | None:
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
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class WhisperEngine(Engine):
    """openai-whisper, with models resolved by ``whisper_ui.models``."""

    name = "openai-whisper"

    def __init__(self, model_dir: Path, threads: int = 0):
        self.model_dir = Path(model_dir)
        self.threads = threads

    def prepare(self, model: str, events: LoadEvents | None = None) -> None:
        """``NAME.pt`` on disk: there already, imported once from a CTranslate2 ``NAME/`` folder, or downloaded."""
        from .convert import import_ct2
        from .models import download, model_info

        events = events or LoadEvents()
        info = model_info(model, self.model_dir)
        if info.on_disk:
            return
        if info.ct2_on_disk:
            log.info("model %s: only its CTranslate2 folder %s is here: importing it once into %s",
                     info.name, info.ct2_dir, info.path)
            import_ct2(info.ct2_dir, info.name, self.model_dir)
        elif info.official:
            events.on_download()
            download(info, events.on_progress)

    def load(self, model: str, device: str, events: LoadEvents | None = None) -> LoadedModel:
        configure_torch(self.threads)
        import torch
        import whisper

        from .models import resolve_checkpoint

        events = events or LoadEvents()
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError("CUDA was asked for (--device cuda) but no CUDA GPU is available; use --device cpu or auto.")
        self.prepare(model, events)  # nothing to do when the manager prepared it
        resolved = resolve_checkpoint(model, self.model_dir, progress=events.on_progress, on_download=events.on_download)
        checkpoint, resolved.checkpoint = resolved.checkpoint, {}  # the weights are mmapped: drop them after copying
        try:
            dims = whisper.model.ModelDimensions(**checkpoint["dims"])
            with _skip_weight_init():
                net = whisper.model.Whisper(dims)
            _copy_weights(net, checkpoint["model_state_dict"], _PageDropper(resolved.info.path))
        except (TypeError, RuntimeError, KeyError) as e:
            raise CorruptCheckpointError(
                f"The checkpoint {resolved.info.path} does not fit openai-whisper's model ({e}). "
                "Delete it and download or convert it again."
            ) from e
        finally:
            del checkpoint
        if resolved.alignment_heads is not None:
            net.set_alignment_heads(_heads_dump(resolved.alignment_heads))
        net = net.to(device)
        net.eval()
        if device == "cuda":
            _half_weights(net)
            warm_up(net)
        return WhisperModel(resolved.info.name, net, device)


@functools.cache
def configure_torch(threads: int = 0) -> None:
    """Import torch (once, at the first openai-whisper load) and set its CPU threads (``--threads``)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    log.info("torch %s, %d CPU threads, CUDA %s", torch.__version__, torch.get_num_threads(),
             torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available")


def warm_up(net) -> float:
    """One short transcription right after a load on the GPU, through the jobs' own path; returns its seconds.

    CUDA starts lazily: on an H200 the first job after a load took 4.2 s where the
    next ones took 0.25 s (tiny.en, 10 s of speech; bench/gpu.py). Paying that here
    makes the model "ready" only when it is, and the first user's job as fast as
    the rest. It is ``whisper.transcribe`` with the jobs' decoding (beam search,
    timestamps, language detection on a multilingual model) on two seconds of
    faint noise, so that the same kernels run. Not on the CPU, where the first job
    is ~1.2x a warm one and the decode would cost more start-up time than it saves.
    """
    import whisper

    started = time.perf_counter()
    noise = np.random.default_rng(0).normal(0, 0.01, 2 * whisper.audio.SAMPLE_RATE).astype(np.float32)
    kwargs = whisper_kwargs(TranscribeOptions(), task="transcribe", language=None if net.is_multilingual else "en",
                            fp16=net.device.type == "cuda")
    whisper.transcribe(net, noise, **{**kwargs, "verbose": None, "temperature": 0.0})
    seconds = time.perf_counter() - started
    log.info("warm-up transcription on %s in %.2f s", net.device, seconds)
    return seconds


def _half_weights(net) -> None:
    """Keep the weights in fp16 on the GPU, the layer norms in fp32 (openai-whisper computes them in fp32).

    openai-whisper keeps fp32 weights and casts each one to fp16 at every use
    (``Linear``, ``Conv1d``, the logits): a cast kernel per layer per decoded token,
    and twice the memory. The values it computes with are the same fp16 numbers
    either way (the official checkpoints and the converted ones are fp16), so
    casting once here changes no result; it halves the model's VRAM. Buffers (the
    sinusoids, the causal mask, the alignment heads) stay as they are.
    """
    import torch

    for module in net.modules():
        if isinstance(module, torch.nn.LayerNorm):
            continue
        for param in module.parameters(recurse=False):
            if param.dtype == torch.float32:
                param.data = param.data.half()


_MADV_DONTNEED = 4  # Linux


def _mapped_ranges(path: Path) -> list[tuple[int, int]]:
    """The address ranges where this process maps ``path`` (``/proc/self/maps``; Linux only)."""
    try:
        target = str(path.resolve())
        ranges = []
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].rstrip("\n") == target:
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    ranges.append((start, end))
        return ranges
    except OSError:
        return []


class _PageDropper:
    """Hands a mmapped checkpoint's pages back to the kernel as soon as they are copied.

    ``torch.load(mmap=True)`` maps the file; copying a weight into the model makes
    its pages resident, and they stay so until the whole file is unmapped: for
    ``base``, 140 MB of fp16 pages on top of the 290 MB fp32 model, the peak of a
    switch. ``madvise(MADV_DONTNEED)`` drops a copied weight's pages from this
    process (they are clean, read-only file pages: the page cache keeps them, and a
    weight that shares a page is read from it again). Only ranges that
    ``/proc/self/maps`` shows mapping the checkpoint file are ever advised; a
    checkpoint in anonymous memory is left alone.
    """

    def __init__(self, path: Path):
        self.libc = _glibc()
        self.ranges = _mapped_ranges(path) if self.libc is not None else []
        self.page = os.sysconf("SC_PAGE_SIZE") if self.ranges else 4096

    def drop(self, tensor) -> None:
        if not self.ranges:
            return
        storage = tensor.untyped_storage()
        start, end = storage.data_ptr(), storage.data_ptr() + storage.nbytes()
        for low, high in self.ranges:
            if low <= start and end <= high:  # inside the file's mapping, and only then
                first = start - start % self.page
                last = min(high, end + (-end) % self.page)
                self.libc.madvise(first, last - first, _MADV_DONTNEED)
                return


def _copy_weights(net, state: dict, pages: _PageDropper) -> None:
    """``net.load_state_dict(state, strict=True)``, one weight at a time, dropping each one's file pages after copying."""
    import torch

    own = net.state_dict()  # tensors that share the parameters' and persistent buffers' storage
    if own.keys() != state.keys():
        missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
        raise KeyError(f"missing weights {missing[:5]}, unexpected weights {unexpected[:5]}")
    with torch.no_grad():
        for key, value in state.items():
            if own[key].shape != value.shape:
                raise RuntimeError(f"{key} has shape {tuple(value.shape)}, the model needs {tuple(own[key].shape)}")
            own[key].copy_(value)
            pages.drop(value)


# torch.nn.init functions the layers of a Whisper model call when they are built
_RANDOM_INIT = ("kaiming_uniform_", "uniform_", "normal_")
_init_lock = threading.Lock()


@contextmanager
def _skip_weight_init():
    """Build layers without drawing random weights (the ``no_init_weights`` of Hugging Face Transformers).

    Drawing them is most of the CPU time of building a model (base: 0.33 s of
    0.8 s; it grows with the model), and ``_copy_weights`` (strict)
    overwrites every one of them right after. ``torch.nn.init`` is patched for
    the length of the build; the manager loads one model at a time, and nothing
    else in this process builds torch layers meanwhile.
    """
    import torch.nn.init as init

    def keep(tensor, *args, **kwargs):
        return tensor

    with _init_lock:
        saved = {name: getattr(init, name) for name in _RANDOM_INIT}
        for name in _RANDOM_INIT:
            setattr(init, name, keep)
        try:
            yield
        finally:
            for name, function in saved.items():
                setattr(init, name, function)


class _WindowNews:
    """openai-whisper's segments as each 30-second window is done, for ``report``.

    ``whisper.transcribe`` keeps them in a local list until it returns; what it tells the world after
    each window is its tqdm bar's ``update``. So its module's ``tqdm`` becomes this class's (once):
    in a thread that is reporting, the bar reads the segments so far (``all_segments``) and the
    position (``seek``) from ``whisper.transcribe``'s frame; in any other thread it is tqdm's own."""

    _local = threading.local()
    _installed = False

    def __init__(self, *args, **kwargs):
        self.report, self.name, self.device, self.model = self._local.current

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: float = 1) -> None:
        import whisper

        found = sys._getframe(1).f_locals
        if "all_segments" not in found or "seek" not in found:  # not the caller it was written for: no news
            return
        seconds = found["seek"] * whisper.audio.HOP_LENGTH / whisper.audio.SAMPLE_RATE
        raw = {"segments": list(found["all_segments"]), "text": "", "language": None}
        segments = TranscriptionResult.from_whisper_dict(raw, language=None, language_probability=None, duration=0.0,
                                                         processing_seconds=0.0, model=self.name,
                                                         device=self.device).segments
        if isinstance(self.model, _Following):
            segments = [replace(s, language=self.model.language_of(r))
                        for s, r in zip(segments, raw["segments"], strict=True)]
        self.report(list(segments), seconds)

    @classmethod
    def tqdm(cls, *args, **kwargs):
        if getattr(cls._local, "current", None) is None:
            import tqdm

            return tqdm.tqdm(*args, **kwargs)
        return cls(*args, **kwargs)

    @classmethod
    @contextmanager
    def reporting(cls, report: OnDecoded | None, name: str, device: str, model=None):
        if report is None:
            yield
            return
        if not cls._installed:
            import whisper.transcribe  # noqa: F401 - the module (``whisper.transcribe`` is its function)

            sys.modules["whisper.transcribe"].tqdm = cls  # ``tqdm.tqdm(...)`` there is ``_WindowNews.tqdm(...)``
            cls._installed = True
        cls._local.current = (report, name, device, model)
        try:
            yield
        finally:
            cls._local.current = None


class _Following:
    """The model as ``whisper.transcribe`` sees it, with each window decoded in its own language.

    ``whisper.transcribe`` detects the language once, on the first 30 s (an encoder pass of its own),
    and decodes every window in it: a switch without a pause was dropped or written as English. This
    stands in for the model there: each window is encoded once, its language detected from that
    encoder output (a single decoder step) and chosen by ``vad.Follower``, and the window decoded from
    the same output in that language (its temperature-fallback attempts too, where openai-whisper
    encodes the window again for each). What the window's place and length are is read from
    ``whisper.transcribe``'s frame, as ``_WindowNews`` reads its segments; word timings are aligned
    with the window's language (``aligning``)."""

    _local = threading.local()
    _installed = False

    def __init__(self, net, follow: vad.Follower):
        self._net = net
        self._follow = follow
        self._window: tuple[Any, Any, str] | None = None  # (the window's mel, its encoder output, its language)
        self._language_at: dict[int, str] = {}  # window start (mel frames) -> its language

    def __getattr__(self, name: str):
        return getattr(self._net, name)

    def __call__(self, *args, **kwargs):
        return self._net(*args, **kwargs)

    @property
    def language(self) -> str | None:
        return self._window[2] if self._window else self._follow.language

    def language_of(self, raw_segment: dict) -> str | None:
        return self._language_at.get(raw_segment.get("seek"), self._follow.language)

    def decode(self, mel, options):
        import whisper

        if self._window is None or self._window[0] is not mel:  # a new window (not a fallback attempt)
            features = self._net.embed_audio(mel.unsqueeze(0) if mel.ndim == 2 else mel)
            _, probs = self._net.detect_language(features)
            found = max(probs[0], key=probs[0].get)
            caller = sys._getframe(2).f_locals  # whisper.transcribe, through its decode_with_fallback
            seconds = caller.get("segment_size", whisper.audio.N_FRAMES) / whisper.audio.FRAMES_PER_SECOND
            language = self._follow.window(found, float(probs[0][found]), seconds, probs[0])
            if isinstance(caller.get("seek"), int):
                self._language_at[caller["seek"]] = language
            self._window = (mel, features, language)
        _, features, language = self._window
        return whisper.decoding.decode(self._net, features[0] if mel.ndim == 2 else features,
                                       replace(options, language=language))

    @classmethod
    @contextmanager
    def aligning(cls, model):
        """Word timings of a window aligned with its own language's tokenizer (its start-of-transcript
        tokens, and how it splits words: by characters for Chinese and Japanese)."""
        if not isinstance(model, _Following):
            yield
            return
        if not cls._installed:
            import whisper.transcribe  # noqa: F401 - the module (``whisper.transcribe`` is its function)

            module = sys.modules["whisper.transcribe"]
            module.add_word_timestamps = functools.partial(cls._add_word_timestamps, module.add_word_timestamps)
            cls._installed = True
        cls._local.current = model
        try:
            yield
        finally:
            cls._local.current = None

    @classmethod
    def _add_word_timestamps(cls, add_word_timestamps, *args, tokenizer, **kwargs):
        model = getattr(cls._local, "current", None)
        if model is not None and model.language and tokenizer.language != model.language:
            from whisper.tokenizer import get_tokenizer

            tokenizer = get_tokenizer(True, num_languages=model.num_languages, language=model.language,
                                      task=tokenizer.task)
        return add_word_timestamps(*args, tokenizer=tokenizer, **kwargs)


def whisper_kwargs(options: TranscribeOptions, task: str, language: str | None, fp16: bool) -> dict[str, Any]:
    """The keyword arguments ``whisper.transcribe`` gets for ``options`` (bench/ passes the same to the raw library)."""
    kwargs: dict[str, Any] = dict(
        verbose=False,  # its tqdm bar, whose updates tell the page of each window's segments (_WindowNews)
        temperature=options.temperatures(),
        compression_ratio_threshold=options.compression_ratio_threshold,
        logprob_threshold=options.logprob_threshold,
        no_speech_threshold=options.no_speech_threshold,
        condition_on_previous_text=options.condition_on_previous_text,
        initial_prompt=options.initial_prompt or None,
        word_timestamps=options.word_timestamps,
        hallucination_silence_threshold=options.hallucination_silence_threshold if options.word_timestamps else None,
        task=task,
        language=language,
        fp16=fp16,
    )
    if options.beam_size > 1:
        kwargs.update(beam_size=options.beam_size, best_of=options.beam_size)
    return kwargs


def _heads_dump(mask: np.ndarray) -> bytes:
    """openai-whisper takes alignment heads as its gzip+base85 dump of a bool mask."""
    import base64
    import gzip

    return base64.b85encode(gzip.compress(np.ascontiguousarray(mask, dtype=bool).tobytes()))


class WhisperModel(LoadedModel):
    def __init__(self, name: str, net, device: str):
        self.name = name
        self.net = net
        self.device = device
        self.fp16 = device == "cuda"  # on the GPU: fp16 weights (LayerNorm fp32) and fp16 compute
        self.compute_type = "float16" if self.fp16 else "float32"
        self.english_only = not net.is_multilingual

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """The same detection ``whisper.transcribe`` does, keeping its probability."""
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self.net.dims.n_mels)
        mel = mel.to(self.net.device)
        if self.fp16:
            mel = mel.half()
        _, probs = self.net.detect_language(mel)
        language = max(probs, key=probs.get)
        return language, float(probs[language])

    def decode(self, audio: np.ndarray, options: TranscribeOptions, task: str, language: str | None,
               clips: Clips | None, cancel: threading.Event | None, report: OnDecoded | None = None,
               follow: vad.Follower | None = None) -> list[Segment]:
        """``whisper.transcribe``; the clips through its ``clip_timestamps``, which keeps the recording's time.
        ``report`` hears of each 30-second window's segments (``_WindowNews``); with ``follow``, each window
        is decoded in the language ``_Following`` chooses for it."""
        import whisper

        # following: whisper.transcribe gets a language so that it spends no encoder pass detecting one;
        # each window's own is chosen from the encoder output it is decoded from
        model = _Following(self.net, follow) if follow is not None else self.net
        kwargs = whisper_kwargs(options, task=task, language=language or ("en" if follow else None), fp16=self.fp16)
        if clips:
            # whisper.transcribe loops for ever when a clip ends past the last mel frame (it rounds the end up
            # and never seeks there): clips end on the last whole frame of the audio
            last = (len(audio) // whisper.audio.HOP_LENGTH) / whisper.audio.FRAMES_PER_SECOND
            kept = [(start, min(end, last)) for start, end in clips if start < last]
            if not kept:  # (an empty list would make whisper.transcribe decode the whole file)
                return []
            kwargs["clip_timestamps"] = [round(t, 2) for clip in kept for t in clip]
        hooks = []
        if cancel is not None:
            def check(*_):
                if cancel.is_set():
                    raise CancelledError("The transcription was cancelled.")

            # the decoder runs once per token: a cancel takes effect within one token
            hooks = [self.net.encoder.register_forward_pre_hook(check),
                     self.net.decoder.register_forward_pre_hook(check)]
        try:
            import torch

            # temperature fallback samples: the same seed each job, so the same file gives the same text
            # whatever ran before (one job at a time holds the model, so the global generator is this job's)
            torch.manual_seed(JOB_SEED)
            with _WindowNews.reporting(report, self.name, self.device, model), _Following.aligning(model):
                raw = whisper.transcribe(model, audio, **kwargs)
        finally:
            for hook in hooks:
                hook.remove()
        segments = TranscriptionResult.from_whisper_dict(raw, language=None, language_probability=None, duration=0.0,
                                                         processing_seconds=0.0, model=self.name,
                                                         device=self.device).segments
        if isinstance(model, _Following):
            return [replace(s, language=model.language_of(raw_segment)) for s, raw_segment in
                    zip(segments, raw["segments"], strict=True)]
        return list(segments)

    def unload(self) -> None:
        self.net = None  # the manager frees the memory (one gc.collect: 0.15 s in the app's process)

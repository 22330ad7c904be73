"""The openai-whisper engine (the default): checkpoints resolved by ``models.sources``, run by PyTorch.

``WhisperEngine`` and ``WhisperModel`` implement ``engines.base``'s ``Engine`` and ``LoadedModel``:
the manager and the service never import this module (``runtime.create_engines`` does).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CancelledError, CorruptCheckpointError, ModelError
from ..core.transcription import Segment, TranscribeOptions, TranscriptionResult
from . import vad
from .base import JOB_SEED, Clips, Engine, LoadedModel, LoadEvents, OnDecoded, glibc

log = logging.getLogger("whisper_ui.engine")


class WhisperEngine(Engine):
    """openai-whisper, with models resolved by ``models.sources``."""

    name = "openai-whisper"

    def __init__(self, model_dir: Path, threads: int = 0):
        self.model_dir = Path(model_dir)
        self.threads = threads

    def prepare(self, model: str, events: LoadEvents | None = None) -> None:
        """``NAME.pt`` on disk: there already, imported once from a CTranslate2 ``NAME/`` folder, or downloaded."""
        from ..models.convert import import_ct2
        from ..models.sources import download, model_info

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

        from ..models.sources import resolve_checkpoint

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
        self.libc = glibc()
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
        news = _news(sys._getframe(1).f_locals, self.name, self.device, self.model)
        if news is not None:  # (None: not the caller it was written for)
            self.report(*news)

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


def _news(found: dict, name: str, device: str, model) -> tuple[list[Segment], float] | None:
    """(the segments so far, the seconds done) read from ``whisper.transcribe``'s frame (``found``: its locals),
    or None where the frame is not that."""
    import whisper

    if "all_segments" not in found or "seek" not in found:
        return None
    seconds = found["seek"] * whisper.audio.HOP_LENGTH / whisper.audio.SAMPLE_RATE
    raw = {"segments": list(found["all_segments"]), "text": "", "language": None}
    segments = TranscriptionResult.from_whisper_dict(raw, language=None, language_probability=None, duration=0.0,
                                                     processing_seconds=0.0, model=name, device=device).segments
    if isinstance(model, _Following):
        segments = [replace(s, language=model.language_of(r)) for s, r in zip(segments, raw["segments"], strict=True)]
    return list(segments), seconds


Teller = Callable[[dict, float, "_Telling"], None]  # (whisper.transcribe's locals, the temperature, the stand-in)


class _Telling:
    """The model as ``whisper.transcribe`` sees it, telling ``tell(its frame's locals, temperature, self)`` before each
    decode of a window: the first try, and each try of its temperature fallback (which openai-whisper says
    nothing of: a 13 s clip that runs all six showed "Starting…" for minutes)."""

    def __init__(self, net, tell: Teller | None = None):
        self._net = net
        self._tell = tell

    def __getattr__(self, name: str):
        return getattr(self._net, name)

    def __call__(self, *args, **kwargs):
        return self._net(*args, **kwargs)

    def decode(self, mel, options):
        self._told(options)
        return self._net.decode(mel, options)

    def _told(self, options) -> None:
        """Called from ``decode``: its caller's caller (``decode_with_fallback``'s) is ``whisper.transcribe``."""
        if self._tell is not None:
            self._tell(sys._getframe(3).f_locals, options.temperature, self)


class _Following(_Telling):
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

    def __init__(self, net, follow: vad.Follower, tell: Teller | None = None):
        super().__init__(net, tell)
        self._follow = follow
        self._window: tuple[Any, Any, str] | None = None  # (the window's mel, its encoder output, its language)
        self._language_at: dict[int, str] = {}  # window start (mel frames) -> its language

    @property
    def language(self) -> str | None:
        return self._window[2] if self._window else self._follow.language

    def language_of(self, raw_segment: dict) -> str | None:
        return self._language_at.get(raw_segment.get("seek"), self._follow.language)

    def decode(self, mel, options):
        import whisper

        self._told(options)
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
        kwargs = whisper_kwargs(options, task=task, language=language or ("en" if follow else None), fp16=self.fp16)
        tell = self._teller(report, kwargs["temperature"])
        model = (_Following(self.net, follow, tell) if follow is not None
                 else _Telling(self.net, tell) if tell is not None else self.net)
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

    def _teller(self, report: OnDecoded | None, temperatures) -> Teller | None:
        """What ``_Telling`` tells, to ``report``: where the job is (the window's start) and which try of the
        window this is, ``(k, n)`` of the ``temperatures`` (none with one temperature)."""
        temperatures = tuple(temperatures) if isinstance(temperatures, (list, tuple)) else (temperatures,)
        if report is None or len(temperatures) < 2:
            return None

        def tell(found: dict, temperature: float, model: _Telling) -> None:
            news = _news(found, self.name, self.device, model)
            if news is None:
                return
            k = min(range(len(temperatures)), key=lambda i: abs(temperatures[i] - temperature)) + 1
            report(*news, (k, len(temperatures)))

        return tell

    def unload(self) -> None:
        self.net = None  # the manager frees the memory (one gc.collect: 0.15 s in the app's process)

"""The model manager: one loaded model, shared by every user, one job at a time.

openai-whisper installs kv-cache hooks on the shared model for the length of a
decode, so two decodes on one model corrupt each other. Every use of the model
(transcription, load, switch, unload) therefore passes ``_gate``: a switch
waits for the running job, and frees the old model before the new one is
loaded, so two models are never resident together; the new model's files are
made ready first (download, checksum, conversion: ``Engine.prepare``), so a
model that cannot be had leaves the loaded one serving, and a load that fails
after the old model was freed loads the old one back. Engines (openai-whisper,
faster-whisper) switch by the same rules as models. A second lock guards only
the small state record, so the status can be read at any time without waiting
for a job.

A remote engine (``whisper_ui.engines.ray_backend``: replicas on Ray Serve, each one job at a time)
lets the gate pass as many jobs at once as it has replicas; a load still waits for all of them.

CUDA out of memory, while loading or transcribing, frees memory and moves to
the next smaller model on the GPU, then to the CPU; what happened is logged
and kept in the state, and a job that hit it is retried on the new model.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import CancelledError, JobTimeoutError, ModelError, OutOfMemoryError, WhisperUIError, keyed_text
from ..core.transcription import TranscribeOptions, TranscriptionResult
from ..engines.base import Engine, LoadedModel, LoadEvents, OnProgress, free_memory, is_cuda_oom, trim_heap
from ..models.sources import canonical_name, smaller_model

log = logging.getLogger("whisper_ui.manager")

NOT_LOADED, DOWNLOADING, LOADING, READY, FAILED = "not loaded", "downloading", "loading", "ready", "failed"
RECENT_JOBS = 20  # jobs kept for the Status tab's table
BUDGET_MIN_SECONDS = 30.0  # a job's compute budget is never shorter (--compute-budget)
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class ModelState:
    status: str = NOT_LOADED
    model: str | None = None  # the model loaded, or being loaded
    device: str | None = None
    engine: str | None = None  # "openai-whisper" or "faster-whisper"
    compute_type: str | None = None  # float32, float16, int8...
    fp16: bool = False
    load_seconds: float | None = None
    error: str | None = None  # why the last load failed (status "failed")
    fallback: str | None = None  # what a CUDA out-of-memory fallback did
    download_fraction: float | None = None
    jobs_running: int = 0
    jobs_waiting: int = 0
    jobs_done: int = 0
    last_error: str | None = None  # the last error of any job or load; gone once a load or job succeeds
    last_error_at: float | None = None  # when it happened (time.time())
    last_rtf: float | None = None  # real-time factor of the last job
    last_audio_seconds: float | None = None  # the last job's audio
    last_speech_seconds: float | None = None  # how much of it was speech (None: speech detection off)

    @property
    def ready(self) -> bool:
        return self.status == READY


class _JobStop(threading.Event):
    """A job's stop flag: set by its time limit, its compute budget (``spend``: the engine keeps the text so far,
    ``LoadedModel.transcribe``), or the caller's own cancel flag."""

    def __init__(self, cancel: threading.Event | None):
        super().__init__()
        self.cancel = cancel
        self.over_budget = False
        self.budget_notice: str | None = None  # what the result says when the budget stopped it
        self.budget_values: dict = {}  # its values (the page says it in the reader's language)

    def is_set(self) -> bool:
        return super().is_set() or (self.cancel is not None and self.cancel.is_set())

    def spend(self) -> None:
        self.over_budget = True
        self.set()

    @property
    def budget_spent(self) -> bool:
        """The compute budget stopped the job (not the caller's cancel)."""
        return self.over_budget and not (self.cancel is not None and self.cancel.is_set())

    @property
    def timed_out(self) -> bool:
        return super().is_set() and not self.over_budget and not (self.cancel is not None and self.cancel.is_set())


class _Gate:
    """Up to ``slots`` jobs at once, or one load, switch or unload alone: the exclusive side (``with
    gate``, ``acquire``/``release``) waits for the running jobs, and jobs that come after it wait for it.
    With one slot it is a lock."""

    def __init__(self, slots: int = 1):
        self.slots = max(1, slots)
        self._cond = threading.Condition()
        self._jobs = 0
        self._exclusive = False
        self._wanting = 0  # exclusive holders waiting: new jobs let them go first

    def acquire_job(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and not self._wanting and self._jobs < self.slots)
            self._jobs += 1

    def release_job(self) -> None:
        with self._cond:
            self._jobs -= 1
            self._cond.notify_all()

    def acquire(self, blocking: bool = True) -> bool:
        with self._cond:
            if not blocking:
                if self._exclusive or self._jobs:
                    return False
            else:
                self._wanting += 1
                try:
                    self._cond.wait_for(lambda: not self._exclusive and not self._jobs)
                finally:
                    self._wanting -= 1
            self._exclusive = True
            return True

    def release(self) -> None:
        with self._cond:
            self._exclusive = False
            self._cond.notify_all()

    def __enter__(self) -> _Gate:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class ModelManager:
    def __init__(self, engine: Engine | dict[str, Engine], default_model: str, device: str = "auto",
                 idle_unload_seconds: float = 0.0, default_engine: str | None = None, max_job_seconds: float = 0.0,
                 concurrency: int = 1, compute_budget: float = 0.0):
        """``engine``: one engine, or several by name (the first, or ``default_engine``, is used by default).
        ``max_job_seconds``: a job running longer is stopped at the model's next step (0: no limit).
        ``concurrency``: jobs at once (1 for a local model; a remote engine's replicas).
        ``compute_budget``: a job stops with its text so far after this many times its usual time (``job_budget``;
        0: no budget)."""
        self.max_job_seconds = max_job_seconds
        self.compute_budget = compute_budget
        self.engines = dict(engine) if isinstance(engine, dict) else {engine.name: engine}
        self.engine_name = default_engine or next(iter(self.engines))
        if self.engine_name not in self.engines:
            raise ValueError(f"unknown engine {self.engine_name!r}")
        self.default_model = canonical_name(default_model)
        self.device_setting = device
        self.idle_unload_seconds = idle_unload_seconds
        self._model: LoadedModel | None = None
        self._model_engine: str | None = None  # the name of the engine that loaded ``_model``
        self._target = self.default_model  # what a job loads when nothing is loaded
        self._gate = _Gate(concurrency)
        self._state_lock = threading.Lock()
        self._state = ModelState()
        self._recent_jobs: deque[dict] = deque(maxlen=RECENT_JOBS)
        self._job_error_at: float | None = None  # when a job last set the last error
        self._last_used = time.monotonic()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- state -------------------------------------------------------------

    @property
    def state(self) -> ModelState:
        with self._state_lock:
            return self._state

    def _set(self, **changes) -> None:
        if "last_error" in changes:  # an error carries its time; a healthy model clears both
            changes.setdefault("last_error_at", time.time() if changes["last_error"] else None)
        with self._state_lock:
            self._state = replace(self._state, **changes)

    def _count(self, **deltas: int) -> None:
        with self._state_lock:
            self._state = replace(self._state, **{k: getattr(self._state, k) + v for k, v in deltas.items()})

    def recent_jobs(self) -> list[dict]:
        """The last jobs done (oldest first): when, model, audio and processing seconds, real-time factor."""
        with self._state_lock:
            return list(self._recent_jobs)

    @property
    def concurrency(self) -> int:
        """Jobs that run at once: 1, or a remote engine's replicas."""
        return self._gate.slots

    @property
    def closing(self) -> threading.Event:
        """Set by ``close``: helper threads (the status sampler) stop with it."""
        return self._stop

    @property
    def engine(self) -> Engine:
        """The engine the next load uses (the loaded model's, or the one last asked for)."""
        return self.engines[self.engine_name]

    def resolve_device(self) -> str:
        if self.device_setting == "auto":
            return "cuda" if self.engine.cuda_available() else "cpu"
        return self.device_setting

    # --- loading -----------------------------------------------------------

    def load(self, name: str | None = None, engine: str | None = None) -> ModelState:
        """Load ``name`` (the default model if None) with ``engine`` (the current one if None),
        replacing the loaded model. Blocks until done."""
        name = canonical_name(name or self._target)
        if engine is not None and engine not in self.engines:
            raise ModelError(f"Unknown engine '{engine}'. Use one of {', '.join(self.engines)}.")
        with self._gate:
            self._load_locked(name, engine or self.engine_name)
        return self.state

    def unload(self) -> None:
        with self._gate:
            self._unload_locked()
            self._set(status=NOT_LOADED, load_seconds=None, download_fraction=None)

    def start(self, preload: bool = True) -> None:
        """Load the default model in the background, and start the idle watcher."""
        if preload:
            threading.Thread(target=self._preload, name="whisper-ui-preload", daemon=True).start()
        if self.idle_unload_seconds > 0 and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_idle, name="whisper-ui-idle", daemon=True)
            self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        with self._gate:
            self._unload_locked()

    def _preload(self) -> None:
        try:
            self.load()
        except WhisperUIError:
            pass  # logged and kept in the state; the status page shows it
        except Exception:
            log.exception("loading the default model failed")

    def _unload_locked(self) -> None:
        if self._model is not None:
            log.info("unloading model %s from %s", self._model.name, self._model.device)
            self._model.unload()
            self._model = self._model_engine = None
            free_memory()

    def _load_locked(self, name: str, engine: str | None = None) -> LoadedModel:
        engine = engine or self.engine_name
        state = self.state
        if self._model is not None and self._model.name == name and self._model_engine == engine and state.ready:
            if state.last_error is not None:
                self._set(last_error=None)  # asked for and serving: healthy again
            return self._model
        previous = (self._model.name, self._model_engine, self._model.device) if self._model is not None else None
        self._prepare(name, engine)  # the files first: the loaded model serves on if they cannot be had
        self._target, self.engine_name = name, engine
        self._unload_locked()  # free the old model before the new one is loaded
        device = self.resolve_device()
        try:
            return self._load_on(name, device, fallback=None)
        except Exception as e:
            if is_cuda_oom(e):
                free_memory()
                return self._fall_back(name, device, e)
            if previous is not None:
                self._restore(previous, e)
            raise

    def _prepare(self, name: str, engine: str) -> None:
        """``Engine.prepare`` with the state showing a download; on failure the state is the loaded model's again."""
        before = self.state
        events = LoadEvents(
            on_download=lambda: self._set(status=DOWNLOADING, model=name, engine=engine, download_fraction=0.0),
            on_progress=lambda done, total: self._set(download_fraction=(done / total) if total else None),
        )
        try:
            self.engines[engine].prepare(name, events)
        except Exception as e:
            message = str(e) if isinstance(e, WhisperUIError) else f"Getting model {name} failed: {type(e).__name__}: {e}"
            log.error("model %s (%s) could not be made ready: %s", name, engine, message)
            if self._model is not None:  # the loaded model keeps serving: the state says so
                self._set(**{k: getattr(before, k) for k in ("status", "model", "device", "engine", "compute_type",
                                                              "fp16", "error", "load_seconds")},
                          download_fraction=None, last_error=message)
            else:
                self._set(status=FAILED, model=name, engine=engine, error=message, last_error=message,
                          download_fraction=None)
            if isinstance(e, WhisperUIError):
                raise
            raise ModelError(message) from e
        if self.state.download_fraction is not None:
            self._set(download_fraction=None)

    def _restore(self, previous: tuple[str, str, str], error: BaseException) -> None:
        """The new model's load failed after the old one was freed: load the old one back."""
        name, engine, device = previous
        message = self.state.error or str(error)
        log.warning("loading back %s (%s) on %s after the failed load", name, engine, device)
        self._target, self.engine_name = name, engine
        try:
            self._load_on(name, device, fallback=None)
        except Exception:
            log.exception("loading back %s failed too", name)
            self._set(status=FAILED, error=message)
        self._set(last_error=message)

    def _load_on(self, name: str, device: str, fallback: str | None) -> LoadedModel:
        key, engine = self.engine_name, self.engine
        self._set(status=LOADING, model=name, device=device, engine=key, compute_type=engine.compute_type(device),
                  error=None, fallback=fallback, download_fraction=None, load_seconds=None)
        events = LoadEvents(
            on_download=lambda: self._set(status=DOWNLOADING, download_fraction=0.0),
            on_progress=lambda done, total: self._set(download_fraction=(done / total) if total else None),
        )
        log.info("loading model %s on %s with %s", name, device, key)
        started = time.perf_counter()
        try:
            model = engine.load(name, device, events)
        except Exception as e:
            if is_cuda_oom(e):
                raise
            message = str(e) if isinstance(e, WhisperUIError) else f"Loading model {name} failed: {type(e).__name__}: {e}"
            log.error("model %s failed to load on %s: %s", name, device, message)
            self._set(status=FAILED, error=message, last_error=message, download_fraction=None)
            if isinstance(e, WhisperUIError):
                raise
            raise ModelError(message) from e
        seconds = time.perf_counter() - started
        self._model, self._model_engine = model, key
        self._last_used = time.monotonic()
        compute_type = getattr(model, "compute_type", None)
        self._set(status=READY, model=model.name, device=model.device, engine=key,
                  compute_type=compute_type, fp16=model.fp16, load_seconds=seconds, download_fraction=None,
                  last_error=None)  # healthy again (a fallback's note or a restore's error is set after this)
        log.info("model %s ready on %s with %s (%s) in %.2f s", model.name, model.device, key,
                 compute_type, seconds)
        return model

    def _fallback_steps(self, name: str, device: str) -> list[tuple[str, str]]:
        """After a CUDA out-of-memory: the next smaller model on the GPU, then the CPU.

        A smaller model that cannot be had (offline, not on disk) is skipped,
        and the model asked for on the CPU is the last resort.
        """
        if device != "cuda":
            return []
        smaller = smaller_model(name)
        steps = [(smaller, "cuda"), (smaller, "cpu")] if smaller else []
        return [*steps, (name, "cpu")]

    def _fall_back(self, name: str, device: str, error: BaseException) -> LoadedModel:
        last: BaseException = error
        for next_name, next_device in self._fallback_steps(name, device):
            note = keyed_text(f"CUDA ran out of memory with {name} on {device}; fell back to {next_name} on "
                              f"{next_device}.", "notice_oom_fallback", name=name, device=device, next_name=next_name,
                              next_device=next_device)
            log.warning("CUDA out of memory with %s on %s (%s): trying %s on %s",
                        name, device, last, next_name, next_device)
            self._unload_locked()
            free_memory()
            try:
                model = self._load_on(next_name, next_device, fallback=note)
            except Exception as e:
                last = e
                continue
            self._set(last_error=note)
            return model
        free_memory()
        if isinstance(last, WhisperUIError):
            raise last
        message = (f"CUDA ran out of memory with model {name} and falling back did not help. "
                   "Close other programs using the GPU, choose a smaller model, or start with --device cpu.")
        log.error(message)
        self._set(status=FAILED, error=message, last_error=message)
        raise OutOfMemoryError(message, key="out_of_memory", name=name) from last

    # --- transcription -----------------------------------------------------

    def transcribe(self, audio: np.ndarray | Callable[[], np.ndarray], options: TranscribeOptions | None = None,
                   cancel: threading.Event | None = None, on_progress: OnProgress | None = None) -> TranscriptionResult:
        """Run one job on the shared model; waits for the running job or switch. ``on_progress``: the
        segments so far as they are finished (``LoadedModel.transcribe``).

        ``audio`` may be a function that decodes it: called once the job has the model, so that jobs
        waiting their turn hold their files, not their samples (an hour is 230 MB of float32; twelve
        waiting API jobs of tiny FLAC files held 3.2 GB). A job that fails keeps none of its arrays:
        the frames of its traceback are cleared (an exception kept by a caller would hold them)."""
        options = options or TranscribeOptions()
        self._count(jobs_waiting=1)
        try:
            self._acquire_job()
        finally:
            self._count(jobs_waiting=-1)
        stop = _JobStop(cancel)
        timer = threading.Timer(self.max_job_seconds, stop.set) if self.max_job_seconds else None
        try:
            self._count(jobs_running=1)
            if stop.is_set():
                raise CancelledError("The transcription was cancelled.")
            if timer is not None:  # from the moment the job has the model: waiting in the queue is not counted
                timer.daemon = True
                timer.start()
            if callable(audio):
                try:
                    audio = audio()
                except WhisperUIError as e:
                    e.from_input = True  # the file's fault, not the model's: not the Status tab's last error
                    raise
            return self._transcribe_locked(audio, options, stop, on_progress)
        except BaseException as e:
            audio = None
            traceback.clear_frames(e.__traceback__)  # the finished frames below let go of the samples
            self._job_failed(e, stop)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self._last_used = time.monotonic()
            self._count(jobs_running=-1)
            trim_heap()  # the job's activations go back to the system, not only to the allocator
            self._gate.release_job()

    def _job_failed(self, e: BaseException, stop: _JobStop) -> None:
        """A failed job, as the Status tab and the log tell it; a job over the time limit raises its own
        error instead of the cancel."""
        if isinstance(e, CancelledError):
            if stop.budget_spent:
                # an engine that could not keep the text so far (a remote replica's cancel): the notice, as an error
                log.warning("job stopped at its compute budget, without its text so far")
                raise JobTimeoutError(stop.budget_notice, key="notice_budget", **stop.budget_values) from None
            if stop.timed_out:
                minutes = self.max_job_seconds / 60
                log.warning("job stopped after %.0f s: over --max-job-minutes %g", self.max_job_seconds, minutes)
                error = JobTimeoutError(
                    f"The job took longer than this server allows ({minutes:g} minutes, --max-job-minutes) and was "
                    "stopped. Try a shorter file, or beam size 1, or ask the operator to raise --max-job-minutes.",
                    key="job_timeout", minutes=f"{minutes:g}")
                self._job_error(str(error))
                raise error from None
            log.info("job cancelled")
        elif isinstance(e, WhisperUIError) and not getattr(e, "from_input", False):
            self._job_error(str(e))

    def speeds(self, model: str, beam: bool | None = None, words: bool | None = None,
               engine: str | None = None, measure: str = "real_time_factor") -> list[float]:
        """The real-time factors of the recent jobs of this model on this engine (or ``engine``) and device, oldest
        first; with ``beam`` and ``words``, of that options class (beam search or greedy, word timestamps or not)
        where some jobs had it, else of any options. ``measure="cpu_factor"``: CPU seconds a second of audio."""
        device, engine = self.state.device, engine or self.engine_name
        same = [job for job in self.recent_jobs() if job["model"] == model and job["engine"] == engine
                and (device is None or job.get("device", device) == device) and job.get(measure)]
        alike = [job for job in same if job.get("beam") == beam and job.get("words") == words]
        return [job[measure] for job in (alike if beam is not None and alike else same)]

    def usual_factor(self, model: str, beam: bool | None = None, words: bool | None = None,
                     engine: str | None = None) -> float | None:
        """The median real-time factor of ``speeds`` (the same jobs); None before any."""
        factors = sorted(self.speeds(model, beam, words, engine))
        return factors[len(factors) // 2] if factors else None

    def expected_seconds(self, model: str, audio_seconds: float, beam: bool, words: bool,
                         last: int = 5) -> tuple[float, float] | None:
        """(fewest, most) seconds a job of ``audio_seconds`` should take now, from the last ``last`` jobs of this
        model, engine, device and options class; None before any. On the CPU, in CPU terms: a job's CPU seconds
        (its work, the same on a quiet or a busy machine) over the CPU its threads can get now (``cpu_share``),
        so that jobs timed while the machine was busy do not stretch the estimate of one on a quiet machine,
        nor the other way round. Elsewhere (a GPU; no load average, as on Windows), their real-time factors."""
        share = cpu_share(self.state.jobs_running > 0) if self.state.device == "cpu" else None
        factors = self.speeds(model, beam, words, measure="cpu_factor")[-last:] if share else []
        if factors:
            return audio_seconds * min(factors) / share, audio_seconds * max(factors) / share
        factors = self.speeds(model, beam, words)[-last:]
        return (audio_seconds * min(factors), audio_seconds * max(factors)) if factors else None

    def job_budget(self, model: str, audio_seconds: float, options: TranscribeOptions | None = None) -> float | None:
        """The seconds a job of ``audio_seconds`` may compute: ``compute_budget`` times what this model and engine
        took for that much audio in recent jobs (their median real-time factor, of jobs with ``options``' class
        where there are some; real time before any), at least ``BUDGET_MIN_SECONDS``; None without a budget."""
        if not self.compute_budget:
            return None
        usual = (self.usual_factor(model) if options is None else
                 self.usual_factor(model, options.beam_size > 1, bool(options.word_timestamps)))
        return max(BUDGET_MIN_SECONDS, self.compute_budget * (1.0 if usual is None else usual) * audio_seconds)

    def _acquire_job(self) -> None:
        """A job's place at the model. With one slot, a job finding no model loads it in its own place;
        with more, the load goes alone first (the exclusive side), as a switch does."""
        while True:
            if self._gate.slots > 1 and not (self._model is not None and self.state.ready):
                with self._gate:
                    if not (self._model is not None and self.state.ready):
                        self._load_locked(self._target)
            self._gate.acquire_job()
            if self._gate.slots == 1 or (self._model is not None and self.state.ready):
                return
            self._gate.release_job()  # unloaded between the two: load again

    def _job_error(self, message: str) -> None:
        self._set(last_error=message)
        self._job_error_at = self.state.last_error_at

    def _transcribe_locked(self, audio: np.ndarray, options: TranscribeOptions, cancel: threading.Event | None,
                           on_progress: OnProgress | None = None) -> TranscriptionResult:
        fallback_before = self.state.fallback
        model = self._model if self._model is not None and self.state.ready else self._load_locked(self._target)
        notices: list[str] = []
        if self.state.fallback and self.state.fallback != fallback_before:
            notices.append(self.state.fallback)  # the load this job started fell back
        budget = self.job_budget(model.name, len(audio) / SAMPLE_RATE, options) if isinstance(cancel, _JobStop) else None
        spent = threading.Timer(budget, cancel.spend) if budget else None
        if spent is not None:  # from the moment the model is there: a load is not counted
            cancel.budget_values = dict(seconds=f"{budget:.0f}", factor=f"{self.compute_budget:g}", model=model.name)
            cancel.budget_notice = keyed_text(
                f"The job stopped at its compute budget: {budget:.0f} s, {self.compute_budget:g}x what {model.name} "
                "usually takes here for this much audio (--compute-budget). The text is what was decoded by then: "
                "the model kept retrying. Try choosing the language, another model, or faster-whisper.",
                "notice_budget", **cancel.budget_values)
            spent.daemon = True
            spent.start()
        cpu_started = time.process_time()  # the work, in CPU seconds: what a busier machine does not change
        try:
            while True:
                try:
                    result = model.transcribe(audio, options, cancel, on_progress)
                    break
                except Exception as e:
                    if not is_cuda_oom(e):
                        raise
                    free_memory()
                    model = self._fall_back(model.name, model.device, e)
                    notices.append(self.state.fallback or "")
        finally:
            if spent is not None:
                spent.cancel()
        # the load's notices, then the engine's own (a loop or a phantom cut, the budget): these were dropped here
        result = replace(result, notices=tuple(dict.fromkeys(n for n in (*notices, *result.notices) if n)))
        cpu_seconds = time.process_time() - cpu_started
        with self._state_lock:
            self._recent_jobs.append({"at": round(time.time(), 3), "model": result.model, "engine": self.engine_name,
                                      "device": result.device, "beam": options.beam_size > 1,
                                      "words": bool(options.word_timestamps), "audio_seconds": round(result.duration, 2),
                                      "processing_seconds": round(result.processing_seconds, 3),
                                      "real_time_factor": round(result.real_time_factor, 4),
                                      "cpu_factor": round(cpu_seconds / result.duration, 4) if result.duration else None})
        self._count(jobs_done=1)
        # a job's own error (a time limit...) goes with the next good job; a load's, with the next good load
        error_at = self.state.last_error_at
        healthy = {"last_error": None} if not notices and error_at is not None and error_at == self._job_error_at else {}
        self._set(last_rtf=result.real_time_factor, last_audio_seconds=result.duration,
                  last_speech_seconds=result.speech_seconds, **healthy)
        speech = "" if result.speech_seconds is None else f" ({result.speech_seconds:.1f} s of speech)"
        log.info("transcribed %.1f s of audio%s in %.2f s (real-time factor %.2f) with %s on %s, language %s, "
                 "%d characters", result.duration, speech, result.processing_seconds, result.real_time_factor,
                 result.model, result.device,
                 ", ".join(f"{lang} {share:.0%}" for lang, share in result.languages) or result.language,
                 len(result.text))
        log.debug("the transcript begins: %r", result.text[:80])  # users' words: never at INFO
        return result

    # --- idle unload -------------------------------------------------------

    def _watch_idle(self) -> None:
        interval = max(0.05, min(30.0, self.idle_unload_seconds / 4))
        while not self._stop.wait(interval):
            if self._model is None or time.monotonic() - self._last_used < self.idle_unload_seconds:
                continue
            if not self._gate.acquire(blocking=False):
                continue
            try:
                if self._model is not None and time.monotonic() - self._last_used >= self.idle_unload_seconds:
                    log.info("model %s idle for %.0f s: unloading", self._model.name, self.idle_unload_seconds)
                    self._unload_locked()
                    self._set(status=NOT_LOADED, load_seconds=None)
            finally:
                self._gate.release()


def cpu_share(running: bool = False) -> float | None:
    """How many CPUs a job's threads can get now: all of them (torch's threads, at most the machine's CPUs) on
    a quiet machine; on a busy one, their fair share beside the other runnable tasks (the 1-minute load
    average, less this process's own threads while one of its jobs is ``running``). None where there is no load
    average (Windows)."""
    import os

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    try:
        import torch

        threads = max(1, torch.get_num_threads())
    except ImportError:  # (faster-whisper alone: its threads are as many)
        threads = os.cpu_count() or 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = min(threads, cpus)
    own = threads if running else 0
    others = max(0.0, load - own)
    return min(threads, cpus * threads / (threads + others))

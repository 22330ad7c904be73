"""9. Text as it comes: what the page's streaming costs a job, and how soon the first text shows.

The page asks the engines for each finished segment (``on_progress``: faster-whisper after each
segment, openai-whisper after each 30-second window) and shows them while the model works; the API
does not ask. This runs the same job through the app's service (``create_service(...)
.transcribe_file``, the page's call) with and without ``on_progress``, alternating, both engines
(tiny.en; openai-whisper fp32, faster-whisper int8, one loaded at a time), the app's default
decoding and speech detection, on the corpus's ~75 s meeting clip. Figures: wall time with/without
(1.00: streaming is free), the news per job, and the first news's time against the whole job's.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from bench.common import ensure_speech, finish, median, parser, ratio

ENGINES = (("openai-whisper fp32", "openai-whisper"), ("faster-whisper int8", "faster-whisper"))


def _job(service, path, news: list | None) -> float:
    from whisper_ui.core.transcription import TranscribeOptions

    started = time.perf_counter()

    def on_progress(done, total, segments, attempt=None):
        if attempt is None:  # finished segments (not the start of a window's try: openai-whisper tells those too)
            news.append((time.perf_counter() - started, done, len(segments)))

    service.transcribe_file(path, TranscribeOptions(language="en"), (),
                            on_progress=on_progress if news is not None else None)
    return time.perf_counter() - started


def run(quick: bool = False, repeats: int = 3, write: bool = True) -> dict[str, Any]:
    from bench.engines import ensure_ct2_models
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime import create_service

    models = ensure_ct2_models()
    speech = ensure_speech()
    clip = speech.short if quick else speech.long
    repeats = 1 if quick else repeats
    data: dict[str, Any] = {"clip": clip.name, "repeats": repeats, "engines": {}}
    rows = []
    for label, engine in ENGINES:
        service = create_service(Settings(model="tiny.en", model_dir=models, device="cpu", engine=engine,
                                          compute_type="int8" if engine == "faster-whisper" else "auto"))
        try:
            service.manager.load()
            _job(service, clip, None)  # untimed: the first job after a load pays one-off costs
            plain, streamed, firsts, counts = [], [], [], []
            for _ in range(repeats):
                plain.append(_job(service, clip, None))
                news: list = []
                streamed.append(_job(service, clip, news))
                counts.append(len(news))
                firsts.append(news[0][0] if news else None)
        finally:
            service.manager.close()
            service.close()
        first = median([f for f in firsts if f is not None]) if any(f is not None for f in firsts) else None
        out = {"plain_seconds": plain, "streamed_seconds": streamed, "news_per_job": counts,
               "first_news_seconds": firsts, "ratio": ratio(median(streamed), median(plain))}
        data["engines"][label] = out
        rows.append([label, f"{median(plain):.2f}", f"{median(streamed):.2f}", f"{out['ratio']:.3f}",
                     f"{median(counts):.0f}", "-" if first is None else f"{first:.2f} of {median(streamed):.2f}"])
    return finish("streaming", data, rows, ["engine", "without (s)", "with (s)", "with / without", "news a job",
                                            "first news (s)"], write=write)


def main() -> int:
    p = parser(__doc__.splitlines()[0], repeats=3)
    args = p.parse_args()
    run(args.quick, args.repeats, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())

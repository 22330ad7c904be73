"""12. Following the language: the app with language auto against the raw library, one-language speech.

With language *auto* the app follows the language window by window (``whisper_ui.engines.vad.Follower``): each
30-second window's language is detected from the encoder output the window is then decoded from. Raw
openai-whisper detects once, on the first 30 s, with an encoder pass of its own, then decodes every window
in that language; raw faster-whisper does the same. So following should cost nothing on one-language
audio (target: app/raw ≤ 1.05 with auto), where detecting each window apart, as the app did before,
encoded each window twice (1.22x on a 38 s recording).

In this process, on the same loaded weights (``base``, multilingual): the app's ``LoadedModel.transcribe``
with speech detection off (the library has none), beam 5 and the app's decoding, against
``whisper.transcribe`` / faster-whisper's ``WhisperModel.transcribe`` with the same options (the app's own
``whisper_kwargs`` / ``faster_whisper_kwargs``), language auto and English, in alternating pairs (the order
flipping each round), on a one-language recording of ~38 s (``bench/recordings.py``: real recordings from
pytest-audioeval and espeak-ng sentences). The texts are compared too.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import finish, median, parser, ratio

ENGINES = ("openai-whisper", "faster-whisper")
TARGET = 1.05


def _raw(engine: str, loaded, audio, options, language: str | None) -> str:
    if engine == "openai-whisper":
        import torch
        import whisper

        from whisper_ui.engines.base import JOB_SEED
        from whisper_ui.engines.openai_whisper import whisper_kwargs

        torch.manual_seed(JOB_SEED)
        kwargs = whisper_kwargs(options, task="transcribe", language=language, fp16=False)
        return whisper.transcribe(loaded.net, audio, **kwargs)["text"].strip()
    from whisper_ui.engines.faster import faster_whisper_kwargs

    segments, _ = loaded.net.transcribe(audio, **faster_whisper_kwargs(options, task="transcribe", language=language))
    return "".join(s.text for s in segments).strip()


def run(quick: bool = False, repeats: int = 3, seconds: float = 38.0, write: bool = True) -> dict[str, Any]:
    import whisper

    from bench import recordings
    from bench.common import ensure_models
    from whisper_ui.core.settings import Settings
    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.base import free_memory
    from whisper_ui.runtime import create_engines

    models = ensure_models()
    recording = recordings.monolingual("en", 12.0 if quick else seconds)
    audio = whisper.load_audio(str(recording.path))
    repeats = 1 if quick else repeats
    data: dict[str, Any] = {"recording": recording.name, "audio_seconds": len(audio) / 16000, "quick": quick, "runs": {}}
    rows = []
    for engine in ENGINES[:1] if quick else ENGINES:
        loaded = create_engines(Settings(model_dir=models, engine=engine))[engine].load("base", "cpu")
        for language in (None,) if quick else (None, "en"):  # quick: the following path (auto) only
            options = TranscribeOptions(vad=False, language=language)
            app_times, raw_times, same = [], [], []
            app_text = raw_text = ""
            for i in range(repeats):
                for side in ("raw", "app") if i % 2 == 0 else ("app", "raw"):
                    started = time.perf_counter()
                    if side == "raw":
                        raw_text = _raw(engine, loaded, audio, options, language)
                        raw_times.append(time.perf_counter() - started)
                    else:
                        app_text = loaded.transcribe(audio, options).text
                        app_times.append(time.perf_counter() - started)
                same.append(app_text == raw_text)
            label = f"{engine}, language {language or 'auto'}"
            data["runs"][label] = {"app_seconds": app_times, "raw_seconds": raw_times, "same_text": all(same),
                                   "ratio": ratio(median(app_times), median(raw_times)),
                                   "pairwise_ratio_median": median([a / r for a, r in zip(app_times, raw_times,
                                                                                          strict=True)])}
            run_data = data["runs"][label]
            rows.append([label, run_data["pairwise_ratio_median"], f"≤ {TARGET}" if language is None else "-",
                         median(raw_times), median(app_times), len(app_times), "yes" if all(same) else "NO"])
        loaded.unload()
        del loaded
        free_memory()
    headers = ["engine, language", "app/raw (pairwise median)", "target", "raw s", "app s", "n", "same text"]
    return finish("language", data, rows, headers, write)


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeats=3).parse_args()
    run(args.quick, args.repeats, write=not args.no_write)


if __name__ == "__main__":
    main()

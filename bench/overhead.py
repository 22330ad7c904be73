"""1. Overhead: the running app end to end against ``whisper.transcribe`` in a plain process.

Same weights, same file, same decoding options (``app_decode_kwargs`` builds
them with the app's own ``whisper_kwargs``). The app is timed from the client:
``gradio_client`` uploads the file and waits for the text (``download_files=False``:
the output files are not fetched). The floor is timed inside the raw worker:
``whisper.transcribe(model, path, **same_options)``, which includes
openai-whisper's own ffmpeg decode of the path.

Both processes load their model and run one untimed job first (the first
request after start is measured by cold_start.py), then alternate, the order
flipping each repeat. The server's log gives the time its model spent, so the
overhead can be split into what the core adds around the model and what
Gradio and HTTP add.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import (
    JOB_LINE,
    app_and_raw,
    app_decode_kwargs,
    audio_seconds,
    ensure_models,
    ensure_speech,
    finish,
    log_dir,
    median,
    parser,
    ratio,
)


def _model_seconds(log: str, seen: int) -> tuple[float | None, int]:
    jobs = JOB_LINE.findall(log)
    return (float(jobs[-1][1]) if len(jobs) > seen else None), len(jobs)


def run(quick: bool = False, repeats: int = 5, model: str = "tiny.en", long_repeats: int | None = None,
        write: bool = True, app=None, raw=None) -> dict[str, Any]:
    from gradio_client import handle_file

    ensure_models()
    speech = ensure_speech()
    kwargs = app_decode_kwargs(english_only=model.endswith(".en"))
    clips = {"short": speech.short, "long": speech.long}
    counts = {"short": repeats, "long": long_repeats or repeats}
    if quick:
        clips, counts = {"short": speech.sentences[0]}, {"short": 1}
    logs = log_dir("overhead")
    data: dict[str, Any] = {"model": model, "decode_options": kwargs, "clips": {}, "quick": quick}
    with app_and_raw(logs, model, app, raw) as (app, raw):
        client = app.client()
        if not quick:  # one untimed job each: the first call after a load pays one-off set-up costs
            raw.transcribe(speech.sentences[0], kwargs)
            client.predict(handle_file(str(speech.sentences[0])), api_name="/transcribe")
        seen = _model_seconds(app.log(), 0)[1]
        for label, path in clips.items():
            raw_times, app_times, model_times, same_text = [], [], [], []
            raw_cpu: list[float] = []
            app_cpu: list[float] = []
            for i in range(counts[label]):
                for side in (("raw", "app") if i % 2 == 0 else ("app", "raw")):
                    if side == "raw":
                        reply = raw.transcribe_full(path, kwargs)
                        raw_times.append(reply["seconds"])
                        raw_cpu.append(reply["cpu_seconds"])
                        raw_text = reply["text"]
                    else:
                        cpu = app.cpu_seconds()
                        started = time.perf_counter()
                        app_text = client.predict(handle_file(str(path)), api_name="/transcribe")[0]
                        app_times.append(time.perf_counter() - started)
                        app_cpu.append(app.cpu_seconds() - cpu)
                        time.sleep(0.05)  # the log line is written just after the answer
                        model_seconds, seen = _model_seconds(app.log(), seen)
                        model_times.append(model_seconds)
                same_text.append(raw_text == app_text)
            data["clips"][label] = {
                "file": path.name,
                "audio_seconds": audio_seconds(path),
                "raw_seconds": raw_times,
                "app_seconds": app_times,
                "app_model_seconds": model_times,
                "raw_median": median(raw_times),
                "app_median": median(app_times),
                "ratio": ratio(median(app_times), median(raw_times)),
                "pairwise_ratio_median": median([a / r for a, r in zip(app_times, raw_times, strict=True)]),
                "app_outside_model_median": median([a - m for a, m in zip(app_times, model_times, strict=True)
                                                    if m is not None]),
                "raw_cpu_seconds": raw_cpu,
                "app_cpu_seconds": app_cpu,
                "cpu_ratio": ratio(median(app_cpu), median(raw_cpu)),
                "same_text": all(same_text),
                "target": 1.2 if label == "short" else 1.05,
            }
    rows = [[label, f"{c['ratio']:.3f}", f"{c['pairwise_ratio_median']:.3f}", f"{c['cpu_ratio']:.3f}", f"≤ {c['target']}",
             f"{c['audio_seconds']:.1f}", c["raw_median"], c["app_median"], c["app_outside_model_median"],
             len(c["raw_seconds"]), "yes" if c["same_text"] else "NO"]
            for label, c in data["clips"].items()]
    headers = ["clip", "app/raw", "pairwise", "CPU app/raw", "target", "audio s", "raw s", "app s", "app outside model s", "n",
               "same text"]
    return finish("overhead", data, rows, headers, write)


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeats=5, model=True).parse_args()
    run(args.quick, args.repeats, args.model, write=not args.no_write)


if __name__ == "__main__":
    main()

"""The OpenAI-compatible route against the page's ``/transcribe`` through ``gradio_client`` (issue 16).

One ``python app.py`` (tiny.en by default), the same clip, the same decoding options (language
auto, beam 5, speech detection on, no output files: the REST route writes none, so the page is
asked for none too). Timed from the client, end to end: for the REST route one multipart POST
(``httpx``) until the JSON is in; for the page ``gradio_client``'s upload, queue join and event
stream until the text is in. One untimed call of each first, then they alternate, the order
flipping each repeat. The target: the REST route is no slower (ratio <= 1).

``python -m bench.api [--repeats N] [--model NAME] [--clip short|long]``.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

from bench.common import MODELS, audio_seconds, ensure_models, ensure_speech, finish, log_dir, median, parser, start_app


def run(quick: bool = False, repeats: int = 7, model: str = "tiny.en", clip: str = "short",
        write: bool = True, app=None) -> dict[str, Any]:
    """``app``: a server already running ``model`` (``python -m bench --quick`` shares one)."""
    import httpx
    from gradio_client import handle_file

    ensure_models()
    speech = ensure_speech()
    path = speech.sentences[0] if quick else getattr(speech, clip)
    repeats = 1 if quick else repeats
    times: dict[str, list[float]] = {"rest": [], "gradio_client": []}
    texts: dict[str, str] = {}
    with (nullcontext(app) if app else start_app(log_dir("api"), "--model", model, models=MODELS)) as app, \
            httpx.Client(timeout=600) as http:
        client = app.client()
        data = path.read_bytes()

        def rest() -> str:
            response = http.post(app.url + "/v1/audio/transcriptions", data={"model": "whisper-1"},
                                 files={"file": (path.name, data, "audio/wav")})
            response.raise_for_status()
            return response.json()["text"]

        def page() -> str:
            return client.predict(handle_file(str(path)), "transcribe", "auto", 5, False, "", [],
                                  api_name="/transcribe")[0]

        calls = {"rest": rest, "gradio_client": page}
        for name, call in calls.items():  # untimed: the first call of each pays one-off costs
            texts[name] = call()
        for i in range(repeats):
            for name in (("rest", "gradio_client") if i % 2 == 0 else ("gradio_client", "rest")):
                started = time.perf_counter()
                text = calls[name]()
                times[name].append(time.perf_counter() - started)
                assert text == texts[name], (name, text, texts[name])
    rest_s, page_s = median(times["rest"]), median(times["gradio_client"])
    result = {"model": model, "clip": path.name, "audio_seconds": audio_seconds(path), "repeats": repeats,
              "seconds": times, "median_rest_s": rest_s, "median_gradio_client_s": page_s,
              "ratio_rest_over_gradio_client": rest_s / page_s, "same_text": texts["rest"] == texts["gradio_client"],
              "quick": quick}
    rows = [["POST /v1/audio/transcriptions", f"{rest_s:.3f}", f"{min(times['rest']):.3f}"],
            ["/transcribe (gradio_client)", f"{page_s:.3f}", f"{min(times['gradio_client']):.3f}"],
            ["ratio REST / gradio_client", f"{rest_s / page_s:.3f}", "target <= 1"]]
    return finish("api", result, rows, ["route", "median s", "min s"], write)


def main() -> None:
    p = parser(__doc__.splitlines()[0], repeats=7, model=True)
    p.add_argument("--clip", choices=("short", "long"), default="short")
    args = p.parse_args()
    run(args.quick, args.repeats, args.model, args.clip, write=not args.no_write)


if __name__ == "__main__":
    main()

"""The floor any Gradio app over openai-whisper pays: import whisper, load the model, launch a bare page.

Written the plain way, one step after the other, as a user would write it.
``/readyz`` answers 200 as soon as the page is up, because by then the model is
loaded. With ``--endpoint`` the page also has one ``/transcribe`` API call that
runs ``whisper.transcribe`` on the uploaded file, so the floor's memory during
a job can be measured with the same client as the app's. With ``--switch-to
PATH`` a ``/switch`` call drops the model and loads that one, the way a user of
the raw library switches (``del model``, ``gc.collect()``, ``whisper.load_model``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import threading


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", help="path of a .pt checkpoint (none: a page without a model)")
    parser.add_argument("--endpoint", action="store_true", help="add a /transcribe API call")
    parser.add_argument("--kwargs", default="{}", help="JSON keyword arguments for whisper.transcribe")
    parser.add_argument("--switch-to", help="path of a .pt checkpoint a /switch call loads in place of the model")
    args = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    import whisper

    models = {"current": whisper.load_model(args.model, device="cpu") if args.model else None}

    import gradio as gr
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    kwargs = json.loads(args.kwargs)

    def transcribe(path: str) -> str:
        return whisper.transcribe(models["current"], path, **kwargs)["text"].strip()

    def switch() -> str:
        models["current"] = None
        gc.collect()
        models["current"] = whisper.load_model(args.switch_to, device="cpu")
        return args.switch_to

    with gr.Blocks() as demo:
        gr.Markdown("floor")
        if args.endpoint:
            audio = gr.File(type="filepath")
            text = gr.Textbox()
            gr.Button().click(transcribe, audio, text, api_name="transcribe")
        if args.switch_to:
            gr.Button().click(switch, None, gr.Textbox(), api_name="switch")
    demo.queue(default_concurrency_limit=1)
    demo.launch(server_name="127.0.0.1", server_port=args.port, prevent_thread_lock=True, quiet=True,
                app_kwargs={"routes": [APIRoute("/readyz", lambda: JSONResponse({"status": "ready"}))]})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""6. CPU threads: torch's intra-op thread count on this machine, and the app's default.

The raw worker transcribes the short clip with ``torch.set_num_threads(n)``
for each n in turn (1, 2 and, to show oversubscription, twice the CPU count),
the order rotating each repeat. Then two apps, ``--threads 1`` and the default
(``--threads 0``, torch's own choice), alternate on the same clip: this checks
that the setting reaches the threads Gradio runs jobs in, and reads the
default from the app's start-up log ("torch ..., N CPU threads"). ``--quick``
runs the default app only.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import ExitStack
from typing import Any

from bench.common import (
    app_and_raw,
    app_decode_kwargs,
    ensure_models,
    ensure_speech,
    finish,
    log_dir,
    median,
    parser,
    start_app,
)

_THREADS_LINE = re.compile(r"torch \S+, (\d+) CPU threads")


def run(quick: bool = False, repeats: int = 3, model: str = "tiny.en", write: bool = True, app=None,
        raw=None) -> dict[str, Any]:
    from gradio_client import handle_file

    ensure_models()
    speech = ensure_speech()
    clip = speech.sentences[0] if quick else speech.short
    repeats = 1 if quick else repeats
    cpus = os.cpu_count() or 1
    kwargs = app_decode_kwargs(english_only=model.endswith(".en"))
    logs = log_dir("threads")
    app_times: dict[str, list[float]] = {"default": []} if quick else {"--threads 1": [], "default": []}
    app_threads: dict[str, int | None] = {}
    with ExitStack() as stack:
        app, raw = stack.enter_context(app_and_raw(logs, model, app, raw))
        default_threads = raw.hello["threads"]
        counts = sorted({1, default_threads, cpus} | (set() if quick else {2 * cpus}))
        raw_times: dict[int, list[float]] = {n: [] for n in counts}
        if not quick:
            raw.transcribe(clip, kwargs)
        for i in range(repeats):
            for n in counts[i % len(counts):] + counts[:i % len(counts)]:
                raw.set_threads(n)
                raw_times[n].append(raw.transcribe(clip, kwargs)[0])
        raw.set_threads(default_threads)
        servers = {"default": app}
        if not quick:
            servers["--threads 1"] = stack.enter_context(start_app(logs, "--model", model, "--threads", "1"))
        clients = {label: s.client() for label, s in servers.items()}
        for label, client in clients.items():
            if not quick:
                client.predict(handle_file(str(clip)), api_name="/transcribe")
            found = _THREADS_LINE.search(servers[label].log())
            app_threads[label] = int(found.group(1)) if found else None
        for i in range(repeats):
            labels = list(app_times) if i % 2 == 0 else list(app_times)[::-1]
            for label in labels:
                started = time.perf_counter()
                clients[label].predict(handle_file(str(clip)), api_name="/transcribe")
                app_times[label].append(time.perf_counter() - started)
    best = min(counts, key=lambda n: median(raw_times[n]))
    data: dict[str, Any] = {"model": model, "clip": clip.name, "quick": quick, "cpus": cpus,
                            "torch_default_threads": default_threads, "raw_seconds": raw_times,
                            "app_seconds": app_times, "app_threads": app_threads, "fastest_raw_threads": best}
    rows = [[f"raw, {n} thread{'s' if n > 1 else ''}" + (" (torch default)" if n == default_threads else ""),
             f"{median(raw_times[n]) / median(raw_times[default_threads]):.3f}", median(raw_times[n]), len(raw_times[n])]
            for n in counts]
    rows += [[f"app {label} ({app_threads[label]} threads)",
              f"{median(app_times[label]) / median(app_times['default']):.3f}", median(app_times[label]),
              len(app_times[label])] for label in app_times]
    return finish("threads", data, rows, ["", "time vs default", "median s", "n"], write)


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeats=3, model=True).parse_args()
    run(args.quick, args.repeats, args.model, write=not args.no_write)


if __name__ == "__main__":
    main()

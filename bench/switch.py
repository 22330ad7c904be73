"""4. Switch time: ``tiny.en`` <-> ``base`` in the running app against ``whisper.load_model`` in a plain process.

The app is switched through its ``/load_model`` API (timed from the client,
and from the server's log line "model X ready on cpu in N s"); the raw worker
frees its model and calls ``whisper.load_model(path)``. They alternate, the
order flipping each repeat. Without a ``/load_model`` endpoint the app side
falls back to ``ModelManager.load()`` in this process (noted in the results).
"""

from __future__ import annotations

import re
import time
from typing import Any

from bench.common import (
    MODELS,
    app_and_raw,
    ensure_models,
    finish,
    has_endpoint,
    log_dir,
    median,
    parser,
    ratio,
)

_READY_LINE = re.compile(r"model (\S+) ready on \S+ in ([\d.]+) s")


class _InProcess:
    """The fallback: the app's own manager and engine, in this process."""

    def __init__(self, first: str):
        from whisper_ui.engines.openai_whisper import WhisperEngine
        from whisper_ui.runtime.manager import ModelManager

        self.manager = ModelManager(WhisperEngine(MODELS), first, "cpu")
        self.manager.load(first)

    def load(self, name: str) -> tuple[float, float | None]:
        started = time.perf_counter()
        state = self.manager.load(name)
        return time.perf_counter() - started, state.load_seconds

    def close(self) -> None:
        self.manager.close()


def run(quick: bool = False, repeats: int = 3, write: bool = True, app=None, raw=None) -> dict[str, Any]:
    ensure_models()
    models = ("tiny.en", "base")
    repeats = 1 if quick else repeats
    logs = log_dir("switch")
    times: dict[str, dict[str, list]] = {f"{a}->{b}": {"raw": [], "app": [], "app_server": []}
                                         for a, b in (models, models[::-1])}
    with app_and_raw(logs, models[0], app, raw) as (app, raw):
        client = app.client()
        via = "/load_model" if has_endpoint(client, "/load_model") else "ModelManager.load() in-process"
        fallback = _InProcess(models[0]) if via != "/load_model" else None
        try:
            current = models[0]
            for i in range(repeats):
                for target in (models[1], models[0]):
                    key = f"{current}->{target}"
                    for side in (("raw", "app") if i % 2 == 0 else ("app", "raw")):
                        if side == "raw":
                            times[key]["raw"].append(raw.load(MODELS / f"{target}.pt"))
                        elif fallback is not None:
                            seconds, server_seconds = fallback.load(target)
                            times[key]["app"].append(seconds)
                            times[key]["app_server"].append(server_seconds)
                        else:
                            started = time.perf_counter()
                            client.predict(target, api_name="/load_model")
                            times[key]["app"].append(time.perf_counter() - started)
                            ready = [s for name, s in _READY_LINE.findall(app.log()) if name == target]
                            times[key]["app_server"].append(float(ready[-1]) if ready else None)
                    current = target
        finally:
            if fallback is not None:
                fallback.close()
    data: dict[str, Any] = {"via": via, "quick": quick, "times": times, "directions": {}}
    rows = []
    for key, t in times.items():
        server = [s for s in t["app_server"] if s is not None]
        summary = {"raw_median": median(t["raw"]), "app_median": median(t["app"]),
                   "app_server_median": median(server), "ratio": ratio(median(t["app"]), median(t["raw"])),
                   "server_ratio": ratio(median(server), median(t["raw"]))}
        data["directions"][key] = summary
        rows.append([key, f"{summary['ratio']:.3f}", f"{summary['server_ratio']:.3f}", summary["raw_median"],
                     summary["app_median"], summary["app_server_median"], len(t["raw"])])
    headers = ["switch", "app/raw", "server/raw", "raw load s", "app s (client)", "app s (server log)", "n"]
    return finish("switch", data, rows, headers, write)


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeats=3).parse_args()
    run(args.quick, args.repeats, write=not args.no_write)


if __name__ == "__main__":
    main()

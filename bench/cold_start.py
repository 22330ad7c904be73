"""2. Cold start: process start to ``/readyz`` = 200, against the floor; first request against a warm one.

The floor is ``bench/floor_app.py``: import whisper, load the model, launch a
bare ``gr.Blocks`` page (with one API call, so its first request can be timed
too), one step after the other. Both are started by this process, alternately,
the order flipping each repeat, and polled every 20 ms.

For the app, the log's timestamps give where the time goes: torch imported,
model loading started and finished, page serving.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

from bench.common import (
    JOB_LINE,
    MODELS,
    app_decode_kwargs,
    ensure_models,
    ensure_speech,
    finish,
    log_dir,
    median,
    parser,
    ratio,
    start_app,
    start_floor,
)

# log line -> milestone name (the first line that matches)
_MILESTONES = {
    "torch imported": re.compile(r"torch \S+, \d+ CPU threads"),
    "model load started": re.compile(r"loading model "),
    "model ready": re.compile(r"model \S+ ready on"),
    "page serving": re.compile(r"serving on http"),
}
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def timeline(log: str, started_epoch: float) -> dict[str, float]:
    """Seconds from process creation to each milestone in the app's log."""
    found: dict[str, float] = {}
    for line in log.splitlines():
        stamp = _STAMP.match(line)
        if not stamp:
            continue
        for name, pattern in _MILESTONES.items():
            if name not in found and pattern.search(line):
                at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found[name] = round(at - started_epoch, 3)
    return found


def _first_and_warm(server, clip, warm: int) -> tuple[float, float, list[float]]:
    from gradio_client import handle_file

    started = time.perf_counter()
    client = server.client()
    client_seconds = time.perf_counter() - started
    times = []
    for _ in range(1 + warm):
        started = time.perf_counter()
        client.predict(handle_file(str(clip)), api_name="/transcribe")
        times.append(time.perf_counter() - started)
    return client_seconds, times[0], times[1:]


def run(quick: bool = False, repeats: int = 3, model: str = "tiny.en", write: bool = True) -> dict[str, Any]:
    ensure_models()
    speech = ensure_speech()
    clip = speech.sentences[0]
    kwargs = app_decode_kwargs(english_only=model.endswith(".en"))
    repeats = 1 if quick else repeats
    warm = 1 if quick else 2
    logs = log_dir("cold_start")
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "app": []}
    for i in range(repeats):
        for side in (("floor", "app") if i % 2 == 0 else ("app", "floor")):
            if side == "floor":
                server = start_floor(logs, MODELS / f"{model}.pt", "--endpoint", "--kwargs", json.dumps(kwargs))
            else:
                server = start_app(logs, "--model", model)
            with server:
                record: dict[str, Any] = {"ready_seconds": server.ready_seconds}
                record["client_seconds"], record["first_request"], record["warm_requests"] = (
                    _first_and_warm(server, clip, warm))
                if side == "app":
                    time.sleep(0.1)  # the last job's log line
                    record["timeline"] = timeline(server.log(), server.ps.create_time())
                    record["model_seconds"] = [float(s) for _, s in JOB_LINE.findall(server.log())]
            runs[side].append(record)

    def summary(side: str) -> dict[str, Any]:
        records = runs[side]
        warm_median = median([t for r in records for t in r["warm_requests"]])
        first_median = median([r["first_request"] for r in records])
        return {"ready_median": median([r["ready_seconds"] for r in records]),
                "first_request_median": first_median, "warm_request_median": warm_median,
                "first_over_warm": ratio(first_median, warm_median)}

    data: dict[str, Any] = {"model": model, "clip": clip.name, "quick": quick, "runs": runs,
                            "floor": summary("floor"), "app": summary("app")}
    data["ratio"] = ratio(data["app"]["ready_median"], data["floor"]["ready_median"])
    data["pairwise_ratio_median"] = median([a["ready_seconds"] / f["ready_seconds"]
                                            for a, f in zip(runs["app"], runs["floor"], strict=True)])
    keys = sorted({k for r in runs["app"] for k in r.get("timeline", {})}, key=list(_MILESTONES).index)
    data["app_timeline_median"] = {k: median([r["timeline"][k] for r in runs["app"] if k in r["timeline"]])
                                   for k in keys}
    rows = [["start to ready", f"{data['ratio']:.3f}", f"{data['pairwise_ratio_median']:.3f}", "≤ 1.2",
             data["floor"]["ready_median"], data["app"]["ready_median"]],
            ["first request", f"{ratio(data['app']['first_request_median'], data['floor']['first_request_median']):.3f}",
             "", "", data["floor"]["first_request_median"], data["app"]["first_request_median"]],
            ["warm request", f"{ratio(data['app']['warm_request_median'], data['floor']['warm_request_median']):.3f}",
             "", "", data["floor"]["warm_request_median"], data["app"]["warm_request_median"]],
            ["first / warm", "", "", "", data["floor"]["first_over_warm"], data["app"]["first_over_warm"]]]
    rows += [[f"  app: {k}", "", "", "", "", v] for k, v in data["app_timeline_median"].items()]
    return finish("cold_start", data, rows, ["", "app/floor", "pairwise", "target", "floor s", "app s"], write)


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeats=3, model=True).parse_args()
    run(args.quick, args.repeats, args.model, write=not args.no_write)


if __name__ == "__main__":
    main()

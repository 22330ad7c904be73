"""5. Concurrency: 1, 4 and 8 clients on short clips against sequential raw transcription.

Two sets of jobs: 16 of the three ~3 s sentences, round robin, and 8 of the
~10 s clip (the overhead benchmark's short clip). The same list of jobs is run
by the raw worker one after the other, and by N ``gradio_client`` threads
against the app (each with its own client, pulling jobs from a shared list).
The app runs one job at a time on its model, so N clients cannot beat
sequential: the target is a throughput of at least 0.9x sequential raw, with
no errors. Each app batch is run beside a raw batch and a batch of the same
jobs through the Gradio floor (``floor_app.py --endpoint``: a plain gr.Blocks
page whose one call runs ``whisper.transcribe``, queue limit 1, driven by the
same ``gradio_client``), in an order that rotates; each ratio is the median over
the rounds of those neighbours. app/Gradio floor says what whisper-ui adds to
what any Gradio app over openai-whisper pays; the target is against raw.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from typing import Any

from bench.common import (
    MODELS,
    app_and_raw,
    app_decode_kwargs,
    ensure_models,
    ensure_speech,
    finish,
    log_dir,
    median,
    p95,
    parser,
    start_floor,
)


def _app_batch(clients, jobs) -> tuple[float, list[float], list[str]]:
    """Run ``jobs`` with one thread per client; (wall seconds, latencies, errors)."""
    from gradio_client import handle_file

    pending = list(enumerate(jobs))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def worker(client) -> None:
        while True:
            with lock:
                if not pending:
                    return
                _, path = pending.pop(0)
            started = time.perf_counter()
            try:
                text = client.predict(handle_file(str(path)), api_name="/transcribe")[0]
                if not text:
                    raise RuntimeError("empty text")
            except Exception as e:  # counted, not raised: the errors are a result
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors


CLIP_SETS = {  # name: (clips, jobs per batch)
    # the three ~3 s sentences, round robin: the hardest case, where a fixed cost per job weighs most
    "sentences": (lambda speech: speech.sentences, 16),
    # the ~10 s clip: what the overhead benchmark (and the issue) calls a short clip
    "short": (lambda speech: (speech.short,), 8),
}


def _raw_batch(raw, jobs, kwargs) -> tuple[float, list[float]]:
    started = time.perf_counter()
    latencies = [raw.transcribe(path, kwargs)[0] for path in jobs]
    return time.perf_counter() - started, latencies


def _measure(app, raw, floor, clients, floor_clients, jobs, kwargs, rounds: int,
             levels: tuple[int, ...]) -> dict[str, Any]:
    """Each app batch is measured beside a raw batch and a Gradio-floor batch of the same jobs, in
    an order that rotates each time: the machine's load drifts by more than the effect over a few
    minutes, so each app batch is compared with its own neighbours."""
    n_jobs = len(jobs)
    pairs: dict[int, list[dict[str, Any]]] = {n: [] for n in levels}
    for round_index in range(rounds):
        for level_index, n in enumerate(levels):
            runs = {"raw": lambda: _raw_batch(raw, jobs, kwargs),
                    "app": lambda n=n: _app_batch(clients[:n], jobs),
                    "floor": lambda n=n: _app_batch(floor_clients[:n], jobs)}
            order = ["raw", "app", "floor"] if floor is not None else ["raw", "app"]
            turn = (round_index + level_index) % len(order)  # each level runs each order once in len(order) rounds
            order = order[turn:] + order[:turn]
            got = {name: runs[name]() for name in order}
            raw_wall, raw_latencies = got["raw"]
            wall, latencies, errors = got["app"]
            raw_tp, app_tp = n_jobs / raw_wall, len(latencies) / wall
            record = {"order": order, "raw_wall": raw_wall, "raw_throughput": raw_tp, "raw_p95": p95(raw_latencies),
                      "wall": wall, "throughput": app_tp, "ratio": app_tp / raw_tp,
                      "p50": median(latencies), "p95": p95(latencies), "errors": errors}
            if "floor" in got:
                floor_wall, floor_latencies, floor_errors = got["floor"]
                floor_tp = len(floor_latencies) / floor_wall
                record.update(floor_wall=floor_wall, floor_throughput=floor_tp, floor_p95=p95(floor_latencies),
                              floor_errors=floor_errors, floor_ratio=floor_tp / raw_tp, app_over_floor=app_tp / floor_tp)
            pairs[n].append(record)
    result: dict[str, Any] = {"clips": sorted({p.name for p in jobs}), "jobs_per_batch": n_jobs, "pairs": pairs,
                              "summary": {}}
    for n, per_level in pairs.items():
        summary = {"ratio": median([x["ratio"] for x in per_level]),
                   "throughput": median([x["throughput"] for x in per_level]),
                   "raw_throughput": median([x["raw_throughput"] for x in per_level]),
                   "p50": median([x["p50"] for x in per_level]), "p95": max(x["p95"] for x in per_level),
                   "errors": sum(len(x["errors"]) for x in per_level)}
        if floor is not None:
            summary.update(floor_ratio=median([x["floor_ratio"] for x in per_level]),
                           app_over_floor=median([x["app_over_floor"] for x in per_level]),
                           floor_errors=sum(len(x["floor_errors"]) for x in per_level))
        result["summary"][n] = summary
    return result


def run(quick: bool = False, rounds: int = 3, levels: tuple[int, ...] = (1, 4, 8), n_jobs: int = 0,
        model: str = "tiny.en", clip_sets: tuple[str, ...] = tuple(CLIP_SETS), write: bool = True, app=None,
        raw=None, floor=None, gradio_floor: bool = True) -> dict[str, Any]:
    ensure_models()
    speech = ensure_speech()
    if quick:
        rounds, levels, n_jobs, clip_sets = 1, (2,), 2, clip_sets[:1]  # the code of every level: one of them
    kwargs = app_decode_kwargs(english_only=model.endswith(".en"))
    logs = log_dir("concurrency")
    data: dict[str, Any] = {"model": model, "quick": quick, "sets": {}}
    with ExitStack() as stack:
        app, raw = stack.enter_context(app_and_raw(logs, model, app, raw))
        if floor is None and gradio_floor:  # a plain gr.Blocks page calling whisper.transcribe, limit 1
            floor = stack.enter_context(start_floor(logs, MODELS / f"{model}.pt", "--endpoint", "--kwargs",
                                                    json.dumps(kwargs)))
        clients = [app.client() for _ in range(max(levels))]
        floor_clients = [floor.client() for _ in range(max(levels))] if floor is not None else []
        if not quick:  # untimed first jobs
            first = speech.sentences[0]
            raw.transcribe(first, kwargs)
            _app_batch(clients[:1], [first])
            if floor is not None:
                _app_batch(floor_clients[:1], [first])
        for name in clip_sets:
            make_clips, set_jobs = CLIP_SETS[name]
            clips = make_clips(speech)
            count = n_jobs or set_jobs
            jobs = [clips[i % len(clips)] for i in range(count)]
            data["sets"][name] = _measure(app, raw, floor, clients, floor_clients, jobs, kwargs, rounds, levels)
    rows = []
    for name, result in data["sets"].items():
        for n, summary in result["summary"].items():
            floor_cells = ([f"{summary['floor_ratio']:.3f}", f"{summary['app_over_floor']:.3f}"]
                           if "floor_ratio" in summary else ["-", "-"])
            rows.append([name, n, f"{summary['ratio']:.3f}", "≥ 0.9", *floor_cells, summary["raw_throughput"],
                         summary["throughput"], summary["p50"], summary["p95"], summary["errors"]])
    headers = ["clips", "clients", "app/raw throughput", "target", "Gradio floor/raw", "app/Gradio floor",
               "raw jobs/s", "app jobs/s", "p50 s", "p95 s", "errors"]
    return finish("concurrency", data, rows, headers, write)


def main() -> None:
    p = parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--jobs", type=int, default=0,
                   help="jobs per batch (default: 16 of the sentences, 8 of the short clip)")
    p.add_argument("--no-gradio-floor", action="store_true", help="leave out the Gradio floor's batches")
    p.add_argument("--clips", default=",".join(CLIP_SETS),
                   help=f"clip sets to run, comma-separated (default: {','.join(CLIP_SETS)})")
    args = p.parse_args()
    sets = tuple(name for name in args.clips.split(",") if name)
    unknown = set(sets) - set(CLIP_SETS)
    if unknown:
        p.error(f"unknown clip set(s): {', '.join(sorted(unknown))}; choose from {', '.join(CLIP_SETS)}")
    run(args.quick, args.repeats, n_jobs=args.jobs, clip_sets=sets, write=not args.no_write,
        gradio_floor=not args.no_gradio_floor)


if __name__ == "__main__":
    main()

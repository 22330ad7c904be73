"""5. Concurrency: 1, 4 and 8 clients on short clips against sequential raw transcription.

The same list of jobs (the three ~3 s sentences, round robin) is run by the
raw worker one after the other, then by N ``gradio_client`` threads against
the app (each with its own client, pulling jobs from a shared list). The app
runs one job at a time on its model, so N clients cannot beat sequential: the
target is a throughput of at least 0.9x sequential raw, with no errors.
Rounds repeat the whole set; each round's ratios are against that round's raw run.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.common import (
    app_and_raw,
    app_decode_kwargs,
    ensure_models,
    ensure_speech,
    finish,
    log_dir,
    median,
    p95,
    parser,
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


def run(quick: bool = False, rounds: int = 2, levels: tuple[int, ...] = (1, 4, 8), n_jobs: int = 16,
        model: str = "tiny.en", write: bool = True, app=None, raw=None) -> dict[str, Any]:
    ensure_models()
    speech = ensure_speech()
    if quick:
        rounds, levels, n_jobs = 1, (1, 2), 2
    jobs = [speech.sentences[i % len(speech.sentences)] for i in range(n_jobs)]
    kwargs = app_decode_kwargs(english_only=model.endswith(".en"))
    logs = log_dir("concurrency")
    data: dict[str, Any] = {"model": model, "jobs_per_batch": n_jobs, "clips": sorted({p.name for p in jobs}),
                            "quick": quick, "rounds": []}
    with app_and_raw(logs, model, app, raw) as (app, raw):
        clients = [app.client() for _ in range(max(levels))]
        if not quick:  # untimed first jobs
            raw.transcribe(jobs[0], kwargs)
            _app_batch(clients[:1], jobs[:1])
        for _ in range(rounds):
            started = time.perf_counter()
            raw_latencies = [raw.transcribe(path, kwargs)[0] for path in jobs]
            raw_wall = time.perf_counter() - started
            record: dict[str, Any] = {"raw_wall": raw_wall, "raw_throughput": n_jobs / raw_wall,
                                      "raw_p95": p95(raw_latencies), "levels": {}}
            for n in levels:
                wall, latencies, errors = _app_batch(clients[:n], jobs)
                record["levels"][n] = {"wall": wall, "throughput": len(latencies) / wall,
                                       "ratio": (len(latencies) / wall) / record["raw_throughput"],
                                       "p50": median(latencies), "p95": p95(latencies), "errors": errors}
            data["rounds"].append(record)
    rows = []
    data["summary"] = {}
    raw_tp = data["raw_throughput_median"] = median([r["raw_throughput"] for r in data["rounds"]])
    for n in levels:
        per_round = [r["levels"][n] for r in data["rounds"]]
        summary = {"ratio": median([x["ratio"] for x in per_round]),
                   "throughput": median([x["throughput"] for x in per_round]),
                   "p50": median([x["p50"] for x in per_round]), "p95": max(x["p95"] for x in per_round),
                   "errors": sum(len(x["errors"]) for x in per_round)}
        data["summary"][n] = summary
        rows.append([n, f"{summary['ratio']:.3f}", "≥ 0.9", raw_tp, summary["throughput"], summary["p50"],
                     summary["p95"], summary["errors"]])
    headers = ["clients", "app/raw throughput", "target", "raw jobs/s", "app jobs/s", "p50 s", "p95 s", "errors"]
    return finish("concurrency", data, rows, headers, write)


def main() -> None:
    p = parser(__doc__.splitlines()[0], repeats=2)
    p.add_argument("--jobs", type=int, default=16, help="jobs per batch (default 16)")
    args = p.parse_args()
    run(args.quick, args.repeats, n_jobs=args.jobs, write=not args.no_write)


if __name__ == "__main__":
    main()

"""``--backend ray`` (2 CPU replicas on a local Ray instance) against the local backend, on the same jobs
(issue 17): throughput of N jobs sent at once, and the front's added latency per job.

Three servers one after another, each a ``python app.py`` with tiny.en: local, ray, local again (the
local figures are the mean of the two runs around the Ray one, so a drift of the shared machine shows
as their spread). Each gets one untimed job, then ``--repeats`` jobs one at a time (latency: the
client's wall time, and that minus the job's own processing seconds from its summary: what the front,
the queue and for Ray the handle and the object store add), then ``--jobs`` jobs at once through
``gradio_client`` (throughput: jobs a minute, from the first send to the last answer).

On a 2-core machine two replicas share the cores the local model's threads use: expect ~1x; the
check is that both replicas work and the added latency is small. On N GPUs the throughput scales
with the replicas (README "More than one GPU").

``python -m bench.ray [--repeats N] [--jobs N] [--quick]``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.common import MODELS, audio_seconds, ensure_models, ensure_speech, finish, log_dir, median, parser, start_app


def _measure(backend: str, path, repeats: int, jobs: int) -> dict[str, Any]:
    from gradio_client import Client, handle_file

    extra = ("--backend", "ray", "--ray-replicas", "2") if backend == "ray" else ()
    with start_app(log_dir(f"ray-{backend}"), "--model", "tiny.en", "--queue-size", str(jobs + 2), *extra,
                   models=MODELS, timeout=300) as app:
        def job() -> tuple[float, float, str]:
            started = time.perf_counter()
            text, _, summary, _ = Client(app.url, verbose=False).predict(
                handle_file(str(path)), "transcribe", "en", 5, api_name="/transcribe")
            return time.perf_counter() - started, summary["processing_seconds"], text

        first = job()[2]  # untimed: the first job pays one-off costs
        walls, added = [], []
        for _ in range(repeats):
            wall, processing, text = job()
            assert text == first, (text, first)
            walls.append(wall)
            added.append(wall - processing)
        results: list[tuple[float, float, str]] = []
        threads = [threading.Thread(target=lambda: results.append(job())) for _ in range(jobs)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        assert len(results) == jobs and all(r[2] == first for r in results), "a job of the batch failed or differed"
        status = Client(app.url, verbose=False).predict(api_name="/status")
    return {"latency_s": median(walls), "added_s": median(added), "batch_s": seconds,
            "jobs_per_minute": jobs * 60 / seconds, "walls": walls, "added": added,
            "replica_jobs": [r["jobs_done"] for r in status.get("replicas", [])]}


def run(quick: bool = False, repeats: int = 5, jobs: int = 8, write: bool = True) -> dict[str, Any]:
    ensure_models()
    speech = ensure_speech()
    path = speech.sentences[0] if quick else speech.short
    repeats, jobs = (1, 2) if quick else (repeats, jobs)
    runs = {name: _measure(name.split("-")[0], path, repeats, jobs) for name in ("local-1", "ray", "local-2")}
    local = {k: (runs["local-1"][k] + runs["local-2"][k]) / 2 for k in ("latency_s", "added_s", "jobs_per_minute")}
    ray = runs["ray"]
    result = {"clip": path.name, "audio_seconds": audio_seconds(path), "repeats": repeats, "jobs": jobs,
              "runs": runs, "local": local,
              "ratio_throughput_ray_over_local": ray["jobs_per_minute"] / local["jobs_per_minute"],
              "ratio_latency_ray_over_local": ray["latency_s"] / local["latency_s"],
              "added_latency_ray_minus_local_s": ray["added_s"] - local["added_s"], "quick": quick}
    rows = [[name, f"{r['jobs_per_minute']:.1f}", f"{r['latency_s']:.2f}", f"{r['added_s']:.3f}",
             ",".join(map(str, r["replica_jobs"])) or "-"] for name, r in runs.items()]
    rows += [["ray / local (mean of both)", f"{result['ratio_throughput_ray_over_local']:.3f}",
              f"{result['ratio_latency_ray_over_local']:.3f}",
              f"{result['added_latency_ray_minus_local_s']:+.3f}", "expect ~1x on 2 cores"]]
    return finish("ray", result, rows, ["backend", f"jobs/min ({jobs} at once)", "latency s (one job)",
                                        "added s (latency - processing)", "jobs per replica"], write)


def main() -> None:
    p = parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--jobs", type=int, default=8, help="jobs sent at once for the throughput (default 8)")
    args = p.parse_args()
    run(args.quick, args.repeats, args.jobs, write=not args.no_write)


if __name__ == "__main__":
    main()

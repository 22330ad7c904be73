"""Load test: N ``gradio_client`` clients for S seconds against one ``python app.py`` on 127.0.0.1.

Bounded on purpose (default 16 clients for 60 s; jobs still running 10 s later are cancelled):
each client transcribes the ~3 s sentences round robin (greedy, English, a .txt
result file), and on a "busy" answer (the queue is full) waits half a second and
tries again. The server runs with ``--queue-size 8`` so that 16 clients do meet
the limit.

Printed and written to ``bench/results/load-<time>.json``:

- successful jobs, their latency (submit to result, queueing included) p50/p95,
  jobs per second;
- errors by kind: "busy" answers apart, everything else (any other exception or a
  wrong transcript) is an error, and there must be none;
- the server's RSS after a warm-up, after the run (both once it settled) and
  its peak during the run;
- files in the server's TMPDIR: what the run added, sorted into upload copies and
  result files (kept by design until ``--upload-retention-minutes``) and strays
  (anything else: there must be none); and what is left once the server stopped
  (nothing).

``python bench/load_test.py --clients 16 --seconds 60``; ``--quick`` is a 10 s smoke run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    MB,
    RESULTS,
    RssSampler,
    ensure_models,
    ensure_speech,
    machine_info,
    median,
    p95,
    start_app,
    table,
    write_results,
)

BUSY = "Queue is full"  # gradio_client's answer when the server's queue is full
BUSY_BACKOFF = 0.5
SHA_DIR = re.compile(r"[0-9a-f]{64}")


def words(text: str) -> set[str]:
    return {w.strip(".,!?;:'\"").lower() for w in text.split()}


def is_busy(error: BaseException) -> bool:
    return BUSY in str(error)


def run_load(url: str, clips: list[tuple[Path, set[str]]], clients: int, seconds: float,
             formats: tuple[str, ...] = ("txt",), drain: float = 10.0) -> dict[str, Any]:
    """``clients`` threads, each with its own ``gradio_client.Client``, submit jobs until ``seconds`` have passed.

    A job still unfinished ``drain`` seconds after that is cancelled and counted as cut off (not an error),
    so the run ends within ``seconds + drain``. ``clips``: (file, words its transcript must have).
    Returns counts, latencies and every error.
    """
    from concurrent.futures import TimeoutError as ResultTimeout

    from gradio_client import Client, handle_file

    connected = [Client(url, verbose=False, download_files=False, analytics_enabled=False) for _ in range(clients)]
    lock = threading.Lock()
    latencies: list[float] = []
    busy = Counter()
    errors: list[str] = []
    cut_off = []
    deadline = time.monotonic() + seconds

    def client_loop(index: int, client) -> None:
        turn = index
        while time.monotonic() < deadline:
            clip, expected = clips[turn % len(clips)]
            turn += 1
            started = time.perf_counter()
            job = client.submit(handle_file(str(clip)), "transcribe", "en", 1, False, "", list(formats),
                                api_name="/transcribe")
            try:
                text = job.result(timeout=max(0.1, deadline + drain - time.monotonic()))[0]
            except ResultTimeout:
                job.cancel()
                with lock:
                    cut_off.append(clip.name)
                continue
            except Exception as e:  # noqa: BLE001 - counted: errors are the result
                if is_busy(e):
                    with lock:
                        busy[index] += 1
                    time.sleep(BUSY_BACKOFF)
                else:
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}"[:300])
                continue
            elapsed = time.perf_counter() - started
            with lock:
                if expected <= words(text):
                    latencies.append(elapsed)
                else:
                    errors.append(f"wrong transcript of {clip.name}: {text!r}")

    threads = [threading.Thread(target=client_loop, args=(i, c), daemon=True) for i, c in enumerate(connected)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for client in connected:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - best effort
            pass
    return {
        "clients": clients,
        "seconds": seconds,
        "wall_seconds": wall,
        "jobs_ok": len(latencies),
        "cut_off_at_the_end": len(cut_off),
        "busy_answers": sum(busy.values()),
        "clients_told_busy": len(busy),
        "errors": errors,
        "latency_p50": median(latencies),
        "latency_p95": p95(latencies),
        "latency_max": max(latencies) if latencies else float("nan"),
        "jobs_per_second": len(latencies) / wall if wall else float("nan"),
    }


def files_under(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            try:
                out[str(path.relative_to(root))] = path.lstat().st_size
            except FileNotFoundError:
                pass
    return out


def sort_new_files(before: dict[str, int], after: dict[str, int], clip_names: set[str],
                   formats: tuple[str, ...]) -> dict[str, list[str]]:
    """New files in the server's TMPDIR: upload copies and result files (kept by design), and strays (none allowed)."""
    results = {f"{Path(name).stem}.{fmt}" for name in clip_names for fmt in formats}
    sorted_files: dict[str, list[str]] = {"uploads": [], "results": [], "strays": []}
    for rel in sorted(set(after) - set(before)):
        parts = Path(rel).parts
        in_cache = len(parts) == 4 and parts[0].startswith("whisper-ui-") and parts[1] == "uploads" \
            and SHA_DIR.fullmatch(parts[2]) is not None
        in_outputs = len(parts) == 4 and parts[0].startswith("whisper-ui-") and parts[1] == "outputs"
        if in_cache and parts[3] in clip_names:
            sorted_files["uploads"].append(rel)
        elif (in_cache or in_outputs) and parts[3] in results:
            sorted_files["results"].append(rel)
        else:
            sorted_files["strays"].append(rel)
    return sorted_files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60.0, help="how long clients keep submitting (then in-flight jobs finish)")
    p.add_argument("--queue-size", type=int, default=8, help="the server's --queue-size (below --clients: some get 'busy')")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--quick", action="store_true", help="4 clients for 10 s with --queue-size 2: checks the script works")
    p.add_argument("--no-write", action="store_true", help="print the table, write no JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.clients, args.seconds, args.queue_size = 4, 10.0, 2
    if args.seconds > 60:
        p.error("--seconds is at most 60: with start-up and the 10 s drain the whole run stays within 90 s")

    models = ensure_models()
    speech = ensure_speech()
    clips = [(path, set()) for path in speech.sentences]
    expected = {"english": {"peter", "london"}, "fox": {"quick", "lazy"}, "morning": {"morning", "sunny"}}
    clips = [(path, expected.get(path.stem, set())) for path, _ in clips]
    formats = ("txt",)

    RESULTS.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix="load-tmp-", dir=RESULTS))
    logs = Path(tempfile.mkdtemp(prefix="load-logs-", dir=RESULTS))
    server = start_app(logs, "--model", args.model, "--queue-size", str(args.queue_size), models=models,
                       env={"TMPDIR": str(tmpdir)})
    try:
        warm = run_load(server.url, clips, clients=1, seconds=0.1)  # one job: the first-call costs, paid
        if warm["errors"]:
            raise SystemExit(f"the warm-up job failed: {warm['errors']}")
        time.sleep(1.0)
        rss_before = server.rss()
        before = files_under(tmpdir)
        with RssSampler(server.ps, interval=0.05) as sampler:
            result = run_load(server.url, clips, args.clients, args.seconds, formats)
        time.sleep(2.0)
        rss_after = server.rss()
        new = sort_new_files(before, files_under(tmpdir), {c.name for c, _ in clips}, formats)
    finally:
        server.stop()
    left_after_stop = files_under(tmpdir)
    shutil.rmtree(tmpdir, ignore_errors=True)

    data = {
        **result,
        "queue_size": args.queue_size,
        "model": args.model,
        "rss_before_mb": rss_before / MB,
        "rss_after_mb": rss_after / MB,
        "rss_growth_mb": (rss_after - rss_before) / MB,
        "rss_peak_mb": sampler.peak / MB,
        "new_files": {k: len(v) for k, v in new.items()},
        "stray_files": new["strays"],
        "files_left_after_stop": sorted(left_after_stop),
        "server_log": str(server.log_path),
        "machine": machine_info(),
    }
    rows = [
        ["clients / seconds / queue size", f"{args.clients} / {args.seconds:g} / {args.queue_size}"],
        ["jobs done", result["jobs_ok"]],
        ["jobs per second", result["jobs_per_second"]],
        ["latency p50 (s)", result["latency_p50"]],
        ["latency p95 (s)", result["latency_p95"]],
        ["'busy' answers (clients told)", f"{result['busy_answers']} ({result['clients_told_busy']})"],
        ["jobs cut off at the end (cancelled)", result["cut_off_at_the_end"]],
        ["other errors", len(result["errors"])],
        ["RSS before / after / peak (MB)", f"{data['rss_before_mb']:.0f} / {data['rss_after_mb']:.0f} / "
                                           f"{data['rss_peak_mb']:.0f}"],
        ["RSS growth (MB)", data["rss_growth_mb"]],
        ["new files: uploads / results / strays", f"{len(new['uploads'])} / {len(new['results'])} / "
                                                  f"{len(new['strays'])}"],
        ["files left after the server stopped", len(left_after_stop)],
    ]
    print("\n== load ==")
    print(table(rows, ["measure", "value"]))
    for error in result["errors"][:10]:
        print("error:", error)
    if not args.no_write:
        print(f"-> {write_results('load', data)}")
    ok = not result["errors"] and not new["strays"] and not left_after_stop and result["jobs_ok"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

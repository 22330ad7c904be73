"""``python -m bench`` (``make bench``): all eleven benchmarks, then one summary table.

Each benchmark prints its own table and writes its JSON to ``bench/results/``;
the summary (ratios first, then the absolute figures) goes to
``bench/results/summary-<time>.json`` with the machine, the versions and the
settings. ``--only overhead,memory`` runs some of them; ``--quick`` runs each
in a tiny mode that only checks the scripts work. ``--only accuracy`` runs the
word-error-rate benchmark (``bench/accuracy.py``), which is not in the default
run: about two hours on 2 busy CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import (
    accuracy,
    api,
    cold_start,
    concurrency,
    engines,
    language,
    memory,
    onsets,
    overhead,
    responsive,
    switch,
    threads,
)
from bench.common import (
    MB,
    MODELS,
    app_and_raw,
    app_decode_kwargs,
    ensure_models,
    log_dir,
    machine_info,
    median,
    start_floor,
    table,
    use_results_dir,
    write_results,
)

BENCHMARKS = ("overhead", "cold_start", "memory", "switch", "concurrency", "threads", "engines", "api", "responsive",
              "onsets", "language")
OPTIONAL = ("accuracy",)  # by --only alone: hours, not minutes


def _run_one(name: str, quick: bool, shared: dict[str, Any]) -> dict[str, Any]:
    pair = {key: shared[key] for key in ("app", "raw") if key in shared}
    if name == "overhead":
        return overhead.run(quick, **pair)
    if name == "cold_start":
        return cold_start.run(quick)
    if name == "memory":
        return memory.run(quick, app=shared.get("app"), floor=shared.get("floor"))
    if name == "switch":
        return switch.run(quick, **pair)
    if name == "concurrency":
        return concurrency.run(quick, floor=shared.get("floor"), **pair)
    if name == "threads":
        return threads.run(quick, **pair)
    if name == "engines":  # its own children and server: other engines, other weights
        return engines.run(quick)
    if name == "api":  # the OpenAI-compatible route against the page's /transcribe (its own server unless quick)
        return api.run(quick, app=shared.get("app"))
    if name == "responsive":  # a browser (and its own server unless quick): the Status tab while a job runs
        return responsive.run(quick, app=shared.get("app"))
    if name == "onsets":  # in this process, Silero alone: how each way finds speech after steady noise
        return onsets.run(quick)
    if name == "language":  # in this process: language auto (followed per window) against the raw library
        return language.run(quick)
    if name == "accuracy":  # in this process, one engine at a time: WER with speech detection on and off
        return accuracy.run(quick)
    raise ValueError(name)


def summary_rows(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """(measure, ratio, target, floor, app, unit) rows from each benchmark's results."""
    rows: list[list[Any]] = []
    if "overhead" in results:
        for label, c in results["overhead"]["clips"].items():
            rows.append([f"overhead, {label} clip ({c['audio_seconds']:.0f} s audio; ratio of medians "
                         f"{c['ratio']:.3f})", c["pairwise_ratio_median"], f"≤ {c['target']}",
                         c["raw_median"], c["app_median"], "s"])
    if "cold_start" in results:
        r = results["cold_start"]
        rows.append([f"cold start to /readyz (ratio of medians {r['ratio']:.3f})", r["pairwise_ratio_median"], "≤ 1.2",
                     r["floor"]["ready_median"], r["app"]["ready_median"], "s"])
        rows.append([f"first request after start (first/warm: floor {r['floor']['first_over_warm']:.2f}, "
                     f"app {r['app']['first_over_warm']:.2f})",
                     r["app"]["first_request_median"] / r["floor"]["first_request_median"], "",
                     r["floor"]["first_request_median"], r["app"]["first_request_median"], "s"])
    if "memory" in results:
        r = results["memory"]
        floor, app = r["floor_bytes"], r["app_bytes"]
        for label, app_key, floor_key in (("memory idle", "idle", "idle"),
                                          ("memory tiny.en after a job", "tiny.en after job", "tiny.en after job"),
                                          ("memory tiny.en job peak", "tiny.en job peak", "tiny.en job peak"),
                                          ("memory base after a job", "base after job", "base after job"),
                                          ("memory base job peak", "base job peak", "base job peak"),
                                          # against a raw-library process that switched the same way
                                          ("memory base after a switch", "base after switch loaded",
                                           "base after switch loaded"),
                                          ("memory base after a switch and a job", "base after switch after job",
                                           "base after switch after job"),
                                          ("memory tiny.en after a switch back and a job",
                                           "tiny.en after switch after job", "tiny.en after job")):
            if app_key in app and floor_key in floor:
                above = (app[app_key] - floor[floor_key]) / MB
                rows.append([f"{label} ({above:+.0f} MB)", app[app_key] / floor[floor_key], "≤ +50 MB",
                             floor[floor_key] / MB, app[app_key] / MB, "MB"])
        base = app.get("base after job")
        for key in (k for k in app if k.startswith("switch ")):
            rows.append([f"memory {key}", app[key] / base if base else None, "≤ 1.15x base", base / MB if base else None,
                         app[key] / MB, "MB"])
    if "switch" in results:
        for key, s in results["switch"]["directions"].items():
            rows.append([f"switch {key}", s["ratio"], "", s["raw_median"], s["app_median"], "s"])
    if "concurrency" in results:
        for name, r in results["concurrency"]["sets"].items():
            clips = "~3 s sentences" if name == "sentences" else f"{name} clip"
            for n, s in r["summary"].items():
                rows.append([f"throughput, {clips}, {n} client{'s' if int(n) > 1 else ''} (p95 {s['p95']:.2f} s, "
                             f"{s['errors']} errors)", s["ratio"], "≥ 0.9",
                             s["raw_throughput"], s["throughput"], "jobs/s"])
    if "threads" in results:
        r = results["threads"]
        default = r["torch_default_threads"]
        base = sorted(r["raw_seconds"][default])
        for n, times in r["raw_seconds"].items():
            if n != default:
                rows.append([f"torch threads {n} vs default {default} (raw)",
                             sorted(times)[len(times) // 2] / base[len(base) // 2], "", base[len(base) // 2],
                             sorted(times)[len(times) // 2], "s"])
        rows.append([f"app default threads: {r['app_threads'].get('default')}", None, "", None, None, ""])
    if "engines" in results:
        rows.extend(_engine_rows(results["engines"]))
    if "api" in results:
        r = results["api"]
        rows.append([f"POST /v1/audio/transcriptions / the page's /transcribe through gradio_client, {r['model']}",
                     r["ratio_rest_over_gradio_client"], "≤ 1", r["median_gradio_client_s"], r["median_rest_s"], "s"])
    if "responsive" in results:  # the "floor" column: the model idle; the app: while a job runs
        r = results["responsive"]
        for label, key in responsive.MEASURES:
            idle, busy = r["idle"][key], r["busy"][key]
            p50 = f"{busy['p50_ms']:.0f} ms" if busy["p50_ms"] is not None else "none measured"
            rows.append([f"{label}, p95 while a job runs (p50 {p50})",
                         busy["p95_ms"] / idle["p95_ms"] if idle["p95_ms"] and busy["p95_ms"] is not None else None,
                         f"< {responsive.TARGET_MS:.0f} ms" if key != "plots_drawn" else "",
                         idle["p95_ms"], busy["p95_ms"], "ms"])
    if "language" in results:  # the app's language auto (followed per window) over the raw library's
        for label, r in results["language"]["runs"].items():
            rows.append([f"language: {label} (same text: {'yes' if r['same_text'] else 'NO'})",
                         r["pairwise_ratio_median"], f"≤ {language.TARGET}" if label.endswith("auto") else "",
                         median(r["raw_seconds"]), median(r["app_seconds"]), "s"])
    if "onsets" in results:  # the app's speech detection against one pass forward, on soft onsets after noise
        ways = results["onsets"]["ways"]
        one, app = ways["forward"], ways["8 s pieces+backward (app)"]
        total = len(results["onsets"]["cases"])
        rows.append([f"onsets after steady noise: lost (late) of {total}, one pass forward vs the app", None,
                     "late 0", f"{one['lost']} ({sum(1 for x in one['late_seconds'] if x > 0)})",
                     f"{app['lost']} ({sum(1 for x in app['late_seconds'] if x > 0)})", "recordings"])
    if "accuracy" in results:
        rows.extend(accuracy.summary_rows(results["accuracy"]))
    return rows


def _engine_rows(r: dict[str, Any]) -> list[list[Any]]:
    """faster-whisper int8 over openai-whisper (the "floor" column), and the app over raw faster-whisper."""
    rows: list[list[Any]] = []
    openai = engines.OPENAI.label
    for model, m in r["models"].items():
        for clip, figures in m["clips"].items():
            for int8 in (label for label in (engines.FASTER_INT8.label, engines.FASTER_INT8_ALL_CORES.label)
                         if label in figures):
                o, f = figures[openai], figures[int8]
                rows.append([f"engines, {model}, {clip} clip: {int8} / openai-whisper wall "
                             f"({o['seconds_median'] / f['seconds_median']:.1f}x faster; WER {median(f['wer_text']):.3f} "
                             f"vs {median(o['wer_text']):.3f})", f["seconds_over_openai_pairs"],
                             f"≤ {1 / engines.SPEED_TARGET:.3f}", o["seconds_median"], f["seconds_median"], "s"])
        app = r["app_rss"].get(model)
        if app:  # python app.py, Gradio and all
            o, f = app["openai-whisper"]["rss_loaded"], app["faster-whisper"]["rss_loaded"]
            rows.append([f"engines, {model}: python app.py's RSS with the model loaded, faster-whisper int8 / "
                         "openai-whisper", f / o, f"≤ {engines.RSS_TARGET}", o / MB, f / MB, "MB"])
    a = r["app_overhead"]
    for side in (side for side in ("app", a["all_cores_side"]) if side):
        rows.append([f"engines, {side} / raw faster-whisper int8, {a['model']}, {a['clip']} clip (ratio of medians "
                     f"{a[side]['ratio']:.3f})", a[side]["pairwise_ratio_median"], f"≤ {a['target']}",
                     a["raw"]["median"], a[side]["median"], "s"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny runs that only check the scripts work")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated, from {', '.join(BENCHMARKS + OPTIONAL)}")
    parser.add_argument("--results", type=Path, help="folder for the JSON results and logs (default bench/results)")
    args = parser.parse_args()
    if args.results:
        use_results_dir(args.results)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS) - set(OPTIONAL)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB, "
          f"GPU: {machine['gpu'] or 'none'}, load average {machine['load_average']}")
    results: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    durations: dict[str, float] = {}
    started = time.perf_counter()
    with ExitStack() as stack:
        shared: dict[str, Any] = {}
        if args.quick:  # one app, raw worker and floor page for the benchmarks that need no fresh process
            ensure_models()
            logs = log_dir("quick")
            floor = stack.enter_context(start_floor(logs, MODELS / "tiny.en.pt", "--endpoint", "--kwargs",
                                                    json.dumps(app_decode_kwargs()), ready=False))
            shared["app"], shared["raw"] = stack.enter_context(app_and_raw(logs, "tiny.en"))
            floor.ready_seconds = floor.wait_for("/readyz")
            shared["floor"] = floor
        for name in chosen:
            began = time.perf_counter()
            try:
                results[name] = _run_one(name, args.quick, shared)
                durations[name] = round(time.perf_counter() - began, 1)
            except Exception:  # one failure must not hide the other results
                failed[name] = traceback.format_exc()
                print(f"\n!! {name} failed:\n{failed[name]}")
    rows = summary_rows(results)
    headers = ["measure", "app/floor", "target", "floor", "app", "unit"]
    print("\n== summary (app over floor, same run; overhead and cold start: median of back-to-back pairs) ==")
    print(table(rows, headers))
    data = {"machine": machine, "quick": args.quick, "seconds": time.perf_counter() - started,
            "benchmark_seconds": durations, "summary": {"headers": headers, "rows": rows}, "failed": failed,
            "results_files": {name: r.get("results_file") for name, r in results.items()}}
    print(f"seconds: {durations} ({data['seconds']:.0f} in all)")
    print(f"-> {write_results('summary', data)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""3. Memory: the server process's RSS against the floor, idle, loaded, during a job, after a switch.

The floor is ``bench/floor_app.py`` (openai-whisper with the same model plus a
bare Gradio page, one process): without a model, with ``tiny.en``, with
``base``, each after a load and around one job. The app is one ``python app.py
--no-preload`` driven through its ``/load_model`` API: idle, ``tiny.en``,
``base`` (a switch), back to ``tiny.en`` (a switch); and ``python app.py --model
base``, for base as the first model like the floor's. A thread samples RSS every
5 ms during each load and job for the peaks; steady values are read after a
second idle. A switch frees the old model before loading the new one, so its
peak must stay within 1.15x the larger model's steady state.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

from bench.common import (
    MB,
    MODELS,
    RssSampler,
    app_decode_kwargs,
    ensure_models,
    ensure_speech,
    finish,
    has_endpoint,
    log_dir,
    parser,
    settled_rss,
    start_app,
    start_floor,
)

SWITCH_PEAK_LIMIT = 1.15
SETTLE = [1.0]  # seconds idle before a steady reading (--quick: less)
ABOVE_FLOOR_LIMIT_MB = 50


def _job(server, clip) -> tuple[int, int]:
    """(peak RSS during one job, steady RSS after it)."""
    from gradio_client import handle_file

    client = server.client()
    with RssSampler(server.ps) as sampler:
        client.predict(handle_file(str(clip)), api_name="/transcribe")
    return sampler.peak, settled_rss(server.ps, SETTLE[0])


def measure_floor(logs, clip, kwargs_by_model: dict[str, dict], idle: bool = True, shared=None,
                  switch: bool = True) -> dict[str, int]:
    """``shared``: a floor page already running with the first model (``python -m bench --quick``).

    ``switch``: also a floor that runs a job on the first model and then switches to the last one.
    """
    floor: dict[str, int] = {}
    if idle:
        with start_floor(logs, None) as server:
            floor["idle"] = settled_rss(server.ps, SETTLE[0])
    for model, kwargs in kwargs_by_model.items():
        with ExitStack() as stack:
            if shared is not None and model == next(iter(kwargs_by_model)):
                server = shared
            else:
                server = stack.enter_context(start_floor(logs, MODELS / f"{model}.pt", "--endpoint", "--kwargs",
                                                         json.dumps(kwargs)))
            floor[f"{model} loaded"] = settled_rss(server.ps, SETTLE[0])
            floor[f"{model} job peak"], floor[f"{model} after job"] = _job(server, clip)
    if switch and len(kwargs_by_model) > 1:  # the first model, a job, then the raw library's switch to the last
        first, other = list(kwargs_by_model)[0], list(kwargs_by_model)[-1]
        with start_floor(logs, MODELS / f"{first}.pt", "--endpoint", "--kwargs", json.dumps(kwargs_by_model[first]),
                         "--switch-to", str(MODELS / f"{other}.pt")) as server:
            _job(server, clip)
            with RssSampler(server.ps) as sampler:
                server.client().predict(api_name="/switch")
            floor[f"switch {first}->{other} peak"] = sampler.peak
            floor[f"{other} after switch loaded"] = settled_rss(server.ps, SETTLE[0])
            floor[f"{other} after switch job peak"], floor[f"{other} after switch after job"] = _job(server, clip)
    return floor


def measure_app(logs, clip, models: list[str], shared=None) -> dict[str, Any]:
    """Idle, then each model in turn through /load_model, then back to the first (a switch).

    ``shared``: an app already running with the first model: no idle figure.
    """
    app: dict[str, Any] = {}
    with ExitStack() as stack:
        server = shared
        if server is None:
            server = stack.enter_context(start_app(logs, "--no-preload", "--model", models[0], ready=False))
            server.wait_for("/healthz")
        client = server.client()
        if not has_endpoint(client, "/load_model"):
            raise RuntimeError("the app has no /load_model API endpoint: memory after a switch cannot be measured")
        if shared is None:
            app["idle"] = settled_rss(server.ps, SETTLE[0])
        previous = None
        for model in [*models, models[0]] if len(models) > 1 else models:
            label = model if previous is None else f"{model} after switch"
            with RssSampler(server.ps) as sampler:
                client.predict(model, api_name="/load_model")
            if previous is not None:
                app[f"switch {previous}->{model} peak"] = sampler.peak
            else:
                app[f"{model} load peak"] = sampler.peak
            app[f"{label} loaded"] = settled_rss(server.ps, SETTLE[0])
            app[f"{label} job peak"], app[f"{label} after job"] = _job(server, clip)
            previous = model
    for model in models[1:]:  # the other models, each the first in a fresh app, as the floor has them
        with start_app(logs, "--model", model) as server:
            app[f"{model} loaded"] = settled_rss(server.ps, SETTLE[0])
            app[f"{model} job peak"], app[f"{model} after job"] = _job(server, clip)
    return app


def run(quick: bool = False, write: bool = True, app=None, floor=None) -> dict[str, Any]:
    """``app``, ``floor``: servers already running with tiny.en, shared by ``python -m bench --quick``."""
    ensure_models()
    speech = ensure_speech()
    clip = speech.sentences[0] if quick else speech.short
    models = ["tiny.en"] if quick else ["tiny.en", "base"]
    SETTLE[0] = 0.2 if quick else 1.0
    kwargs_by_model = {m: app_decode_kwargs(english_only=m.endswith(".en")) for m in models}
    logs = log_dir("memory")
    shared_app, shared_floor = app, floor
    floor = measure_floor(logs, clip, kwargs_by_model, idle=not quick, shared=shared_floor)
    app = measure_app(logs, clip, models, shared=shared_app)
    rows = []
    checks: dict[str, bool] = {}

    def row(label: str, app_key: str, floor_key: str, target: bool = True) -> None:
        if app_key not in app or floor_key not in floor:
            return
        above = (app[app_key] - floor[floor_key]) / MB
        ok = above <= ABOVE_FLOOR_LIMIT_MB
        if target:
            checks[label] = ok
        rows.append([label, f"{app[app_key] / floor[floor_key]:.3f}", f"{above:+.0f}",
                     f"≤ +{ABOVE_FLOOR_LIMIT_MB}" if target else "(info)",
                     round(floor[floor_key] / MB), round(app[app_key] / MB), ("ok" if ok else "OVER") if target else ""])

    row("idle (no model)", "idle", "idle")
    for model in models:
        row(f"{model} loaded", f"{model} loaded", f"{model} loaded")
        row(f"{model} during a job (peak)", f"{model} job peak", f"{model} job peak")
        row(f"{model} after a job", f"{model} after job", f"{model} after job")
    if len(models) > 1:
        first, other = models[0], models[-1]
        # like for like: a raw-library process that also ran a job on the first model, then switched;
        # the same figures against a process that loaded the model first are shown (job residue included)
        row(f"{other} after a switch from {first}", f"{other} after switch loaded", f"{other} after switch loaded")
        row(f"{other} after a switch, after a job", f"{other} after switch after job", f"{other} after switch after job")
        row(f"{other} after a switch (vs a floor that loaded {other} first)", f"{other} after switch loaded",
            f"{other} loaded", target=False)
        row(f"{other} after a switch, after a job (vs that floor)", f"{other} after switch after job",
            f"{other} after job", target=False)
        row(f"{first} after a switch back, after a job", f"{first} after switch after job", f"{first} after job")
        largest = f"{other} after job"
        for key in [k for k in app if k.startswith("switch ")]:
            limit = SWITCH_PEAK_LIMIT * app[largest]
            ok = app[key] <= limit
            checks[key] = ok
            rows.append([key, f"{app[key] / app[largest]:.3f} of {models[-1]} steady", "", f"≤ {SWITCH_PEAK_LIMIT}",
                         round(floor[key] / MB) if key in floor else "", round(app[key] / MB), "ok" if ok else "OVER"])
    data = {"clip": clip.name, "quick": quick, "floor_bytes": floor, "app_bytes": app, "checks": checks,
            "limits": {"above_floor_mb": ABOVE_FLOOR_LIMIT_MB, "switch_peak": SWITCH_PEAK_LIMIT}}
    headers = ["", "app/floor", "app-floor MB", "target", "floor MB", "app MB", ""]
    return finish("memory", data, rows, headers, write)


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeats=1).parse_args()
    run(args.quick, write=not args.no_write)


if __name__ == "__main__":
    main()

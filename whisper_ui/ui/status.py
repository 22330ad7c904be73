"""The Status tab: today's figures (device, memory, the model's state, jobs, the last error, versions)
beside the last minutes of memory and jobs as small line plots, the recent jobs with their real-time
factor, and the JSON; refreshed every few seconds while the tab is open (outside the model's queue:
it never waits for a job). The history is sampled in the core (``status.History``), open tab or not."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pandas as pd

from ..runtime import status as status_mod
from ..runtime.service import TranscriptionService
from .format import mb
from .inputs import i18n
from .words import language_events, message, text

STATUS_SECONDS = 2.0
# The tabs' select events start and stop the Status tab's timer. The page fires the first tab's select as it
# loads: outside the queue (each request in a thread of its own) its answer could come after the Status
# tab's, chosen at once, and stop the timer of the tab on screen. One queue of one at a time answers them in
# the order they came, on the page's one event stream.
TIMER_EVENTS = dict(api_visibility="private", concurrency_id="status-timer", concurrency_limit=1)


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _error_line(request: gr.Request | None, model: dict[str, Any]) -> str:
    if not model["last_error"]:
        return "-"
    said, at = message(request, model["last_error"]), model.get("last_error_at")
    if at is None:
        return said
    minutes = max(0, int((time.time() - at) // 60))
    return text(request, "status_error_at", time=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)),
                minutes=minutes, message=said)


def _version(request: gr.Request | None, version: str) -> str:
    """A version as it is, or what the core says instead of one (not installed, not found, unknown)."""
    said = ("not installed", "not found", "unknown")
    return text(request, "status_version_" + version.replace(" ", "_")) if version in said else version


def _model_line(request: gr.Request | None, model: dict[str, Any]) -> str:
    if not model["model"]:
        return "-"
    line = text(request, "status_model_line", model=model["model"], device=model["device"] or "-",
                engine=model["engine"] or "-", compute=model["compute_type"] or "").rstrip()
    return f"{line} — {message(request, model['fallback'])}" if model["fallback"] else line


def _job_line(request: gr.Request | None, s: dict[str, Any]) -> str:
    jobs, m = s["jobs"], s["model"]
    line = text(request, "status_jobs", **jobs)
    if m["last_rtf"] is not None and m["last_audio_seconds"]:
        line += text(request, "status_last_job", audio=f"{m['last_audio_seconds']:.1f}", rtf=f"{m['last_rtf']:.2f}")
        if m["last_speech_seconds"] is not None:
            line += text(request, "status_last_speech", speech=f"{m['last_speech_seconds']:.1f}",
                         share=f"{m['last_speech_seconds'] / m['last_audio_seconds']:.0%}")
    return line


def _plots(request: gr.Request | None, points: list[dict[str, Any]]) -> tuple[gr.LinePlot, gr.LinePlot]:
    """Memory (MB: process, system, GPU) and jobs (running, waiting) over time, in the reader's words."""
    say = lambda key: text(request, key)  # noqa: E731
    series = {"process_mb": say("status_process"), "system_mb": say("status_system"), "gpu_mb": "GPU"}
    memory = [(p["at"], series[k], p[k]) for p in points for k in series if p[k] is not None]
    counts = {"running": say("status_running"), "waiting": say("status_waiting")}
    jobs = [(p["at"], counts[k], p[k]) for p in points for k in counts]

    def frame(rows, y):
        df = pd.DataFrame(rows, columns=["time", "series", y])
        df["time"] = pd.to_datetime(df["time"], unit="s")
        return df

    # the clock on the time axis: Vega's own labels for a span of a minute or two are parts of a second (".500")
    common = dict(x_title=say("status_time"), color_title="", x_axis_format="%H:%M:%S")
    return (gr.LinePlot(frame(memory, "MB"), y_title="MB", **common),
            gr.LinePlot(frame(jobs, "jobs"), y_title=say("status_job_count"),
                        y_lim=[0, max([1, *(n for *_, n in jobs)])], y_axis_format="~g",
                        **common))


def _recent(request: gr.Request | None, recent: list[dict[str, Any]]) -> pd.DataFrame:
    """The recent jobs, newest first: time, model, audio, processing, real-time factor."""
    columns = [text(request, k) for k in ("status_col_time", "status_col_model", "status_col_audio",
                                          "status_col_processing", "status_col_rtf")]
    rows = [[_clock(j["at"]), j["model"], round(j["audio_seconds"], 1), round(j["processing_seconds"], 2),
             round(j["real_time_factor"], 3)] for j in reversed(recent)]
    return pd.DataFrame(rows, columns=columns)


def _replicas(request: gr.Request | None, replicas: list[dict[str, Any]]) -> pd.DataFrame:
    """With --backend ray: each replica's node, device, model, state, memory and jobs done."""
    keys = ("status_col_node", "status_col_device", "status_col_model", "status_col_state", "status_col_memory",
            "status_col_jobs_done")
    rows = [[r["node"], r["device"] or "-", r["model"] or "-", text(request, "status_state_" + r["state"].replace(" ", "_")),
             mb(r["memory_mb"]), r["jobs_done"]] for r in replicas]
    return pd.DataFrame(rows, columns=[text(request, k) for k in keys])


def status_tab(service: TranscriptionService, demo: gr.Blocks, model_queue: str) -> tuple[gr.Tab, gr.Timer]:
    """The tab, and its timer (the app stops it when another tab is chosen)."""
    manager = service.manager

    def _queued() -> int | None:
        try:
            queue = demo._queue.event_queue_per_concurrency_id.get(model_queue)  # Gradio internals: best effort
            return len(queue.queue) if queue is not None else 0
        except AttributeError:
            return None

    history = status_mod.History(manager, _queued).start()
    remote = hasattr(manager.engine, "replicas")  # --backend ray: the replicas' table

    def status() -> dict[str, Any]:
        return status_mod.collect(manager, _queued())

    def status_fields(request: gr.Request):
        s = status()  # one snapshot: the fields and the JSON agree
        m, mem = s["model"], s["memory"]
        cuda = (f"{mb(mem['cuda_used_mb'])} / {mb(mem['cuda_total_mb'])}" if mem["cuda_total_mb"]
                else text(request, "status_no_gpu"))
        load = (text(request, "status_seconds", seconds=f"{m['load_seconds']:.1f}") if m["load_seconds"] is not None
                else "-")
        versions = " · ".join(f"{k} {_version(request, v)}" for k, v in s["versions"].items())
        state = text(request, "status_state_" + m["status"].replace(" ", "_"))
        fields = (s["device"], cuda, mb(mem["process_rss_mb"]),
                  f"{mb(mem['system_used_mb'])} / {mb(mem['system_total_mb'])}", state, _model_line(request, m), load,
                  _job_line(request, s), _error_line(request, m), versions, s)
        return (*fields, _replicas(request, s["replicas"])) if remote else fields

    def new_plots(request: gr.Request, shown: tuple | None):
        """The plots and the recent jobs, after the fields (which paint first); on a tick, only when the
        history has a new sample or a job has finished since this page last drew them (``shown``)."""
        points = history.samples()
        drawn = (points[-1]["at"] if points else None, manager.state.jobs_done)
        if drawn == shown:
            return gr.skip(), gr.skip(), gr.skip(), shown
        memory_plot, jobs_plot = _plots(request, [*points, status_mod.sample(manager, _queued())])
        return memory_plot, jobs_plot, _recent(request, manager.recent_jobs()), drawn

    def all_plots(request: gr.Request):
        return new_plots(request, None)

    tab, c = _layout(remote)
    _wire(demo, tab, c, remote, status, status_fields, new_plots, all_plots)
    return tab, c.timer


def _layout(remote: bool) -> tuple[gr.Tab, SimpleNamespace]:
    """The tab and its components: today's figures beside the plots, the replicas (``remote``: --backend ray),
    the recent jobs, the versions, the JSON, the refresh button, the hidden /status button and the timer."""
    with gr.Tab(i18n("wui_tab_status"), id="status", elem_id="tab-status") as tab:
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):  # today's figures
                with gr.Row():
                    device = gr.Textbox(label=i18n("wui_device"), interactive=False, elem_id="status-device")
                    cuda_memory = gr.Textbox(label=i18n("wui_gpu_memory"), interactive=False, elem_id="status-gpu")
                with gr.Row():
                    rss = gr.Textbox(label=i18n("wui_process_memory"), interactive=False, elem_id="status-rss")
                    system_memory = gr.Textbox(label=i18n("wui_system_memory"), interactive=False)
                with gr.Row():
                    state_box = gr.Textbox(label=i18n("wui_model_state"), interactive=False, elem_id="status-state")
                    load_time = gr.Textbox(label=i18n("wui_load_time"), interactive=False)
                model_box = gr.Textbox(label=i18n("wui_model"), interactive=False, elem_id="status-model")
                jobs = gr.Textbox(label=i18n("wui_jobs"), interactive=False, elem_id="status-jobs")
                last_error = gr.Textbox(label=i18n("wui_last_error"), interactive=False, elem_id="status-error")
            with gr.Column(scale=2):  # the last minutes
                # no fixed height: Gradio then sizes the chart with its legend below it
                memory_plot = gr.LinePlot(x="time", y="MB", color="series", label=i18n("wui_memory_plot"),
                                          elem_id="status-memory-plot")
                jobs_plot = gr.LinePlot(x="time", y="jobs", color="series", label=i18n("wui_jobs_plot"),
                                        elem_id="status-jobs-plot")
        replicas = gr.Dataframe(label=i18n("wui_replicas"), interactive=False, elem_id="status-replicas",
                                visible=remote, wrap=True, elem_classes=["wui-fit"])
        recent = gr.Dataframe(label=i18n("wui_recent_jobs"), interactive=False, elem_id="status-recent",
                              max_height=260, wrap=True, elem_classes=["wui-fit"])
        versions = gr.Textbox(label=i18n("wui_versions"), interactive=False)
        with gr.Accordion("JSON", open=False):
            status_json = gr.JSON(elem_id="status-json")
            status_json.wui_api_name = "status"  # what /status calls it (api_docs.describe_api)
        refresh = gr.Button(i18n("wui_refresh"), elem_id="status-refresh")
        api = gr.Button(visible=False)  # /status (the API): its own snapshot, never the page's
        timer = gr.Timer(STATUS_SECONDS, active=False)
        shown = gr.State(None)  # what this page's plots show (new_plots)
    return tab, SimpleNamespace(
        device=device, cuda_memory=cuda_memory, rss=rss, system_memory=system_memory, state_box=state_box,
        load_time=load_time, model_box=model_box, jobs=jobs, last_error=last_error, memory_plot=memory_plot,
        jobs_plot=jobs_plot, replicas=replicas, recent=recent, versions=versions, status_json=status_json,
        refresh=refresh, api=api, timer=timer, shown=shown)


def _wire(demo: gr.Blocks, tab: gr.Tab, c: SimpleNamespace, remote: bool, status, status_fields, new_plots,
          all_plots) -> None:
    """The events: /status (the API), the timer's tick, the page's load, the tab's select and the refresh
    button (the fields first, then the plots), and the timer started when the tab is chosen."""
    status_outputs = [c.device, c.cuda_memory, c.rss, c.system_memory, c.state_box, c.model_box, c.load_time, c.jobs,
                      c.last_error, c.versions, c.status_json, *([c.replicas] if remote else [])]
    plot_outputs = [c.memory_plot, c.jobs_plot, c.recent, c.shown]
    c.api.click(status, None, c.status_json, api_name="status", queue=False)
    private = dict(api_visibility="private", queue=False)
    c.timer.tick(status_fields, None, status_outputs, **private).then(new_plots, c.shown, plot_outputs, **private)
    # the page's load fills the tab too (one snapshot a page view): a first click shows figures at once
    for event in (*language_events(demo), tab.select, c.refresh.click):
        event(status_fields, None, status_outputs, **private).then(all_plots, None, plot_outputs, **private)
    tab.select(lambda: gr.Timer(active=True), None, c.timer, **TIMER_EVENTS)

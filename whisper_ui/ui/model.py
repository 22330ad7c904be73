"""The Model tab: which model serves the jobs, the models offered (on disk or not), load / switch /
unload (administrators only, with a login), and the old caches of the setup this app replaces."""

from __future__ import annotations

import logging
import sys

import gradio as gr

from ..errors import WhisperUIError
from ..service import TranscriptionService
from ..settings import cache_environment
from .format import mb, model_line, size
from .inputs import i18n

log = logging.getLogger("whisper_ui.ui")


def model_tab(service: TranscriptionService, demo: gr.Blocks, model_events: dict) -> gr.Tab:
    settings = service.settings
    manager = service.manager

    def model_rows() -> list[list]:
        state = manager.state
        rows = []
        for info in service.offered_models():
            loaded = f"✔ {state.engine}" if state.ready and state.model == info.name else ""
            rows.append([info.name + ("" if info.official else " (local)"),
                         size(info.size_bytes) if info.on_disk else "no",
                         size(info.ct2_size_bytes) if info.ct2_on_disk else "no",
                         f"~{mb(info.approx_memory_mb)}", loaded])
        return rows

    def model_state_text() -> str:
        state = manager.state
        lines = [f"**State:** {state.status}" + (f" — {model_line(state)}" if state.model else "")]
        if state.download_fraction is not None:
            lines.append(f"**Downloading:** {state.download_fraction:.0%}")
        if state.load_seconds is not None:
            lines.append(f"**Load time:** {state.load_seconds:.1f} s")
        engine = manager.engines.get(state.engine or "")
        batch = engine.batch_size_for(state.device) if hasattr(engine, "batch_size_for") and state.device else None
        if batch is not None:  # faster-whisper: say what batching trades
            lines.append(f"**Batching:** {batch} windows at once: faster on a GPU, but its segments are whole "
                         "speech chunks of up to 30 s (coarse subtitles) and it uses one temperature" if batch else
                         "**Batching:** off (`--batch-size N` decodes N windows at once: faster on a GPU, not on "
                         "a CPU)")
        if state.fallback:
            lines.append(f"**Fallback:** {state.fallback}")
        if state.error:
            lines.append(f"**Error:** {state.error}")
        return "  \n".join(lines)

    def is_admin(request: gr.Request | None) -> bool:
        """Without a login everyone is; with one, the users ``--admin`` names."""
        return not settings.credentials or getattr(request, "username", None) in settings.admin

    def admin(request: gr.Request | None, action: str) -> str:
        """The user doing an admin ``action``, logged; anyone else gets an error (checked here, in the
        server: the page's read-only Model tab is only a courtesy)."""
        user = getattr(request, "username", None)
        if not is_admin(request):
            log.warning("refused to %s for user %s: not an admin (--admin)", action, ascii(user))
            raise gr.Error(f"Only an administrator may {action} (the server's --admin).", title="Not allowed")
        log.info("%s %s: %s", "admin" if settings.credentials else "local user", user or "-", action)
        return user or ""

    def load_model(name: str, engine: str | None = None, progress=gr.Progress(track_tqdm=True),
                   request: gr.Request = None):
        if not name:
            raise gr.Error("Choose a model first.")
        admin(request, f"load model {name} ({engine or manager.engine_name})")
        progress(0, desc=f"Loading {name}")
        try:
            state = manager.load(name, engine or None)
        except WhisperUIError as e:
            raise gr.Error(str(e)) from e
        if state.fallback:
            gr.Warning(state.fallback)
        else:
            gr.Info(f"{state.model} is ready on {state.device} ({state.engine}, {state.compute_type}).")
        return model_state_text(), model_rows()

    def unload_model(request: gr.Request = None):
        admin(request, "unload the model")
        manager.unload()
        return model_state_text(), model_rows()

    def refresh_models():
        return model_state_text(), model_rows()

    # --- old caches (migration) ------------------------------------------------------

    def _cache_entries():
        from ..hfcache import find_whisper_caches, select_entries

        entries = find_whisper_caches(cache_environment(), sys.platform, keep=settings.model_dir)
        return select_entries(entries, ())

    def cache_rows():
        from ..hfcache import find_whisper_caches, human_size

        entries = find_whisper_caches(cache_environment(), sys.platform, keep=settings.model_dir)
        rows = [[e.kind, e.name + (" (kept: app model folder)" if e.in_model_dir else ""), human_size(e.size),
                 str(e.path)] for e in entries]
        deletable = [e for e in entries if not e.in_model_dir]
        total = sum(e.size for e in deletable)
        summary = (f"{len(deletable)} old Whisper cache {'entry' if len(deletable) == 1 else 'entries'}, "
                   f"{human_size(total)} in all."
                   if deletable else "No old Whisper model files found in the caches.")
        return rows, summary

    def ask_clean(request: gr.Request = None):
        from ..hfcache import human_size

        if not is_admin(request):
            admin(request, "clean the old caches")

        entries = _cache_entries()
        if not entries:
            gr.Info("Nothing to clean.")
            return gr.Row(visible=False), ""
        total = sum(e.size for e in entries)
        question = (f"Delete {len(entries)} entries ({human_size(total)})? The app's own model folder is kept. "
                    "This cannot be undone.")
        return gr.Row(visible=True), question

    def confirm_clean(request: gr.Request = None):
        from ..hfcache import clean

        admin(request, "clean the old caches")
        report = clean(_cache_entries(), dry_run=False)
        for error in report.errors:
            gr.Warning(str(error))
        gr.Info(report.summary())
        rows, summary = cache_rows()
        return gr.Row(visible=False), rows, summary

    # --- layout and wiring ---------------------------------------------------------------

    with gr.Tab(i18n("wui_tab_model"), id="model", elem_id="tab-model") as tab:
        model_state = gr.Markdown(elem_id="model-state")
        with gr.Row():
            offered = [info.name for info in service.offered_models()]
            choice = gr.Dropdown(offered, value=settings.model if settings.model in offered else None,
                                 label=i18n("wui_model"), elem_id="model-choice", allow_custom_value=False)
            engine_choice = gr.Dropdown(list(manager.engines), value=manager.engine_name,
                                        label=i18n("wui_engine"), info=i18n("wui_engine_info"),
                                        elem_id="model-engine", allow_custom_value=False)
            read_only_note = gr.Markdown(i18n("wui_read_only"), visible=False, elem_id="model-read-only")
            load_button = gr.Button(i18n("wui_load"), variant="primary", elem_id="model-load")
            unload_button = gr.Button(i18n("wui_unload"), elem_id="model-unload")
        models_table = gr.Dataframe(headers=["model", "openai-whisper file", "faster-whisper folder",
                                             "memory", "loaded"],
                                    label=i18n("wui_models"), interactive=False, elem_id="model-table")
        with gr.Accordion(i18n("wui_old_caches"), open=False):
            cache_summary = gr.Markdown(elem_id="cache-summary")
            cache_table = gr.Dataframe(headers=["kind", "name", "size", "path"], interactive=False,
                                       label=i18n("wui_old_caches"), elem_id="cache-table")
            clean_button = gr.Button(i18n("wui_clean"), variant="stop", elem_id="cache-clean")
            with gr.Row(visible=False) as confirm_row:
                confirm_text = gr.Markdown()
                confirm_button = gr.Button(i18n("wui_confirm_delete"), variant="stop", elem_id="cache-confirm")
                keep_button = gr.Button(i18n("wui_keep"), elem_id="cache-keep")

    load_button.click(load_model, [choice, engine_choice], [model_state, models_table], api_name="load_model",
                      **model_events)
    unload_button.click(unload_model, None, [model_state, models_table], api_name="unload_model",
                        **model_events)
    def model_controls(request: gr.Request):
        allowed = is_admin(request)
        return (*(gr.update(interactive=allowed) for _ in admin_controls),
                gr.update(visible=not allowed))

    admin_controls = [choice, engine_choice, load_button, unload_button, clean_button]
    for event in (demo.load, tab.select):
        event(model_controls, None, [*admin_controls, read_only_note], api_visibility="private", queue=False)
    tab.select(refresh_models, None, [model_state, models_table], api_visibility="private", queue=False)
    tab.select(lambda: manager.engine_name, None, engine_choice, api_visibility="private", queue=False)
    tab.select(cache_rows, None, [cache_table, cache_summary], api_visibility="private", queue=False)
    clean_button.click(ask_clean, None, [confirm_row, confirm_text], api_visibility="private", queue=False)
    keep_button.click(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private", queue=False)
    confirm_button.click(confirm_clean, None, [confirm_row, cache_table, cache_summary],
                         api_visibility="private", concurrency_id="cache", concurrency_limit=1)
    return tab

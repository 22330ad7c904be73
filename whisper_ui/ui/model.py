"""The Model tab: which model serves the jobs, the models offered (on disk or not, and their size), load /
switch / unload (administrators only, with a login; unloading asks first: it affects every user), and the
old caches of the setup this app replaces. What it says is in the reader's language (``words``)."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import gradio as gr

from ..core.errors import WhisperUIError
from ..core.i18n import say
from ..core.settings import cache_environment
from ..runtime.manager import DOWNLOADING, FAILED, LOADING, NOT_LOADED, READY
from ..runtime.service import TranscriptionService
from .format import mb, size
from .inputs import i18n
from .notice import engines_compared
from .words import language_events, message, page_error, text

log = logging.getLogger("whisper_ui.ui")

# The size of each official checkpoint (openai-whisper's files; faster-whisper's float16 folders are about
# the same): what choosing a model that is not on disk downloads. The URLs do not say it.
DOWNLOAD_BYTES = {
    "tiny.en": 75_571_315, "tiny": 75_572_083, "base.en": 145_261_783, "base": 145_262_807,
    "small.en": 483_615_683, "small": 483_617_219, "medium.en": 1_528_006_491, "medium": 1_528_008_539,
    "large-v1": 3_086_999_982, "large-v2": 3_086_999_982, "large-v3": 3_087_371_615, "turbo": 1_617_824_864,
}
STATUS_KEYS = {READY: "model_status_ready", NOT_LOADED: "model_status_not_loaded", FAILED: "model_status_failed",
               DOWNLOADING: "model_status_downloading", LOADING: "model_status_loading"}
MODEL_COLUMNS = ("model_col_model", "model_col_file", "model_col_folder", "model_col_memory", "model_col_loaded")
CACHE_COLUMNS = ("model_col_kind", "model_col_name", "model_col_size", "model_col_path")
WIDE = 260  # px: a choice narrower than this goes under its neighbour (a phone's 390 px: one a line)
ACTIONS = {"load": "model_action_load", "unload": "model_action_unload", "clean": "model_action_clean"}


def model_tab(service: TranscriptionService, demo: gr.Blocks, model_events: dict) -> gr.Tab:
    """The tab: what serves and the models offered (with load / switch / unload), the old caches, and the
    hidden buttons the /load_model and /unload_model API endpoints hang on; then their events."""
    handlers, c = ModelHandlers(service), SimpleNamespace()  # c: the tab's components, by name
    with gr.Tab(i18n("wui_tab_model"), id="model", elem_id="tab-model") as tab:
        _model_controls(handlers, c)
        _cache_controls(c)
        with gr.Row(visible=False):  # what the /load_model and /unload_model API endpoints hang on
            c.api_load, c.api_unload = gr.Button(), gr.Button()
    _wire(handlers, c, demo, tab, model_events)
    return tab


class ModelHandlers:
    """What the tab's events call: the model's state and table, load / unload (administrators only), and
    the old caches; each says what it shows in the reader's language."""

    def __init__(self, service: TranscriptionService):
        self.service = service
        self.settings = service.settings
        self.manager = service.manager

    @staticmethod
    def info_toast(request, key: str, **values) -> None:
        gr.Info(text(request, key, **values), title=text(request, "info_title"))

    def choices(self, request: gr.Request | None) -> list[tuple[str, str]]:
        """(label, name): "base · on disk · 145 MB", "small · download 484 MB"."""
        pairs = []
        for info in self.service.offered_models():
            if info.on_disk or info.ct2_on_disk:  # either form serves both engines (converted once, locally)
                label = text(request, "model_on_disk", name=info.name,
                             size=size(info.size_bytes if info.on_disk else info.ct2_size_bytes))
            elif info.name in DOWNLOAD_BYTES:
                label = text(request, "model_download", name=info.name, size=size(DOWNLOAD_BYTES[info.name]))
            else:
                label = text(request, "model_download_unknown", name=info.name)
            pairs.append((label, info.name))
        return pairs

    def model_rows(self, request: gr.Request | None) -> dict:
        state, no = self.manager.state, text(request, "model_no")
        rows = []
        for info in self.service.offered_models():
            loaded = f"✔ {state.engine}" if state.ready and state.model == info.name else ""
            rows.append([info.name if info.official else text(request, "model_local", name=info.name),
                         size(info.size_bytes) if info.on_disk else no,
                         size(info.ct2_size_bytes) if info.ct2_on_disk else no,
                         f"~{mb(info.approx_memory_mb)}", loaded])
        return {"headers": [text(request, key) for key in MODEL_COLUMNS], "data": rows}

    def model_state_text(self, request: gr.Request | None) -> str:
        manager = self.manager
        state = manager.state
        status = text(request, STATUS_KEYS[state.status]) if state.status in STATUS_KEYS else state.status
        serving = text(request, "model_serving", model=state.model, device=state.device or "-",
                       engine=f"{state.engine} {state.compute_type or ''}".rstrip()) if state.model else ""
        lines = [text(request, "model_state", status=status) + serving]
        if state.download_fraction is not None:
            lines.append(text(request, "model_downloading", percent=f"{state.download_fraction:.0%}"))
        if state.load_seconds is not None:
            lines.append(text(request, "model_load_time", seconds=f"{state.load_seconds:.1f}"))
        engine = manager.engines.get(state.engine or "")
        batch = engine.batch_size_for(state.device) if hasattr(engine, "batch_size_for") and state.device else None
        if batch is not None:  # faster-whisper: say what batching trades
            lines.append(text(request, "model_batching_on", batch=batch) if batch else
                         text(request, "model_batching_off"))
        lines += engines_compared(self.service, request, state.model)
        if state.fallback:
            lines.append(text(request, "model_fallback", note=message(request, state.fallback)))
        if state.error:
            lines.append(text(request, "model_error", message=message(request, state.error)))
        return "  \n".join(lines)

    def is_admin(self, request: gr.Request | None) -> bool:
        """Without a login everyone is; with one, the users ``--admin`` names."""
        return not self.settings.credentials or getattr(request, "username", None) in self.settings.admin

    def admin(self, request: gr.Request | None, action: str, **values) -> str:
        """The user doing an admin ``action`` (a key of ACTIONS), logged; anyone else gets an error (checked
        here, in the server: the page's read-only Model tab is only a courtesy)."""
        user = getattr(request, "username", None)
        if not self.is_admin(request):
            log.warning("refused to %s for user %s: not an admin (--admin)", say(ACTIONS[action], "en", **values),
                        ascii(user))
            raise gr.Error(text(request, "model_admin_only", action=text(request, ACTIONS[action], **values)),
                           title=text(request, "model_not_allowed"))
        log.info("%s %s: %s", "admin" if self.settings.credentials else "local user", user or "-",
                 say(ACTIONS[action], "en", **values))
        return user or ""

    def load_model(self, name: str, engine: str | None = None, progress=gr.Progress(track_tqdm=True),
                   request: gr.Request = None):
        if not name:
            raise gr.Error(text(request, "model_choose_first"), title=text(request, "error_title"))
        self.admin(request, "load", name=name, engine=engine or self.manager.engine_name)
        progress(0, desc=text(request, "model_loading", name=name))
        try:
            state = self.manager.load(name, engine or None)
        except WhisperUIError as e:
            raise page_error(e, request) from e
        if state.fallback:
            gr.Warning(message(request, state.fallback), title=text(request, "warning_title"))
        else:
            self.info_toast(request, "model_ready", model=state.model, device=state.device, engine=state.engine,
                            compute_type=state.compute_type)
        return self.model_state_text(request), self.model_rows(request)

    def ask_unload(self, request: gr.Request):
        self.admin(request, "unload")
        state = self.manager.state
        if state.status == NOT_LOADED or not state.model:
            self.info_toast(request, "model_nothing_loaded")
            return gr.Row(visible=False), ""
        return gr.Row(visible=True), text(request, "model_unload_question", model=state.model)

    def unload_model(self, request: gr.Request = None):
        self.admin(request, "unload")
        self.manager.unload()
        return self.model_state_text(request), self.model_rows(request)

    def refresh_models(self, request: gr.Request):
        """What serves the next job: the state, the table, and the choices showing the model and engine."""
        state = self.manager.state
        pairs = self.choices(request)
        serving = state.model or self.manager.default_model  # nothing loaded yet: the next job loads the default
        value = serving if serving in {name for _, name in pairs} else None
        return (self.model_state_text(request), self.model_rows(request), gr.Dropdown(choices=pairs, value=value),
                gr.Dropdown(value=self.manager.engine_name))

    def load_shown(self, name: str, engine: str | None = None, progress=gr.Progress(track_tqdm=True),
                   request: gr.Request = None):
        self.load_model(name, engine, progress, request)
        return self.refresh_models(request)

    def unload_shown(self, request: gr.Request):
        self.unload_model(request)
        return self.refresh_models(request)

    # --- old caches (migration) ------------------------------------------------------

    def _cache_entries(self, deletable_only: bool = True):
        from ..models.hfcache import find_whisper_caches, select_entries

        entries = find_whisper_caches(cache_environment(), sys.platform, keep=self.settings.model_dir)
        return select_entries(entries, ()) if deletable_only else entries

    def cache_rows(self, request: gr.Request):
        """The table, its summary, and the Clean button only when there is something to clean."""
        from ..models.hfcache import human_size

        entries = self._cache_entries(deletable_only=False)
        # the old caches only: the app's own models (its folder may be one of those caches) are said apart, kept
        deletable = [e for e in entries if not e.in_model_dir]
        kept = [e for e in entries if e.in_model_dir]
        rows = [[e.kind, e.name, human_size(e.size), str(e.path)] for e in deletable]
        summary = (text(request, "model_cache_summary_one" if len(deletable) == 1 else "model_cache_summary",
                        count=len(deletable), size=human_size(sum(e.size for e in deletable)))
                   if deletable else text(request, "model_cache_none"))
        if kept:
            summary += " " + text(request, "model_cache_kept", names=", ".join(e.name for e in kept),
                                  size=human_size(sum(e.size for e in kept)), folder=str(self.settings.model_dir))
        table = {"headers": [text(request, key) for key in CACHE_COLUMNS], "data": rows}
        return table, summary, gr.Button(visible=bool(deletable))

    def ask_clean(self, request: gr.Request):
        from ..models.hfcache import human_size

        self.admin(request, "clean")
        entries = self._cache_entries()
        if not entries:
            self.info_toast(request, "model_nothing_to_clean")
            return gr.Row(visible=False), ""
        return gr.Row(visible=True), text(request, "model_clean_question", count=len(entries),
                                          size=human_size(sum(e.size for e in entries)))

    def confirm_clean(self, request: gr.Request):
        from ..models.hfcache import clean, human_size

        self.admin(request, "clean")
        report = clean(self._cache_entries(), dry_run=False)
        for error in report.errors:
            gr.Warning(str(error), title=text(request, "warning_title"))
        self.info_toast(request, "model_cleaned", count=len(report.entries), size=human_size(report.freed_bytes))
        return gr.Row(visible=False), *self.cache_rows(request)


# --- layout and wiring ---------------------------------------------------------------


def _model_controls(handlers: ModelHandlers, c: SimpleNamespace) -> None:
    """What serves, the model and engine choices with load / unload (and the unload's question), and the
    table of the models offered: each put in ``c``."""
    settings, manager = handlers.settings, handlers.manager
    c.model_state = gr.Markdown(elem_id="model-state")
    c.model_state.wui_api_name = "state"  # what /load_model and /unload_model call it (api_docs.describe_api)
    with gr.Row():
        offered = handlers.choices(None)
        choice = settings.model if settings.model in {n for _, n in offered} else None
        c.choice = gr.Dropdown(offered, value=choice, label=i18n("wui_model"), elem_id="model-choice", min_width=WIDE)
        c.engine_choice = gr.Dropdown(list(manager.engines), value=manager.engine_name,
                                      label=i18n("wui_engine"), info=i18n("wui_engine_info"),
                                      elem_id="model-engine", min_width=WIDE)
        c.read_only_note = gr.Markdown(i18n("wui_read_only"), visible=False, elem_id="model-read-only")
        c.load_button = gr.Button(i18n("wui_load"), variant="primary", elem_id="model-load")
        c.unload_button = gr.Button(i18n("wui_unload"), elem_id="model-unload")
    with gr.Row(visible=False, elem_id="unload-confirm-row") as c.unload_row:
        c.unload_text = gr.Markdown(elem_id="unload-question")
        c.unload_yes = gr.Button(i18n("wui_unload_yes"), variant="stop", elem_id="unload-confirm")
        c.unload_no = gr.Button(i18n("wui_unload_no"), elem_id="unload-keep")
    c.models_table = gr.Dataframe(handlers.model_rows(None), label=i18n("wui_models"), interactive=False,
                                  wrap=True, elem_id="model-table", elem_classes=["wui-fit"])


def _cache_controls(c: SimpleNamespace) -> None:
    """The old caches, folded: their summary and table, the Clean button and its question; put in ``c``."""
    with gr.Accordion(i18n("wui_old_caches"), open=False):
        c.cache_summary = gr.Markdown(elem_id="cache-summary")
        c.cache_table = gr.Dataframe(headers=[say(key, "en") for key in CACHE_COLUMNS], interactive=False, wrap=True,
                                     label=i18n("wui_old_caches"), elem_id="cache-table", elem_classes=["wui-fit"])
        c.clean_button = gr.Button(i18n("wui_clean"), variant="stop", elem_id="cache-clean", visible=False)
        with gr.Row(visible=False) as c.confirm_row:
            c.confirm_text = gr.Markdown(elem_id="cache-question")
            c.confirm_button = gr.Button(i18n("wui_confirm_delete"), variant="stop", elem_id="cache-confirm")
            c.keep_button = gr.Button(i18n("wui_keep"), elem_id="cache-keep")


def _wire(h: ModelHandlers, c: SimpleNamespace, demo: gr.Blocks, tab: gr.Tab, model_events: dict) -> None:
    """Load and unload (the API's and the page's, with the unload's question), who may use the controls,
    the refresh when the tab is chosen, and the old caches' clean with its question."""
    private = dict(api_visibility="private", queue=False)
    shown = [c.model_state, c.models_table, c.choice, c.engine_choice]
    # the API's load and unload (hidden buttons) give (state, table), as they always have; the page's give
    # what serves with them, the dropdowns too, in one update (and again after a failure)
    c.api_load.click(h.load_model, [c.choice, c.engine_choice], [c.model_state, c.models_table],
                     api_name="load_model", **model_events)
    c.api_unload.click(h.unload_model, None, [c.model_state, c.models_table], api_name="unload_model",
                       **model_events)
    loaded = c.load_button.click(h.load_shown, [c.choice, c.engine_choice], shown, api_visibility="private",
                                 **model_events)
    c.unload_button.click(h.ask_unload, None, [c.unload_row, c.unload_text], **private)
    c.unload_no.click(lambda: gr.Row(visible=False), None, c.unload_row, **private)
    c.unload_yes.click(lambda: gr.Row(visible=False), None, c.unload_row, **private)
    unloaded = c.unload_yes.click(h.unload_shown, None, shown, api_visibility="private", **model_events)
    for failed in (loaded.failure, unloaded.failure):  # the choices show what serves, not the failed choice
        failed(h.refresh_models, None, shown, **private)

    def model_controls(request: gr.Request):
        allowed = h.is_admin(request)
        return (*(gr.update(interactive=allowed) for _ in admin_controls), gr.update(visible=not allowed))

    admin_controls = [c.choice, c.engine_choice, c.load_button, c.unload_button, c.clean_button]
    for event in (demo.load, tab.select):
        event(model_controls, None, [*admin_controls, c.read_only_note], **private)
    for event in (tab.select, *language_events(demo)[1:]):
        event(h.refresh_models, None, shown, **private)
        event(h.cache_rows, None, [c.cache_table, c.cache_summary, c.clean_button], **private)
    c.clean_button.click(h.ask_clean, None, [c.confirm_row, c.confirm_text], **private)
    c.keep_button.click(lambda: gr.Row(visible=False), None, c.confirm_row, **private)
    c.confirm_button.click(h.confirm_clean, None, [c.confirm_row, c.cache_table, c.cache_summary, c.clean_button],
                           api_visibility="private", concurrency_id="cache", concurrency_limit=1)

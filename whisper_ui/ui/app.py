"""The page: four tabs over one service, their jobs in one queue for the model."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..runtime.service import TranscriptionService
from . import gradio_words
from .api_docs import hide_tool_endpoint
from .inputs import AUTO, UPLOAD_TYPES, i18n, upload_input
from .jobs import Jobs
from .mcp import mcp_tool
from .microphone import microphone_tab
from .model import model_tab
from .status import TIMER_EVENTS, status_tab
from .upload import upload_tab
from .words import LANGUAGE_COOKIE, LANGUAGE_EVENT, language_events

MODEL_QUEUE = "model"  # the concurrency_id of every listener that uses the model
MCP_ENDPOINT = "mcp_transcribe"  # the API name of the MCP tool "transcribe" (with --mcp)


def build_app(service: TranscriptionService) -> gr.Blocks:
    settings = service.settings
    # one job at a time on the model (with --backend ray, one a replica; loads wait for them in the manager)
    model_events = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=service.manager.concurrency)
    # one progress line (the summary's place) instead of a bar over each output
    job_events = dict(model_events, show_progress="minimal")
    # Gradio deletes uploads (and its copies of result files) older than the retention, checking every sixth of it
    retention = settings.upload_retention_seconds
    with gr.Blocks(title="whisper-ui", analytics_enabled=False,
                   delete_cache=(min(600, max(1, retention // 6)), retention)) as demo:
        # clicked by LANGUAGE_JS when the reader picks a language in Settings (words.language_events)
        setattr(demo, LANGUAGE_EVENT, gr.Button(visible="hidden", elem_id="wui-language"))
        jobs = Jobs(demo, service)
        with gr.Row(equal_height=True):
            gr.Markdown(i18n("wui_intro"))
            if settings.credentials:  # Gradio's /logout: every login of this user ends (its one-session form
                # finds the session by the Secure cookie, which a browser does not send over plain HTTP)
                gr.Button(i18n("wui_logout"), link="logout", size="sm", scale=0, min_width=120, elem_id="logout")
        with gr.Tabs():
            upload = upload_tab(service, jobs, job_events, demo)
            microphone = microphone_tab(service, jobs, job_events, demo)
            model = model_tab(service, demo, model_events)
            status, timer = status_tab(service, demo, MODEL_QUEUE)
        tabs = {upload: "wui_tab_upload", microphone: "wui_tab_microphone", model: "wui_tab_model",
                status: "wui_tab_status"}
        for event in language_events(demo)[1:]:
            event(lambda: [gr.Tab(label=i18n(key)) for key in tabs.values()], None, list(tabs),
                  queue=False, api_visibility="private", show_progress="hidden")
        for tab in (upload, microphone, model):
            tab.select(lambda: gr.Timer(active=False), None, timer, **TIMER_EVENTS)
        gr.Markdown(i18n("wui_api_guide"), elem_id="api-guide-link", elem_classes=["wui-hint"])

        if settings.mcp:  # the one MCP tool (see mcp_tools_only): hidden from the page
            with gr.Group(visible=False):
                tool_audio = upload_input(label="audio", file_types=UPLOAD_TYPES)
                tool_task = gr.Radio(["transcribe", "translate"], value="transcribe", label="task")
                tool_language = gr.Textbox(AUTO, label="language")
                tool_text = gr.Textbox(label="text")
                tool_segments = gr.JSON(label="segments")
                tool_button = gr.Button()
            tool_button.click(mcp_tool(service), [tool_audio, tool_task, tool_language], [tool_text, tool_segments],
                              api_name=MCP_ENDPOINT, queue=False)
    return demo


QUEUE_POLL_SECONDS = 0.02
PROGRESS_POLL_SECONDS = 0.1


def share_model_queue(demo: gr.Blocks, service: TranscriptionService) -> None:
    """One queue for the model: the page's jobs and the API's count together against ``--queue-size``.

    The service learns how many of the page's model jobs are in Gradio's queue (waiting or running),
    and Gradio refuses a page job when the API's jobs fill the queue (Gradio internals, replaced on
    the instance; ``tests/test_api.py`` checks both directions)."""
    queue = demo._queue

    pushing = 0  # page jobs admitted here and not yet in Gradio's queue (its push awaits a lock first)

    def page_jobs() -> int:
        try:
            events = queue.event_queue_per_concurrency_id.get(MODEL_QUEUE)
            return pushing + (0 if events is None else len(events.queue) + events.current_concurrency)
        except AttributeError:
            return pushing

    push = queue.push

    async def push_sharing(body, request, username):
        nonlocal pushing
        fn = demo.fns.get(body.fn_index) if body.fn_index is not None else None
        if fn is None or fn.concurrency_id != MODEL_QUEUE:
            return await push(body, request, username)
        if service.queue_full():
            return False, f"Queue is full. Max size is {service.settings.queue_size} and size is " \
                f"{service.model_jobs() - 1}.", "queue_full"
        pushing += 1  # the check and this count are one step of the event loop: two pushes cannot both pass
        try:
            return await push(body, request, username)
        finally:
            pushing -= 1

    queue.push = push_sharing
    service.page_jobs = page_jobs
    # Gradio's loops look for queued events every 1 ms and for progress every 10 ms, busy or idle: 5 % of
    # a core and a thousand GIL hand-offs a second beside the model's thread (bench/README.md, Engines).
    # A job waits up to 20 ms more to start; the progress bar moves ten times a second.
    queue.sleep_when_free = QUEUE_POLL_SECONDS
    queue.progress_update_sleep_when_free = PROGRESS_POLL_SECONDS


def mcp_tools_only(demo: gr.Blocks) -> None:
    """Gradio's MCP server makes every public endpoint a tool; only one is: ``transcribe``."""
    server = getattr(demo, "mcp_server_obj", None)
    if server is not None:
        server.tool_to_endpoint = {"transcribe": "/" + MCP_ENDPOINT}
    hide_tool_endpoint(demo)  # the MCP server has read its endpoint: the API page leaves it off


# The language picked in Gradio's Settings (the footer), live. Gradio shows it as <html lang> (and forgets it at
# the next load, starting again from the browser's language). The page sends it to the server in a cookie
# (words.LANGUAGE_COOKIE, for this browser session) for what handlers say, and at a change clicks the hidden
# #wui-language button, whose events write the server's words of every tab again (words.language_events).
LANGUAGE_JS = r"""<script>
(() => {
  const COOKIE = "%(cookie)s";
  const sent = (document.cookie.match(new RegExp(`(?:^|; )${COOKIE}=([^;]*)`)) || [])[1];
  const remember = lang => { document.cookie = `${COOKIE}=${encodeURIComponent(lang)}; path=/; SameSite=Lax`; };
  const relanguage = () => {
    const button = document.getElementById("wui-language");
    if (button) button.click(); else setTimeout(relanguage, 200);
  };
  let shown = "";
  const first = lang => {  // Gradio's first language: only an earlier page's, sent with this page's first
    shown = lang;          // events, makes the server write its words again
    remember(lang);
    if (sent && sent !== lang) relanguage();
  };
  if (document.documentElement.lang) first(document.documentElement.lang);
  new MutationObserver(() => {
    const lang = document.documentElement.lang;
    if (!lang || lang === shown) return;
    if (!shown) return first(lang);
    shown = lang;
    remember(lang);
    relanguage();
  }).observe(document.documentElement, {attributes: true, attributeFilter: ["lang"]});
})();
</script>"""


def launch_kwargs() -> dict[str, Any]:
    """What ``demo.launch`` needs from this package."""
    # no "Runs" link: the run-history routes are not served (server.RouteGuard), so it led nowhere
    return {"i18n": i18n, "footer_links": ["api", "gradio", "settings"],
            "head": LANGUAGE_JS % {"cookie": LANGUAGE_COOKIE} + gradio_words.script()}

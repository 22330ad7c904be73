"""``/api-guide``: a short page on the programming interfaces beside Gradio's own API page, linked from the
page's footer: the OpenAI-compatible ``/v1`` routes, ``gradio_client`` and the MCP tool, with examples that
name this server's address and say whether a key is needed. No data of any user is on it."""

from __future__ import annotations

import html

from ..core.settings import Settings

PATH = "/api-guide"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>whisper-ui · API and MCP</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5;
       word-break: keep-all; overflow-wrap: anywhere; }}
pre {{ background: #f4f4f5; padding: .8rem; overflow-x: auto; border-radius: 6px; }}
code {{ font-size: .92em; }}
</style></head><body>
<h1>whisper-ui: API and MCP</h1>
<p><a href="./">Back to the page</a>. Every interface shares the page's queue (one job at a time on the model),
its limits and its decoder. {keys}</p>
<h2>OpenAI-compatible REST API</h2>
<p><code>POST /v1/audio/transcriptions</code> and <code>POST /v1/audio/translations</code> take OpenAI's multipart
form: <code>file</code>, <code>model</code> (<code>whisper-1</code>: the loaded model), <code>language</code>,
<code>prompt</code>, <code>response_format</code> (<code>json</code>, <code>text</code>, <code>srt</code>,
<code>vtt</code>, <code>verbose_json</code>), <code>timestamp_granularities[]</code>; and <code>beam_size</code>,
<code>word_timestamps</code>, <code>vad</code>. <code>GET /v1/models</code> lists the models. Errors are OpenAI's
<code>{{"error": {{...}}}}</code>; a full queue answers 429 with <code>Retry-After</code>.</p>
<pre><code>curl {base}/v1/audio/transcriptions{auth_header} \\
  -F file=@meeting.m4a -F model=whisper-1 -F response_format=srt</code></pre>
<pre><code>from openai import OpenAI

client = OpenAI(base_url="{base}/v1", api_key="{key}")
with open("meeting.m4a", "rb") as f:
    print(client.audio.transcriptions.create(model="whisper-1", file=f).text)</code></pre>
<h2>The page's functions (<code>gradio_client</code>)</h2>
<p>The footer's "Use via API" lists them with their parameters: <code>/transcribe</code> (a file),
<code>/transcribe_microphone</code>, <code>/status</code>, <code>/load_model</code>, <code>/unload_model</code>.
Give a local file: links are not fetched.</p>
<pre><code>from gradio_client import Client, handle_file

text, segments, summary, files = Client("{base}"{client_auth}).predict(
    handle_file("meeting.m4a"), api_name="/transcribe")</code></pre>
<h2>MCP</h2>
<p>{mcp}</p>
</body></html>
"""


def guide_route(settings: Settings):
    """The route (for ``app_kwargs={"routes": ...}``)."""
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def guide(request):
        base = html.escape(str(request.base_url).rstrip("/"))
        keyed = bool(settings.api_keys)
        if keyed:
            keys = "The REST API and MCP need the API key: <code>Authorization: Bearer KEY</code>."
        elif settings.credentials:
            keys = ("This server has a login and no API key: the REST API and MCP are refused until it is started "
                    "with <code>--api-key</code>; <code>gradio_client</code> logs in like the page.")
        else:
            keys = "No key is needed on this server."
        if settings.mcp:
            mcp = (f"One tool, <code>transcribe</code>, at <code>{base}/gradio_api/mcp/</code> (streamable HTTP): the "
                   "audio as a <code>data:</code> URI (at most 4 MB a message), <code>task</code> and "
                   "<code>language</code>; it gives the text and the timed segments.")
        else:
            mcp = "Off on this server: it is started with <code>--mcp</code> (WHISPER_UI_MCP=true)."
        page = _PAGE.format(base=base, keys=keys, mcp=mcp,
                            auth_header=' -H "Authorization: Bearer $KEY"' if keyed else "",
                            key="KEY" if keyed else "none needed",
                            client_auth=', auth=("user", "password")' if settings.credentials else "")
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    return Route(PATH, guide, methods=["GET"])

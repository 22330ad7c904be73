"""What Gradio's API page ("Use via API" in the footer) and ``gradio_client`` read of the app's endpoints.

Gradio describes a parameter by its component's label and type, and gives an example of its own. The page's
labels are translation keys, so the API page said ``"[object Object]" … component`` for every parameter, and a
file's example was a PDF link, which the app refuses ("Links are not fetched"). Here each endpoint, parameter
and return value gets its name and a description in English (the API's language), and a file's example is a
local audio file. The MCP tool's endpoint is left off the page: it answers only through the MCP server.
"""

from __future__ import annotations

import re

import gradio as gr

from ..core.i18n import TRANSLATIONS

# a file parameter's example: the Python snippet reads handle_file('recording.wav')
LOCAL_AUDIO = {"path": "recording.wav", "url": "recording.wav", "orig_name": "recording.wav",
               "meta": {"_type": "gradio.FileData"}}
ENDPOINTS = {
    "/transcribe": "Transcribe an audio or video file (or translate its speech into English). One job runs at a "
                   "time on the model; others wait in the queue. The REST API (/v1/audio/transcriptions, "
                   "OpenAI's shape) does the same: see /api-guide.",
    "/transcribe_microphone": "Transcribe a recording (what the Microphone tab sends): the same options and "
                              "results as /transcribe.",
    "/load_model": "Load a model (and engine) for every user; with a login, administrators only (--admin).",
    "/unload_model": "Unload the model to free its memory; the next job loads it again. Administrators only "
                     "with a login.",
    "/status": "The server's device, model, memory and recent jobs (what the Status tab shows).",
}
PARAMETERS = {  # parameter -> its description (the label's words name it)
    "file": "A local audio or video file (wav, mp3, m4a, flac, ogg, opus, webm, mp4, mkv...): "
            "handle_file('recording.wav'). Links are not fetched.",
    "recording": "A local audio file, handle_file('recording.wav'), transcribed as a microphone recording.",
    "task": '"transcribe" keeps the spoken language; "translate" gives English.',
    "language": 'The spoken language as a code ("en", "ko", "de"...), or "auto" to detect it from the first 30 s.',
    "beam_size": "1 to 10: 1 is greedy (fastest), 5 is openai-whisper's own default (more accurate).",
    "word_timestamps": "Give each word its time (in segments and the json file), as openai-whisper's CLI does.",
    "initial_prompt": "Names and terms to spell right, in the spoken language; empty for none.",
    "formats": 'The files to write: any of "txt", "srt", "vtt", "tsv", "json"; none for no files.',
    "vad": "Speech detection: only speech reaches the model (noise and silence cost nothing); off for singing.",
    "max_line_width": "Subtitles: at most this many characters a line (0: no limit); asks for word timestamps.",
    "max_line_count": "Subtitles: at most this many lines a cue (0: no limit); needs max_line_width.",
    "highlight_words": "Subtitles: underline each word as it is spoken.",
    "name": "A model this server offers (tiny.en, base, small...): see /v1/models.",
    "engine": '"openai-whisper" or "faster-whisper", where installed.',
}
EXAMPLES = {"initial_prompt": "", "word_timestamps": False, "highlight_words": False, "formats": ["txt", "srt"],
            "beam_size": 5}
RETURNS = {
    "text": "The whole transcript.",
    "segments": 'The segments as a table: {"headers": [start, end, text], "data": [[seconds, seconds, text], ...]}.',
    "summary": "The job's summary: language, audio and processing seconds, model, engine, device, notices.",
    "files": "The files written (one per format asked for), to download.",
    "state": "What serves now: model, engine, device (Markdown).",
    "models": "The models offered, and which is loaded.",
    "status": "The server's state, as data.",
}
HIDDEN = ("/mcp_transcribe",)  # the MCP tool: refused outside the MCP server (ui.mcp), so not listed


def describe_api(demo: gr.Blocks) -> None:
    """Gradio's API description, named and described (``get_api_info`` replaced on the instance). Outputs are
    named ``text``, ``segments``, ``summary``, ``files`` (``wui_api_name``, set where the page makes them) or
    after their label's English words: Gradio names a return value after its label, which here is a
    translation key (or none: ``value_23``). The MCP server reads the description once, at start
    (``hide_tool_endpoint``), with its tool's endpoint still in it."""
    get_api_info = demo.get_api_info

    def described(*args, **kwargs):
        info = get_api_info(*args, **kwargs)
        endpoints = (info or {}).get("named_endpoints", {})
        for fn in demo.fns.values():
            endpoint = endpoints.get(f"/{fn.api_name}")
            if endpoint is None:
                continue
            if f"/{fn.api_name}" in ENDPOINTS:
                endpoint["description"] = ENDPOINTS[f"/{fn.api_name}"]
            for block, parameter in zip(fn.inputs, endpoint.get("parameters", ()), strict=False):
                name = parameter.get("parameter_name")
                parameter["label"] = _words(getattr(block, "label", None)) or name
                if name in PARAMETERS:
                    parameter.setdefault("python_type", {})["description"] = PARAMETERS[name]
                if isinstance(parameter.get("example_input"), dict) and "url" in parameter["example_input"]:
                    parameter["example_input"] = dict(LOCAL_AUDIO)
                elif name in EXAMPLES:
                    parameter["example_input"] = EXAMPLES[name]
            shown = [block for block in fn.outputs if not getattr(block, "skip_api", False)]
            for block, returned in zip(shown, endpoint.get("returns", ()), strict=False):
                name = getattr(block, "wui_api_name", None) or _english(getattr(block, "label", None))
                if name:
                    returned["label"] = name
                    if name in RETURNS:
                        returned.setdefault("python_type", {})["description"] = RETURNS[name]
        if getattr(demo, "wui_tool_hidden", False):
            for name in HIDDEN:
                endpoints.pop(name, None)
        return info

    demo.get_api_info = described


def hide_tool_endpoint(demo: gr.Blocks) -> None:
    """From now on the API page leaves the MCP tool's endpoint off (called once the MCP server has read it)."""
    demo.wui_tool_hidden = True


def _words(label) -> str | None:
    """A translated label's English words ("Beam size"); a plain label as it is; None for none."""
    key = getattr(label, "key", None)
    if isinstance(key, str):
        return TRANSLATIONS["en"].get(key)
    return label if isinstance(label, str) and label else None


def _english(label) -> str | None:
    """A translated label's English words as a name ("Model state" -> "model_state"); None for others."""
    key = getattr(label, "key", None)
    words = TRANSLATIONS["en"].get(key) if isinstance(key, str) else None
    return "_".join(re.findall(r"[a-z0-9]+", words.lower())) or None if words else None

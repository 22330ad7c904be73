"""The MCP tool ``transcribe`` (with ``--mcp``): a hidden listener of the page whose function Gradio's MCP server
serves as the one tool (``app.mcp_tools_only``). It answers only through the MCP server's path, which checks the
API key, and its job is cancelled when the client goes away."""

from __future__ import annotations

import logging

import gradio as gr

from ..core.errors import WhisperUIError
from ..core.transcription import speaker_name
from ..runtime.service import SpeakerRequest, TranscriptionService
from . import words
from .inputs import AUTO, job_options

log = logging.getLogger("whisper_ui.ui")

MCP_PATH = "/gradio_api/mcp"


def _path(request: gr.Request | None) -> str:
    try:
        return request.url.path
    except AttributeError:
        return ""


def through_mcp(request: gr.Request | None) -> bool:
    """Whether a call came through the MCP server (its Streamable HTTP or SSE messages path), which checked the key."""
    path = _path(request)
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")


def mcp_tool(service: TranscriptionService):
    """The tool's function, for ``service`` (its docstring is the tool's description)."""

    async def mcp_transcribe(audio: str | None, task: str = "transcribe", language: str = AUTO,
                             request: gr.Request = None) -> tuple[str, dict]:
        """Transcribe speech in an audio or video file to text with Whisper, running on this server (or translate
        it into English). Use it when you have a recording (mp3, wav, m4a, mp4, ogg, flac, webm...) and need its
        words or timed segments. One job runs at a time; long files take a while (about a tenth of their length
        or less on a CPU with small models).

        Args:
            audio: the audio or video file, as a data URI (data:audio/wav;base64,...). Links are not fetched.
            task: "transcribe" (keep the spoken language) or "translate" (into English).
            language: the spoken language as an ISO-639-1 code ("en", "ko", "de"...), or "auto" to detect it.

        Returns:
            text: the whole transcript.
            segments: {"language", "duration", "segments": [{"start", "end", "text"}]}, times in seconds.
        """
        if not through_mcp(request):
            # the same function answers at Gradio's own routes (/gradio_api/run/..., call/..., queue/join): only the
            # MCP server's path checks the API key (web.openai_api.McpGuard), so the tool is refused anywhere else
            log.warning("the MCP tool was called outside the MCP server (%s): refused", _path(request))
            raise words.refuse("The transcribe tool answers only through the MCP server (/gradio_api/mcp/).")
        if not audio:
            raise words.refuse("Give the audio file (a data: URI).")
        options = job_options(task, language, 5, False, "", service.settings.vad)
        try:  # a client that goes away cancels its job, as on the page and the REST API
            job = await service.api_job_while_connected(
                lambda cancel: service.transcribe_file(audio, options, (), cancel,
                                                       speakers=SpeakerRequest(service.settings.speakers)),
                request.is_disconnected,
                who="MCP client")
        except WhisperUIError as e:
            raise words.refuse(str(e)) from e
        result = job.result
        return result.text, {"language": result.language, "duration": round(result.duration, 3),
                             "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text.strip(),
                                           **({"speaker": speaker_name(s, result.speaker_names)}
                                              if result.speaker_names else {})}
                                          for s in result.segments]}

    return mcp_transcribe

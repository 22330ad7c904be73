"""OpenAI-compatible routes beside the page, on the same port (issue 16).

``POST /v1/audio/transcriptions``, ``POST /v1/audio/translations`` and ``GET /v1/models``,
as OpenAI documents them, so that the ``openai`` SDKs, curl and other self-hosted clients
can call the app. A thin adapter: the upload is stored in the service's private upload
folder and goes through ``TranscriptionService.transcribe_file`` (the same size and length
limits, the hardened decoder, the same model and its one queue: ``TranscriptionService.api_job``),
and the result is written in OpenAI's shapes. Errors are OpenAI's error object with the
matching status. No Gradio here.

Keys (``check_key``): with ``--api-key`` (``WHISPER_UI_API_KEYS``, ``--api-key-file``) every
request needs ``Authorization: Bearer KEY``; with none, the routes are open unless the page
has a login (a browser login is no API credential) or is shared (``--share``): then they are
refused. The same rule guards the MCP server (``McpGuard``). Keys are never logged or echoed.
"""

from __future__ import annotations

import functools
import hmac
import io
import logging
import math
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import (
    AudioTooLargeError,
    BusyError,
    CancelledError,
    FFmpegNotFoundError,
    ModelError,
    UnknownModelError,
    WhisperUIError,
)
from ..core.settings import Settings
from ..core.speakers import MAX_SPEAKERS, parse_speakers
from ..core.transcription import (
    WRITER_OPTIONS,
    TranscribeOptions,
    TranscriptionResult,
    safe_stem,
    speaker_name,
    subtitle_dict,
    whisper_submodule,
)
from ..models.sources import canonical_name
from ..runtime.manager import DOWNLOADING, FAILED, LOADING
from ..runtime.service import SpeakerRequest, TranscriptionService
from .api_guide import guide_route

log = logging.getLogger("whisper_ui.openai_api")

ALIAS = "whisper-1"  # OpenAI's model name: here, the loaded model
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
GRANULARITIES = ("segment", "word")
FORM_FIELDS_MAX_BYTES = 64 * 1024  # every field but the file, together, their part headers included
FORM_MAX_PARTS = 64  # OpenAI's form has 9 fields (timestamp_granularities[] repeats): an empty part costs memory too
CHUNK = 1 << 16


class ApiError(Exception):
    """An answer in OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.type = type or {401: "invalid_request_error", 404: "invalid_request_error",
                             429: "rate_limit_error"}.get(status, "server_error" if status >= 500
                                                           else "invalid_request_error")
        self.headers = headers or {}

    def response(self):
        from fastapi.responses import JSONResponse

        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


# --- keys -----------------------------------------------------------------------


def check_key(settings: Settings, authorization: str | None) -> None:
    """Raise ``ApiError(401)`` unless this ``Authorization`` header may use the API (see the module's text)."""
    keys = settings.api_keys
    challenge = {"WWW-Authenticate": "Bearer"}
    if not keys:
        if settings.credentials:
            raise ApiError(401, "The app has a login (--auth), and a browser login is no API credential. Start it "
                                "with an API key (--api-key KEY, WHISPER_UI_API_KEYS or --api-key-file FILE) and send "
                                "it as 'Authorization: Bearer KEY'.", "api_key_required", headers=challenge)
        if settings.share:
            raise ApiError(401, "The app is shared (--share): the API is served on a share link only with an API "
                                "key. Start it with --api-key KEY (WHISPER_UI_API_KEYS or --api-key-file FILE).",
                           "api_key_required", headers=challenge)
        return
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.",
                       "missing_api_key", headers=challenge)
    given = token.encode("utf-8", "surrogateescape")
    matched = False
    for key in keys:  # every key is compared, in constant time, whatever matched
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    if not matched:
        raise ApiError(401, "Incorrect API key provided.", "invalid_api_key", headers=challenge)


class McpGuard:
    """ASGI middleware: the MCP server (``/gradio_api/mcp``) follows the API's key rules, and its
    requests (a file travels in them as base64) are held to the upload limit."""

    PREFIX = "/gradio_api/mcp"

    def __init__(self, app, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").startswith(self.PREFIX):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            try:
                check_key(self.settings, headers.get("authorization"))
                length = headers.get("content-length")
                if length and length.isdigit() and int(length) > self.settings.max_upload_bytes * 4 // 3 + CHUNK:
                    raise ApiError(413, f"The request is larger than the upload limit "
                                        f"({self.settings.max_upload_mb} MB, as base64).", "request_too_large")
            except ApiError as e:
                await e.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --- the request -------------------------------------------------------------------


@dataclass
class Form:
    fields: dict[str, list[str]]
    file: Path | None
    filename: str | None

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None


async def read_form(request, folder: Path, max_file_bytes: int) -> Form:
    """Stream a multipart body: the file part straight into ``folder``, at most ``max_file_bytes``
    (413 as soon as it is exceeded, the rest is never read); the other fields in memory, bounded."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(400, "Send the request as multipart/form-data, with the audio in the 'file' field.",
                       "invalid_content_type")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_file_bytes + FORM_FIELDS_MAX_BYTES:
        raise _too_large(max_file_bytes)

    parts = _FormParts(folder, max_file_bytes)
    parser = MultipartParser(params[b"boundary"], parts.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if parts.error:
                raise parts.error[0]
        parser.finalize()
    except ApiError:
        raise
    except Exception as e:
        from starlette.requests import ClientDisconnect

        if isinstance(e, ClientDisconnect):
            raise
        raise ApiError(400, "The multipart body could not be read.", "invalid_multipart") from e
    finally:
        if parts.out is not None:
            parts.out.close()
    if parts.error:
        raise parts.error[0]
    return Form(parts.fields, parts.file, parts.filename)


class _FormParts:
    """The multipart parser's callbacks and what they gather: the fields (in memory, at most
    ``FORM_FIELDS_MAX_BYTES`` together with their headers, at most ``FORM_MAX_PARTS`` parts), the one
    file (written into ``folder`` as it comes, at most ``max_file_bytes``), and the first error
    (``error``: the parser is not stopped from inside)."""

    def __init__(self, folder: Path, max_file_bytes: int):
        self.folder, self.max_file_bytes = folder, max_file_bytes
        self.fields: dict[str, list[str]] = {}
        self.file: Path | None = None
        self.filename: str | None = None
        self.error: list[ApiError] = []
        # the part being read
        self.name: str | None = None
        self.part_filename: str | None = None
        self.header, self.value, self.headers = b"", b"", {}
        self.buffer, self.out = bytearray(), None
        self.file_bytes = self.field_bytes = self.parts = 0

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished}

    def on_part_begin(self):
        self.name, self.part_filename, self.headers, self.buffer, self.out = None, None, {}, bytearray(), None
        self.parts += 1
        if self.parts > FORM_MAX_PARTS and not self.error:
            self.error.append(ApiError(413, f"The form has too many fields (at most {FORM_MAX_PARTS}).",
                                       "request_too_large"))

    def _header_room(self, size: int) -> bool:
        self.field_bytes += size
        if self.field_bytes > FORM_FIELDS_MAX_BYTES and not self.error:
            self.error.append(ApiError(413, "The form's fields are too large.", "request_too_large"))
        return not self.error

    def on_header_field(self, data, start, end):
        if self._header_room(end - start):
            self.header += data[start:end]

    def on_header_value(self, data, start, end):
        if self._header_room(end - start):
            self.value += data[start:end]

    def on_header_end(self):
        if not self.error:
            self.headers[self.header.lower()] = self.value
        self.header, self.value = b"", b""

    def on_headers_finished(self):
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.name = name
        if name == "file" and filename is not None:
            if self.file is not None:
                self.error.append(ApiError(400, "Send one file.", "invalid_value", "file"))
                return
            self.part_filename = filename.decode("utf-8", "replace")
            suffix = re.sub(r"[^\w]", "", Path(self.part_filename).suffix)[:10]
            path = self.folder / (safe_stem(self.part_filename) + (f".{suffix}" if suffix else ""))
            self.out = open(path, "wb")  # noqa: SIM115 - closed at the part's end or in read_form
            self.file, self.filename = path, self.part_filename

    def on_part_data(self, data, start, end):
        if self.error:
            return
        chunk = data[start:end]
        if self.out is not None:
            self.file_bytes += len(chunk)
            if self.file_bytes > self.max_file_bytes:
                self.error.append(_too_large(self.max_file_bytes))
                return
            self.out.write(chunk)
        else:
            self.field_bytes += len(chunk)
            if self.field_bytes > FORM_FIELDS_MAX_BYTES:
                self.error.append(ApiError(413, "The form's fields are too large.", "request_too_large"))
                return
            self.buffer += chunk

    def on_part_end(self):
        if self.out is not None:
            self.out.close()
            self.out = None
        elif self.name and not self.error:
            self.fields.setdefault(self.name, []).append(bytes(self.buffer).decode("utf-8", "replace"))


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"The file is larger than the upload limit of {max_bytes / (1024 * 1024):g} MB. Cut it "
                         "into parts or compress it (e.g. to MP3) and try again.", "file_too_large", "file")


def _bool(form: Form, name: str, default: bool) -> bool:
    value = form.get(name)
    if value is None or value.strip() == "":
        return default
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, f"'{name}' must be true or false.", "invalid_value", name)


def _number(form: Form, name: str, kind: type, default, low, high):
    value = form.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = kind(value.strip())
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError
    except ValueError:
        raise ApiError(400, f"'{name}' must be a number.", "invalid_value", name) from None
    if not low <= number <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}.", "invalid_value", name)
    return number



@functools.cache
def language_names() -> dict[str, str]:
    """ISO code -> openai-whisper's English name ("en" -> "english"), as OpenAI's verbose_json gives it."""
    return dict(whisper_submodule("tokenizer").LANGUAGES)


def language_code(value: str) -> str:
    """An ISO-639-1 code (or a language's English name) -> the code; 400 otherwise."""
    text = value.strip().lower()
    names = language_names()
    if text in names:
        return text
    by_name = {name: code for code, name in names.items()}
    if text in by_name:
        return by_name[text]
    raise ApiError(400, f"Unknown language '{value[:40]}': use an ISO-639-1 code such as 'en', 'ko' or 'de'.",
                   "invalid_language", "language")


def speakers_from(form: Form, response_format: str, settings: Settings) -> SpeakerRequest:
    """Speaker labels: the ``speakers`` extra (off, auto or a count from 2 to 10; the server's --speakers by
    default); ``diarized_json`` turns them on by itself (auto unless a count is sent); ``known_speaker_names[]``
    name them in order of first appearance."""
    sent = form.get("speakers")
    try:
        mode = parse_speakers(sent if sent is not None and sent.strip() else settings.speakers)
    except ValueError as e:
        raise ApiError(400, str(e), "invalid_value", "speakers") from e
    if response_format == "diarized_json" and mode == "off":
        mode = "auto"
    names = tuple(name for key in ("known_speaker_names[]", "known_speaker_names")
                  for name in form.fields.get(key, ()))
    if len(names) > MAX_SPEAKERS:
        raise ApiError(400, f"known_speaker_names[] takes at most {MAX_SPEAKERS} names.", "invalid_value",
                       "known_speaker_names")
    return SpeakerRequest(mode, names)


def options_from(form: Form, task: str, settings: Settings) -> tuple[TranscribeOptions, str, set[str]]:
    """The transcription options, the response format and the timestamp granularities of a request."""
    response_format = (form.get("response_format") or "json").strip()
    if response_format not in RESPONSE_FORMATS:
        raise ApiError(400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}.", "invalid_value",
                       "response_format")
    if _bool(form, "stream", False):
        raise ApiError(400, "Streaming is not supported: leave 'stream' out.", "unsupported_value", "stream")
    granularities = set()
    for name in ("timestamp_granularities[]", "timestamp_granularities"):
        for value in form.fields.get(name, ()):
            for part in value.split(","):
                if part.strip() not in GRANULARITIES:
                    raise ApiError(400, "timestamp_granularities[] takes 'segment' and 'word'.", "invalid_value",
                                   "timestamp_granularities")
                granularities.add(part.strip())
    if granularities and response_format != "verbose_json":
        raise ApiError(400, "timestamp_granularities[] needs response_format=verbose_json.", "invalid_value",
                       "timestamp_granularities")
    language = form.get("language")
    words = "word" in granularities or _bool(form, "word_timestamps", False)
    try:
        options = TranscribeOptions(
            task=task,
            language=language_code(language) if language and language.strip() and task == "transcribe" else None,
            beam_size=_number(form, "beam_size", int, 5, 1, 10),
            temperature=_number(form, "temperature", float, 0.0, 0.0, 1.0),
            initial_prompt=(form.get("prompt") or "").strip() or None,
            word_timestamps=words,
            vad=_bool(form, "vad", settings.vad),
        )
    except ValueError as e:
        raise ApiError(400, str(e), "invalid_value") from e
    return options, response_format, granularities


def check_model(service: TranscriptionService, requested: str | None) -> None:
    """``whisper-1`` (or nothing) is the loaded model; an offered name must be the loaded one; 503 when none is
    ready (a failed load, a download or load under way)."""
    manager = service.manager
    state = manager.state
    name = (requested or "").strip()
    if name and name != ALIAS:
        offered = {info.name for info in service.offered_models()}
        try:
            wanted = canonical_name(name)
        except (UnknownModelError, ValueError):
            wanted = name
        if wanted not in offered and name not in offered:
            raise ApiError(404, f"The model '{name[:60]}' does not exist here. Use '{ALIAS}' (the loaded model) or "
                                "one of GET /v1/models.", "model_not_found", "model")
        current = state.model or manager.default_model
        if wanted != current:
            raise ApiError(400, f"The model '{name}' is offered but not loaded ({current} is). Switching models is "
                                f"done on the page's Model tab; use '{ALIAS}' or '{current}'.", "model_not_loaded",
                           "model")
    if state.status == FAILED:
        raise ApiError(503, f"No model is ready: {state.error or 'the last load failed'}", "model_not_ready",
                       headers={"Retry-After": "30"})
    if state.status in (DOWNLOADING, LOADING):
        progress = f" ({state.download_fraction:.0%})" if state.download_fraction is not None else ""
        raise ApiError(503, f"No model is ready yet: {state.model} is {state.status}{progress}. Try again shortly.",
                       "model_not_ready", headers={"Retry-After": "5"})


# --- the response ----------------------------------------------------------------------


def _usage(result: TranscriptionResult) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(result.duration)}


def _subtitles(result: TranscriptionResult, fmt: str) -> str:
    writer = {"srt": "WriteSRT", "vtt": "WriteVTT"}[fmt]
    out = io.StringIO()
    # [Minji] and <v Minji> when there are speakers, as in the files
    getattr(whisper_submodule("utils"), writer)(".").write_result(subtitle_dict(result, fmt), out, WRITER_OPTIONS)
    return out.getvalue()


def verbose_json(result: TranscriptionResult, granularities: set[str], words: bool = False) -> dict[str, Any]:
    """OpenAI's ``verbose_json``: task, the language's English name, duration, text, segments (unless only
    word times were asked for), words (when asked for: a granularity, or the ``word_timestamps`` extra)."""
    body: dict[str, Any] = {
        "task": result.task,
        "language": language_names().get(result.language or "", result.language or ""),
        "duration": round(result.duration, 3),
        "text": result.text,
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [{
            "id": s.id,
            "seek": int(round(s.start * 100)),  # 10 ms frames, as Whisper counts them
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "text": s.text,
            "tokens": [],  # the engines' token ids are not kept
            "temperature": s.temperature if s.temperature is not None else 0.0,
            "avg_logprob": s.avg_logprob if s.avg_logprob is not None else 0.0,
            "compression_ratio": s.compression_ratio if s.compression_ratio is not None else 0.0,
            "no_speech_prob": s.no_speech_prob if s.no_speech_prob is not None else 0.0,
            **({"speaker": speaker_name(s, result.speaker_names)} if result.speaker_names else {}),
        } for s in result.segments]
    if "word" in granularities or words:
        body["words"] = [{"word": w.word.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
                         for w in result.words]
    body["usage"] = _usage(result)
    return body


def diarized_json(result: TranscriptionResult) -> dict[str, Any]:
    """OpenAI's ``diarized_json`` (gpt-4o-transcribe-diarize): the text, and segments of one speaker each with
    ``speaker``, ``start``, ``end`` and ``text``. Without labels (the speaker step failed), every segment's
    speaker is empty and ``notices`` says why."""
    body: dict[str, Any] = {
        "task": result.task,
        "duration": round(result.duration, 3),
        "text": result.text,
        "segments": [{"type": "transcript.text.segment", "id": f"seg_{s.id}", "start": round(s.start, 3),
                      "end": round(s.end, 3), "text": s.text.strip(), "speaker": speaker_name(s, result.speaker_names)}
                     for s in result.segments],
        "usage": _usage(result),
    }
    if result.notices:
        body["notices"] = list(result.notices)
    return body


def render(result: TranscriptionResult, response_format: str, granularities: set[str], words: bool = False):
    from fastapi.responses import JSONResponse, PlainTextResponse

    if response_format == "diarized_json":
        return JSONResponse(diarized_json(result))

    if response_format == "json":
        return JSONResponse({"text": result.text, "usage": _usage(result)})
    if response_format == "verbose_json":
        return JSONResponse(verbose_json(result, granularities, words))
    if response_format == "text":
        return PlainTextResponse(result.text + "\n")
    return PlainTextResponse(_subtitles(result, response_format))


def error_for(e: WhisperUIError, service: TranscriptionService) -> ApiError:
    message = str(e)
    if isinstance(e, BusyError):
        return ApiError(429, message, "queue_full", headers={"Retry-After": str(service.retry_after())})
    if isinstance(e, AudioTooLargeError):
        return ApiError(413, message, "file_too_large", "file")
    if isinstance(e, FFmpegNotFoundError):
        return ApiError(500, message, "ffmpeg_missing")
    if isinstance(e, ModelError):
        return ApiError(503, message, "model_not_ready", headers={"Retry-After": "30"})
    if isinstance(e, CancelledError):
        return ApiError(499, message, "cancelled")
    code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(e).__name__.removesuffix("Error")).lower() or "invalid_audio"
    return ApiError(400, message, code, "file")


# --- the routes -----------------------------------------------------------------------


async def run_job(service: TranscriptionService, request, path: Path, options: TranscribeOptions,
                  speakers: SpeakerRequest | None = None) -> TranscriptionResult:
    """The job on the shared model, in the one queue; a client that goes away cancels it."""
    job = await service.api_job_while_connected(
        lambda cancel: service.transcribe_file(path, options, (), cancel, speakers=speakers), request.is_disconnected)
    return job.result


def api_routes(service: TranscriptionService) -> list:
    """The routes, for ``app_kwargs={"routes": ...}`` beside the health routes, and their page (``api_guide``)."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    settings = service.settings

    async def audio(request, task: str):
        folder = None
        try:
            check_key(settings, request.headers.get("authorization"))
            if service.queue_full():  # before the body is stored
                raise error_for(service.busy(), service)
            service.uploads_dir.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="api-", dir=service.uploads_dir))
            form = await read_form(request, folder, settings.max_upload_bytes)
            if form.file is None:
                raise ApiError(400, "Send the audio in the 'file' field (multipart/form-data).", "missing_file",
                               "file")
            check_model(service, form.get("model"))
            options, response_format, granularities = options_from(form, task, settings)
            speakers = speakers_from(form, response_format, settings)
            result = await run_job(service, request, form.file, options, speakers)
            return render(result, response_format, granularities, options.word_timestamps)
        except ApiError as e:
            return e.response()
        except WhisperUIError as e:
            return error_for(e, service).response()
        except Exception as e:
            from starlette.requests import ClientDisconnect

            if isinstance(e, ClientDisconnect):
                log.info("API client disconnected during the upload")
                return ApiError(400, "The upload was not completed.", "client_disconnected").response()
            log.exception("API request failed")
            return ApiError(500, f"The server failed: {type(e).__name__}. See its log.", "server_error").response()
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    async def transcriptions(request):
        return await audio(request, "transcribe")

    async def translations(request):
        return await audio(request, "translate")

    async def models(request):
        try:
            check_key(settings, request.headers.get("authorization"))
        except ApiError as e:
            return e.response()
        state = service.manager.state
        current = state.model or service.manager.default_model
        data = [{"id": ALIAS, "object": "model", "created": 0, "owned_by": "whisper-ui", "root": current,
                 "loaded": state.ready, "on_disk": True}]
        for info in service.offered_models():
            on_disk = info.on_disk or info.ct2_on_disk
            created = 0
            if on_disk:
                try:
                    created = int((info.path if info.on_disk else info.ct2_dir).stat().st_mtime)
                except OSError:
                    pass
            data.append({"id": info.name, "object": "model", "created": created,
                         "owned_by": "openai" if info.official else "local", "on_disk": on_disk,
                         "loaded": state.ready and state.model == info.name})
        return JSONResponse({"object": "list", "data": data})

    return [
        Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
        Route("/v1/audio/translations", translations, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        guide_route(settings),  # /api-guide: these routes' short page
    ]


__all__ = ["api_routes", "check_key", "McpGuard", "ApiError", "verbose_json", "language_names"]

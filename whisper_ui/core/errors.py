"""Errors that reach users.

Every error a user can cause or meet (bad upload, missing ffmpeg, a model that
cannot be downloaded, CUDA out of memory) is a `WhisperUIError` whose message
says what happened and what to do. The UI layer shows the message as it is;
nothing here knows about Gradio.
"""

from __future__ import annotations

import collections
import threading

_KEYED: collections.OrderedDict[str, tuple[str, dict]] = collections.OrderedDict()  # message -> (key, values)
_KEYED_LOCK = threading.Lock()
KEYED_KEPT = 256


class WhisperUIError(Exception):
    """Base class: the message is written for the person using the app, in English (the log's and the
    API's language). With a ``key`` (and its ``values``), the page says it in the reader's language
    (``whisper_ui.core.i18n.ERRORS``); without one, it shows the English message."""

    def __init__(self, *args, key: str | None = None, **values):
        super().__init__(*args)
        self.key = key
        self.values = values
        if key and args:  # the state keeps errors as text (Model and Status tabs): they can still be said in Korean
            keyed_text(str(args[0]), key, **values)


def keyed_text(message: str, key: str, **values) -> str:
    """``message`` (English), remembered with its ``key`` and ``values``: for notices and other words the
    core gives as text that the page may say in the reader's language (``keyed``)."""
    with _KEYED_LOCK:
        _KEYED[message] = (key, values)
        _KEYED.move_to_end(message)
        while len(_KEYED) > KEYED_KEPT:
            _KEYED.popitem(last=False)
    return message


def keyed(message: str) -> tuple[str, dict] | None:
    """The key and values of a recent error with this ``message``, if it had them."""
    with _KEYED_LOCK:
        return _KEYED.get(message)


class ConfigError(WhisperUIError):
    """A setting (flag or environment variable) has a bad value."""


class AudioError(WhisperUIError):
    """The audio could not be used."""


class FFmpegNotFoundError(AudioError):
    pass


class InvalidAudioError(AudioError):
    """Not audio, corrupt, or a format we do not accept."""


class NoAudioStreamError(AudioError):
    pass


class AudioTooLargeError(AudioError):
    pass


class AudioTooLongError(AudioError):
    pass


class DecodeTimeoutError(AudioError):
    pass


class NoSpeechError(AudioError):
    pass


class ModelError(WhisperUIError):
    """A model could not be found, downloaded or loaded."""


class UnknownModelError(ModelError):
    pass


class ModelDownloadError(ModelError):
    pass


class CorruptCheckpointError(ModelError):
    pass


class ConversionError(ModelError):
    """A folder is not a model we can convert."""


class OutOfMemoryError(ModelError):
    """Out of memory even after every fallback."""


class BusyError(WhisperUIError):
    pass


class CancelledError(WhisperUIError):
    """The user cancelled the job."""


class JobTimeoutError(WhisperUIError):
    """The job ran past ``--max-job-minutes`` and was stopped."""


def public_reason(message: str, limit: int = 240) -> str:
    """What ``/readyz`` tells anyone who asks about a failure: the message's first sentence, with
    the server's paths taken out and at most ``limit`` characters. The whole message, with where to
    put which file, is in the log and, for logged-in users, on the page."""
    import re

    first = re.split(r"(?<=[.!?])\s", message.strip(), maxsplit=1)[0]
    # an absolute path (not a URL's path: those follow a host name)
    first = re.sub(r"(?<![\w:/.~-])(?:~|/)[^\s'\"()]*", "<path>", first)
    return first if len(first) <= limit else first[:limit - 1] + "…"


def network_reason(error: BaseException, language: str = "en") -> str:
    """Why a download failed, in words a user can act on: never a bare "[Errno -2]". ``language``: "en"
    (the log's, the API's) or "ko" (the page's Korean: what an error key's ``reason_ko`` carries)."""
    import re
    import socket
    import ssl
    import urllib.error

    ko = language == "ko"
    if isinstance(error, urllib.error.HTTPError):
        return f"{'서버 응답' if ko else 'the server answered'} HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, socket.gaierror):
        if ko:
            return "주소를 찾을 수 없습니다: 이 컴퓨터에 인터넷이나 DNS가 없습니다"
        return f"the address could not be resolved: {reason.strerror}; this machine has no internet or no DNS"
    if isinstance(reason, TimeoutError):
        return "서버가 제시간에 응답하지 않았습니다" if ko else "the server did not answer in time"
    if isinstance(reason, ConnectionRefusedError):
        return "연결이 거부되었습니다" if ko else "the connection was refused"
    if ko and isinstance(reason, OSError):
        return "네트워크 오류: 이 컴퓨터에서 서버에 닿을 수 없습니다"
    if isinstance(reason, ssl.SSLError):
        return f"a TLS error: {reason.reason or reason}"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return re.sub(r"^\[Errno -?\d+\]\s*", "", str(reason))

"""The reader's language at run time: what handlers say (toasts, progress, summaries, table words) is
rendered on the server in the request's ``Accept-Language`` (gr.I18n translates only what the page is
built with). English in the log and the API."""

from __future__ import annotations

import logging

import gradio as gr

from ..core.errors import CancelledError, ModelError
from ..core.i18n import error_text, language_of, say

log = logging.getLogger("whisper_ui.ui")


def language(request: gr.Request | None) -> str:
    """"ko" or "en": the first of the page's languages the browser asks for."""
    headers = getattr(request, "headers", None)
    return language_of(headers.get("accept-language") if headers is not None else None)


def text(request: gr.Request | None, key: str, **values) -> str:
    """``key``'s words (``whisper_ui.core.i18n``) in the request's language."""
    return say(key, language(request), **values)


def page_error(error: BaseException, request: gr.Request | None, title_key: str = "error_title") -> gr.Error:
    """A ``gr.Error`` (toast) for a ``WhisperUIError``, in the request's language: a normal event, so one log
    line (in English; the manager logs its own model errors and cancels) and no traceback."""
    if not isinstance(error, (ModelError, CancelledError)):
        log.info("refused: %s", error)
    lang = language(request)
    return gr.Error(error_text(error, lang), title=say(title_key, lang), print_exception=False)


def message(request: gr.Request | None, text_or_error) -> str:
    """An error as the state keeps it (its English message), in the request's language where it had a key."""
    return error_text(text_or_error, language(request)) if text_or_error else text_or_error


def refuse(message: str, title: str | None = None) -> gr.Error:
    """A ``gr.Error`` with the app's English ``message`` (what the API says; inputs and options Gradio checks
    before a handler knows the reader): one log line, no traceback."""
    log.info("refused: %s", message)
    return gr.Error(message, title=title or "Error", print_exception=False)


def error(request: gr.Request | None, key: str, title_key: str = "error_title", **values) -> gr.Error:
    """A ``gr.Error`` of the page's own (``key``'s words), in the request's language."""
    log.info("refused: %s", say(key, "en", **values))
    lang = language(request)
    return gr.Error(say(key, lang, **values), title=say(title_key, lang), print_exception=False)

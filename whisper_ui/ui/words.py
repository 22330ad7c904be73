"""The reader's language at run time: what handlers say (toasts, progress, summaries, table words) is
rendered on the server in the page's language (gr.I18n translates only what the page is built with): the one
chosen in Gradio's Settings (the page keeps it in the ``wui_lang`` cookie), else the browser's
``Accept-Language``. English in the log and the API."""

from __future__ import annotations

import logging
from http.cookies import CookieError, SimpleCookie

import gradio as gr

from ..core.errors import CancelledError, ModelError
from ..core.i18n import RUNTIME, error_text, language_of, say

log = logging.getLogger("whisper_ui.ui")


LANGUAGE_COOKIE = "wui_lang"  # set by the page (app.LANGUAGE_JS) when the reader picks a language in Settings


def language(request: gr.Request | None) -> str:
    """"ko" or "en": the language picked in Gradio's Settings, else the first of the page's languages the
    browser asks for."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return "en"
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie") or "")
    except CookieError:  # a malformed cookie header: the browser's language decides
        pass
    if LANGUAGE_COOKIE not in cookie:
        return language_of(headers.get("accept-language"))
    chosen = cookie[LANGUAGE_COOKIE].value.split("-")[0].lower()
    return chosen if chosen in RUNTIME else "en"  # a language the page lacks: its labels fall back to English


LANGUAGE_EVENT = "wui_language_button"  # the Blocks' attribute: the hidden button the page clicks (app.LANGUAGE_JS)


def language_events(demo: gr.Blocks) -> tuple:
    """The events after which the server writes the page's words again: the page's load, and a language
    picked in Gradio's Settings (the page clicks a hidden button; its cookie then names the language)."""
    button = getattr(demo, LANGUAGE_EVENT, None)
    return (demo.load,) if button is None else (demo.load, button.click)


def remount_on_language(demo: gr.Blocks, component: gr.components.Component) -> None:
    """At a language picked in Settings, ``component`` is drawn again (hidden, then shown; its value kept):
    Gradio 6.31's upload and recorder words ("Drop File Here", the label over a recording) follow the
    language only when drawn."""
    kind = type(component)
    for event in language_events(demo)[1:]:
        event(lambda: kind(visible=False), None, component, api_visibility="private", queue=False).then(
            lambda: kind(visible=True), None, component, api_visibility="private", queue=False)


def text(request: gr.Request | None, key: str, **values) -> str:
    """``key``'s words (``whisper_ui.core.i18n``) in the request's language."""
    return say(key, language(request), **values)


def summary_text(data: dict | None, request: gr.Request | None) -> str:
    """A job's summary (or its progress) as the page's line, in the request's language, languages by name."""
    from ..core.languages import language_name
    from .format import summary_line

    lang = language(request)
    return summary_line(data, lambda key, **values: say(key, lang, **values), lambda code: language_name(code, lang))


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

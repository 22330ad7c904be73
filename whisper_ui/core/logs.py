"""The app's log lines: one format, and every record one line (``OneLine``).

Here, below every part, because both entry points set it up: the commands (``cli``) and a Ray
replica's host (``ray_replica``), which starts in a Ray worker process of its own.
"""

from __future__ import annotations

import logging

LOG_MESSAGE_CHARS = 2000
# control characters a log line must not carry as they are (a newline would forge the next line)
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}


class OneLine(logging.Filter):
    """Every record one line of at most ``LOG_MESSAGE_CHARS`` characters: values a client sent (a
    file name, a language, a path) are escaped and cut, whatever logged them. Tracebacks, which
    the formatter adds after the message, keep their lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > LOG_MESSAGE_CHARS:
            message = f"{message[:LOG_MESSAGE_CHARS]}… ({len(message)} characters)"
        record.msg, record.args = message.translate(_ESCAPES), None
        return True


def setup_logging(level: str = "INFO", stream=None) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=stream)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OneLine) for f in handler.filters):
            handler.addFilter(OneLine())
    # gradio_client's requests to its own server at start (startup-events, HEAD /): a line each, nothing to act on
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))

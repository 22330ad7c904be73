"""whisper-ui: a self-hosted speech-to-text web app on openai-whisper.

Parts, each importing only those below it (ARCHITECTURE.md): ``core`` (settings, errors, results,
audio, words), ``models``, ``engines``, ``runtime`` (manager, service, status), ``ui`` (the Gradio
page: the only part that imports Gradio), ``web`` (the server, its guards, the OpenAI routes), and
the entry points ``cli`` and ``ray_replica``.
"""

__version__ = "0.1.0"

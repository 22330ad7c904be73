"""whisper-ui: a self-hosted speech-to-text web app on openai-whisper.

The core (settings, models, audio, engine, manager, transcription) never
imports Gradio; ``whisper_ui.ui`` is the thin layer that does.
"""

__version__ = "0.1.0"

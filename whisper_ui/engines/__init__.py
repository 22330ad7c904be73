"""Engines: what turns a model name into a loaded model that transcribes. The interface (``base``),
openai-whisper (``openai_whisper``), faster-whisper (``faster``), what both do around the model
(``vad``: speech detection, languages, loop guards; ``phantoms``), and the Ray front
(``ray_backend``, with ``ray_serve``: what it shares with the replicas)."""

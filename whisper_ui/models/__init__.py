"""Model files: the official names and local checkpoints and their downloads (``sources``), the
faster-whisper folders from Hugging Face (``hub``), the conversions between openai-whisper, CTranslate2
and Transformers checkpoints (``convert``, ``convert_hf``, ``export_ct2``) and the old caches of other
tools (``hfcache``). Below the engines: files only, no model is loaded here."""

"""The vocabulary every part speaks: settings (the only reader of ``os.environ``), the errors users
see, a transcription's options and results and its output files, the hardened audio decoder, the
page's words (``i18n``, ``languages``) and the log lines. Imports no other part of the package."""

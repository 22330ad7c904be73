"""Benchmarks: the app against the raw openai-whisper library (`make bench`, see README.md)."""

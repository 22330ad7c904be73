"""How the page writes times, sizes, results and the model's state (no Gradio here)."""

from __future__ import annotations

from ..transcription import TranscriptionResult


def clock(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}" if whole >= 3600 else f"{whole // 60:02d}:{whole % 60:02d}"


def rows(segments) -> list[list]:
    return [[round(s.start, 2), round(s.end, 2), s.text.strip()] for s in segments]


def summary(result: TranscriptionResult) -> str:
    if result.language_probability is not None:
        language = f"{result.language} ({result.language_probability:.0%})"
    else:
        language = f"{result.language or '?'}"
    if len(result.languages) > 1:
        language = ", ".join(f"{lang} {share:.0%}" for lang, share in result.languages)
    speech = "" if result.speech_seconds is None else f" ({result.speech_seconds:.1f} s of speech)"
    return (f"**Language:** {language} · **Audio:** {result.duration:.1f} s{speech} · "
            f"**Processing:** {result.processing_seconds:.1f} s · "
            f"**Real-time factor:** {result.real_time_factor:.2f} · **Model:** {result.model} on {result.device} "
            f"({result.engine})")


def mb(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} GB" if value >= 1000 else f"{value:.0f} MB"


def size(nbytes: int | None) -> str:
    return "-" if nbytes is None else mb(nbytes / 1e6)


def model_line(state) -> str:
    """"base on cpu · faster-whisper int8": what serves the next job."""
    return f"{state.model} on {state.device} · {state.engine} {state.compute_type or ''}".rstrip()

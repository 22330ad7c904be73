"""How the page writes times, sizes, results and the model's state (no Gradio here)."""

from __future__ import annotations

import html
import re

from ..core.transcription import TranscriptionResult


def clock(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}" if whole >= 3600 else f"{whole // 60:02d}:{whole % 60:02d}"


def stamp(seconds: float) -> str:
    """A segment's time: mm:ss.s, or h:mm:ss.s from an hour."""
    tenths = max(0, round(seconds * 10))
    whole, tenth = divmod(tenths, 10)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}.{tenth}" if hours else f"{minutes:02d}:{secs:02d}.{tenth}"


def _word_html(word) -> str:
    """A word whose start time shows beside it on hover or focus (``data-t``, one time at a time: the times above
    every word ran together, "00:00.000:00.500:01.1"), its span and probability in its title; an unsure word
    (below half its probability) is marked."""
    unsure = " wui-unsure" if word.probability < 0.5 else ""
    return (f'<span class="wui-word{unsure}" tabindex="0" data-t="{stamp(word.start)}" title="{stamp(word.start)} – '
            f'{stamp(word.end)} · {word.probability:.0%}">{html.escape(word.word.strip())}</span>')


def _text_html(segment) -> str:
    if segment.words:
        return " ".join(_word_html(w) for w in segment.words)
    return html.escape(segment.text.strip())


GAP_STYLE = "font-style: italic; opacity: 0.7"


def rows(segments, headers: list[str] | None = None, gaps=(), gap_text: str = "no speech detected") -> dict:
    """The segments table: start and end in seconds and the text (what the API returns), shown as mm:ss.s
    with each word's time above it when the job has word timestamps. Each of ``gaps`` (what speech
    detection left out, 10 s or more) is a row of its own, in its place: ``gap_text`` in italics."""
    items = sorted([(s.start, 1, s) for s in segments] + [(start, 0, (start, end)) for start, end in gaps],
                   key=lambda item: item[:2])
    data, shown, styling = [], [], []
    for start, kind, item in items:
        if kind:
            data.append([round(item.start, 2), round(item.end, 2), item.text.strip()])
            shown.append([stamp(item.start), stamp(item.end), _text_html(item)])
            styling.append(["", "", ""])
        else:
            end = item[1]
            text = f"· {gap_text} ({end - start:.0f} s)"
            data.append([round(start, 2), round(end, 2), text])
            shown.append([stamp(start), stamp(end), html.escape(text)])
            styling.append([GAP_STYLE] * 3)
    return {
        "headers": headers or list(HEADERS),
        "data": data,
        "metadata": {"display_value": shown, "styling": styling} if data else None,
    }


HEADERS = ("start", "end", "text")


def summary(result: TranscriptionResult) -> dict:
    """What a job did, as data (the API's ``summary``; the page writes it as a line: ``summary_line``)."""
    return {
        "status": "done",
        "language": result.language,
        "language_probability": None if result.language_probability is None
        else round(result.language_probability, 4),
        "languages": [{"language": lang, "share": round(share, 4)} for lang, share in result.languages],
        "duration": round(result.duration, 3),
        "speech_seconds": None if result.speech_seconds is None else round(result.speech_seconds, 3),
        "speech_share": None if result.speech_share is None else round(result.speech_share, 4),
        "gaps": [{"start": start, "end": end} for start, end in result.gaps],
        "processing_seconds": round(result.processing_seconds, 3),
        "real_time_factor": round(result.real_time_factor, 4),
        "model": result.model,
        "device": result.device,
        "engine": result.engine,
        "task": result.task,
    }


def progress(done: float, total: float, elapsed: float, prior: float | None = None,
             attempt: tuple[int, int] | None = None) -> dict:
    """A running job's summary: seconds of audio done of the total, and an estimate of the time left: from the
    job's own pace, and while little is done, from ``prior`` (this model's usual real-time factor with these
    options), each weighted by how much of the audio it speaks for (the job's pace alone said "about 74 s
    left" at 00:30 of 04:00: its first window is its slowest). ``attempt``: (k, n) while the model decodes a
    window again (its temperature fallback), said beside it."""
    left = None
    if done > 0 and elapsed > 1:
        share = min(1.0, done / total) if total else 1.0
        pace = elapsed / done if prior is None else prior * (1 - share) + elapsed / done * share
        left = max(1, round(pace * (total - done)))
    news = {"status": "running", "done_seconds": round(done, 1), "total_seconds": round(total, 1),
            "seconds_left": left}
    if attempt is not None and attempt[0] > 1:
        news.update(attempt=attempt[0], attempts=attempt[1])
    return news


def summary_line(data: dict | None, say, name=lambda code: code) -> str:
    """The page's line for a summary (``summary`` or ``progress``), in ``say``'s language (``say(key, **values)``),
    its languages by ``name(code)`` ("일본어 (96%)")."""
    if not data:
        return ""
    status = data.get("status")
    if status == "starting":
        return say("starting")
    if status == "waiting":
        line = say("waiting", ahead=data.get("ahead", 0))
        if data.get("seconds_ahead"):
            line += " · " + say("waiting_about", seconds=data["seconds_ahead"])
        return line
    if status == "cancelled":
        if data.get("before_start"):
            return say("cancelled_before")
        return say("cancelled" if data.get("kept", True) else "cancelled_nothing")
    if status == "failed":  # the message is in the reader's language already (the job's error, as its toast said)
        return say("failed", message=_plain(data.get("message")) or say("failed_unknown"))
    if status == "running":
        line = say("progress", done=clock(data["done_seconds"]), total=clock(data["total_seconds"]))
        if data.get("attempt"):
            line += " · " + say("attempt", attempt=data["attempt"], attempts=data["attempts"])
        if data.get("seconds_left"):
            line += " · " + say("left", seconds=data["seconds_left"])
        return line
    if status != "done":
        return ""
    if len(data.get("languages") or ()) > 1:
        language = ", ".join(f"{name(part['language'])} {part['share']:.0%}" for part in data["languages"])
    elif data.get("language_probability") is not None:
        language = f"{name(data['language'])} ({data['language_probability']:.0%})"
    else:
        language = name(data["language"]) if data.get("language") else "?"
    audio = say("summary_audio", seconds=f"{data['duration']:.1f}")
    if data.get("speech_seconds") is not None:
        share = data.get("speech_share")
        audio += " " + say("summary_speech", seconds=f"{data['speech_seconds']:.1f}",
                           share=f"{share:.0%}" if share is not None else "?")
    return " · ".join([
        say("summary_language", detected=language), audio,
        say("summary_processing", seconds=f"{data['processing_seconds']:.1f}"),
        say("summary_rtf", rtf=f"{data['real_time_factor']:.2f}"),
        say("summary_model", model=data["model"], device=data["device"], engine=data["engine"]),
    ])


def _plain(text: str | None) -> str:
    """``text`` shown as it is in Markdown (a file name's ``_`` or ``*`` is no emphasis)."""
    return re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", text or "")


def mb(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} GB" if value >= 1000 else f"{value:.0f} MB"


def size(nbytes: int | None) -> str:
    return "-" if nbytes is None else mb(nbytes / 1e6)


def model_line(state) -> str:
    """"base on cpu · faster-whisper int8": what serves the next job."""
    return f"{state.model} on {state.device} · {state.engine} {state.compute_type or ''}".rstrip()

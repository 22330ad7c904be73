"""Typed options and results of a transcription, and the output files.

The engines speak these types, so the UI, the API and a later second engine
(faster-whisper) share one vocabulary instead of openai-whisper's dicts.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Task = Literal["transcribe", "translate"]
OUTPUT_FORMATS = ("txt", "srt", "vtt", "tsv", "json")
GAP_NOTE = "no speech detected"  # a gap row's note in the JSON output (the page says it in the reader's language)


# Whisper conditions on at most 224 tokens of prompt (half its 448-token context), the last ones: a
# token is 1-4 characters, so 2000 characters hold more than it reads, and the job stays a few KB
MAX_PROMPT_CHARS = 2000


@dataclass(frozen=True)
class TranscribeOptions:
    # "transcribe" keeps the spoken language; "translate" gives English.
    task: Task = "transcribe"
    # ISO code such as "en" or "ko"; None detects it from the first 30 s.
    language: str | None = None
    # Beam search width; 1 is greedy (fastest). 5 is openai-whisper's CLI and
    # faster-whisper's default and is more accurate.
    beam_size: int = 5
    # First temperature tried. When a window fails the compression-ratio or
    # log-probability check, openai-whisper retries it at higher temperatures
    # (up to 1.0): a repeated-phrase loop has a high compression ratio, so this
    # fallback is what breaks it.
    temperature: float = 0.0
    # Vocabulary or spelling hints ("whisper-ui, Gradio, CTranslate2").
    initial_prompt: str | None = None
    # Per-word start/end times and probabilities (slower).
    word_timestamps: bool = False
    # Off, unlike openai-whisper's default: feeding each window the previous
    # window's text is what carries a hallucination loop through the rest of
    # a long or mostly silent file (faster-whisper and WhisperX users turn it
    # off for the same reason). Each window is then decoded on its own.
    condition_on_previous_text: bool = False
    # A window whose no-speech probability is above this and whose text is
    # unlikely is treated as silence instead of invented text.
    no_speech_threshold: float = 0.6
    # Above this gzip compression ratio the text is repetitive: retry hotter.
    compression_ratio_threshold: float = 2.4
    # Below this average log-probability the text is unlikely: retry hotter.
    logprob_threshold: float = -1.0
    # With word timestamps, skip silent stretches longer than this (seconds)
    # around a likely hallucination (openai/whisper #1838).
    hallucination_silence_threshold: float | None = 2.0
    # Speech detection (Silero VAD): only the speech reaches the model; a file
    # with none costs no model time. Off: every 30 s window is decoded (singing,
    # music with lyrics, very quiet speech).
    vad: bool = True

    def __post_init__(self) -> None:
        if self.task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', not {self.task!r}")
        if not 1 <= int(self.beam_size) <= 10:
            raise ValueError("beam_size must be between 1 and 10")
        if not 0.0 <= float(self.temperature) <= 1.0:
            raise ValueError("temperature must be between 0 and 1")
        if self.language is not None:
            tokenizer = whisper_submodule("tokenizer")
            code = tokenizer.TO_LANGUAGE_CODE.get(self.language.strip().lower(), self.language.strip().lower())
            if code not in tokenizer.LANGUAGES:
                raise ValueError(f"Unknown language {self.language[:40]!r}: use an ISO-639-1 code Whisper knows, "
                                 "such as 'en', 'ko' or 'de'.")
            object.__setattr__(self, "language", code)  # a name ("English", as openai-whisper takes it) -> its code
        if self.initial_prompt is not None and len(self.initial_prompt) > MAX_PROMPT_CHARS:
            raise ValueError(f"The initial prompt is {len(self.initial_prompt)} characters long; at most "
                             f"{MAX_PROMPT_CHARS} are accepted (Whisper reads no more than its last 224 tokens).")

    def temperatures(self) -> tuple[float, ...]:
        start = float(self.temperature)
        steps = [round(start + 0.2 * i, 2) for i in range(6)]
        return tuple(t for t in steps if t <= 1.0) or (start,)


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None
    language: str | None = None  # the language it was transcribed in (regions may differ from the file's)
    speaker: int | None = None  # who said it (core/speakers.py): an index into the result's speaker_names


@dataclass(frozen=True)
class TranscriptionResult:
    text: str
    segments: tuple[Segment, ...]
    language: str | None
    language_probability: float | None  # None when the language was given or the model is English-only
    duration: float  # seconds of audio
    processing_seconds: float
    model: str
    device: str
    task: str = "transcribe"
    notices: tuple[str, ...] = field(default=())  # e.g. a fallback that happened during the job
    engine: str = "openai-whisper"
    speech_seconds: float | None = None  # how much of the audio speech detection kept (None: detection off)
    languages: tuple[tuple[str, float], ...] = ()  # (language, share of the transcribed time), largest first
    # (start, end) of each stretch of 10 s or more that speech detection judged non-speech: not transcribed
    gaps: tuple[tuple[float, float], ...] = ()
    speaker_names: tuple[str, ...] = ()  # a name for each speaker the segments' ``speaker`` numbers (none: off)

    @property
    def speech_share(self) -> float | None:
        """The share of the audio that speech detection kept (None: detection off)."""
        if self.speech_seconds is None or self.duration <= 0:
            return None
        return min(1.0, self.speech_seconds / self.duration)

    @property
    def real_time_factor(self) -> float:
        """Processing time over audio time: below 1 is faster than real time."""
        return self.processing_seconds / self.duration if self.duration > 0 else 0.0

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(word for segment in self.segments for word in segment.words)

    def to_whisper_dict(self) -> dict[str, Any]:
        """The dict openai-whisper's writers expect (and the JSON output)."""
        return {
            "text": self.text,
            # the subtitle writers switch to word mode when "words" is present at all
            "segments": [_segment_dict(s, self.speaker_names) for s in self.segments],
            "language": self.language,
            "language_probability": self.language_probability,
            "duration": self.duration,
            "processing_seconds": self.processing_seconds,
            "real_time_factor": self.real_time_factor,
            "model": self.model,
            "device": self.device,
            "engine": self.engine,
            "task": self.task,
            "speech_seconds": self.speech_seconds,
            "speech_share": None if self.speech_share is None else round(self.speech_share, 4),
            "languages": [{"language": lang, "share": round(share, 4)} for lang, share in self.languages],
            "gaps": [{"start": start, "end": end} for start, end in self.gaps],
            "notices": list(self.notices),
            **({"speakers": list(self.speaker_names)} if self.speaker_names else {}),
        }

    def json_dict(self) -> dict[str, Any]:
        """The JSON output: ``to_whisper_dict`` with a gap row among the segments for each stretch that speech
        detection judged non-speech (``"type": "gap"``, no text), so that what was left out shows where it was."""
        raw = self.to_whisper_dict()
        gaps = [{"type": "gap", "start": start, "end": end, "text": "", "note": GAP_NOTE} for start, end in self.gaps]
        raw["segments"] = sorted(raw["segments"] + gaps, key=lambda row: (row["start"], row.get("type") != "gap"))
        return raw

    @classmethod
    def from_whisper_dict(cls, raw: dict[str, Any], **info: Any) -> TranscriptionResult:
        segments = tuple(
            Segment(
                id=int(s.get("id", i)),
                start=float(s["start"]),
                end=float(s["end"]),
                text=s["text"],
                words=tuple(
                    Word(float(w["start"]), float(w["end"]), w["word"], float(w.get("probability", 0.0)))
                    for w in s.get("words") or ()
                ),
                avg_logprob=s.get("avg_logprob"),
                no_speech_prob=s.get("no_speech_prob"),
                compression_ratio=s.get("compression_ratio"),
                temperature=s.get("temperature"),
            )
            for i, s in enumerate(raw.get("segments", []))
        )
        return cls(text=raw.get("text", "").strip(), segments=segments, **info)


def _segment_dict(segment: Segment, speaker_names: tuple[str, ...] = ()) -> dict[str, Any]:
    data = asdict(segment)
    if segment.words:
        data["words"] = [asdict(w) for w in segment.words]
    else:
        del data["words"]
    del data["speaker"]
    if speaker_names:  # by name: the files say who, as the page shows it
        data["speaker"] = speaker_name(segment, speaker_names)
    return data


def speaker_name(segment: Segment, speaker_names: tuple[str, ...]) -> str:
    index = segment.speaker
    return speaker_names[index] if index is not None and 0 <= index < len(speaker_names) else ""


def subtitle_dict(result: TranscriptionResult, fmt: str, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    """What openai-whisper's srt or vtt writer gets for ``result`` (``raw``: its ``to_whisper_dict``, when
    made already), with who speaks in each cue when there are speakers. The files and the API's srt and vtt
    answers both use it."""
    raw = raw if raw is not None else result.to_whisper_dict()
    return with_speakers(raw, fmt) if result.speaker_names else raw


def with_speakers(raw: dict[str, Any], fmt: str) -> dict[str, Any]:
    """srt and vtt with who speaks in each cue: ``[Minji] text`` and WebVTT's voice tag ``<v Minji>text``
    (on the first word too, for the writers' word modes)."""
    def tag(name: str) -> str:
        return f"<v {name}>" if fmt == "vtt" else f"[{name}] "

    segments = []
    for segment in raw["segments"]:
        if segment.get("speaker"):
            segment = {**segment, "text": tag(segment["speaker"]) + segment["text"].strip()}
            if segment.get("words"):
                first = segment["words"][0]
                segment["words"] = [{**first, "word": tag(segment["speaker"]) + first["word"].lstrip()},
                                    *segment["words"][1:]]
        segments.append(segment)
    return {**raw, "segments": segments}


def _speaker_text(raw: dict[str, Any]) -> str:
    """The txt file with speakers: a paragraph per turn, ``Minji: what she said``."""
    turns: list[list[str]] = []
    for segment in raw["segments"]:
        if turns and turns[-1][0] == segment.get("speaker"):
            turns[-1].append(segment["text"].strip())
        else:
            turns.append([segment.get("speaker"), segment["text"].strip()])
    return "".join(f"{turn[0]}: {' '.join(turn[1:])}\n\n" for turn in turns).rstrip("\n") + "\n"


def _speaker_tsv(raw: dict[str, Any]) -> str:
    """openai-whisper's tsv (start and end in milliseconds) with a speaker column before the text."""
    rows = ["start\tend\tspeaker\ttext"]
    for segment in raw["segments"]:
        text = segment["text"].strip().replace("\t", " ")
        rows.append(f"{round(1000 * segment['start'])}\t{round(1000 * segment['end'])}\t{segment['speaker']}\t{text}")
    return "\n".join(rows) + "\n"


_SAFE_STEM = re.compile(r"[^\w.-]+", re.UNICODE)


def safe_stem(name: str | os.PathLike | None) -> str:
    """A file stem safe to write: no directories, no odd characters."""
    stem = Path(str(name or "")).stem if name else ""
    stem = _SAFE_STEM.sub("_", stem).strip("._")[:80]
    return stem or "transcript"


# openai-whisper's writers' options, as its CLI's defaults: whole segments, no word highlighting
WRITER_OPTIONS = {"highlight_words": False, "max_line_width": None, "max_line_count": None, "max_words_per_line": None}

MAX_LINE_WIDTH = 1000  # characters: openai-whisper's own "no limit"


@dataclass(frozen=True)
class SubtitleOptions:
    """How the srt and vtt files break and mark lines: openai-whisper CLI's ``--max_line_width``,
    ``--max_line_count`` and ``--highlight_words``. Each needs word timestamps (the writers use them only
    when the segments carry words); ``max_line_count`` needs ``max_line_width``, as in the CLI."""

    max_line_width: int | None = None  # characters in a line before it breaks
    max_line_count: int | None = None  # lines in a subtitle before a new one starts
    highlight_words: bool = False  # underline each word as it is spoken

    def __post_init__(self) -> None:
        for name in ("max_line_width", "max_line_count"):
            value = getattr(self, name)
            if value is not None and not 1 <= int(value) <= MAX_LINE_WIDTH:
                raise ValueError(f"{name} must be between 1 and {MAX_LINE_WIDTH}")
        if self.max_line_count is not None and self.max_line_width is None:
            raise ValueError("max_line_count needs max_line_width (as openai-whisper's --max_line_count does)")

    @property
    def needs_words(self) -> bool:
        return bool(self.max_line_width or self.max_line_count or self.highlight_words)

    def writer_options(self) -> dict[str, Any]:
        return {**WRITER_OPTIONS, "highlight_words": bool(self.highlight_words),
                "max_line_width": self.max_line_width, "max_line_count": self.max_line_count}


def output_stem(stem: str, task: str) -> str:
    """A job's file names: ``talk.srt`` for a transcript, ``talk.translated.srt`` for its English translation."""
    return f"{stem}.translated" if task == "translate" else stem


@functools.cache
def whisper_submodule(name: str):
    """openai-whisper's ``whisper.NAME`` (``utils``: the writers; ``tokenizer``: the language names),
    without importing the ``whisper`` package when it is not imported yet: its ``__init__`` imports
    torch (~220 MB), which a faster-whisper process does without. ``utils.py`` needs only the
    standard library, ``tokenizer.py`` tiktoken."""
    if "whisper" in sys.modules:
        return importlib.import_module(f"whisper.{name}")
    package = importlib.util.find_spec("whisper")
    if package is None or not package.submodule_search_locations:
        raise ImportError("openai-whisper is not installed: pip install -r requirements.txt")
    path = Path(next(iter(package.submodule_search_locations))) / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"whisper_ui._whisper_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_outputs(result: TranscriptionResult, directory: Path, formats: tuple[str, ...] = OUTPUT_FORMATS,
                  stem: str = "transcript", subtitles: SubtitleOptions | None = None) -> list[Path]:
    """Write the result with openai-whisper's own writers (``subtitles``: how srt and vtt break and mark
    lines); returns the files."""
    get_writer = whisper_submodule("utils").get_writer
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise ValueError(f"unknown output formats: {', '.join(sorted(unknown))}")
    directory.mkdir(parents=True, exist_ok=True)
    raw = result.to_whisper_dict()
    options = (subtitles or SubtitleOptions()).writer_options()
    paths = []
    for fmt in formats:
        path = directory / f"{stem}.{fmt}"
        if result.speaker_names and fmt in ("txt", "tsv"):
            path.write_text(_speaker_text(raw) if fmt == "txt" else _speaker_tsv(raw), encoding="utf-8")
        else:
            writer = get_writer(fmt, str(directory))
            data = (result.json_dict() if fmt == "json" else subtitle_dict(result, fmt, raw) if fmt in ("srt", "vtt")
                    else raw)
            # the writers name the file after the "audio path" they are given; subtitles and text have no gap rows
            writer(data, f"{stem}.audio", options)
        paths.append(path)
    return paths

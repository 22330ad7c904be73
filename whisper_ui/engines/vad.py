"""Speech detection, the language of each window and region, and loop guards: what both engines do
around the model.

Whisper decodes whatever it is given: 30 seconds of noise cost ``base`` minutes of beam search
and temperature fallback and produce nothing, or invented words. Silero VAD (the ONNX model
that faster-whisper ships, run by onnxruntime, no download) finds the speech in the decoded
16 kHz samples first, forward in short pieces and backward in time so that no onset after a long
noise is missed (``_probabilities``); only those regions (padded, and merged when the silence
between them is short) reach the model, and their times stay the recording's. A file with no
speech costs no model time at all, and every long stretch left out is reported (``gaps``).

The language, when it is "auto" on a multilingual model, is followed window by window while
decoding (``Follower``: each engine detects a window's language from the encoder output it then
decodes): a switch without a pause is followed within one window, and one-language audio does not
flip-flop. Speech in several regions (between pauses of 2 s or more) is also detected region by
region first, so that a region starts in its own language.

``plan`` is engine-independent: it takes the engine's ``detect_language`` and returns the runs
of regions that each engine then decodes in one call: the run's speech joined (``join``, as
faster-whisper's own VAD path does), and the times mapped back (``restore``). Speech from end
to end of the file is decoded as it is (``whole_file``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import keyed_text
from ..core.transcription import Segment

log = logging.getLogger("whisper_ui.vad")

SAMPLE_RATE = 16000
WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class VadParameters:
    """Silero VAD's settings, the same for both engines (faster-whisper's ``VadOptions`` names)."""

    # speech probability above which a 32 ms frame is speech: 0.6, not Silero's lazy 0.5, because 30 s of white
    # noise peaked at 0.53 (speech sits at 0.9 and above); the region ends below threshold - 0.15
    threshold: float = 0.6
    min_speech_duration_ms: int = 250  # shorter blips (a click, a cough) are dropped
    min_silence_duration_ms: int = 2000  # regions closer than this are merged into one
    speech_pad_ms: int = 400  # kept on each side, so no word's start or end is cut


FRAME = 512  # Silero's window: 32 ms at 16 kHz
CONTEXT = 64  # the samples before each window that Silero also reads
PIECE_FRAMES = 250  # 8 s: the forward pass runs in independent pieces this long (_probabilities)
WARM_FRAMES = 62  # 2 s of the audio before a piece, to rebuild Silero's state
CONFIDENT_SPEECH = 0.85  # a frame this sure is speech
CONFIDENT_FRAMES = 8  # 8 frames of 32 ms: a region needs this much confident speech to be kept

# Per-region language: a region follows its own language only when it is long enough to tell
# and the model is sure; otherwise it keeps the file's language.
LANGUAGE_MIN_SECONDS = 4.0
LANGUAGE_MIN_PROBABILITY = 0.8
# a window of 10 s or more whose language the model is less sure of still switches when it is at least this
# sure and gives the language it was in at most half of that: detection leans on a window's first seconds, and a
# window of 4 s of English then 26 s of Spanish gave es 64 %, en 31 % (a 4.9 s tail of German gave en 52 %, de 8 %)
SWITCH_MIN_PROBABILITY = 0.6
SWITCH_MAX_CURRENT_RATIO = 0.5
SWITCH_MIN_SECONDS = 10.0


@dataclass(frozen=True)
class Speech:
    """What speech detection found in a recording: its regions, and Silero's probability per 32 ms frame."""

    regions: tuple[tuple[float, float], ...]
    probabilities: np.ndarray
    threshold: float = VadParameters.threshold

    def share(self, start: float, end: float) -> float:
        """The share of ``start``..``end`` (seconds) that is speech, frame by frame (0 when it is empty)."""
        frames = self.probabilities[max(0, int(start * SAMPLE_RATE) // FRAME):int(np.ceil(end * SAMPLE_RATE / FRAME))]
        return float((frames >= self.threshold).mean()) if len(frames) else 0.0


def detect_speech(audio: np.ndarray, parameters: VadParameters = VadParameters()) -> Speech:
    """Speech regions (seconds) of 16 kHz samples, and the probabilities they were read from."""
    # onnxruntime (1.29 and later) sends usage telemetry to Microsoft from Linux too, starting when it is
    # loaded: this variable, set before it loads, turns that off entirely (the strace tests check it)
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    from faster_whisper.vad import VadOptions, get_vad_model

    # Silero over the audio (forward and backward), padded as faster-whisper's get_speech_timestamps pads
    # it; its chunking (below) and the confident-speech rule both read these probabilities
    probabilities = _probabilities(get_vad_model(), np.pad(audio, (0, FRAME - len(audio) % FRAME)))
    chunks = _speech_chunks(probabilities, len(audio), VadOptions(**vars(parameters)))
    # noise can lift a frame or two past the threshold (pink noise peaked at 0.70, speech sits at 0.9 and
    # above): a region is kept only if a quarter of a second of it is confidently speech
    chunks = [c for c in chunks
              if (probabilities[c["start"] // FRAME:c["end"] // FRAME + 1] >= CONFIDENT_SPEECH).sum() >= CONFIDENT_FRAMES]
    return Speech(tuple((c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks), probabilities,
                  parameters.threshold)


def speech_regions(audio: np.ndarray, parameters: VadParameters = VadParameters()) -> list[tuple[float, float]]:
    """(start, end) seconds of each speech region of 16 kHz samples."""
    return list(detect_speech(audio, parameters).regions)


def _probabilities(model, padded: np.ndarray) -> np.ndarray:
    """Silero's speech probability of each frame: the larger of a pass forward in short pieces and a pass
    backward in time.

    Silero is recurrent, and after 10 s or more of steady noise its state misses a soft onset: an 11 s
    recording after 20 s of quiet brown noise was found speaking from 25.3 s, where the words start at
    19.9 s, and Whisper never saw its first five seconds (faster-whisper's own ``vad_filter``, one pass
    forward, loses the same words, or all of them). Two ways around it, together (bench/onsets.py: of 72
    soft onsets in steady noise, one pass forward lost 13 and was late on 17, by up to 10 s; these two
    together lost only the 4 that no way found, were late on none, and took no noise, tone or music for
    speech):

    - forward in independent pieces of ``PIECE_FRAMES`` (8 s), each after ``WARM_FRAMES`` (2 s) of the
      audio before it, where its state is rebuilt and those frames' answers dropped: no state is older
      than 10 s;
    - backward in time over the whole file: an onset is an ending there, which the state never misses.

    Each pass costs ~0.13 s per minute of audio on one core; the pieces and the backward pass run side by
    side on the cores (onnxruntime releases the GIL). The pieces are the same whatever the cores, and so
    are the regions."""
    frames = len(padded) // FRAME
    pieces = max(1, round(frames / PIECE_FRAMES))
    bounds = [frames * i // pieces for i in range(pieces + 1)]

    def run(i: int) -> np.ndarray:
        if i == pieces:
            return _backward(model, padded)
        warm = min(WARM_FRAMES, bounds[i])
        # a copy: faster-whisper's model writes zeros into the last samples of what it is given, and the
        # pieces' neighbours and the backward pass read the same array at the same time
        return np.asarray(model(padded[(bounds[i] - warm) * FRAME:bounds[i + 1] * FRAME].copy())).ravel()[warm:]

    with ThreadPoolExecutor(min(pieces + 1, _cores()), thread_name_prefix="silero") as pool:
        found = list(pool.map(run, range(pieces + 1)))
    return np.maximum(np.concatenate(found[:pieces]), found[pieces])


BACKWARD_BLOCK_FRAMES = 2000  # 64 s: the backward pass's memory is a block's, not the file's


def _backward(model, padded: np.ndarray) -> np.ndarray:
    """``model(padded[::-1])`` reversed (the frames' probabilities in time order), computed block by block
    with the model's state carried over, as faster-whisper's ``SileroVADModel.__call__`` carries it from one
    batch of 10000 frames to the next: the same numbers (tests/test_vad.py), without a reversed copy of the
    file and its framed copy at once (an hour: 230 + 260 MB, and the activations of 10000 frames, ~950 MB
    at the peak; now a block's)."""
    frames = len(padded) // FRAME
    state = np.zeros((1, 1, 128), np.float32), np.zeros((1, 1, 128), np.float32)
    tail = np.zeros(CONTEXT, np.float32)  # the 64 samples before a frame, the last frame's before the first
    found = []
    for start in range(0, frames, BACKWARD_BLOCK_FRAMES):  # blocks of the reversed file, from its end
        count = min(BACKWARD_BLOCK_FRAMES, frames - start)
        end = len(padded) - start * FRAME
        block = padded[end - count * FRAME:end][::-1].copy().reshape(count, FRAME)
        context = np.concatenate([tail[None], block[:-1, -CONTEXT:]])
        if start + count == frames:  # faster-whisper zeroes the last frame's last samples (its context[-1] = 0)
            block[-1, -CONTEXT:] = 0
        output, *state = model.session.run(None, {"input": np.concatenate([context, block], 1), "h": state[0],
                                                  "c": state[1]})
        tail = block[-1, -CONTEXT:].copy()
        found.append(np.asarray(output).ravel())
    return np.concatenate(found)[::-1] if found else np.zeros(0, np.float32)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _speech_chunks(speech_probs: np.ndarray, audio_length_samples: int, vad_options) -> list[dict[str, int]]:
    """faster-whisper 1.2.1's ``get_speech_timestamps`` (MIT; adapted from silero-vad) from its
    probabilities on: the same chunks, without running the model again. Kept as it is there.

    It reads best as one: it is upstream's function line for line (but for the model's run, done before it
    by ``_probabilities``), so a later faster-whisper's can be compared with it by ``diff``; cut into
    helpers, that comparison, and the assurance that the chunks are faster-whisper's, would be lost."""
    sampling_rate = SAMPLE_RATE
    threshold = vad_options.threshold
    neg_threshold = vad_options.neg_threshold
    min_speech_duration_ms = vad_options.min_speech_duration_ms
    max_speech_duration_s = vad_options.max_speech_duration_s
    min_silence_duration_ms = vad_options.min_silence_duration_ms
    window_size_samples = FRAME
    speech_pad_ms = vad_options.speech_pad_ms
    min_speech_samples = sampling_rate * min_speech_duration_ms / 1000
    speech_pad_samples = sampling_rate * speech_pad_ms / 1000
    max_speech_samples = (
        sampling_rate * max_speech_duration_s
        - window_size_samples
        - 2 * speech_pad_samples
    )
    min_silence_samples = sampling_rate * min_silence_duration_ms / 1000
    min_silence_samples_at_max_speech = sampling_rate * 98 / 1000

    triggered = False
    speeches = []
    current_speech = {}
    if neg_threshold is None:
        neg_threshold = max(threshold - 0.15, 0.01)

    # to save potential segment end (and tolerate some silence)
    temp_end = 0
    # to save potential segment limits in case of maximum segment size reached
    prev_end = next_start = 0

    for i, speech_prob in enumerate(speech_probs):
        if (speech_prob >= threshold) and temp_end:
            temp_end = 0
            if next_start < prev_end:
                next_start = window_size_samples * i

        if (speech_prob >= threshold) and not triggered:
            triggered = True
            current_speech["start"] = window_size_samples * i
            continue

        if (
            triggered
            and (window_size_samples * i) - current_speech["start"] > max_speech_samples
        ):
            if prev_end:
                current_speech["end"] = prev_end
                speeches.append(current_speech)
                current_speech = {}
                # previously reached silence (< neg_thres) and is still not speech (< thres)
                if next_start < prev_end:
                    triggered = False
                else:
                    current_speech["start"] = next_start
                prev_end = next_start = temp_end = 0
            else:
                current_speech["end"] = window_size_samples * i
                speeches.append(current_speech)
                current_speech = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue

        if (speech_prob < neg_threshold) and triggered:
            if not temp_end:
                temp_end = window_size_samples * i
            # condition to avoid cutting in very short silence
            if (window_size_samples * i) - temp_end > min_silence_samples_at_max_speech:
                prev_end = temp_end
            if (window_size_samples * i) - temp_end < min_silence_samples:
                continue
            else:
                current_speech["end"] = temp_end
                if (
                    current_speech["end"] - current_speech["start"]
                ) > min_speech_samples:
                    speeches.append(current_speech)
                current_speech = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue

    if (
        current_speech
        and (audio_length_samples - current_speech["start"]) > min_speech_samples
    ):
        current_speech["end"] = audio_length_samples
        speeches.append(current_speech)

    for i, speech in enumerate(speeches):
        if i == 0:
            speech["start"] = int(max(0, speech["start"] - speech_pad_samples))
        if i != len(speeches) - 1:
            silence_duration = speeches[i + 1]["start"] - speech["end"]
            if silence_duration < 2 * speech_pad_samples:
                speech["end"] += int(silence_duration // 2)
                speeches[i + 1]["start"] = int(
                    max(0, speeches[i + 1]["start"] - silence_duration // 2)
                )
            else:
                speech["end"] = int(
                    min(audio_length_samples, speech["end"] + speech_pad_samples)
                )
                speeches[i + 1]["start"] = int(
                    max(0, speeches[i + 1]["start"] - speech_pad_samples)
                )
        else:
            speech["end"] = int(
                min(audio_length_samples, speech["end"] + speech_pad_samples)
            )

    return speeches


@dataclass(frozen=True)
class Run:
    """Consecutive regions decoded in one call, starting in one language (None: the first window's own)."""

    regions: tuple[tuple[float, float], ...]
    language: str | None
    probability: float | None = None

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.regions)


@dataclass(frozen=True)
class Plan:
    runs: tuple[Run, ...]
    speech_seconds: float | None  # None without speech detection
    language: str | None  # the file's language (None: the decode finds it, window by window)
    probability: float | None  # its detection probability (None when given or English-only)
    follow: bool = False  # the language is followed window by window (language "auto" on a multilingual model)
    gaps: tuple[tuple[float, float], ...] = ()  # stretches of GAP_SECONDS or more that detection judged non-speech

    @property
    def no_speech(self) -> bool:
        return not self.runs


GAP_SECONDS = 10.0  # a non-speech stretch this long is shown to the user (a row in the segments, a gap in the JSON)


def gaps(regions: tuple[tuple[float, float], ...], duration: float,
         at_least: float = GAP_SECONDS) -> tuple[tuple[float, float], ...]:
    """The stretches of ``at_least`` seconds or more outside the speech ``regions``: what detection left out."""
    found, last = [], 0.0
    for start, end in (*regions, (duration, duration)):
        if start - last >= at_least:
            found.append((round(last, 2), round(start, 2)))
        last = max(last, end)
    return tuple(found)


class Follower:
    """The language of each 30-second window, detected from the encoder output the window is decoded from.

    Both engines call ``window`` once per window (openai-whisper's ``DecodingTask`` and faster-whisper's
    ``multilingual`` mode detect it from the same encoder output they decode: no second encoder pass).
    The first window takes what it hears. After it, a window switches only to a language the model is
    sure of (``LANGUAGE_MIN_PROBABILITY``) over at least ``LANGUAGE_MIN_SECONDS`` of audio, or, over
    ``SWITCH_MIN_SECONDS``, fairly sure of and twice as sure as of the language it was in: a switch
    without a pause is followed within one window, and one-language audio does not flip-flop on an
    uncertain window (a short tail, a cough, a name)."""

    def __init__(self, language: str | None = None, probability: float | None = None):
        self.language = language
        self.probability = probability
        self.detections: list[tuple[str, float]] = []  # (language found, its probability) per window
        self.chosen: list[tuple[str, float | None]] = []  # (language decoded in, its probability) per window

    def window(self, found: str, probability: float, seconds: float = WINDOW_SECONDS,
               probabilities: dict[str, float] | None = None) -> str:
        """The language to decode a window in: ``found`` is the likeliest (``probability``), ``probabilities``
        what the model gave each language if known."""
        self.detections.append((found, probability))
        current = (probabilities or {}).get(self.language, 1.0) if self.language else None
        log.debug("window of %.1f s: %s (%.0f%%), %s %s", seconds, found, probability * 100, self.language,
                  "?" if current is None else f"{current:.0%}")
        if self.language is None:
            self.language, self.probability = found, probability
        elif (found != self.language and seconds >= LANGUAGE_MIN_SECONDS
              and (probability >= LANGUAGE_MIN_PROBABILITY
                   or (probability >= SWITCH_MIN_PROBABILITY and seconds >= SWITCH_MIN_SECONDS
                       and current <= SWITCH_MAX_CURRENT_RATIO * probability))):
            log.info("language: %s (%.0f%%) follows %s", found, probability * 100, self.language)
            self.language, self.probability = found, probability
        elif found == self.language and (self.probability is None or probability > self.probability):
            self.probability = probability
        self.chosen.append((self.language, self.probability))
        return self.language

    def probability_of(self, language: str) -> float | None:
        """The highest probability a window gave ``language`` when it was decoded in it."""
        return max((p for found, p in self.chosen if found == language and p is not None), default=None)


def _windows(duration: float) -> list[tuple[float, float]]:
    count = max(1, int(np.ceil(duration / WINDOW_SECONDS)))
    return [(i * WINDOW_SECONDS, min(duration, (i + 1) * WINDOW_SECONDS)) for i in range(count)]


def _samples(audio: np.ndarray, region: tuple[float, float]) -> np.ndarray:
    """Up to 30 s of a region's samples: what one language detection sees."""
    start = int(region[0] * SAMPLE_RATE)
    return audio[start:min(int(region[1] * SAMPLE_RATE), start + int(WINDOW_SECONDS * SAMPLE_RATE))]


def plan(audio: np.ndarray, *, vad: bool, language: str | None, english_only: bool,
         detect: Callable[[np.ndarray], tuple[str, float]],
         parameters: VadParameters = VadParameters(), speech: Speech | None = None) -> Plan:
    """Which parts of ``audio`` are decoded, starting in which language.

    With language "auto" on a multilingual model the language is followed window by window while
    decoding (``Follower``). Speech in several regions of ``LANGUAGE_MIN_SECONDS`` or more is first
    detected region by region (on each one's first 30 s): the file's language is the one most of that
    speech is in, a region starts in its own language only when the model is sure of it, and shorter
    regions start in the file's language. One region, or no speech detection, needs no detection
    before decoding: the first window's decode finds it (raw openai-whisper spends an encoder pass on
    it first).
    """
    duration = len(audio) / SAMPLE_RATE
    if vad:
        speech = speech or detect_speech(audio, parameters)
        regions = list(speech.regions)
    else:
        regions = _windows(duration)
    seconds = sum(end - start for start, end in regions) if vad else None
    skipped = gaps(tuple(regions), duration) if vad else ()
    if not regions:
        return Plan((), seconds, language, None, gaps=skipped)
    if english_only or language is not None:
        fixed = "en" if english_only else language
        return Plan((Run(tuple(regions), fixed),), seconds, fixed, None, gaps=skipped)
    long_regions = [region for region in regions if region[1] - region[0] >= LANGUAGE_MIN_SECONDS]
    if not vad or len(long_regions) < 2:
        return Plan((Run(tuple(regions), None),), seconds, None, None, follow=True, gaps=skipped)
    detected: list[tuple[str, float] | None] = [
        detect(_samples(audio, region)) if region[1] - region[0] >= LANGUAGE_MIN_SECONDS else None for region in regions]
    # the file's language: the one most of the speech is in, among the confident detections
    seconds_by_language: dict[str, float] = {}
    for (start, end), found in zip(regions, detected, strict=True):
        if found and found[1] >= LANGUAGE_MIN_PROBABILITY:
            seconds_by_language[found[0]] = seconds_by_language.get(found[0], 0.0) + end - start
    first = next(found for found in detected if found)
    main = max(seconds_by_language, key=seconds_by_language.get) if seconds_by_language else first[0]
    main_probability = max((found[1] for found in detected if found and found[0] == main), default=first[1])
    runs: list[Run] = []
    for region, found in zip(regions, detected, strict=True):
        own = found is not None and found[0] != main and found[1] >= LANGUAGE_MIN_PROBABILITY
        chosen, probability = found if own else (main, main_probability)
        if runs and runs[-1].language == chosen:
            runs[-1] = replace(runs[-1], regions=runs[-1].regions + (region,))
        else:
            runs.append(Run((region,), chosen, probability))
    if len(runs) > 1:
        log.info("languages by region: %s", ", ".join(f"{r.language} {r.seconds:.0f} s" for r in runs))
    return Plan(tuple(runs), seconds, main, main_probability, follow=True, gaps=skipped)


def whole_file(regions: tuple[tuple[float, float], ...], samples: int,
               parameters: VadParameters = VadParameters()) -> bool:
    """Is one speech region the whole recording but for less than a merge gap at each end?

    Pauses shorter than ``min_silence_duration_ms`` inside speech are decoded anyway (regions that
    close are merged): edges that short are decoded too, and the engine takes its plain path over
    the file, as with speech detection off (cutting and re-joining the audio made faster-whisper's
    windows differ and cost 4-7 % more on speech-only clips)."""
    edge = parameters.min_silence_duration_ms / 1000
    return len(regions) == 1 and regions[0][0] <= edge and regions[0][1] >= samples / SAMPLE_RATE - edge


def join(audio: np.ndarray, regions: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, list[dict[str, int]]]:
    """The regions' samples back to back, and their chunks (samples) for ``restore``.

    What faster-whisper's ``vad_filter`` does, for both engines: the model sees only speech, in as few
    30-second windows as the speech fills (openai-whisper given the same regions as ``clip_timestamps``
    pads each region to a window of its own: 1.2x slower than no detection on a meeting-like clip)."""
    chunks = [{"start": int(start * SAMPLE_RATE), "end": int(end * SAMPLE_RATE)} for start, end in regions]
    return np.concatenate([audio[c["start"]:c["end"]] for c in chunks]), chunks


def restore(segments: list[Segment], chunks: list[dict[str, int]]) -> list[Segment]:
    """Segment and word times of joined samples (``join``) in the recording's time.

    faster-whisper's ``restore_speech_timestamps`` on this app's segments: a word keeps its chunk
    (the one its middle lies in), a segment with words spans its words."""
    from faster_whisper.vad import SpeechTimestampsMap

    times = SpeechTimestampsMap(chunks, SAMPLE_RATE)
    restored = []
    for segment in segments:
        if segment.words:
            words = []
            for word in segment.words:
                chunk = times.get_chunk_index((word.start + word.end) / 2)
                words.append(replace(word, start=times.get_original_time(word.start, chunk),
                                     end=times.get_original_time(word.end, chunk)))
            restored.append(replace(segment, start=words[0].start, end=words[-1].end, words=tuple(words)))
        else:
            restored.append(replace(segment, start=times.get_original_time(segment.start),
                                    end=times.get_original_time(segment.end, is_end=True)))
    return restored


def restoring(report, chunks: list[dict[str, int]]):
    """``report(segments so far, seconds done)`` of joined samples (``join``), told in the recording's
    time: the decoder's list only grows, so each segment is restored once, not at every report."""
    from faster_whisper.vad import SpeechTimestampsMap

    times = SpeechTimestampsMap(chunks, SAMPLE_RATE)
    restored: list[Segment] = []

    def report_restored(decoded: list[Segment], seconds: float, *attempt) -> None:
        restored.extend(restore(decoded[len(restored):], chunks))
        report(restored, times.get_original_time(seconds, is_end=True), *attempt)

    return report_restored


def language_shares(segments: tuple[Segment, ...]) -> tuple[tuple[str, float], ...]:
    """(language, share of the transcribed time), largest first."""
    seconds: dict[str, float] = {}
    for segment in segments:
        if segment.language:
            seconds[segment.language] = seconds.get(segment.language, 0.0) + max(0.0, segment.end - segment.start)
    total = sum(seconds.values())
    if not total:
        return ()
    return tuple(sorted(((lang, s / total) for lang, s in seconds.items()), key=lambda item: -item[1]))


# --- repeated-phrase loops -------------------------------------------------------------------

LOOP_REPEATS = 4  # a phrase said this many times in a row is a decoding loop, not speech
_LOOP = re.compile(r"(\b\w.{2,80}?)(?:[\s,.;:!?-]+\1\b){" + str(LOOP_REPEATS - 1) + ",}", re.IGNORECASE | re.DOTALL)


def cut_loops(segments: tuple[Segment, ...]) -> tuple[tuple[Segment, ...], list[str]]:
    """Cut a phrase repeated ``LOOP_REPEATS`` or more times in a row, inside a segment or as
    consecutive segments, down to one; returns the segments and a notice for each cut."""
    from itertools import groupby

    notices: list[str] = []
    cleaned = []
    for segment in segments:
        text = _LOOP.sub(lambda m: _note(m, notices), segment.text)
        cleaned.append(segment if text == segment.text else replace(segment, text=text, words=()))
    kept: list[Segment] = []
    for key, group in groupby(cleaned, key=lambda s: _norm(s.text)):
        same = list(group)
        if key and len(same) >= LOOP_REPEATS:
            phrase = same[0].text.strip()[:60]
            notices.append(keyed_text(f"A segment repeated {len(same)} times in a row (“{phrase}”) was cut "
                                      "to one: it is likely a decoding loop, not speech.", "notice_loop_segments",
                                      times=len(same), phrase=phrase))
            same = [replace(same[0], end=same[-1].end)]
        kept.extend(same)
    return tuple(replace(s, id=i) for i, s in enumerate(kept)), notices


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def _note(match: re.Match, notices: list[str]) -> str:
    phrase = match.group(1).strip()[:60]
    notices.append(keyed_text(f"A phrase repeated over and over (“{phrase}”) was cut to one: it is likely a "
                              "decoding loop, not speech.", "notice_loop_phrase", phrase=phrase))
    return match.group(1)

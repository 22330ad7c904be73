"""Audio decoding for untrusted uploads, and microphone arrays in memory.

openai-whisper's ``load_audio`` hands any file to ffmpeg with no limits.
ffmpeg chooses its demuxer from the content, so a text file can be a playlist
or a concat list that opens other files or URLs, and a small file can claim
hours of audio. Here every ffprobe/ffmpeg call:

- reads the upload through the ``file:`` protocol only (``-protocol_whitelist
  file``, and the path is passed as ``file:/abs/path`` so a name can never
  select another protocol or look like an option);
- accepts only demuxers of real audio/video containers (``-format_whitelist``),
  so playlists, concat lists, HLS/DASH manifests, image sequences and the like
  are refused before anything is opened;
- runs with a time limit, and the decode itself is capped with ``-t``.

ffmpeg-python's ``probe`` is not used: when its timeout fires it leaves
ffprobe running, and the child inherits stdin. ``subprocess.run`` with a
timeout kills it.

The file is probed first, and refused before decoding when it is over the
size or duration limit or has no audio stream. A plain PCM or float WAV is
probed by reading its header here (``probe_wav``: no ffprobe process, ~70 ms
less per job) and then decoded by ffmpeg with the WAV demuxer forced; a
16 kHz mono 16-bit WAV, already what the model takes, is read directly.
Decoded PCM comes back through a pipe, so no temporary file is written. The samples are the same as
``whisper.load_audio`` gives (16 kHz mono s16le scaled to float32).

A microphone recording is converted here, without ffmpeg: its sample rate is whatever the
client posted, so a rate no microphone records is refused before the samples are converted,
and ``resample`` keeps its filter small whatever the rate (see ``resample_factors``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from pathlib import Path

import numpy as np

from .errors import (
    AudioTooLargeError,
    AudioTooLongError,
    DecodeTimeoutError,
    FFmpegNotFoundError,
    InvalidAudioError,
    NoAudioStreamError,
)

log = logging.getLogger("whisper_ui.audio")

SAMPLE_RATE = 16000

# The sample rates a microphone recording may have: what browsers and sound cards record (8 kHz
# telephone quality up to 192 kHz studio interfaces). The rate of a recording is the client's word:
# anything else is refused before its samples are converted or resampled.
MIN_RECORDING_RATE = 8000
MAX_RECORDING_RATE = 192000
# The largest up or down factor ``resample`` hands to scipy's polyphase resampler. Its filter has
# 20 * max(up, down) + 1 taps, designed in full before any sample is filtered, so its cost follows
# the factors, not the audio: 16000/9999991 Hz takes ~60 s and ~9 GB even for 0.01 s of audio,
# 16000/191999 Hz ~0.5 s and ~170 MB, 16000/44101 Hz ~0.1 s and ~40 MB; at factors of 4000 or
# less it is ~10 ms and ~4 MB. Every common rate (8, 11.025, 16, 22.05, 24, 32, 44.1, 48, 88.2,
# 96, 176.4, 192 kHz) reduces to factors under 1000.
MAX_RESAMPLE_FACTOR = 4000

# ffmpeg demuxer names of audio and video containers. Not here, on purpose:
# concat, hls, dash, image2, tee, sdp, rtsp, data, lavfi, subtitles and every
# other demuxer that can open a second file or a URL.
ALLOWED_DEMUXERS = (
    "wav", "w64", "mp3", "flac", "ogg", "matroska", "webm", "mov", "mp4", "aac", "ac3", "eac3", "aiff",
    "amr", "amrnb", "amrwb", "asf", "avi", "caf", "au", "mpeg", "mpegts", "wv", "ape", "tta", "dts",
    "truehd", "mlp", "flv", "voc", "m4v", "rm", "gsm",
)
MAX_CHANNELS = 64  # the most ffmpeg's pan filter mixes down
_WHITELIST_ARGS = ("-protocol_whitelist", "file", "-format_whitelist", ",".join(ALLOWED_DEMUXERS))

FFMPEG_INSTALL_HINT = (
    "install it and restart the app: sudo apt-get install ffmpeg (Debian/Ubuntu), "
    "brew install ffmpeg (macOS) or winget install ffmpeg (Windows)"
)


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int
    max_seconds: float
    timeout: float = 600.0


@dataclass(frozen=True)
class ProbeResult:
    format_name: str
    duration: float | None
    sample_rate: int | None
    channels: int | None
    codec: str | None
    # set by ``probe_wav``: where the samples of a plain PCM WAV start and how many bytes they take
    data_offset: int | None = None
    data_bytes: int | None = None

    @property
    def is_model_ready_wav(self) -> bool:
        """16 kHz mono 16-bit PCM: the samples are what ffmpeg would hand the model."""
        return (self.data_offset is not None and self.codec == "pcm_s16le" and self.channels == 1
                and self.sample_rate == SAMPLE_RATE)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FFmpegNotFoundError(f"{name} was not found on PATH: {FFMPEG_INSTALL_HINT}.", key="ffmpeg_missing", tool=name)
    return path


def _file_url(path: Path) -> str:
    return "file:" + str(Path(path).resolve())


def _fmt_limit_mb(nbytes: int) -> str:
    return f"{nbytes / (1024 * 1024):.0f} MB"


def _fmt_minutes(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} minutes"


def _run(args: list[str], timeout: float, what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as e:
        raise DecodeTimeoutError(
            f"{what} took longer than {timeout:.0f} s and was stopped. The file may be damaged; "
            "try converting it to WAV or MP3 first."
        ) from e
    except FileNotFoundError as e:  # removed from PATH after the check
        raise FFmpegNotFoundError(f"ffmpeg could not be started: {FFMPEG_INSTALL_HINT}.", key="ffmpeg_missing",
                                   tool="ffmpeg") from e


def _stderr_tail(proc: subprocess.CompletedProcess, path: Path) -> str:
    """ffmpeg's last words for the user: without the server's folders or memory addresses."""
    text = proc.stderr.decode("utf-8", "replace")
    text = text.replace(_file_url(path), path.name).replace(str(Path(path).resolve()), path.name)
    text = re.sub(r"\[(\S+) @ 0x[0-9a-fA-F]+\] ", r"[\1] ", text)
    text = re.sub(r"Format not on whitelist '[^']*'", "this format is not accepted.", text)
    lines = text.strip().splitlines()
    return " ".join(line.strip() for line in lines[-3:])[:300]


def probe(path: str | os.PathLike, limits: AudioLimits) -> ProbeResult:
    """Check an upload before decoding it. Raises an AudioError with what to do."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InvalidAudioError(f"The uploaded file could not be read ({e.strerror}).", key="file_unreadable") from e
    if size > limits.max_bytes:
        raise AudioTooLargeError(
            f"The file is {size / (1024 * 1024):.1f} MB; the limit is {_fmt_limit_mb(limits.max_bytes)}. "
            "Cut it into parts or compress it (e.g. to MP3) and try again.",
            key="file_too_large", size=f"{size / (1024 * 1024):.1f} MB", limit=_fmt_limit_mb(limits.max_bytes),
        )
    if size == 0:
        raise InvalidAudioError("The file is empty. Upload an audio or video file.", key="file_empty")
    wav = probe_wav(path, size)
    return _checked(wav if wav is not None else ffprobe(path, limits), limits)


def ffprobe(path: Path, limits: AudioLimits) -> ProbeResult:
    """What ffprobe reads of a file, through the same whitelists and time limit as the decode."""
    args = [_tool("ffprobe"), "-hide_banner", "-loglevel", "error", *_WHITELIST_ARGS,
            "-show_format", "-show_streams", "-of", "json", _file_url(path)]
    proc = _run(args, limits.timeout, "Reading the file")
    if proc.returncode != 0:
        raise InvalidAudioError(
            "This file is not audio or video that can be read, or it is damaged "
            f"({_stderr_tail(proc, path) or 'unknown format'}). Upload a common audio or video format "
            "(WAV, MP3, M4A, FLAC, OGG, OPUS, WEBM, MP4, MKV...).", key="not_audio",
        )
    try:
        info = json.loads(proc.stdout or b"{}")
    except ValueError as e:
        raise InvalidAudioError("This file could not be read as audio.", key="not_audio") from e
    fmt = info.get("format") or {}
    audio = [s for s in info.get("streams") or [] if s.get("codec_type") == "audio"]
    if not audio:
        raise NoAudioStreamError("This file has no audio track. Upload a file with sound in it.", key="no_audio_track")
    stream = audio[0]

    def number(value: object) -> float | None:
        try:
            result = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return result if np.isfinite(result) and result >= 0 else None

    duration = number(stream.get("duration")) or number(fmt.get("duration"))
    rate = number(stream.get("sample_rate"))
    channels = number(stream.get("channels"))
    return ProbeResult(
        format_name=str(fmt.get("format_name", "")),
        duration=duration,
        sample_rate=int(rate) if rate else None,
        channels=int(channels) if channels else None,
        codec=stream.get("codec_name"),
    )


def _checked(result: ProbeResult, limits: AudioLimits) -> ProbeResult:
    if result.channels is not None and result.channels > MAX_CHANNELS:
        raise InvalidAudioError(
            f"The file has {result.channels} audio channels; the app mixes down at most {MAX_CHANNELS}. "
            "Export a mono or stereo version and upload that."
        )
    if result.duration is not None and result.duration > limits.max_seconds:
        raise AudioTooLongError(
            f"The audio is {_fmt_minutes(result.duration)} long; the limit is {_fmt_minutes(limits.max_seconds)}. "
            "Cut it into shorter parts and try again.",
            key="audio_too_long", length=_fmt_minutes(result.duration), limit=_fmt_minutes(limits.max_seconds),
        )
    return result


# WAVE_FORMAT_EXTENSIBLE's sub-format GUIDs end with these 14 bytes after the 2-byte format tag
_KSDATAFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_PCM_CODECS = {(1, 8): "pcm_u8", (1, 16): "pcm_s16le", (1, 24): "pcm_s24le", (1, 32): "pcm_s32le",
               (3, 32): "pcm_f32le", (3, 64): "pcm_f64le"}
_WAV_HEADER_SCAN = 1 << 20  # chunks before the samples (LIST, bext, junk...) are looked through up to 1 MiB


def _is_riff_wave(header: bytes) -> bool:
    return len(header) >= 12 and header[:4] == b"RIFF" and header[8:12] == b"WAVE"


def probe_wav(path: Path, size: int) -> ProbeResult | None:
    """The facts ffprobe would give for a plain PCM or float WAV, read from its header in Python.

    None for anything else (RF64, compressed codecs, odd or damaged headers): those go to
    ffprobe, whose answer and messages stay the reference. The duration counts only the
    sample bytes really in the file, so a header that claims hours cannot pass the limit
    check on a short file, nor a short claim hide a long file (ffmpeg's decode is capped too).
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if not _is_riff_wave(head):  # an MP3, a video...: nothing more is read
                return None
            head += f.read(min(size, _WAV_HEADER_SCAN) - 12)
    except OSError:
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(head):
        chunk_id, chunk_size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            if chunk_size < 16 or body + chunk_size > len(head) or fmt is not None:
                return None
            tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", head, body)
            if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID
                if chunk_size < 40 or head[body + 26:body + 40] != _KSDATAFORMAT_TAIL:
                    return None
                tag = struct.unpack_from("<H", head, body + 24)[0]
            codec = _PCM_CODECS.get((tag, bits))
            if codec is None or channels == 0 or rate == 0 or block_align != channels * bits // 8:
                return None
            fmt = (codec, channels, rate, block_align)
        elif chunk_id == b"data":
            if fmt is None:  # ffmpeg refuses samples before the format; let ffprobe say so
                return None
            codec, channels, rate, block_align = fmt
            available = size - body
            # 0 and 0xFFFFFFFF mean "until the end" (streamed WAV); ffmpeg reads to the end then too
            declared = available if chunk_size in (0, 0xFFFFFFFF) else min(chunk_size, available)
            data_bytes = declared - declared % block_align
            return ProbeResult(format_name="wav", duration=data_bytes / block_align / rate, sample_rate=rate,
                               channels=channels, codec=codec, data_offset=body, data_bytes=data_bytes)
        pos = body + chunk_size + (chunk_size & 1)
    return None


def decode(path: str | os.PathLike, limits: AudioLimits, probed: ProbeResult | None = None) -> np.ndarray:
    """Probe (unless already done), then decode to 16 kHz mono float32."""
    path = Path(path)
    probed = probed or probe(path, limits)
    if probed.is_model_ready_wav:
        audio = _read_model_ready_wav(path, probed)
    else:
        audio = _ffmpeg_decode(path, limits, probed)
    check_duration(len(audio) / SAMPLE_RATE, limits)
    if audio.size == 0:
        raise InvalidAudioError("The file holds no audio samples (zero length). Upload a recording with sound in it.")
    return audio


def _ffmpeg_decode(path: Path, limits: AudioLimits, probed: ProbeResult) -> np.ndarray:
    ffmpeg = _tool("ffmpeg")
    # Read at most one second past the limit: enough to tell that the real
    # length is over it when the header lied, never the whole of a huge file.
    cap = f"{limits.max_seconds + 1:.3f}"
    mix: list[str] = []
    if probed.channels is not None and probed.channels > 8:
        # ffmpeg knows no channel layout for most counts over 8 (10, 32, 64...), so `-ac 1`
        # cannot mix them down: average them explicitly (pan takes up to 64)
        share = f"{1 / probed.channels:.6g}"
        mix = ["-af", "pan=mono|c0=" + "+".join(f"{share}*c{i}" for i in range(probed.channels))]
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0", *_WHITELIST_ARGS,
            *(["-f", "wav"] if probed.data_offset is not None else []),  # the demuxer the header was read for
            "-t", cap, "-i", _file_url(path), "-map", "0:a:0", "-vn", "-sn", "-dn", *mix,
            "-f", "s16le", "-ac", "1", "-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE), "-"]
    proc = _run(args, limits.timeout, "Decoding the audio")
    if proc.returncode != 0:
        raise InvalidAudioError(
            f"The audio could not be decoded; the file may be damaged ({_stderr_tail(proc, path)}). "
            "Try converting it to WAV or MP3 and upload it again."
        )
    return _to_float(np.frombuffer(proc.stdout, np.int16))


def _read_model_ready_wav(path: Path, probed: ProbeResult) -> np.ndarray:
    """The samples of a 16 kHz mono 16-bit WAV, as ffmpeg would give them (s16le / 32768), without ffmpeg."""
    assert probed.data_offset is not None and probed.data_bytes is not None
    count = probed.data_bytes // 2
    try:
        samples = np.fromfile(path, dtype="<i2", count=count, offset=probed.data_offset)
    except (OSError, ValueError) as e:
        raise InvalidAudioError(f"The uploaded file could not be read ({e}).") from e
    if samples.size != count:  # changed since the probe
        raise InvalidAudioError("The file changed while it was being read. Upload it again.")
    return _to_float(samples)


def _to_float(samples: np.ndarray) -> np.ndarray:
    """s16 samples as float32 in [-1, 1), with one array's worth of memory on top (an hour: 230 MB, not
    the 690 MB that ``astype(...) / 32768.0`` of a flattened copy took at its peak)."""
    out = samples.astype(np.float32)
    out *= 1 / 32768.0  # exact: a power of two
    return out


def read_recording(path: str | os.PathLike, limits: AudioLimits) -> tuple[int, np.ndarray]:
    """A recording posted by the browser: a WAV is read in memory, anything else is decoded safely.

    Returns (sample rate, samples) for ``from_array``.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise AudioTooLargeError(f"The recording is over the limit of {_fmt_limit_mb(limits.max_bytes)}.")
    with open(path, "rb") as f:
        header = f.read(12)
    if _is_riff_wave(header):
        from scipy.io import wavfile

        try:
            rate, data = wavfile.read(path, mmap=False)
        except Exception as e:  # noqa: BLE001 - scipy's parser raises many kinds on hostile bytes (even NameError)
            reason = f": {e}" if isinstance(e, ValueError) and str(e) else ""
            log.info("unreadable WAV recording (%s: %s)", type(e).__name__, e)
            raise InvalidAudioError(f"The recording is not a valid WAV file{reason}. Record again.") from e
        check_recording(rate, data.shape[0] if data.ndim else 0, limits)
        return int(rate), data
    return SAMPLE_RATE, decode(path, limits)


def check_duration(seconds: float, limits: AudioLimits) -> None:
    if seconds > limits.max_seconds:
        raise AudioTooLongError(
            f"The audio is longer than the limit of {_fmt_minutes(limits.max_seconds)}. "
            "Cut it into shorter parts and try again."
        )


def check_recording(sample_rate: object, samples: int, limits: AudioLimits) -> int:
    """A microphone recording's rate and length, checked before its samples are converted: returns the rate.

    The length is checked first (a days-long recording is told it is too long, whatever its rate),
    then the rate against what a microphone records: the rate is only the client's word, and
    resampling from a rate like 9999991 Hz would cost far more than the samples themselves.
    """
    try:
        rate = int(sample_rate)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        rate = 0
    if rate <= 0:
        raise InvalidAudioError("The recording has no valid sample rate.")
    check_duration(samples / rate, limits)
    if not MIN_RECORDING_RATE <= rate <= MAX_RECORDING_RATE:
        raise InvalidAudioError(
            f"The recording's sample rate ({rate} Hz) is not one a microphone records "
            f"({MIN_RECORDING_RATE}–{MAX_RECORDING_RATE} Hz). Record again."
        )
    return rate


def from_array(sample_rate: int, data: np.ndarray, limits: AudioLimits) -> np.ndarray:
    """Microphone input (8–192 kHz, int or float, mono or multi-channel) to 16 kHz mono float32.

    Done in memory: no file, no ffmpeg round trip.
    """
    data = np.asarray(data)
    if sample_rate is None:
        raise InvalidAudioError("The recording has no valid sample rate.")
    if data.size == 0:
        raise InvalidAudioError("The recording is empty. Record again and speak after pressing record.")
    if data.ndim > 2:
        raise InvalidAudioError("The recording has an unexpected shape.")
    sample_rate = check_recording(sample_rate, data.shape[0], limits)
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        if info.min == 0:  # unsigned, e.g. 8-bit PCM centred on 128
            audio = (data.astype(np.float32) - (info.max + 1) / 2) / ((info.max + 1) / 2)
        else:
            audio = data.astype(np.float32) / float(-info.min)
    elif np.issubdtype(data.dtype, np.floating):
        audio = data.astype(np.float32, copy=False)
    else:
        raise InvalidAudioError(f"The recording has an unsupported sample type ({data.dtype}).")
    if audio.ndim == 2:
        # Gradio gives (samples, channels); average the channels
        audio = audio.mean(axis=1) if audio.shape[1] <= audio.shape[0] else audio.mean(axis=0)
    if not np.all(np.isfinite(audio)):
        raise InvalidAudioError("The recording holds invalid samples (NaN or infinity).")
    if sample_rate != SAMPLE_RATE:
        audio = resample(audio, sample_rate, SAMPLE_RATE)
    return np.ascontiguousarray(audio, dtype=np.float32)


def resample_factors(src_rate: int, dst_rate: int) -> tuple[int, int]:
    """The (up, down) factors ``resample`` uses: both at most ``MAX_RESAMPLE_FACTOR``, whatever the rates.

    The exact ratio reduced by the gcd when its terms are small enough: every common rate, whose
    samples stay what they always were. Otherwise (an odd rate like 44101 Hz) the closest fraction
    whose terms are: polyphase resampling by it takes ~20 multiply-adds per input or output sample,
    whichever there are more of, and a filter of at most 80 001 taps (~10 ms and ~4 MB to design),
    so its time and memory follow the number of samples, not the rate. The price is a timeline
    stretched by under 1 ppm for most such rates in 8–192 kHz, and by 125 ppm (0.45 s an hour) at worst.
    """
    src_rate, dst_rate = int(src_rate), int(dst_rate)
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, not {src_rate} and {dst_rate}")
    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    if max(up, down) <= MAX_RESAMPLE_FACTOR:
        return up, down
    # Fraction.limit_denominator(K) bounds the denominator by K; approximating the ratio that is
    # at most 1 bounds its numerator too. A ratio beyond 1:K is clamped to 1:K (not a real rate).
    small, large = sorted((up, down))
    ratio = max(Fraction(small, large).limit_denominator(MAX_RESAMPLE_FACTOR), Fraction(1, MAX_RESAMPLE_FACTOR))
    if up <= down:
        return ratio.numerator, ratio.denominator
    return ratio.denominator, ratio.numerator


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling with an anti-aliasing filter, its work bounded by the number of samples."""
    from scipy.signal import resample_poly

    up, down = resample_factors(src_rate, dst_rate)
    return resample_poly(audio, up, down).astype(np.float32)

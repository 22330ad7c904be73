"""Decoding untrusted files with real ffmpeg, and microphone arrays in memory."""

import os
import struct
import subprocess
import tempfile
import threading
import time
import wave

import numpy as np
import pytest
import whisper

from whisper_ui.core import audio
from whisper_ui.core.errors import (
    AudioError,
    AudioTooLargeError,
    AudioTooLongError,
    FFmpegNotFoundError,
    InvalidAudioError,
    NoAudioStreamError,
)

LIMITS = audio.AudioLimits(max_bytes=50 * 1024 * 1024, max_seconds=120, timeout=60)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def test_decode_gives_the_same_samples_as_openai_whisper(speech, tmp_path):
    mp3 = tmp_path / "english.mp3"
    ffmpeg("-i", speech.english, mp3)
    for path in (speech.english, mp3):
        ours = audio.decode(path, LIMITS)
        assert ours.dtype == np.float32 and ours.ndim == 1
        assert np.array_equal(ours, whisper.load_audio(str(path)))


def test_video_container_with_audio_is_accepted(speech, tmp_path):
    video = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:d=3", "-i", speech.english, "-shortest", "-c:v", "libx264",
           "-c:a", "aac", video)
    assert audio.decode(video, LIMITS).size > 16000


def test_probe_refuses_a_file_over_the_size_limit_before_reading_it(speech):
    small = audio.AudioLimits(max_bytes=1000, max_seconds=120)
    with pytest.raises(AudioTooLargeError, match=r"limit is 0 MB"):
        audio.decode(speech.english, small)


def test_probe_refuses_audio_over_the_duration_limit(speech):
    short = audio.AudioLimits(max_bytes=LIMITS.max_bytes, max_seconds=1.0)
    with pytest.raises(AudioTooLongError, match="limit is 1 s"):
        audio.probe(speech.english, short)


def test_a_header_that_lies_about_the_length_is_caught_while_decoding(tmp_path):
    # Matroska written to a pipe has no duration: the probe cannot know it, the capped decode does
    long = tmp_path / "long.mkv"
    with open(long, "wb") as out:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=5",
                        "-c:a", "libopus", "-f", "matroska", "-"], stdout=out, check=True)
    probed = audio.probe(long, audio.AudioLimits(LIMITS.max_bytes, 2.0))
    assert probed.duration is None
    with pytest.raises(AudioTooLongError):
        audio.decode(long, audio.AudioLimits(LIMITS.max_bytes, 2.0), probed)


# --- WAV headers read in Python ---------------------------------------------------------------------

WAV_VARIANTS = {  # name: ffmpeg output options
    "s16-22k-mono": ["-c:a", "pcm_s16le"],
    "s16-16k-mono": ["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"],  # read without ffmpeg
    "f32-16k-stereo": ["-ar", "16000", "-ac", "2", "-c:a", "pcm_f32le"],
    "s24-48k-extensible": ["-ar", "48000", "-ac", "3", "-c:a", "pcm_s24le"],  # 3 channels: WAVE_FORMAT_EXTENSIBLE
    "u8-8k": ["-ar", "8000", "-c:a", "pcm_u8"],
    "f64-44k": ["-ar", "44100", "-c:a", "pcm_f64le"],
    "s16-with-metadata": ["-c:a", "pcm_s16le", "-metadata", "title=" + "x" * 5000],  # a LIST chunk first
}


@pytest.mark.parametrize("name", sorted(WAV_VARIANTS))
def test_a_wav_header_read_in_python_says_what_ffprobe_says(speech, tmp_path, name):
    wav = tmp_path / f"{name}.wav"
    ffmpeg("-i", speech.english, *WAV_VARIANTS[name], wav)
    ours = audio.probe_wav(wav, wav.stat().st_size)
    theirs = audio.ffprobe(wav, LIMITS)
    assert ours is not None
    assert (ours.sample_rate, ours.channels, ours.codec) == (theirs.sample_rate, theirs.channels, theirs.codec)
    assert ours.duration == pytest.approx(theirs.duration, abs=1e-3)
    # and the samples the model gets are those openai-whisper's own ffmpeg call gives
    assert np.array_equal(audio.decode(wav, LIMITS, ours), whisper.load_audio(str(wav)))


def test_a_16khz_mono_wav_is_read_without_starting_ffmpeg(speech, tmp_path, monkeypatch):
    wav = tmp_path / "ready.wav"
    ffmpeg("-i", speech.english, *WAV_VARIANTS["s16-16k-mono"], wav)
    expected = whisper.load_audio(str(wav))

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")
    monkeypatch.setattr(subprocess, "run", no_process)
    assert np.array_equal(audio.decode(wav, LIMITS), expected)


def _riff(*chunks: bytes, form: bytes = b"WAVE", magic: bytes = b"RIFF") -> bytes:
    body = form + b"".join(chunks)
    return magic + len(body).to_bytes(4, "little") + body


def _chunk(name: bytes, payload: bytes, size: int | None = None) -> bytes:
    return name + (len(payload) if size is None else size).to_bytes(4, "little") + payload + b"\0" * (len(payload) & 1)


def _fmt(tag=1, channels=1, rate=16000, bits=16, align=None) -> bytes:
    align = channels * bits // 8 if align is None else align
    return _chunk(b"fmt ", np.array([tag, channels], "<u2").tobytes() + np.array([rate, rate * align], "<u4").tobytes()
                  + np.array([align, bits], "<u2").tobytes())


SAMPLES = (np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes()


def test_a_long_wav_is_refused_from_its_header_without_any_process(tmp_path, monkeypatch):
    wav = tmp_path / "long.wav"
    wav.write_bytes(_riff(_fmt(rate=8000), _chunk(b"data", bytes(2 * 8000 * 200))))  # 200 s, over 120 s
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a process was started"))
    with pytest.raises(AudioTooLongError, match=r"3\.3 minutes long; the limit is 2\.0 minutes"):
        audio.probe(wav, LIMITS)


def test_the_length_counts_only_the_samples_in_the_file(tmp_path):
    for declared, seconds in ((10 ** 9, 1.0), (0xFFFFFFFF, 1.0), (0, 1.0), (16000, 0.5)):
        wav = tmp_path / "claims.wav"
        wav.write_bytes(_riff(_fmt(), _chunk(b"data", SAMPLES, size=declared)))
        probed = audio.probe(wav, LIMITS)
        assert probed.duration == seconds, declared
        assert audio.decode(wav, LIMITS, probed).size == int(seconds * 16000)


@pytest.mark.parametrize("content", [
    _riff(_fmt(), _chunk(b"data", SAMPLES), magic=b"RF64"),  # 64-bit sizes: ffprobe's business
    _riff(_fmt(), _chunk(b"data", SAMPLES), form=b"AVI "),
    _riff(_chunk(b"data", SAMPLES), _fmt()),  # samples before the format
    _riff(_fmt(tag=2, bits=4, align=256), _chunk(b"data", SAMPLES)),  # ADPCM
    _riff(_fmt(tag=0x55, bits=0, align=1), _chunk(b"data", SAMPLES)),  # MP3 inside a WAV
    _riff(_fmt(channels=0), _chunk(b"data", SAMPLES)),
    _riff(_fmt(rate=0), _chunk(b"data", SAMPLES)),
    _riff(_fmt(align=3), _chunk(b"data", SAMPLES)),
    _riff(_fmt(bits=12), _chunk(b"data", SAMPLES)),
    _riff(_fmt(), _fmt(rate=8000), _chunk(b"data", SAMPLES)),  # two formats
    _riff(_fmt())[:30],  # cut inside the format
    _riff(_fmt(), b"LIST" + (2 ** 31).to_bytes(4, "little")),  # a chunk that runs past the end
], ids=["rf64", "avi", "data-first", "adpcm", "mp3-in-wav", "no-channels", "no-rate", "bad-align", "12-bit",
        "two-fmt", "cut-fmt", "huge-chunk"])
def test_anything_but_a_plain_wav_header_goes_to_ffprobe(tmp_path, content):
    wav = tmp_path / "odd.wav"
    wav.write_bytes(content)
    assert audio.probe_wav(wav, len(content)) is None


def test_mangled_wav_headers_never_get_past_the_checks(speech, tmp_path):
    """Random damage to a real WAV's first 64 bytes: an AudioError with a message, or audio."""
    good = speech.english.read_bytes()
    rng = np.random.default_rng(7)
    outcomes = {"audio": 0, "refused": 0}
    for i in range(40):
        data = bytearray(good)
        for pos in rng.integers(0, 64, size=rng.integers(1, 6)):
            data[pos] = int(rng.integers(0, 256))
        wav = tmp_path / f"mangled{i}.wav"
        wav.write_bytes(bytes(data))
        try:
            samples = audio.decode(wav, LIMITS)
        except AudioError as e:
            assert str(e)
            outcomes["refused"] += 1
        else:
            assert samples.dtype == np.float32 and 0 < samples.size <= LIMITS.max_seconds * audio.SAMPLE_RATE
            outcomes["audio"] += 1
    assert outcomes["audio"] and outcomes["refused"], outcomes


def test_file_without_audio_stream(tmp_path):
    video = tmp_path / "silent-film.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32:d=1", "-c:v", "libx264", video)
    with pytest.raises(NoAudioStreamError, match="no audio track"):
        audio.decode(video, LIMITS)


@pytest.mark.parametrize("content", [b"", os.urandom(4096), b"hello, this is a text file\n" * 20])
def test_not_audio_is_refused_with_a_clear_message(tmp_path, content):
    path = tmp_path / "upload.wav"
    path.write_bytes(content)
    with pytest.raises(InvalidAudioError, match="empty|not audio"):
        audio.decode(path, LIMITS)


@pytest.mark.parametrize("content", [
    "ffconcat version 1.0\nfile '{target}'\n",
    "#EXTM3U\n#EXTINF:1,\n{target}\n",
    "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
    "[playlist]\nFile1={target}\nNumberOfEntries=1\n",
])
def test_lists_and_playlists_cannot_make_ffmpeg_open_another_file(tmp_path, speech, content):
    path = tmp_path / "innocent.mp3"
    path.write_text(content.format(target=speech.english))
    with pytest.raises(InvalidAudioError):
        audio.decode(path, LIMITS)


def test_a_file_name_cannot_select_a_protocol(tmp_path, speech):
    odd = tmp_path / "concat:x|y.wav"
    odd.write_bytes(speech.english.read_bytes())
    assert audio.decode(odd, LIMITS).size > 0


def test_ffmpeg_missing_says_how_to_install_it(speech, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FFmpegNotFoundError, match="apt-get install ffmpeg"):
        audio.decode(speech.english, LIMITS)


def test_errors_leave_no_temporary_files(tmp_path, speech, monkeypatch):
    # a temporary folder of this test's own: the system's gets other workers' files meanwhile (two were seen)
    own = tmp_path / "tmp"
    own.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    monkeypatch.setenv("TMPDIR", str(own))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(os.urandom(1000))
    for path in (bad, speech.english):
        try:
            audio.decode(path, LIMITS)
        except InvalidAudioError:
            pass
    assert os.listdir(own) == []


def test_microphone_array_matches_the_file_decode(speech):
    from scipy.io import wavfile

    rate, data = wavfile.read(speech.english)  # 22050 Hz int16 mono, like a browser recording
    stereo = np.stack([data, data], axis=1)
    ours = audio.from_array(rate, stereo, LIMITS)
    reference = audio.decode(speech.english, LIMITS)
    assert ours.dtype == np.float32 and ours.ndim == 1
    assert abs(len(ours) - len(reference)) <= 2
    n = min(len(ours), len(reference))
    assert np.corrcoef(ours[:n], reference[:n])[0, 1] > 0.99


@pytest.mark.parametrize(("dtype", "scale"), [(np.int16, 32767), (np.int32, 2**31 - 1), (np.float32, 1.0)])
def test_microphone_sample_types_are_scaled_to_minus_one_one(dtype, scale):
    tone = np.sin(np.linspace(0, 200 * np.pi, 48000))
    samples = audio.from_array(48000, (tone * scale * 0.5).astype(dtype), LIMITS)
    assert len(samples) == 16000
    assert 0.45 < np.abs(samples).max() < 0.55


def test_microphone_uint8_is_centred():
    samples = audio.from_array(16000, np.full(1600, 128, np.uint8), LIMITS)
    assert np.abs(samples).max() == 0


def test_microphone_errors():
    with pytest.raises(InvalidAudioError, match="empty"):
        audio.from_array(16000, np.zeros(0, np.int16), LIMITS)
    with pytest.raises(AudioTooLongError):
        audio.from_array(16000, np.zeros(16000 * 121, np.int16), LIMITS)
    with pytest.raises(InvalidAudioError, match="NaN"):
        audio.from_array(16000, np.array([0.0, np.nan], np.float32), LIMITS)


# --- microphone sample rates: the rate is the client's word ---------------------------------------

MB = 1024 * 1024


class PeakRss:
    """The process's largest resident size while the block runs (sampled every 2 ms by a thread), and its time."""

    def __init__(self):
        import psutil

        self._process = psutil.Process()
        self.before = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self):
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self.started
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        self.growth = self.peak - self.before
        return False


def _wave_file(path, rate, samples, channels=1):
    """A 16-bit WAV written by Python's own ``wave`` module, which takes any rate for its header."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())
    return path


def _raw_fmt(tag, channels, rate, bits):
    """A format chunk by hand: the byte rate wraps at 32 bits as a careless writer's would."""
    align = channels * bits // 8
    return _chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align & 0xFFFFFFFF, align, bits))


SPEECHY = (np.sin(np.arange(16000) / 7) * 6000).astype(np.int16)  # 16 000 samples: 32 KB, like the file
RATE_REFUSED = r"^The recording's sample rate \({rate} Hz\) is not one a microphone records \(8000–192000 Hz\)\. Record again\.$"


@pytest.mark.parametrize(("rate", "kind"), [
    (9_999_991, "wave"),  # the case: ~200 M filter taps before the fix
    (1, "wave-short"),  # 100 samples: 100 s, under the length limit (more is refused as too long, below)
    (7_999, "wave"),  # one below the range
    (192_001, "wave"),  # one above it
    (250_000, "wave"),
    (0xFFFFFFFF, "raw-float"),  # the largest rate a header can hold, float samples
    (3_000_017, "raw-stereo"),  # a prime rate, two channels
])
def test_a_recording_at_a_rate_no_microphone_records_is_refused_before_anything_is_allocated(tmp_path, rate, kind):
    path = tmp_path / "recording.wav"
    samples = SPEECHY[:100] if kind == "wave-short" else SPEECHY
    if kind.startswith("wave"):
        _wave_file(path, rate, samples)
    elif kind == "raw-float":
        path.write_bytes(_riff(_raw_fmt(3, 1, rate, 32), _chunk(b"data", (SPEECHY / 32768).astype("<f4").tobytes())))
    else:
        stereo = np.repeat(SPEECHY[:, None], 2, axis=1)
        path.write_bytes(_riff(_raw_fmt(1, 2, rate, 16), _chunk(b"data", stereo.astype("<i2").tobytes())))
    from scipy.io import wavfile

    header_rate, data = wavfile.read(path)  # what the header says, read by the same parser the app uses
    assert header_rate == rate and data.shape[0] == len(samples)
    refused = RATE_REFUSED.format(rate=rate)
    with PeakRss() as through_the_file:
        with pytest.raises(InvalidAudioError, match=refused):
            audio.read_recording(path, LIMITS)
    with PeakRss() as through_the_array:
        with pytest.raises(InvalidAudioError, match=refused):
            audio.from_array(rate, data, LIMITS)
    for check in (through_the_file, through_the_array):
        assert check.growth < 100 * MB, f"{check.growth / MB:.0f} MB"
        assert check.seconds < 5  # a hang guard only: before the fix, 9999991 Hz took a minute and 9 GB


def test_a_rate_of_zero_or_not_a_number_is_refused():
    for rate in (0, -48000, "48k", float("nan"), 2 ** 80 + 1):
        with pytest.raises(InvalidAudioError, match=r"no valid sample rate|not one a microphone records"):
            audio.from_array(rate, SPEECHY, LIMITS)


def test_a_days_long_recording_is_told_it_is_too_long_whatever_its_rate(tmp_path):
    # 400 000 samples at 1 Hz: the length is checked first, so the user hears about the length
    path = _wave_file(tmp_path / "slow.wav", 1, np.zeros(400_000, np.int16))
    with pytest.raises(AudioTooLongError):
        audio.read_recording(path, LIMITS)
    with pytest.raises(AudioTooLongError):
        audio.from_array(1, np.zeros(400_000, np.int16), LIMITS)


@pytest.mark.parametrize("rate", [8000, 192000])
def test_the_range_ends_are_microphone_rates(tmp_path, rate):
    path = _wave_file(tmp_path / "edge.wav", rate, np.tile(SPEECHY, 2))
    got_rate, data = audio.read_recording(path, LIMITS)
    assert got_rate == rate
    assert len(audio.from_array(got_rate, data, LIMITS)) == round(32000 * 16000 / rate)


@pytest.mark.parametrize("rate", [44_101, 47_999, 8_001, 191_999, 12_347])
def test_an_odd_rate_is_resampled_with_bounded_work(tmp_path, rate):
    seconds = 5
    tone = (np.sin(2 * np.pi * 440 * np.arange(seconds * rate) / rate) * 16000).astype(np.int16)
    path = _wave_file(tmp_path / "odd.wav", rate, tone)
    with PeakRss() as check:
        got_rate, data = audio.read_recording(path, LIMITS)
        samples = audio.from_array(got_rate, data, LIMITS)
    assert got_rate == rate
    # the same length, give or take the 125 ppm an approximated ratio may stretch it by: the tone is not stretched
    assert abs(len(samples) - seconds * audio.SAMPLE_RATE) <= seconds * audio.SAMPLE_RATE * 125e-6 + 2
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    assert np.argmax(spectrum) * audio.SAMPLE_RATE / len(samples) == pytest.approx(440, abs=1)  # nor shifted
    assert 0.45 < np.abs(samples[100:-100]).max() < 0.52
    # the samples themselves (5 s) take ~1 MB at 16 kHz and ~4 MB at 192 kHz; the old filter alone took up to 170 MB
    assert check.growth < 100 * MB, f"{check.growth / MB:.0f} MB"
    assert check.seconds < 5  # hang guard


def test_speech_at_an_odd_rate_gives_what_the_file_decode_gives(speech, tmp_path):
    odd = tmp_path / "odd-rate.wav"
    ffmpeg("-i", speech.english, "-ar", "44101", "-c:a", "pcm_s16le", odd)  # a sound card whose clock is off
    rate, data = audio.read_recording(odd, LIMITS)
    assert rate == 44101
    ours = audio.from_array(rate, data, LIMITS)
    reference = audio.decode(speech.english, LIMITS)
    assert abs(len(ours) - len(reference)) <= 2
    n = min(len(ours), len(reference))
    assert np.corrcoef(ours[:n], reference[:n])[0, 1] > 0.99


@pytest.mark.parametrize("rate", [9_999_991, 4_294_967_295, 191_999, 3_000_017])
def test_the_resampler_alone_is_bounded_by_the_sample_count(rate):
    """Whatever a caller hands it: the filter follows MAX_RESAMPLE_FACTOR, the output the sample count."""
    data = np.random.default_rng(3).standard_normal(20_000).astype(np.float32)
    up, down = audio.resample_factors(rate, audio.SAMPLE_RATE)
    assert 1 <= up <= audio.MAX_RESAMPLE_FACTOR and 1 <= down <= audio.MAX_RESAMPLE_FACTOR
    with PeakRss() as check:
        out = audio.resample(data, rate, audio.SAMPLE_RATE)
    assert len(out) == -(-len(data) * up // down)
    assert check.growth < 100 * MB and check.seconds < 5, (check.growth / MB, check.seconds)


def test_resample_factors_stay_small_and_true_for_every_microphone_rate():
    from math import gcd

    worst = 0.0
    within_a_ppm = 0
    approximated = 0
    for rate in range(audio.MIN_RECORDING_RATE, audio.MAX_RECORDING_RATE + 1):
        up, down = audio.resample_factors(rate, audio.SAMPLE_RATE)
        assert max(up, down) <= audio.MAX_RESAMPLE_FACTOR, rate
        error = abs(up * rate / (down * audio.SAMPLE_RATE) - 1)
        g = gcd(rate, audio.SAMPLE_RATE)
        if (up, down) != (audio.SAMPLE_RATE // g, rate // g):
            approximated += 1
            within_a_ppm += error < 1e-6
        else:
            assert error == 0
        worst = max(worst, error)
    assert worst <= 125e-6 + 1e-12  # the timeline is stretched by at most 125 ppm (0.45 s an hour)
    assert within_a_ppm > approximated / 2  # and by under 1 ppm for most rates that are approximated


COMMON_RATES = [8000, 11025, 12000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000]


@pytest.mark.parametrize("rate", COMMON_RATES)
def test_common_rates_are_resampled_exactly_as_before(rate):
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, audio.SAMPLE_RATE)
    assert audio.resample_factors(rate, audio.SAMPLE_RATE) == (audio.SAMPLE_RATE // g, rate // g)
    assert max(audio.resample_factors(rate, audio.SAMPLE_RATE)) < 1000
    rng = np.random.default_rng(rate)
    data = (rng.standard_normal((rate * 2, 2)) * 5000).astype(np.int16)  # 2 s of stereo noise
    before = resample_poly((data.astype(np.float32) / 32768).mean(axis=1), audio.SAMPLE_RATE // g, rate // g)
    assert np.array_equal(audio.from_array(rate, data, LIMITS), before.astype(np.float32))

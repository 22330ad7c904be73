"""Decoding untrusted files with real ffmpeg, and microphone arrays in memory."""

import os
import subprocess
import tempfile

import numpy as np
import pytest
import whisper

from whisper_ui import audio
from whisper_ui.errors import (
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


def test_errors_leave_no_temporary_files(tmp_path, speech):
    before = set(os.listdir(tempfile.gettempdir()))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(os.urandom(1000))
    for path in (bad, speech.english):
        try:
            audio.decode(path, LIMITS)
        except InvalidAudioError:
            pass
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


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

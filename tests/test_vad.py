"""Speech detection on real models: non-speech costs no model time and gives no text, speech keeps
its words wherever it sits, a change of language is followed. Each real-model test runs per engine."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import whisper

from bench.corpus import SENTENCES, speak, wer
from whisper_ui.core.errors import NoSpeechError
from whisper_ui.core.transcription import Segment, TranscribeOptions
from whisper_ui.engines import vad
from whisper_ui.engines.base import LoadedModel
from whisper_ui.runtime.manager import ModelManager

from .conftest import make_engine, words

RATE = 16000

# sox recipes, 20-60 s each: what a recorder picks up when nobody speaks
NON_SPEECH = {
    "white-noise": ["synth", "30", "whitenoise", "vol", "0.3"],
    "pink-noise": ["synth", "30", "pinknoise", "vol", "0.5"],
    "brown-noise": ["synth", "30", "brownnoise", "vol", "0.5"],
    "tone-440": ["synth", "20", "sine", "440", "vol", "0.4"],
    "tone-sweep": ["synth", "20", "sine", "200-3000", "vol", "0.4"],
    "hum-50hz-harmonics": ["synth", "40", "sine", "50", "sine", "100", "sine", "150", "sine", "250", "remix", "-",
                           "vol", "0.4"],
    "music-chords": None,  # made with numpy below: 30 s of plucked chords, a bass line and a melody
    "silence-with-clicks": None,  # made with numpy below
}


def music(seconds: float = 30.0) -> np.ndarray:
    """Chords C, Am, F, G, a beat each, plucked (a few harmonics, decaying), with a bass and a melody note."""
    beat = int(0.5 * RATE)
    t = np.arange(beat) / RATE
    envelope = np.exp(-4 * t)
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    melody = [523.3, 587.3, 659.3, 784.0, 659.3, 587.3, 523.3, 440.0]
    out = []
    for i in range(int(seconds / 0.5)):
        notes = [*chords[(i // 2) % 4], chords[(i // 2) % 4][0] / 2, melody[i % len(melody)]]
        tone = sum(np.sin(2 * np.pi * f * k * t) / k for f in notes for k in (1, 2, 3))
        out.append(0.08 * envelope * tone)
    return np.concatenate(out).astype(np.float32)


def make_non_speech(name: str, folder: Path) -> Path:
    path = folder / f"{name}.wav"
    if NON_SPEECH[name] is None:
        import scipy.io.wavfile

        if name == "music-chords":
            samples = music()
        else:
            samples = np.zeros(60 * RATE, np.float32)
            rng = np.random.default_rng(3)
            for at in rng.integers(0, len(samples) - 100, 40):
                samples[at:at + 40] = rng.uniform(-0.8, 0.8, 40)  # a 2.5 ms click, 40 of them in a minute
        scipy.io.wavfile.write(path, RATE, (np.clip(samples, -1, 1) * 32767).astype(np.int16))
    else:
        subprocess.run(["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(path), *NON_SPEECH[name]],
                       check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vad")
    return {name: make_non_speech(name, folder) for name in NON_SPEECH}


class DecodeSpy:
    """Counts the engine's decode calls (model time is spent only there) and what each was given."""

    def __init__(self, monkeypatch, model):
        self.calls = 0
        self.given: list[tuple[int, object]] = []  # (samples, clips) of each call
        real = model.decode

        def decode(audio, options, task, language, clips, cancel, report=None, follow=None):
            self.calls += 1
            self.given.append((len(audio), clips))
            return real(audio, options, task, language, clips, cancel, report, follow)

        monkeypatch.setattr(model, "decode", decode)


@pytest.mark.parametrize("name", list(NON_SPEECH))
def test_non_speech_costs_no_model_time_and_gives_no_text(name, clips, service, monkeypatch):
    service.manager.load()
    spy = DecodeSpy(monkeypatch, service.manager._model)
    with pytest.raises(NoSpeechError, match="No speech was found"):
        service.transcribe_file(clips[name], TranscribeOptions(), formats=())
    assert spy.calls == 0, f"{name}: the model decoded {service.manager.state.last_speech_seconds} s"
    state = service.manager.state
    assert state.last_speech_seconds == 0 and state.last_audio_seconds >= 20


@pytest.mark.parametrize("language", [None, "en"])
def test_speech_the_model_makes_no_words_of_is_said_as_such(language, service, speech, monkeypatch):
    """Detection found speech and the model decoded it, but gave no words (Korean through base did, issue 25):
    the user is told how much speech there was, never "No speech was found", and to choose the language only
    where it was left to auto-detect. The model's decode gives nothing here (the real one rarely does on a clip
    a test can afford); the speech detection and the service are the real ones."""
    service.manager.load()
    spy = DecodeSpy(monkeypatch, service.manager._model)
    real = service.manager._model.decode
    monkeypatch.setattr(service.manager._model, "decode", lambda *args, **kwargs: real(*args, **kwargs) and [])
    with pytest.raises(NoSpeechError) as refused:
        service.transcribe_file(speech.english, TranscribeOptions(beam_size=1, language=language), formats=())
    found = service.manager.state.last_speech_seconds
    message = str(refused.value)
    assert spy.calls == 1 and found > 2
    assert message.startswith(f"Speech detection found {found:.1f} s of speech, but the model could not make out "
                              "words in it."), message
    assert "No speech was found" not in message
    assert ("auto-detect" in message) == (language is None), message
    assert refused.value.key == ("no_words_auto" if language is None else "no_words")


def noise_around(clip: Path, folder: Path, seconds: int = 20) -> Path:
    """``clip`` with ``seconds`` of pink noise before and after it."""
    rate = subprocess.run(["soxi", "-r", str(clip)], check=True, capture_output=True, text=True).stdout.strip()
    noise = folder / "noise.wav"
    subprocess.run(["sox", "-n", "-r", rate, "-c", "1", "-b", "16", str(noise), "synth", str(seconds), "pinknoise",
                    "vol", "0.3"], check=True)
    out = folder / "noisy.wav"
    subprocess.run(["sox", str(noise), str(clip), str(noise), str(out)], check=True)
    return out


def letters(text: str) -> int:
    return sum(c.isalpha() for c in text)


def test_speech_between_noise_keeps_every_word_in_the_recordings_time(service, speech, tmp_path, monkeypatch):
    alone = service.transcribe_file(speech.medium, TranscribeOptions(beam_size=1), formats=()).result
    spy = DecodeSpy(monkeypatch, service.manager._model)
    news = []
    noisy = service.transcribe_file(noise_around(speech.medium, tmp_path), TranscribeOptions(beam_size=1),
                                    formats=("srt",), on_progress=lambda *told: news.append(told)).result
    # the model was given the speech alone, joined: no noise, no clips left for the engine to seek
    assert spy.given == [(pytest.approx(noisy.speech_seconds * RATE, abs=2), None)]
    # every word kept: the noise next to a region (and the pauses that speech detection takes out) can
    # change how a word is heard or where it splits ("round fox jump" -> "roundfock stump" once, on CI's
    # processor), not whether it is there, so count letters, not words; a lost sentence is a third of them
    assert abs(letters(noisy.text) - letters(alone.text)) <= 0.1 * letters(alone.text), (alone.text, noisy.text)
    # (tiny.en heard "the Wic Round Fox" for "the quick round fox" once its region began 0.1 s earlier in the
    # loud pink noise: a word heard differently, not lost; the letters and the WER say nothing was lost)
    key = {"peter", "london", "quick", "lazy", "dog", "morning", "sunny", "warm"}
    assert len(key & words(noisy.text)) >= 7, (alone.text, noisy.text)
    assert wer(alone.text, noisy.text) <= 0.3, (alone.text, noisy.text)  # 0.26 on openai-whisper tiny.en
    # the times are the recording's: the speech starts after the 20 s of noise, not at 0
    assert 19.0 <= noisy.segments[0].start <= 21.0 and noisy.segments[-1].end <= noisy.duration
    # and so are the page's news while the model works (the joined speech's segments mapped back as they come)
    assert news and all(0 < done <= total == noisy.duration for done, total, *_ in news)
    assert [(s.start, s.end, s.text) for s in news[-1][2]] == [(s.start, s.end, s.text) for s in noisy.segments]
    assert noisy.speech_seconds < noisy.duration - 30  # the 40 s of noise were not decoded


AUDIOEVAL = Path(importlib.util.find_spec("pytest_audioeval").submodule_search_locations[0]) / "samples" / "audio"
ONSET_SPEECH = {  # real recordings (pytest-audioeval, MIT), joined
    "en": ("en/quick_brown_fox", "en/counting", "en/hello_world"),
    "es": ("es/pangrama", "es/hola_mundo", "fr/pangrama", "en/quick_brown_fox", "it/pangrama"),
}


def after_steady_noise(folder: Path, speech: str, colour: str, lead: int, gain: float, noise: float) -> Path:
    """Real speech at ``gain`` starting ``lead`` seconds into steady sox noise (``colour``, ``vol noise``)
    that goes on under it: the recording of a quiet room where somebody starts talking softly."""
    path = folder / f"onset-{speech}-{colour}-{lead}-{gain}-{noise}.wav"
    if path.exists():
        return path
    joined, voice, bed = folder / f"voice-{speech}.wav", folder / f"voice-{path.name}", folder / f"bed-{path.name}"
    if not joined.exists():
        subprocess.run(["sox", *(str(AUDIOEVAL / f"{clip}.wav") for clip in ONSET_SPEECH[speech]), str(joined)],
                       check=True, capture_output=True)
    seconds = float(subprocess.run(["soxi", "-D", str(joined)], check=True, capture_output=True, text=True).stdout)
    subprocess.run(["sox", str(joined), str(voice), "pad", str(lead), "0", "vol", str(gain)], check=True, capture_output=True)
    subprocess.run(["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(bed), "synth", str(lead + seconds),
                    colour, "vol", str(noise)], check=True, capture_output=True)
    subprocess.run(["sox", "-m", str(bed), str(voice), str(path)], check=True, capture_output=True)
    return path


# (speech, colour, lead, gain, noise), sox -R: repeatable noise. Where the speech starts at ``lead``, faster-whisper's
# own vad_filter (one pass forward) found it from 21.1, never, never, never, 4.8, 9.8, 19.7 and 43.5 s; the app
# before this check (two pieces forward) from 20.05, 19.95, 20.9, never, 4.8, 9.8, 19.7 and 40.4 s
LATE_ONSETS = [("en", "pinknoise", 20, 0.15, 0.08), ("es", "brownnoise", 20, 0.15, 0.08),
               ("en", "brownnoise", 20, 0.25, 0.08), ("en", "brownnoise", 40, 0.25, 0.08),
               ("en", "brownnoise", 5, 0.25, 0.08), ("es", "pinknoise", 10, 0.15, 0.08),
               ("en", "whitenoise", 20, 0.25, 0.03), ("es", "brownnoise", 40, 0.25, 0.03)]


@pytest.mark.parametrize("case", LATE_ONSETS, ids=lambda case: "-".join(map(str, case)))
def test_speech_after_steady_noise_is_found_from_its_first_word(case, tmp_path_factory):
    """The region starts before the speech does, however long the noise before it (Silero forward in 8 s
    pieces and backward): the recordings' first words start 0.0-0.1 s after ``lead``; the region has its 0.4 s
    margin."""
    folder = tmp_path_factory.getbasetemp() / "onsets"
    folder.mkdir(exist_ok=True)
    path = after_steady_noise(folder, *case)
    regions = vad.speech_regions(whisper.load_audio(str(path)))
    lead = case[2]
    assert regions and regions[0][0] <= lead, regions
    assert regions[0][0] >= lead - 1.0, regions  # the noise before it is not speech


def test_the_first_words_after_steady_noise_reach_the_transcript(engine_name, service, tmp_path_factory):
    """20 s of steady brown noise, then real speech under it: with detection on, the transcript starts where
    the same engine without detection hears the first word, and has every word of the first sentence."""
    folder = tmp_path_factory.getbasetemp() / "onsets"
    folder.mkdir(exist_ok=True)
    audio = whisper.load_audio(str(after_steady_noise(folder, "en", "brownnoise", 20, 0.25, 0.08)))
    options = TranscribeOptions(beam_size=1, word_timestamps=True)
    service.manager.load()
    on = service.manager.transcribe(audio, options)
    off = service.manager.transcribe(audio, TranscribeOptions(beam_size=1, word_timestamps=True, vad=False))
    region = vad.speech_regions(audio)[0]
    assert off.words and region[0] <= off.words[0].start, (region, off.words[:3])
    assert on.words[0].start <= off.words[0].start + 0.5, (on.words[:3], off.words[:3])
    # the first sentence; not the last short one, which tiny.en greedy may leave out with or without detection:
    # where CTranslate2 picks other CPU kernels (CT2_FORCE_CPU_ISA, another CI host) its window ends at "10."
    assert {"quick", "brown", "jumps", "lazy"} <= words(on.text), on.text
    assert on.gaps == ((0.0, round(region[0], 2)),)  # the 20 s of noise: a gap the user sees


def test_speech_detection_changes_no_word_of_plain_speech(service, tmp_path, monkeypatch):
    clip = speak(SENTENCES[:8], tmp_path, "plain")
    service.manager.load()
    spy = DecodeSpy(monkeypatch, service.manager._model)
    on = service.transcribe_file(clip.path, TranscribeOptions(vad=True, beam_size=1), formats=()).result
    off = service.transcribe_file(clip.path, TranscribeOptions(vad=False, beam_size=1), formats=()).result
    assert off.speech_seconds is None and on.speech_seconds > 0.8 * on.duration
    # speech from end to end: the model gets the file as it is, the same work as without detection
    assert spy.given[0] == spy.given[1] == (round(on.duration * RATE), None)
    assert abs(wer(clip.text, on.text) - wer(clip.text, off.text)) <= 0.01, (on.text, off.text)


def repeated_recordings(times: int = 7) -> np.ndarray:
    """pytest-audioeval's three English recordings (a voice counting to ten, "hello world", the quick brown
    fox), ``times`` over with 1 s pauses (70 s): real speech whose windows repeat, as a lecture's refrain."""
    from bench import recordings

    folder = recordings.audioeval_folder() / "en"
    pause = np.zeros(RATE, np.float32)
    pieces = [whisper.load_audio(str(folder / f"{name}.wav")) for name in ("counting", "hello_world",
                                                                          "quick_brown_fox")]
    return np.concatenate([part for _ in range(times) for piece in pieces for part in (piece, pause)])


def test_the_backward_pass_block_by_block_gives_silero_s_own_numbers():
    """``vad._backward`` (memory of a 64 s block, not of the file) equals faster-whisper's model run on the
    reversed file at once, bit for bit, across block boundaries (70 s: two blocks)."""
    from faster_whisper.vad import get_vad_model

    from whisper_ui.engines import vad

    pytest.importorskip("pytest_audioeval")
    model, audio = get_vad_model(), repeated_recordings()
    for length in (len(audio), vad.BACKWARD_BLOCK_FRAMES * vad.FRAME, 1000 * vad.FRAME + 7):
        padded = np.pad(audio[:length], (0, vad.FRAME - length % vad.FRAME))
        whole = np.asarray(model(np.ascontiguousarray(padded[::-1]))).ravel()[::-1]
        assert np.array_equal(vad._backward(model, padded), whole), length


def test_faster_whisper_falls_back_with_five_samples_whatever_the_beam():
    """The fix below, as faster-whisper receives it: the lost window came at random (one run of five), so the
    recordings' test cannot catch every return of the bug; this check does."""
    from whisper_ui.engines.faster import faster_whisper_kwargs

    for beam in (1, 2, 5, 8):
        kwargs = faster_whisper_kwargs(TranscribeOptions(beam_size=beam), "transcribe", "en")
        assert kwargs["beam_size"] == beam and kwargs["best_of"] == max(beam, 5), kwargs


@pytest.mark.parametrize("detection", [True, False], ids=["detection-on", "detection-off"])
def test_greedy_decoding_keeps_every_window_of_real_speech(service, detection):
    """Beam 1 transcribes what beam 5 does. faster-whisper greedy fell back with one sample per temperature
    and could lose a whole window (three of the seven rounds gone). Counted by phrase: the counting's digits
    are written many ways ("1-234-567") and "lazy" as "Layzy", which a WER would score as lost words."""
    pytest.importorskip("pytest_audioeval")
    service.manager.load()
    audio = repeated_recordings()
    result = service.manager.transcribe(audio, TranscribeOptions(beam_size=1, language="en", vad=detection))
    # no window is lost: the bug skipped a whole 30 s window as silence, a stretch of ~30 s of speech
    # without one segment. Here every stretch of more than 15 s holds one (the longest pause is 1 s).
    spans = sorted((s.start, s.end) for s in result.segments if s.text.strip())
    edges = [0.0, *[t for span in spans for t in span], len(audio) / RATE]
    gaps = [later - earlier for earlier, later in zip(edges[::2], edges[1::2], strict=True)]
    assert max(gaps) < 15, (max(gaps), spans)
    # and the words are the recordings': each phrase at least three times of seven. Counted by phrase, not
    # by WER, and not all seven: greedy fallback samples at random, and a window's sample may repeat the
    # counting in place of the next phrases (one run under two workers: hello 5, fox 4, every window there).
    # Before the fix, five runs of faster-whisper tiny.en greedy here counted (hello, fox): (7, 7) three
    # times, (5, 7) and (4, 4): the bug comes at random (six runs on 2026-12-07 without it), and
    # test_faster_whisper_falls_back_with_five_samples_whatever_the_beam checks the fix itself.
    text = " ".join(re.sub(r"[^a-z]+", " ", result.text.lower()).split())
    assert text.count("hello") >= 3 and text.count("fox") >= 3, result.text


def test_a_change_of_language_is_followed(models_dir, engine_name, tmp_path, speech):
    """English, a pause, then German (espeak-ng, ~10 s each) with language auto on base: both halves come
    back, each in its own language, and the summary lists both with their share. One-language speech
    stays in one language."""
    english = tmp_path / "en.wav"
    german = tmp_path / "de.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(english),
                    "Good morning. My name is Peter and I live in London. The weather today is sunny and warm. "
                    "I like to walk in the park with my dog in the afternoon."], check=True)
    subprocess.run(["espeak-ng", "-v", "de", "-s", "140", "-w", str(german),
                    "Guten Morgen. Ich heiße Peter und wohne in Berlin. Das Wetter ist heute schön und warm. "
                    "Am Nachmittag gehe ich gern mit meinem Hund in den Park."], check=True)
    rate = subprocess.run(["soxi", "-r", str(english)], check=True, capture_output=True, text=True).stdout.strip()
    pause = tmp_path / "pause.wav"
    subprocess.run(["sox", "-n", "-r", rate, "-c", "1", "-b", "16", str(pause), "trim", "0", "3"], check=True)
    joined = tmp_path / "en-de.wav"
    subprocess.run(["sox", str(english), str(pause), str(german), str(joined)], check=True)
    manager = ModelManager(make_engine(engine_name, models_dir), "base", "cpu")
    result = manager.transcribe(whisper.load_audio(str(joined)), TranscribeOptions(beam_size=1))
    plain = manager.transcribe(whisper.load_audio(str(speech.medium)), TranscribeOptions(beam_size=1))
    manager.close()
    assert {s.language for s in result.segments} == {"en", "de"}, [(s.language, s.text) for s in result.segments]
    english_text = " ".join(s.text for s in result.segments if s.language == "en").lower()
    german_text = " ".join(s.text for s in result.segments if s.language == "de").lower()
    assert "london" in english_text and {"wetter", "morgen", "heute"} & words(german_text), (english_text, german_text)
    assert {lang for lang, _ in result.languages} == {"en", "de"} and abs(sum(s for _, s in result.languages) - 1) < 1e-6
    assert plain.languages == (("en", 1.0),) and {s.language for s in plain.segments} == {"en"}


# --- plumbing --------------------------------------------------------------------------------


def segment(i: int, text: str, start: float) -> Segment:
    return Segment(i, start, start + 1.0, text)


def test_a_loop_of_repeated_segments_or_phrases_is_cut_to_one_with_a_notice():
    looped = tuple(segment(i, " Thank you for watching.", float(i)) for i in range(6))
    kept, notices = vad.cut_loops((segment(0, " Hello.", -1.0), *looped))
    assert [s.text for s in kept] == [" Hello.", " Thank you for watching."] and kept[1].end == 6.0
    assert len(notices) == 1 and "repeated 6 times" in notices[0]
    kept, notices = vad.cut_loops((segment(0, " I see the sea the sea the sea the sea the sea.", 0.0),))
    assert kept[0].text == " I see the sea." and "repeated over and over" in notices[0]
    from whisper_ui.core.i18n import error_text  # the page says a notice in the reader's language

    assert error_text(notices[0], "ko").startswith("같은 구절이 계속 반복되어") and "the sea" in error_text(notices[0], "ko")
    said_twice = (segment(0, " Thank you.", 0.0), segment(1, " Thank you.", 1.0), segment(2, " Bye.", 2.0))
    assert vad.cut_loops(said_twice) == (said_twice, [])  # speech may repeat itself a little


def test_short_or_uncertain_regions_keep_the_files_language(monkeypatch):
    """Regions of 29 s (en), 28 s (fr, unsure), 28 s (de, sure), 3 s (too short to tell): en, en, de, en."""
    regions = [(0.0, 29.0), (30.0, 58.0), (60.0, 88.0), (90.0, 93.0)]
    monkeypatch.setattr(vad, "detect_speech", lambda audio, parameters=None: vad.Speech(tuple(regions), np.zeros(1)))
    answers = iter([("en", 0.99), ("fr", 0.5), ("de", 0.97)])
    plan = vad.plan(np.zeros(100 * RATE, np.float32), vad=True, language=None, english_only=False,
                    detect=lambda samples: next(answers))
    assert [(run.language, run.regions) for run in plan.runs] == [
        ("en", tuple(regions[:2])), ("de", (regions[2],)), ("en", (regions[3],))]
    assert plan.language == "en" and plan.speech_seconds == 88.0
    # a language given, or an English-only model: one run, no detection
    given = vad.plan(np.zeros(100 * RATE, np.float32), vad=True, language="ko", english_only=False,
                     detect=lambda samples: pytest.fail("detected"))
    assert [(run.language, run.regions) for run in given.runs] == [("ko", tuple(regions))]
    assert plan.follow  # and inside each run, window by window (vad.Follower)
    # without speech detection: one run over every 30-second window, no detection before decoding (each
    # window's decode detects its own, from the encoder output it decodes)
    windows = vad.plan(np.zeros(100 * RATE, np.float32), vad=False, language=None, english_only=False,
                       detect=lambda samples: pytest.fail("detected before decoding"))
    assert [(run.language, run.regions) for run in windows.runs] == [
        (None, ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 100.0)))]
    assert windows.follow and windows.speech_seconds is None and windows.gaps == ()
    # one region: no detection before decoding either
    monkeypatch.setattr(vad, "detect_speech", lambda audio, parameters=None: vad.Speech(((20.0, 80.0),), np.zeros(1)))
    one = vad.plan(np.zeros(100 * RATE, np.float32), vad=True, language=None, english_only=False,
                   detect=lambda samples: pytest.fail("detected before decoding"))
    assert [(run.language, run.regions) for run in one.runs] == [(None, ((20.0, 80.0),))]
    assert one.gaps == ((0.0, 20.0), (80.0, 100.0))  # what detection left out, 10 s or more


def test_the_language_follows_a_confident_window_only():
    """``Follower``: the first window takes what it hears; a later one switches only to a language the model is
    sure of, over 4 s or more of audio; the result's probability is the best one of the language decoded."""
    follow = vad.Follower()
    chosen = [follow.window(*w) for w in [("en", 0.6, 30.0), ("de", 0.7, 30.0), ("de", 0.95, 3.0), ("cy", 0.81, 30.0),
                                          ("en", 0.9, 30.0), ("de", 0.93, 30.0), ("en", 0.5, 30.0), ("de", 0.97, 30.0)]]
    assert chosen == ["en", "en", "en", "cy", "en", "de", "de", "de"]
    assert follow.probability_of("de") == 0.97 and follow.probability_of("en") == 0.9 and follow.probability_of("ko") is None
    started = vad.Follower("ko", 0.9)  # a run that starts in a language the plan found
    assert started.window("ja", 0.79) == "ko" and started.window("ja", 0.8, 10.0) == "ja"
    # less sure, over 10 s or more: only when the language it was in is given half as much or less (detection
    # leans on a window's first seconds: a window of 4 s of English, then Spanish, gave es 64 %, en 31 %)
    mixed = vad.Follower("en", 0.99)
    assert mixed.window("de", 0.52, 4.9, {"de": 0.52, "en": 0.08}) == "en"  # a short tail
    assert mixed.window("de", 0.55, 30.0, {"de": 0.55, "en": 0.1}) == "en"  # not sure enough
    assert mixed.window("de", 0.62, 30.0, {"de": 0.62, "en": 0.35}) == "en"  # the current one too likely
    assert mixed.window("es", 0.64, 30.0, {"es": 0.64, "en": 0.31}) == "es"


def test_gaps_are_the_long_stretches_outside_the_speech():
    assert vad.gaps(((12.0, 20.0), (25.0, 40.0), (55.5, 58.0)), 70.0) == ((0.0, 12.0), (40.0, 55.5), (58.0, 70.0))
    assert vad.gaps(((5.0, 60.0),), 65.0) == ()
    assert vad.gaps((), 30.0) == ((0.0, 30.0),)
    speech = vad.Speech(((0.0, 1.0),), np.array([0.9, 0.9, 0.1, 0.7] * 10))
    assert speech.share(0.0, 4 * vad.FRAME / RATE) == 0.75 and speech.share(100.0, 101.0) == 0.0


def test_silero_probabilities_are_chunked_by_faster_whispers_own_rules(speech, tmp_path, monkeypatch):
    """``_speech_chunks`` chunks probabilities with faster-whisper's own rules: on one forward pass, the same
    chunks as ``get_speech_timestamps`` (which runs the model itself), on speech between noise; the app's
    regions are those rules over the larger of its forward pieces and its backward pass."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

    monkeypatch.setattr(vad, "_cores", lambda: 1)

    pcm = subprocess.run(["ffmpeg", "-nostdin", "-i", str(noise_around(speech.medium, tmp_path, seconds=5)), "-f",
                          "s16le", "-ac", "1", "-ar", str(RATE), "-"], check=True, capture_output=True).stdout
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    options = VadOptions(**vars(vad.VadParameters()))
    probabilities = np.asarray(get_vad_model()(np.pad(audio, (0, vad.FRAME - len(audio) % vad.FRAME)))).ravel()
    ours = vad._speech_chunks(probabilities, len(audio), options)
    assert ours == get_speech_timestamps(audio, options) and len(ours) >= 1
    merged = vad._probabilities(get_vad_model(), np.pad(audio, (0, vad.FRAME - len(audio) % vad.FRAME)))
    both = vad._speech_chunks(merged, len(audio), options)
    assert vad.speech_regions(audio) == [(c["start"] / RATE, c["end"] / RATE) for c in both]
    # the forward pieces and the backward pass only add speech: each frame is at least as likely as in one pass
    assert (merged >= probabilities - 0.02).mean() > 0.99


def test_long_audio_is_detected_in_pieces_that_do_not_depend_on_the_cores(speech, tmp_path, monkeypatch):
    """Silero forward in 8 s pieces and backward side by side (``_probabilities``): the same regions on one
    core as on six, and the speech found where it is (between 15 s of noise on each side)."""
    pcm = subprocess.run(["ffmpeg", "-nostdin", "-i", str(noise_around(speech.long, tmp_path, seconds=15)), "-f",
                          "s16le", "-ac", "1", "-ar", str(RATE), "-"], check=True, capture_output=True).stdout
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    assert len(audio) // vad.FRAME >= 10 * vad.PIECE_FRAMES  # ten pieces or more
    monkeypatch.setattr(vad, "_cores", lambda: 6)
    six = vad.detect_speech(audio)
    monkeypatch.setattr(vad, "_cores", lambda: 1)
    one = vad.detect_speech(audio)
    assert six.regions == one.regions and np.array_equal(six.probabilities, one.probabilities)
    assert 14.0 <= one.regions[0][0] <= 15.0 and len(audio) / RATE - 16.0 <= one.regions[-1][1] <= len(audio) / RATE - 14.5


def test_joined_speech_times_are_mapped_back_to_the_recording():
    """``restore`` is faster-whisper's ``restore_speech_timestamps``: a word keeps the chunk its middle is in."""
    from whisper_ui.core.transcription import Word

    audio = np.arange(10 * RATE, dtype=np.float32)
    joined, chunks = vad.join(audio, ((1.0, 3.0), (6.0, 7.5)))
    assert np.array_equal(joined, np.concatenate([audio[RATE:3 * RATE], audio[6 * RATE:int(7.5 * RATE)]]))
    plain = Segment(0, 0.5, 3.2, " a b", ())  # 0.5 s into the first chunk, to 1.2 s into the second
    worded = Segment(1, 0.0, 0.0, " c d", (Word(1.8, 1.95, " c", 0.9), Word(1.97, 2.4, " d", 0.9)))
    restored = vad.restore([plain, worded], chunks)
    assert (restored[0].start, restored[0].end) == (1.5, 7.2)
    assert [(w.start, w.end) for w in restored[1].words] == [(2.8, 2.95), (5.97, 6.4)]
    assert (restored[1].start, restored[1].end) == (2.8, 6.4)
    assert vad.whole_file(((0.4, 9.0),), 10 * RATE) and not vad.whole_file(((2.5, 10.0),), 10 * RATE)
    assert not vad.whole_file(((0.0, 4.0), (6.0, 10.0)), 10 * RATE)


class ScriptedModel(LoadedModel):
    """A loaded model whose decode says what it is told (the app's ``LoadedModel.transcribe`` around it,
    with real speech detection): for the plumbing of what happens after decoding."""

    name, device, fp16, english_only, engine = "scripted", "cpu", False, True, "scripted"

    def __init__(self, said: list[Segment]):
        self.said = said

    def decode(self, audio, options, task, language, clips, cancel, report=None, follow=None):
        return list(self.said)

    def unload(self) -> None:
        pass


def test_a_stock_phrase_over_noise_is_cut_and_the_same_words_said_are_kept(speech, tmp_path):
    """"Thanks for watching!" where speech detection hears only noise is cut, with a notice in the reader's
    language; said over the speech, it stays; the speech's own segment is untouched."""
    from whisper_ui.core.i18n import error_text

    audio = whisper.load_audio(str(noise_around(speech.medium, tmp_path, seconds=12)))
    duration = len(audio) / RATE
    said = [Segment(0, 12.5, 20.0, " My name is Peter and I live in London."),
            Segment(1, duration - 6.0, duration - 2.0, " Thanks for watching!"),
            Segment(2, 13.0, 16.0, " Thank you for watching.")]  # over the speech: a person said it
    result = ScriptedModel(said).transcribe(audio, TranscribeOptions(vad=False))
    assert [s.text for s in result.segments] == [" My name is Peter and I live in London.", " Thank you for watching."]
    assert [s.id for s in result.segments] == [0, 1]
    assert len(result.notices) == 1 and "Thanks for watching!" in result.notices[0]
    korean = error_text(result.notices[0], "ko")
    assert "Thanks for watching!" in korean and korean != result.notices[0]
    assert "Thanks for watching" not in result.text

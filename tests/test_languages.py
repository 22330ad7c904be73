"""The language followed window by window on real models (``base``) and real recordings (pytest-audioeval's,
with espeak-ng sentences to make them long: ``bench/recordings.py``): a switch without a pause is followed
within one window, each part written in its own language (translate: in English), and one-language audio
never flip-flops. faster-whisper runs every case (seconds each); openai-whisper, ten times slower on this
CPU, the switch and one language, greedy."""

from __future__ import annotations

import pytest
import whisper

from bench import recordings
from whisper_ui.core.transcription import TranscribeOptions
from whisper_ui.runtime.manager import ModelManager

from .conftest import make_engine

WINDOW = 30.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(scope="module")
def managers(models_dir):
    made: dict[str, ModelManager] = {}

    def get(engine: str) -> ModelManager:
        for name in list(made):  # one model in memory at a time
            if name != engine:
                made.pop(name).close()
        if engine not in made:
            made[engine] = ModelManager(make_engine(engine, models_dir), "base", "cpu")
        return made[engine]

    yield get
    for manager in made.values():
        manager.close()


def tokens(text: str, language: str) -> set[str]:
    return set(recordings.tokens(text, language))


def share_of(reference: str, text: str, language: str) -> float:
    """The share of the reference's distinct words that the text has."""
    wanted = tokens(reference, language)
    return len(wanted & tokens(text, language)) / len(wanted)


@pytest.mark.parametrize("engine, beam", [("faster-whisper", 5), ("openai-whisper", 1)])
def test_a_switch_without_a_pause_is_followed_within_one_window(engine, beam, folder, managers):
    recording = recordings.switch("en", "es", 0.0, folder=folder)
    (_, _, switch), (_, _, end) = recording.languages
    result = managers(engine).transcribe(whisper.load_audio(str(recording.path)),
                                         TranscribeOptions(vad=False, beam_size=beam))
    told = [(round(s.start, 1), s.language, s.text) for s in result.segments]
    assert {s.language for s in result.segments} == {"en", "es"}, told
    # English up to the window that holds the switch; Spanish from the window after it on
    assert all(s.language == "en" for s in result.segments if s.end <= switch - WINDOW or s.start < 5), told
    assert all(s.language == "es" for s in result.segments if s.start >= switch + WINDOW), told
    # each part written in its own language: most of the English words are there, and most of the Spanish ones
    # (the window that holds the switch is decoded in one language: its other part may come translated, either
    # way: openai-whisper greedy wrote the last 9 s of English in Spanish, faster-whisper the first 6 s of
    # Spanish in English)
    english, spanish = recording.part_texts
    assert share_of(english, result.text, "en") >= 0.65, told
    assert share_of(spanish, result.text, "es") >= 0.5, told
    assert dict(result.languages).keys() == {"en", "es"}


def test_a_switch_is_translated_part_by_part(folder, managers):
    """translate: each part in English; the Spanish part is not left in Spanish, nor dropped."""
    recording = recordings.switch("en", "es", 0.0, folder=folder)
    (_, _, switch), _ = recording.languages
    result = managers("faster-whisper").transcribe(whisper.load_audio(str(recording.path)),
                                                   TranscribeOptions(vad=False, task="translate"))
    told = [(round(s.start, 1), s.language, s.text) for s in result.segments]
    late = " ".join(s.text for s in result.segments if s.start >= switch + WINDOW)
    assert late.strip() and {s.language for s in result.segments if s.start >= switch + WINDOW} == {"es"}, told
    assert share_of(recording.part_texts[1], late, "es") < 0.2, told  # not Spanish
    assert len(tokens(late, "en") & {"the", "a", "and", "of", "to", "in", "we", "is", "my"}) >= 2, told  # English


# with detection on, one region: the same windows (the language is not checked region by region), so once
ONE_LANGUAGE = [*(("faster-whisper", language, False) for language in ("en", "es", "fr", "de")), ("faster-whisper", "de", True)]


@pytest.mark.parametrize("engine, language, vad", [*ONE_LANGUAGE, ("openai-whisper", "es", False)])
def test_one_language_audio_never_flip_flops(engine, language, vad, folder, managers):
    """A minute in one language (3 windows; the last one short), detection off and on: every segment in it."""
    recording = recordings.monolingual(language, 60.0, folder=folder)
    options = TranscribeOptions(vad=vad, beam_size=5 if engine == "faster-whisper" else 1)
    result = managers(engine).transcribe(whisper.load_audio(str(recording.path)), options)
    assert result.segments and {s.language for s in result.segments} == {language}, [
        (round(s.start), s.language, s.text) for s in result.segments]
    assert result.language == language and result.languages == ((language, 1.0),)

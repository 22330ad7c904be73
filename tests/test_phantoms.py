"""Phantom closing phrases: found however Whisper punctuates them, never in ordinary sentences, cut only
where speech detection heard no speech, with a notice the page can say in Korean. No model: fast."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from whisper_ui.core.i18n import error_text
from whisper_ui.core.transcription import Segment, whisper_submodule
from whisper_ui.engines.phantoms import PHANTOM_MAX_SPEECH_SHARE, PHRASES, cut_phantoms, is_phantom

EVERY_PHRASE = [(language, phrase) for language, phrases in PHRASES.items() for phrase in phrases]


def spellings(text: str) -> list[str]:
    """How Whisper (or a person) may write the same line: its own leading space, another case,
    no punctuation, other punctuation, full-width marks, spaces doubled."""
    bare = "".join(c for c in text if c.isalnum() or c.isspace())
    return [f" {text}", text.upper(), text.lower(), bare, f"«{bare}…»", f"{bare}!!", text.replace("!", "！"),
            "  ".join(text.split()), f"{bare.strip()}."]


@pytest.mark.parametrize("language, phrase", EVERY_PHRASE, ids=[f"{lang}-{p.text[:24]}" for lang, p in EVERY_PHRASE])
def test_every_phrase_is_found_however_it_is_punctuated(language, phrase):
    for text in spellings(phrase.text):
        assert is_phantom(text, language), text
        assert is_phantom(text, None), text


def test_a_phrase_of_any_language_counts_whatever_the_segments_language():
    # Whisper writes them in other languages than the audio's (amicalhq/amical#71)
    assert is_phantom("ご視聴ありがとうございました", "en")
    assert is_phantom(" Thanks for watching!", "ko")
    assert is_phantom("시청해 주셔서 감사합니다", "ja")  # spaced or not, the same Korean


@pytest.mark.parametrize("text", [
    "Thanks for watching the kids yesterday.",
    "I said thanks for watching, and she laughed.",
    "Thank you.",
    "Please subscribe to our newsletter instead.",
    "See you in the next video, she said, and left.",
    "The Amara.org community made subtitles for it.",
    "시청해주셔서 감사합니다라고 말했어요",
    "오늘 MBC 뉴스 봤어?",
    "ありがとうございました",
    "Продолжение следует за рекламой",
    "Untertitel im Auftrag des ZDF gibt es seit 2020",
    "",
    "  ...  ",
])
def test_ordinary_sentences_with_the_words_are_not_phantoms(text):
    assert not is_phantom(text, None)


@pytest.mark.parametrize("text", [
    " Thanks for watching! Please subscribe to our channel!",
    " Thank you for watching! Thank you for watching! Thank you for watching!",
    "Thanks for watching. Subtitles by the Amara.org community",
    "ご視聴ありがとうございました Thanks for watching!",
    "시청해주셔서 감사합니다. MBC 뉴스 이덕영입니다.",
])
def test_phrases_one_after_another_are_a_phantom(text):
    assert is_phantom(text, None)
    assert not is_phantom(f"{text} And now, the weather.", None)


def phantom_and_speech() -> tuple[Segment, ...]:
    return (Segment(0, 1.0, 4.0, " Hello, and welcome.", language="en"),
            Segment(1, 62.0, 65.5, " Thanks for watching!", language="en"),
            Segment(2, 70.0, 73.0, " Goodbye.", language="en"))


def test_a_phantom_over_no_speech_is_cut_with_a_notice_and_the_rest_renumbered():
    asked: list[tuple[float, float]] = []

    def speech_share(start: float, end: float) -> float:
        asked.append((start, end))
        return 0.0

    kept, notices = cut_phantoms(phantom_and_speech(), speech_share)
    assert [(s.id, s.text) for s in kept] == [(0, " Hello, and welcome."), (1, " Goodbye.")]
    assert kept[1].start == 70.0 and kept[1].language == "en"
    assert asked == [(62.0, 65.5)]  # only a phantom's time is asked about
    assert notices == ["“Thanks for watching!” at 01:02–01:05 was cut: Whisper often invents this phrase where "
                       "there is no speech (speech detection found little or none there)."]


def test_the_same_phrase_over_speech_is_kept():
    segments = phantom_and_speech()
    assert cut_phantoms(segments, lambda start, end: 0.9) == (segments, [])
    assert cut_phantoms(segments, lambda start, end: PHANTOM_MAX_SPEECH_SHARE) == (segments, [])


def test_the_notice_is_said_in_korean_on_the_page():
    kept, notices = cut_phantoms((Segment(0, 3605.0, 3609.0, " 시청해주셔서 감사합니다!", language="ko"),), lambda s, e: 0.1)
    assert kept == ()
    korean = error_text(notices[0], "ko")
    assert korean.startswith("60:05–60:09의 “시청해주셔서 감사합니다!”을(를) 지웠습니다.") and "말소리" in korean
    assert error_text(notices[0], "en") == notices[0]  # English: the notice itself


def test_every_phrase_has_an_https_source_and_a_language_whisper_knows():
    languages = whisper_submodule("tokenizer").LANGUAGES
    assert set(PHRASES) >= {"en", "ko", "de", "fr", "es", "it", "pt", "pl", "ja", "zh", "nl", "ru"}
    for language, phrase in EVERY_PHRASE:
        assert language in languages, language
        source = urlparse(phrase.source)
        assert source.scheme == "https" and source.netloc and source.path.strip("/"), phrase

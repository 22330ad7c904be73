"""Phantom closing phrases: stock lines Whisper writes where nobody speaks.

Whisper learned from subtitled videos, and the subtitles of silence, music and credits were
"Thanks for watching!", "Subtitles by the Amara.org community", "시청해주셔서 감사합니다",
"Untertitel im Auftrag des ZDF, 2020"... Over silence, noise or music it writes them again, as
if they had been said. ``PHRASES`` holds such lines per language (ISO 639-1), each with the
public report (issue, discussion) that shows Whisper inventing it: nothing here is guessed.

A segment is cut only when its whole text is such a phrase (or several of them in a row) *and*
speech detection heard (almost) no speech under it: a person who really says "thanks for
watching" keeps the line, and an ordinary sentence that contains the words is never touched.

The phrases of every language are checked, whatever the segment's language: Whisper writes
them in another language than the audio's (Japanese ones where nobody spoke Japanese,
https://github.com/amicalhq/amical/issues/71; a Korean news sign-off for a non-Korean user,
https://github.com/przemek-nowicki/meta-lens-ai/issues/26), and a phrase of this list never
happens to be the whole of a real segment in another language.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from ..core.errors import keyed_text
from ..core.transcription import Segment

# A phantom is cut when speech detection judged less than this share of its time speech. A real
# "thanks for watching" is mostly speech; a phantom over silence is ~0, and its times may reach a
# little into the speech beside it (Whisper's timestamps over silence are loose).
PHANTOM_MAX_SPEECH_SHARE = 0.25


@dataclass(frozen=True)
class Phrase:
    text: str
    source: str  # a public report of Whisper writing it over silence, noise or music


_WHISPER_928 = "https://github.com/openai/whisper/discussions/928"  # "Hallucination on audio with no speech"

PHRASES: dict[str, tuple[Phrase, ...]] = {
    "en": (
        Phrase("Thanks for watching!", "https://github.com/McCloudS/subgen/issues/21"),
        Phrase("Thank you for watching!", "https://github.com/woheller69/whisperIME/issues/57"),
        Phrase("Please subscribe to our channel!", "https://github.com/silverstein/minutes/issues/242"),
        Phrase("Subtitles by the Amara.org community", "https://github.com/silverstein/minutes/issues/242"),
        Phrase("See you in the next video", "https://github.com/adamcohenhillel/ADeus/issues/7"),
    ),
    "ko": (
        Phrase("시청해주셔서 감사합니다!", "https://github.com/PocketShell-io/pocketshell/issues/452"),
        Phrase("MBC 뉴스 이덕영입니다", "https://github.com/przemek-nowicki/meta-lens-ai/issues/26"),
    ),
    "de": (
        Phrase("Untertitel im Auftrag des ZDF, 2020", "https://github.com/SYSTRAN/faster-whisper/issues/949"),
        Phrase("Untertitelung des ZDF, 2020", "https://github.com/thewh1teagle/vibe/issues/794"),
        Phrase("Untertitel der Amara.org-Community", _WHISPER_928),
    ),
    "fr": (
        Phrase("Sous-titres réalisés par la communauté d'Amara.org", "https://github.com/ggml-org/whisper.cpp/issues/2660"),
        Phrase("Sous-titres réalisés para la communauté d'Amara.org", _WHISPER_928),
    ),
    "es": (
        Phrase("¡Suscríbete al canal!", "https://github.com/thewh1teagle/vibe/issues/1383"),
        Phrase("Subtítulos realizados por la comunidad de Amara.org", _WHISPER_928),
    ),
    "it": (
        Phrase("Sottotitoli creati dalla comunità Amara.org", "https://github.com/Purfview/whisper-standalone-win/issues/144"),
        Phrase("Sottotitoli e revisione a cura di QTSS", f"{_WHISPER_928}#discussioncomment-5372187"),
        Phrase("Sottotitoli a cura di QTSS", f"{_WHISPER_928}#discussioncomment-5372187"),
    ),
    "pt": (
        Phrase("Legendas pela comunidade Amara.org", _WHISPER_928),
    ),
    "pl": (
        Phrase("Napisy stworzone przez społeczność Amara.org", _WHISPER_928),
        Phrase("Napisy wykonane przez społeczność Amara.org", _WHISPER_928),
    ),
    "ja": (
        Phrase("ご視聴ありがとうございました", "https://github.com/amicalhq/amical/issues/71"),
        Phrase("次の動画でお会いしましょう", "https://github.com/Vexa-ai/vexa/issues/617"),
    ),
    "zh": (
        Phrase("字幕由 Amara.org 社群提供", "https://github.com/SYSTRAN/faster-whisper/issues/267"),
        Phrase("字幕由Amara.org社区提供", _WHISPER_928),
        Phrase("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", _WHISPER_928),
    ),
    "nl": (
        Phrase("Ondertitels ingediend door de Amara.org gemeenschap", "https://github.com/EdF2021/ithaka/issues/96"),
    ),
    "ru": (
        Phrase("Продолжение следует...", "https://github.com/OpenWhispr/openwhispr/issues/1458"),
        Phrase("Редактор субтитров А.Семкин Корректор А.Егорова", "https://github.com/ggml-org/whisper.cpp/pull/3763"),
        Phrase("Редактор субтитров А.Синецкая Корректор А.Егорова", _WHISPER_928),
    ),
    "tr": (
        Phrase("Abone olmayı unutmayın", "https://github.com/Vexa-ai/vexa/issues/617"),
    ),
    "el": (
        Phrase("Υπότιτλοι AUTHORWAVE", "https://github.com/Purfview/whisper-standalone-win/issues/321"),
    ),
    "vi": (
        Phrase("Hãy subscribe cho kênh Ghiền Mì Gõ Để không bỏ lỡ những video hấp dẫn",
               "https://github.com/blogminhquy/javis-os/pull/321"),
    ),
}


def normalized(text: str) -> str:
    """``text`` case-folded and NFKC-normalised, with punctuation, symbols, spaces and controls taken
    out: "Thanks for watching!" and "thanks  for watching…" read the same, and so do the spaced
    and unspaced ways Korean or Chinese is written. Turkish ı and İ fold to i, as "I" and "i" do
    ("ABONE OLMAYI UNUTMAYIN" is "Abone olmayı unutmayın")."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("i\u0307", "i").replace("ı", "i")
    return "".join(c for c in folded if unicodedata.category(c)[0] not in "PSZC")


@cache
def _normalized_phrases() -> frozenset[str]:
    return frozenset(normalized(p.text) for phrases in PHRASES.values() for p in phrases)


def is_phantom(text: str, language: str | None = None) -> bool:
    """Whether the whole of ``text`` is one of ``PHRASES`` or several of them in a row ("Thanks for
    watching! Please subscribe to our channel!"), punctuation, case and spacing aside. ``language``
    (the segment's) does not narrow the search: every language's phrases are checked, since Whisper
    writes them in other languages than the audio's (see the module's docstring)."""
    del language  # kept for callers: the answer is the same whatever it is
    return _phrases_end_to_end(normalized(text))


def _phrases_end_to_end(rest: str) -> bool:
    """Whether ``rest`` (normalised) splits into known phrases with nothing left over."""
    phrases = _normalized_phrases()
    reachable = [True] + [False] * len(rest)  # reachable[i]: rest[:i] is phrases end to end
    for i in range(len(rest)):
        if reachable[i]:
            for phrase in phrases:
                if rest.startswith(phrase, i):
                    reachable[i + len(phrase)] = True
    return bool(rest) and reachable[-1]


def cut_phantoms(segments: tuple[Segment, ...], speech_share: Callable[[float, float], float]
                 ) -> tuple[tuple[Segment, ...], list[str]]:
    """Cut the segments that are phantom phrases over (almost) no speech: ``speech_share(start, end)``
    (0..1, from speech detection) below ``PHANTOM_MAX_SPEECH_SHARE``. Returns the segments kept,
    numbered again, and a notice for each cut."""
    kept: list[Segment] = []
    notices: list[str] = []
    for segment in segments:
        if is_phantom(segment.text, segment.language) and speech_share(segment.start, segment.end) < PHANTOM_MAX_SPEECH_SHARE:
            notices.append(_notice(segment))
        else:
            kept.append(segment)
    return tuple(replace(s, id=i) for i, s in enumerate(kept)), notices


def _notice(segment: Segment) -> str:
    phrase, start, end = segment.text.strip()[:60], _clock(segment.start), _clock(segment.end)
    return keyed_text(f"“{phrase}” at {start}–{end} was cut: Whisper often invents this phrase where there is no "
                      "speech (speech detection found little or none there).", "notice_phantom",
                      phrase=phrase, start=start, end=end)


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"

"""Varied English speech with a known text, and the word error rate against it.

``bench/engines.py`` compares two engines' words, so its speech must not be
one sentence looped (a looped sentence trips gzip's compression-ratio check
and the temperature fallback, which no real recording does). Forty different
sentences of ordinary prose (news, instructions, a story, a phone message)
are spoken one by one with espeak-ng and joined by sox with short pauses:
the long clip is all of them (about 3.3 minutes), the short clip the first
three (about 10 s). Numbers in the text are written as spoken words, so the
reference needs no normalising beyond case and punctuation.

The clips are cached in ``bench/.audio`` under a name that carries a hash of
the text: editing a sentence makes new clips.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import AUDIO

SENTENCES = (
    # the short clip: the first three
    "The city council met on Tuesday evening to discuss the new bus routes.",
    "Most residents agreed that the buses should run more often in the morning.",
    "A final decision is expected at the end of next month.",
    # news
    "Heavy rain caused flooding in several villages along the river last weekend.",
    "Emergency teams worked through the night to move families to higher ground.",
    "The weather service says the water level should fall slowly over the coming days.",
    "Meanwhile, farmers in the south are worried about a long dry summer.",
    "Prices for fresh vegetables have already risen in many local markets.",
    "The government has promised to help small farms with the cost of water.",
    "In sports, the home team won its third match in a row on Saturday.",
    "Their young goalkeeper stopped two difficult shots in the second half.",
    # instructions
    "To make a simple loaf of bread, you will need flour, water, salt and yeast.",
    "Mix the dry ingredients in a large bowl before you add any water.",
    "Pour in the warm water slowly and stir until a soft dough forms.",
    "Knead the dough on a clean table for about ten minutes.",
    "Cover the bowl with a towel and leave it in a warm place for one hour.",
    "When the dough has doubled in size, shape it gently into a round loaf.",
    "Bake it in a hot oven for forty minutes, until the crust is golden brown.",
    "Let the bread cool on a rack before you cut the first slice.",
    # a story
    "Once upon a time, an old fisherman lived in a small house by the sea.",
    "Every morning he rowed his wooden boat out past the rocks to cast his nets.",
    "One day the sea was calm and quiet, and the nets came back completely empty.",
    "He was about to turn home when he noticed something shining in the water.",
    "It was a glass bottle with a folded letter inside.",
    "The letter had been written by a girl who lived on an island far to the north.",
    "She asked whoever found it to write back and tell her about their life.",
    "The fisherman could not write very well, but his grandson offered to help him.",
    "Together they wrote a long reply about the village, the boats and the weather.",
    "Many months later, a parcel arrived with a photograph of the girl and her family.",
    "From that day on, the two families sent each other letters every spring.",
    # a phone message and everyday speech
    "Hello, this is a message for the people who live at number twelve.",
    "Your parcel could not be delivered because nobody was at home this afternoon.",
    "You can collect it from the post office after three o'clock tomorrow.",
    "Please bring a photo card and the small note we left in your letter box.",
    "If you would like us to try again, call the number on the back of the note.",
    # a short talk
    "Learning a new language takes time, patience and a little courage.",
    "Try to read something short every day, even if it is only a few lines.",
    "Listening to the radio helps you hear how people really speak.",
    "Do not be afraid of making mistakes, because everyone makes them at the start.",
    "After a few months you will be surprised by how much you understand.",
)

SHORT_SENTENCES = 3
PAUSE_SECONDS = 0.4
ESPEAK_RATE = 160  # words a minute


@dataclass(frozen=True)
class Clip:
    path: Path
    text: str  # what was spoken


@dataclass(frozen=True)
class Corpus:
    short: Clip  # about 10 s
    long: Clip  # about 3.3 minutes, every sentence once


def ensure_corpus(folder: Path = AUDIO) -> Corpus:
    """The short and long clips, spoken and joined once, then cached."""
    short = SENTENCES[:SHORT_SENTENCES]
    return Corpus(speak(short, folder, "corpus-short"), speak(SENTENCES, folder, "corpus-long"))


def speak(sentences: tuple[str, ...], folder: Path, stem: str) -> Clip:
    text = " ".join(sentences)
    key = hashlib.sha256(f"{ESPEAK_RATE} {PAUSE_SECONDS} {text}".encode()).hexdigest()[:10]
    path = folder / f"{stem}-{key}.wav"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            parts = []
            for i, sentence in enumerate(sentences):
                part = Path(tmp) / f"{i:03d}.wav"
                subprocess.run(["espeak-ng", "-v", "en", "-s", str(ESPEAK_RATE), "-w", str(part), sentence],
                               check=True, capture_output=True)
                parts.append(part)
            rate = subprocess.run(["soxi", "-r", str(parts[0])], check=True, capture_output=True,
                                  text=True).stdout.strip()
            pause = Path(tmp) / "pause.wav"
            subprocess.run(["sox", "-n", "-r", rate, "-c", "1", "-b", "16", str(pause), "trim", "0",
                            str(PAUSE_SECONDS)], check=True, capture_output=True)
            joined = [str(p) for part in parts for p in (part, pause)][:-1]
            partial = Path(tmp) / "joined.wav"
            subprocess.run(["sox", *joined, str(partial)], check=True, capture_output=True)
            partial.replace(path)  # whole or not at all: a second run never finds half a clip
    return Clip(path, text)


# --- word error rate ------------------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> list[str]:
    """``342`` -> three hundred forty two (a hypothesis may write digits where the text has words)."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            rest = n % size
            return number_words(n // size) + [name] + (number_words(rest) if rest else [])
    raise AssertionError(n)


def normalise(text: str) -> list[str]:
    """Lower case, no punctuation, digits as words.

    >>> normalise("At 3 o'clock, 1,250 people left -- well-known ones.")
    ['at', 'three', 'oclock', 'one', 'thousand', 'two', 'hundred', 'fifty', 'people', 'left', 'well', 'known', 'ones']
    """
    text = re.sub(r"(?<=\d),(?=\d)", "", text.lower()).replace("'", "").replace("\u2019", "")
    words: list[str] = []
    for token in re.findall(r"[a-z]+|\d+", text):
        words.extend(number_words(int(token)) if token.isdigit() else [token])
    return words


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions, deletions and insertions: the word-level Levenshtein distance."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference``, after ``normalise``.

    >>> wer("The cat sat on the mat.", "the cat sat on a mat")  # one substitution in six words
    0.16666666666666666
    >>> wer("Ten green bottles", "10 green bottles, hanging")  # one insertion in three
    0.3333333333333333
    """
    ref = normalise(reference)
    return word_errors(ref, normalise(hypothesis)) / len(ref) if ref else float("nan")


def check_wer() -> None:
    """The docstring examples above, run by ``bench.engines`` before it measures (tiny asserts on known inputs)."""
    import doctest
    import sys

    failed, _ = doctest.testmod(sys.modules[__name__])
    assert failed == 0, "bench/corpus.py: the word error rate gives wrong answers on known inputs"
    assert word_errors(["a", "b", "c"], ["a", "c"]) == 1 and word_errors([], ["x"]) == 1
    assert number_words(1_000_007) == ["one", "million", "seven"]

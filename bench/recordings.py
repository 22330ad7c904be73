"""Speech with a known text for accuracy checks: real recordings after noise, one language at length, a switch.

Three builders write a 16 kHz mono WAV into ``bench/.audio/recordings`` (gitignored; the name
carries a hash of the recipe, so a changed recipe makes a new file) and return a ``Recording``:
what was said, where each language is, and where the first word begins.

- ``after_noise(colour, lead_seconds, level_db)``: ``lead_seconds`` of steady noise (sox's
  ``brownnoise``, ``pinknoise``, ``whitenoise``, or ``room``: low-passed brown noise with a
  50 Hz hum and its harmonics) at ``level_db`` dBFS RMS, then real speech (pytest-audioeval's
  recordings of that language, joined with 0.3 s pauses), **the noise going on under the speech
  at the same level** and the speech only ``snr_db`` (8) dB above it. Speech that starts softly
  in steady noise is what a speech detector misses; noise that stops where speech starts is easy.
- ``monolingual(language, seconds=60)``: one language for at least ``seconds`` (two Whisper
  windows): the language's audioeval recordings, then espeak-ng sentences in that language
  (twelve different ones per language, forty for English: no sentence twice in a row, since
  repeated text trips Whisper's compression-ratio check), 0.4 s between sentences, a faint
  noise floor (-60 dBFS) so that no stretch is digital silence. German and Korean have no
  audioeval recordings: espeak-ng only.
- ``switch(first, second, pause_seconds)``: ``monolingual(first, ~35 s)``, ``pause_seconds`` more
  of the faint floor (on top of the usual 0.4 s between sentences), ``monolingual(second, ~35 s)``.

The audioeval recordings (``pytest-audioeval==0.1.3``, MIT: ``pytest_audioeval/samples/audio``)
are 1-4.5 s each; their counting clips are left out (Whisper writes digits, and English
normalisation turns "one two three" and "1, 2, 3" into different strings). Every spoken piece is
trimmed to its voice (±50 ms) and brought to one active level (the RMS of its 10 ms frames within
35 dB of its loudest), so the times in ``languages`` and ``speech_start`` are exact.

``wer(reference, hypothesis, language)`` normalises both sides as Whisper's own evaluation does
(``whisper.normalizers``: ``EnglishTextNormalizer`` for English, ``BasicTextNormalizer``
otherwise; both offline) and gives the word error rate, or the character error rate for Japanese
and Chinese. ``words_lost_at_onset(recording, hypothesis)`` is how many reference words come
before the first one the hypothesis got right, in one optimal word alignment (ties broken
towards matching early): words missed at the start, whatever the hypothesis invented before them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.common import AUDIO, package_dir

SAMPLE_RATE = 16000
FOLDER = AUDIO / "recordings"
RECIPE_VERSION = 1  # part of every hash: bump it when the building below changes

COLOURS = ("brownnoise", "pinknoise", "whitenoise", "room")
LEADS = (5, 10, 20, 40)
LEVELS = (-34, -40)
SWITCHES = (("en", "es"), ("en", "de"), ("ko", "en"))
PAUSES = (0.0, 2.5)
MONOLINGUAL = ("en", "es", "fr", "de", "ko")

SPEECH_DBFS = -24.0  # active level of the speech in monolingual and switch recordings
FLOOR_DBFS = -60.0  # their faint noise floor (pink)
SNR_DB = 8.0  # after_noise: speech active level above the noise RMS
CLIP_PAUSE = 0.3  # seconds between the audioeval clips (after_noise)
SENTENCE_PAUSE = 0.4  # seconds between sentences (monolingual, switch)
EDGE = 0.2  # seconds of floor before the first and after the last sentence of a part
TRIM_MARGIN = 0.05  # kept around each piece's voice
ACTIVE_DB = 35.0  # a frame is voice when within this many dB of the loudest frame
CHARACTER_LANGUAGES = ("ja", "zh")  # scored by characters: no spaces between words

# audioeval's clips of numbers said one after the other: left out (see the docstring)
COUNTING = frozenset({"counting", "conteo", "comptage", "conteggio", "contagem", "liczenie", "ginti", "kazoeru",
                      "jishu"})
ESPEAK_VOICE = {"en": "en-us", "es": "es", "fr": "fr", "de": "de", "ko": "ko", "it": "it", "pt": "pt", "pl": "pl"}
ESPEAK_RATE = 150  # words a minute

# Ordinary sentences, no numbers (a hypothesis writes digits), none repeated in a row.
SENTENCES: dict[str, tuple[str, ...]] = {
    "es": (
        "El tren de la mañana llegó tarde porque había mucha niebla en la sierra.",
        "Mi hermana trabaja en una biblioteca pequeña cerca del mercado central.",
        "Los domingos preparamos una paella grande y comemos juntos en el jardín.",
        "El médico me recomendó caminar todos los días y beber más agua.",
        "Esta tarde vamos a visitar el museo de arte moderno con los niños.",
        "La tienda de la esquina cierra temprano durante las vacaciones de verano.",
        "Cuando era joven, mi abuelo viajaba por todo el país en bicicleta.",
        "Necesitamos comprar pan, leche, huevos y un poco de fruta fresca.",
        "El profesor explicó la lección con mucha paciencia y buen humor.",
        "Por la noche se oye el ruido del mar desde nuestra ventana.",
        "Si llueve mañana, la reunión será en la sala grande del ayuntamiento.",
        "Me gusta leer novelas de misterio antes de dormir.",
    ),
    "fr": (
        "Le train du matin est arrivé en retard à cause du brouillard.",
        "Ma sœur travaille dans une petite bibliothèque près du marché.",
        "Le dimanche, nous déjeunons ensemble dans le jardin de mes parents.",
        "Le médecin m'a conseillé de marcher tous les jours et de boire plus d'eau.",
        "Cet après-midi, nous allons visiter le musée d'art moderne avec les enfants.",
        "La boulangerie du coin ferme plus tôt pendant les vacances d'été.",
        "Quand il était jeune, mon grand-père voyageait partout à vélo.",
        "Il faut acheter du pain, du lait, des œufs et un peu de fruits frais.",
        "Le professeur a expliqué la leçon avec beaucoup de patience.",
        "La nuit, on entend le bruit de la mer depuis notre fenêtre.",
        "S'il pleut demain, la réunion aura lieu dans la grande salle de la mairie.",
        "J'aime lire des romans policiers avant de m'endormir.",
    ),
    "de": (
        "Der Zug am Morgen kam wegen des dichten Nebels zu spät an.",
        "Meine Schwester arbeitet in einer kleinen Bibliothek in der Nähe des Marktes.",
        "Am Sonntag essen wir gemeinsam im Garten meiner Eltern.",
        "Der Arzt hat mir geraten, jeden Tag spazieren zu gehen und mehr Wasser zu trinken.",
        "Heute Nachmittag besuchen wir mit den Kindern das Museum für moderne Kunst.",
        "Die Bäckerei an der Ecke schließt in den Sommerferien früher.",
        "Als er jung war, ist mein Großvater mit dem Fahrrad durch das ganze Land gefahren.",
        "Wir müssen noch Brot, Milch, Eier und etwas frisches Obst kaufen.",
        "Der Lehrer hat die Aufgabe mit viel Geduld erklärt.",
        "In der Nacht hört man das Rauschen des Meeres durch unser Fenster.",
        "Wenn es morgen regnet, findet das Treffen im großen Saal des Rathauses statt.",
        "Vor dem Schlafengehen lese ich gern einen spannenden Kriminalroman.",
    ),
    "ko": (
        "오늘 아침에는 안개가 많이 끼어서 기차가 늦게 도착했습니다.",
        "제 여동생은 시장 근처에 있는 작은 도서관에서 일합니다.",
        "일요일마다 우리 가족은 정원에서 함께 점심을 먹습니다.",
        "의사 선생님이 매일 걷고 물을 더 많이 마시라고 하셨어요.",
        "오늘 오후에 아이들과 함께 현대 미술관에 갈 거예요.",
        "모퉁이에 있는 빵집은 여름 방학 동안 일찍 문을 닫습니다.",
        "할아버지는 젊었을 때 자전거를 타고 전국을 여행하셨습니다.",
        "우리는 빵과 우유와 계란과 신선한 과일을 사야 합니다.",
        "선생님께서 수업 내용을 아주 친절하게 설명해 주셨습니다.",
        "밤에는 우리 집 창문으로 바다 소리가 들립니다.",
        "내일 비가 오면 회의는 시청의 큰 회의실에서 열립니다.",
        "저는 잠자기 전에 추리 소설 읽는 것을 좋아합니다.",
    ),
}


def sentences(language: str) -> tuple[str, ...]:
    """The espeak-ng sentences of ``language`` (English: ``bench/corpus.py``'s forty)."""
    if language == "en":
        from bench.corpus import SENTENCES as ENGLISH

        return ENGLISH
    return SENTENCES[language]


@dataclass(frozen=True)
class Recording:
    path: Path
    text: str  # the reference: everything said, in order
    languages: tuple[tuple[str, float, float], ...]  # (language, start s, end s) of each part, in order
    speech_start: float  # seconds: where the first word begins
    kind: str  # "after_noise", "monolingual" or "switch"
    name: str = ""  # a short label for tables: "brownnoise 10 s -40 dB en"
    part_texts: tuple[str, ...] = ()  # the reference of each part of ``languages``
    seconds: float = 0.0  # the whole recording

    @property
    def language(self) -> str | None:
        """The one language spoken, or None when there are several."""
        found = {lang for lang, _, _ in self.languages}
        return found.pop() if len(found) == 1 else None

    def part_at(self, seconds: float) -> int:
        """The index of the part that holds ``seconds`` (the nearest one in a pause)."""
        distances = [0.0 if start <= seconds <= end else min(abs(seconds - start), abs(seconds - end))
                     for _, start, end in self.languages]
        return distances.index(min(distances))

    def wer(self, hypothesis: str) -> float:
        """``wer`` against the whole text: in its language, or language-neutral when there are several."""
        return wer(self.text, hypothesis, self.language)


# --- sound --------------------------------------------------------------------------------------


def _db(x: float) -> float:
    return 10 ** (x / 20)


def _frames_db(samples: np.ndarray, frame: int = SAMPLE_RATE // 100) -> np.ndarray:
    n = len(samples) // frame
    frames = samples[: n * frame].reshape(n, frame).astype(np.float64)
    return 10 * np.log10((frames**2).mean(axis=1) + 1e-20)


def active_rms(samples: np.ndarray) -> float:
    """RMS of the 10 ms frames within ``ACTIVE_DB`` of the loudest: the voice's level, pauses left out."""
    levels = _frames_db(samples)
    active = levels[levels > levels.max() - ACTIVE_DB]
    return float(np.sqrt(np.mean(10 ** (active / 10))))


def voice_span(samples: np.ndarray) -> tuple[int, int]:
    """First and last sample of the voice (10 ms frames within ``ACTIVE_DB`` of the loudest)."""
    frame = SAMPLE_RATE // 100
    levels = _frames_db(samples, frame)
    active = np.flatnonzero(levels > levels.max() - ACTIVE_DB)
    return int(active[0]) * frame, int(active[-1] + 1) * frame


def _level(samples: np.ndarray, dbfs: float) -> np.ndarray:
    return (samples * (_db(dbfs) / active_rms(samples))).astype(np.float32)


def _trim(samples: np.ndarray) -> np.ndarray:
    first, last = voice_span(samples)
    margin = int(TRIM_MARGIN * SAMPLE_RATE)
    return samples[max(0, first - margin): last + margin]


def _read(path: Path) -> np.ndarray:
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: {rate} Hz, not {SAMPLE_RATE}")
    return samples


def _sox_to_16k(args: Sequence[str], effects: Sequence[str] = ()) -> np.ndarray:
    """Run sox with ``args`` as its input (a file, or ``-n`` and a ``synth`` after the output),
    mono 16 kHz float, and read the result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.run(["sox", "-R", "-V1", *args[:1], "-r", str(SAMPLE_RATE), "-c", "1", "-e", "floating-point",
                        "-b", "32", str(out), *args[1:], *effects], check=True, capture_output=True)
        return _read(out)


def noise(colour: str, seconds: float, level_db: float) -> np.ndarray:
    """Steady noise at ``level_db`` dBFS RMS: sox's ``brownnoise``/``pinknoise``/``whitenoise``
    (repeatable: ``sox -R``), or ``room``: brown noise low-passed at 1 kHz, high-passed at 30 Hz (a
    ventilated room's rumble) with a 50 Hz hum and three harmonics 8 dB below it."""
    if colour == "room":
        bed = _sox_to_16k(["-n", "synth", f"{seconds:.3f}", "brownnoise"],
                          ("gain", "-12", "highpass", "30", "lowpass", "1000"))
        t = np.arange(len(bed)) / SAMPLE_RATE
        hum = sum(a * np.sin(2 * np.pi * f * t + f) for f, a in ((50, 1.0), (100, 0.5), (150, 0.35), (200, 0.2)))
        bed = bed / np.sqrt(np.mean(bed**2)) + hum / np.sqrt(np.mean(hum**2)) * _db(-8.0)
    elif colour in ("brownnoise", "pinknoise", "whitenoise"):
        bed = _sox_to_16k(["-n", "synth", f"{seconds:.3f}", colour], ("gain", "-12"))
    else:
        raise ValueError(f"unknown noise {colour!r}: one of {', '.join(COLOURS)}")
    bed = bed[: int(round(seconds * SAMPLE_RATE))]
    return (bed * (_db(level_db) / np.sqrt(np.mean(bed.astype(np.float64) ** 2)))).astype(np.float32)


@dataclass(frozen=True)
class Piece:
    samples: np.ndarray  # trimmed to the voice (±50 ms), 16 kHz
    text: str
    language: str
    source: str  # "audioeval:en/hello_world" or "espeak-ng:de"


def audioeval_folder() -> Path:
    return package_dir("pytest_audioeval") / "samples" / "audio"


def audioeval(language: str) -> list[Piece]:
    """The language's pytest-audioeval recordings, counting left out, in name order."""
    folder = audioeval_folder() / language
    if not folder.is_dir():
        return []
    return [Piece(_trim(_read(wav)), wav.with_suffix(".txt").read_text(encoding="utf-8").strip(), language,
                  f"audioeval:{language}/{wav.stem}")
            for wav in sorted(folder.glob("*.wav")) if wav.stem not in COUNTING]


def espeak(text: str, language: str, rate: int = ESPEAK_RATE) -> Piece:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", ESPEAK_VOICE.get(language, language), "-s", str(rate), "-w", str(raw),
                        text], check=True, capture_output=True)
        samples = _sox_to_16k([str(raw)])
    return Piece(_trim(samples), text, language, f"espeak-ng:{language}")


def spoken(language: str, seconds: float) -> list[Piece]:
    """The language's audioeval recordings, then its espeak sentences in turn (again from the first
    when they run out, never the same twice in a row), until ``seconds`` of voice and pauses."""
    pieces = audioeval(language)
    lines = sentences(language)
    i = 0

    def length() -> float:
        return sum(len(p.samples) for p in pieces) / SAMPLE_RATE + SENTENCE_PAUSE * max(0, len(pieces) - 1)

    while length() < seconds:
        pieces.append(espeak(lines[i % len(lines)], language))
        i += 1
    return pieces


# --- building ---------------------------------------------------------------------------------------


def _key(recipe: dict) -> str:
    return hashlib.sha256(json.dumps({"version": RECIPE_VERSION, **recipe}, sort_keys=True,
                                     ensure_ascii=False).encode()).hexdigest()[:10]


def _cached(stem: str, recipe: dict, folder: Path, build) -> Recording:
    """The recording of ``recipe`` from ``folder`` (its WAV and a JSON of its fields), or built now."""
    path = folder / f"{stem}-{_key(recipe)}.wav"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        fields = json.loads(meta.read_text(encoding="utf-8"))
        return Recording(path=path, text=fields["text"], kind=fields["kind"], name=fields["name"],
                         speech_start=fields["speech_start"], seconds=fields["seconds"],
                         languages=tuple(tuple(p) for p in fields["languages"]),
                         part_texts=tuple(fields["part_texts"]))
    import soundfile

    samples, fields = build()
    peak = float(np.max(np.abs(samples)))
    if peak > 0.99:
        raise ValueError(f"{stem}: the mix clips (peak {peak:.2f})")
    folder.mkdir(parents=True, exist_ok=True)
    recording = Recording(path=path, seconds=round(len(samples) / SAMPLE_RATE, 3), **fields)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:  # whole or not at all
        partial = Path(tmp) / path.name
        soundfile.write(str(partial), samples, SAMPLE_RATE, subtype="PCM_16")
        data = {k: v for k, v in asdict(recording).items() if k != "path"}
        data["recipe"] = recipe
        (Path(tmp) / meta.name).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        (Path(tmp) / meta.name).replace(meta)
        partial.replace(path)
    return recording


def _join(pieces: Sequence[Piece], pause: float, edge: float) -> tuple[np.ndarray, float]:
    """The pieces with ``pause`` seconds of zeros between them and ``edge`` before and after; and where
    the first voice begins."""
    gap = np.zeros(int(round(pause * SAMPLE_RATE)), np.float32)
    rim = np.zeros(int(round(edge * SAMPLE_RATE)), np.float32)
    parts = [rim]
    for i, piece in enumerate(pieces):
        parts.extend([gap] if i else [])
        parts.append(piece.samples)
    parts.append(rim)
    first = pieces[0].samples
    return np.concatenate(parts), edge + voice_span(first)[0] / SAMPLE_RATE


def after_noise(colour: str, lead_seconds: float, level_db: float, language: str = "en", snr_db: float = SNR_DB,
                tail_seconds: float = 1.0, folder: Path = FOLDER) -> Recording:
    """``lead_seconds`` of steady ``colour`` noise at ``level_db`` dBFS RMS, then the language's audioeval
    recordings (0.3 s apart) ``snr_db`` above the noise, which goes on under them and ``tail_seconds`` after."""
    recipe = {"kind": "after_noise", "colour": colour, "lead": lead_seconds, "level_db": level_db,
              "language": language, "snr_db": snr_db, "tail": tail_seconds, "clip_pause": CLIP_PAUSE}
    name = f"{colour} {lead_seconds:g} s {level_db:g} dB {language}"

    def build():
        pieces = [Piece(_level(p.samples, level_db + snr_db), p.text, p.language, p.source)
                  for p in audioeval(language)]
        if not pieces:
            raise ValueError(f"pytest-audioeval has no recordings in {language!r}")
        voice, onset = _join(pieces, CLIP_PAUSE, 0.0)
        total = lead_seconds + len(voice) / SAMPLE_RATE + tail_seconds
        mix = noise(colour, total, level_db)
        start = int(round(lead_seconds * SAMPLE_RATE))
        mix[start: start + len(voice)] += voice
        text = " ".join(p.text for p in pieces)
        end = lead_seconds + len(voice) / SAMPLE_RATE
        return mix, {"text": text, "languages": ((language, float(lead_seconds), round(end, 3)),),
                     "speech_start": round(lead_seconds + onset, 3), "kind": "after_noise", "name": name,
                     "part_texts": (text,)}

    return _cached(f"after-noise-{colour}-{lead_seconds:g}s-{-level_db:g}dB-{language}", recipe, folder, build)


def _floor(samples: np.ndarray) -> np.ndarray:
    return samples + noise("pinknoise", len(samples) / SAMPLE_RATE + 0.01, FLOOR_DBFS)[: len(samples)]


def _part(language: str, seconds: float) -> tuple[np.ndarray, float, str]:
    pieces = [Piece(_level(p.samples, SPEECH_DBFS), p.text, p.language, p.source)
              for p in spoken(language, seconds - 2 * EDGE)]
    samples, onset = _join(pieces, SENTENCE_PAUSE, EDGE)
    return samples, onset, " ".join(p.text for p in pieces)


def monolingual(language: str, seconds: float = 60.0, folder: Path = FOLDER) -> Recording:
    """At least ``seconds`` of ``language``: its audioeval recordings, then espeak-ng sentences, over a faint floor."""
    recipe = {"kind": "monolingual", "language": language, "seconds": seconds, "speech_dbfs": SPEECH_DBFS,
              "floor_dbfs": FLOOR_DBFS, "pause": SENTENCE_PAUSE, "edge": EDGE, "rate": ESPEAK_RATE,
              "sentences": sentences(language)}

    def build():
        samples, onset, text = _part(language, seconds)
        return _floor(samples), {"text": text, "languages": ((language, 0.0, round(len(samples) / SAMPLE_RATE, 3)),),
                                 "speech_start": round(onset, 3), "kind": "monolingual",
                                 "name": f"{language} {seconds:g} s", "part_texts": (text,)}

    return _cached(f"monolingual-{language}-{seconds:g}s", recipe, folder, build)


def switch(first: str, second: str, pause_seconds: float, seconds_each: float = 35.0,
           folder: Path = FOLDER) -> Recording:
    """``first`` for about ``seconds_each``, ``pause_seconds`` of the faint floor more than between two
    sentences, then ``second`` for about ``seconds_each``; ``languages`` has both parts' times."""
    recipe = {"kind": "switch", "first": first, "second": second, "pause": pause_seconds, "each": seconds_each,
              "speech_dbfs": SPEECH_DBFS, "floor_dbfs": FLOOR_DBFS, "sentence_pause": SENTENCE_PAUSE, "edge": EDGE,
              "rate": ESPEAK_RATE, "sentences": [sentences(first), sentences(second)]}

    def build():
        a, onset, text_a = _part(first, seconds_each)
        b, _, text_b = _part(second, seconds_each)
        gap = np.zeros(int(round(pause_seconds * SAMPLE_RATE)), np.float32)
        samples = _floor(np.concatenate([a, gap, b]))
        a_end = len(a) / SAMPLE_RATE
        b_start = a_end + len(gap) / SAMPLE_RATE
        return samples, {"text": f"{text_a} {text_b}", "speech_start": round(onset, 3), "kind": "switch",
                         "languages": ((first, 0.0, round(a_end, 3)),
                                       (second, round(b_start, 3), round(len(samples) / SAMPLE_RATE, 3))),
                         "name": f"{first}->{second} pause {pause_seconds:g} s", "part_texts": (text_a, text_b)}

    return _cached(f"switch-{first}-{second}-{pause_seconds:g}s-{seconds_each:g}s", recipe, folder, build)


def full_set(folder: Path = FOLDER) -> list[Recording]:
    """Every recording ``bench/accuracy.py`` measures: 32 after noise, 5 monolingual, 6 switches (~25 min)."""
    return ([after_noise(c, lead, level, folder=folder) for c in COLOURS for lead in LEADS for level in LEVELS]
            + [monolingual(language, folder=folder) for language in MONOLINGUAL]
            + [switch(a, b, pause, folder=folder) for a, b in SWITCHES for pause in PAUSES])


def quick_set(folder: Path = FOLDER) -> list[Recording]:
    """Two short ones (~10 s and ~18 s): speech after 5 s of brown noise, and English then Spanish
    (``python -m bench.accuracy --quick`` runs tiny.en, so only the first)."""
    return [after_noise("brownnoise", 5, -40, folder=folder), switch("en", "es", 0.0, seconds_each=8, folder=folder)]


# --- scoring ------------------------------------------------------------------------------------------


@functools.cache
def _normaliser(language: str | None):
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    return EnglishTextNormalizer() if language == "en" else BasicTextNormalizer()


def tokens(text: str, language: str | None) -> list[str]:
    """The normalised words (characters for Japanese and Chinese) that the error rates count.

    >>> tokens("Hello, World! Mr. Smith has 2 dogs.", "en")
    ['hello', 'world', 'mister', 'smith', 'has', '2', 'dogs']
    >>> tokens("Portez ce vieux whisky", "fr")
    ['portez', 'ce', 'vieux', 'whisky']
    >>> tokens("你好，世界。", "zh")
    ['你', '好', '世', '界']
    """
    normalised = _normaliser(language)(text)
    if language in CHARACTER_LANGUAGES:
        return [c for c in normalised if not c.isspace()]
    return normalised.split()


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> list[tuple[str, int | None, int | None]]:
    """One optimal (Levenshtein) alignment: ("match"|"sub"|"del"|"ins", reference index, hypothesis index),
    in order. Among equal-cost alignments, the walk back from the end prefers a deletion of a reference
    word to a match, so that a match lands as early in the reference as the cost allows."""
    n, m = len(reference), len(hypothesis)
    cost = [[i + j if not (i and j) else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        row, above, ref = cost[i], cost[i - 1], reference[i - 1]
        for j in range(1, m + 1):
            row[j] = min(above[j] + 1, row[j - 1] + 1, above[j - 1] + (ref != hypothesis[j - 1]))
    steps: list[tuple[str, int | None, int | None]] = []
    i, j = n, m
    while i or j:
        same = i and j and reference[i - 1] == hypothesis[j - 1]
        if i and cost[i][j] == cost[i - 1][j] + 1:
            steps.append(("del", i - 1, None))
            i -= 1
        elif same and cost[i][j] == cost[i - 1][j - 1]:
            steps.append(("match", i - 1, j - 1))
            i, j = i - 1, j - 1
        elif j and cost[i][j] == cost[i][j - 1] + 1:
            steps.append(("ins", None, j - 1))
            j -= 1
        else:
            steps.append(("sub", i - 1, j - 1))
            i, j = i - 1, j - 1
    return steps[::-1]


def errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions."""
    return sum(op != "match" for op, _, _ in align(reference, hypothesis))


def wer(reference: str, hypothesis: str, language: str | None) -> float:
    """Word error rate after Whisper's normalisers (character error rate for ja and zh); ``language``
    None: ``BasicTextNormalizer`` (a recording in several languages).

    >>> wer("The cat sat on the mat.", "the cat sat on a mat", "en")
    0.16666666666666666
    >>> wer("Hola mundo.", "hola, mundo", "es")
    0.0
    >>> wer("こんにちは世界。", "こんにちわ世界", "ja")
    0.14285714285714285
    """
    ref = tokens(reference, language)
    return errors(ref, tokens(hypothesis, language)) / len(ref) if ref else float("nan")


def onset_loss(reference: str, hypothesis: str, language: str | None) -> int:
    """Reference words before the first one the hypothesis got right (all of them if none).

    >>> onset_loss("hello world the quick brown fox", "the quick brown fox", "en")
    2
    >>> onset_loss("hello world the quick brown fox", "thank you. hello world the quick brown fox", "en")
    0
    >>> onset_loss("hello world the quick brown fox", "yellow world the quick brown fox", "en")
    1
    """
    ref = tokens(reference, language)
    first = next((i for op, i, _ in align(ref, tokens(hypothesis, language)) if op == "match"), None)
    return len(ref) if first is None else first


def words_lost_at_onset(recording: Recording, hypothesis: str, part: int = 0) -> int:
    """``onset_loss`` of ``part``'s text (in its language) against ``hypothesis``: for part 0 the whole
    transcript, for a later part the whole transcript too or the text of the segments in that part."""
    return onset_loss(recording.part_texts[part], hypothesis, recording.languages[part][0])


def check() -> None:
    """The examples above (``bench.accuracy`` runs them before it measures)."""
    import doctest
    import sys

    failed, _ = doctest.testmod(sys.modules[__name__])
    assert failed == 0, "bench/recordings.py: the error rates give wrong answers on known inputs"
    assert errors(["a", "b", "c"], ["a", "c"]) == 1 and errors([], ["x"]) == 1

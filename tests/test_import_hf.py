"""``models import-hf``: Transformers Whisper checkpoints into openai-whisper checkpoints.

The Transformers checkpoint is written from our converted tiny.en with
``WhisperForConditionalGeneration.save_pretrained`` (the hub is out of reach
and recent Transformers wheels ship no conversion script), using a mapping
written here, independently of ``convert_hf``. Transformers then loads it and
must compute what openai-whisper computes on the same mel input: that checks
this mapping. Importing it back must give the very same tensors and the very
same transcript: that checks ``convert_hf`` against it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from whisper_ui.core.errors import ConversionError
from whisper_ui.models.convert_hf import convert_hf
from whisper_ui.models.sources import read_checkpoint

from . import forked_cli
from .conftest import ROOT, assert_refused, memory_capped, run_cli, words


@pytest.fixture(scope="module")
def transformers():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield pytest.importorskip("transformers")


def hf_config(transformers, dims: dict):
    english = dims["n_vocab"] == 51864
    return transformers.WhisperConfig(
        vocab_size=dims["n_vocab"], num_mel_bins=dims["n_mels"], d_model=dims["n_audio_state"],
        encoder_layers=dims["n_audio_layer"], encoder_attention_heads=dims["n_audio_head"],
        decoder_layers=dims["n_text_layer"], decoder_attention_heads=dims["n_text_head"],
        encoder_ffn_dim=4 * dims["n_audio_state"], decoder_ffn_dim=4 * dims["n_text_state"],
        max_source_positions=dims["n_audio_ctx"], max_target_positions=dims["n_text_ctx"],
        decoder_start_token_id=50257 if english else 50258, pad_token_id=50256, bos_token_id=50256,
        eos_token_id=50256 if english else 50257,
    )


def hf_state_dict(openai_state: dict, dims: dict) -> dict:
    """openai-whisper names -> Transformers names, written out by hand."""
    out = {}

    def copy(hf: str, ow: str, bias: bool = True) -> None:
        out[f"{hf}.weight"] = openai_state[f"{ow}.weight"]
        if bias:
            out[f"{hf}.bias"] = openai_state[f"{ow}.bias"]

    def attention(hf: str, ow: str) -> None:
        copy(f"{hf}.q_proj", f"{ow}.query")
        copy(f"{hf}.k_proj", f"{ow}.key", bias=False)
        copy(f"{hf}.v_proj", f"{ow}.value")
        copy(f"{hf}.out_proj", f"{ow}.out")

    enc, dec = "model.encoder", "model.decoder"
    copy(f"{enc}.conv1", "encoder.conv1")
    copy(f"{enc}.conv2", "encoder.conv2")
    out[f"{enc}.embed_positions.weight"] = openai_state["encoder.positional_embedding"]
    for i in range(dims["n_audio_layer"]):
        hf, ow = f"{enc}.layers.{i}", f"encoder.blocks.{i}"
        copy(f"{hf}.self_attn_layer_norm", f"{ow}.attn_ln")
        attention(f"{hf}.self_attn", f"{ow}.attn")
        copy(f"{hf}.final_layer_norm", f"{ow}.mlp_ln")
        copy(f"{hf}.fc1", f"{ow}.mlp.0")
        copy(f"{hf}.fc2", f"{ow}.mlp.2")
    copy(f"{enc}.layer_norm", "encoder.ln_post")
    out[f"{dec}.embed_tokens.weight"] = openai_state["decoder.token_embedding.weight"]
    out[f"{dec}.embed_positions.weight"] = openai_state["decoder.positional_embedding"]
    for i in range(dims["n_text_layer"]):
        hf, ow = f"{dec}.layers.{i}", f"decoder.blocks.{i}"
        copy(f"{hf}.self_attn_layer_norm", f"{ow}.attn_ln")
        attention(f"{hf}.self_attn", f"{ow}.attn")
        copy(f"{hf}.encoder_attn_layer_norm", f"{ow}.cross_attn_ln")
        attention(f"{hf}.encoder_attn", f"{ow}.cross_attn")
        copy(f"{hf}.final_layer_norm", f"{ow}.mlp_ln")
        copy(f"{hf}.fc1", f"{ow}.mlp.0")
        copy(f"{hf}.fc2", f"{ow}.mlp.2")
    copy(f"{dec}.layer_norm", "decoder.ln")
    out["proj_out.weight"] = openai_state["decoder.token_embedding.weight"]
    return out


def save_hf_checkpoint(transformers, checkpoint: dict, folder: Path, **save_kwargs) -> Path:
    """Write ``checkpoint`` (openai-whisper) as a Transformers checkpoint, in its own dtype."""
    dims, state = checkpoint["dims"], checkpoint["model_state_dict"]
    model = transformers.WhisperForConditionalGeneration(hf_config(transformers, dims))
    result = model.load_state_dict(hf_state_dict(state, dims), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    heads = checkpoint.get("alignment_heads")
    if heads is not None:
        model.generation_config.alignment_heads = [[int(layer), int(head)] for layer, head in np.argwhere(np.asarray(heads))]
    model.to(next(iter(state.values())).dtype).save_pretrained(folder, **save_kwargs)
    return folder


@pytest.fixture(scope="module")
def tiny_en(models_dir) -> dict:
    return read_checkpoint(models_dir / "tiny.en.pt")


@pytest.fixture(scope="module")
def hf_tiny_en(transformers, tiny_en, tmp_path_factory) -> Path:
    return save_hf_checkpoint(transformers, tiny_en, tmp_path_factory.mktemp("hf") / "whisper-tiny.en-ft")


def assert_same_checkpoint(imported: dict, original: dict) -> None:
    assert imported["dims"] == original["dims"]
    assert imported["model_state_dict"].keys() == original["model_state_dict"].keys()
    for key, tensor in original["model_state_dict"].items():
        assert imported["model_state_dict"][key].dtype == tensor.dtype, key
        assert torch.equal(imported["model_state_dict"][key], tensor), key
    assert torch.equal(torch.as_tensor(imported["alignment_heads"]), torch.as_tensor(original["alignment_heads"]))


def test_transformers_computes_what_openai_whisper_computes(transformers, hf_tiny_en, tiny_en, speech):
    """The checkpoint loads in Transformers with every key used, and gives the same encoder output and logits."""
    import whisper

    model, info = transformers.WhisperForConditionalGeneration.from_pretrained(
        hf_tiny_en, dtype=torch.float32, local_files_only=True, output_loading_info=True)
    assert not any(info.values()), info
    model.eval()
    reference = whisper.model.Whisper(whisper.model.ModelDimensions(**tiny_en["dims"]))
    reference.load_state_dict(tiny_en["model_state_dict"])
    reference.eval()

    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(whisper.load_audio(str(speech.english))))[None]
    tokenizer = whisper.tokenizer.get_tokenizer(multilingual=False)
    tokens = torch.tensor([[*tokenizer.sot_sequence_including_notimestamps, *tokenizer.encode(" My name is")]])
    with torch.no_grad():
        audio_features = reference.encoder(mel)
        logits = reference.logits(tokens, audio_features)
        out = model(input_features=mel, decoder_input_ids=tokens)
    torch.testing.assert_close(out.encoder_last_hidden_state, audio_features, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out.logits, logits, atol=1e-3, rtol=1e-5)
    assert out.logits[0, -1].argmax() == logits[0, -1].argmax()


def test_import_hf_gives_identical_tensors_and_transcript(hf_tiny_en, tiny_en, models_dir, speech, tmp_path):
    proc = run_cli("models", "import-hf", str(hf_tiny_en), "--name", "tiny-hf", "--model-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "load it with --model tiny-hf" in proc.stdout
    imported = read_checkpoint(tmp_path / "tiny-hf.pt")
    assert_same_checkpoint(imported, tiny_en)
    assert imported["whisper_ui"]["source"] == "transformers"
    assert imported["whisper_ui"]["source_dir"] == str(hf_tiny_en.resolve())

    from whisper_ui.core.transcription import TranscribeOptions
    from whisper_ui.engines.openai_whisper import WhisperEngine

    audio = __import__("whisper").load_audio(str(speech.english))
    options = TranscribeOptions(beam_size=1, word_timestamps=True)
    original = WhisperEngine(models_dir).load("tiny.en", "cpu").transcribe(audio, options)
    converted = WhisperEngine(tmp_path).load("tiny-hf", "cpu").transcribe(audio, options)
    assert converted.text == original.text
    assert {"peter", "london"} <= words(converted.text)
    original_words = [(w.word, w.start, w.end) for s in original.segments for w in s.words]
    assert [(w.word, w.start, w.end) for s in converted.segments for w in s.words] == original_words


def test_sharded_bin_and_hub_cache_layouts(transformers, tiny_en, hf_tiny_en, tmp_path):
    """The other shapes a checkpoint comes in: sharded safetensors, pytorch_model.bin, a hub cache folder."""
    from safetensors.torch import load_file

    sharded = save_hf_checkpoint(transformers, tiny_en, tmp_path / "sharded", max_shard_size="20MB")
    assert (sharded / "model.safetensors.index.json").is_file()
    assert_same_checkpoint(convert_hf(sharded), tiny_en)

    # the older format: a pickled state dict that still holds the tied proj_out
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    state = load_file(hf_tiny_en / "model.safetensors")
    state["proj_out.weight"] = state["model.decoder.embed_tokens.weight"]
    torch.save(state, legacy / "pytorch_model.bin")
    for name in ("config.json", "generation_config.json"):
        shutil.copy(hf_tiny_en / name, legacy / name)
    assert_same_checkpoint(convert_hf(legacy), tiny_en)

    # ~/.cache/huggingface/hub/models--me--whisper-ft: snapshot files are links into blobs/
    repo = tmp_path / "hub" / "models--me--whisper-ft"
    (repo / "blobs").mkdir(parents=True)
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for i, file in enumerate(sorted(hf_tiny_en.iterdir())):
        shutil.copy(file, repo / "blobs" / f"blob{i}")
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", f"blob{i}"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    assert_same_checkpoint(convert_hf(repo), tiny_en)


# --- what is refused, and how ---------------------------------------------------


@pytest.fixture(scope="module")
def toy_hf(transformers, tmp_path_factory) -> Path:
    """A one-layer random Whisper: small enough to copy and break in each test."""
    config = transformers.WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=1500,
        max_target_positions=448)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("toy") / "toy"
    transformers.WhisperForConditionalGeneration(config).save_pretrained(folder)
    return folder


def broken_copy(toy_hf: Path, tmp_path: Path, change=None, config_change=None) -> Path:
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "broken"
    shutil.copytree(toy_hf, folder)
    if change:
        state = load_file(folder / "model.safetensors")
        change(state)
        save_file({k: v.contiguous() for k, v in state.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    if config_change:
        config = json.loads((folder / "config.json").read_text())
        config.update(config_change)
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_toy_model_converts_and_loads(toy_hf):
    import whisper

    checkpoint = convert_hf(toy_hf)
    assert checkpoint["dims"]["n_text_layer"] == 1 and "alignment_heads" not in checkpoint
    whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"])).load_state_dict(
        checkpoint["model_state_dict"], strict=True)


@pytest.mark.parametrize("change, config_change, message", [
    (lambda s: s.__setitem__("proj_out.weight", torch.randn_like(s["model.decoder.embed_tokens.weight"])), None,
     "output projection (proj_out) differs"),
    (lambda s: s.__setitem__("model.encoder.layers.0.self_attn.k_proj.bias", torch.ones(16)), None,
     "key projection has no bias"),
    (lambda s: s.__setitem__("classifier.weight", torch.ones(2, 16)), None, "does not know: classifier.weight"),
    (lambda s: s.pop("model.decoder.layers.0.fc1.bias"), None, "no tensor model.decoder.layers.0.fc1.bias"),
    (lambda s: [s.pop(k) for k in list(s) if k.startswith("model.decoder.")], None, "no decoder weights"),
    (None, {"decoder_layers": 2}, "no tensor model.decoder.layers.1"),
    (None, {"model_type": "wav2vec2"}, "'wav2vec2' model, not a Whisper model"),
    (None, {"vocab_size": 52000}, "vocab_size is 52000"),
    (None, {"activation_function": "relu"}, "activation_function is 'relu'"),
    (None, {"decoder_attention_heads": 3}, "decoder_attention_heads (3) does not divide d_model"),
    (lambda s: s.__setitem__("model.decoder.layers.0.fc1.weight", torch.ones(32, 16)), None,
     "wrong shape for a Whisper model: decoder.blocks.0.mlp.0.weight (32, 16) (expected (64, 16))"),
])
def test_refuses_what_openai_whisper_cannot_run(toy_hf, tmp_path, change, config_change, message):
    with pytest.raises(ConversionError, match=re.escape(message)):
        convert_hf(broken_copy(toy_hf, tmp_path, change, config_change))


def test_refuses_folders_that_are_not_transformers_checkpoints(toy_hf, tmp_path):
    def folder(name: str, *files: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        for file in files:
            (path / file).write_bytes(b"{}" if file.endswith(".json") else b"\0" * 16)
        return path

    cases = {
        folder("empty"): "no model.safetensors or pytorch_model.bin",
        folder("peft", "adapter_config.json", "adapter_model.safetensors"): "PEFT/LoRA adapter",
        folder("ct2", "config.json", "model.bin", "vocabulary.txt"): "import-ct2",
        folder("tf", "config.json", "tf_model.h5"): "TensorFlow or Flax",
        folder("openai", "large-v3.pt"): "need no conversion",
        folder("noconfig", "model.safetensors"): "has no config.json",
        tmp_path / "missing": "is not a folder",
    }
    truncated = broken_copy(toy_hf, tmp_path)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    cases[truncated] = "damaged or truncated"
    for path, message in cases.items():
        with pytest.raises(ConversionError, match=message):
            convert_hf(path)

    proc = run_cli("models", "import-hf", str(tmp_path / "empty"), "--name", "x", "--model-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "not a Transformers checkpoint folder" in proc.stderr
    assert not (tmp_path / "x.pt").exists()


# --- hostile input: one line, no traceback, nothing read outside the folder ----

SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


@functools.cache
def _strace_fast() -> list[str]:
    """``--seccomp-bpf`` where strace has it: only the traced calls stop the process (4x faster here)."""
    if not shutil.which("strace"):
        return []
    probe = subprocess.run(["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=openat", "-o", "/dev/null", "true"],
                           capture_output=True)
    return ["--seccomp-bpf"] if probe.returncode == 0 else []


def import_hf_cli(src: Path, model_dir: Path, outside: Path | None = None):
    """``models import-hf`` in a subprocess; with ``outside``, under strace (where it runs) to check that no file
    in ``outside`` is opened."""
    args = ["models", "import-hf", str(src), "--name", "x", "--model-dir", str(model_dir)]
    if outside is None:  # forked from a helper that imported torch once (tests/forked_cli.py): same CLI, same cap
        return forked_cli.run_cli(*args)
    command = [sys.executable, "-m", "whisper_ui", *args]
    trace = model_dir.parent / f"{model_dir.name}.strace"
    if shutil.which("strace"):
        command = ["strace", "-f", "-qq", *_strace_fast(), "-e", "trace=open,openat,openat2", "-o", str(trace), *command]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=memory_capped())
    if trace.exists():  # every path opened, with ``..`` and links followed (now: they are all still there)
        paths = re.findall(r'\bopen(?:at2?)?\((?:AT_FDCWD, )?"([^"]*)"', trace.read_text())
        assert len(paths) > 100, "strace saw too few opens: is it tracing?"
        opened = [p for p in paths if Path(os.path.realpath(ROOT / p)).is_relative_to(outside.resolve())]
        assert not opened, opened
        trace.unlink()
    return proc


def shard(folder: Path) -> Path:
    """Turn ``folder``'s model.safetensors into two shards and a ``model.safetensors.index.json``."""
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    names = sorted(state)
    halves = names[: len(names) // 2], names[len(names) // 2:]
    weight_map = {}
    for file, keys in zip(SHARDS, halves, strict=True):
        save_file({k: state[k] for k in keys}, folder / file, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(keys, file))
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def hub_repo(root: Path, toy: Path, sharded: bool = False) -> Path:
    """``root/models--me--toy``: blobs, one snapshot of links into them, refs/main naming it."""
    repo = root / "models--me--toy"
    snapshot = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    source = shard(shutil.copytree(toy, root / "staging")) if sharded else toy
    for i, file in enumerate(sorted(source.iterdir())):
        shutil.copy(file, repo / "blobs" / f"blob{i}")
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", f"blob{i}"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    return repo


def test_sharded_checkpoints_in_a_hub_cache_still_convert(toy_hf, tmp_path):
    """The good paths the containment check must keep: shards linked into ../../blobs, from the repo folder or
    from the snapshot folder given directly."""
    expected = convert_hf(toy_hf)["model_state_dict"]
    repo = hub_repo(tmp_path, toy_hf, sharded=True)
    for src in (repo, repo / "snapshots" / "0123abcd", shard(shutil.copytree(toy_hf, tmp_path / "plain"))):
        state = convert_hf(src)["model_state_dict"]
        assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state), src


def _ref_case(case: str, repo: Path, outside: Path) -> str:
    """Break ``repo`` as ``case`` says, with a whole, valid checkpoint at ``outside``; return what the error names."""
    refs, snapshots = repo / "refs" / "main", repo / "snapshots"
    if case == "refs/main ../../../outside":
        refs.write_text("../../../outside\n")
        return "names the revision '../../../outside', which is not a snapshot name"
    if case == "refs/main an absolute path":
        refs.write_text(str(outside))
        return f"names the revision '{outside}', which is not a snapshot name"
    if case == "refs/main a revision with slashes":
        refs.write_text("0123abcd/../../../../outside")
        return "which is not a snapshot name"
    if case == "refs/main a path inside the repo":
        refs.write_text("../blobs")
        return "names the revision '../blobs', which is not a snapshot name"
    if case == "refs/main of two lines":
        refs.write_text("0123abcd\n../../../outside")
        return "which is not a snapshot name"
    if case == "refs/main empty":
        refs.write_text("  \n")
        return "refs/main is empty"
    if case == "refs/main not UTF-8":
        refs.write_bytes(b"\xff\xfe0123")
        return "refs/main could not be read (UnicodeDecodeError"
    if case == "refs/main 1 MB":
        refs.write_text("a" * 1_000_000)
        return "refs/main is too long"
    if case == "refs/main a link outside":
        (outside.parent / "ref").write_text("0123abcd")
        refs.unlink()
        refs.symlink_to(outside.parent / "ref")
        return f"{refs} leads outside {repo}"
    if case == "the snapshot a link outside":
        shutil.rmtree(snapshots / "0123abcd")
        (snapshots / "0123abcd").symlink_to(outside)
        return f"the snapshot {snapshots / '0123abcd'} that {refs} names leads outside {repo}"
    if case == "the only snapshot a link outside, no refs/main":
        shutil.rmtree(snapshots / "0123abcd")
        (snapshots / "fedcba98").symlink_to(outside)
        refs.unlink()
        return f"the snapshot {snapshots / 'fedcba98'} leads outside {repo}"
    if case == "snapshots/ a link outside":
        shutil.rmtree(snapshots)
        (outside.parent / "snapshots").mkdir()
        (outside.parent / "snapshots" / "0123abcd").symlink_to(outside)
        snapshots.symlink_to(outside.parent / "snapshots")
        return f"{snapshots} leads outside {repo}"
    raise AssertionError(case)


REF_CASES = ["refs/main ../../../outside", "refs/main an absolute path", "refs/main a revision with slashes",
             "refs/main a path inside the repo", "refs/main of two lines", "refs/main empty", "refs/main not UTF-8",
             "refs/main 1 MB", "refs/main a link outside", "the snapshot a link outside",
             "the only snapshot a link outside, no refs/main", "snapshots/ a link outside"]


@pytest.mark.parametrize("case", REF_CASES)
def test_refs_and_snapshots_cannot_lead_outside_the_cache_folder(case, toy_hf, tmp_path):
    """A whole, valid checkpoint waits outside (the old code converted it): it must not even be opened."""
    repo = hub_repo(tmp_path / "hub", toy_hf)
    outside = shutil.copytree(toy_hf, tmp_path / "outside" / "toy")
    message = _ref_case(case, repo, outside)
    assert_refused(import_hf_cli(repo, tmp_path / "out", outside=outside.parent), tmp_path / "out", message)


def _index_case(case: str, folder: Path, outside: Path) -> str:
    index = folder / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    moved = outside / SHARDS[1]  # the real second shard, moved out: reading it would complete the model
    shutil.move(folder / SHARDS[1], moved)

    def point(name):
        data["weight_map"] = {k: (name if v == SHARDS[1] else v) for k, v in data["weight_map"].items()}
        index.write_text(json.dumps(data))

    if case == "a shard ../outside":
        point(f"../outside/{SHARDS[1]}")
        return f"names the shard '../outside/{SHARDS[1]}', a path outside {folder}: refused"
    if case == "a shard at an absolute path":
        point(str(moved))
        return f"names the shard '{moved}', a path outside {folder}: refused"
    if case == "a shard /etc/passwd":
        point("/etc/passwd")
        return "names the shard '/etc/passwd', a path outside"
    if case == "a shard a/../../outside":
        point(f"sub/../../outside/{SHARDS[1]}")
        return "a path outside"
    if case == "a shard a link outside":
        (folder / SHARDS[1]).symlink_to(moved)
        return f"the shard '{SHARDS[1]}' named in {index} leads outside {folder} (to {moved})"
    if case == "a shard a link to a link outside":
        (folder / "hop").symlink_to(moved)
        (folder / SHARDS[1]).symlink_to("hop")
        return f"leads outside {folder} (to {moved})"
    if case == "a shard named by a number":
        point(5)
        return "its weight_map names the shard 5, which is not a file name"
    if case == "a shard named ''":
        point("")
        return "its weight_map names the shard '', which is not a file name"
    if case == "index not JSON":
        index.write_text("{'weight_map': ")
        return f"{index} could not be read as JSON"
    if case == "index a list":
        index.write_text(json.dumps([data]))
        return f"{index} is not a JSON object"
    if case == "index without weight_map":
        index.write_text(json.dumps({"metadata": {}}))
        return f"{index} has no weight_map"
    if case == "index with weight_map a list":
        index.write_text(json.dumps({"weight_map": [SHARDS[0]]}))
        return f"{index} has no weight_map"
    raise AssertionError(case)


INDEX_CASES = ["a shard ../outside", "a shard at an absolute path", "a shard /etc/passwd", "a shard a/../../outside",
               "a shard a link outside", "a shard a link to a link outside", "a shard named by a number",
               "a shard named ''", "index not JSON", "index a list", "index without weight_map",
               "index with weight_map a list"]


@pytest.mark.parametrize("case", INDEX_CASES)
def test_an_index_cannot_name_shards_outside_the_folder(case, toy_hf, tmp_path):
    folder = shard(shutil.copytree(toy_hf, tmp_path / "src"))
    outside = tmp_path / "outside"
    outside.mkdir()
    message = _index_case(case, folder, outside)
    assert_refused(import_hf_cli(folder, tmp_path / "out", outside=outside), tmp_path / "out", message)


def test_a_hub_snapshot_shard_cannot_link_outside_the_cache_folder(toy_hf, tmp_path):
    """In a hub cache the shards are links into ../../blobs; one that leads outside the repo is refused, whether the
    repo or the snapshot is given."""
    repo = hub_repo(tmp_path / "hub", toy_hf, sharded=True)
    snapshot = repo / "snapshots" / "0123abcd"
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(snapshot / SHARDS[1], outside / SHARDS[1])
    (snapshot / SHARDS[1]).unlink()
    (snapshot / SHARDS[1]).symlink_to(outside / SHARDS[1])
    for src in (repo, snapshot):
        proc = import_hf_cli(src, tmp_path / "out", outside=outside)
        assert_refused(proc, tmp_path / "out", f"the shard '{SHARDS[1]}'", f"leads outside {repo}")


def _rewrite_safetensors(path: Path, header=None, header_bytes=None, length=None, cut=None):
    """``path`` with its JSON header changed (the tensor bytes kept), or cut to ``cut`` bytes."""
    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    if header is not None:
        old = json.loads(raw[8:8 + size])
        header_bytes = json.dumps(header(old) if callable(header) else header).encode()
    if header_bytes is not None:
        raw = struct.pack("<Q", len(header_bytes)) + header_bytes + raw[8 + size:]
    if length is not None:
        raw = struct.pack("<Q", length(len(raw))) + raw[8:]
    path.write_bytes(raw[:cut])


def _first_tensor(change):
    def apply(header):
        name = next(k for k in header if k != "__metadata__")
        header[name] = change(header[name])
        return header
    return apply


SAFETENSORS_CASES = {
    "cut to 5 bytes": ({"cut": 5}, "is empty or truncated: not a safetensors file"),
    "cut in the header": ({"cut": 200}, "its header claims"),
    "header longer than the file": ({"length": lambda n: n}, "its header claims {n} bytes, the file has"),
    "header length 2**63": ({"length": lambda n: 2**63}, "its header claims 9223372036854775808 bytes"),
    "header not JSON": ({"header_bytes": b"{" * 64}, "its header is not JSON"),
    "header not UTF-8": ({"header_bytes": b'{"\xff": 1}'}, "its header is not JSON"),
    "header a list": ({"header": []}, "its header is not a JSON object"),
    "header nested 100000 deep": ({"header_bytes": b"[" * 100_000 + b"]" * 100_000}, "its header is not JSON"),
    "an entry not an object": ({"header": _first_tensor(lambda e: "F32")}, "is malformed (TypeError"),
    "an entry without data_offsets": ({"header": _first_tensor(lambda e: {**e, "data_offsets": None})},
                                      "is malformed"),
    "a negative shape": ({"header": _first_tensor(lambda e: {**e, "shape": [-1, *e["shape"]]})}, "is malformed"),
    "a shape of text": ({"header": _first_tensor(lambda e: {**e, "shape": ["4"]})}, "is malformed"),
    "offsets of text": ({"header": _first_tensor(lambda e: {**e, "data_offsets": ["0", "8"]})}, "is malformed"),
    "offsets backwards": ({"header": _first_tensor(lambda e: {**e, "data_offsets": e["data_offsets"][::-1]})},
                          "is malformed"),
    "a shape whose int64 product wraps to 0": (
        {"header": _first_tensor(lambda e: {**e, "shape": [2**32, 2**32, 4], "data_offsets": [0, 0]})},
        "does not fit its byte range"),
    "offsets past the end": ({"header": _first_tensor(lambda e: {**e, "data_offsets": [2**40, 2**40 + 4 * math.prod(
        e["shape"])]})}, "does not fit its byte range"),
    "an unknown dtype": ({"header": _first_tensor(lambda e: {**e, "dtype": "F8_E9"})},
                         "has the data type 'F8_E9', which this converter does not know"),
}


@pytest.mark.parametrize("case", list(SAFETENSORS_CASES))
def test_a_damaged_safetensors_header_is_one_line(case, toy_hf, tmp_path):
    change, message = SAFETENSORS_CASES[case]
    folder = shutil.copytree(toy_hf, tmp_path / "src")
    path = folder / "model.safetensors"
    message = message.replace("{n}", str(path.stat().st_size))
    _rewrite_safetensors(path, **change)
    assert_refused(import_hf_cli(folder, tmp_path / "out"), tmp_path / "out", str(path), message)


def _config_case(case: str, folder: Path) -> str:
    config_path, generation = folder / "config.json", folder / "generation_config.json"
    config = json.loads(config_path.read_text())

    def set_config(**values):
        config_path.write_text(json.dumps({**config, **values}))

    if case == "config.json not JSON":
        config_path.write_text('{"model_type": "whisper",')
        return f"{config_path} could not be read as JSON"
    if case == "config.json a list":
        config_path.write_text(json.dumps([config]))
        return f"{config_path} is not a JSON object (it holds a list)"
    if case == "config.json not UTF-8":
        config_path.write_bytes(b'{"model_type": "\xff"}')
        return f"{config_path} could not be read as JSON (UnicodeDecodeError"
    if case == "config.json a folder":
        config_path.unlink()
        config_path.mkdir()
        return "has no config.json"
    if case == "encoder_layers text":
        set_config(encoder_layers="two")
        return f"{config_path}: encoder_layers is 'two', not a whole number"
    if case == "decoder_attention_heads null":
        set_config(decoder_attention_heads=None)
        return f"{config_path}: decoder_attention_heads is None, not a whole number"
    if case == "max_source_positions 10**12 without encoder positions":
        from safetensors.torch import load_file, save_file

        state = load_file(folder / "model.safetensors")
        del state["model.encoder.embed_positions.weight"]
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
        set_config(max_source_positions=10**12)
        return "max_source_positions (1000000000000) or encoder.conv1.weight (16, 80, 3) is not a Whisper encoder's"
    if case == "generation_config.json not JSON":
        generation.write_text("alignment_heads = [[0, 1]]")
        return f"{generation} could not be read as JSON"
    if case == "alignment_heads a number":
        generation.write_text(json.dumps({"alignment_heads": 5}))
        return f"{generation}: alignment_heads is 5, not a list of [layer, head] pairs"
    if case == "an alignment head of text":
        generation.write_text(json.dumps({"alignment_heads": [["a", 0]]}))
        return "alignment head ['a', 0] is not a [layer, head] pair"
    if case == "pytorch_model.bin with a forbidden global":
        import datetime

        (folder / "model.safetensors").unlink()
        torch.save({"when": datetime.date(2024, 1, 1)}, folder / "pytorch_model.bin")
        return "pytorch_model.bin could not be read as PyTorch weights (UnpicklingError: Weights only load failed"
    if case == "pytorch_model.bin garbage":
        (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(b"\x80\x02garbage" * 100)
        return "pytorch_model.bin could not be read as PyTorch weights"
    raise AssertionError(case)


CONFIG_CASES = ["config.json not JSON", "config.json a list", "config.json not UTF-8", "config.json a folder",
                "encoder_layers text", "decoder_attention_heads null",
                "max_source_positions 10**12 without encoder positions", "generation_config.json not JSON",
                "alignment_heads a number", "an alignment head of text", "pytorch_model.bin with a forbidden global",
                "pytorch_model.bin garbage"]


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_a_malformed_config_or_weights_file_is_one_line(case, toy_hf, tmp_path):
    folder = shutil.copytree(toy_hf, tmp_path / "src")
    message = _config_case(case, folder)
    assert_refused(import_hf_cli(folder, tmp_path / "out"), tmp_path / "out", message)

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

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from whisper_ui.convert_hf import convert_hf
from whisper_ui.errors import ConversionError
from whisper_ui.models import read_checkpoint

from .conftest import run_cli, words


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

    from whisper_ui.engine import WhisperEngine
    from whisper_ui.transcription import TranscribeOptions

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

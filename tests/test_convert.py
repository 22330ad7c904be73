"""import-ct2 on real weights, checked tensor by tensor and against CTranslate2 itself."""

import json
import struct

import numpy as np
import pytest
import torch
import whisper

from whisper_ui.convert import convert_ct2, read_ct2_model
from whisper_ui.errors import ConversionError
from whisper_ui.models import alignment_heads_mask, read_checkpoint

from .conftest import run_cli


def _model(checkpoint):
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)  # strict: every key, no extra
    return model.eval()


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_converted_tensors_equal_the_source_arrays(name, models_dir, ct2_tiny_en, ct2_base):
    src = {"tiny.en": ct2_tiny_en, "base": ct2_base}[name]
    spec, variables, aliases = read_ct2_model(src / "model.bin")
    assert spec == "WhisperSpec"
    checkpoint = read_checkpoint(models_dir / f"{name}.pt")
    state = checkpoint["model_state_dict"]
    _model(checkpoint)

    def same(key, array):
        assert state[key].dtype == torch.float16 and array.dtype == np.float16
        assert np.array_equal(state[key].numpy(), array), key

    dims = checkpoint["dims"]
    n = dims["n_audio_state"]
    for i in range(dims["n_audio_layer"]):
        qkv = variables[f"encoder/layer_{i}/self_attention/linear_0/weight"]
        same(f"encoder.blocks.{i}.attn.query.weight", qkv[:n])
        same(f"encoder.blocks.{i}.attn.key.weight", qkv[n:2 * n])
        same(f"encoder.blocks.{i}.attn.value.weight", qkv[2 * n:])
        same(f"encoder.blocks.{i}.mlp.2.weight", variables[f"encoder/layer_{i}/ffn/linear_1/weight"])
    for i in range(dims["n_text_layer"]):
        kv = variables[f"decoder/layer_{i}/attention/linear_1/weight"]
        same(f"decoder.blocks.{i}.cross_attn.key.weight", kv[:n])
        same(f"decoder.blocks.{i}.cross_attn.value.weight", kv[n:])
        same(f"decoder.blocks.{i}.cross_attn_ln.weight", variables[f"decoder/layer_{i}/attention/layer_norm/gamma"])
    same("encoder.conv1.weight", variables["encoder/conv1/weight"])
    same("decoder.token_embedding.weight", variables["decoder/embeddings/weight"])
    same("decoder.positional_embedding", variables["decoder/position_encodings/encodings"])
    # every source float is in the checkpoint: same element count (k bias is the only thing dropped, and it is zero)
    source_floats = sum(v.size for k, v in variables.items() if v.dtype == np.float16 and k not in aliases)
    key_biases = sum(v.size // 3 for k, v in variables.items() if k.endswith("self_attention/linear_0/bias")) + sum(
        v.size // 2 for k, v in variables.items() if k.endswith("attention/linear_1/bias") and "self" not in k)
    assert sum(t.numel() for t in state.values()) == source_floats - key_biases
    # the alignment heads are the official ones, so word timestamps are as good
    official = alignment_heads_mask(name, dims["n_text_layer"], dims["n_text_head"])
    assert np.array_equal(checkpoint["alignment_heads"].numpy(), official)


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_same_tokens_as_ctranslate2_on_the_source_model(name, models_dir, ct2_tiny_en, ct2_base, speech):
    """An independent implementation (CTranslate2 on the source folder) decodes the same tokens."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    src = {"tiny.en": ct2_tiny_en, "base": ct2_base}[name]
    model = _model(read_checkpoint(models_dir / f"{name}.pt"))
    tokenizer = whisper.tokenizer.get_tokenizer(model.is_multilingual, language="en", task="transcribe")
    audio = whisper.pad_or_trim(whisper.load_audio(str(speech.english)))
    mel = whisper.log_mel_spectrogram(audio, model.dims.n_mels)
    ours = whisper.decode(model, mel, whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False))
    ct2 = ctranslate2.models.Whisper(str(src), device="cpu", compute_type="float32")
    prompt = list(tokenizer.sot_sequence_including_notimestamps)
    features = ctranslate2.StorageView.from_array(mel.numpy()[None])
    theirs = ct2.generate(features, [prompt], beam_size=1, return_scores=False)[0].sequences_ids[0]
    assert ours.tokens == theirs
    assert "London" in tokenizer.decode(theirs)


def test_import_refuses_a_folder_that_is_not_a_model(tmp_path, models_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("models", "import-ct2", str(empty), "--name", "x", "--model-dir", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "not a CTranslate2 Whisper model" in proc.stderr and "model.bin" in proc.stderr
    assert not (tmp_path / "out" / "x.pt").exists()

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "model.bin").write_bytes(b"\x00" * 64)
    (garbage / "config.json").write_text("{}")
    with pytest.raises(ConversionError, match="not a CTranslate2 model"):
        convert_ct2(garbage)


def _write_ct2(path, spec, variables):
    def string(s):
        data = s.encode() + b"\0"
        return struct.pack("<H", len(data)) + data

    out = struct.pack("<I", 6) + string(spec) + struct.pack("<I", 1) + struct.pack("<I", len(variables))
    for name, array in variables.items():
        out += string(name) + struct.pack("<B", array.ndim) + b"".join(struct.pack("<I", d) for d in array.shape)
        out += struct.pack("<B", {np.float32: 0, np.float16: 4}[array.dtype.type]) + struct.pack("<I", array.nbytes)
        out += array.tobytes()
    path.write_bytes(out + struct.pack("<I", 0))


def test_import_refuses_a_ctranslate2_model_that_is_not_whisper(tmp_path):
    folder = tmp_path / "marian"
    folder.mkdir()
    _write_ct2(folder / "model.bin", "TransformerSpec", {"encoder/embeddings_0/weight": np.ones((4, 2), np.float32)})
    (folder / "config.json").write_text(json.dumps({"unk_token": "<unk>"}))
    with pytest.raises(ConversionError, match="'TransformerSpec' model, not a Whisper model"):
        convert_ct2(folder)


def test_truncated_model_bin_is_refused(tmp_path, ct2_tiny_en):
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "model.bin").write_bytes((ct2_tiny_en / "model.bin").read_bytes()[:100_000])
    (folder / "config.json").write_text((ct2_tiny_en / "config.json").read_text())
    with pytest.raises(ConversionError, match="damaged"):
        convert_ct2(folder)

"""import-ct2 on real weights, checked tensor by tensor and against CTranslate2 itself."""

import json
import os
import struct

import numpy as np
import pytest
import torch
import whisper

from whisper_ui.core.errors import ConversionError
from whisper_ui.models.convert import convert_ct2, read_ct2_model
from whisper_ui.models.sources import alignment_heads_mask, read_checkpoint

from . import forked_cli
from .conftest import assert_refused, run_cli


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


# --- hostile input: one line on stderr, no traceback, nothing written -----------


def import_ct2_cli(folder, model_dir, headroom: int | None = None):
    """``python -m whisper_ui models import-ct2``, forked from a helper that imported torch once
    (tests/forked_cli.py); ``headroom``: the memory it may map (conftest.memory_capped's cap)."""
    return forked_cli.run_cli("models", "import-ct2", str(folder), "--name", "x", "--model-dir", str(model_dir),
                              headroom=headroom)


class CT2File:
    """A CTranslate2 ``model.bin`` written field by field, remembering where each part starts."""

    def __init__(self, version=6, spec="WhisperSpec"):
        self.data, self.marks = b"", {}
        self.u32(version)
        self.mark("spec")
        self.string(spec)
        self.u32(1)  # spec revision

    def mark(self, name):
        self.marks[name] = len(self.data)

    def u8(self, n):
        self.data += struct.pack("<B", n)

    def u32(self, n):
        self.data += struct.pack("<I", n)

    def string(self, s):
        raw = (s.encode() if isinstance(s, str) else s) + b"\0"
        self.data += struct.pack("<H", len(raw)) + raw

    def variable(self, name, array, dtype_id=None, shape=None, nbytes=None):
        self.string(name)
        shape = array.shape if shape is None else shape
        self.mark(f"{name}:shape")
        self.u8(len(shape))
        for d in shape:
            self.u32(d)
        self.u8({"float32": 0, "int8": 1, "int32": 3, "float16": 4}[array.dtype.name] if dtype_id is None else dtype_id)
        self.u32(array.nbytes if nbytes is None else nbytes)
        self.mark(f"{name}:data")
        self.data += array.tobytes()

    def variables(self, variables, aliases=(("decoder/projection/weight", "decoder/embeddings/weight"),)):
        self.u32(len(variables))
        for name, array in variables.items():
            self.variable(name, array)
        self.mark("aliases")
        self.u32(len(aliases))
        for alias, target in aliases:
            self.string(alias)
            self.string(target)
        return self


def fake_whisper(d=4, n_mels=2, n_vocab=8, audio_ctx=3, text_ctx=5, heads=2):
    """The smallest WhisperSpec variable set import-ct2 accepts: one layer each side, width ``d``."""
    rng = np.random.default_rng(0)

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def fused(parts):  # q/k/v (or k/v) in one matrix; the key's bias is zero, as in Whisper
        bias = r(parts * d)
        bias[(parts - 2) * d:(parts - 1) * d] = 0
        return r(parts * d, d), bias

    v = {"encoder/num_heads": np.array(heads, np.int32), "decoder/num_heads": np.array(heads, np.int32),
         "encoder/conv1/weight": r(d, n_mels, 3), "encoder/conv1/bias": r(d),
         "encoder/conv2/weight": r(d, d, 3), "encoder/conv2/bias": r(d),
         "encoder/position_encodings/encodings": r(audio_ctx, d),
         "decoder/embeddings/weight": r(n_vocab, d), "decoder/position_encodings/encodings": r(text_ctx, d)}
    for side in ("encoder", "decoder"):
        layer = f"{side}/layer_0"
        for attention, parts in (("self_attention", 3), ("attention", 2))[:1 if side == "encoder" else 2]:
            v[f"{layer}/{attention}/layer_norm/gamma"], v[f"{layer}/{attention}/layer_norm/beta"] = r(d), r(d)
            fused_name = f"{layer}/{attention}/linear_{0 if parts == 3 else 1}"
            v[f"{fused_name}/weight"], v[f"{fused_name}/bias"] = fused(parts)
            for out in ("linear_1",) if parts == 3 else ("linear_0", "linear_2"):
                v[f"{layer}/{attention}/{out}/weight"], v[f"{layer}/{attention}/{out}/bias"] = r(d, d), r(d)
        v[f"{layer}/ffn/layer_norm/gamma"], v[f"{layer}/ffn/layer_norm/beta"] = r(d), r(d)
        v[f"{layer}/ffn/linear_0/weight"], v[f"{layer}/ffn/linear_0/bias"] = r(4 * d, d), r(4 * d)
        v[f"{layer}/ffn/linear_1/weight"], v[f"{layer}/ffn/linear_1/bias"] = r(d, 4 * d), r(d)
        v[f"{side}/layer_norm/gamma"], v[f"{side}/layer_norm/beta"] = r(d), r(d)
    return v


def ct2_folder(path, model_bin, config=b'{"alignment_heads": [[0, 1]]}'):
    path.mkdir(parents=True)
    if model_bin is not None:
        (path / "model.bin").write_bytes(model_bin)
    if config is not None:
        (path / "config.json").write_bytes(config)
    return path


def test_the_fake_whisper_converts(tmp_path):
    """The base of the hostile cases below is a model import-ct2 accepts: each case breaks one thing of it."""
    checkpoint = convert_ct2(ct2_folder(tmp_path / "fake", CT2File().variables(fake_whisper()).data))
    assert checkpoint["dims"]["n_text_head"] == 2 and checkpoint["alignment_heads"].sum() == 1
    _model(checkpoint)


def _one_variable(shape, dtype_id, nbytes, name=b"x", rank=None):
    f = CT2File()
    f.u32(1)
    f.string(name)
    f.u8(len(shape) if rank is None else rank)
    for d in shape:
        f.u32(d)
    f.u8(dtype_id)
    f.u32(nbytes)
    return f.data + b"\0" * 100


def _model_bin_cases():
    full = CT2File().variables(fake_whisper())
    data, marks = full.data, full.marks
    conv1 = "encoder/conv1/weight"
    small = CT2File().variables({"a/long/name": np.ones((3, 4), np.float32)}, aliases=())
    one, one_marks = small.data, small.marks
    huge_count = CT2File()
    huge_count.u32(2**32 - 1)
    return {
        "empty": (b"", "unexpected end of file at offset 0"),
        "cut in the version": (data[:2], "unexpected end of file"),
        "cut in the spec name": (data[:marks["spec"] + 5], "the spec name declares 12 bytes at offset 6, but only 3"),
        "cut in the table": (data[:marks[f"{conv1}:shape"]], "a table of 45 variables declares 360 bytes"),
        "cut before a rank": (one[:one_marks["a/long/name:shape"]], "unexpected end of file at offset 40"),
        "cut in a shape": (one[:one_marks["a/long/name:shape"] + 3],
                           "the shape of variable a/long/name declares 8 bytes at offset 41, but only 2 remain"),
        "cut in the data": (one[:one_marks["a/long/name:data"] + 7],
                            "variable a/long/name declares 48 bytes at offset 54, but only 7 remain"),
        "cut in the alias table": (data[:-10], "the target of alias decoder/projection/weight declares 26 bytes"),
        "wrong version 7": (struct.pack("<I", 7) + data[4:], "not a CTranslate2 model file (binary version 7)"),
        "wrong version 0": (struct.pack("<I", 0) + data[4:], "not a CTranslate2 model file (binary version 0)"),
        "garbage": (np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
                    "not a CTranslate2 model file"),
        "a spec name longer than the file": (struct.pack("<IH", 6, 65535) + b"Whisper",
                                             "the spec name declares 65535 bytes"),
        "2**32-1 variables": (huge_count.data + b"\0" * 64, "a table of 4294967295 variables declares"),
        "2**31 int8 elements": (_one_variable((2**31,), 1, 2**31), "variable x declares 2147483648 bytes"),
        "4 GiB of int8": (_one_variable((2**32 - 1,), 1, 2**32 - 1), "variable x declares 4294967295 bytes"),
        "2**62 elements in 0 bytes": (_one_variable((2**31, 2**31), 0, 0), "but declares 0 bytes"),
        "rank 255": (_one_variable((), 0, 0, rank=255), "the shape of variable x declares 1020 bytes"),
        "an unknown dtype": (_one_variable((2,), 9, 8), "variable x has an unknown data type 9"),
        "a name not UTF-8": (_one_variable((), 3, 4, name=b"\xff\xfe"), "can't decode byte 0xff"),
        "2**32-1 aliases": (data[:marks["aliases"]] + struct.pack("<I", 2**32 - 1) + b"\0" * 8,
                            "a table of 4294967295 aliases declares"),
        "an alias to nothing": (CT2File().variables(fake_whisper(), [("a", "decoder/nothing")]).data,
                                "the alias a names decoder/nothing, which it does not hold"),
        "a spec name not UTF-8": (CT2File(spec=b"\x80Whisper").variables({}).data, "can't decode byte 0x80"),
    }


MODEL_BIN_CASES = _model_bin_cases()


@pytest.mark.parametrize("case", list(MODEL_BIN_CASES))
def test_damaged_model_bin_is_one_line_and_allocates_nothing(case, tmp_path):
    data, message = MODEL_BIN_CASES[case]
    folder = ct2_folder(tmp_path / "src", data)
    proc = import_ct2_cli(folder, tmp_path / "out", headroom=2 << 30)
    assert_refused(proc, tmp_path / "out", str(folder / "model.bin"), message)


def _mapped(change):
    variables = fake_whisper()
    change(variables)
    return CT2File().variables(variables).data


def _config(value):
    return json.dumps(value).encode()


FOLDER_CASES = {
    # name: (model.bin: bytes, "fake" (the good one), "dir", "fifo" or None; config.json: bytes, "dir" or None;
    #        what the message says)
    "model.bin a folder": ("dir", b"{}", "model.bin is a folder"),
    "model.bin a fifo": ("fifo", b"{}", "model.bin is not a regular file"),
    "no model.bin": (None, b"{}", "needs model.bin and config.json"),
    "no config.json": (b"", None, "needs model.bin and config.json"),
    "config.json a folder": (b"", "dir", "config.json is a folder"),
    "config.json not JSON": (b"", b"{'alignment_heads': ", "config.json could not be read as JSON"),
    "config.json not UTF-8": (b"", b'{"a": "\xff"}', "config.json could not be read as JSON"),
    "config.json a list": (b"", b"[[1, 0]]", "config.json is not a JSON object (it holds a list)"),
    "config.json a string": (b"", b'"model"', "config.json is not a JSON object (it holds a str)"),
    "config.json nested 100000 deep": (b"", b"[" * 100_000 + b"]" * 100_000, "config.json could not be read as JSON"),
    "alignment_heads a number": ("fake", _config({"alignment_heads": 5}), "alignment_heads is 5, not a list"),
    "an alignment head of one number": ("fake", _config({"alignment_heads": [[0]]}),
                                        "alignment head [0] is not a [layer, head] pair"),
    "an alignment head of text": ("fake", _config({"alignment_heads": [[0, "a"]]}),
                                  "alignment head [0, 'a'] is not a [layer, head] pair"),
    "an alignment head outside the model": ("fake", _config({"alignment_heads": [[5, 0]]}),
                                            "alignment head (5, 0), outside the model"),
    "qkv not in three": (_mapped(lambda v: v.__setitem__("encoder/layer_0/self_attention/linear_0/weight",
                                                         np.ones((5, 4), np.float32))), b"{}",
                         "could not be converted: it is not a Whisper model this tool knows (ValueError: array split"),
    "num_heads not a scalar": (_mapped(lambda v: v.__setitem__("encoder/num_heads", np.array([2, 2], np.int32))),
                               b"{}", "(TypeError: only"),
    "num_heads 3 of width 4": (_mapped(lambda v: v.__setitem__("decoder/num_heads", np.array(3, np.int32))), b"{}",
                               "decoder/num_heads (3) does not divide the model width (4)"),
    "num_heads 2**31-1": (_mapped(lambda v: v.__setitem__("decoder/num_heads", np.array(2**31 - 1, np.int32))), b"{}",
                          "decoder/num_heads (2147483647) does not divide"),
    "a variable missing": (_mapped(lambda v: v.pop("encoder/conv2/bias")), b"{}", "has no variable encoder/conv2/bias"),
    "a conv1 of one dimension": (_mapped(lambda v: v.__setitem__("encoder/conv1/weight", np.ones(4, np.float32))),
                                 b"{}", "(IndexError: tuple index out of range)"),
}


@pytest.mark.parametrize("case", list(FOLDER_CASES))
def test_malformed_folder_is_one_line(case, tmp_path):
    model_bin, config, message = FOLDER_CASES[case]
    folder = tmp_path / "src"
    folder.mkdir()
    if model_bin == "dir":
        (folder / "model.bin").mkdir()
    elif model_bin == "fifo":
        os.mkfifo(folder / "model.bin")  # opening it would block: it must be refused before
    elif model_bin is not None:
        (folder / "model.bin").write_bytes(CT2File().variables(fake_whisper()).data if model_bin == "fake" else model_bin)
    if config == "dir":
        (folder / "config.json").mkdir()
    elif config is not None:
        (folder / "config.json").write_bytes(config)
    assert_refused(import_ct2_cli(folder, tmp_path / "out"), tmp_path / "out", message)


def test_an_unwritable_model_dir_is_one_line(tmp_path):
    folder = ct2_folder(tmp_path / "fake", CT2File().variables(fake_whisper()).data)
    blocker = tmp_path / "models"
    blocker.write_text("a file where the model folder should be")
    proc = import_ct2_cli(folder, blocker)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: could not write {blocker / 'x.pt'}")
    assert blocker.read_text() == "a file where the model folder should be"

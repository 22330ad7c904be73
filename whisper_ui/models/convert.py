"""Convert a CTranslate2 (faster-whisper) Whisper model into an openai-whisper checkpoint.

Offline hosts often already have a faster-whisper model folder (``model.bin``
and ``config.json``). CTranslate2 stores the same weights as openai-whisper,
renamed and with the attention projections fused, so the conversion is a
lossless re-labelling: q/k/v are split back apart (the key projection has no
bias in Whisper, so CTranslate2's key bias must be zero), the output projection
is tied to the token embedding, and the alignment heads from ``config.json``
are stored in the checkpoint so word timestamps match the official file.

``model.bin`` layout (CTranslate2 ``ModelSpec.save``, little-endian): u32
binary version, string spec name, u32 revision, u32 variable count, then for
each variable: string name, u8 rank, u32 dims, u8 dtype, u32 byte count,
bytes; then u32 alias count and (alias, target) string pairs. A string is a
u16 length (with the trailing NUL) followed by its bytes.

The file is untrusted input: every declared length, count and shape is checked
against the bytes left in the file before anything is read or allocated, and
any damage ends in a one-line ``ConversionError`` naming the file (the CLI
prints it as ``error: ...``, never a traceback).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import reprlib
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..core.errors import ConversionError

log = logging.getLogger("whisper_ui.convert")

# CTranslate2's DataType enum
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
_CONFIG_SCALARS = re.compile(
    r"^(encoder|decoder)/(num_heads|pre_norm|activation|alibi|alibi_use_positive_positions|scale_alibi|"
    r"rms_norm|rotary_dim|rotary_interleave|rotary_scaling_type|rotary_scaling_factor|rotary_base|"
    r"parallel_residual|shared_layer_norm|multi_query|num_heads_kv|head_dim|sliding_window|"
    r"scale_embeddings|scale_outputs|start_from_zero_embedding|alignment_layer|alignment_heads|"
    r"project_in/.*|project_out/.*)$"
)


# what a config file may weigh: config.json is a few KB, a larger one is not a model's config
MAX_JSON_BYTES = 64 * 1024 * 1024
# the exceptions a damaged or hostile input can raise while it is parsed or mapped
INPUT_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, struct.error, RuntimeError)


def one_line(text: object) -> str:
    """``text`` on one line: an exception's message may span several (torch.load's does)."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def describe(e: BaseException) -> str:
    return one_line(f"{type(e).__name__}: {e}")


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 300  # a path stays whole; a hostile megabyte of text does not reach the message


def short_repr(value: object) -> str:
    return one_line(_REPR.repr(value))


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object, or a one-line ``ConversionError`` saying what is wrong with it."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_JSON_BYTES:
                raise ConversionError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MB: not a model's JSON file.")
            value = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise ConversionError(f"{path} could not be read as JSON ({describe(e)}).") from e
    if not isinstance(value, dict):
        raise ConversionError(f"{path} is not a JSON object (it holds a {type(value).__name__}).")
    return value


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError(f"unexpected end of file at offset {f.tell()}")
    return struct.unpack("<" + fmt, data)[0]


def _need(f: BinaryIO, file_size: int, nbytes: int, what: str) -> None:
    """Refuse to read (or allocate) ``nbytes`` for ``what`` when fewer bytes are left in the file."""
    left = file_size - f.tell()
    if nbytes > left:
        raise EOFError(f"{what} declares {nbytes} bytes at offset {f.tell()}, but only {max(left, 0)} remain")


def _read_string(f: BinaryIO, file_size: int, what: str) -> str:
    length = _read(f, "H")
    _need(f, file_size, length, what)
    data = f.read(length)
    if len(data) != length:
        raise EOFError(f"unexpected end of file at offset {f.tell()}")
    return data.rstrip(b"\0").decode("utf-8")


def read_ct2_model(path: Path) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """Read ``model.bin``: (spec name, variables, aliases). A damaged file raises ``ConversionError``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _read_ct2_model(path, f, os.fstat(f.fileno()).st_size)
    except ConversionError:
        raise
    except (EOFError, UnicodeDecodeError, ValueError, struct.error, OverflowError) as e:
        raise ConversionError(f"{path} is damaged or not a CTranslate2 model ({one_line(e)}).") from e
    except (OSError, RuntimeError) as e:
        raise ConversionError(f"{path} could not be read ({describe(e)}).") from e


def _read_ct2_model(path: Path, f: BinaryIO, size: int) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    import torch

    version = _read(f, "I")
    if not 1 <= version <= 6:
        raise ConversionError(f"{path} is not a CTranslate2 model file (binary version {version}).")
    spec = _read_string(f, size, "the spec name")
    if version >= 2:
        _read(f, "I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    count = _read(f, "I")
    _need(f, size, count * 8, f"a table of {count} variables")  # each: name, rank, dtype, byte count: >= 8 bytes
    for i in range(count):
        name = _read_string(f, size, f"the name of variable {i}")
        rank = _read(f, "B")
        _need(f, size, rank * 4, f"the shape of variable {name}")
        shape = tuple(_read(f, "I") for _ in range(rank))
        dtype_id = _read(f, "B")
        dtype = _DTYPES.get(dtype_id)
        if dtype is None:
            raise ConversionError(f"{path}: variable {name} has an unknown data type {dtype_id}.")
        nbytes = _read(f, "I")
        itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        if math.prod(shape) * itemsize != nbytes:
            raise ValueError(f"variable {name} has the shape {shape} ({math.prod(shape)} elements of {itemsize} "
                             f"bytes) but declares {nbytes} bytes")
        _need(f, size, nbytes, f"variable {name}")
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise EOFError(f"unexpected end of file at offset {f.tell()}")
        if dtype == "bfloat16":
            raw = torch.frombuffer(bytearray(data), dtype=torch.bfloat16)
            variables[name] = raw.float().numpy().reshape(shape)
        else:
            variables[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
    aliases = {}
    if version >= 5:
        count = _read(f, "I")
        _need(f, size, count * 4, f"a table of {count} aliases")  # each: two strings, >= 4 bytes
        for i in range(count):
            alias = _read_string(f, size, f"alias {i}")
            aliases[alias] = _read_string(f, size, f"the target of alias {alias}")
    return spec, variables, aliases


def _check_model_dir(src: Path) -> tuple[Path, dict[str, Any]]:
    if not src.is_dir():
        raise ConversionError(f"{src} is not a folder. Give the folder of a faster-whisper model (model.bin + config.json).")
    model_bin, config_json = src / "model.bin", src / "config.json"
    if not model_bin.exists() or not config_json.exists():
        raise ConversionError(
            f"{src} is not a CTranslate2 Whisper model: it needs model.bin and config.json "
            "(a faster-whisper model folder). If model.bin comes in parts, join them first "
            "(cat model.bin.part1 model.bin.part2 > model.bin)."
        )
    for path in (model_bin, config_json):
        if not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise ConversionError(f"{path} is {kind}: a CTranslate2 Whisper model needs it as a file.")
    return model_bin, read_json_object(config_json)


def _alignment_heads(config: dict[str, Any], config_json: Path, n_text_layer: int, n_text_head: int) -> np.ndarray:
    heads = np.zeros((n_text_layer, n_text_head), dtype=bool)
    pairs = config.get("alignment_heads") or []
    if not isinstance(pairs, list):
        raise ConversionError(f"{config_json}: alignment_heads is {short_repr(pairs)}, not a list of [layer, head] pairs.")
    for pair in pairs:
        if not (isinstance(pair, list | tuple) and len(pair) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in pair)):
            raise ConversionError(f"{config_json}: alignment head {short_repr(pair)} is not a [layer, head] pair.")
        layer, head = pair
        if not (0 <= layer < n_text_layer and 0 <= head < n_text_head):
            raise ConversionError(f"config.json names alignment head ({layer}, {head}), outside the model.")
        heads[layer, head] = True
    return heads


def convert_ct2(src: Path) -> dict[str, Any]:
    """Return an openai-whisper checkpoint dict built from a CTranslate2 model folder.

    Whatever is wrong with the folder, the only exception is a ``ConversionError`` with a one-line message.
    """
    try:
        return _convert_ct2(Path(src))
    except ConversionError as e:
        if one_line(e) == str(e):
            raise
        raise ConversionError(one_line(e)) from e
    except INPUT_ERRORS as e:
        raise ConversionError(f"{src} could not be converted: it is not a Whisper model this tool knows "
                              f"({describe(e)}).") from e


def _convert_ct2(src: Path) -> dict[str, Any]:
    import torch

    model_bin, config = _check_model_dir(src)
    variables = _whisper_variables(src, model_bin)
    tensors = _CT2Tensors(model_bin, variables)
    n_audio_layer, n_text_layer = tensors.count_layers("encoder"), tensors.count_layers("decoder")
    if not n_audio_layer or not n_text_layer:
        raise ConversionError(f"{model_bin} has no encoder or decoder layers: not a Whisper model.")
    state = tensors.relabel(n_audio_layer, n_text_layer)
    tensors.check_all_used()

    dims = _dims(state, variables, model_bin, n_audio_layer, n_text_layer)
    heads = _alignment_heads(config, model_bin.parent / "config.json", n_text_layer, dims["n_text_head"])
    checkpoint: dict[str, Any] = {
        "dims": dims,
        "model_state_dict": {k: torch.from_numpy(np.array(v)) for k, v in state.items()},
        "whisper_ui": {"source": "ctranslate2", "source_dir": str(Path(src).resolve())},
    }
    if heads.any():
        checkpoint["alignment_heads"] = torch.from_numpy(heads)
    else:
        log.warning("%s names no alignment heads: word timestamps will use openai-whisper's default heads", src)
    return checkpoint


def _whisper_variables(src: Path, model_bin: Path) -> dict[str, np.ndarray]:
    """``model.bin``'s variables, its aliases among them, once it is a Whisper model that is not quantized."""
    spec, variables, aliases = read_ct2_model(model_bin)
    if spec != "WhisperSpec":
        raise ConversionError(f"{src} holds a CTranslate2 '{spec[:100]}' model, not a Whisper model.")
    for alias, target in aliases.items():
        if target not in variables:
            raise ConversionError(f"{model_bin} is damaged: the alias {alias} names {target}, which it does not hold.")
        variables.setdefault(alias, variables[target])
    if any(v.dtype == np.int8 and v.ndim == 2 for v in variables.values()) or any(
        k.endswith("weight_scale") for k in variables
    ):
        raise ConversionError(
            f"{src} is a quantized (int8) model; it cannot be converted without loss. "
            "Use a float16 or float32 faster-whisper model."
        )
    return variables


class _CT2Tensors:
    """A CTranslate2 Whisper model's variables, relabelled into openai-whisper's state dict (``state``), with
    the names used kept (``used``): a variable left over is one this converter does not know."""

    def __init__(self, model_bin: Path, variables: dict[str, np.ndarray]):
        self.model_bin, self.variables = model_bin, variables
        self.used: set[str] = set()
        self.state: dict[str, np.ndarray] = {}

    def take(self, name: str) -> np.ndarray:
        if name not in self.variables:
            raise ConversionError(f"{self.model_bin} has no variable {name}: not a Whisper model this tool knows.")
        self.used.add(name)
        return self.variables[name]

    def linear(self, dst: str, src_name: str, bias: bool = True) -> None:
        self.state[f"{dst}.weight"] = self.take(f"{src_name}/weight")
        if bias:
            self.state[f"{dst}.bias"] = self.take(f"{src_name}/bias")

    def layer_norm(self, dst: str, src_name: str) -> None:
        self.state[f"{dst}.weight"] = self.take(f"{src_name}/gamma")
        self.state[f"{dst}.bias"] = self.take(f"{src_name}/beta")

    def split(self, dst_prefix: str, src_name: str, parts: tuple[str, ...]) -> None:
        weight, bias = self.take(f"{src_name}/weight"), self.take(f"{src_name}/bias")
        for part, w, b in zip(parts, np.split(weight, len(parts)), np.split(bias, len(parts)), strict=True):
            self.state[f"{dst_prefix}.{part}.weight"] = w
            if part == "key":
                if np.any(b != 0):
                    raise ConversionError(
                        f"{src_name} has a non-zero key bias; Whisper has none, so this is not a Whisper model."
                    )
            else:
                self.state[f"{dst_prefix}.{part}.bias"] = b

    def mlp(self, dst: str, src_name: str) -> None:
        self.layer_norm(f"{dst}.mlp_ln", f"{src_name}/ffn/layer_norm")
        self.linear(f"{dst}.mlp.0", f"{src_name}/ffn/linear_0")
        self.linear(f"{dst}.mlp.2", f"{src_name}/ffn/linear_1")

    def count_layers(self, side: str) -> int:
        n = 0
        while f"{side}/layer_{n}/ffn/linear_0/weight" in self.variables:
            n += 1
        return n

    def relabel(self, n_audio_layer: int, n_text_layer: int) -> dict[str, np.ndarray]:
        """The encoder's and the decoder's variables under openai-whisper's names."""
        self.linear("encoder.conv1", "encoder/conv1")
        self.linear("encoder.conv2", "encoder/conv2")
        self.state["encoder.positional_embedding"] = self.take("encoder/position_encodings/encodings")
        for i in range(n_audio_layer):
            src_layer, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
            self.layer_norm(f"{dst}.attn_ln", f"{src_layer}/self_attention/layer_norm")
            self.split(f"{dst}.attn", f"{src_layer}/self_attention/linear_0", ("query", "key", "value"))
            self.linear(f"{dst}.attn.out", f"{src_layer}/self_attention/linear_1")
            self.mlp(dst, src_layer)
        self.layer_norm("encoder.ln_post", "encoder/layer_norm")

        self.state["decoder.token_embedding.weight"] = self.take("decoder/embeddings/weight")
        self.state["decoder.positional_embedding"] = self.take("decoder/position_encodings/encodings")
        for i in range(n_text_layer):
            src_layer, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
            self.layer_norm(f"{dst}.attn_ln", f"{src_layer}/self_attention/layer_norm")
            self.split(f"{dst}.attn", f"{src_layer}/self_attention/linear_0", ("query", "key", "value"))
            self.linear(f"{dst}.attn.out", f"{src_layer}/self_attention/linear_1")
            self.layer_norm(f"{dst}.cross_attn_ln", f"{src_layer}/attention/layer_norm")
            self.linear(f"{dst}.cross_attn.query", f"{src_layer}/attention/linear_0")
            self.split(f"{dst}.cross_attn", f"{src_layer}/attention/linear_1", ("key", "value"))
            self.linear(f"{dst}.cross_attn.out", f"{src_layer}/attention/linear_2")
            self.mlp(dst, src_layer)
        self.layer_norm("decoder.ln", "decoder/layer_norm")
        return self.state

    def check_all_used(self) -> None:
        """The output projection is the token embedding (openai-whisper ties them), and no variable is left
        but the config's scalars."""
        projection = self.take("decoder/projection/weight")
        if not np.array_equal(projection, self.state["decoder.token_embedding.weight"]):
            raise ConversionError("The output projection differs from the token embedding; openai-whisper ties them.")
        leftover = sorted(k for k in self.variables if k not in self.used and not _CONFIG_SCALARS.match(k))
        if leftover:
            raise ConversionError(f"{self.model_bin} has variables this converter does not know: {', '.join(leftover[:5])}")


def _dims(state: dict[str, np.ndarray], variables: dict[str, np.ndarray], model_bin: Path, n_audio_layer: int,
          n_text_layer: int) -> dict[str, int]:
    """openai-whisper's ``dims``, from the tensors' shapes and the heads ``model.bin`` names (which must divide them)."""
    conv1 = state["encoder.conv1.weight"]
    enc_pos, dec_pos = state["encoder.positional_embedding"], state["decoder.positional_embedding"]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(enc_pos.shape[0]),
        "n_audio_state": int(enc_pos.shape[1]),
        "n_audio_head": int(variables.get("encoder/num_heads", enc_pos.shape[1] // 64)),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(state["decoder.token_embedding.weight"].shape[0]),
        "n_text_ctx": int(dec_pos.shape[0]),
        "n_text_state": int(dec_pos.shape[1]),
        "n_text_head": int(variables.get("decoder/num_heads", dec_pos.shape[1] // 64)),
        "n_text_layer": n_text_layer,
    }
    for side, state_key, head_key in (("encoder", "n_audio_state", "n_audio_head"), ("decoder", "n_text_state", "n_text_head")):
        if dims[head_key] <= 0 or dims[state_key] % dims[head_key]:
            raise ConversionError(f"{model_bin}: {side}/num_heads ({dims[head_key]}) does not divide the model width "
                                  f"({dims[state_key]}): not a Whisper model.")
    return dims


def save_checkpoint(checkpoint: dict[str, Any], path: Path) -> Path:
    """Write atomically: a crash never leaves a half-written NAME.pt behind."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_checkpoint(checkpoint: dict[str, Any], path: Path) -> Path:
    """``save_checkpoint``, with a one-line ``ConversionError`` when the model folder cannot be written."""
    try:
        return save_checkpoint(checkpoint, path)
    except OSError as e:
        raise ConversionError(f"could not write {path} ({describe(e)}).") from e


def import_ct2(src: Path, name: str, model_dir: Path) -> Path:
    checkpoint = convert_ct2(src)
    path = write_checkpoint(checkpoint, Path(model_dir) / f"{name}.pt")
    log.info("converted %s into %s (%s)", src, path, checkpoint["dims"])
    return path

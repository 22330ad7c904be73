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
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import ConversionError

log = logging.getLogger(__name__)

# CTranslate2's DataType enum
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
_CONFIG_SCALARS = re.compile(
    r"^(encoder|decoder)/(num_heads|pre_norm|activation|alibi|alibi_use_positive_positions|scale_alibi|"
    r"rms_norm|rotary_dim|rotary_interleave|rotary_scaling_type|rotary_scaling_factor|rotary_base|"
    r"parallel_residual|shared_layer_norm|multi_query|num_heads_kv|head_dim|sliding_window|"
    r"scale_embeddings|scale_outputs|start_from_zero_embedding|alignment_layer|alignment_heads|"
    r"project_in/.*|project_out/.*)$"
)


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError("unexpected end of file")
    return struct.unpack("<" + fmt, data)[0]


def _read_string(f: BinaryIO) -> str:
    length = _read(f, "H")
    data = f.read(length)
    if len(data) != length:
        raise EOFError("unexpected end of file")
    return data.rstrip(b"\0").decode("utf-8")


def read_ct2_model(path: Path) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """Read ``model.bin``: (spec name, variables, aliases)."""
    import torch

    with open(path, "rb") as f:
        version = _read(f, "I")
        if not 1 <= version <= 6:
            raise ConversionError(f"{path} is not a CTranslate2 model file (binary version {version}).")
        spec = _read_string(f)
        if version >= 2:
            _read(f, "I")  # spec revision
        variables: dict[str, np.ndarray] = {}
        for _ in range(_read(f, "I")):
            name = _read_string(f)
            shape = tuple(_read(f, "I") for _ in range(_read(f, "B")))
            dtype_id = _read(f, "B")
            nbytes = _read(f, "I")
            data = f.read(nbytes)
            if len(data) != nbytes:
                raise EOFError("unexpected end of file")
            dtype = _DTYPES.get(dtype_id)
            if dtype is None:
                raise ConversionError(f"{path}: variable {name} has an unknown data type {dtype_id}.")
            if dtype == "bfloat16":
                raw = torch.frombuffer(bytearray(data), dtype=torch.bfloat16)
                variables[name] = raw.float().numpy().reshape(shape)
            else:
                variables[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
        aliases = {}
        if version >= 5:
            for _ in range(_read(f, "I")):
                alias = _read_string(f)
                aliases[alias] = _read_string(f)
    return spec, variables, aliases


def _check_model_dir(src: Path) -> tuple[Path, dict[str, Any]]:
    if not src.is_dir():
        raise ConversionError(f"{src} is not a folder. Give the folder of a faster-whisper model (model.bin + config.json).")
    model_bin, config_json = src / "model.bin", src / "config.json"
    if not model_bin.is_file() or not config_json.is_file():
        raise ConversionError(
            f"{src} is not a CTranslate2 Whisper model: it needs model.bin and config.json "
            "(a faster-whisper model folder). If model.bin comes in parts, join them first "
            "(cat model.bin.part1 model.bin.part2 > model.bin)."
        )
    try:
        config = json.loads(config_json.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConversionError(f"{config_json} is not valid JSON: {e}") from e
    return model_bin, config


def convert_ct2(src: Path) -> dict[str, Any]:
    """Return an openai-whisper checkpoint dict built from a CTranslate2 model folder."""
    import torch

    model_bin, config = _check_model_dir(Path(src))
    try:
        spec, variables, aliases = read_ct2_model(model_bin)
    except (EOFError, UnicodeDecodeError, ValueError) as e:
        raise ConversionError(f"{model_bin} is damaged or not a CTranslate2 model ({e}).") from e
    if spec != "WhisperSpec":
        raise ConversionError(f"{src} holds a CTranslate2 '{spec}' model, not a Whisper model.")
    for alias, target in aliases.items():
        variables.setdefault(alias, variables[target])
    if any(v.dtype == np.int8 and v.ndim == 2 for v in variables.values()) or any(
        k.endswith("weight_scale") for k in variables
    ):
        raise ConversionError(
            f"{src} is a quantized (int8) model; it cannot be converted without loss. "
            "Use a float16 or float32 faster-whisper model."
        )

    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        if name not in variables:
            raise ConversionError(f"{model_bin} has no variable {name}: not a Whisper model this tool knows.")
        used.add(name)
        return variables[name]

    state: dict[str, np.ndarray] = {}

    def linear(dst: str, src_name: str, bias: bool = True) -> None:
        state[f"{dst}.weight"] = take(f"{src_name}/weight")
        if bias:
            state[f"{dst}.bias"] = take(f"{src_name}/bias")

    def layer_norm(dst: str, src_name: str) -> None:
        state[f"{dst}.weight"] = take(f"{src_name}/gamma")
        state[f"{dst}.bias"] = take(f"{src_name}/beta")

    def split(dst_prefix: str, src_name: str, parts: tuple[str, ...]) -> None:
        weight, bias = take(f"{src_name}/weight"), take(f"{src_name}/bias")
        for part, w, b in zip(parts, np.split(weight, len(parts)), np.split(bias, len(parts)), strict=True):
            state[f"{dst_prefix}.{part}.weight"] = w
            if part == "key":
                if np.any(b != 0):
                    raise ConversionError(
                        f"{src_name} has a non-zero key bias; Whisper has none, so this is not a Whisper model."
                    )
            else:
                state[f"{dst_prefix}.{part}.bias"] = b

    def mlp(dst: str, src_name: str) -> None:
        layer_norm(f"{dst}.mlp_ln", f"{src_name}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src_name}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src_name}/ffn/linear_1")

    def count_layers(side: str) -> int:
        n = 0
        while f"{side}/layer_{n}/ffn/linear_0/weight" in variables:
            n += 1
        return n

    n_audio_layer, n_text_layer = count_layers("encoder"), count_layers("decoder")
    if not n_audio_layer or not n_text_layer:
        raise ConversionError(f"{model_bin} has no encoder or decoder layers: not a Whisper model.")

    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    state["encoder.positional_embedding"] = take("encoder/position_encodings/encodings")
    for i in range(n_audio_layer):
        src_layer, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        layer_norm(f"{dst}.attn_ln", f"{src_layer}/self_attention/layer_norm")
        split(f"{dst}.attn", f"{src_layer}/self_attention/linear_0", ("query", "key", "value"))
        linear(f"{dst}.attn.out", f"{src_layer}/self_attention/linear_1")
        mlp(dst, src_layer)
    layer_norm("encoder.ln_post", "encoder/layer_norm")

    state["decoder.token_embedding.weight"] = take("decoder/embeddings/weight")
    state["decoder.positional_embedding"] = take("decoder/position_encodings/encodings")
    for i in range(n_text_layer):
        src_layer, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        layer_norm(f"{dst}.attn_ln", f"{src_layer}/self_attention/layer_norm")
        split(f"{dst}.attn", f"{src_layer}/self_attention/linear_0", ("query", "key", "value"))
        linear(f"{dst}.attn.out", f"{src_layer}/self_attention/linear_1")
        layer_norm(f"{dst}.cross_attn_ln", f"{src_layer}/attention/layer_norm")
        linear(f"{dst}.cross_attn.query", f"{src_layer}/attention/linear_0")
        split(f"{dst}.cross_attn", f"{src_layer}/attention/linear_1", ("key", "value"))
        linear(f"{dst}.cross_attn.out", f"{src_layer}/attention/linear_2")
        mlp(dst, src_layer)
    layer_norm("decoder.ln", "decoder/layer_norm")

    projection = take("decoder/projection/weight")
    if not np.array_equal(projection, state["decoder.token_embedding.weight"]):
        raise ConversionError("The output projection differs from the token embedding; openai-whisper ties them.")
    leftover = sorted(k for k in variables if k not in used and not _CONFIG_SCALARS.match(k))
    if leftover:
        raise ConversionError(f"{model_bin} has variables this converter does not know: {', '.join(leftover[:5])}")

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
    heads = np.zeros((n_text_layer, dims["n_text_head"]), dtype=bool)
    for layer, head in config.get("alignment_heads") or []:
        if not (0 <= layer < n_text_layer and 0 <= head < dims["n_text_head"]):
            raise ConversionError(f"config.json names alignment head ({layer}, {head}), outside the model.")
        heads[layer, head] = True
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


def import_ct2(src: Path, name: str, model_dir: Path) -> Path:
    checkpoint = convert_ct2(src)
    path = save_checkpoint(checkpoint, Path(model_dir) / f"{name}.pt")
    log.info("converted %s into %s (%s)", src, path, checkpoint["dims"])
    return path

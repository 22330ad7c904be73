"""Convert a Hugging Face Transformers Whisper checkpoint into an openai-whisper checkpoint.

People who ran ``openai/whisper-*`` through Transformers may have fine-tuned
checkpoints (``save_pretrained`` folders) they want to keep. Transformers'
``WhisperForConditionalGeneration`` holds the same weights as openai-whisper
under other names, so the conversion is a lossless re-labelling: q/k/v/out_proj
become query/key/value/out (the key projection has no bias in either), fc1/fc2
become the MLP, ``proj_out`` must be the token embedding (openai-whisper ties
them), and the alignment heads from ``generation_config.json`` are stored in
the checkpoint so word timestamps use the same heads. Tensors keep their dtype.

Weights are read from ``model.safetensors`` or ``pytorch_model.bin`` (or their
sharded ``*.index.json`` form) without needing the ``transformers`` or
``safetensors`` packages. A safetensors file is an u64 little-endian header
length, a JSON header ``{name: {dtype, shape, data_offsets}}`` (offsets from
the end of the header), then the raw little-endian bytes; it is memory-mapped,
so a 3 GB model is not copied into memory before it is written out.

The folder is untrusted input. No path taken from ``refs/main`` or from an
index's ``weight_map`` may lead (through ``..``, an absolute path or a symbolic
link) outside the folder given, or the hub cache folder it is a snapshot of;
every size in a safetensors header is checked against the file; and any damage
ends in a one-line ``ConversionError`` (the CLI prints ``error: ...``, never a
traceback).
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import os
import struct
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from ..core.errors import ConversionError
from .convert import INPUT_ERRORS, describe, one_line, read_json_object, short_repr, write_checkpoint

log = logging.getLogger("whisper_ui.convert_hf")

SAFETENSORS_FILE, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
PYTORCH_FILE, PYTORCH_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
# openai-whisper picks its tokenizer from the vocabulary size: English-only, multilingual, large-v3's 100 languages
_VOCAB_SIZES = (51864, 51865, 51866)
_MAX_HEADER = 100 * 1024 * 1024
_MAX_REF = 1024  # refs/main holds a commit hash
_MAX_AUDIO_CTX = 65536  # openai-whisper's is 1500: a larger table is not a Whisper model (and could fill memory)


def _torch_dtype(name: str):
    import torch

    return {
        "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
        "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
        "BOOL": torch.bool,
    }.get(name)


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_safetensors(path: Path) -> dict[str, Any]:
    """Memory-map a ``.safetensors`` file into tensors (copy-on-write: the file is never changed)."""
    import torch

    try:
        with open(path, "rb") as f:
            file_size = os.fstat(f.fileno()).st_size
            raw = f.read(8)
            if len(raw) != 8:
                raise ConversionError(f"{path} is empty or truncated: not a safetensors file.")
            header_size = struct.unpack("<Q", raw)[0]
            if header_size > _MAX_HEADER:
                raise ConversionError(f"{path} is not a safetensors file (its header claims {header_size} bytes).")
            if header_size > file_size - 8:
                raise ConversionError(f"{path} is damaged or truncated: its header claims {header_size} bytes, "
                                      f"the file has {file_size - 8} after the header length.")
            try:
                header = json.loads(f.read(header_size))
            except (ValueError, RecursionError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
                raise ConversionError(f"{path} is not a safetensors file: its header is not JSON ({one_line(e)}).") from e
            data_start = 8 + header_size
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if file_size > data_start else None
    except OSError as e:
        raise ConversionError(f"{path} could not be read ({describe(e)}).") from e
    if not isinstance(header, dict):
        raise ConversionError(f"{path} is not a safetensors file: its header is not a JSON object.")
    tensors: dict[str, Any] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = _torch_dtype(info["dtype"]), [int(n) for n in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError) as e:
            raise ConversionError(f"{path}: the header entry for {short_repr(name)} is malformed ({describe(e)}).") from e
        if not (all(_whole_number(n) for n in (*info["shape"], begin, end)) and begin <= end):
            raise ConversionError(f"{path}: the header entry for {short_repr(name)} is malformed (shape "
                                  f"{short_repr(info['shape'])}, data_offsets {short_repr(info['data_offsets'])}).")
        if dtype is None:
            raise ConversionError(f"{path}: tensor {short_repr(name)} has the data type {short_repr(info['dtype'])}, "
                                  "which this converter does not know.")
        count = math.prod(shape)  # Python integers: a hostile shape cannot overflow into a small count
        if end - begin != count * dtype.itemsize or data_start + end > file_size or begin < 0:
            raise ConversionError(f"{path} is damaged or truncated: tensor {short_repr(name)} does not fit its byte range.")
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(mapped, dtype=dtype, count=count, offset=data_start + begin).reshape(shape)
    return tensors


def read_pytorch_bin(path: Path) -> dict[str, Any]:
    """``torch.load`` a ``pytorch_model.bin``, refusing anything but tensors."""
    import torch

    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # the pre-1.6 format cannot be mapped
    except Exception as e:
        raise ConversionError(f"{path} could not be read as PyTorch weights ({describe(e)}).") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path} is not a Transformers state dict (a mapping of names to tensors).")
    return state


def _inside(path: Path, root: Path, what: str) -> Path:
    """``path``, refused unless it lies in ``root`` once ``..`` and symbolic links are followed."""
    try:
        resolved, base = path.resolve(), root.resolve()
    except (OSError, RuntimeError) as e:  # a link loop: RuntimeError before Python 3.13, OSError after
        raise ConversionError(f"{what} ({path}) cannot be followed ({describe(e)}): refused.") from e
    if not resolved.is_relative_to(base):
        raise ConversionError(f"{what} leads outside {root} (to {resolved}): refused, a model folder must hold "
                              "its own files.")
    return path


def _read_revision(ref: Path) -> str:
    """The revision ``refs/main`` names: a commit hash, one path component, never a path."""
    try:
        with open(ref, "rb") as f:
            data = f.read(_MAX_REF + 1)
        revision = data.decode("utf-8").strip()
    except (OSError, ValueError) as e:
        raise ConversionError(f"{ref} could not be read ({describe(e)}).") from e
    if len(data) > _MAX_REF or not revision:
        raise ConversionError(f"{ref} is {'empty' if not revision else 'too long'}: it should hold a commit hash.")
    if any(c in revision for c in "/\\\0\n\r") or revision in (".", "..") or PurePath(revision).is_absolute():
        raise ConversionError(f"{ref} names the revision {short_repr(revision)}, which is not a snapshot name (one "
                              "folder name, such as a commit hash): refused.")
    return revision


def resolve_source(src: Path) -> Path:
    """The folder holding ``config.json``: ``src`` itself, or a snapshot when ``src`` is a hub cache folder.

    A hub cache folder (``models--org--name``) is accepted so a model already in
    ``~/.cache/huggingface/hub`` can be imported without looking for its snapshot.
    The snapshot must lie inside ``src``, whatever ``refs/main`` says or a link points at.
    """
    src = Path(src).expanduser()
    if not src.is_dir():
        raise ConversionError(
            f"{src} is not a folder. Give the folder of a Transformers Whisper checkpoint "
            "(config.json with model.safetensors or pytorch_model.bin), as written by save_pretrained."
        )
    snapshots = src / "snapshots"
    if (src / "config.json").exists() or not snapshots.is_dir():
        return src
    _inside(snapshots, src, f"{snapshots}")
    ref = src / "refs" / "main"
    if ref.is_file():
        _inside(ref, src, f"{ref}")
        snapshot = snapshots / _read_revision(ref)
        if snapshot.is_dir():
            return _inside(snapshot, src, f"the snapshot {snapshot} that {ref} names")
    revisions = sorted(p for p in snapshots.iterdir() if p.is_dir())
    if len(revisions) == 1:
        return _inside(revisions[0], src, f"the snapshot {revisions[0]}")
    if not revisions:
        raise ConversionError(f"{src} is a Hugging Face cache folder with no downloaded snapshot.")
    raise ConversionError(
        f"{src} holds several snapshots and none is refs/main: give one of them, e.g. {revisions[-1]}"
    )


def _source_root(folder: Path) -> Path:
    """The folder no shard may lead outside: ``folder``, or the hub cache folder (``models--org--name``) when
    ``folder`` is one of its snapshots (whose files are links into ``../../blobs``)."""
    folder = folder.absolute()
    if folder.parent.name == "snapshots" and (folder.parent.parent / "blobs").is_dir():
        return folder.parent.parent
    return folder


def _shard(folder: Path, index: Path, name: Any) -> Path:
    """The shard file an index's ``weight_map`` names, refused if the name leads outside the model folder."""
    if not isinstance(name, str) or not name.strip():
        raise ConversionError(f"{index}: its weight_map names the shard {short_repr(name)}, which is not a file name.")
    if "\0" in name or PurePath(name).is_absolute() or ".." in PurePath(name).parts:
        raise ConversionError(f"{index} names the shard {short_repr(name)}, a path outside {folder}: refused.")
    return _inside(folder / name, _source_root(folder), f"the shard {short_repr(name)} named in {index}")


def _weight_files(folder: Path) -> list[Path]:
    for single, index in ((SAFETENSORS_FILE, SAFETENSORS_INDEX), (PYTORCH_FILE, PYTORCH_INDEX)):
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            weight_map = read_json_object(folder / index).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise ConversionError(f"{folder / index} has no weight_map.")
            names = list(weight_map.values())
            if not all(isinstance(name, str) for name in names):
                bad = next(name for name in names if not isinstance(name, str))
                raise ConversionError(f"{folder / index}: its weight_map names the shard {short_repr(bad)}, "
                                      "which is not a file name.")
            files = [_shard(folder, folder / index, name) for name in sorted(set(names))]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise ConversionError(f"{folder} lacks shard(s) {', '.join(missing)} named in {index}: copy the whole folder.")
            return files
    raise ConversionError(_folder_hint(folder) or (
        f"{folder} has no model.safetensors or pytorch_model.bin (nor a sharded *.index.json): "
        "not a Transformers checkpoint folder."
    ))


def _folder_hint(folder: Path) -> str | None:
    """What a folder that is not a Transformers checkpoint probably is, and what to do with it."""
    if (folder / "adapter_config.json").is_file():
        return (f"{folder} holds a PEFT/LoRA adapter, not a whole model. Merge it first: load the base model with "
                "peft, call merge_and_unload(), then save_pretrained() into a new folder and import that.")
    if (folder / "model.bin").is_file():
        return f"{folder} is a CTranslate2 (faster-whisper) model: use `python -m whisper_ui models import-ct2`."
    if (folder / "tf_model.h5").is_file() or (folder / "flax_model.msgpack").is_file():
        return (f"{folder} has only TensorFlow or Flax weights. Convert them with Transformers 4.x first "
                "(Transformers 5 dropped both): WhisperForConditionalGeneration.from_pretrained(folder, from_tf=True) "
                "(or from_flax=True), then save_pretrained() into a new folder and import that.")
    if any(folder.glob("*.pt")):
        return (f"{folder} holds .pt files: openai-whisper checkpoints need no conversion, copy NAME.pt into the "
                "model folder and load it with --model NAME.")
    return None


def _check_config(folder: Path) -> dict[str, Any]:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ConversionError(
            f"{folder} has no config.json: not a Transformers checkpoint folder. Give the folder save_pretrained "
            "wrote (config.json with model.safetensors or pytorch_model.bin)."
        )
    config = read_json_object(config_path)
    model_type = config.get("model_type")
    if model_type != "whisper":
        raise ConversionError(f"{config_path} describes a '{model_type}' model, not a Whisper model (model_type 'whisper').")
    d_model = config.get("d_model")
    problems = []
    if config.get("activation_function", "gelu") != "gelu":
        problems.append(f"activation_function is {config['activation_function']!r} (openai-whisper uses gelu)")
    if config.get("scale_embedding"):
        problems.append("scale_embedding is true (openai-whisper does not scale embeddings)")
    for key in ("encoder_ffn_dim", "decoder_ffn_dim"):
        if isinstance(d_model, int) and config.get(key, 4 * d_model) != 4 * d_model:
            problems.append(f"{key} is {config[key]}, not 4 x d_model ({4 * d_model})")
    if config.get("vocab_size") not in _VOCAB_SIZES:
        problems.append(
            f"vocab_size is {config.get('vocab_size')}: openai-whisper's tokenizers have "
            f"{', '.join(map(str, _VOCAB_SIZES))} tokens (a checkpoint with added tokens cannot use them)"
        )
    if problems:
        raise ConversionError(f"{config_path} is a Whisper variant openai-whisper cannot run: {'; '.join(problems)}.")
    return config


def _config_int(config: dict[str, Any], key: str, default: int, folder: Path) -> int:
    value = config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConversionError(f"{folder / 'config.json'}: {key} is {short_repr(value)}, not a whole number.")
    return value


def _alignment_heads(folder: Path, n_text_layer: int, n_text_head: int) -> np.ndarray | None:
    path = folder / "generation_config.json"
    pairs = read_json_object(path).get("alignment_heads") if path.is_file() else None
    if pairs is not None and not isinstance(pairs, list):
        raise ConversionError(f"{path}: alignment_heads is {short_repr(pairs)}, not a list of [layer, head] pairs.")
    heads = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for pair in pairs or []:
        try:
            layer, head = (int(n) for n in pair)
        except (TypeError, ValueError) as e:
            raise ConversionError(f"{path}: alignment head {short_repr(pair)} is not a [layer, head] pair.") from e
        if not (0 <= layer < n_text_layer and 0 <= head < n_text_head):
            raise ConversionError(f"{path} names alignment head ({layer}, {head}), outside the model.")
        heads[layer, head] = True
    return heads if heads.any() else None


def _expected_state(dims: dict[str, int]) -> dict[str, Any]:
    """openai-whisper's parameter names and shapes for ``dims``, built on the meta device (no memory)."""
    import torch
    from whisper.model import AudioEncoder, TextDecoder

    with torch.device("meta"):
        encoder = AudioEncoder(dims["n_mels"], dims["n_audio_ctx"], dims["n_audio_state"], dims["n_audio_head"],
                               dims["n_audio_layer"])
        decoder = TextDecoder(dims["n_vocab"], dims["n_text_ctx"], dims["n_text_state"], dims["n_text_head"],
                              dims["n_text_layer"])
    return {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()},
            **{f"decoder.{k}": v for k, v in decoder.state_dict().items()}}


def load_hf_weights(files: list[Path]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for path in files:
        state.update(read_safetensors(path) if path.suffix == ".safetensors" else read_pytorch_bin(path))
    return state


def convert_hf(src: Path) -> dict[str, Any]:
    """Return an openai-whisper checkpoint dict built from a Transformers Whisper checkpoint folder.

    Whatever is wrong with the folder, the only exception is a ``ConversionError`` with a one-line message.
    """
    try:
        return _convert_hf(src)
    except ConversionError as e:
        if one_line(e) == str(e):
            raise
        raise ConversionError(one_line(e)) from e
    except (*INPUT_ERRORS, RecursionError) as e:
        raise ConversionError(f"{src} could not be converted: it is not a Whisper checkpoint this tool knows "
                              f"({describe(e)}).") from e


def _convert_hf(src: Path) -> dict[str, Any]:
    from whisper.model import sinusoids

    folder = resolve_source(src)
    files = _weight_files(folder)
    config = _check_config(folder)
    tensors = _HFTensors(folder, load_hf_weights(files))
    n_audio_layer = _config_int(config, "encoder_layers", 0, folder)
    n_text_layer = _config_int(config, "decoder_layers", 0, folder)
    state = tensors.relabel(n_audio_layer, n_text_layer)

    conv1, token_embedding = state["encoder.conv1.weight"], state["decoder.token_embedding.weight"]
    if tensors.prefix + "encoder.embed_positions.weight" in tensors.variables:
        state["encoder.positional_embedding"] = tensors.take("encoder.embed_positions.weight")
    else:  # a fixed sinusoid table that some exports leave out
        n_audio_ctx = _config_int(config, "max_source_positions", 1500, folder)
        if not 0 < n_audio_ctx <= _MAX_AUDIO_CTX or conv1.dim() != 3 or conv1.shape[0] % 2:
            raise ConversionError(f"{folder}: max_source_positions ({n_audio_ctx}) or encoder.conv1.weight "
                                  f"{tuple(conv1.shape)} is not a Whisper encoder's.")
        state["encoder.positional_embedding"] = sinusoids(n_audio_ctx, conv1.shape[0]).to(conv1.dtype)
    tensors.check_all_used(token_embedding)

    dims = _dims(state, config, folder, n_audio_layer, n_text_layer)
    expected = _check_shapes(state, dims, folder)
    return _checkpoint(state, expected, dims, config, folder)


class _HFTensors:
    """A Transformers checkpoint's tensors, relabelled into openai-whisper's state dict (``state``), with the
    names used kept (``used``): a tensor left over is one this converter does not know."""

    def __init__(self, folder: Path, variables: dict[str, Any]):
        if any(k.startswith("model.encoder.") for k in variables):
            prefix = "model."  # WhisperForConditionalGeneration
        elif any(k.startswith("encoder.") for k in variables):
            prefix = ""  # WhisperModel
        else:
            raise ConversionError(f"{folder} has no encoder weights (model.encoder.*): not a Whisper checkpoint.")
        if not any(k.startswith(f"{prefix}decoder.") for k in variables):
            raise ConversionError(
                f"{folder} has no decoder weights: an encoder-only model (such as WhisperForAudioClassification) "
                "cannot transcribe."
            )
        self.folder, self.variables, self.prefix = folder, variables, prefix
        self.used: set[str] = set()
        self.state: dict[str, Any] = {}

    def take(self, name: str) -> Any:
        key = self.prefix + name
        if key not in self.variables:
            raise ConversionError(f"{self.folder} has no tensor {key}: not a Whisper checkpoint this tool knows.")
        self.used.add(key)
        return self.variables[key]

    def linear(self, dst: str, src_name: str, bias: bool = True) -> None:
        self.state[f"{dst}.weight"] = self.take(f"{src_name}.weight")
        if bias:
            self.state[f"{dst}.bias"] = self.take(f"{src_name}.bias")

    layer_norm = linear  # a weight and a bias, like a linear layer

    def attention(self, dst: str, src_name: str) -> None:
        import torch

        self.linear(f"{dst}.query", f"{src_name}.q_proj")
        self.linear(f"{dst}.key", f"{src_name}.k_proj", bias=False)
        self.linear(f"{dst}.value", f"{src_name}.v_proj")
        self.linear(f"{dst}.out", f"{src_name}.out_proj")
        key_bias = self.prefix + f"{src_name}.k_proj.bias"
        if key_bias in self.variables:
            if torch.any(self.variables[key_bias] != 0):
                raise ConversionError(f"{key_bias} is not zero; Whisper's key projection has no bias, so this is not Whisper.")
            self.used.add(key_bias)

    def mlp(self, dst: str, src_name: str) -> None:
        self.layer_norm(f"{dst}.mlp_ln", f"{src_name}.final_layer_norm")
        self.linear(f"{dst}.mlp.0", f"{src_name}.fc1")
        self.linear(f"{dst}.mlp.2", f"{src_name}.fc2")

    def relabel(self, n_audio_layer: int, n_text_layer: int) -> dict[str, Any]:
        """The encoder's and the decoder's tensors (all but the encoder's positions) under openai-whisper's names."""
        self.linear("encoder.conv1", "encoder.conv1")
        self.linear("encoder.conv2", "encoder.conv2")
        for i in range(n_audio_layer):
            src_layer, dst = f"encoder.layers.{i}", f"encoder.blocks.{i}"
            self.layer_norm(f"{dst}.attn_ln", f"{src_layer}.self_attn_layer_norm")
            self.attention(f"{dst}.attn", f"{src_layer}.self_attn")
            self.mlp(dst, src_layer)
        self.layer_norm("encoder.ln_post", "encoder.layer_norm")

        self.state["decoder.token_embedding.weight"] = self.take("decoder.embed_tokens.weight")
        self.state["decoder.positional_embedding"] = self.take("decoder.embed_positions.weight")
        for i in range(n_text_layer):
            src_layer, dst = f"decoder.layers.{i}", f"decoder.blocks.{i}"
            self.layer_norm(f"{dst}.attn_ln", f"{src_layer}.self_attn_layer_norm")
            self.attention(f"{dst}.attn", f"{src_layer}.self_attn")
            self.layer_norm(f"{dst}.cross_attn_ln", f"{src_layer}.encoder_attn_layer_norm")
            self.attention(f"{dst}.cross_attn", f"{src_layer}.encoder_attn")
            self.mlp(dst, src_layer)
        self.layer_norm("decoder.ln", "decoder.layer_norm")
        return self.state

    def check_all_used(self, token_embedding: Any) -> None:
        """The output projection, if any, is the token embedding (openai-whisper ties them), and no tensor is left."""
        import torch

        projection = self.variables.get("proj_out.weight")
        if projection is not None:
            self.used.add("proj_out.weight")
            if not torch.equal(projection, token_embedding):
                raise ConversionError(
                    f"{self.folder}: the output projection (proj_out) differs from the token embedding "
                    "(tie_word_embeddings is off). openai-whisper ties them, so this fine-tune cannot be converted "
                    "without changing it."
                )
        leftover = sorted(k for k in self.variables if k not in self.used)
        if leftover:
            raise ConversionError(f"{self.folder} has tensors this converter does not know: {', '.join(leftover[:5])}")


def _dims(state: dict[str, Any], config: dict[str, Any], folder: Path, n_audio_layer: int,
          n_text_layer: int) -> dict[str, int]:
    """openai-whisper's ``dims``, from the tensors' shapes and the config's head counts (which must divide them)."""
    conv1, dec_pos = state["encoder.conv1.weight"], state["decoder.positional_embedding"]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(state["encoder.positional_embedding"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": _config_int(config, "encoder_attention_heads", 0, folder),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(state["decoder.token_embedding.weight"].shape[0]),
        "n_text_ctx": int(dec_pos.shape[0]),
        "n_text_state": int(dec_pos.shape[1]),
        "n_text_head": _config_int(config, "decoder_attention_heads", 0, folder),
        "n_text_layer": n_text_layer,
    }
    for side, state_key, head_key in (("encoder", "n_audio_state", "n_audio_head"), ("decoder", "n_text_state", "n_text_head")):
        if dims[head_key] <= 0 or dims[state_key] % dims[head_key]:
            raise ConversionError(
                f"{folder / 'config.json'}: {side}_attention_heads ({dims[head_key]}) does not divide d_model "
                f"({dims[state_key]}): the config does not match the weights."
            )
    return dims


def _check_shapes(state: dict[str, Any], dims: dict[str, int], folder: Path) -> dict[str, Any]:
    """openai-whisper's parameters for ``dims`` (``_expected_state``), once ``state`` has each with its shape."""
    expected = _expected_state(dims)
    wrong = [f"{k} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
             for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    wrong += [f"{k} missing" for k in expected if k not in state]
    if wrong:
        raise ConversionError(f"{folder}: tensors with the wrong shape for a Whisper model: {', '.join(wrong[:5])}")
    return expected


def _checkpoint(state: dict[str, Any], expected: dict[str, Any], dims: dict[str, int], config: dict[str, Any],
                folder: Path) -> dict[str, Any]:
    """The openai-whisper checkpoint: dims, the tensors in openai-whisper's order, where they came from, and the
    alignment heads of ``generation_config.json`` (if it names any)."""
    import torch

    checkpoint: dict[str, Any] = {
        "dims": dims,
        "model_state_dict": {k: state[k].contiguous() for k in expected},
        "whisper_ui": {"source": "transformers", "source_dir": str(folder.resolve())},
    }
    if config.get("_name_or_path"):
        checkpoint["whisper_ui"]["name_or_path"] = str(config["_name_or_path"])
    heads = _alignment_heads(folder, dims["n_text_layer"], dims["n_text_head"])
    if heads is not None:
        checkpoint["alignment_heads"] = torch.from_numpy(heads)
    else:
        log.warning("%s names no alignment heads: word timestamps will use openai-whisper's default heads", folder)
    return checkpoint


def import_hf(src: Path, name: str, model_dir: Path) -> Path:
    checkpoint = convert_hf(src)
    path = write_checkpoint(checkpoint, Path(model_dir) / f"{name}.pt")
    log.info("converted %s into %s (%s)", src, path, checkpoint["dims"])
    return path

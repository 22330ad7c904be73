"""Export an openai-whisper checkpoint as a CTranslate2 (faster-whisper) model folder.

The faster-whisper engine needs a CTranslate2 folder, but an offline host may
only hold ``NAME.pt``. This is the reverse of ``convert.py`` and just as
lossless: the tensors keep their dtype (fp16 stays fp16, nothing is
quantized), q/k/v are fused into ``self_attention/linear_0`` with the zero key
bias CTranslate2 expects, cross-attention gets the query in ``linear_0`` and
k/v fused in ``linear_1``, and ``decoder/projection/weight`` is the token
embedding (saved as an alias, as CTranslate2 saves it).

``model.bin`` is written by CTranslate2's own spec API (``WhisperSpec``,
``validate``, ``optimize`` without quantization, ``save``), the code its
Transformers converter runs, so the layout is the one the installed
CTranslate2 reads. ``config.json`` holds what CTranslate2 and faster-whisper
read: the alignment heads (stored in the checkpoint, else the official ones,
else openai-whisper's default: every head of the last half of the layers), the
language token ids, and openai-whisper's own suppressed tokens.

``tokenizer.json`` (Hugging Face ``tokenizers``: faster-whisper tokenizes with
it) is built from openai-whisper's own tiktoken files, so no download is
needed: a byte-level BPE whose vocabulary is tiktoken's byte strings through
GPT-2's byte-to-unicode table, whose merges come from tiktoken's ranks (every
split of a token into two tokens is a merge, ranked by the merged token), with
``ignore_merges`` so that a piece that is itself a token is one token, as in
tiktoken. The special tokens (timestamps included) are added tokens with
openai-whisper's ids; the no-speech token keeps the name ``<|nocaptions|>``
that Hugging Face's files and CTranslate2's converted models use
(openai-whisper calls it ``<|nospeech|>``; CTranslate2 and faster-whisper
accept both). ``vocabulary.json`` lists the same tokens in id order.

The folder is built in a hidden sibling and renamed into place only when it is
complete, so a failure never leaves a partial model behind.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ConversionError, UnknownModelError
from .sources import alignment_heads_mask, model_info, read_checkpoint, replace_folder

log = logging.getLogger("whisper_ui.export_ct2")

# openai-whisper's rule: the vocabulary size says English-only or multilingual, and how many languages
_BASE_VOCAB = 51765
_MULTILINGUAL_VOCAB = 51865
_NO_SPEECH_NAME = "<|nocaptions|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: every byte as a printable character (what byte-level BPE vocabularies are written in)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _num_languages(n_vocab: int) -> int:
    return n_vocab - _BASE_VOCAB - int(n_vocab >= _MULTILINGUAL_VOCAB)


@lru_cache(maxsize=4)
def _whisper_tokenizer(n_vocab: int):
    import whisper.tokenizer

    languages = _num_languages(n_vocab)
    if not 1 <= languages <= len(whisper.tokenizer.LANGUAGES):
        raise ConversionError(
            f"The checkpoint has a vocabulary of {n_vocab} tokens, which is not one of openai-whisper's tokenizers "
            "(51864 English-only, 51865 multilingual, 51866 large-v3): there is no tokenizer to export with it."
        )
    return whisper.tokenizer.get_tokenizer(n_vocab >= _MULTILINGUAL_VOCAB, num_languages=languages)


def _tiktoken_ranks(encoding_name: str) -> dict[bytes, int]:
    import whisper.tokenizer

    path = Path(whisper.tokenizer.__file__).parent / "assets" / encoding_name
    with open(path, encoding="ascii") as f:
        return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in f if line.strip())}


@lru_cache(maxsize=4)
def tokenizer_files(n_vocab: int) -> tuple[str, tuple[str, ...]]:
    """(``tokenizer.json`` text, CTranslate2 vocabulary in id order) for a model with ``n_vocab`` tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    whisper_tokenizer = _whisper_tokenizer(n_vocab)
    ranks = _tiktoken_ranks(whisper_tokenizer.encoding.name)
    byte_char = _bytes_to_unicode()

    def text(token: bytes) -> str:
        return "".join(byte_char[b] for b in token)

    vocab = {text(token): rank for token, rank in ranks.items()}
    merges: list[tuple[int, bytes, bytes]] = []
    for token, rank in ranks.items():
        splits = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        merges.extend((rank, left, right) for left, right in sorted(splits, key=lambda s: (ranks[s[0]], ranks[s[1]])))
    merges.sort(key=lambda m: m[0])  # stable: the splits of one token stay in the order above

    specials = sorted(whisper_tokenizer.special_tokens.items(), key=lambda item: item[1])
    specials = [(_NO_SPEECH_NAME if name == "<|nospeech|>" else name, token_id) for name, token_id in specials]
    if len(ranks) + len(specials) != n_vocab or [i for _, i in specials] != list(range(len(ranks), n_vocab)):
        raise ConversionError(f"openai-whisper's tokenizer does not have {n_vocab} tokens in order; cannot export it.")

    tokenizer = Tokenizer(BPE(vocab, [(text(a), text(b)) for _, a, b in merges], ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(name, special=True, normalized=False) for name, _ in specials])
    ids = dict(specials)
    # as in Hugging Face's Whisper tokenizers (faster-whisper encodes with add_special_tokens=False)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftranscript|> <|notimestamps|> $A <|endoftext|>",
        pair="<|startoftranscript|> <|notimestamps|> $A $B:1 <|endoftext|>:1",
        special_tokens=[(name, ids[name]) for name in ("<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>")],
    )
    for name, token_id in specials:
        if tokenizer.token_to_id(name) != token_id:
            raise ConversionError(f"the exported tokenizer gives {name} the id {tokenizer.token_to_id(name)}, not {token_id}.")
    vocabulary = (*(text(token) for token, _ in sorted(ranks.items(), key=lambda item: item[1])), *(n for n, _ in specials))
    return tokenizer.to_str(), vocabulary


def whisper_config(n_vocab: int, alignment_heads: np.ndarray) -> dict[str, Any]:
    """``config.json`` as CTranslate2's converter writes it, from openai-whisper's tokenizer and decoding rules."""
    tokenizer = _whisper_tokenizer(n_vocab)
    # openai-whisper's DecodingTask._get_suppress_tokens with suppress_tokens="-1", and SuppressBlank
    suppress = [*tokenizer.non_speech_tokens, tokenizer.transcribe, tokenizer.translate, tokenizer.sot,
                tokenizer.sot_prev, tokenizer.sot_lm, tokenizer.no_speech]
    return {
        "alignment_heads": [[int(layer), int(head)] for layer, head in np.argwhere(alignment_heads)],
        "lang_ids": sorted(tokenizer.all_language_tokens),
        "suppress_ids": sorted(set(suppress)),
        "suppress_ids_begin": [*tokenizer.encode(" "), tokenizer.eot],
    }


def _alignment_heads(checkpoint: dict[str, Any], name: str, official: bool) -> np.ndarray:
    dims = checkpoint["dims"]
    layers, heads = dims["n_text_layer"], dims["n_text_head"]
    stored = checkpoint.get("alignment_heads")
    if stored is not None and np.any(np.asarray(stored)):
        mask = np.asarray(stored, dtype=bool)
        if mask.shape != (layers, heads):
            raise ConversionError(f"The checkpoint's alignment heads have the shape {mask.shape}, not ({layers}, {heads}).")
        return mask
    mask = alignment_heads_mask(name, layers, heads) if official else None
    if mask is None:
        # openai-whisper's default when a model names none: every head of the last half of the layers
        log.warning("%s names no alignment heads: exporting openai-whisper's default heads", name)
        mask = np.zeros((layers, heads), dtype=bool)
        mask[layers // 2:] = True
    return mask


def build_spec(checkpoint: dict[str, Any], path: Path):
    """A ``ctranslate2.specs.WhisperSpec`` holding the checkpoint's tensors (no vocabulary or config yet)."""
    import torch
    from ctranslate2.specs import WhisperSpec

    dims = checkpoint["dims"]
    state = checkpoint["model_state_dict"]
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        if key not in state:
            raise ConversionError(f"{path} has no tensor {key}: it is not an openai-whisper checkpoint this tool knows.")
        used.add(key)
        return state[key]

    def array(tensor: torch.Tensor):
        # numpy keeps fp16/fp32 as they are; CTranslate2 takes bfloat16 as a torch tensor
        return tensor.contiguous() if tensor.dtype == torch.bfloat16 else tensor.numpy()

    def linear(spec, src: str, bias: bool = True) -> None:
        spec.weight = array(take(f"{src}.weight"))
        if bias:
            spec.bias = array(take(f"{src}.bias"))

    def layer_norm(spec, src: str) -> None:
        spec.gamma = array(take(f"{src}.weight"))
        spec.beta = array(take(f"{src}.bias"))

    def fused(spec, src: str, parts: tuple[str, ...]) -> None:
        # Whisper's key projection has no bias; CTranslate2's fused layer needs zeros in its place
        weights = [take(f"{src}.{part}.weight") for part in parts]
        biases = [take(f"{src}.{part}.bias") if part != "key" else None for part in parts]
        reference = next(b for b in biases if b is not None)
        biases = [b if b is not None else torch.zeros(w.shape[0], dtype=reference.dtype) for b, w in zip(biases, weights,
                                                                                                          strict=True)]
        spec.weight = array(torch.cat(weights))
        spec.bias = array(torch.cat(biases))

    def block(spec, src: str, cross: bool) -> None:
        layer_norm(spec.self_attention.layer_norm, f"{src}.attn_ln")
        fused(spec.self_attention.linear[0], f"{src}.attn", ("query", "key", "value"))
        linear(spec.self_attention.linear[1], f"{src}.attn.out")
        if cross:
            layer_norm(spec.attention.layer_norm, f"{src}.cross_attn_ln")
            linear(spec.attention.linear[0], f"{src}.cross_attn.query")
            fused(spec.attention.linear[1], f"{src}.cross_attn", ("key", "value"))
            linear(spec.attention.linear[2], f"{src}.cross_attn.out")
        layer_norm(spec.ffn.layer_norm, f"{src}.mlp_ln")
        linear(spec.ffn.linear_0, f"{src}.mlp.0")
        linear(spec.ffn.linear_1, f"{src}.mlp.2")

    try:
        spec = WhisperSpec(dims["n_audio_layer"], dims["n_audio_head"], dims["n_text_layer"], dims["n_text_head"])
    except (KeyError, TypeError) as e:
        raise ConversionError(f"{path} has incomplete model dimensions ({e}): not an openai-whisper checkpoint.") from e
    encoder, decoder = spec.encoder, spec.decoder
    linear(encoder.conv1, "encoder.conv1")
    linear(encoder.conv2, "encoder.conv2")
    encoder.position_encodings.encodings = array(take("encoder.positional_embedding"))
    for i, layer in enumerate(encoder.layer):
        block(layer, f"encoder.blocks.{i}", cross=False)
    layer_norm(encoder.layer_norm, "encoder.ln_post")

    embedding = take("decoder.token_embedding.weight")
    decoder.embeddings.weight = array(embedding)
    decoder.projection.weight = array(embedding)  # tied in openai-whisper; optimize() saves it as an alias
    decoder.position_encodings.encodings = array(take("decoder.positional_embedding"))
    for i, layer in enumerate(decoder.layer):
        block(layer, f"decoder.blocks.{i}", cross=True)
    layer_norm(decoder.layer_norm, "decoder.ln")

    leftover = sorted(set(state) - used)
    if leftover:
        raise ConversionError(f"{path} has tensors this exporter does not know: {', '.join(leftover[:5])}")
    if embedding.shape[0] != dims["n_vocab"]:
        raise ConversionError(f"{path}: the token embedding has {embedding.shape[0]} rows but n_vocab is {dims['n_vocab']}.")
    return spec


def _publish(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Rename the finished folder into place; an existing one is replaced only when asked, and only at the end."""
    if os.path.lexists(dest) and not overwrite:
        raise ConversionError(f"{dest} already exists; remove it or pass --force to replace it.")
    replace_folder(tmp, dest)


def export_ct2(name: str, model_dir: Path, dest: Path | None = None, *, overwrite: bool = False) -> Path:
    """Write ``<model_dir>/NAME.pt`` as a CTranslate2 model folder ``<model_dir>/NAME/`` (or ``dest``); return it.

    An existing destination is refused unless ``overwrite``; then it is replaced once the new folder is complete.
    """
    model_dir = Path(model_dir)
    try:
        info = model_info(name, model_dir)
    except UnknownModelError as e:
        info = None
        cause: Exception | None = e
    else:
        cause = None
    if info is None or not info.on_disk:
        filename = info.path.name if info else f"{name}.pt"
        raise UnknownModelError(
            f"There is no {filename} in {model_dir}: export-ct2 converts a checkpoint that is already in the model "
            "folder. Load the model once to download it, or convert one there with "
            "`python -m whisper_ui models import-ct2` or `import-hf`."
        ) from cause
    dest = Path(dest) if dest is not None else model_dir / info.name
    if (dest.exists() or dest.is_symlink()) and not overwrite:
        raise ConversionError(f"{dest} already exists; remove it or pass --force to replace it.")

    checkpoint = read_checkpoint(info.path)
    try:
        n_vocab = int(checkpoint["dims"]["n_vocab"])
    except (KeyError, TypeError, ValueError) as e:
        raise ConversionError(f"{info.path} has no vocabulary size in its dims: not an openai-whisper checkpoint.") from e
    tokenizer_json, vocabulary = tokenizer_files(n_vocab)
    spec = build_spec(checkpoint, info.path)
    spec.register_vocabulary(vocabulary)
    for key, value in whisper_config(n_vocab, _alignment_heads(checkpoint, info.name, info.official)).items():
        setattr(spec.config, key, value)
    try:
        spec.validate()
    except ValueError as e:
        raise ConversionError(f"{info.path} does not fill a CTranslate2 Whisper model: {e}") from e
    spec.optimize(quantization=None)  # aliases identical tensors (the tied projection); quantizes nothing
    preprocessor = {  # faster-whisper reads the mel count from here (128 for large-v3), else assumes 80
        "chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": int(checkpoint["dims"]["n_mels"]), "hop_length": 160, "n_fft": 400, "n_samples": 480000,
        "nb_max_frames": 3000, "sampling_rate": 16000,
    }

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        tmp.mkdir()  # not mkdtemp: its 0700 would stay on the published folder; mkdir follows the umask
    except OSError as e:
        raise ConversionError(f"Cannot create the model folder in {dest.parent}: {e}") from e
    try:
        spec.save(str(tmp))
        (tmp / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        (tmp / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n", encoding="utf-8")
        _publish(tmp, dest, overwrite)
    except OSError as e:
        raise ConversionError(f"Could not write the CTranslate2 model {dest} ({e}); nothing was left behind.") from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported %s as the CTranslate2 model %s (%s)", info.path, dest, checkpoint["dims"])
    return dest

"""Model sources: the official names, local ``NAME.pt`` checkpoints, downloads.

openai-whisper's ``load_model`` re-downloads any official-named file whose
checksum differs from the official one, and loads a path without alignment
heads. Both are wrong for an offline host that holds a converted checkpoint,
so this module resolves names itself:

- an official name whose file in the model folder has the official SHA-256 is
  loaded with the official alignment heads;
- any other ``NAME.pt`` in the model folder (a conversion, a fine-tune, or an
  official name whose file differs) is a local checkpoint, loaded as it is,
  with the alignment heads stored in it when there are some;
- an official name with no file is downloaded into the model folder, checked
  against the SHA-256 in its URL (openai-whisper's check), and renamed into
  place only once it matches, so a failed download never leaves a bad file.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CorruptCheckpointError, ModelDownloadError, UnknownModelError, network_reason

log = logging.getLogger("whisper_ui.models")

_BASE_URL = "https://openaipublic.azureedge.net/main/whisper/models"

# name -> (sha256 from openai-whisper's registry, file name, parameters in millions, approx. memory in MB)
# The memory column is openai-whisper's README figure for the GPU; on the CPU
# the weights are kept in fp32, which needs about the same.
_OFFICIAL: dict[str, tuple[str, str, int, int]] = {
    "tiny.en": ("d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03", "tiny.en.pt", 39, 1000),
    "tiny": ("65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9", "tiny.pt", 39, 1000),
    "base.en": ("25a8566e1d0c1e2231d1c762132cd20e0f96a85d16145c3a00adf5d1ac670ead", "base.en.pt", 74, 1000),
    "base": ("ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e", "base.pt", 74, 1000),
    "small.en": ("f953ad0fd29cacd07d5a9eda5624af0f6bcf2258be67c92b79389873d91e0872", "small.en.pt", 244, 2000),
    "small": ("9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794", "small.pt", 244, 2000),
    "medium.en": ("d7440d1dc186f76616474e0ff0b3b6b879abc9d1a4926b7adfa41db2d497ab4f", "medium.en.pt", 769, 5000),
    "medium": ("345ae4da62f9b3d59415adc60127b97c714f32e89e936602e85993674d08dcb1", "medium.pt", 769, 5000),
    "large-v1": ("e4b87e7e0bf463eb8e6956e646f1e277e901512310def2c24bf0e11bd3c28e9a", "large-v1.pt", 1550, 10000),
    "large-v2": ("81f7c96c852ee8fc832187b0132e569d6c3065a3252ed18e56effd0b6a73e524", "large-v2.pt", 1550, 10000),
    "large-v3": ("e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb", "large-v3.pt", 1550, 10000),
    "turbo": ("aff26ae408abcba5fbf8813c21e62b0941638c5f6eebfb145be0c9839262a19a", "large-v3-turbo.pt", 809, 6000),
}
_ALIASES = {"large": "large-v3", "large-v3-turbo": "turbo"}

# Where to go when a model does not fit in GPU memory: the next smaller one.
_SMALLER = {
    "large-v1": "medium", "large-v2": "medium", "large-v3": "medium", "turbo": "small",
    "medium": "small", "small": "base", "base": "tiny",
    "medium.en": "small.en", "small.en": "base.en", "base.en": "tiny.en",
}

OFFICIAL_MODELS: tuple[str, ...] = tuple(_OFFICIAL)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path  # where the checkpoint is, or will be once downloaded
    official: bool
    url: str | None
    params_millions: int | None
    approx_memory_mb: int
    english_only: bool

    @property
    def on_disk(self) -> bool:
        return self.path.is_file()

    @property
    def ct2_dir(self) -> Path:
        """Where the CTranslate2 (faster-whisper) form of this model is, or will be: ``<model-dir>/NAME/``."""
        return self.path.parent / self.name

    @property
    def ct2_on_disk(self) -> bool:
        return is_ct2_dir(self.ct2_dir)

    @property
    def ct2_size_bytes(self) -> int | None:
        if not self.ct2_on_disk:
            return None
        return sum(p.stat().st_size for p in self.ct2_dir.iterdir() if p.is_file())

    @property
    def size_bytes(self) -> int | None:
        try:
            return self.path.stat().st_size
        except OSError:
            return None


CT2_FILES = ("model.bin", "config.json")  # the least a CTranslate2 Whisper folder holds (+ tokenizer, vocabulary)


def is_ct2_dir(path: Path) -> bool:
    """A CTranslate2 model folder: ``model.bin`` and ``config.json`` (faster-whisper's layout)."""
    return path.is_dir() and all((path / name).is_file() for name in CT2_FILES)


def canonical_name(name: str) -> str:
    return _ALIASES.get(name, name)


def smaller_model(name: str) -> str | None:
    return _SMALLER.get(canonical_name(name))


def _official_info(name: str, model_dir: Path) -> ModelInfo:
    sha, filename, params, memory = _OFFICIAL[name]
    return ModelInfo(
        name=name,
        path=model_dir / filename,
        official=True,
        url=f"{_BASE_URL}/{sha}/{filename}",
        params_millions=params,
        approx_memory_mb=memory,
        english_only=name.endswith(".en"),
    )


def _local_info(name: str, path: Path) -> ModelInfo:
    """A model of the model folder that is not official: ``NAME.pt``, or only its CTranslate2 folder ``NAME/``."""
    size = path.stat().st_size if path.is_file() else (path.parent / name / "model.bin").stat().st_size
    # checkpoints hold fp16 weights; openai-whisper keeps them in fp32 once loaded
    return ModelInfo(
        name=name,
        path=path,
        official=False,
        url=None,
        params_millions=None,
        approx_memory_mb=int(size * 2 / 1e6) + 300,
        english_only=name.endswith(".en"),
    )


def _official_files() -> set[str]:
    return {filename for _, filename, _, _ in _OFFICIAL.values()}


def model_info(name: str, model_dir: Path) -> ModelInfo:
    """Resolve a name to an official model, or a ``NAME.pt`` or CTranslate2 ``NAME/`` folder in ``model_dir``."""
    name = canonical_name(name)
    if name in _OFFICIAL:
        return _official_info(name, model_dir)
    path = model_dir / f"{name}.pt"
    if "/" in name or "\\" in name or name.startswith(".") or not (path.is_file() or is_ct2_dir(model_dir / name)):
        known = ", ".join(OFFICIAL_MODELS)
        raise UnknownModelError(
            f"Unknown model '{name}'. Use one of {known}, or put a checkpoint named {name}.pt or a faster-whisper "
            f"(CTranslate2) folder named {name} in {model_dir} (see: python -m whisper_ui models import-ct2).",
            key="unknown_model", name=name, names=known, folder=str(model_dir),
        )
    return _local_info(name, path)


def list_models(model_dir: Path) -> list[ModelInfo]:
    """Every official model (on disk or not) and every local ``NAME.pt`` or CTranslate2 ``NAME/`` folder."""
    infos = [_official_info(name, model_dir) for name in _OFFICIAL]
    if model_dir.is_dir():
        local = {path.stem for path in model_dir.glob("*.pt") if path.name not in _official_files() and path.is_file()}
        local |= {path.name for path in model_dir.iterdir() if is_ct2_dir(path) and not path.name.startswith(".")}
        infos.extend(_local_info(name, model_dir / f"{name}.pt") for name in sorted(local - set(_OFFICIAL)))
    return infos


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_version(path: str | os.PathLike) -> tuple:
    """One version of one file: (real path, device, inode, size, mtime). Raises OSError.

    A key for what is known about a file's content: a replaced or rewritten file gets a new one.
    """
    st = os.stat(path)
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


# file version -> SHA-256: switching back to a model does not hash its file again
# (large-v3: 3 GB, seconds), and a replaced or rewritten file is hashed anew
_sha256_cache: dict[tuple, str] = {}


def _cached_sha256(path: Path) -> str:
    key = file_version(path)
    if key not in _sha256_cache:
        _sha256_cache[key] = file_sha256(path)
    return _sha256_cache[key]


def is_official_file(info: ModelInfo) -> bool:
    return info.official and info.on_disk and _cached_sha256(info.path) == _OFFICIAL[info.name][0]


def alignment_heads_mask(name: str, n_text_layer: int, n_text_head: int) -> np.ndarray | None:
    """openai-whisper's official alignment heads for ``name`` as a bool mask."""
    import whisper

    dump = whisper._ALIGNMENT_HEADS.get(canonical_name(name))
    if dump is None:
        return None
    mask = np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool).copy()
    if mask.size != n_text_layer * n_text_head:
        return None
    return mask.reshape(n_text_layer, n_text_head)


ProgressCallback = Callable[[int, int | None], None]


def download(info: ModelInfo, progress: ProgressCallback | None = None, timeout: float = 30.0) -> Path:
    """Download an official model into its place, checked against its SHA-256."""
    assert info.official and info.url
    expected = _OFFICIAL[info.name][0]
    info.path.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading model %s from %s into %s", info.name, info.url, info.path)
    fd, partial = tempfile.mkstemp(prefix=f".{info.path.name}.", suffix=".part", dir=info.path.parent)
    try:
        from tqdm import tqdm

        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(info.url, timeout=timeout) as source:
            total = int(source.headers.get("Content-Length") or 0) or None
            done = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"download {info.name}") as bar:
                while block := source.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    bar.update(len(block))
                    if progress:
                        progress(done, total)
        if digest.hexdigest() != expected:
            raise ModelDownloadError(
                f"Model '{info.name}' was downloaded but its SHA-256 checksum does not match the official one; "
                "the download was incomplete or altered. Try again.", key="download_mismatch", name=info.name,
            )
        os.replace(partial, info.path)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = network_reason(e)
        command = f"python -m whisper_ui models import-ct2 SRC_DIR --name {info.name} --model-dir {info.path.parent}"
        raise ModelDownloadError(
            f"Could not download model '{info.name}' from {info.url} ({reason}). "
            f"On a machine without internet, download that file elsewhere and put it at {info.path}, "
            f"or convert a faster-whisper (CTranslate2) copy with: {command}",
            key="download_failed", name=info.name, url=info.url, reason=network_reason(e, "ko"), path=str(info.path),
            command=command, reason_en=reason,
        ) from e
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    log.info("downloaded model %s (%.1f MB)", info.name, info.path.stat().st_size / 1e6)
    return info.path


def replace_folder(new: Path, dest: Path) -> None:
    """Move the complete folder ``new`` to ``dest``. A folder already at ``dest`` is set aside only now,
    put back if the move fails (or is interrupted), and deleted once the new one is in place."""
    if not os.path.lexists(dest):
        os.rename(new, dest)
        return
    old = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(dest, old)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load`` a checkpoint on the CPU, refusing anything but weights."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:
        raise CorruptCheckpointError(
            f"The checkpoint {path} could not be read ({type(e).__name__}: {e}). "
            "It is damaged or not an openai-whisper checkpoint: delete it and download or convert it again."
        ) from e
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise CorruptCheckpointError(
            f"{path} is not an openai-whisper checkpoint (it has no 'dims' and 'model_state_dict'). "
            "Convert other formats with `python -m whisper_ui models import-ct2`."
        )
    return checkpoint


@dataclass
class ResolvedCheckpoint:
    info: ModelInfo
    checkpoint: dict[str, Any]
    alignment_heads: np.ndarray | None
    source: str  # "official", "downloaded" or "local"


def resolve_checkpoint(name: str, model_dir: Path, progress: ProgressCallback | None = None,
                       on_download: Callable[[], None] | None = None) -> ResolvedCheckpoint:
    """Find, download if needed, and read the checkpoint for ``name``."""
    info = model_info(name, model_dir)
    source = "local"
    if info.official:
        if not info.on_disk:
            if on_download:
                on_download()
            download(info, progress)
            source = "downloaded"
        elif is_official_file(info):
            source = "official"
    try:
        checkpoint = read_checkpoint(info.path)
    except CorruptCheckpointError as e:
        if not (info.official and source == "local"):
            raise
        # openai-whisper's behaviour for a damaged official file: download it again
        log.warning("%s is damaged (%s): downloading %s again", info.path, e.__cause__, info.name)
        if on_download:
            on_download()
        try:
            download(info, progress)
        except ModelDownloadError as download_error:
            raise ModelDownloadError(f"{info.path} is damaged (not a readable checkpoint). {download_error}") from e
        checkpoint = read_checkpoint(info.path)
        source = "downloaded"
    if info.official and source == "local":
        if "whisper_ui" in checkpoint:
            log.info("%s is a converted checkpoint (%s)", info.path, checkpoint["whisper_ui"].get("source"))
        else:
            log.warning("%s differs from the official %s file: loading it as a local checkpoint", info.path, info.name)
    heads = checkpoint.get("alignment_heads")
    if heads is not None:
        heads = np.asarray(heads, dtype=bool)
    elif info.official:
        dims = checkpoint["dims"]
        heads = alignment_heads_mask(info.name, dims["n_text_layer"], dims["n_text_head"])
    return ResolvedCheckpoint(info, checkpoint, heads, source)

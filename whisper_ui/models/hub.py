"""faster-whisper (CTranslate2) models from the Hugging Face repositories faster-whisper itself uses.

faster-whisper's own ``download_model`` follows each repository's ``main``
branch and keeps whatever comes back. Here every official name is pinned to one
commit and to the SHA-256 and size of every file at that commit (values found
in public manifests and lock files, each named in ``CT2_MODELS``), and the files
are fetched with plain ``urllib`` like ``models.download``, so the behaviour and
the messages are ours and no Hugging Face client is needed:

- the files stream into a temporary sibling folder ``.NAME.*.part`` of the
  destination and are hashed as they arrive; the folder is renamed into place
  only once every file matched, so a failed download leaves nothing behind and
  never touches a folder already there;
- a file whose SHA-256 no public source gave (``sha256=None``) is checked
  against the hash the hub states for the pinned commit: the ``X-Linked-Etag``
  of a Git LFS file is its SHA-256, the ``ETag`` of any other file its git blob
  SHA-1, so it is still tied to that commit and the bytes must match it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ..core.errors import ModelDownloadError, network_reason
from .sources import ProgressCallback, canonical_name, model_info, replace_folder

log = logging.getLogger("whisper_ui.hub")

HF_URL = "https://huggingface.co"
# identity: a compressed answer would carry another ETag and other bytes than the file's
_HEADERS = {"Accept-Encoding": "identity"}


@dataclass(frozen=True)
class Ct2File:
    name: str
    size: int  # bytes
    sha256: str | None  # None: checked against the hash the hub states for the pinned revision


@dataclass(frozen=True)
class Ct2Source:
    repo: str  # "Systran/faster-whisper-base"
    revision: str  # the full 40-hex commit id, never a branch
    files: tuple[Ct2File, ...]

    def page_url(self, base_url: str = HF_URL) -> str:
        return f"{base_url.rstrip('/')}/{self.repo}"

    def file_url(self, filename: str, base_url: str = HF_URL) -> str:
        return f"{self.page_url(base_url)}/resolve/{self.revision}/{filename}"


# The tokenizer and vocabulary are the same files in every pre-v3 repository of a kind; each model's own
# source below states them for that model (large-v1's, whose hashes no source gave, are not assumed to match).
_MULTILINGUAL = (Ct2File("tokenizer.json", 2_203_239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
                 Ct2File("vocabulary.txt", 459_861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"))
_ENGLISH = (Ct2File("tokenizer.json", 2_128_466, "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
            Ct2File("vocabulary.txt", 422_309, "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"))
# large-v3 and turbo: 128 mel bins (preprocessor_config.json) and the v3 vocabulary
_PREPROCESSOR_V3 = Ct2File("preprocessor_config.json", 340, "7ccc62c6f2765af1f3b46c00c9b5894426835a05021c8b9c01eecb6dfb542711")
_VOCABULARY_V3 = Ct2File("vocabulary.json", 1_068_114, "c69260f2ab26d659b7c398f9a2b2b48ed0df16c3b47d7326782fd9cba71690c1")

# Official name -> repository (faster_whisper.utils._MODELS), pinned commit, files with size and SHA-256.
# Where each value was found (public files, read through a code search index; "id" is that index's file id):
# - the commits of all twelve: SubtitleEdit src/libse/AudioToText/WhisperCTranslate2Model.cs (Hugging Face cache
#   snapshot folders; its turbo snapshot is an older 0c94664...) and a transcription app's model catalogue
#   (core/transcription/model_catalog.py, id 70996702777, with its test id 70908367438: revision, model.bin SHA-256
#   and every file size "read from the Hugging Face API"); a Python settings module (id 59607093541) lists the same.
# - tiny, base, small, medium, large-v3: a Rust installer's FileSpec table of resolve/<commit> URLs with size and
#   SHA-256 of every file (id 70182271615); tiny's model.bin also on huggingface.co/Systran/faster-whisper-tiny/blob/
#   d90ca5f.../model.bin, large-v3's config, model.bin, preprocessor and tokenizer also in voice_typer's
#   model_hashes fallback (id 60900090286).
# - tiny.en: an installer report hashing the files at resolve/0d3d19a... (X-Linked-Etag for model.bin, the bytes for
#   the rest; id 71478144545); config, model.bin and tokenizer also in voice_typer (id 60900090286), model.bin also in
#   a nix fetchurl of .../resolve/main/model.bin (sha256-Glr64GpN..., id 59378077110).
# - base.en: a provisioning script with WHISPER_REVISION 3d3d5de... and size + SHA-256 of the four files (id 59121168122).
# - small.en: kilix's asset test, "typed from the Hugging Face LFS oids and git blob ids at REV" (id 71392242157);
#   config, model.bin and tokenizer also in voice_typer (id 60900090286).
# - medium.en: a tennis-video script, MODEL_FILES at REVISION a29b04b... (id 70102098524); config, model.bin and
#   tokenizer also in voice_typer (id 60900090286).
# - large-v2: an app's Swift ModelManifest at whisperRevision f0fe815... (id 56696799572); model.bin also in the
#   catalogue (id 70908367438) and as the blob name in a Dockerfile's Hugging Face cache (id 36769894564).
# - large-v1: model.bin's SHA-256 and every size only from the catalogue (ids 70996702777, 70908367438; sizes also in
#   a TypeScript tier table, id 58003090523). No source gave the SHA-256 of its config.json, tokenizer.json or
#   vocabulary.txt: those three are checked against the hub's ETag (git blob SHA-1) for the pinned commit.
# - turbo: faster-whisper's mobiuslabsgmbh repository, renamed dropbox-dash (the hub redirects the old name; the
#   TypeScript tier table says so). Commit and the five SHA-256 from a setup_windows.py pinning dropbox-dash at
#   0a363e9... (id 70934177141); model.bin at mobiuslabsgmbh/...@0a363e9 also in a README (id 70242468152); sizes from
#   the tier table (id 58003090523) and, for preprocessor_config.json, from the Rust table's file of the same SHA-256.
CT2_MODELS: dict[str, Ct2Source] = {
    "tiny.en": Ct2Source("Systran/faster-whisper-tiny.en", "0d3d19a32d3338f10357c0889762bd8d64bbdeba", (
        Ct2File("config.json", 2_317, "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
        Ct2File("model.bin", 75_537_502, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
        *_ENGLISH)),
    "tiny": Ct2Source("Systran/faster-whisper-tiny", "d90ca5fe260221311c53c58e660288d3deb8d356", (
        Ct2File("config.json", 2_249, "a73a28cdfe1c43ccc7202fa333d1f89c202477271407ae9a7f19afa52039cac8"),
        Ct2File("model.bin", 75_538_270, "dcb76c6586fc06cbdac6dd21f14cfd129cc4cdd9dce19bf4ffa62e59cbe6e6d1"),
        *_MULTILINGUAL)),
    "base.en": Ct2Source("Systran/faster-whisper-base.en", "3d3d5dee26484f91867d81cb899cfcf72b96be6c", (
        Ct2File("config.json", 2_227, "f3bc3821e9fc76a27bae538e11ae5b677dcdd352b4600429ce7951d398569aeb"),
        Ct2File("model.bin", 145_216_508, "2a166925539a16005f14ff328359f9b9adb9dc4fb631bb3b227526862e93e2ef"),
        *_ENGLISH)),
    "base": Ct2Source("Systran/faster-whisper-base", "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66", (
        Ct2File("config.json", 2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        Ct2File("model.bin", 145_217_532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
        *_MULTILINGUAL)),
    "small.en": Ct2Source("Systran/faster-whisper-small.en", "d1d751a5f8271d482d14ca55d9e2deeebbae577f", (
        Ct2File("config.json", 2_657, "666a9605530ac1f61fa8177f3702b4dacec9966749e42610839fcc32661d5fae"),
        Ct2File("model.bin", 483_545_366, "62b2a45b05ee59acb4a5341b33ee35e041395d378d418a18acfe4c9e768ee37a"),
        *_ENGLISH)),
    "small": Ct2Source("Systran/faster-whisper-small", "536b0662742c02347bc0e980a01041f333bce120", (
        Ct2File("config.json", 2_370, "b55496ac7940a7ae47d2c01eab40edfd8701feec1229d9cce3b40014383fb828"),
        Ct2File("model.bin", 483_546_902, "3e305921506d8872816023e4c273e75d2419fb89b24da97b4fe7bce14170d671"),
        *_MULTILINGUAL)),
    "medium.en": Ct2Source("Systran/faster-whisper-medium.en", "a29b04bd15381511a9af671baec01072039215e3", (
        Ct2File("config.json", 2_643, "4a1848ebabe7938d9797c15a2e8e4ce1d36e6fd4a43d096ae5955257c67c7962"),
        Ct2File("model.bin", 1_527_904_330, "11b220779aea4c6f3ce9d2549c8a95ea869ed84066864b999531ef53e594fe5b"),
        *_ENGLISH)),
    "medium": Ct2Source("Systran/faster-whisper-medium", "08e178d48790749d25932bbc082711ddcfdfbc4f", (
        Ct2File("config.json", 2_257, "3622a2ddc41ec0e0fd4e68c13c6830f03b90c38d89aaad184de02c8c642cf807"),
        Ct2File("model.bin", 1_527_906_378, "9b45e1009dcc4ab601eff815b61d80e60ce3fd8c74c1a14f4a282258286b51ae"),
        *_MULTILINGUAL)),
    "large-v1": Ct2Source("Systran/faster-whisper-large-v1", "b07c8d4be0be90092aa01a29c975077acb8d15c9", (
        Ct2File("config.json", 2_352, None),
        Ct2File("model.bin", 3_086_912_962, "a3cce8081a5414206ab09a80aa410ebf9965feef52adafeead13f4a83398b1d1"),
        Ct2File("tokenizer.json", 2_203_239, None),
        Ct2File("vocabulary.txt", 459_861, None))),
    "large-v2": Ct2Source("Systran/faster-whisper-large-v2", "f0fe81560cb8b68660e564f55dd99207059c092e", (
        Ct2File("config.json", 2_796, "d86b7a7664a12559d644aa210a32ce9a7e03913e794b7ea4fb7182de69e273a7"),
        Ct2File("model.bin", 3_086_912_962, "bf2a9746382e1aa7ffff6b3a0d137ed9edbd9670c3b87e5d35f5e85e70d0333a"),
        *_MULTILINGUAL)),
    "large-v3": Ct2Source("Systran/faster-whisper-large-v3", "edaa852ec7e145841d8ffdb056a99866b5f0a478", (
        Ct2File("config.json", 2_394, "a9306624f5ec14270a014b647e5c316b6e03a662c369758d1b90697a7b0655b9"),
        Ct2File("model.bin", 3_087_284_237, "69f74147e3334731bc3a76048724833325d2ec74642fb52620eda87352e3d4f1"),
        _PREPROCESSOR_V3,
        Ct2File("tokenizer.json", 2_480_617, "6d8cbd7cd0d8d5815e478dac67b85a26bbe77c1f5e0c6d76d1ce2abc0e5f21ca"),
        _VOCABULARY_V3)),
    "turbo": Ct2Source("mobiuslabsgmbh/faster-whisper-large-v3-turbo", "0a363e9161cbc7ed1431c9597a8ceaf0c4f78fcf", (
        Ct2File("config.json", 2_263, "b0253ea6c0d3bea6b1e19e91a02acfd3b53f4467362efcb5a3e6b16c9b3a9b7e"),
        Ct2File("model.bin", 1_617_884_929, "e76620f83d5f5b69efd3d87e3dc180c1bd21df9fbebacfd4335e5e1efcc018da"),
        _PREPROCESSOR_V3,
        Ct2File("tokenizer.json", 2_710_337, "297b13372ac43916285644fb9687add3cc62ee2a1adb60da3dc25cc94c1871fd"),
        _VOCABULARY_V3)),
}


def download_ct2(name: str, dest: Path, progress: ProgressCallback | None = None, *, base_url: str | None = None,
                 timeout: float = 30.0) -> Path:
    """Download the CTranslate2 folder of official model ``name`` into ``dest`` (``<model-dir>/NAME``), every file checked.

    ``progress(done_bytes, total_bytes)`` is called over all the files. Raises ``ModelDownloadError``: offline, a file
    that does not match, or a name with no download. A folder already at ``dest`` is replaced only by a complete one.
    """
    name = canonical_name(name)
    dest = Path(dest)
    base_url = base_url or HF_URL
    source = CT2_MODELS.get(name)
    if source is None:
        raise ModelDownloadError(
            f"There is no faster-whisper download for '{name}'; the models that can be downloaded are "
            f"{', '.join(CT2_MODELS)}. For another model, put its CTranslate2 folder (model.bin, config.json, "
            f"tokenizer.json, vocabulary.*) at {dest}."
        )
    page = source.page_url(base_url)
    total = sum(f.size for f in source.files)
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading faster-whisper model %s from %s (revision %s) into %s", name, page, source.revision, dest)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        from tqdm import tqdm

        done = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"download {name} (faster-whisper)") as bar:

            def advance(nbytes: int) -> None:
                nonlocal done
                done += nbytes
                bar.update(nbytes)
                if progress:
                    progress(done, total)

            # pinned files first: an offline host fails at the first plain request, before any hash is asked of the hub
            for file in sorted(source.files, key=lambda f: f.sha256 is None):
                url = source.file_url(file.name, base_url)
                expected = ("SHA-256", file.sha256) if file.sha256 else _stated_hash(url, source.revision, timeout)
                _fetch(url, partial / file.name, file, expected, advance, timeout,
                       f"The faster-whisper model '{name}' was downloaded from {page}")
        _move_into_place(partial, dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        reason = network_reason(e)
        checkpoint = model_info(name, dest.parent)
        raise ModelDownloadError(_offline_message(name, source, page, dest, reason), key="download_failed_ct2",
                                 name=name, url=page, reason=network_reason(e, "ko"), path=str(dest), reason_en=reason,
                                 checkpoint_url=checkpoint.url, checkpoint_path=str(checkpoint.path)) from e
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    log.info("downloaded faster-whisper model %s into %s (%.1f MB)", name, dest, total / 1e6)
    return dest


def _offline_message(name: str, source: Ct2Source, page: str, dest: Path, reason: object) -> str:
    names = [f.name for f in source.files]
    files = ", ".join(names[:-1]) + " and " + names[-1]
    checkpoint = model_info(name, dest.parent)
    return (
        f"Could not download the faster-whisper model '{name}' from {page} ({reason}). "
        f"On a machine without internet, put a folder with {files} from that repository (revision {source.revision}) "
        f"at {dest}, or put the openai-whisper checkpoint {checkpoint.url} at {checkpoint.path} (it is exported once), "
        f"or convert a Hugging Face Transformers copy of the model into that checkpoint with: "
        f"python -m whisper_ui models import-hf SRC --name {name} --model-dir {dest.parent}"
    )


def _fetch(url: str, path: Path, file: Ct2File, expected: tuple[str, str], advance: Callable[[int], None],
           timeout: float, what: str) -> None:
    """Stream ``url`` into ``path``, hashing as it comes; a short, long or different file raises ``ModelDownloadError``."""
    kind, want = expected
    digest = hashlib.sha256() if kind == "SHA-256" else hashlib.sha1(b"blob %d\0" % file.size)  # git's blob id
    got = 0
    log.debug("fetching %s", url)
    with urllib.request.urlopen(urllib.request.Request(url, headers=_HEADERS), timeout=timeout) as response, \
            open(path, "wb") as out:
        while block := response.read(1 << 20):
            got += len(block)
            if got > file.size:
                break
            out.write(block)
            digest.update(block)
            advance(len(block))
    if got != file.size or digest.hexdigest() != want:
        size = f"{got:,} bytes" + (" or more" if got > file.size else "")
        raise ModelDownloadError(
            f"{what} but {file.name} does not match: expected {file.size:,} bytes with {kind} {want}, got {size}"
            + ("" if got > file.size else f" with {kind} {digest.hexdigest()}")
            + "; the download was incomplete or altered. Nothing was kept: try again."
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect comes back as an ``HTTPError`` carrying that response's own headers."""

    def redirect_request(self, *args, **kwargs):
        return None


def _stated_hash(url: str, revision: str, timeout: float) -> tuple[str, str]:
    """What the hub states for the file at ``url``: ("SHA-256", X-Linked-Etag) for LFS, else ("git blob SHA-1", ETag).

    Like huggingface_hub: redirects on the hub's own host are followed (a small file's answer may come from a
    cache path), a redirect elsewhere (the LFS storage) is not: that redirect itself carries ``X-Linked-Etag``.
    """
    opener = urllib.request.build_opener(_NoRedirect)
    origin = urlsplit(url)[:2]
    for _ in range(10):
        try:
            response = opener.open(urllib.request.Request(url, method="HEAD", headers=_HEADERS), timeout=timeout)
        except urllib.error.HTTPError as e:
            if not 300 <= e.code < 400:
                raise
            response = e
        headers = response.headers
        response.close()
        linked, location = headers.get("X-Linked-Etag"), headers.get("Location")
        if linked is None and location and urlsplit(urljoin(url, location))[:2] == origin:
            url = urljoin(url, location)
            continue
        etag = (linked or headers.get("ETag") or "").strip().removeprefix("W/").strip('"').lower()
        if re.fullmatch(r"[0-9a-f]{64}", etag):
            return "SHA-256", etag
        if re.fullmatch(r"[0-9a-f]{40}", etag):
            return "git blob SHA-1", etag
        break
    raise ModelDownloadError(
        f"{url} states no SHA-256 or git hash for the file at revision {revision} (X-Linked-Etag/ETag: "
        f"{linked or headers.get('ETag')!r}), so it cannot be checked and was not downloaded. Try again later."
    )


def _move_into_place(partial: Path, dest: Path) -> None:
    """Rename the complete folder to ``dest``; a folder already there (incomplete) is replaced only now."""
    if os.path.lexists(dest):
        log.warning("replacing %s (not a complete faster-whisper folder) with the downloaded one", dest)
    replace_folder(partial, dest)

"""Find and remove the Whisper models that other tools left in their caches.

People who ran ``openai/whisper-large-v3`` through Hugging Face Transformers
have gigabytes of weights in caches whose place depends on environment
variables (``HF_HOME``, ``HF_HUB_CACHE``, ``TRANSFORMERS_CACHE``,
``XDG_CACHE_HOME``, ``TORCH_HOME``) and on the platform. This module lists
those files and deletes them, built so that a mistake cannot reach anything
else:

- The places to look are computed from an ``environ`` mapping and a
  ``platform`` string the caller passes (only ``settings.py`` reads
  ``os.environ``), so tests run against fake homes. Both the folders the
  variables name and the default folders are searched: old files stay where
  they were downloaded even after a variable was set.
- Only Whisper entries are listed: a hub repo whose name contains "whisper"
  or whose ``config.json`` says ``model_type: whisper``; a legacy Transformers
  file whose URL names such a repo; a torch hub file or folder named
  "whisper"; a ``.pt`` in openai-whisper's own cache.
- Symlinks are never followed: sizes come from ``lstat``, a ``config.json`` is
  read only when its target lies inside the cache, and deleting a link
  removes the link, never its target. The hub layout
  (``models--org--name/{blobs,snapshots/<rev>/<file> -> ../../blobs/<sha>,refs}``)
  keeps one repo's blobs in that repo's folder, so removing a repo removes its
  snapshots first, then the blobs they use, then its refs: an interrupted
  clean never leaves a snapshot pointing at a missing blob.
- The app's own model folder is kept unless an entry in it is asked for by
  name (or ``include_model_dir``).
- A deletion that fails (permissions, a file in use) stops that entry and is
  reported with what to do; the other entries go on.

Nothing here imports Gradio: the Model tab calls ``find_whisper_caches``,
``select_entries`` and ``clean`` like the ``cache`` command does.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from urllib.parse import urlsplit

from ..core.errors import WhisperUIError

log = logging.getLogger("whisper_ui.hfcache")

HUB = "huggingface-hub"  # models--org--name folders (huggingface_hub, transformers >= 4.22)
LEGACY = "transformers-legacy"  # <sha256(url)>.<sha256(etag)> files with a .json sidecar (transformers < 4.22)
TORCH = "torch-hub"  # $TORCH_HOME/hub/checkpoints/* and $TORCH_HOME/hub/<owner>_<repo>_<branch>/
WHISPER = "openai-whisper"  # ~/.cache/whisper/*.pt
KINDS = (HUB, LEGACY, TORCH, WHISPER)

_CONFIG_READ_LIMIT = 1 << 20  # a config.json is small; anything bigger is not one


class CacheError(WhisperUIError):
    """A cache command was asked for something it cannot do."""


@dataclass(frozen=True)
class CacheRoot:
    path: PurePath
    layout: str  # "huggingface" (hub and legacy files), "torch" or "whisper"
    origin: str  # the variable it came from, or "default"


@dataclass(frozen=True)
class CacheEntry:
    name: str  # what --name matches: "openai/whisper-large-v3", "whisper-small.pt", "large-v3.pt"
    kind: str  # one of KINDS
    path: Path  # the folder or file the list shows
    paths: tuple[Path, ...]  # everything clean deletes, in order
    size: int  # bytes freed by deleting it (each file once, links not followed)
    cache: Path  # the cache folder it lies in (resolved): nothing outside it is touched
    in_model_dir: bool = False  # in the app's own model folder: kept unless named


@dataclass
class CleanReport:
    dry_run: bool
    entries: list[CacheEntry] = field(default_factory=list)  # removed (or that a dry run would remove)
    deleted: list[Path] = field(default_factory=list)  # paths deleted (or that would be)
    freed_bytes: int = 0
    errors: list[str] = field(default_factory=list)  # one message per entry that failed, saying what to do

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        count = f"{len(self.entries)} Whisper cache entr{'y' if len(self.entries) == 1 else 'ies'}"
        if self.dry_run:
            text = f"Would free {human_size(self.freed_bytes)} by deleting {count}; nothing was deleted."
        else:
            text = f"Freed {human_size(self.freed_bytes)} by deleting {count}."
        if self.errors:
            text += f" {len(self.errors)} could not be deleted."
        return text


def human_size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


# --- where the caches are -----------------------------------------------------


def cache_roots(environ: Mapping[str, str], platform: str) -> list[CacheRoot]:
    """The folders to search, for ``platform`` (``sys.platform``) and ``environ``; no file is touched.

    huggingface_hub, torch and openai-whisper all default to ``~/.cache`` (or
    ``$XDG_CACHE_HOME``) on every platform, Windows included; the
    platform-specific folders (``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%``
    on Windows) are searched too because some installers put caches there.
    """
    windows = platform.startswith("win")
    pure = PureWindowsPath if windows else PurePosixPath
    home_text = environ.get("USERPROFILE") if windows else environ.get("HOME")
    if windows and not home_text and environ.get("HOMEDRIVE") and environ.get("HOMEPATH"):
        home_text = environ["HOMEDRIVE"] + environ["HOMEPATH"]
    if not windows and not home_text:
        home_text = environ.get("USERPROFILE")
    home = pure(home_text) if home_text else None

    def from_env(name: str) -> PurePath | None:
        value = environ.get(name, "").strip()
        if not value:
            return None
        if value == "~" or value.startswith(("~/", "~\\")):
            if home is None:
                return None
            return home / value[2:] if len(value) > 1 else home
        return pure(value)

    roots: list[CacheRoot] = []

    def add(path: PurePath | None, layout: str, origin: str) -> None:
        if path is not None:
            roots.append(CacheRoot(path, layout, origin))

    default_cache = home / ".cache" if home else None
    xdg_cache = from_env("XDG_CACHE_HOME")
    caches = [(xdg_cache, "XDG_CACHE_HOME"), (default_cache, "default")]
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE",
                 "PYTORCH_PRETRAINED_BERT_CACHE"):
        add(from_env(name), "huggingface", name)
    hf_home = from_env("HF_HOME")
    if hf_home:
        add(hf_home / "hub", "huggingface", "HF_HOME")
        add(hf_home / "transformers", "huggingface", "HF_HOME")
    for cache, origin in caches:
        if cache:
            add(cache / "huggingface" / "hub", "huggingface", origin)
            add(cache / "huggingface" / "transformers", "huggingface", origin)
    torch_home = from_env("TORCH_HOME")
    if torch_home:
        add(torch_home, "torch", "TORCH_HOME")
        add(torch_home / "transformers", "huggingface", "TORCH_HOME")  # transformers < 4.0
    for cache, origin in caches:
        if cache:
            add(cache / "torch", "torch", origin)
            add(cache / "torch" / "transformers", "huggingface", origin)
    for cache, origin in caches:
        if cache:
            add(cache / "whisper", "whisper", origin)
    if platform == "darwin" and home:
        platform_cache, origin = home / "Library" / "Caches", "~/Library/Caches"
    elif windows:
        platform_cache, origin = from_env("LOCALAPPDATA"), "LOCALAPPDATA"
    else:
        platform_cache = None
    if platform_cache:
        add(platform_cache / "huggingface" / "hub", "huggingface", origin)
        add(platform_cache / "torch", "torch", origin)
        add(platform_cache / "whisper", "whisper", origin)
    unique: dict[tuple[str, str], CacheRoot] = {}
    for root in roots:
        unique.setdefault((str(root.path), root.layout), root)
    return list(unique.values())


# --- finding Whisper entries --------------------------------------------------


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _is_dir(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _is_file(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _tree_size(paths: Iterable[Path], seen: set[tuple[int, int]] | None = None) -> int:
    """Bytes in regular files under ``paths``, each file once, symlinks not followed."""
    seen = set() if seen is None else seen
    total = 0
    stack = list(paths)
    while stack:
        path = stack.pop()
        st = _lstat(path)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                stack.extend(Path(entry.path) for entry in os.scandir(path))
            except OSError as e:
                log.warning("cannot read %s (%s): its size is not counted", path, e.strerror)
        elif stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def _read_config(path: Path, cache: Path) -> dict | None:
    """A ``config.json``, read only when it (or its link's target) is a small file inside ``cache``."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not _inside(target, cache):
        log.debug("not reading %s: it links to %s, outside the cache %s", path, target, cache)
        return None
    try:
        if not target.is_file() or target.stat().st_size > _CONFIG_READ_LIMIT:
            return None
        value = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _says_whisper(config: dict | None) -> bool:
    return bool(config) and config.get("model_type") == "whisper"


def _scan_hub(root: Path, cache: Path) -> list[CacheEntry]:
    entries = []
    for child in sorted(root.glob("models--*")):
        if not _is_dir(child):
            if child.is_symlink():
                log.debug("skipping %s: a symbolic link (its target is not part of this cache)", child)
            continue
        repo_id = child.name[len("models--"):].replace("--", "/")
        snapshots = child / "snapshots"
        if "whisper" not in repo_id.lower():
            revisions = sorted(snapshots.iterdir()) if _is_dir(snapshots) else []
            if not any(_says_whisper(_read_config(rev / "config.json", cache)) for rev in revisions if _is_dir(rev)):
                continue
        locks = root / ".locks" / child.name
        paths = (snapshots, child / "blobs", child) + ((locks,) if _is_dir(locks) else ())
        entries.append(CacheEntry(repo_id, HUB, child, paths, _tree_size([child, *paths[3:]]), cache))
    return entries


def _legacy_repo(url: str) -> str:
    """``https://huggingface.co/openai/whisper-tiny/resolve/main/config.json`` -> ``openai/whisper-tiny``."""
    path = urlsplit(url).path.strip("/")
    if "/resolve/" in path:
        return path.split("/resolve/", 1)[0]
    return path.rsplit("/", 1)[0] if "/" in path else path


def _scan_legacy(root: Path, cache: Path) -> list[CacheEntry]:
    groups: dict[str, list[tuple[Path, str]]] = {}
    for meta in sorted(root.glob("*.json")):
        data_file = meta.with_suffix("")
        if not _is_file(meta) or not _is_file(data_file) or meta.stat().st_size > _CONFIG_READ_LIMIT:
            continue
        try:
            url = json.loads(meta.read_text(encoding="utf-8")).get("url")
        except (OSError, ValueError, UnicodeDecodeError, AttributeError):
            continue
        if isinstance(url, str):
            groups.setdefault(_legacy_repo(url), []).append((data_file, url))
    entries = []
    for repo, files in sorted(groups.items()):
        if "whisper" not in repo.lower() and not any(
            url.endswith("/config.json") and _says_whisper(_read_config(path, cache)) for path, url in files
        ):
            continue
        paths: list[Path] = []
        for data_file, _ in files:
            lock = data_file.with_name(data_file.name + ".lock")
            paths += [data_file, data_file.with_name(data_file.name + ".json")] + ([lock] if _is_file(lock) else [])
        entries.append(CacheEntry(repo, LEGACY, files[0][0], tuple(paths), _tree_size(paths), cache))
    return entries


def _scan_torch(root: Path, cache: Path) -> list[CacheEntry]:
    hub = root / "hub"
    candidates = [p for p in (hub / "checkpoints").glob("*") if _is_file(p)]
    candidates += [p for p in hub.glob("*") if p.name != "checkpoints" and _is_dir(p)]
    return [CacheEntry(p.name, TORCH, p, (p,), _tree_size([p]), cache)
            for p in sorted(candidates) if "whisper" in p.name.lower()]


def _scan_whisper(root: Path, cache: Path) -> list[CacheEntry]:
    return [CacheEntry(p.name, WHISPER, p, (p,), _tree_size([p]), cache) for p in sorted(root.glob("*.pt")) if _is_file(p)]


_SCANNERS = {"huggingface": (_scan_hub, _scan_legacy), "torch": (_scan_torch,), "whisper": (_scan_whisper,)}


def find_whisper_caches(environ: Mapping[str, str], platform: str, keep: Path | None = None,
                        roots: Sequence[CacheRoot] | None = None) -> list[CacheEntry]:
    """Every Whisper model file or folder in the caches; entries inside ``keep`` (the app's model folder) are marked."""
    keep_dir = Path(keep).expanduser().resolve() if keep else None
    found: dict[Path, CacheEntry] = {}
    for root in cache_roots(environ, platform) if roots is None else roots:
        folder = Path(str(root.path))
        if not folder.is_dir():
            continue
        cache = folder.resolve()  # a cache folder that is itself a link (~/.cache/huggingface -> /data/hf) is followed once
        for scan in _SCANNERS[root.layout]:
            for entry in scan(cache, cache):
                in_model_dir = keep_dir is not None and _inside(entry.path, keep_dir)
                found.setdefault(entry.path, dataclasses.replace(entry, in_model_dir=in_model_dir))
    return list(found.values())


def cache_folders(environ: Mapping[str, str], platform: str) -> list[Path]:
    """The cache folders that exist, for messages such as "nothing found in ..."."""
    folders = []
    for root in cache_roots(environ, platform):
        folder = Path(str(root.path))
        if folder.is_dir() and folder not in folders:
            folders.append(folder)
    return folders


# --- choosing and deleting ----------------------------------------------------


def _matches(entry: CacheEntry, name: str) -> bool:
    return name in (entry.name, entry.path.name, str(entry.path)) or f"{name}.pt" == entry.name


def select_entries(entries: Sequence[CacheEntry], names: Sequence[str] = (),
                   include_model_dir: bool = False) -> list[CacheEntry]:
    """Without names: every entry but those in the app's model folder. With names: exactly the named ones."""
    if not names:
        return [e for e in entries if include_model_dir or not e.in_model_dir]
    unknown = [n for n in names if not any(_matches(e, n) for e in entries)]
    if unknown:
        known = ", ".join(sorted({e.name for e in entries})) or "none"
        raise CacheError(
            f"No Whisper cache entry is named {', '.join(map(repr, unknown))}. Known names: {known}. "
            "`python -m whisper_ui cache list` shows them."
        )
    return [e for e in entries if any(_matches(e, n) for n in names)]


def _owner(path: Path) -> str | None:
    """The owner's name when it is not the user running this, else None."""
    try:
        import pwd

        uid = os.lstat(path).st_uid
        return None if uid == os.geteuid() else pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError, OSError, AttributeError):
        return None


def _failure_message(path: Path, error: OSError) -> str:
    if isinstance(error, PermissionError):
        if os.name == "nt":
            advice = ("Close programs that may have the model open (Python, Jupyter, the old web app) "
                      "and try again, or run the command from a terminal opened as administrator.")
        else:
            owner = _owner(path) or _owner(path.parent)
            advice = (f"It belongs to {owner}: run the command as {owner} (e.g. with sudo), or give yourself write "
                      f"access to {path.parent}." if owner else
                      f"Give yourself write access to {path.parent} (or, if it is a read-only mount, remount it "
                      "writable) and run the command again.")
        return f"Permission denied deleting {path}. {advice}"
    return f"Could not delete {path}: {error.strerror or error}."


def _delete(path: Path, cache: Path, report: CleanReport) -> None:
    """Delete ``path`` without following symlinks; raise OSError on the first failure.

    Where the platform can (Linux, macOS: ``shutil.rmtree.avoids_symlink_attacks``), through directory
    file descriptors: each directory is opened with ``O_NOFOLLOW`` and its entries deleted relative to
    it, so a directory swapped for a symbolic link while the clean runs cannot lead it outside the
    cache (the link's open fails and the entry is left alone)."""
    import shutil

    st = _lstat(path)
    if st is None:
        return
    if not _inside(path.parent.resolve(), cache):
        raise OSError(f"it is outside the cache {cache} (through a symbolic link); it was left alone")
    if shutil.rmtree.avoids_symlink_attacks:
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            opened = Path(os.readlink(f"/proc/self/fd/{parent}")) if Path("/proc/self/fd").is_dir() else None
            if opened is not None and not _inside(opened, cache):  # swapped between the check and the open
                raise OSError(f"it is outside the cache {cache} (through a symbolic link); it was left alone")
            _delete_at(parent, path.name, path, report)
        finally:
            os.close(parent)
        return
    if stat.S_ISDIR(st.st_mode):
        for child in sorted(os.scandir(path), key=lambda e: e.name):
            _delete(Path(child.path), cache, report)
        os.rmdir(path)
    else:
        try:
            os.unlink(path)
        except PermissionError:
            if os.name != "nt":
                raise
            os.chmod(path, stat.S_IWRITE)  # Windows refuses to delete read-only files
            os.unlink(path)
        if stat.S_ISREG(st.st_mode) and st.st_nlink <= 1:
            report.freed_bytes += st.st_size
    report.deleted.append(path)


def _delete_at(directory: int, name: str, shown: Path, report: CleanReport) -> None:
    """Delete ``name`` in the open ``directory`` (``shown``: its path, for messages), never following a link."""
    try:
        st = os.lstat(name, dir_fd=directory)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            try:
                if not os.path.samestat(st, os.fstat(fd)):
                    raise OSError(f"{shown} changed while it was being deleted; it was left alone")
                for child in sorted(entry.name for entry in os.scandir(fd)):
                    _delete_at(fd, child, shown / child, report)
            finally:
                os.close(fd)
            os.rmdir(name, dir_fd=directory)
        else:
            os.unlink(name, dir_fd=directory)
            if stat.S_ISREG(st.st_mode) and st.st_nlink <= 1:
                report.freed_bytes += st.st_size
    except OSError as e:
        if e.errno is not None and e.filename == name:  # name the whole path, keep the kind of error
            raise type(e)(e.errno, e.strerror, str(shown)) from e
        raise
    report.deleted.append(shown)


def clean(entries: Sequence[CacheEntry], dry_run: bool = True) -> CleanReport:
    """Delete ``entries`` (a dry run by default: only report what would go)."""
    report = CleanReport(dry_run=dry_run)
    for entry in entries:
        if dry_run:
            existing = [p for p in entry.paths if _lstat(p) is not None]
            if existing:
                report.entries.append(entry)
                report.deleted += existing
                report.freed_bytes += entry.size
            continue
        log.debug("deleting %s (%s, %s)", entry.path, entry.name, human_size(entry.size))
        for path in entry.paths:
            try:
                _delete(path, entry.cache, report)
            except OSError as e:
                failed = Path(e.filename) if getattr(e, "filename", None) else path
                message = _failure_message(failed, e) if e.errno is not None else f"Not deleting {path}: {e}."
                report.errors.append(f"{entry.name}: {message}")
                log.error("%s", report.errors[-1])
                break
        else:
            report.entries.append(entry)
    if not dry_run and entries:
        log.info("cache clean: %s", report.summary())
    return report

"""``cache list`` / ``cache clean`` on fake cache trees in a fake home.

Every tree holds Whisper entries beside non-Whisper ones, and links that point
out of the cache; after each operation the whole tree (home and the folder
outside it) is compared file by file with what it must be.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from whisper_ui.models import hfcache
from whisper_ui.models.hfcache import CacheEntry, CacheError, cache_roots, clean, find_whisper_caches, select_entries

from .conftest import run_cli

WHISPER_CONFIG = json.dumps({"model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"]})
BERT_CONFIG = json.dumps({"model_type": "bert"})


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def link(path: Path, target: str | Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def hub_repo(hub: Path, repo: str, snapshots: dict[str, dict[str, str | bytes]]) -> Path:
    """``models--org--name`` as huggingface_hub writes it: files in blobs/ named by hash, linked from snapshots/."""
    folder = hub / f"models--{repo.replace('/', '--')}"
    for revision, files in snapshots.items():
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            blob = write(folder / "blobs" / hashlib.sha256(raw).hexdigest(), raw)
            link(folder / "snapshots" / revision / name, Path("..", "..", "blobs", blob.name))
    write(folder / "refs" / "main", list(snapshots)[-1])
    return folder


def legacy_file(cache: Path, url: str, data: str | bytes, lock: bool = True) -> Path:
    """transformers < 4.22: <sha256(url)>.<sha256(etag)> with a .json sidecar holding the url."""
    name = f"{hashlib.sha256(url.encode()).hexdigest()}.{hashlib.sha256(b'etag').hexdigest()}"
    path = write(cache / name, data)
    write(cache / f"{name}.json", json.dumps({"url": url, "etag": "etag"}))
    if lock:
        write(cache / f"{name}.lock", "")
    return path


def tree(*roots: Path) -> dict[str, str]:
    """Every file, folder and link under ``roots``: links by target, files by content hash."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                key = str(path)
                if path.is_symlink():
                    out[key] = "-> " + os.readlink(path)
                elif path.is_dir():
                    out[key] = "dir"
                else:
                    out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def without(before: dict[str, str], *removed: Path) -> dict[str, str]:
    gone = [str(p) for p in removed]
    return {k: v for k, v in before.items() if not any(k == g or k.startswith(g + os.sep) for g in gone)}


class FakeHome:
    """A home with every cache layout, Whisper and not, and an outside folder links point into."""

    def __init__(self, tmp_path: Path):
        self.home, self.outside = tmp_path / "home", tmp_path / "outside"
        cache = self.home / ".cache"
        hub = cache / "huggingface" / "hub"
        self.precious = write(self.outside / "precious.bin", b"not part of any cache" * 10)
        write(self.outside / "whisper-config.json", WHISPER_CONFIG)
        write(self.outside / "linked-repo" / "weights.bin", b"w" * 300)
        write(self.outside / "model.pt", b"p" * 200)

        write(hub / "version.txt", "1")
        # two revisions sharing the config blob; the newer one also links out of the cache
        self.large_v3 = hub_repo(hub, "openai/whisper-large-v3", {
            "rev1": {"config.json": WHISPER_CONFIG, "model.safetensors": b"a" * 1000},
            "rev2": {"config.json": WHISPER_CONFIG, "model.safetensors": b"b" * 2000},
        })
        link(self.large_v3 / "snapshots" / "rev2" / "extra.bin", self.precious)
        write(hub / ".locks" / self.large_v3.name / "abc.lock", "")
        self.distil = hub_repo(hub, "distil-whisper/distil-large-v3", {"r": {"model.safetensors": b"d" * 500}})
        # a fine-tune whose name says nothing: its config.json says whisper
        self.finetune = hub_repo(hub, "acme/asr-ft", {"r": {"config.json": WHISPER_CONFIG, "model.safetensors": b"f" * 400}})
        self.bert = hub_repo(hub, "bert-base-uncased", {"r": {"config.json": BERT_CONFIG, "model.safetensors": b"x" * 700}})
        write(hub / ".locks" / self.bert.name / "def.lock", "")
        # a config.json that says whisper but lies outside the cache is not read
        sneaky = hub / "models--acme--sneaky"
        link(sneaky / "snapshots" / "r" / "config.json", self.outside / "whisper-config.json")
        write(sneaky / "blobs" / "abc", b"s" * 50)
        # a dataset named whisper is not a model, and a repo folder that is a link is not followed
        hub_repo(hub, "openai/whisper-eval", {"r": {"data.parquet": b"q" * 60}}).rename(hub / "datasets--openai--whisper-eval")
        link(hub / "models--linked--whisper-x", self.outside / "linked-repo")

        legacy = cache / "huggingface" / "transformers"
        self.legacy_whisper = [
            legacy_file(legacy, "https://huggingface.co/openai/whisper-large-v2/resolve/main/pytorch_model.bin", b"l" * 900),
            legacy_file(legacy, "https://huggingface.co/openai/whisper-large-v2/resolve/main/config.json", WHISPER_CONFIG),
            legacy_file(legacy, "https://huggingface.co/acme/asr-legacy/resolve/main/config.json", WHISPER_CONFIG,
                        lock=False),
            legacy_file(legacy, "https://huggingface.co/acme/asr-legacy/resolve/main/pytorch_model.bin", b"m" * 90),
        ]
        legacy_file(legacy, "https://huggingface.co/bert-base-uncased/resolve/main/pytorch_model.bin", b"n" * 80)
        legacy_file(legacy, "https://huggingface.co/bert-base-uncased/resolve/main/config.json", BERT_CONFIG)

        torch_hub = cache / "torch" / "hub"
        self.torch_checkpoint = write(torch_hub / "checkpoints" / "whisper-small.pt", b"t" * 600)
        write(torch_hub / "checkpoints" / "resnet18-f37072fd.pth", b"r" * 100)
        self.torch_repo = torch_hub / "openai_whisper_main"
        write(self.torch_repo / "hubconf.py", "dependencies = []\n")
        write(torch_hub / "pytorch_vision_main" / "hubconf.py", "dependencies = []\n")
        write(torch_hub / "trusted_list", "openai_whisper\n")

        self.whisper_cache = cache / "whisper"  # openai-whisper's cache, and the app's default model folder
        self.tiny = write(self.whisper_cache / "tiny.pt", b"1" * 70)
        self.medium = write(self.whisper_cache / "medium.pt", b"2" * 80)
        write(self.whisper_cache / "notes.txt", "mine")
        link(self.whisper_cache / "linked.pt", self.outside / "model.pt")

        self.environ = {"HOME": str(self.home)}

    def find(self, keep: Path | None = None) -> list[CacheEntry]:
        return find_whisper_caches(self.environ, "linux", keep=self.whisper_cache if keep is None else keep)

    def tree(self) -> dict[str, str]:
        return tree(self.home, self.outside)

    def cli_env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}

    @property
    def whisper_paths(self) -> list[Path]:
        """Everything ``clean`` deletes when the app's model folder is kept."""
        legacy = [p.with_name(p.name + suffix) for p in self.legacy_whisper for suffix in ("", ".json", ".lock")]
        return [self.large_v3, self.large_v3.parent / ".locks" / self.large_v3.name, self.distil, self.finetune,
                *legacy, self.torch_checkpoint, self.torch_repo]


@pytest.fixture
def fake(tmp_path) -> FakeHome:
    return FakeHome(tmp_path)


def by_name(entries: list[CacheEntry]) -> dict[str, CacheEntry]:
    return {e.name: e for e in entries}


def test_list_finds_exactly_the_whisper_entries(fake):
    entries = by_name(fake.find())
    assert sorted(entries) == sorted([
        "openai/whisper-large-v3", "distil-whisper/distil-large-v3", "acme/asr-ft",
        "openai/whisper-large-v2", "acme/asr-legacy",
        "whisper-small.pt", "openai_whisper_main",
        "tiny.pt", "medium.pt",
    ])
    assert {name: e.kind for name, e in entries.items()} == {
        "openai/whisper-large-v3": "huggingface-hub", "distil-whisper/distil-large-v3": "huggingface-hub",
        "acme/asr-ft": "huggingface-hub", "openai/whisper-large-v2": "transformers-legacy",
        "acme/asr-legacy": "transformers-legacy", "whisper-small.pt": "torch-hub", "openai_whisper_main": "torch-hub",
        "tiny.pt": "openai-whisper", "medium.pt": "openai-whisper",
    }
    assert sorted(n for n, e in entries.items() if e.in_model_dir) == ["medium.pt", "tiny.pt"]
    # the shared config blob is counted once, the link out of the cache not at all
    large = entries["openai/whisper-large-v3"]
    assert large.path == fake.large_v3
    assert large.size == len(WHISPER_CONFIG) + 1000 + 2000 + len("rev2")
    assert entries["whisper-small.pt"].size == 600
    legacy = entries["openai/whisper-large-v2"]
    suffixes = ("", ".json", ".lock")
    assert set(legacy.paths) == {p.with_name(p.name + suffix) for p in fake.legacy_whisper[:2] for suffix in suffixes}
    assert legacy.size == sum(p.stat().st_size for p in legacy.paths)


def test_clean_dry_run_deletes_nothing_and_yes_deletes_exactly_the_whisper_entries(fake):
    before = fake.tree()
    entries = fake.find()
    selected = select_entries(entries)
    assert {e.name for e in selected} == {e.name for e in entries} - {"tiny.pt", "medium.pt"}

    dry = clean(selected)
    assert dry.dry_run and dry.ok
    assert fake.tree() == before
    expected_freed = sum(e.size for e in selected)
    assert dry.freed_bytes == expected_freed
    assert "nothing was deleted" in dry.summary()

    report = clean(selected, dry_run=False)
    assert report.ok, report.errors
    assert len(report.entries) == len(selected)
    assert report.freed_bytes == expected_freed
    assert fake.tree() == without(before, *fake.whisper_paths)
    assert fake.precious.read_bytes() == b"not part of any cache" * 10
    assert report.summary().startswith("Freed")

    # a rerun finds only what is kept, and deletes nothing
    after = fake.tree()
    assert {e.name for e in fake.find()} == {"tiny.pt", "medium.pt"}
    rerun = clean(select_entries(fake.find()), dry_run=False)
    assert rerun.ok and not rerun.entries and rerun.freed_bytes == 0
    assert fake.tree() == after


def test_model_folder_is_kept_unless_named(fake):
    before = fake.tree()
    entries = fake.find()
    assert select_entries(entries, ["medium"]) == [by_name(entries)["medium.pt"]]
    assert clean(select_entries(entries, ["medium.pt"]), dry_run=False).ok
    assert fake.tree() == without(before, fake.medium)

    with pytest.raises(CacheError, match="No Whisper cache entry is named 'large-v9'.*cache list"):
        select_entries(entries, ["large-v9"])

    # --include-model-dir, or a model folder elsewhere: openai-whisper's cache goes too, links and other files stay
    selected = select_entries(fake.find(), include_model_dir=True)
    assert "tiny.pt" in {e.name for e in selected}
    elsewhere = fake.find(keep=fake.home / "models")
    assert not any(e.in_model_dir for e in elsewhere)
    assert clean(select_entries(elsewhere), dry_run=False).ok
    assert fake.tree() == without(before, fake.medium, fake.tiny, *fake.whisper_paths)
    assert (fake.whisper_cache / "linked.pt").is_symlink() and (fake.outside / "model.pt").is_file()


def test_permission_error_stops_that_entry_and_says_what_to_do(fake, monkeypatch):
    real_unlink = os.unlink

    def unlink(path, *args, dir_fd=None, **kwargs):
        # (the clean deletes relative to directory descriptors: the folder is the descriptor's)
        folder = Path(os.readlink(f"/proc/self/fd/{dir_fd}")) if dir_fd is not None else Path(path).parent
        if folder == (fake.distil / "blobs").resolve() or folder == fake.distil / "blobs":
            raise PermissionError(13, "Permission denied", str(path))
        return real_unlink(path, *args, dir_fd=dir_fd, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    report = clean(select_entries(fake.find()), dry_run=False)
    assert not report.ok and len(report.errors) == 1
    message = report.errors[0]
    assert message.startswith("distil-whisper/distil-large-v3: Permission denied deleting")
    assert "run the command as" in message or "write access" in message
    # snapshots go first, so what is left is blobs with nothing pointing at them missing
    assert not (fake.distil / "snapshots").exists() and any((fake.distil / "blobs").iterdir())
    assert "distil-whisper/distil-large-v3" not in {e.name for e in report.entries}
    assert not fake.large_v3.exists()  # the other entries went on
    monkeypatch.undo()
    assert "distil-whisper/distil-large-v3" in {e.name for e in fake.find()}  # listed again, for a retry


def test_never_deletes_through_a_link_out_of_the_cache(tmp_path):
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    target = write(outside / "whisper" / "model.pt", b"x")
    link(cache / "escape", outside / "whisper")
    entry = CacheEntry("escape", "openai-whisper", cache / "escape" / "model.pt", (cache / "escape" / "model.pt",), 1,
                       cache.resolve())
    report = clean([entry], dry_run=False)
    assert not report.ok and "outside the cache" in report.errors[0]
    assert target.read_bytes() == b"x"


def test_a_folder_swapped_for_a_link_while_cleaning_is_not_followed(tmp_path, monkeypatch):
    """The race a path-based walk loses: between looking at a folder and going into it, the folder is
    replaced by a symbolic link to somewhere outside the cache. The fd-based walk opens it with
    O_NOFOLLOW: the entry fails with a message, the outside is untouched."""
    import shutil

    if not shutil.rmtree.avoids_symlink_attacks:
        pytest.skip("no fd-based deletion on this platform")
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    canary = write(outside / "keep" / "important.txt", b"keep me")
    write(cache / "models--openai--whisper-tiny" / "snapshots" / "abc" / "model.bin", b"x" * 10)
    entry = CacheEntry("openai/whisper-tiny", "huggingface-hub", cache / "models--openai--whisper-tiny",
                       (cache / "models--openai--whisper-tiny",), 10, cache.resolve())
    real_lstat, swapped = os.lstat, []

    def lstat(path, *args, **kwargs):
        result = real_lstat(path, *args, **kwargs)
        if os.fspath(path).endswith("snapshots") and not swapped:  # looked at: now swap it before it is opened
            snapshots = cache / "models--openai--whisper-tiny" / "snapshots"
            snapshots.rename(tmp_path / "moved-away")
            snapshots.symlink_to(outside / "keep", target_is_directory=True)
            swapped.append(True)
        return result

    monkeypatch.setattr(os, "lstat", lstat)
    report = clean([entry], dry_run=False)
    monkeypatch.undo()
    assert swapped and not report.ok, report.errors
    assert "snapshots" in report.errors[0]
    assert canary.read_bytes() == b"keep me"


def test_cli_list_and_clean(fake):
    before = fake.tree()
    proc = run_cli("cache", "list", env=fake.cli_env())
    assert proc.returncode == 0, proc.stderr
    for name in ("openai/whisper-large-v3", "acme/asr-legacy", "whisper-small.pt", "tiny.pt (app model folder: kept)"):
        assert name in proc.stdout
    assert "bert" not in proc.stdout and "resnet" not in proc.stdout and "sneaky" not in proc.stdout
    assert "total: " in proc.stdout and "in 9 entries" in proc.stdout

    proc = run_cli("cache", "clean", env=fake.cli_env())
    assert proc.returncode == 0, proc.stderr
    assert "would delete:" in proc.stdout and "This was a dry run" in proc.stdout
    assert "kept (in the app's model folder" in proc.stdout
    assert fake.tree() == before

    proc = run_cli("cache", "clean", "--yes", env=fake.cli_env())
    assert proc.returncode == 0, proc.stderr
    assert "Freed" in proc.stdout
    assert fake.tree() == without(before, *fake.whisper_paths)

    proc = run_cli("cache", "clean", "--yes", env=fake.cli_env())
    assert proc.returncode == 0 and "Nothing to delete" in proc.stdout
    assert fake.tree() == without(before, *fake.whisper_paths)

    proc = run_cli("cache", "clean", "--name", "large-v9", env=fake.cli_env())
    assert proc.returncode == 1 and "No Whisper cache entry is named 'large-v9'" in proc.stderr


def test_environment_variables_move_the_caches(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    hub_repo(tmp_path / "hub-cache", "openai/whisper-tiny", {"r": {"model.safetensors": b"1"}})
    hub_repo(tmp_path / "hf-home" / "hub", "openai/whisper-base", {"r": {"model.safetensors": b"2"}})
    legacy_file(tmp_path / "tf-cache", "https://huggingface.co/openai/whisper-small/resolve/main/pytorch_model.bin", b"3")
    write(tmp_path / "torch-home" / "hub" / "checkpoints" / "whisper-medium.pt", b"4")
    write(home / "xdg" / "whisper" / "large-v3.pt", b"5")
    hub_repo(home / "xdg" / "huggingface" / "hub", "openai/whisper-large-v2", {"r": {"model.safetensors": b"6"}})
    environ = {
        "HOME": str(home),
        "HF_HUB_CACHE": str(tmp_path / "hub-cache"),
        "HF_HOME": str(tmp_path / "hf-home"),
        "TRANSFORMERS_CACHE": str(tmp_path / "tf-cache"),
        "TORCH_HOME": str(tmp_path / "torch-home"),
        "XDG_CACHE_HOME": "~/xdg",
    }
    found = {e.name: e.path for e in find_whisper_caches(environ, "linux")}
    assert found == {
        "openai/whisper-tiny": tmp_path / "hub-cache" / "models--openai--whisper-tiny",
        "openai/whisper-base": tmp_path / "hf-home" / "hub" / "models--openai--whisper-base",
        "openai/whisper-small": next((tmp_path / "tf-cache").glob("*.json")).with_suffix(""),
        "whisper-medium.pt": tmp_path / "torch-home" / "hub" / "checkpoints" / "whisper-medium.pt",
        "large-v3.pt": home / "xdg" / "whisper" / "large-v3.pt",
        "openai/whisper-large-v2": home / "xdg" / "huggingface" / "hub" / "models--openai--whisper-large-v2",
    }


@pytest.mark.parametrize("platform, environ, expected", [
    ("linux", {"HOME": "/home/ana"}, [
        PurePosixPath("/home/ana/.cache/huggingface/hub"), PurePosixPath("/home/ana/.cache/huggingface/transformers"),
        PurePosixPath("/home/ana/.cache/torch"), PurePosixPath("/home/ana/.cache/whisper"),
    ]),
    ("darwin", {"HOME": "/Users/ana"}, [
        PurePosixPath("/Users/ana/.cache/huggingface/hub"), PurePosixPath("/Users/ana/.cache/torch"),
        PurePosixPath("/Users/ana/.cache/whisper"), PurePosixPath("/Users/ana/Library/Caches/huggingface/hub"),
    ]),
    ("win32", {"USERPROFILE": r"C:\Users\ana", "LOCALAPPDATA": r"C:\Users\ana\AppData\Local"}, [
        PureWindowsPath(r"C:\Users\ana\.cache\huggingface\hub"), PureWindowsPath(r"C:\Users\ana\.cache\torch"),
        PureWindowsPath(r"C:\Users\ana\.cache\whisper"), PureWindowsPath(r"C:\Users\ana\AppData\Local\huggingface\hub"),
    ]),
    ("win32", {"HOMEDRIVE": "D:", "HOMEPATH": r"\Users\bo", "HF_HOME": r"E:\hf", "TORCH_HOME": r"~\torch"}, [
        PureWindowsPath(r"E:\hf\hub"), PureWindowsPath(r"D:\Users\bo\torch"),
        PureWindowsPath(r"D:\Users\bo\.cache\huggingface\hub"),
    ]),
    ("linux", {"HOME": "/home/ana", "XDG_CACHE_HOME": "/srv/cache", "HF_HUB_CACHE": "/data/hub",
               "TRANSFORMERS_CACHE": "/data/tf"}, [
        PurePosixPath("/data/hub"), PurePosixPath("/data/tf"), PurePosixPath("/srv/cache/huggingface/hub"),
        PurePosixPath("/srv/cache/whisper"), PurePosixPath("/home/ana/.cache/huggingface/hub"),
    ]),
])
def test_cache_roots_per_platform(platform, environ, expected):
    roots = [r.path for r in cache_roots(environ, platform)]
    for path in expected:
        assert path in roots, (path, roots)
    assert len(roots) == len(set(roots))
    if platform == "linux" and "XDG_CACHE_HOME" not in environ:
        assert not any("Library" in str(p) or "AppData" in str(p) for p in roots)


def test_human_size():
    assert hfcache.human_size(512) == "512 B"
    assert hfcache.human_size(3_100_000_000) == "3.1 GB"


def test_the_model_tab_lists_old_caches_apart_from_the_apps_own_models(fake, monkeypatch):
    """The panel said "No old Whisper model files found" above a table listing the app's base.pt (issue 25): the
    app's models (its folder is openai-whisper's cache here) are named on the summary as kept, not in the table."""
    from tests.fakes import FakeEngine
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime.manager import ModelManager
    from whisper_ui.runtime.service import TranscriptionService
    from whisper_ui.ui.model import ModelHandlers

    monkeypatch.setattr("sys.platform", "linux")
    for name in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "XDG_CACHE_HOME",
                 "TORCH_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(fake.home))
    service = TranscriptionService(Settings(model_dir=fake.whisper_cache), ModelManager(FakeEngine(), "tiny", "cpu"))
    try:
        table, summary, clean = ModelHandlers(service).cache_rows(None)
        listed = {row[1] for row in table["data"]}
        assert "openai/whisper-large-v3" in listed and "whisper-small.pt" in listed
        assert not listed & {"tiny.pt", "medium.pt"}
        assert summary.startswith(f"{len(listed)} old Whisper cache entries"), summary
        assert "tiny.pt, medium.pt" in summary or "medium.pt, tiny.pt" in summary, summary
        assert str(fake.whisper_cache) in summary and "kept" in summary and clean.visible
        shutil.rmtree(fake.home / ".cache" / "huggingface")
        shutil.rmtree(fake.home / ".cache" / "torch")
        table, summary, clean = ModelHandlers(service).cache_rows(None)
        assert table["data"] == [] and not clean.visible
        assert summary.startswith("No old Whisper model files found in the caches. The models this app uses ("), summary
    finally:
        service.close()

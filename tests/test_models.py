"""Model sources: official names, local checkpoints, downloads with the checksum check, offline errors."""

import hashlib
import http.server
import shutil
import threading

import pytest

from whisper_ui.core.errors import CorruptCheckpointError, ModelDownloadError, UnknownModelError
from whisper_ui.engines.openai_whisper import WhisperEngine
from whisper_ui.models import sources as models

from .conftest import run_cli


@pytest.fixture
def file_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder, standing in for the model host."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_official_names_match_openai_whisper_registry():
    import whisper

    for name in models.OFFICIAL_MODELS:
        info = models.model_info(name, models.Path("/m"))
        assert info.url == whisper._MODELS[name]
    assert models.model_info("large", models.Path("/m")).name == "large-v3"


def test_local_checkpoint_is_listed_and_loaded_by_name_without_download(models_dir, tmp_path, no_network):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(models_dir / "tiny.en.pt", folder / "my-meetings.pt")
    shutil.copy(models_dir / "tiny.en.pt", folder / "tiny.en.pt")  # official name, converted file
    listed = {info.name: info for info in models.list_models(folder)}
    assert listed["my-meetings"].on_disk and not listed["my-meetings"].official
    assert listed["tiny.en"].on_disk and listed["tiny.en"].size_bytes > 70e6
    assert not listed["base"].on_disk
    for name in ("my-meetings", "tiny.en"):
        model = WhisperEngine(folder).load(name, "cpu")
        assert model.net.alignment_heads.to_dense().sum() == 8  # heads stored by import-ct2
    assert no_network == []


def test_models_list_command(models_dir):
    proc = run_cli("models", "list", "--model-dir", str(models_dir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"model folder: {models_dir}\n")
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    assert set(models.OFFICIAL_MODELS) <= set(lines)
    # both forms: the checkpoint openai-whisper reads and the CTranslate2 folder faster-whisper reads
    assert "tiny.en.pt 75.6 MB" in lines["tiny.en"] and "tiny.en/ 78.1 MB" in lines["tiny.en"]
    assert "large-v3.pt (not here)" in lines["large-v3"] and "large-v3/ (not here)" in lines["large-v3"]
    assert "~10.0 GB" in lines["large-v3"]


def test_unknown_model_names_the_folder(tmp_path):
    with pytest.raises(UnknownModelError, match=r"put a checkpoint named nope\.pt or a faster-whisper \(CTranslate2\) "
                                                 r"folder named nope in"):
        models.model_info("nope", tmp_path)


def test_offline_download_says_which_file_to_put_where(tmp_path, no_network):
    with pytest.raises(ModelDownloadError) as e:
        WhisperEngine(tmp_path).load("small", "cpu")
    message = str(e.value)
    assert "Could not download model 'small'" in message
    assert str(tmp_path / "small.pt") in message and "import-ct2" in message
    assert no_network == [models.model_info("small", tmp_path).url]
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_real_download_checks_the_checksum(models_dir, tmp_path, file_server, monkeypatch):
    root, url = file_server
    payload = (models_dir / "tiny.en.pt").read_bytes()
    sha = hashlib.sha256(payload).hexdigest()
    (root / sha).mkdir()
    (root / sha / "tiny.en.pt").write_bytes(payload)
    monkeypatch.setattr(models, "_BASE_URL", url)
    monkeypatch.setitem(models._OFFICIAL, "tiny.en", (sha, "tiny.en.pt", 39, 1000))
    target = tmp_path / "dl"
    progress = []
    resolved = models.resolve_checkpoint("tiny.en", target, progress=lambda d, t: progress.append((d, t)))
    assert resolved.source == "downloaded" and (target / "tiny.en.pt").read_bytes() == payload
    assert progress[-1] == (len(payload), len(payload))
    # the second time it is on disk and official: no download
    assert models.resolve_checkpoint("tiny.en", target).source == "official"

    # a file that does not match the checksum is refused and not kept
    (root / sha / "tiny.en.pt").write_bytes(payload[:-10] + b"0123456789")
    with pytest.raises(ModelDownloadError, match="checksum does not match"):
        models.download(models.model_info("tiny.en", tmp_path / "bad"))
    assert [p.name for p in (tmp_path / "bad").iterdir()] == []


def test_damaged_official_file_is_downloaded_again_or_explained(tmp_path, no_network):
    (tmp_path / "base.pt").write_bytes(b"PK\x03\x04 truncated download")
    with pytest.raises(ModelDownloadError, match=r"base.pt is damaged.*Could not download model 'base'"):
        WhisperEngine(tmp_path).load("base", "cpu")


def test_damaged_local_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "mine.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptCheckpointError, match="delete it"):
        WhisperEngine(tmp_path).load("mine", "cpu")


@pytest.mark.parametrize("damage", ["missing", "unexpected", "shape"])
def test_checkpoint_that_does_not_fit_the_model_is_refused(tmp_path, models_dir, damage):
    import torch

    checkpoint = torch.load(models_dir / "tiny.en.pt", map_location="cpu", weights_only=True)
    state = checkpoint["model_state_dict"]
    if damage == "missing":
        del state["decoder.ln.weight"]
    elif damage == "unexpected":
        state["decoder.extra.weight"] = torch.zeros(3)
    else:
        state["decoder.ln.weight"] = torch.zeros(7)
    torch.save(checkpoint, tmp_path / "mine.pt")
    with pytest.raises(CorruptCheckpointError, match=r"does not fit openai-whisper's model .*(decoder\.|shape)"):
        WhisperEngine(tmp_path).load("mine", "cpu")

"""faster-whisper downloads: pinned revisions, every file checked, nothing left behind, offline messages.

A real HTTP server on 127.0.0.1 stands in for the hub, serving a fake repository
at ``/{repo}/resolve/{revision}/{file}`` the way huggingface.co answers: a small
file directly (or through a redirect on the same host), an LFS file through a
redirect to another host that carries ``X-Linked-Etag``.
"""

import hashlib
import http.server
import os
import re
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest

from whisper_ui.core.errors import ModelDownloadError
from whisper_ui.models import hub
from whisper_ui.models.sources import OFFICIAL_MODELS

REPO = "test-org/faster-whisper-fake"
REVISION = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict = field(default_factory=dict)
    cut_at: int | None = None  # send only this many bytes of the body, then close the connection


class FakeHost:
    """An HTTP server on 127.0.0.1 answering GET and HEAD from a table of routes."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        routes, requests = self.routes, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, with_body: bool) -> None:
                requests.append((self.command, self.path))
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                self.send_response(route.status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(route.body[:route.cut_at])
                    self.wfile.flush()
                    self.close_connection = True

            def do_GET(self):
                self.answer(True)

            def do_HEAD(self):
                self.answer(False)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    host = FakeHost()
    yield host
    host.close()


@pytest.fixture
def storage():
    """A second host, like the hub's LFS storage: a redirect to it leaves the hub's origin."""
    host = FakeHost()
    yield host
    host.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


FILES = {
    "config.json": b'{"alignment_heads": [[1, 0]], "suppress_ids": [1, 2]}\n',
    "model.bin": bytes(range(256)) * 12_000 + b"tail",  # ~3 MB: several 1 MiB reads
    "tokenizer.json": b'{"model": {"vocab": {"a": 0}}}\n',
    "vocabulary.txt": b"a\nb\nc\n",
}


def resolve_path(name: str) -> str:
    return f"/{REPO}/resolve/{REVISION}/{name}"


@pytest.fixture
def fake_model(monkeypatch, server):
    """``tiny`` points at a fake repository on the local server, each file pinned by its SHA-256."""
    source = hub.Ct2Source(REPO, REVISION, tuple(hub.Ct2File(n, len(d), sha256(d)) for n, d in FILES.items()))
    monkeypatch.setitem(hub.CT2_MODELS, "tiny", source)
    for name, data in FILES.items():
        server.routes[resolve_path(name)] = Route(data)
    return source


def folder(path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.iterdir()}


def test_download_lands_every_file_in_dest_with_progress(tmp_path, server, fake_model, caplog):
    dest = tmp_path / "models" / "tiny"
    progress = []
    with caplog.at_level("INFO", logger="whisper_ui.hub"):
        result = hub.download_ct2("tiny", dest, lambda done, total: progress.append((done, total)), base_url=server.url)
    assert result == dest
    assert folder(dest) == FILES
    assert os.listdir(dest.parent) == ["tiny"]  # no temporary folder left
    total = sum(len(d) for d in FILES.values())
    assert progress[-1] == (total, total)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress) and len(progress) >= 6
    assert {path for _, path in server.requests} == {resolve_path(name) for name in FILES}
    assert f"from {server.url}/{REPO} (revision {REVISION}) into {dest}" in caplog.text
    assert f"downloaded faster-whisper model tiny into {dest}" in caplog.text


def test_a_file_that_differs_is_refused_and_nothing_is_kept(tmp_path, server, fake_model):
    altered = FILES["model.bin"][:-4] + b"TAIL"  # same size, other bytes
    server.routes[resolve_path("model.bin")] = Route(altered)
    dest = tmp_path / "models" / "tiny"
    with pytest.raises(ModelDownloadError) as e:
        hub.download_ct2("tiny", dest, base_url=server.url)
    message = str(e.value)
    assert f"The faster-whisper model 'tiny' was downloaded from {server.url}/{REPO} but model.bin does not match" in message
    assert f"SHA-256 {sha256(FILES['model.bin'])}" in message and f"SHA-256 {sha256(altered)}" in message
    assert "incomplete or altered" in message and "try again" in message
    assert os.listdir(dest.parent) == []


def test_a_server_that_dies_mid_file_leaves_nothing(tmp_path, server, fake_model):
    server.routes[resolve_path("model.bin")] = Route(FILES["model.bin"], cut_at=len(FILES["model.bin"]) // 2)
    dest = tmp_path / "models" / "tiny"
    with pytest.raises(ModelDownloadError, match="model.bin does not match.*incomplete or altered"):
        hub.download_ct2("tiny", dest, base_url=server.url)
    assert os.listdir(dest.parent) == []


def test_a_longer_file_is_refused_without_reading_it_all(tmp_path, server, fake_model):
    server.routes[resolve_path("model.bin")] = Route(FILES["model.bin"] * 3)
    with pytest.raises(ModelDownloadError, match=r"got [\d,]+ bytes or more; the download was incomplete or altered"):
        hub.download_ct2("tiny", tmp_path / "tiny", base_url=server.url)
    assert os.listdir(tmp_path) == []


def test_an_existing_dest_is_untouched_by_a_failed_download_and_replaced_by_a_good_one(tmp_path, server, fake_model):
    dest = tmp_path / "tiny"
    dest.mkdir()
    (dest / "config.json").write_bytes(b"{}")  # an incomplete copy someone put there
    server.routes[resolve_path("tokenizer.json")] = Route(b"not the tokenizer\n")
    with pytest.raises(ModelDownloadError, match="tokenizer.json does not match"):
        hub.download_ct2("tiny", dest, base_url=server.url)
    assert folder(dest) == {"config.json": b"{}"}
    assert os.listdir(tmp_path) == ["tiny"]

    server.routes[resolve_path("tokenizer.json")] = Route(FILES["tokenizer.json"])
    hub.download_ct2("tiny", dest, base_url=server.url)
    assert folder(dest) == FILES
    assert os.listdir(tmp_path) == ["tiny"]  # the old folder is gone too


def test_offline_says_which_folder_or_checkpoint_to_put_where(tmp_path, no_network):
    dest = tmp_path / "base"
    with pytest.raises(ModelDownloadError) as e:
        hub.download_ct2("base", dest)
    message = str(e.value)
    source = hub.CT2_MODELS["base"]
    assert message.startswith("Could not download the faster-whisper model 'base' from "
                              "https://huggingface.co/Systran/faster-whisper-base (")
    assert "Temporary failure in name resolution" in message
    assert "config.json, model.bin, tokenizer.json and vocabulary.txt" in message and source.revision in message
    assert f"at {dest}," in message
    assert f"at {tmp_path / 'base.pt'} (it is exported once)" in message
    assert "https://openaipublic.azureedge.net/main/whisper/models/" in message and "import-hf" in message
    assert no_network == [source.file_url(source.files[0].name)]  # one attempt, at the pinned revision
    assert os.listdir(tmp_path) == []


def test_offline_turbo_names_its_checkpoint_file(tmp_path, no_network):
    with pytest.raises(ModelDownloadError, match=re.escape(str(tmp_path / "large-v3-turbo.pt"))):
        hub.download_ct2("large-v3-turbo", tmp_path / "turbo")  # the alias resolves to turbo
    assert no_network[0].startswith("https://huggingface.co/mobiuslabsgmbh/faster-whisper-large-v3-turbo/resolve/")


def test_unknown_name_lists_what_can_be_downloaded(tmp_path):
    with pytest.raises(ModelDownloadError) as e:
        hub.download_ct2("my-fine-tune", tmp_path / "my-fine-tune")
    assert "no faster-whisper download for 'my-fine-tune'" in str(e.value)
    assert ", ".join(OFFICIAL_MODELS) in str(e.value)
    assert os.listdir(tmp_path) == []


def test_the_table_pins_every_official_model():
    _MODELS = pytest.importorskip("faster_whisper.utils")._MODELS

    assert list(hub.CT2_MODELS) == list(OFFICIAL_MODELS)
    unpinned = set()
    for name, source in hub.CT2_MODELS.items():
        assert source.repo == _MODELS[name]  # the repositories faster-whisper itself downloads
        assert re.fullmatch(r"[0-9a-f]{40}", source.revision), name
        names = [f.name for f in source.files]
        assert {"config.json", "model.bin", "tokenizer.json"} <= set(names), name
        assert any(n.startswith("vocabulary.") for n in names), name
        assert ("preprocessor_config.json" in names) == (name in ("large-v3", "turbo")), name  # 128 mel bins
        for f in source.files:
            assert f.size > 0
            if f.sha256 is None:
                unpinned.add(f"{name}/{f.name}")
            else:
                assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), (name, f.name)
        assert all(f.sha256 for f in source.files if f.name == "model.bin"), name
    # the only files checked against the hub's own hash: no public source gave their SHA-256
    assert unpinned == {"large-v1/config.json", "large-v1/tokenizer.json", "large-v1/vocabulary.txt"}


@pytest.fixture
def stated_model(monkeypatch, server, storage):
    """``tiny`` with no pinned SHA-256: model.bin is an LFS file behind a redirect to the storage host (hash in
    ``X-Linked-Etag``), config.json a small file behind a same-host redirect (git blob SHA-1 in ``ETag``)."""
    files = tuple(hub.Ct2File(n, len(d), None if n in ("model.bin", "config.json") else sha256(d))
                  for n, d in FILES.items())
    monkeypatch.setitem(hub.CT2_MODELS, "tiny", hub.Ct2Source(REPO, REVISION, files))
    for name in ("tokenizer.json", "vocabulary.txt"):
        server.routes[resolve_path(name)] = Route(FILES[name])
    model = FILES["model.bin"]
    storage.routes["/xet/model.bin"] = Route(model, headers={"ETag": '"not-the-file-hash"'})
    server.routes[resolve_path("model.bin")] = Route(status=302, headers={
        "Location": f"{storage.url}/xet/model.bin", "X-Linked-Etag": f'"{sha256(model)}"', "X-Linked-Size": len(model)})
    cache_path = f"/api/resolve-cache/models/{REPO}/{REVISION}/config.json"
    server.routes[resolve_path("config.json")] = Route(status=307, headers={"Location": cache_path})
    server.routes[cache_path] = Route(FILES["config.json"], headers={"ETag": f'"{git_blob_sha1(FILES["config.json"])}"'})
    return server, storage, cache_path


def test_files_without_a_pinned_hash_are_checked_against_the_hubs_hash(tmp_path, stated_model):
    server, storage, cache_path = stated_model
    dest = tmp_path / "tiny"
    hub.download_ct2("tiny", dest, base_url=server.url)
    assert folder(dest) == FILES
    # the hash was asked before the download, and the storage host was only asked for the bytes
    assert ("HEAD", resolve_path("model.bin")) in server.requests and ("HEAD", cache_path) in server.requests
    assert storage.requests == [("GET", "/xet/model.bin")]


@pytest.mark.parametrize("case", ["lfs", "small", "weak-etag-of-other-bytes"])
def test_a_file_that_differs_from_the_hubs_hash_is_refused(tmp_path, stated_model, case):
    server, storage, cache_path = stated_model
    if case == "lfs":
        storage.routes["/xet/model.bin"] = Route(FILES["model.bin"][::-1])
        expected = f"model.bin does not match: expected {len(FILES['model.bin']):,} bytes with SHA-256"
    elif case == "small":
        server.routes[cache_path].body = b'{"alignment_heads": [[2, 0]], "suppress_ids": [1, 2]}\n'
        expected = f"config.json does not match: expected {len(FILES['config.json'])} bytes with git blob SHA-1"
    else:
        server.routes[cache_path].headers["ETag"] = f'W/"{git_blob_sha1(b"other")}"'
        expected = "config.json does not match"
    dest = tmp_path / "tiny"
    with pytest.raises(ModelDownloadError, match=expected + ".*incomplete or altered"):
        hub.download_ct2("tiny", dest, base_url=server.url)
    assert os.listdir(tmp_path) == []


def test_a_hub_that_states_no_hash_is_refused(tmp_path, stated_model):
    server, _, cache_path = stated_model
    del server.routes[cache_path].headers["ETag"]
    with pytest.raises(ModelDownloadError, match=f"states no SHA-256 or git hash for the file at revision {REVISION}"):
        hub.download_ct2("tiny", tmp_path / "tiny", base_url=server.url)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_the_pinned_hashes_match_real_copies_of_those_repositories(name, ct2_tiny_en, ct2_base):
    """The PyPI packages the tests use ship the Systran folders' files: every one matches the pinned table."""
    folder = {"tiny.en": ct2_tiny_en, "base": ct2_base}[name]
    for file in hub.CT2_MODELS[name].files:
        data = (folder / file.name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (file.size, file.sha256), file.name


def test_download_failures_read_as_words_not_errno_codes():
    """What a real failed lookup and a refused connection become in the offline message (no "[Errno -2]")."""
    from whisper_ui.core.errors import network_reason

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for url, expected in (("http://nosuch.invalid/model.bin", "the address could not be resolved: "),
                          (f"http://127.0.0.1:{port}/model.bin", "the connection was refused")):
        with pytest.raises(urllib.error.URLError) as failure:
            urllib.request.urlopen(url, timeout=10)
        assert "[Errno" in str(failure.value)  # what the message carried before
        reason = network_reason(failure.value)
        assert reason.startswith(expected) and "Errno" not in reason, reason

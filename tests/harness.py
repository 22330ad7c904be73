"""What the hardening tests share: a server under strace, a canary, the bad-input corpus, raw Gradio calls.

- ``start_traced_server``: ``python app.py`` run under ``strace -f``, with its
  own ``TMPDIR``, so a test sees every file any of its processes (ffmpeg and
  ffprobe included) touched, every connection it tried, and every file it
  left in its temporary folder.
- ``Canary``: a file and an HTTP server on 127.0.0.1 that playlists in the
  corpus point at; neither may ever be read.
- ``build_corpus``: the bad-input corpus, generated at test time with ffmpeg
  and Python from a speech clip (no binary file is committed).
- ``RawGradio``: Gradio's upload route and queue, spoken over plain HTTP, for
  what ``gradio_client`` refuses to send (a file name with ``../``, an upload
  over the limit, a link instead of a file).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from .conftest import ROOT, Server, free_port

SHA_DIR = re.compile(r"[0-9a-f]{64}")


# --- a server under strace -------------------------------------------------------------------


def require_strace() -> str:
    path = shutil.which("strace")
    if path is None:
        pytest.fail("strace is needed to watch the server's files and connections: "
                    "`sudo apt-get install strace` (`make test` installs it)")
    return path


@dataclass
class Syscall:
    pid: int
    name: str
    args: str
    result: str


@dataclass
class StraceLog:
    path: Path

    def calls(self) -> Iterator[Syscall]:
        """Every syscall in the log; one that another thread interrupted (``<unfinished ...>``, then
        ``<... execve resumed>``: common under load) is joined back into one call with its result."""
        whole = re.compile(r"^(\d+) +(\w+)\((.*)\) += (.*)$")
        unfinished = re.compile(r"^(\d+) +(\w+)\((.*) <unfinished \.\.\.>$")
        resumed = re.compile(r"^(\d+) +<\.\.\. (\w+) resumed>(.*)\) += (.*)$")
        pending: dict[tuple[int, str], str] = {}
        with open(self.path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if m := unfinished.match(line):
                    pending[(int(m.group(1)), m.group(2))] = m.group(3)
                elif m := resumed.match(line):
                    pid, name = int(m.group(1)), m.group(2)
                    yield Syscall(pid, name, pending.pop((pid, name), "") + m.group(3), m.group(4))
                elif m := whole.match(line):
                    yield Syscall(int(m.group(1)), m.group(2), m.group(3), m.group(4))
        for (pid, name), args in pending.items():  # never resumed (the process was killed meanwhile)
            yield Syscall(pid, name, args, "")

    def programs(self) -> dict[int, str]:
        """pid → the program it executed (successful execve only)."""
        out = {}
        for call in self.calls():
            if call.name in ("execve", "execveat") and call.result.startswith("0"):
                m = re.match(r'"([^"]*)"', call.args)
                if m:
                    out[call.pid] = m.group(1)
        return out

    def pids_running(self, *names: str) -> set[int]:
        return {pid for pid, program in self.programs().items() if Path(program).name in names}

    def paths_touched(self, pids: set[int] | None = None) -> list[tuple[int, str, str]]:
        """(pid, syscall, path) of every file syscall (open, stat, access, readlink...)."""
        out = []
        for call in self.calls():
            if pids is not None and call.pid not in pids:
                continue
            if call.name in ("connect", "bind", "sendto", "sendmsg", "socket", "execve"):
                continue
            m = re.match(r'(?:AT_FDCWD, |-?\d+, )?"([^"]*)"', call.args)
            if m:
                out.append((call.pid, call.name, m.group(1)))
        return out

    def connections(self) -> list[tuple[int, str, str]]:
        """(pid, family, address) of every connect/sendto/sendmsg that names an address."""
        out = []
        for call in self.calls():
            if call.name not in ("connect", "sendto", "sendmsg"):
                continue
            if "sa_family=AF_INET6" in call.args:
                m = re.search(r'inet_pton\(AF_INET6, "([^"]+)"', call.args)
                out.append((call.pid, "AF_INET6", m.group(1) if m else call.args))
            elif "sa_family=AF_INET" in call.args:
                m = re.search(r'sin_addr=inet_addr\("([^"]+)"\)', call.args)
                port = re.search(r"sin_port=htons\((\d+)\)", call.args)
                out.append((call.pid, "AF_INET", f"{m.group(1) if m else call.args}:{port.group(1) if port else '?'}"))
            elif "sa_family=AF_UNIX" in call.args:
                m = re.search(r'sun_path="([^"]*)"', call.args)
                out.append((call.pid, "AF_UNIX", m.group(1) if m else call.args))
            elif "sa_family=" in call.args:
                out.append((call.pid, call.args.split("sa_family=")[1].split(",")[0], call.args))
        return out

    def outbound(self) -> list[tuple[int, str, str]]:
        """Connection attempts to anything but 127.0.0.1 or ::1 (a DNS query to a local resolver counts).

        Local sockets (AF_UNIX) and the kernel's own (AF_NETLINK) are not the network.
        """
        return [c for c in self.connections() if c[1] not in ("AF_UNIX", "AF_NETLINK")
                and not c[2].startswith(("127.0.0.1:", "::1", "::ffff:127.0.0.1"))]


@dataclass
class TracedServer(Server):
    """``python app.py`` under ``strace -f``; ``process`` is strace, ``app`` the Python server inside it."""

    strace: StraceLog = None  # type: ignore[assignment]
    tmpdir: Path = None  # type: ignore[assignment]
    app: psutil.Process = None  # type: ignore[assignment]

    @property
    def work_dir(self) -> Path:
        """The server's private folder (``whisper-ui-*`` in its TMPDIR)."""
        dirs = sorted(self.tmpdir.glob("whisper-ui-*"))
        assert len(dirs) == 1, f"expected one whisper-ui-* folder in {self.tmpdir}, found {dirs}"
        return dirs[0]

    @property
    def uploads(self) -> Path:
        return self.work_dir / "uploads"

    def alive(self) -> bool:
        return self.app.is_running() and self.app.status() != psutil.STATUS_ZOMBIE

    def children(self) -> list[psutil.Process]:
        try:
            return self.app.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.app is not None and self.app.is_running():
            self.app.send_signal(signal.SIGTERM)
            try:
                self.app.wait(20)
            except psutil.TimeoutExpired:
                self.app.kill()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def server_env(tmpdir: Path, extra: dict | None = None) -> dict[str, str]:
    """The test process's environment, minus what would hide the app's own defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADIO_", "WHISPER_UI_"))}
    env.update(PYTHONUNBUFFERED="1", TMPDIR=str(tmpdir))
    env.update(extra or {})
    return env


def start_traced_server(folder: Path, *args: str, env: dict | None = None, wait_ready: bool = True,
                        timeout: float = 120) -> TracedServer:
    """Start the app under strace on a free 127.0.0.1 port, with ``folder/tmp`` as its TMPDIR.

    GRADIO_ANALYTICS_ENABLED is not set for it: the app must turn analytics off itself.
    """
    strace = require_strace()
    port = free_port()
    tmpdir = folder / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"server-{port}.log"
    trace_path = folder / f"strace-{port}.log"
    command = [strace, "-f", "--seccomp-bpf", "-qq", "-s", "256", "-e", "trace=%file,%network,execve",
               "-o", str(trace_path), sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *args]
    process = subprocess.Popen(command, cwd=ROOT, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
                               env=server_env(tmpdir, env))
    server = TracedServer(f"http://127.0.0.1:{port}", process, log_path, strace=StraceLog(trace_path),
                          tmpdir=tmpdir)
    deadline = time.monotonic() + timeout
    path = "/readyz" if wait_ready else "/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if server.get(path, timeout=2)[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.25)
    children = [p for p in psutil.Process(process.pid).children() if Path(p.exe()).name.startswith("python")]
    if len(children) != 1 or time.monotonic() >= deadline:
        for child in children:
            child.kill()
        process.kill()
        raise RuntimeError(f"server not ready in {timeout} s:\n{server.log()}")
    server.app = children[0]
    return server


# --- files left behind ---------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, int]:
    """Every file (and symlink) under ``root``: relative path → size (the load test's own count)."""
    from bench.load_test import files_under

    return files_under(root)


def new_files(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in after.items() if k not in before}


API_DIR = re.compile(r"api-\w+")


def is_upload_copy(relpath: str, work_dir_name: str, api: bool = True) -> bool:
    """Gradio's upload cache keeps an upload as ``uploads/<sha256>/<name>`` until delete_cache removes it;
    the OpenAI-compatible routes keep theirs as ``uploads/api-<random>/<name>`` for the request's length."""
    parts = Path(relpath).parts
    return (len(parts) == 4 and parts[0] == work_dir_name and parts[1] == "uploads"
            and (SHA_DIR.fullmatch(parts[2]) is not None or (api and API_DIR.fullmatch(parts[2]) is not None)))


# --- the canary ------------------------------------------------------------------------------------


class _CanaryHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


@dataclass
class Canary:
    """A real speech WAV at a path no upload should ever reach, and an HTTP server that serves it."""

    file: Path
    http: http.server.ThreadingHTTPServer
    udp_port: int
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def start_canary(folder: Path, speech_wav: Path) -> Canary:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "canary-secret.wav"
    shutil.copy(speech_wav, file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CanaryHandler)
    canary = Canary(file, server, free_port())
    server.requests = canary.requests  # type: ignore[attr-defined]
    server.body = file.read_bytes()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return canary


# --- raw Gradio over HTTP ----------------------------------------------------------------------------


class GradioCallError(Exception):
    pass


class RawGradio:
    """Gradio's own routes, without gradio_client's checks."""

    def __init__(self, url: str, http: httpx.Client | None = None):
        """``http``: a client of its own (a login's cookies, another local address)."""
        self.url = url
        self.http = http or httpx.Client(timeout=60)
        config = self.http.get(url + "/config").json()
        self.fn_index = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}
        self.inputs = {d["api_name"]: len(d["inputs"]) for d in config["dependencies"] if d.get("api_name")}

    def upload(self, name: str, data: bytes) -> httpx.Response:
        return self.http.post(self.url + "/gradio_api/upload", files=[("files", (name, data))])

    def join(self, api_name: str, *data, session_hash: str | None = None) -> str:
        api_name = api_name.lstrip("/")
        session_hash = session_hash or uuid.uuid4().hex[:11]
        padded = list(data) + [None] * (self.inputs[api_name] - len(data))
        r = self.http.post(self.url + "/gradio_api/queue/join",
                           json={"data": padded, "fn_index": self.fn_index[api_name], "session_hash": session_hash,
                                 "event_data": None, "trigger_id": None})
        r.raise_for_status()
        return session_hash

    def call(self, api_name: str, *data):
        """Run an endpoint through the queue; returns its output data, raises GradioCallError with its message."""
        session_hash = self.join(api_name, *data)
        with self.http.stream("GET", self.url + "/gradio_api/queue/data", params={"session_hash": session_hash},
                              timeout=300) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    if not message.get("success"):
                        raise GradioCallError(output.get("error") or json.dumps(message))
                    return output["data"]
        raise GradioCallError("the stream ended without a result")

    def close(self) -> None:
        self.http.close()


def file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


# --- the bad-input corpus ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    name: str  # the file name the server sees
    path: Path  # the generated file on the test side
    error: str | None  # regex the user's message must match; None: it must be transcribed
    words: frozenset[str] = frozenset()  # words a transcript must have
    endpoint: str = "/transcribe"
    raw: bool = False  # uploaded over plain HTTP (a name gradio_client cannot send, a size it refuses)
    either: bool = False  # damaged but partly readable: a transcript or a named error, both fine


NOT_MEDIA = r"^This file is not audio or video that can be read, or it is damaged \(.+\)\. Upload a common audio"
NOT_ACCEPTED = NOT_MEDIA.replace(r"\(.+\)", r"\(\[\w+\] this format is not accepted\. .+\)")
WRONG_TYPE = r"^Invalid file type\. Please upload a file that is one of these formats: \['audio', 'video', '\.wav'"
NO_SAMPLES = r"^The file holds no audio samples \(zero length\)\. Upload a recording with sound in it\.$"
NO_SPEECH = (r"^(No speech was found in the audio\.|The audio is silent: no speech was found\.|"
             r"Speech detection found [\d.]+ s of speech, but the model could not make out words in it\.)")
TOO_LONG = r"^The audio is 120\.0 minutes long; the limit is 60\.0 minutes\. Cut it into shorter parts and try again\.$"
OVER_SIZE = r"^File size exceeded maximum allowed size of 4194304 bytes\.$"
# every message a user may get for a bad upload (the "either" cases must end in one of these, or a transcript)
KNOWN_ERRORS = (NOT_MEDIA, NO_SAMPLES, NO_SPEECH, r"^The audio could not be decoded; the file may be damaged \(")
FOX = frozenset({"quick", "lazy"})

CORPUS_IDS = (
    "empty-file", "zero-length-audio", "random-bytes-wav", "random-bytes-mp3", "text-named-wav", "text-file",
    "image-named-mp4", "truncated-wav-header", "truncated-mp4", "flac-bad-magic", "corrupt-mp3-middle",
    "video-without-audio", "digital-silence", "two-hours-flac", "wav-header-claims-hours", "rate-1-hz", "rate-8-khz",
    "rate-384-khz", "channels-32", "float-nan-inf", "ffconcat-list", "ffconcat-extension", "m3u-playlist",
    "hls-playlist", "pls-playlist", "sdp-rtp-session", "dash-manifest", "unicode-name", "options-quotes-protocol-name",
    "dot-dot-slash-name", "mic-zero-samples", "mic-riff-garbage",
    "mic-one-hertz-for-days", "mic-ffconcat", "mic-32-channels", "over-size-limit",
)
# the cases whose audio gets past the decoder to the model (transcribed, or found to hold no speech): the only
# ones whose handling is the engine's own; the rest are the decoder's and the routes', the same for both engines
ENGINE_CASES = frozenset({
    "flac-bad-magic", "corrupt-mp3-middle", "digital-silence", "wav-header-claims-hours", "rate-1-hz", "rate-8-khz",
    "rate-384-khz", "channels-32", "float-nan-inf", "unicode-name", "options-quotes-protocol-name",
    "dot-dot-slash-name", "mic-32-channels",
})


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   capture_output=True)


def _wav_bytes(rate: int, channels: int, samples: np.ndarray, claim_data_bytes: int | None = None,
               float32: bool = False) -> bytes:
    """A WAV file written by hand, so that its header can say anything."""
    data = samples.astype("<f4" if float32 else "<i2").tobytes()
    width = 4 if float32 else 2
    data_size = len(data) if claim_data_bytes is None else claim_data_bytes
    header = b"RIFF" + struct.pack("<I", (36 + data_size) & 0xFFFFFFFF) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 3 if float32 else 1, channels, rate, rate * channels * width,
                                     channels * width, width * 8)
    return header + b"data" + struct.pack("<I", data_size & 0xFFFFFFFF) + data


def build_corpus(folder: Path, fox: Path, canary: Canary, max_upload_bytes: int) -> dict[str, Case]:
    """The bad-input corpus, made now from ``fox`` (a short speech WAV: "the quick brown fox...")."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(6)
    cases: dict[str, Case] = {}

    def add(id: str, name: str, content: bytes, error: str | None = None, words: frozenset[str] = frozenset(),
            endpoint: str = "/transcribe", raw: bool = False, either: bool = False) -> None:
        target = folder / id / ("upload.bin" if raw else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        cases[id] = Case(id, name, target, error, words, endpoint, raw, either)

    def made(suffix: str, *ffmpeg_args: str) -> bytes:
        out = folder / f"made{suffix}"
        _ffmpeg(*ffmpeg_args, str(out))
        data = out.read_bytes()
        out.unlink()
        return data

    def pcm(rate: int) -> np.ndarray:
        return np.frombuffer(subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(fox), "-f", "s16le", "-ac", "1", "-ar", str(rate),
             "-"], check=True, capture_output=True).stdout, np.int16)

    fox_mp3 = made(".mp3", "-i", str(fox), "-c:a", "libmp3lame", "-b:a", "64k")
    fox_m4a = made(".m4a", "-i", str(fox), "-c:a", "aac", "-b:a", "64k")
    fox_flac = made(".flac", "-i", str(fox), "-c:a", "flac")
    fox_8k, fox_16k = pcm(8000), pcm(16000)
    speech = fox.read_bytes()

    # nothing, or nothing usable
    add("empty-file", "empty.wav", b"", r"^The file is empty\. Upload an audio or video file\.$")
    add("zero-length-audio", "zero-samples.wav", _wav_bytes(16000, 1, np.zeros(0, np.int16)), NO_SAMPLES)
    add("random-bytes-wav", "random.wav", rng.bytes(64 * 1024), NOT_MEDIA)
    add("random-bytes-mp3", "random.mp3", rng.bytes(64 * 1024), NOT_MEDIA)
    add("text-named-wav", "notes.wav", b"Meeting notes: buy milk, call Peter.\n" * 40, NOT_MEDIA)
    add("text-file", "notes.txt", b"Meeting notes: buy milk, call Peter.\n" * 40, WRONG_TYPE)
    add("image-named-mp4", "photo.mp4", made(".png", "-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1"),
        NOT_ACCEPTED)

    # truncated and corrupt
    add("truncated-wav-header", "header-only.wav", speech[:44], NO_SAMPLES)
    add("truncated-mp4", "half.m4a", fox_m4a[: len(fox_m4a) // 2], NOT_MEDIA)
    add("flac-bad-magic", "bad-magic.flac", b"fLaX" + fox_flac[4:], words=FOX)  # ffmpeg still finds the frames
    garbled = bytearray(fox_mp3)
    garbled[len(garbled) // 4: len(garbled) // 2] = rng.bytes(len(garbled) // 2 - len(garbled) // 4)
    add("corrupt-mp3-middle", "garbled.mp3", bytes(garbled), either=True)

    # no audio, silence, too long
    add("video-without-audio", "silent-film.mp4", made(".mp4", "-f", "lavfi", "-i", "color=c=blue:s=64x64:d=2",
                                                       "-c:v", "libx264", "-pix_fmt", "yuv420p"),
        r"^This file has no audio track\. Upload a file with sound in it\.$")
    add("digital-silence", "silence.wav", _wav_bytes(16000, 1, np.zeros(16000 * 5, np.int16)), NO_SPEECH)
    add("two-hours-flac", "two-hours.flac", made(".flac", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
                                                 "-t", "7200", "-c:a", "flac"), TOO_LONG)
    # the header says 0x7fff0000 bytes of data (18 hours); the real 3 s are what gets read
    add("wav-header-claims-hours", "liar.wav", _wav_bytes(16000, 1, fox_16k, claim_data_bytes=0x7FFF0000), words=FOX)

    # extreme rates and channel counts
    add("rate-1-hz", "one-hertz.wav", _wav_bytes(1, 1, (rng.standard_normal(30) * 8000).astype(np.int16)),
        NO_SPEECH)
    add("rate-8-khz", "phone.wav", _wav_bytes(8000, 1, fox_8k), words=frozenset({"quick"}))
    add("rate-384-khz", "hires.wav", made(".wav", "-i", str(fox), "-ar", "384000", "-c:a", "pcm_s16le"), words=FOX)
    add("channels-32", "thirty-two.wav", _wav_bytes(16000, 32, np.repeat(fox_16k[:, None], 32, axis=1)), words=FOX)
    nan = fox_16k.astype(np.float32) / 32768
    nan[:800:3], nan[1:800:3] = np.nan, np.inf  # a burst of invalid samples before the speech
    add("float-nan-inf", "nan.wav", _wav_bytes(16000, 1, nan, float32=True), either=True)

    # lists that would make ffmpeg open another file, a URL or a socket
    target, url = canary.file, canary.url
    add("ffconcat-list", "list.wav", f"ffconcat version 1.0\nfile '{target}'\nfile '{url}/concat.wav'\n".encode(),
        NOT_ACCEPTED)
    add("ffconcat-extension", "list.ffconcat", f"ffconcat version 1.0\nfile '{target}'\n".encode(), WRONG_TYPE)
    add("m3u-playlist", "playlist.mp3", f"#EXTM3U\n#EXTINF:3,canary\n{target}\n{url}/m3u.wav\n".encode(), NOT_MEDIA)
    add("hls-playlist", "stream.mp4", (f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\n"
                                       f"{url}/hls.ts\n#EXTINF:3.0,\nfile://{target}\n#EXT-X-ENDLIST\n").encode(),
        NOT_ACCEPTED)
    add("pls-playlist", "radio.mp3", f"[playlist]\nFile1={target}\nFile2={url}/pls.wav\nNumberOfEntries=2\n".encode(),
        NOT_ACCEPTED)
    add("sdp-rtp-session", "session.wav", (f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=canary\nc=IN IP4 127.0.0.1\nt=0 0\n"
                                           f"m=audio {canary.udp_port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n").encode(),
        NOT_ACCEPTED)
    add("dash-manifest", "manifest.mp4", (f'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
                                          f'type="static" mediaPresentationDuration="PT3S"><Period><AdaptationSet '
                                          f'mimeType="audio/mp4"><Representation id="a" bandwidth="64000">'
                                          f'<BaseURL>{url}/dash.m4a</BaseURL></Representation></AdaptationSet>'
                                          f'</Period></MPD>').encode(), NOT_MEDIA)

    # odd file names: the upload keeps working, and lands in the upload cache and nowhere else
    add("unicode-name", "ünïcödé 音声 файл.wav", speech, words=FOX)
    add("options-quotes-protocol-name", "-y -i my  meeting 'final' (2) concat:x|y.wav", speech, words=FOX)
    add("dot-dot-slash-name", "../../../../escape.wav", speech, words=FOX, raw=True)

    # the microphone endpoint takes a posted file too
    add("mic-zero-samples", "mic-empty.wav", _wav_bytes(16000, 1, np.zeros(0, np.int16)),
        r"^The recording is empty\. Record again", endpoint="/transcribe_microphone")
    add("mic-riff-garbage", "mic-garbage.wav", b"RIFF\x10\x00\x00\x00WAVE" + rng.bytes(4000),
        r"^The recording is not a valid WAV file(: .+)?\. Record again\.$", endpoint="/transcribe_microphone")
    add("mic-one-hertz-for-days", "mic-slow.wav", _wav_bytes(1, 1, np.zeros(400_000, np.int16)),
        r"^The audio is longer than the limit of 60\.0 minutes\. Cut it into shorter parts", endpoint="/transcribe_microphone")
    add("mic-ffconcat", "mic-list.wav", f"ffconcat version 1.0\nfile '{target}'\n".encode(), NOT_ACCEPTED,
        endpoint="/transcribe_microphone")
    add("mic-32-channels", "mic-32.wav", _wav_bytes(16000, 32, np.repeat(fox_16k[:, None], 32, axis=1)), words=FOX,
        endpoint="/transcribe_microphone")

    # over the upload limit: Gradio refuses it before any of our code runs
    noise = (rng.standard_normal(max_upload_bytes // 2 + 8000) * 3000).astype(np.int16)
    add("over-size-limit", "big.wav", _wav_bytes(16000, 1, noise), OVER_SIZE, raw=True)
    assert tuple(cases) == CORPUS_IDS, set(cases) ^ set(CORPUS_IDS)
    return cases


def write_wav(path: Path, rate: int, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def udp_listener(port: int) -> socket.socket:
    """A UDP socket on the canary's RTP port: an SDP file would make ffmpeg send or listen there."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(0)
    return s

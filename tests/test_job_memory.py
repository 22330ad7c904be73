"""Jobs waiting for the model hold their files, not their samples (SECURITY.md "The service"), on a real
server: an hour of near-silence is a small FLAC and 230 MB of float32 once decoded.

Before: API jobs decoded their file when admitted and held the samples while they waited; twelve of
them at once grew the app by 3.2 GB, and 1.8 GB more than before was still held 10 s after they ended.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid

import psutil
import pytest

from .conftest import start_server

QUEUE = 8  # one job runs, eight wait: the twelve requests' other three are refused


@pytest.fixture(scope="module")
def hour_of_near_silence(tmp_path_factory):
    """60 minutes of a 440 Hz tone at -60 dB: not silent (the app would refuse digital silence at once),
    no speech, and ~1 MB as FLAC."""
    path = tmp_path_factory.mktemp("hour") / "hour.flac"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "synth", "3600", "sine", "440",
                    "vol", "0.001"], check=True)
    return path


def _request(port: int, address: str, body: bytes, boundary: str) -> socket.socket:
    """POST the whole request from ``address`` and leave the connection open (the client waits)."""
    sock = socket.create_connection(("127.0.0.1", port), source_address=(address, 0))
    head = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n")
    sock.sendall(head.encode() + body)
    return sock


def test_waiting_jobs_hold_no_samples_and_a_failed_job_frees_them(models_dir, tmp_path_factory, hour_of_near_silence):
    server = start_server(tmp_path_factory.mktemp("job-memory"), "--model", "tiny.en", "--model-dir",
                          str(models_dir), "--queue-size", str(QUEUE), "--max-audio-minutes", "60")
    try:
        process = psutil.Process(server.process.pid)
        port = int(server.url.rsplit(":", 1)[1])
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hour.flac\"\r\n"
                "Content-Type: audio/flac\r\n\r\n").encode() + hour_of_near_silence.read_bytes() + (
                    f"\r\n--{boundary}--\r\n").encode()
        before = process.memory_info().rss
        peak = [before]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                peak[0] = max(peak[0], process.memory_info().rss)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        # three addresses, four requests each (an address may have eight uploads in progress)
        clients = [_request(port, f"127.0.0.{31 + i % 3}", body, boundary) for i in range(12)]
        try:
            time.sleep(20)  # every job admitted or refused; the first decoding, then looking for speech
            answers = []
            for sock in clients:
                sock.settimeout(0.2)
                try:
                    answers.append(sock.recv(200))
                except TimeoutError:
                    answers.append(b"")  # still waiting for its turn
            refused = [a for a in answers if a.startswith(b"HTTP/1.1 429")]
            assert len(refused) == 12 - (QUEUE + 1), answers
        finally:
            for sock in clients:  # the clients go away: their jobs are cancelled, the waiting ones never decoded
                sock.close()
        deadline = time.monotonic() + 120
        while "API client disconnected" not in server.log() or _jobs_left(server):
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.5)
        time.sleep(10)
        sampling.set()
        sampler.join()
        after = process.memory_info().rss
        grown, left = (peak[0] - before) / 2**20, (after - before) / 2**20
        print(f"twelve requests of an hour each: peak +{grown:.0f} MB, 10 s after the jobs +{left:.0f} MB")
        assert grown < 1024, f"peak {grown:.0f} MB over the start"
        assert left < 300, f"{left:.0f} MB more than before, 10 s after the jobs ended"
        log = server.log()
        assert log.count("refused a job: the queue is full") == 12 - (QUEUE + 1) and "Traceback" not in log, log[-3000:]
    finally:
        server.stop()


def _jobs_left(server) -> bool:
    """Is any job running or waiting (the Status JSON, as gradio_client reads it)?"""
    from gradio_client import Client

    jobs = Client(server.url, verbose=False).predict(api_name="/status")["jobs"]
    return bool(jobs["running"] or jobs["waiting"])

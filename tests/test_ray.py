"""--backend ray: a local Ray instance with 2 CPU replicas of tiny.en behind the same page and API
(a real server, real Ray Serve, real models). Skipped only where Ray Serve is not installed
(requirements-ray.txt, which `make test` installs)."""

import os
import signal
import stat
import threading
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("ray.serve", reason="Ray Serve is not installed: pip install -r requirements-ray.txt "
                                        "(make test installs it)")

from gradio_client import Client, handle_file  # noqa: E402

from .conftest import OFFLINE, start_server, words  # noqa: E402
from .test_browser import SHOTS, browser, mic_wav, open_page, select_tab, wait_until  # noqa: E402, F401 - fixtures


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ray-home")


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory, home):
    # offline: "small" cannot be downloaded, as on a host without internet; a HOME of its own, to see what Ray
    # leaves in it
    server = start_server(tmp_path_factory.mktemp("ray"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base,small", "--backend", "ray", "--ray-replicas", "2",
                          "--queue-size", "8", env={**OFFLINE, "HOME": str(home)}, timeout=240)
    sessions = ray_sessions(server)
    yield server
    server.stop()
    # the local instance's logs (what its replicas logged) go with the app: Ray's /tmp/ray stays
    assert not sessions.exists() and not sessions.parent.exists(), sessions


def ray_processes(server) -> list[psutil.Process]:
    return psutil.Process(server.process.pid).children(recursive=True)


def ray_sessions(server) -> Path:
    """The folder of the local Ray instance's sessions, from its GCS server's command line (``--log_dir=``)."""
    for process in ray_processes(server):
        for arg in process.cmdline():
            if arg.startswith("--log_dir="):
                return Path(arg.removeprefix("--log_dir=")).parent.parent  # <sessions>/session_.../logs
    raise AssertionError("no GCS server among the app's processes")


def test_the_local_ray_instance_is_private(app, home):
    """Before: Ray's ports (three Prometheus metrics servers among them) listened on 0.0.0.0, Ray wrote its
    token to ~/.ray/auth_token with mode 0644, and its sessions' logs were in /tmp/ray (folders of mode 0777)."""
    listening = sorted({(p.name(), c.laddr.ip, c.laddr.port) for p in ray_processes(app)
                        for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN})
    assert len(listening) >= 5, listening  # its GCS, raylet, agents, workers
    # but Serve's replicas: their gRPC server for calls between deployments is bound to "[::]:0" in Ray Serve's
    # code (replica.py), with Ray's token checked on each call (the token is this process's)
    assert [entry for entry in listening if entry[1] not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")
            and not entry[0].startswith("ray::ServeReplica:")] == []
    assert not (home / ".ray").exists(), list((home / ".ray").iterdir())
    sessions = ray_sessions(app)
    assert stat.S_IMODE(sessions.parent.stat().st_mode) == 0o700, sessions.parent
    assert sessions.parent.name.startswith("whisper-ui-ray-")


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def replicas(client) -> list[dict]:
    return client.predict(api_name="/status")["replicas"]


def wait_for(predicate, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


def transcribe(app, path, language="en"):
    return Client(app.url, verbose=False).predict(handle_file(str(path)), "transcribe", language, 1,
                                                  api_name="/transcribe")


def test_jobs_run_on_both_replicas_at_once(app, client, speech):
    before = {r["replica"]: r["jobs_done"] for r in replicas(client)}
    assert len(before) == 2
    results, errors = [], []

    def one():
        try:
            results.append(transcribe(app, speech.fox))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    running = wait_for(lambda: max((s := client.predict(api_name="/status"))["jobs"]["running"], 0) >= 2 and s, 60, 0.2)
    assert running["jobs"]["running"] == 2  # one job a replica, the rest waiting
    for t in threads:
        t.join(180)
    assert not errors, errors
    assert len(results) == 6
    for text, _, summary, _ in results:
        assert {"quick", "lazy"} <= words(text), text
        assert summary["model"] == "tiny.en" and summary["engine"] == "openai-whisper"
    after = {r["replica"]: r for r in replicas(client)}
    done = {key: r["jobs_done"] - before.get(key, 0) for key, r in after.items()}
    assert sum(done.values()) == 6 and min(done.values()) >= 1, done  # both served
    for r in after.values():
        assert (r["state"], r["model"], r["device"]) == ("ready", "tiny.en", "cpu") and r["memory_mb"] > 100
        assert r["node"] and r["pid"] != app.process.pid
    status, body = app.get("/readyz")
    assert status == 200 and b'"replicas_ready":2' in body


@pytest.mark.parametrize("locale, ready", [("en-US", "ready"), ("ko-KR", "준비됨")])
def test_the_status_tab_shows_each_replica(browser, app, locale, ready):  # noqa: F811 - the fixture
    page = open_page(browser, app, locale=locale)
    select_tab(page, "status")
    table = page.locator("#status-replicas")
    wait_until(lambda: table.inner_text().count("tiny.en") == 2, 20)  # one row a replica
    shown = table.inner_text()
    assert shown.count(ready) == 2 and shown.count("cpu") == 2 and shown.count(" MB") == 2, shown
    page.screenshot(path=str(SHOTS / f"{locale[:2]}-status-replicas.png"), full_page=True)
    page.context.close()


def test_a_model_switch_reaches_every_replica(app, client, speech):
    # a model that cannot be had (offline) changes nothing: the replicas keep serving tiny.en
    with pytest.raises(Exception, match="small"):
        client.predict("small", api_name="/load_model")
    assert {(r["model"], r["state"]) for r in replicas(client)} == {("tiny.en", "ready")}
    assert app.get("/readyz")[0] == 200
    client.predict("base", api_name="/load_model")
    assert {(r["model"], r["engine"], r["state"]) for r in replicas(client)} == {("base", "openai-whisper", "ready")}
    text, _, summary, _ = transcribe(app, speech.fox)
    assert summary["model"] == "base" and {"quick", "lazy"} <= words(text)
    # the engine too: faster-whisper in every replica
    Client(app.url, verbose=False).predict("tiny.en", "faster-whisper", api_name="/load_model")
    assert {(r["model"], r["engine"]) for r in replicas(client)} == {("tiny.en", "faster-whisper")}
    text, _, summary, _ = transcribe(app, speech.fox)
    assert summary["engine"] == "faster-whisper" and {"quick", "lazy"} <= words(text)
    client.predict("tiny.en", "openai-whisper", api_name="/load_model")
    assert {(r["model"], r["engine"]) for r in replicas(client)} == {("tiny.en", "openai-whisper")}
    assert "Ray Serve: 2 replica(s) of base with openai-whisper" in app.log()


def busy_replica(client) -> dict | None:
    return next((r for r in replicas(client) if r["state"] == "busy"), None)


def test_a_cancel_frees_its_replica(app, client, speech):
    job = Client(app.url, verbose=False).submit(handle_file(str(speech.long)), "transcribe", "en", 5,
                                                api_name="/transcribe")
    busy = wait_for(lambda: busy_replica(client), 60, 0.3)
    time.sleep(2)
    job.cancel()
    # the replica's model stops at its next step: the replica is free again long before the job's end
    wait_for(lambda: next(r for r in replicas(client) if r["replica"] == busy["replica"])["state"] == "ready", 20)
    assert "job cancelled by the front" in app.log()
    started = time.monotonic()
    text, _, _, _ = transcribe(app, speech.fox)
    assert {"quick", "lazy"} <= words(text) and time.monotonic() - started < 30


def test_a_replica_killed_mid_job_fails_that_job_only(app, client, speech):
    job = Client(app.url, verbose=False).submit(handle_file(str(speech.long)), "transcribe", "en", 5,
                                                api_name="/transcribe")
    busy = wait_for(lambda: busy_replica(client), 60, 0.3)
    os.kill(busy["pid"], signal.SIGKILL)
    with pytest.raises(Exception, match="replica running this job stopped"):
        job.result(timeout=60)
    # the other replica serves on while Serve starts a new one; /readyz counts what serves
    text, _, _, _ = transcribe(app, speech.fox)
    assert {"quick", "lazy"} <= words(text)
    status, body = app.get("/readyz")
    assert status == 200
    # Serve starts a new replica: two ready again; the dead one, silent, is shown unresponsive (or forgotten)
    def recovered():
        states = {r["replica"]: r["state"] for r in replicas(client)}
        return sum(v == "ready" for v in states.values()) == 2 and states.get(busy["replica"]) in (None, "unresponsive")

    wait_for(recovered, 120, 1)
    assert b'"replicas_ready":2' in app.get("/readyz")[1]
    results = []
    threads = [threading.Thread(target=lambda: results.append(transcribe(app, speech.fox))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2 and all({"quick", "lazy"} <= words(r[0]) for r in results)
    assert app.process.poll() is None

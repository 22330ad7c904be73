"""A small version of ``bench/load_test.py``: 5 clients for 6 s against a server whose queue holds 2.

No errors but the "busy" answer, every transcript right, memory flat, and no file
left but the uploads and result files kept by design; nothing at all once the
server stopped.
"""

from __future__ import annotations

import time

import psutil
import pytest

from bench.load_test import files_under, run_load, sort_new_files

from .conftest import start_server_own_tmp


@pytest.fixture(scope="module")
def loaded(models_dir, tmp_path_factory):
    server = start_server_own_tmp(tmp_path_factory.mktemp("load"), "--model", "tiny.en", "--model-dir", str(models_dir),
                                  "--queue-size", "2")
    yield server
    server.stop()


def test_small_load(loaded, speech):
    clips = [(speech.english, {"peter", "london"}), (speech.fox, {"quick", "lazy"}),
             (speech.morning, {"morning", "sunny"})]
    app = psutil.Process(loaded.process.pid)
    warm = run_load(loaded.url, clips, clients=1, seconds=0.1)
    assert warm["errors"] == [] and warm["jobs_ok"] == 1
    time.sleep(1.0)
    rss_before = app.memory_info().rss
    before = files_under(loaded.tmpdir)

    result = run_load(loaded.url, clips, clients=5, seconds=6, formats=("txt",))

    time.sleep(1.0)
    rss_growth_mb = (app.memory_info().rss - rss_before) / 2**20
    new = sort_new_files(before, files_under(loaded.tmpdir), {c.name for c, _ in clips}, ("txt",))
    assert result["errors"] == []
    assert result["jobs_ok"] >= 3
    assert result["busy_answers"] >= 1  # 5 clients, 1 running + 2 waiting: the queue said "busy"
    assert result["latency_p50"] <= result["latency_p95"] < 60
    assert rss_growth_mb < 100, rss_growth_mb
    assert new["strays"] == [] and new["results"], new
    loaded.stop()
    assert files_under(loaded.tmpdir) == {}  # everything removed when the server stops

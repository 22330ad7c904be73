import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whisper_ui.core.errors import ConfigError
from whisper_ui.core.settings import OPTIONS, load_settings

from .conftest import ROOT


def test_defaults_without_flags_or_environment(tmp_path):
    s = load_settings([], {"XDG_CACHE_HOME": str(tmp_path)})
    assert s.model == "base"
    assert s.model_dir == tmp_path / "whisper"
    assert (s.device, s.host, s.port) == ("auto", "127.0.0.1", 7860)
    assert s.idle_unload_minutes == 0 and s.preload is True


def test_environment_then_flag_wins():
    env = {"WHISPER_UI_MODEL": "tiny", "WHISPER_UI_PORT": "9000", "WHISPER_UI_MODEL_DIR": "/m",
           "WHISPER_UI_MODELS": "tiny, base", "WHISPER_UI_PRELOAD": "no", "WHISPER_UI_DEVICE": "CPU"}
    s = load_settings([], env)
    assert (s.model, s.port, s.model_dir, s.models, s.preload, s.device) == (
        "tiny", 9000, Path("/m"), ("tiny", "base"), False, "cpu")
    s = load_settings(["--model", "small", "--port", "9001", "--preload", "--model-dir", "/x"], env)
    assert (s.model, s.port, s.preload, s.model_dir) == ("small", 9001, True, Path("/x"))


def test_the_job_time_limit_reaches_the_manager(tmp_path):
    from whisper_ui.runtime import create_service

    assert load_settings([], {}).max_job_minutes == 30
    settings = load_settings(["--max-job-minutes", "0.5", "--model-dir", str(tmp_path)], {"WHISPER_UI_MAX_JOB_MINUTES": "9"})
    assert create_service(settings).manager.max_job_seconds == 30
    assert load_settings([], {"WHISPER_UI_MAX_JOB_MINUTES": "9"}).max_job_minutes == 9
    with pytest.raises(ConfigError, match="--max-job-minutes"):
        load_settings(["--max-job-minutes", "0"], {})


def test_settings_are_frozen():
    s = load_settings([], {})
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("argv", "env", "named"), [
    (["--port", "70000"], {}, "--port"),
    ([], {"WHISPER_UI_PORT": "eighty"}, "WHISPER_UI_PORT"),
    ([], {"WHISPER_UI_DEVICE": "tpu"}, "WHISPER_UI_DEVICE"),
    (["--max-upload-mb", "0"], {}, "--max-upload-mb"),
    ([], {"WHISPER_UI_IDLE_UNLOAD_MINUTES": "-1"}, "WHISPER_UI_IDLE_UNLOAD_MINUTES"),
    ([], {"WHISPER_UI_PRELOAD": "maybe"}, "WHISPER_UI_PRELOAD"),
    (["--model", "../etc/passwd"], {}, "--model"),
])
def test_bad_value_names_its_flag_or_variable(argv, env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(argv, env)


def test_help_documents_every_flag_variable_and_default():
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    flat = " ".join(out.split())
    for option in OPTIONS:
        assert option.flag in flat
        assert option.env in flat
    assert flat.count("default:") >= len(OPTIONS)


def test_bad_value_stops_start_up_with_a_message():
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "WHISPER_UI_PORT": "not-a-port"})
    assert proc.returncode == 2
    assert "WHISPER_UI_PORT" in proc.stderr and "not a number" in proc.stderr


def test_ssl_files_must_exist_and_come_together(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    s = load_settings(["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)], {})
    assert (s.ssl_certfile, s.ssl_keyfile) == (cert, key)
    with pytest.raises(ConfigError, match="go together"):
        load_settings(["--ssl-certfile", str(cert)], {})
    with pytest.raises(ConfigError, match="WHISPER_UI_SSL_KEYFILE.*is not a file"):
        load_settings(["--ssl-certfile", str(cert)], {"WHISPER_UI_SSL_KEYFILE": str(tmp_path / "missing.pem")})


def test_https_server_with_a_self_signed_certificate(tmp_path, models_dir):
    import ssl
    import urllib.request

    from .conftest import start_server

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = start_server(tmp_path, "--model", "tiny.en", "--model-dir", str(models_dir), "--no-preload",
                          "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), wait_ready=False, scheme="https")
    try:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with urllib.request.urlopen(server.url + "/healthz", context=context, timeout=10) as r:
            assert r.status == 200
        # the line is logged once launch() returns, which can be a moment after the first answer
        deadline = time.monotonic() + 30
        while "serving on https://127.0.0.1" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "serving on https://127.0.0.1" in server.log()
    finally:
        server.stop()


def test_engine_compute_type_and_batch_size():
    s = load_settings([], {})
    assert (s.engine, s.compute_type, s.batch_size) == ("openai-whisper", "auto", None)  # auto
    env = {"WHISPER_UI_ENGINE": "faster-whisper", "WHISPER_UI_COMPUTE_TYPE": "float32", "WHISPER_UI_BATCH_SIZE": "4"}
    s = load_settings([], env)
    assert (s.engine, s.compute_type, s.batch_size) == ("faster-whisper", "float32", 4)
    s = load_settings(["--engine", "openai-whisper", "--compute-type", "int8", "--batch-size", "0"], env)
    assert (s.engine, s.compute_type, s.batch_size) == ("openai-whisper", "int8", 0)
    with pytest.raises(ConfigError, match="WHISPER_UI_ENGINE='whisperx': must be one of openai-whisper, faster-whisper"):
        load_settings([], {"WHISPER_UI_ENGINE": "whisperx"})
    with pytest.raises(ConfigError, match="--compute-type='int4': must be one of auto, int8, int8_float16, float16"):
        load_settings(["--compute-type", "int4"], {})
    assert load_settings(["--batch-size", "AUTO"], env).batch_size is None
    with pytest.raises(ConfigError, match="--batch-size='-1': must be auto or a whole number, 0 or more"):
        load_settings(["--batch-size", "-1"], {})


def test_batch_size_auto_is_8_on_cuda_and_off_on_the_cpu(tmp_path):
    from whisper_ui.engines.faster import FasterWhisperEngine

    auto = FasterWhisperEngine(tmp_path)
    assert (auto.batch_size_for("cuda"), auto.batch_size_for("cpu")) == (8, 0)
    assert FasterWhisperEngine(tmp_path, batch_size=4).batch_size_for("cpu") == 4
    assert FasterWhisperEngine(tmp_path, batch_size=0).batch_size_for("cuda") == 0


def test_compute_type_auto_and_an_unsupported_one():
    from whisper_ui.engines.faster import FasterWhisperEngine, resolve_compute_type, supported_compute_types

    assert (resolve_compute_type("auto", "cpu"), resolve_compute_type("auto", "cuda")) == ("int8", "float16")
    assert resolve_compute_type("float32", "cuda") == "float32"
    # a type the CPU has no kernel for: a logged warning and the CPU's own choice
    if "float16" not in supported_compute_types("cpu"):
        assert FasterWhisperEngine(Path("/m"), "float16").compute_type("cpu") == "int8"
    assert FasterWhisperEngine(Path("/m"), "float32").compute_type("cpu") == "float32"


def test_log_records_are_one_escaped_line_of_bounded_length():
    """A value a client sent cannot forge a log line or make a megabyte one, whatever logs it."""
    import io
    import logging

    from whisper_ui.core.logs import LOG_MESSAGE_CHARS, OneLine

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(OneLine())
    log = logging.getLogger("whisper_ui.test_one_line")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        log.warning("ignoring language %s", "en\nINFO whisper_ui.manager: forged\r\x1b[2J" + "x" * 1_000_000)
        log.info("file %r and %s", "a\nb.wav", "\t")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed on %s", "c\nd")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("WARNING ignoring language en\\nINFO whisper_ui.manager: forged\\r\\x1b[2J")
    assert lines[0].endswith("… (1000057 characters)") and len(lines[0]) < LOG_MESSAGE_CHARS + 100
    assert lines[1] == "INFO file 'a\\nb.wav' and \\t"
    assert lines[2] == "ERROR failed on c\\nd" and lines[3].startswith("Traceback") and lines[-1] == "ValueError: boom"


def test_an_unknown_language_is_refused_with_a_short_message():
    from whisper_ui.core.transcription import TranscribeOptions

    assert TranscribeOptions(language="ko").language == "ko"
    assert TranscribeOptions(language=" English").language == "en"  # a name, as openai-whisper takes it
    for bad in ("xx", "klingon", "en\nforged", "e" * 1_000_000):
        with pytest.raises(ValueError, match="Unknown language") as raised:
            TranscribeOptions(language=bad)
        assert len(str(raised.value)) < 200


def test_the_docs_settings_table_has_every_flag():
    """docs/settings.md's table names every flag with its variable (each new flag gets a row)."""
    rows = [line for line in (ROOT / "docs" / "settings.md").read_text().splitlines() if line.startswith("| `--")]
    for option in OPTIONS:
        row = next((r for r in rows if re.search(rf"`{option.flag}[` ]", r.split("|")[1])), None)
        assert row is not None, f"{option.flag} has no row in docs/settings.md's table"
        assert f"`{option.env}`" in row, (option.flag, option.env)


def test_backend_and_ray_replicas():
    assert load_settings([], {}).backend == "local"
    s = load_settings(["--ray-address", "auto", "--ray-replicas", "3"], {"WHISPER_UI_BACKEND": "ray"})
    assert (s.backend, s.ray_address, s.replica_bounds, s.ray_gpus_per_replica) == ("ray", "auto", (3, 3), 0.0)
    s = load_settings(["--backend", "ray", "--ray-min-replicas", "1", "--ray-max-replicas", "4",
                       "--ray-gpus-per-replica", "1"], {})
    assert (s.replica_bounds, s.ray_gpus_per_replica) == ((1, 4), 1.0)
    assert load_settings(["--backend", "ray"], {}).replica_bounds == (1, 1)
    with pytest.raises(ConfigError, match="exclude each other"):
        load_settings(["--ray-replicas", "2", "--ray-max-replicas", "4"], {})
    with pytest.raises(ConfigError, match="more than --ray-max-replicas"):
        load_settings(["--ray-min-replicas", "5", "--ray-max-replicas", "4"], {})
    with pytest.raises(ConfigError, match="WHISPER_UI_BACKEND"):
        load_settings([], {"WHISPER_UI_BACKEND": "cluster"})


def test_the_local_backend_never_imports_ray(models_dir):
    """Without --backend ray nothing of Ray is imported, even with Ray installed: a server's modules after a job."""
    code = ("import sys; from whisper_ui.core.settings import Settings; from whisper_ui.runtime import create_service; "
            f"s = create_service(Settings(model='tiny.en', model_dir=__import__('pathlib').Path({str(models_dir)!r}), "
            "device='cpu')); s.manager.load(); "
            "import whisper_ui.web.server, whisper_ui.ui.app; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"

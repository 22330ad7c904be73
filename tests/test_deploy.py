"""The container, Compose and CI files, checked without a Docker engine (this machine has none).

What can run here runs for real: hadolint on the Dockerfile, the Compose and
GitHub workflow JSON schemas, the image's HEALTHCHECK command against a real
server, and its model-baking command against a real model folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from whisper_ui.settings import OPTIONS

from .conftest import APP_COMMAND, ROOT, start_server

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# The CUDA release of PyPI's Linux torch wheel (its cuda-toolkit requirement), for the GPU base image.
# Bumping torch in requirements.txt means checking this and the nvidia/cuda base tag.
TORCH_CUDA = {"2.13.0": "13.0"}


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: pip install -r requirements-dev.txt")
    return found


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, rest = (pending + line).strip().partition(" ")
        result.append((keyword.upper(), " ".join(rest.split())))
        pending = ""
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def stages(dockerfile) -> dict[str, list[tuple[str, str]]]:
    named, current = {}, None
    for keyword, args in dockerfile:
        if keyword == "FROM":
            current = args.split(" AS ")[-1] if " AS " in args else args
            named[current] = []
        elif current:
            named[current].append((keyword, args))
    return named


def arg_defaults(dockerfile) -> dict[str, str]:
    return dict(args.split("=", 1) for keyword, args in dockerfile if keyword == "ARG" and "=" in args)


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


# --- the Dockerfile ---------------------------------------------------------------------------


def test_hadolint_passes():
    proc = subprocess.run([tool("hadolint"), "--config", ".hadolint.yaml", "Dockerfile"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_hadolint_settings_require_a_healthcheck(tmp_path):
    (tmp_path / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["python", "app.py"]\n')
    proc = subprocess.run([tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), "Dockerfile"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3057" in proc.stdout


def test_entrypoint_is_the_command_the_tests_start(dockerfile):
    assert not [args for keyword, args in dockerfile if keyword == "ENTRYPOINT"]
    command = json.loads([args for keyword, args in dockerfile if keyword == "CMD"][-1])
    assert command == ["python", "app.py"]
    # the tests run the same script with their interpreter, from the folder the image copies it from
    assert Path(APP_COMMAND[0]).name.startswith("python") and APP_COMMAND[1:] == command[1:]
    assert ("WORKDIR", "/app") in dockerfile and ("COPY", "app.py ./") in dockerfile
    assert (ROOT / command[1]).is_file()
    for service in yaml.safe_load(COMPOSE.read_text())["services"].values():
        assert "command" not in service and "entrypoint" not in service


def test_image_variants_and_runtime(dockerfile):
    defaults = arg_defaults(dockerfile)
    named = stages(dockerfile)
    assert defaults["VARIANT"] == "gpu"
    assert [args for keyword, args in dockerfile if keyword == "FROM"][-1] == "runtime-${VARIANT} AS app"
    assert {"runtime-gpu", "runtime-cpu", "app"} <= set(named)

    # GPU: the small CUDA base image of the CUDA release PyPI's pinned torch is built for
    torch = requirement_pins()["torch"]
    cuda = re.fullmatch(r"nvidia/cuda:(\d+\.\d+)\.\d+-base-ubuntu24\.04", defaults["CUDA_IMAGE"])
    assert cuda and TORCH_CUDA[torch] == cuda.group(1), (torch, defaults["CUDA_IMAGE"])
    # CPU: a slim image with the same Python (3.12, Ubuntu 24.04's), torch from PyTorch's CPU index
    assert re.fullmatch(r"python:3\.12-slim-\w+", defaults["CPU_IMAGE"])
    cpu_runs = " ".join(args for keyword, args in named["runtime-cpu"] if keyword == "RUN")
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu_runs
    for stage in ("runtime-gpu", "runtime-cpu"):
        installs = " ".join(args for keyword, args in named[stage] if keyword == "RUN")
        assert re.search(r"apt-get install [^&]*\bffmpeg\b", installs), stage
    # CTranslate2's CUDA 12 cuBLAS, the version the app's message names, in the GPU image only
    from whisper_ui.faster import CUBLAS_PACKAGE

    gpu_runs = " ".join(args for keyword, args in named["runtime-gpu"] if keyword == "RUN")
    assert f"-r /tmp/requirements.txt {CUBLAS_PACKAGE}" in gpu_runs and "cublas" not in cpu_runs

    app = named["app"]
    env = dict(item.split("=", 1) for keyword, args in app if keyword == "ENV" for item in shlex.split(args))
    assert env["WHISPER_UI_HOST"] == "0.0.0.0" and env["WHISPER_UI_MODEL_DIR"] == "/models"
    assert env["WHISPER_UI_PORT"] == "7860" and env["WHISPER_UI_MODEL"] == "${BAKE_MODEL:-base}"
    user = [args for keyword, args in app if keyword == "USER"][-1]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0  # numeric: verifiably not root
    assert ("EXPOSE", "7860") in app and ("VOLUME", '["/models"]') in app
    healthcheck = [args for keyword, args in app if keyword == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "/readyz" in healthcheck[0]


def test_cpu_image_installs_whisper_without_triton(dockerfile):
    """openai-whisper is installed with --no-deps there: every other requirement of it must be installed."""
    run = next(args for keyword, args in stages(dockerfile)["runtime-cpu"] if keyword == "RUN" and "--no-deps" in args)
    assert "--no-deps \"$(grep -E '^openai-whisper==' /tmp/requirements.txt)\"" in run
    listed = re.search(r"-r /tmp/requirements-cpu\.txt ([\w\- ]+?) &&", run).group(1).split()
    installed = set(requirement_pins()) | set(listed)
    needed = set()
    for requirement in importlib.metadata.requires("openai-whisper") or []:
        if "extra ==" not in requirement:
            needed.add(re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower())
    assert needed - installed == {"triton"}


def test_healthcheck_command_asks_readiness(dockerfile, server, tmp_path):
    """The HEALTHCHECK's own command: healthy when /readyz is 200, unhealthy on 503, proxies ignored."""
    healthcheck = next(args for keyword, args in dockerfile if keyword == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD ") + 4:])
    assert command[:2] == ["python", "-c"]

    def check(url: str) -> int:
        env = {**os.environ, "WHISPER_UI_PORT": url.rsplit(":", 1)[1], "http_proxy": "http://127.0.0.1:9"}
        return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30).returncode

    assert check(server.url) == 0  # ready
    not_ready = start_server(tmp_path, "--no-preload", "--model-dir", str(tmp_path), wait_ready=False)
    try:
        assert not_ready.get("/readyz")[0] == 503
        assert check(not_ready.url) != 0
    finally:
        not_ready.stop()


def test_bake_model_command(dockerfile, models_dir, tmp_path):
    """BAKE_MODEL's command finds a model already there, and fails the build when it cannot get one."""
    run = next(args for keyword, args in stages(dockerfile)["app"] if keyword == "RUN" and "BAKE_MODEL" in args)
    code = re.search(r"python -c '([^']+)' \"\$BAKE_MODEL\"", run).group(1)
    env = {**os.environ, "WHISPER_UI_MODEL_DIR": str(models_dir)}
    proc = subprocess.run([sys.executable, "-c", code, "tiny.en"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr

    with socket.socket() as s:  # a port with nothing listening: the download fails at once
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {**os.environ, "WHISPER_UI_MODEL_DIR": str(tmp_path), "https_proxy": closed, "HTTPS_PROXY": closed}
    proc = subprocess.run([sys.executable, "-c", code, "tiny"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "Could not download model 'tiny'" in proc.stderr


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    def regex(pattern: str) -> str:
        out = re.escape(pattern.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        return out.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")

    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if any(re.fullmatch(regex(pattern.lstrip("!")), c) for c in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_sends_only_what_the_image_needs(dockerfile):
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copied = [args.split()[0] for keyword, args in dockerfile if keyword == "COPY"]
    assert set(copied) == {"requirements.txt", "app.py", "whisper_ui"}
    for path in ("requirements.txt", "app.py", "whisper_ui/settings.py", "whisper_ui/server.py"):
        assert not dockerignored(path, patterns), path
    for path in (".venv/bin/python", ".git/HEAD", ".env", "tests/conftest.py", "whisper_ui/__pycache__/cli.pyc",
                 "models/base.pt", "artifacts/x.log"):
        assert dockerignored(path, patterns), path


def test_every_variable_named_is_a_setting():
    known = {option.env for option in OPTIONS}
    files = [DOCKERFILE, COMPOSE, ROOT / ".env.example", ROOT / "README.md", *WORKFLOWS]
    for path in files:
        named = set(re.findall(r"WHISPER_UI_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
        assert named <= known, (path.name, named - known)


# --- Compose ----------------------------------------------------------------------------------


def test_compose_file_is_valid_and_safe():
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    compose = yaml.safe_load(COMPOSE.read_text())
    gpu, cpu = compose["services"]["whisper-ui"], compose["services"]["whisper-ui-cpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "profiles" not in gpu and gpu["build"]["args"]["VARIANT"] == "gpu"
    assert cpu["profiles"] == ["cpu"] and cpu["build"]["args"]["VARIANT"] == "cpu" and "deploy" not in cpu
    assert compose["volumes"]["whisper-models"]["name"] == "whisper-models"  # the same volume `docker run -v` names
    for service in (gpu, cpu):
        assert service["volumes"] == ["whisper-models:/models"]
        assert service["env_file"] == [{"path": ".env", "required": False}]
        assert service["read_only"] is True and "no-new-privileges:true" in service["security_opt"]
        assert any(mount.split(":")[0] == "/tmp" for mount in service["tmpfs"])
        assert service["ports"] == ["${PUBLISH:-127.0.0.1:7860}:7860"]  # this host only unless asked
    assert (ROOT / ".env.example").is_file()


# --- GitHub workflows ---------------------------------------------------------------------------


def test_workflows_are_valid_and_run_every_check():
    assert WORKFLOWS
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    jobs = {}
    for path in WORKFLOWS:
        jobs.update(yaml.safe_load(path.read_text())["jobs"])

    def runs(job: dict) -> str:
        return "\n".join(step.get("run", "") for step in job["steps"])

    def uses(job: dict) -> list[str]:
        return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]

    lint = [name for name, job in jobs.items() if "ruff check" in runs(job)]
    tests = [name for name, job in jobs.items() if re.search(r"^make test$", runs(job), re.M)]
    assert lint and tests and not set(lint) & set(tests)  # lint is its own job
    assert any(re.search(r"^hadolint Dockerfile$", runs(job), re.M) for job in jobs.values())
    builds = [job for job in jobs.values() if "docker/build-push-action" in uses(job)]
    assert len(builds) == 1 and builds[0]["strategy"]["matrix"]["variant"] == ["gpu", "cpu"]
    step = next(step for step in builds[0]["steps"] if step.get("uses", "").startswith("docker/build-push-action"))
    assert step["with"]["build-args"] == "VARIANT=${{ matrix.variant }}" and step["with"]["push"] is False


def test_deploy_docs_show_the_commands():
    text = (ROOT / "README.md").read_text()
    for command in ("docker run --gpus all -p 7860:7860 -v whisper-models:/models", "docker compose up",
                    "models import-ct2", "--auth", "--share-without-auth", "--build-arg VARIANT=cpu",
                    "--build-arg BAKE_MODEL="):
        assert command in text, command

"""The container, Compose, Kubernetes and CI files, checked without a Docker engine or a cluster
(this machine has neither).

What can run here runs for real: hadolint on the Dockerfile, the Compose and
GitHub workflow JSON schemas, the image's HEALTHCHECK command against a real
server, and its model-baking command against a real model folder. The KubeRay
manifests (deploy/kuberay/) are checked against JSON schemas kept in
tests/schemas/ (KubeRay's RayService CRD and Kubernetes v1.30, strict), their
serveConfigV2 against Ray Serve's own config schema, and every app command line
in them against the app's own flag parser.
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

from whisper_ui.core.settings import OPTIONS

from .conftest import APP_COMMAND, ROOT, start_server

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_RAY = ROOT / "docker-compose.ray.yml"
KUBERAY = ROOT / "deploy" / "kuberay"
SCHEMAS = Path(__file__).parent / "schemas"
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
    from whisper_ui.engines.faster import CUBLAS_PACKAGE

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


def test_ray_image_build_argument(dockerfile, tmp_path):
    """WITH_RAY=1 adds requirements-ray.txt to the same image, held to requirements.txt's pins; off by default."""
    app = stages(dockerfile)["app"]
    assert ("ARG", "WITH_RAY=0") in app
    assert ("COPY", "requirements.txt requirements-ray.txt /tmp/") in app
    run = next(args for keyword, args in app if keyword == "RUN" and "requirements-ray.txt" in args)
    assert run.startswith('if [ "$WITH_RAY" = 1 ]; then ')
    assert "/opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements-ray.txt -c /tmp/constraints.txt;" in run
    assert run.endswith("fi && rm -f /tmp/requirements.txt /tmp/requirements-ray.txt /tmp/constraints.txt")
    # before the app's code, so that a change to it does not reinstall Ray
    assert app.index(("COPY", "requirements.txt requirements-ray.txt /tmp/")) < app.index(("COPY", "app.py ./"))
    ray_pins = [line for line in (ROOT / "requirements-ray.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert len(ray_pins) == 1 and re.fullmatch(r"ray\[serve\]==\d+\.\d+\.\d+", ray_pins[0]), ray_pins

    # The constraints file, made by the image's own command: pip refuses extras there (gradio[mcp]==...).
    sed = re.search(r"(sed -E '[^']+' )/tmp/requirements\.txt > /tmp/constraints\.txt", run).group(1)
    (tmp_path / "requirements.txt").write_text((ROOT / "requirements.txt").read_text())
    subprocess.run(["sh", "-c", sed + "requirements.txt > constraints.txt"], cwd=tmp_path, check=True, timeout=30)
    constraints = [line for line in (tmp_path / "constraints.txt").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    assert constraints and not [line for line in constraints if "[" in line]
    pins = {re.sub(r"\[.*\]", "", name): version for name, version in requirement_pins().items()}
    assert {line.split("==")[0].lower(): line.split("==")[1] for line in constraints} == pins  # every pin, no extras


def test_login_shells_find_the_venv(dockerfile):
    """KubeRay starts Ray with `bash -lc`, and Debian's /etc/profile (the CPU image's) resets PATH: a
    profile.d script puts the venv back in front, in both images."""
    first = next(args for keyword, args in stages(dockerfile)["app"] if keyword == "RUN")
    assert 'echo "export PATH=/opt/venv/bin:\\$PATH" > /etc/profile.d/whisper-ui-venv.sh' in first
    env = dict(item.split("=", 1) for keyword, args in stages(dockerfile)["app"] if keyword == "ENV"
               for item in shlex.split(args))
    assert env["PATH"] == "/opt/venv/bin:$PATH"


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
    copied = [source for keyword, args in dockerfile if keyword == "COPY" for source in args.split()[:-1]]
    assert set(copied) == {"requirements.txt", "requirements-ray.txt", "app.py", "whisper_ui"}
    for path in ("requirements.txt", "requirements-ray.txt", "app.py", "whisper_ui/core/settings.py",
                 "whisper_ui/web/server.py"):
        assert not dockerignored(path, patterns), path
    for path in (".venv/bin/python", ".git/HEAD", ".env", "tests/conftest.py", "whisper_ui/__pycache__/cli.pyc",
                 "models/base.pt", "artifacts/x.log"):
        assert dockerignored(path, patterns), path


def test_every_variable_named_is_a_setting():
    known = {option.env for option in OPTIONS}
    files = [DOCKERFILE, COMPOSE, COMPOSE_RAY, ROOT / ".env.example", ROOT / "README.md", ROOT / "README.ko.md",
             *WORKFLOWS, ROOT / "deploy" / "README.md", *sorted(KUBERAY.glob("*.yaml")),
             *sorted((ROOT / "docs").rglob("*.md"))]
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


# --- Ray: Compose and KubeRay (deploy/README.md) --------------------------------------------------


def app_settings(argv: list[str]):
    """An app command line as the app reads it (its own parser; an unknown flag fails here too)."""
    from whisper_ui.core.settings import load_settings

    assert argv[:2] == ["python", "app.py"], argv
    return load_settings(argv[2:], environ={})


def test_ray_compose_file_is_valid():
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_RAY)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ray_compose_front_and_gpu_workers():
    compose = yaml.safe_load(COMPOSE_RAY.read_text())
    services = compose["services"]
    front = services["front"]
    workers = {name: service for name, service in services.items() if name != "front"}
    assert workers and all(re.fullmatch(r"gpu-\d+", name) for name in workers), list(services)

    # one image, built with Ray, and one models volume: the one docker-compose.yml and `docker run` use
    for service in services.values():
        assert service["image"] == "whisper-ui:ray"
        assert service["build"] == {"context": ".", "args": {"VARIANT": "gpu", "WITH_RAY": "1"}}
        assert service["volumes"] == ["whisper-models:/models"]
        assert service["environment"]["RAY_USAGE_STATS_ENABLED"] == "0"
        assert service["read_only"] is True and "no-new-privileges:true" in service["security_opt"]
        assert any(mount.split(":")[0] == "/tmp" for mount in service["tmpfs"])
        assert service["init"] is True
    assert compose["volumes"]["whisper-models"]["name"] == "whisper-models"
    assert yaml.safe_load(COMPOSE.read_text())["volumes"]["whisper-models"]["name"] == "whisper-models"

    # only the front publishes the page, as docker-compose.yml does (this host only unless asked)
    assert front["ports"] == ["${PUBLISH:-127.0.0.1:7860}:7860"]
    assert front["env_file"] == [{"path": ".env", "required": False}]
    assert "deploy" not in front
    gpus = []
    for name, worker in workers.items():
        assert "ports" not in worker and "env_file" not in worker, name
        devices = worker["deploy"]["resources"]["reservations"]["devices"]
        # device_ids, not count: `count: 1` gives every container the same GPU
        assert len(devices) == 1 and set(devices[0]) == {"driver", "device_ids", "capabilities"}, name
        assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"], name
        assert len(devices[0]["device_ids"]) == 1, name
        gpus.append(devices[0]["device_ids"][0])
        assert worker["command"][:3] == ["ray", "start", "--address=front:6379"], name
        assert "--num-gpus=1" in worker["command"] and worker["command"][-1] == "--block", name
        assert worker["depends_on"] == ["front"] and worker["healthcheck"] == {"disable": True}, name
    assert len(set(gpus)) == len(gpus) == len(workers)

    # the front: a Ray head without a GPU, then the app attached to it, one replica per GPU worker
    assert front["command"][:2] == ["sh", "-c"] and len(front["command"]) == 3
    head, _, app = front["command"][2].partition(" && exec ")
    head = shlex.split(head)
    assert head[:3] == ["ray", "start", "--head"] and "--port=6379" in head and "--num-gpus=0" in head
    assert "--disable-usage-stats" in head
    assert "--dashboard-host=127.0.0.1" in head or "--include-dashboard=false" in head
    settings = app_settings(shlex.split(app))
    assert settings.backend == "ray" and settings.ray_address == "auto" and settings.host == "0.0.0.0"
    assert settings.ray_replicas == len(workers) and settings.ray_gpus_per_replica == 1


def kuberay_documents() -> dict[str, list[dict]]:
    """Every object in deploy/kuberay/*.yaml, by kind."""
    found: dict[str, list[dict]] = {}
    for path in sorted(KUBERAY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.setdefault(document["kind"], []).append(document)
    return found


def kubernetes_validator(kind: str):
    """A validator for KIND: KubeRay's RayService, or one of the Kubernetes v1.30 objects (tests/schemas/)."""
    import jsonschema
    from referencing import Registry, Resource

    kubernetes = json.loads((SCHEMAS / "kubernetes-v1.30.json").read_text())
    rayservice = json.loads((SCHEMAS / "rayservice-v1.json").read_text())
    registry = Registry().with_resources([("kubernetes-v1.30.json", Resource.from_contents(kubernetes)),
                                          ("rayservice-v1.json", Resource.from_contents(rayservice))])
    schema = rayservice if kind == "RayService" else {"$ref": f"kubernetes-v1.30.json#/$defs/{kind}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_kuberay_manifests_match_their_schemas():
    """Each object against its schema; the schemas are strict, so a misspelt or misplaced field fails."""
    proc = subprocess.run([tool("check-jsonschema"), "--schemafile", str(SCHEMAS / "rayservice-v1.json"),
                           str(KUBERAY / "rayservice.yaml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    documents = kuberay_documents()
    api_versions = {"RayService": "ray.io/v1", "Deployment": "apps/v1", "Service": "v1", "PersistentVolumeClaim": "v1"}
    assert {kind: len(found) for kind, found in documents.items()} == dict.fromkeys(api_versions, 1)
    for kind, (document,) in documents.items():
        assert document["apiVersion"] == api_versions[kind] and document["metadata"]["name"], kind
        assert {"apiVersion", "kind", "metadata", "spec"} <= set(document), kind
        errors = [f"{kind} {'.'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in kubernetes_validator(kind).iter_errors(document)]
        assert not errors, errors

    # the schemas do catch mistakes
    rayservice = documents["RayService"][0]
    broken = json.loads(json.dumps(rayservice))
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplica"] = 1
    broken["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParams"]["num-gpus"] = 0
    assert len(list(kubernetes_validator("RayService").iter_errors(broken))) == 2
    broken = json.loads(json.dumps(documents["Deployment"][0]))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert not kubernetes_validator("Deployment").is_valid(broken)


def serve_config(rayservice: dict) -> dict:
    return yaml.safe_load(rayservice["spec"]["serveConfigV2"])


def test_kuberay_serve_config():
    """serveConfigV2 names the replicas' builder and is a valid Ray Serve config (Ray's own schema)."""
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import DeploymentSchema, RayActorOptionsSchema, ServeApplicationSchema, ServeDeploySchema

    config = serve_config(kuberay_documents()["RayService"][0])
    ServeDeploySchema.model_validate(config)
    # Serve ignores a field it does not know: a misspelt one would be lost without a word
    assert set(config) <= set(ServeDeploySchema.model_fields)
    (application,) = config["applications"]
    assert set(application) <= set(ServeApplicationSchema.model_fields)
    assert application["name"] == "whisper-ui"
    assert application["import_path"] == "whisper_ui.ray_replica:build_app"
    assert application["route_prefix"] is None  # no HTTP route into the replicas: only the front reaches them
    assert application["args"]["model_dir"] == "/models"
    (deployment,) = application["deployments"]
    assert set(deployment) <= set(DeploymentSchema.model_fields)
    assert set(deployment["autoscaling_config"]) <= set(AutoscalingConfig.model_fields)
    assert set(deployment["ray_actor_options"]) <= set(RayActorOptionsSchema.model_fields)
    AutoscalingConfig.model_validate(deployment["autoscaling_config"])  # a plain dict to ServeDeploySchema
    assert deployment["name"] == "WhisperReplica" and deployment["max_ongoing_requests"] == 1
    scaling = deployment["autoscaling_config"]
    assert scaling["target_ongoing_requests"] == 1 and 1 <= scaling["min_replicas"] <= scaling["max_replicas"]
    assert deployment["ray_actor_options"]["num_gpus"] == 1


def test_kuberay_cluster_fits_the_replicas():
    documents = kuberay_documents()
    rayservice = documents["RayService"][0]
    cluster = rayservice["spec"]["rayClusterConfig"]
    (deployment,) = serve_config(rayservice)["applications"][0]["deployments"]
    scaling, actor = deployment["autoscaling_config"], deployment["ray_actor_options"]
    ray_pin = next(line for line in (ROOT / "requirements-ray.txt").read_text().splitlines() if line.startswith("ray"))
    assert cluster["rayVersion"] == ray_pin.split("==")[1]
    assert cluster["enableInTreeAutoscaling"] is True

    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"  # no replica on the head
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"  # KubeRay deploys the Serve config through it
    (head_container,) = head["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in head_container["resources"].get("limits", {})

    (group,) = cluster["workerGroupSpecs"]
    assert "rayStartParams" in group  # required before KubeRay 1.2
    assert 1 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    (worker,) = group["template"]["spec"]["containers"]
    gpus = int(worker["resources"]["limits"]["nvidia.com/gpu"])
    assert gpus == int(worker["resources"]["requests"]["nvidia.com/gpu"]) == 1
    # Serve's autoscaling bounds fit in the worker group's: one replica per GPU
    assert scaling["max_replicas"] * actor["num_gpus"] <= group["maxReplicas"] * gpus
    assert actor.get("num_cpus", 1) <= float(worker["resources"]["limits"]["cpu"])

    # one image everywhere (Ray needs the same Ray and Python on every node, and the replicas import
    # whisper_ui); the models volume at the replicas' model_dir on the head and every worker
    front = documents["Deployment"][0]["spec"]["template"]["spec"]
    claim = documents["PersistentVolumeClaim"][0]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # pods on several nodes
    model_dir = serve_config(rayservice)["applications"][0]["args"]["model_dir"]
    for pod in (head["template"]["spec"], group["template"]["spec"], front):
        (container,) = pod["containers"]
        assert container["image"] == head_container["image"]
        assert {"name": "RAY_USAGE_STATS_ENABLED", "value": "0"} in container["env"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = [m for m in container["volumeMounts"] if m["mountPath"] == model_dir]
        assert len(mounts) == 1 and "readOnly" not in mounts[0]
        assert volumes[mounts[0]["name"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["fsGroup"] == 10001


def test_kuberay_front_attaches_to_the_rayservice():
    documents = kuberay_documents()
    rayservice = documents["RayService"][0]
    front, service = documents["Deployment"][0], documents["Service"][0]
    pod = front["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "command" not in container  # the image's: args replace its CMD
    settings = app_settings(container["args"])
    assert settings.backend == "ray" and settings.host == "0.0.0.0"
    # KubeRay's head service for a RayService is NAME-head-svc; 10001 is Ray Client's port there
    assert settings.ray_address == f"ray://{rayservice['metadata']['name']}-head-svc:10001"
    # attached to a Serve config, the front serves the model that config names
    args = serve_config(rayservice)["applications"][0]["args"]
    assert (settings.model, settings.engine) == (args["model"], args["engine"])
    assert front["spec"]["replicas"] == 1  # the job queue and the limits are the front's

    # the Service reaches the front's page
    labels = front["spec"]["template"]["metadata"]["labels"]
    assert front["spec"]["selector"]["matchLabels"] == labels
    assert service["spec"]["selector"] == labels
    (port,) = service["spec"]["ports"]
    (container_port,) = container["ports"]
    assert port["targetPort"] == container_port["name"] and container_port["containerPort"] == settings.port == 7860
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/models", "/tmp", "/app/.gradio"}

    # Kubernetes gives each pod NAME_PORT=tcp://... and NAME_SERVICE_HOST/PORT for every Service of the
    # namespace: none of those may read as a setting (a Service named whisper-ui would set WHISPER_UI_PORT)
    known = {option.env for option in OPTIONS}
    names = [service["metadata"]["name"], *(rayservice["metadata"]["name"] + suffix for suffix in ("-head-svc",
                                                                                                 "-serve-svc"))]
    for name in names:
        prefix = name.upper().replace("-", "_")
        assert not {prefix + "_PORT", prefix + "_SERVICE_HOST", prefix + "_SERVICE_PORT"} & known, name
    cluster = rayservice["spec"]["rayClusterConfig"]
    for spec in (pod, cluster["headGroupSpec"]["template"]["spec"], cluster["workerGroupSpecs"][0]["template"]["spec"]):
        assert spec["enableServiceLinks"] is False


def test_deploy_docs_show_the_ray_commands():
    text = (ROOT / "deploy" / "README.md").read_text()
    for command in ("--build-arg WITH_RAY=1", "docker compose -f docker-compose.ray.yml up",
                    "kubectl apply -f deploy/kuberay/", "--backend ray", "--ray-address"):
        assert command in text, command


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
    text = (ROOT / "docs" / "deploying.md").read_text() + (ROOT / "docs" / "security.md").read_text()
    for command in ("docker run --gpus all -p 7860:7860 -v whisper-models:/models", "docker compose up",
                    "models import-ct2", "--auth", "--share-without-auth", "--build-arg VARIANT=cpu",
                    "--build-arg BAKE_MODEL="):
        assert command in text, command

"""What the Ray front (``engines.ray_backend``) and the replicas (``whisper_ui.ray_replica``) share on
Ray Serve: the application's and the registry's names, the registry actor the replicas report to, a
replica's error as data, and the deployment.

The replica's class lives with the entry points, above the engines: it runs the app's own model
manager (``runtime``), which is built on the engines. The front does not import it; the deployment
names it by its import path (``REPLICA``), as a RayService's Serve config names ``build_app``, and
imports it when the first model is deployed.

Importing this module imports Ray: only ``--backend ray`` does.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from pathlib import Path
from typing import Any

import ray
from ray import serve

REPLICA = "whisper_ui.ray_replica:WhisperReplica"  # the replicas' class, by import path (see above)
APP = "whisper-ui"  # the Serve application's name
REGISTRY = "whisper-ui-registry"  # the named actor replicas report to
NAMESPACE = "whisper-ui"
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 8.0  # a replica not heard from for this long is "unresponsive"; after 60 s it is forgotten
FORGET_SECONDS = 60.0


def _code_version() -> str:
    """The app's code, as a version: a front of other code replaces the replicas (a new model only
    reconfigures them)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parents[1].rglob("*.py")):  # the whole package
        digest.update(path.read_bytes())
    return "whisper-ui-" + digest.hexdigest()[:16]


CODE_VERSION = _code_version()


@ray.remote(num_cpus=0)
class Registry:
    """What each replica last said of itself, by replica id."""

    def __init__(self):
        self.replicas: dict[str, dict[str, Any]] = {}

    def report(self, replica_id: str, info: dict[str, Any]) -> None:
        self.replicas[replica_id] = {**info, "seen": time.time()}

    def gone(self, replica_id: str) -> None:
        self.replicas.pop(replica_id, None)

    def all(self) -> list[dict[str, Any]]:
        now = time.time()
        for key in [k for k, v in self.replicas.items() if now - v["seen"] > FORGET_SECONDS]:
            del self.replicas[key]
        return [{**v, "seen_seconds_ago": round(now - v["seen"], 1)} for v in self.replicas.values()]


def registry():
    """The registry actor (created by whoever comes first: it outlives replicas that restart)."""
    return Registry.options(name=REGISTRY, namespace=NAMESPACE, get_if_exists=True, lifetime="detached").remote()


def error_record(error: BaseException) -> dict[str, Any]:
    """A replica's error as data the front turns back into the same ``WhisperUIError`` class."""
    return {"type": type(error).__name__, "message": str(error), "key": getattr(error, "key", None),
            "values": getattr(error, "values", {}) or {}}


def replica_class() -> type:
    """The replicas' class (``REPLICA``), imported by its path."""
    module, name = REPLICA.split(":")
    return getattr(importlib.import_module(module), name)


def deployment(bounds: tuple[int, int], gpus: float, replica: type | None = None):
    """The Serve deployment of ``replica`` (the host's ``WhisperReplica``, found by ``REPLICA`` when not
    given): a fixed number of replicas or autoscaling between ``bounds`` on the requests queued at them
    (each replica one at a time); ``gpus`` per replica."""
    low, high = bounds
    options: dict[str, Any] = {"name": "WhisperReplica", "max_ongoing_requests": 1,
                               "health_check_period_s": 5, "health_check_timeout_s": 30,
                               "graceful_shutdown_timeout_s": 30,
                               "ray_actor_options": {"num_cpus": 0 if gpus else 1, "num_gpus": gpus}}
    if low == high:
        options["num_replicas"] = low
    else:
        options["autoscaling_config"] = {"min_replicas": low, "max_replicas": high, "initial_replicas": max(low, 1),
                                         "target_ongoing_requests": 1, "upscale_delay_s": 5, "downscale_delay_s": 120}
    deployed = serve.deployment(replica or replica_class()).options(**options)
    # the code's version: a new user_config (the model) then reconfigures the running replicas in place, one job
    # after another, instead of replacing them (Serve gives each serve.run a random version otherwise;
    # options(version=...) is gone from Ray 2.60, the attribute it set is what Serve still reads)
    deployed._version = CODE_VERSION
    return deployed


__all__ = ["APP", "CODE_VERSION", "NAMESPACE", "REGISTRY", "REPLICA", "Registry", "deployment", "error_record",
           "registry", "replica_class"]

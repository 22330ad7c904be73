"""``--backend ray``: the model runs as replicas on Ray Serve (``whisper_ui.ray_replica``); this process,
the front, keeps the page, the API, the decoding and the limits.

For the model manager a remote engine is an engine like the others: ``RayEngine.prepare`` asks one
replica to get a model's files (nothing changes if it cannot), ``RayEngine.load`` sets the model of
every replica (the deployment's ``user_config``: Serve reconfigures each replica after its running
job), and ``RemoteModel.transcribe`` sends a job to a replica through a ``DeploymentHandle``, hears its
segments as they are finished, and cancels the request when the job's cancel flag is set (the
page's Cancel, a disconnect, the time limit), which stops the replica's model at its next step.
The manager lets as many jobs run at once as there are replicas (``concurrency``).

A replica that dies mid-job fails that job with a clear message (it is not retried: the audio may
be what killed it); Serve starts a new replica and the others serve on.

Ray is imported when the first model is loaded, never with ``--backend local``; nothing of Ray listens
on a port of its own here (no Serve HTTP proxy, no dashboard) and Ray's usage statistics are off. A local
Ray instance is private (``private_local_instance``): loopback ports, its token in this process, its logs in a
folder of this user deleted at stop.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..core import errors
from ..core.errors import CancelledError, ModelError, WhisperUIError
from ..core.settings import Settings
from ..core.transcription import TranscribeOptions, TranscriptionResult
from ..models.sources import canonical_name
from .base import Engine, LoadedModel, LoadEvents, OnProgress

log = logging.getLogger("whisper_ui.ray_backend")

RAY_MISSING = ("--backend ray needs Ray Serve, which is not installed: pip install -r requirements-ray.txt "
               "(or use --backend local)")
READY_STATES = ("ready", "busy")


def check_installed() -> None:
    """Refuse ``--backend ray`` at start, with what to do, when Ray Serve is not installed."""
    import importlib.util

    # not find_spec("ray.serve"), which imports Ray: it reads its environment once, before
    # private_local_instance has set it
    spec = importlib.util.find_spec("ray")
    if spec is None or not any((Path(folder) / "serve" / "__init__.py").is_file()
                               for folder in spec.submodule_search_locations or ()):
        raise errors.ConfigError(RAY_MISSING)


def rebuilt(record: dict[str, Any]) -> WhisperUIError:
    """A replica's error record (``ray_serve.error_record``) as the same error class here."""
    cls = getattr(errors, record.get("type") or "", None)
    if not (isinstance(cls, type) and issubclass(cls, WhisperUIError)):
        cls = ModelError
    return cls(record["message"], key=record.get("key"), **(record.get("values") or {}))


def in_thread_of_its_own(start) -> None:
    """Run ``start`` (``ray.init``) in a thread that lives as long as the process. A local Ray instance's
    processes (its GCS, its raylet) are killed when the thread that started them ends (Linux's parent-death
    signal follows the thread): started from the model's preload thread, they died with it."""
    started, failed = threading.Event(), []

    def keep() -> None:
        try:
            start()
        except BaseException as e:  # noqa: BLE001 -- raised again in the caller's thread
            failed.append(e)
        started.set()
        if not failed:
            threading.Event().wait()

    threading.Thread(target=keep, name="whisper-ui-ray", daemon=True).start()
    started.wait()
    if failed:
        raise failed[0]


TOKEN_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")  # an operator's own choice of Ray's auth


def private_local_instance() -> Path:
    """Make the local Ray instance (no ``--ray-address``) this machine's and this process's alone, before Ray is
    imported; the folder for its sessions (``ray.init(_temp_dir=...)``), which ``RayBackend.stop`` deletes.

    - Every port of it (its GCS, raylet, workers, and the three Prometheus metrics servers of its monitor,
      dashboard and agent) on 127.0.0.1: Ray's single-machine mode, its default on macOS and Windows
      (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``). On Linux it listened on every address.
    - Ray (2.5x) turns on token authentication for a new local instance and writes the token to
      ``~/.ray/auth_token`` with the umask's mode (0644 here), where it stays. The token is this process's
      instead (``RAY_AUTH_TOKEN``, which Ray's processes inherit), unless the operator chose Ray's auth
      (``RAY_AUTH_*``); a token file there already is made the owner's alone (0600).
    - Its sessions' logs (folders of mode 0777, what the replicas log) in a folder only this user may enter,
      deleted when the app stops; Ray's default is ``/tmp/ray``, kept after it."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if not any(os.environ.get(name) for name in TOKEN_VARIABLES):
        token_file = Path.home() / ".ray" / "auth_token"
        if token_file.is_file():
            _owner_only(token_file)
        else:
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    base = tempfile.gettempdir()
    if len(base) > 24 and os.path.isdir("/tmp"):  # a Unix socket's path has at most 107 bytes, Ray's names are long
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="whisper-ui-ray-", dir=base))  # mode 0700; Ray makes its own folder 0777


def _owner_only(path: Path) -> None:
    try:
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.getuid():
            path.chmod(0o600)
            log.warning("%s could be read by other users: it is now the owner's only (mode 0600)", path)
    except (OSError, AttributeError) as e:  # AttributeError: os.getuid on Windows
        log.debug("could not check %s: %s", path, e)


def declared() -> bool:
    """Whether the application is deployed from a Serve config (``serve deploy``, a RayService's serveConfigV2):
    then its config, not this front, says the model, and ``serve.run`` here would silently replace it. Read
    from Serve's controller as its dashboard does (no public call says it)."""
    from .ray_serve import APP

    try:
        from ray.serve.context import _get_global_client

        details = _get_global_client().get_serve_details()
        return (details.get("applications", {}).get(APP) or {}).get("source") == "declarative"
    except Exception as e:  # noqa: BLE001
        log.debug("could not read how %s was deployed: %s", APP, e)
        return False


class RayBackend:
    """The connection to Ray and the Serve application; shared by the engines (one per local engine name)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.bounds = settings.replica_bounds
        self._handle = None
        self._stream = None  # the handle for jobs: their segments stream back
        self._registry = None
        self._ray_dir: Path | None = None  # the local instance's sessions (private_local_instance)
        self._owned = True  # False: the application is deployed from a Serve config (a RayService): attached to
        self._config: dict[str, Any] | None = None  # the model and engine the replicas were given
        self._attempt = 0  # loads of the same model in a row (a retry after a failed one)
        self._lock = threading.Lock()

    @property
    def concurrency(self) -> int:
        return max(1, self.bounds[1])

    def replica_settings(self) -> dict[str, Any]:
        """What each replica's own manager and engine are built from."""
        s = self.settings
        threads = s.threads
        if not threads and not s.ray_gpus_per_replica and s.ray_address is None:
            threads = max(1, (os.cpu_count() or 1) // self.concurrency)  # local CPU replicas share this machine's cores
        return {"model": s.model, "model_dir": str(s.model_dir), "device": s.device, "engine": s.engine,
                "compute_type": s.compute_type, "batch_size": s.batch_size, "threads": threads,
                "max_job_minutes": s.max_job_minutes, "log_level": s.log_level}

    def start(self) -> None:
        """Connect to Ray (``--ray-address``) or start a local instance, and start Serve without its HTTP proxy."""
        with self._lock:
            if self._registry is not None:
                return
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry
            local = not self.settings.ray_address
            if local and self._ray_dir is None:
                self._ray_dir = private_local_instance()  # before Ray reads its environment
            import ray
            from ray import serve

            from .ray_serve import APP, NAMESPACE, registry

            if not ray.is_initialized():
                kwargs: dict[str, Any] = {"namespace": NAMESPACE, "logging_level": logging.WARNING,
                                          "configure_logging": False}
                if self.settings.ray_address:
                    log.info("connecting to the Ray cluster at %s", self.settings.ray_address)
                    kwargs["address"] = self.settings.ray_address
                else:
                    cpus = max(os.cpu_count() or 1, self.concurrency)  # each CPU replica takes one
                    log.info("starting a local Ray instance (%d CPUs) for %s replica(s)", cpus,
                             "-".join(map(str, sorted(set(self.bounds)))))
                    kwargs.update(num_cpus=cpus, include_dashboard=False, _temp_dir=str(self._ray_dir / "ray"))
                    atexit.register(self.stop)
                in_thread_of_its_own(lambda: ray.init(**kwargs))
            serve.start(http_options={"location": "NoServer"})
            self._owned = not declared()
            if not self._owned:
                log.info("the Serve application %s is deployed from a Serve config (a RayService): serving its "
                         "replicas as they are", APP)
            self._registry = registry()
            ray.get(self._registry.all.remote(), timeout=120)  # started (a worker process of its own)

    def stop(self) -> None:
        try:
            import ray
            from ray import serve

            if ray.is_initialized():
                if self._owned and self.settings.ray_address:  # a local instance goes whole, Serve with it
                    serve.shutdown()
                ray.shutdown()
        except Exception:  # at exit: nothing left to tell  # noqa: BLE001
            pass
        if self._ray_dir is not None:  # the local instance's logs go with it
            shutil.rmtree(self._ray_dir, ignore_errors=True)

    def replicas(self) -> list[dict[str, Any]]:
        """Each replica as it last said (``ray_serve.Registry``), ``state`` "unresponsive" when it has not
        spoken for a while (dead, or restarting); an empty list before Ray is started."""
        if self._registry is None:
            return []
        import ray

        from .ray_serve import STALE_SECONDS

        try:
            found = ray.get(self._registry.all.remote(), timeout=5)
        except Exception as e:  # noqa: BLE001
            log.warning("the replicas' registry did not answer: %s", e)
            return []
        for replica in found:
            if replica["seen_seconds_ago"] > STALE_SECONDS:
                replica["state"] = "unresponsive"
        return sorted(found, key=lambda r: (r["node"], r["replica"]))

    def ready_replicas(self, model: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.replicas() if r["state"] in READY_STATES and (model is None or r["model"] == model)]

    # --- the model -----------------------------------------------------------------------------

    def prepare(self, model: str, engine: str) -> None:
        """One replica gets the model's files; before the first deployment there is none to ask (``load`` says)."""
        self.start()
        if self._handle is None or not self._owned:
            return
        record = self._handle.prepare.remote(model, engine).result()
        if record is not None:
            raise rebuilt(record)

    def load(self, model: str, engine: str) -> dict[str, Any]:
        """Every replica serves ``model`` with ``engine`` (the first call deploys them); the ready replicas' record."""
        from ray import serve

        from .ray_serve import APP, deployment

        self.start()
        config = {"model": model, "engine": engine}
        serving = [r for r in self.ready_replicas(model) if r["engine"] == engine]
        if self._owned and (config != self._config or len(serving) < self.bounds[0]):
            # the same model again where replicas do not serve it (its file was missing, now placed): a new
            # attempt number is a new user_config, so Serve has every replica load it again
            self._attempt = self._attempt + 1 if config == self._config else 0
            app = deployment(self.bounds, self.settings.ray_gpus_per_replica).options(
                user_config={**config, "attempt": self._attempt})
            log.info("Ray Serve: %s replica(s) of %s with %s", "-".join(map(str, sorted(set(self.bounds)))), model,
                     engine)
            try:
                self._handle = serve.run(app.bind(self.replica_settings()), name=APP, route_prefix=None)
            except Exception as e:  # noqa: BLE001
                raise ModelError(f"The model replicas could not start on Ray Serve: {type(e).__name__}: {e}") from e
            self._stream = None
            self._config = config
        if self._handle is None:
            self._handle = serve.get_app_handle(APP)
        if self._stream is None:  # made here, once: a handle's router made in a job's thread can hang (GCS client)
            # through Ray Client (ray://) Serve streams nothing: a job's answer comes whole, at its end
            self._stream = self._handle if self.client_mode else self._handle.options(stream=True)
        ready = self.ready_replicas(model)
        if ready and all(r["engine"] == engine for r in ready):
            return ready[0]
        if not self._owned:
            serving = sorted({f"{r['model']} ({r['engine']})" for r in self.ready_replicas()})
            raise ModelError(f"The replicas serve {', '.join(serving) or 'nothing yet'}: they are deployed from a "
                             f"Serve config (a RayService), so {model} is set there, not here.")
        failed = [r for r in self.replicas() if r.get("error")]
        reason = failed[0]["error"] if failed else "no replica reported the model ready"
        raise ModelError(f"The replicas could not load {model}: {reason}")

    def stream(self):
        """The handle jobs are sent through (their answers stream, except through Ray Client)."""
        return self._stream

    @property
    def client_mode(self) -> bool:
        """Connected through Ray Client (``--ray-address ray://...``; its context is per thread: the address says)."""
        return (self.settings.ray_address or "").startswith("ray://")


class RemoteModel(LoadedModel):
    """The model as the replicas serve it: jobs go to a replica through Serve's handle."""

    def __init__(self, backend: RayBackend, name: str, engine: str, replica: dict[str, Any]):
        self.backend, self.name, self.engine = backend, name, engine
        self.device = replica.get("device") or "cpu"
        self.compute_type = replica.get("compute_type") or "float32"
        self.fp16 = self.compute_type == "float16"
        self.english_only = name.endswith(".en")

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions, cancel: threading.Event | None = None,
                   on_progress: OnProgress | None = None) -> TranscriptionResult:
        from ray.exceptions import RayError
        from ray.serve.exceptions import RequestCancelledError

        # the front's samples are ffmpeg's 16-bit ones scaled to float: as int16 again they cost half the bytes
        samples = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
        if self.backend.client_mode:  # the whole answer at the end: the last of what the replica would stream
            stream = self.backend.stream().transcribe_whole.remote(samples, options)
            answers = lambda: iter((stream.result(),))  # noqa: E731
        else:
            stream = self.backend.stream().transcribe.remote(samples, options)
            answers = lambda: iter(stream)  # noqa: E731
        finished = threading.Event()

        def watch() -> None:  # polled: the manager's stop flag answers is_set(), not wait()
            while not finished.wait(0.1):
                if cancel.is_set():
                    stream.cancel()
                    return

        if cancel is not None:
            threading.Thread(target=watch, name="whisper-ui-remote-cancel", daemon=True).start()
        try:
            for item in answers():
                if item[0] == "progress":
                    if on_progress is not None:
                        on_progress(*item[1:])
                elif item[0] == "result":
                    return item[1]
                elif item[0] == "error":
                    raise rebuilt(item[1])
            raise ModelError("The model replica ended the job without a result.")
        except RequestCancelledError:
            raise CancelledError("The transcription was cancelled.") from None
        except RayError as e:
            if cancel is not None and cancel.is_set():
                raise CancelledError("The transcription was cancelled.") from None
            log.error("a model replica failed during a job: %s: %s", type(e).__name__, str(e).splitlines()[0][:300])
            raise ModelError("The model replica running this job stopped before it finished (the job is not "
                             "retried). Ray Serve starts a new replica; the others serve on: try again.",
                             key="replica_failed") from None
        finally:
            finished.set()

    def unload(self) -> None:
        """The replicas keep their model until the next load sets another (a switch reconfigures them in place)."""


class RayEngine(Engine):
    """The engine ``name`` (openai-whisper or faster-whisper) run by the replicas."""

    def __init__(self, backend: RayBackend, name: str):
        self.backend, self.name = backend, name

    def prepare(self, model: str, events: LoadEvents | None = None) -> None:
        self.backend.prepare(model, self.name)

    def load(self, model: str, device: str, events: LoadEvents | None = None) -> LoadedModel:
        return RemoteModel(self.backend, model, self.name, self.backend.load(canonical_name(model), self.name))

    def compute_type(self, device: str) -> str:
        if self.name == "faster-whisper" and self.backend.settings.compute_type != "auto":
            return self.backend.settings.compute_type
        return ("float16" if device == "cuda" else "int8" if self.name == "faster-whisper" else "float32")

    def cuda_available(self) -> bool:
        return self.backend.settings.ray_gpus_per_replica > 0

    def replicas(self) -> list[dict[str, Any]]:
        return self.backend.replicas()


def ray_engines(settings: Settings) -> dict[str, Engine]:
    """Both engines, run by the replicas of one Serve application."""
    check_installed()
    backend = RayBackend(settings)
    return {name: RayEngine(backend, name) for name in ("openai-whisper", "faster-whisper")}


__all__ = ["RayBackend", "RayEngine", "RemoteModel", "check_installed", "ray_engines", "rebuilt"]

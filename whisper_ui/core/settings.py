"""Settings: command-line flags and ``WHISPER_UI_*`` environment variables.

This is the only module that reads ``os.environ``. Each option is declared once
in ``OPTIONS``; its flag is ``--name`` and its variable ``WHISPER_UI_NAME`` (the
flag's name in capitals, dashes as underscores). A flag wins over its variable,
which wins over the default. The result is one frozen ``Settings`` object that
is handed to every constructor; a bad value stops start-up with a message that
names the flag or the variable it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "WHISPER_UI_"
DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("openai-whisper", "faster-whisper")
BACKENDS = ("local", "ray")
COMPUTE_TYPES = ("auto", "int8", "int8_float16", "float16", "float32")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class AuthFile:
    """A file of ``user:password`` lines (``#`` comments and blank lines allowed), read once at start."""

    path: Path
    users: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class ApiKeyFile:
    """A file of API keys, one a line (``#`` comments and blank lines allowed), read once at start."""

    path: Path
    keys: tuple[str, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        return str(self.path)


def default_model_dir(environ: Mapping[str, str]) -> Path:
    """openai-whisper's own cache, so models it already downloaded are reused."""
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "whisper"


@dataclass(frozen=True)
class Settings:
    model: str = "base"
    model_dir: Path = Path("~/.cache/whisper").expanduser()
    device: str = "auto"
    engine: str = "openai-whisper"
    compute_type: str = "auto"  # faster-whisper only: auto = int8 on the CPU, float16 on CUDA
    batch_size: int | None = None  # faster-whisper's batched pipeline; None = auto (8 on CUDA, off on the CPU)
    vad: bool = True  # speech detection before the model, the default of the page's and the API's option
    speakers: str = "off"  # speaker labels by default: off or auto (the page's, the API's and MCP's default)
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 200
    max_upload_disk_mb: int = 4096  # the most the upload folder may hold; over it uploads get "busy"
    max_audio_minutes: float = 60.0
    max_job_minutes: float = 30.0  # a job running longer is stopped at the model's next step
    # a job stops with its text so far after this many times what this model and engine usually take here for
    # that much audio (recent jobs; at least BUDGET_MIN_SECONDS); 0: no budget
    compute_budget: float = 5.0
    read_timeout: float = 30.0  # seconds a client may take for a request's headers, or pause in its body
    max_connections_per_client: int = 64  # connections one address may hold open (0: no cap)
    queue_size: int = 16
    idle_unload_minutes: float = 0.0
    models: tuple[str, ...] = ()
    preload: bool = True
    threads: int = 0
    ffmpeg_timeout: float = 600.0
    upload_retention_minutes: float = 60.0  # uploads and result files are deleted after this long
    log_level: str = "INFO"
    auth: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (user, password) pairs
    auth_file: AuthFile | None = None
    share: bool = False  # a public gradio.live link; refused without auth unless share_without_auth
    share_without_auth: bool = False
    ssl_certfile: Path | None = None  # HTTPS: browsers allow the microphone only on localhost or HTTPS
    ssl_keyfile: Path | None = None
    api_key: tuple[str, ...] = field(default=(), repr=False)  # bearer keys of the OpenAI-compatible routes
    api_key_file: ApiKeyFile | None = None
    mcp: bool = False  # Gradio's MCP server with one tool, transcribe
    allowed_origins: tuple[str, ...] = ()  # other sites whose pages may send requests (scheme://host[:port])
    allowed_hosts: tuple[str, ...] = ()  # names the app answers to besides its own (web/edge.py; "*": any)
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-* headers are believed (none by default)
    admin: tuple[str, ...] = ()  # with a login, the users who may load, switch, unload models and clean caches
    backend: str = "local"  # local: the model in this process; ray: replicas on Ray Serve (whisper_ui.engines.ray_backend)
    ray_address: str | None = None  # what ray.init(address=...) takes; None: start a local Ray instance
    ray_replicas: int | None = None  # a fixed number of replicas (default 1 unless autoscaling bounds are given)
    ray_min_replicas: int | None = None  # Serve's autoscaling bounds, on the requests queued at the replicas
    ray_max_replicas: int | None = None
    ray_gpus_per_replica: float = 0.0  # 1 on GPU nodes: each replica its own GPU

    @property
    def replica_bounds(self) -> tuple[int, int]:
        """(min, max) replicas: equal for a fixed number."""
        if self.ray_min_replicas is None and self.ray_max_replicas is None:
            return (self.ray_replicas or 1,) * 2
        low = self.ray_min_replicas if self.ray_min_replicas is not None else 1
        return low, self.ray_max_replicas if self.ray_max_replicas is not None else max(low, 1)

    @property
    def max_upload_disk_bytes(self) -> int:
        return self.max_upload_disk_mb * 1024 * 1024

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every API key, from --api-key (WHISPER_UI_API_KEYS) and the key file."""
        keys = list(self.api_key) + list(self.api_key_file.keys if self.api_key_file else ())
        return tuple(dict.fromkeys(keys))

    @property
    def credentials(self) -> tuple[tuple[str, str], ...]:
        """Every login, from the auth file then --auth (an --auth entry wins over the same user in the file)."""
        users = dict(self.auth_file.users if self.auth_file else ())
        users.update(self.auth)
        return tuple(users.items())

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_audio_seconds(self) -> float:
        return self.max_audio_minutes * 60.0

    @property
    def upload_retention_seconds(self) -> int:
        return max(1, round(self.upload_retention_minutes * 60))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


# --- value parsers: each raises ValueError with a short reason -------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a whole number above 0")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def _batch_size(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return _non_negative_int(text)
    except ValueError:
        raise ValueError("must be auto or a whole number, 0 or more") from None


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be a number above 0")
    return value


def _address(text: str) -> str | None:
    return text.strip() or None


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError("must be a number, 0 or more")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _log_level(text: str) -> str:
    value = text.strip().upper()
    if value not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value


def _model_name(text: str) -> str:
    value = text.strip()
    if not value or "/" in value or "\\" in value or value.startswith("."):
        raise ValueError("must be a model name such as 'base' or the name of a .pt file in the model folder")
    return value


def _model_list(text: str) -> tuple[str, ...]:
    return tuple(_model_name(part) for part in text.split(",") if part.strip())


def _user(text: str) -> str:
    user = text.strip()
    if not user or ":" in user or any(c.isspace() or not c.isprintable() for c in user):
        raise ValueError(f"{user[:40]!r} is not a user name")
    return user


def _origin(text: str) -> str:
    origin = text.strip().lower().rstrip("/")
    scheme, sep, host = origin.partition("://")
    if scheme not in ("http", "https") or not sep or not host or any(c in host for c in "/?#@ "):
        raise ValueError(f"{text.strip()[:80]!r} is not an origin: give scheme://host[:port], "
                         "such as https://intranet.example")
    return origin


def _host_name(text: str) -> str:
    """A name the app answers to: ``app.example``, ``.example`` (it and every name under it) or ``*``."""
    name = text.strip().lower().rstrip(".")
    if name == "*":
        return name
    label = name.removeprefix(".")
    if not label or len(label) > 253 or any(not part or not all(c.isalnum() or c == "-" for c in part)
                                             for part in label.split(".")):
        raise ValueError(f"{text.strip()[:80]!r} is not a host name: give a name such as whisper.example.org, "
                         "or .example.org for every name under it, or * for any")
    return name


def _proxy(text: str) -> str:
    """An address or network whose forwarded headers are believed: ``10.0.0.5``, ``10.0.0.0/8``, ``::1``."""
    import ipaddress

    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{text.strip()[:80]!r} is not an IP address or network (such as 10.0.0.5 or "
                         "10.0.0.0/8)") from None


def _credential(text: str) -> tuple[str, str]:
    # the reasons never quote the text: it holds a password
    user, colon, password = text.strip().partition(":")
    user = user.strip()
    if not colon:
        raise ValueError("must be user:password (no ':' found)")
    if not user:
        raise ValueError("must be user:password, with a user name before the ':'")
    if not password:
        raise ValueError(f"must be user:password, with a password after the ':' (user {user!r})")
    return user, password


def _entry_lines(text: str, parse: Callable[[str], Any], none_found: str) -> tuple[Path, tuple]:
    """A file of one entry a line (blank lines and ``#`` comments skipped), each through ``parse``;
    a bad line is named by its number (never quoted: the entries are secrets)."""
    path = Path(text.strip()).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeError) as e:
        raise ValueError(f"cannot be read ({getattr(e, 'strerror', None) or e})") from e
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entries.append(parse(line))
        except ValueError as e:
            raise ValueError(f"line {number} {e}") from e
    if not entries:
        raise ValueError(none_found)
    return path, tuple(entries)


def _auth_file(text: str) -> AuthFile:
    return AuthFile(*_entry_lines(text, _credential, "has no user:password line"))


MIN_API_KEY_LENGTH = 16


def _api_key(text: str) -> str:
    # the reasons never quote the text: it is a secret
    key = text.strip()
    if not key:
        raise ValueError("is empty")
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ValueError("must not contain spaces or control characters")
    if len(key) < MIN_API_KEY_LENGTH:
        raise ValueError(f"is too short: use at least {MIN_API_KEY_LENGTH} characters "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return key


def _api_key_file(text: str) -> ApiKeyFile:
    return ApiKeyFile(*_entry_lines(text, _api_key, "has no key"))


def _readable_file(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        raise ValueError("is not a file")
    try:
        path.open("rb").close()
    except OSError as e:
        raise ValueError(f"cannot be read ({e.strerror})") from e
    return path


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false (1/0, yes/no, on/off)")


@dataclass(frozen=True)
class Option:
    field: str  # Settings field; the flag is --field-with-dashes
    parse: Callable[[str], Any]
    help: str
    metavar: str | None = None
    is_bool: bool = False
    repeatable: bool = False  # the flag may be given many times; the variable holds a comma-separated list
    secret: bool = False  # error messages never show the value
    default_text: str | None = None  # shown in --help instead of the default value
    env_name: str | None = None  # the variable, when it is not the flag's name in capitals

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")

    @property
    def env(self) -> str:
        return self.env_name or ENV_PREFIX + self.field.upper()


OPTIONS: tuple[Option, ...] = (
    Option("model", _model_name, "model loaded at start and used by default", "NAME"),
    Option("model_dir", lambda s: Path(s).expanduser(), "folder where models are downloaded and looked for", "DIR"),
    Option("device", _choice(*DEVICES), "auto (CUDA with fp16 when available, else CPU), cpu or cuda", "DEVICE"),
    Option("engine", _choice(*ENGINES), "openai-whisper (the reference library) or faster-whisper "
           "(CTranslate2: same weights, several times faster on the CPU)", "ENGINE"),
    Option("compute_type", _choice(*COMPUTE_TYPES), "faster-whisper's weights and arithmetic: auto (int8 on the "
           "CPU, float16 on CUDA), int8, int8_float16, float16 or float32", "TYPE"),
    Option("batch_size", _batch_size, "faster-whisper's batched pipeline: N windows at once (0 = off; "
           "auto = 8 on CUDA, off on the CPU, where it is no faster and doubles the memory)", "N",
           default_text="auto"),
    Option("vad", _bool, "speech detection (Silero VAD): only speech reaches the model, so noise and silence cost "
           "nothing; the default of the page's and the API's option (--no-vad for singing)", is_bool=True),
    Option("speakers", _choice("off", "auto"), "speaker labels (Speaker 1, Speaker 2) by default: off or auto "
           "(the count found from the voices); a job may ask for them, or for a count, itself", "MODE"),
    Option("host", lambda s: s.strip() or "127.0.0.1", "address to listen on (0.0.0.0 to accept other machines)", "HOST"),
    Option("port", _port, "port to listen on", "PORT"),
    Option("max_upload_mb", _positive_int, "largest upload accepted, in MB", "MB"),
    Option("max_upload_disk_mb", _positive_int, "the most the upload folder may hold, in MB: an upload that "
           "would go over it gets 'busy, try again later' (503), never a full disk", "MB"),
    Option("max_audio_minutes", _positive_float, "longest audio accepted, in minutes", "MIN"),
    Option("max_job_minutes", _positive_float, "longest a job may hold the model, in minutes: it is stopped "
           "at the model's next step, and the next job runs", "MIN"),
    Option("compute_budget", _non_negative_float, "a job stops with its text so far, and a notice of what to "
           "try, after this many times what this model and engine usually take here for that much audio (from "
           "recent jobs; at least 30 s): a window the model retries at every temperature cannot run for minutes. "
           "0 = no budget", "X"),
    Option("read_timeout", _positive_float, "seconds a client may take to send a request's headers, or pause "
           "while sending its body: slower ones get 408 and are closed", "SEC"),
    Option("max_connections_per_client", _non_negative_int, "connections one client address may hold open at "
           "once; more are refused (429). 0 = no cap; --trusted-proxies are exempt", "N"),
    Option("queue_size", _positive_int, "jobs that may wait; more get a 'busy' answer", "N"),
    Option("idle_unload_minutes", _non_negative_float, "unload the model after this many idle minutes (0 = never)", "MIN"),
    Option("models", _model_list, "comma-separated models offered in the UI (default: all known)", "LIST"),
    Option("preload", _bool, "load the default model at start", is_bool=True),
    Option("threads", _non_negative_int, "CPU threads for the model (0 = torch's default for openai-whisper; "
           "half the cores, 1 to 4, for faster-whisper)", "N"),
    Option("ffmpeg_timeout", _positive_float, "seconds ffmpeg may spend probing or decoding one file", "SEC"),
    Option("upload_retention_minutes", _positive_float, "delete uploads and result files after this many minutes",
           "MIN"),
    Option("log_level", _log_level, "DEBUG, INFO, WARNING or ERROR", "LEVEL"),
    Option("auth", _credential, "require a login: user:password, repeat the flag for more users "
           "(the variable holds a comma-separated list)", "USER:PASSWORD", repeatable=True, secret=True,
           default_text="no login"),
    Option("auth_file", _auth_file, "require a login: a file of user:password lines", "FILE", default_text="none"),
    Option("share", _bool, "also serve on a public gradio.live link (refused without a login)", is_bool=True),
    Option("share_without_auth", _bool, "allow --share without a login: anyone with the link can use the app",
           is_bool=True),
    Option("ssl_certfile", _readable_file, "serve HTTPS with this certificate (PEM); browsers allow the "
           "microphone only on localhost or HTTPS", "FILE", default_text="none (HTTP)"),
    Option("ssl_keyfile", _readable_file, "the certificate's private key (PEM)", "FILE", default_text="none"),
    Option("api_key", _api_key, "a bearer key for the OpenAI-compatible routes (/v1/...) and MCP; repeat the flag "
           "for more keys (the variable holds a comma-separated list)", "KEY", repeatable=True, secret=True,
           default_text="none", env_name=ENV_PREFIX + "API_KEYS"),
    Option("api_key_file", _api_key_file, "a file of API keys, one a line", "FILE", default_text="none"),
    Option("mcp", _bool, "serve Gradio's MCP server (/gradio_api/mcp) with one tool, transcribe", is_bool=True),
    Option("admin", _user, "with a login: a user who may load, switch and unload models and clean the old caches "
           "(others see the Model tab read-only); repeat the flag for more (the variable holds a comma-separated "
           "list). Without a login everyone may", "USER", repeatable=True, default_text="none",
           env_name=ENV_PREFIX + "ADMINS"),
    Option("allowed_origins", _origin, "another site whose pages may send requests to the app (scheme://host[:port]; "
           "requests from any other site's page are refused); repeat the flag for more (the variable holds a "
           "comma-separated list)", "ORIGIN", repeatable=True, default_text="none (the app's own pages only)"),
    Option("allowed_hosts", _host_name, "a host name the app answers to besides localhost, IP addresses, this "
           "machine's name and --host (.example.org: every name under it; *: any). Requests for any other name get "
           "421: a page of another site that renames itself to your address (DNS rebinding) cannot use the app. "
           "Repeat the flag for more (the variable holds a comma-separated list)", "HOST", repeatable=True,
           default_text="none (the local names only)"),
    Option("trusted_proxies", _proxy, "a reverse proxy (IP address or network) whose X-Forwarded-For, -Proto and "
           "-Host headers name the real client; from any other address they are ignored, and the caps, the login "
           "throttle and the isolation of users use the connection's own address. Repeat the flag for more (the "
           "variable holds a comma-separated list)", "ADDRESS", repeatable=True, default_text="none"),
    Option("backend", _choice(*BACKENDS), "local (the model in this process) or ray (model replicas on Ray Serve, "
           "one job at a time each; pip install -r requirements-ray.txt)", "BACKEND"),
    Option("ray_address", _address, "with --backend ray: the Ray cluster (auto, HOST:6379 or ray://HOST:10001)",
           "ADDRESS", default_text="start a local Ray instance"),
    Option("ray_replicas", _positive_int, "with --backend ray: this many replicas", "N", default_text="1"),
    Option("ray_min_replicas", _non_negative_int, "with --backend ray: Serve's autoscaling, at least N replicas",
           "N", default_text="none (a fixed number)"),
    Option("ray_max_replicas", _positive_int, "with --backend ray: Serve's autoscaling, at most N replicas (the "
           "jobs this app runs at once)", "N", default_text="none (a fixed number)"),
    Option("ray_gpus_per_replica", _non_negative_float, "with --backend ray: GPUs each replica takes (1 on GPU "
           "nodes; 0: CPU replicas)", "G"),
)


def _parse(option: Option, raw: str | list[str]) -> Any:
    if not option.repeatable:
        return option.parse(raw)
    items = raw if isinstance(raw, list) else raw.split(",")  # a flag per item, or one comma-separated variable
    if not any(item.strip() for item in items):
        raise ValueError("is empty")
    values = []
    for number, item in enumerate(items, 1):
        if not isinstance(raw, list) and not item.strip():
            continue  # a stray comma in the variable
        try:
            values.append(option.parse(item))
        except ValueError as e:
            raise ValueError(f"entry {number} {e}" if len(items) > 1 else str(e)) from e
    return tuple(values)


def _defaults(environ: Mapping[str, str]) -> Settings:
    return Settings(model_dir=default_model_dir(environ))


def build_parser(prog: str = "app.py", description: str | None = None) -> argparse.ArgumentParser:
    defaults = _defaults(os.environ)
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or "whisper-ui: a self-hosted speech-to-text web app (openai-whisper + Gradio).",
        epilog="Each flag has an environment variable; the flag wins over the variable.",
    )
    for option in OPTIONS:
        default = option.default_text or getattr(defaults, option.field)
        if isinstance(default, tuple):
            default = ",".join(default) or "all known models"
        help_text = f"{option.help} [env {option.env}; default: {default}]"
        if option.is_bool:
            parser.add_argument(option.flag, dest=option.field, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        elif option.repeatable:
            parser.add_argument(option.flag, dest=option.field, action="append", default=None,
                                metavar=option.metavar, help=help_text)
        else:
            parser.add_argument(option.flag, dest=option.field, default=None, metavar=option.metavar,
                                help=help_text)
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
                  parser: argparse.ArgumentParser | None = None) -> Settings:
    """Flags from ``argv`` win over ``WHISPER_UI_*`` variables from ``environ``."""
    environ = os.environ if environ is None else environ
    parser = parser or build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = getattr(args, option.field)
        source = option.flag
        if raw is None:
            raw = environ.get(option.env)
            source = option.env
        if raw is None:
            continue
        if isinstance(raw, bool):
            values[option.field] = raw
            continue
        try:
            values[option.field] = _parse(option, raw)
        except ValueError as e:
            reason = str(e) if not str(e).startswith(("invalid literal", "could not convert")) else "is not a number"
            shown = "" if option.secret else f"={raw!r}"
            raise ConfigError(f"{source}{shown}: {reason}") from e
    settings = _defaults(environ).replace(**values)
    if (settings.ssl_certfile is None) != (settings.ssl_keyfile is None):
        raise ConfigError("--ssl-certfile (WHISPER_UI_SSL_CERTFILE) and --ssl-keyfile (WHISPER_UI_SSL_KEYFILE) "
                          "go together: give both for HTTPS, or neither")
    users = {user for user, _ in settings.credentials}
    if users and (unknown := [a for a in settings.admin if a not in users]):
        raise ConfigError(f"--admin (WHISPER_UI_ADMINS) names {', '.join(map(repr, unknown))}, not a user of --auth "
                          "or --auth-file")
    if settings.ray_replicas is not None and (settings.ray_min_replicas, settings.ray_max_replicas) != (None, None):
        raise ConfigError("--ray-replicas (a fixed number) and --ray-min-replicas/--ray-max-replicas (autoscaling) "
                          "exclude each other: give one or the other")
    low, high = settings.replica_bounds
    if low > high:
        raise ConfigError(f"--ray-min-replicas {low} is more than --ray-max-replicas {high}")
    if settings.max_upload_disk_mb < settings.max_upload_mb:
        raise ConfigError(f"--max-upload-disk-mb (WHISPER_UI_MAX_UPLOAD_DISK_MB) {settings.max_upload_disk_mb} is less "
                          f"than --max-upload-mb {settings.max_upload_mb}: the largest upload would never fit")
    return settings


CACHE_VARIABLES = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE",
                   "PYTORCH_PRETRAINED_BERT_CACHE", "XDG_CACHE_HOME", "TORCH_HOME", "LOCALAPPDATA", "USERPROFILE",
                   "HOMEDRIVE", "HOMEPATH", "HOME")


def cache_environment() -> dict[str, str]:
    """The variables that locate the old model caches (for ``whisper_ui.models.hfcache``)."""
    return {name: os.environ[name] for name in CACHE_VARIABLES if name in os.environ}

"""``python -m whisper_ui ARGS`` for the many refusal cases of the model commands, without paying the
interpreter's and torch's start (about 3 s a command here, 2 s of it importing torch) each time.

One helper process imports what the conversions import, once, then forks a child per command: the
child is a fresh process as ``python -m whisper_ui`` would be after its imports (the same
``cli.main``, its own logging, stdout, stderr and exit code), under the same memory cap as
``conftest.memory_capped`` (the helper's address space plus ``headroom``), in the repository's folder.
A command that needs an outside observer of the whole process (strace) still runs as a subprocess.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_HELPER = r"""
import json, os, resource, sys, traceback
import numpy, safetensors, torch  # what every conversion imports: once, before any fork
from whisper_ui import cli

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

out = sys.stdout
sys.stdout = sys.stderr  # nothing but the replies on the pipe
for line in sys.stdin:
    job = json.loads(line)
    out.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, name in ((1, job["stdout"]), (2, job["stderr"])):
                os.dup2(os.open(name, os.O_WRONLY | os.O_TRUNC), fd)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            if job["headroom"] is not None:
                cap = vm_size() + job["headroom"]
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            sys.argv = ["whisper_ui", *job["args"]]
            try:
                code = cli.main(job["args"])
            except SystemExit as e:  # as the interpreter would exit
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else (print(e.code, file=sys.stderr) or 1))
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code or 0)
    _, status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(status)), file=out, flush=True)
"""

_lock = threading.Lock()
_helper: subprocess.Popen | None = None


def _start() -> subprocess.Popen:
    global _helper
    if _helper is None or _helper.poll() is not None:
        _helper = subprocess.Popen([sys.executable, "-c", _HELPER], cwd=ROOT, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        atexit.register(_helper.kill)
    return _helper


def run_cli(*args: str, headroom: int | None = 2 << 30, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m whisper_ui *args`` in a forked child; ``headroom``: bytes it may map beyond the helper's."""
    with _lock, tempfile.TemporaryDirectory() as folder:
        stdout, stderr = Path(folder, "stdout"), Path(folder, "stderr")
        stdout.touch()
        stderr.touch()
        helper = _start()
        helper.stdin.write(json.dumps({"args": list(args), "stdout": str(stdout), "stderr": str(stderr),
                                       "headroom": headroom}) + "\n")
        helper.stdin.flush()
        reply: list[str] = []
        reader = threading.Thread(target=lambda: reply.append(helper.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not reply or not reply[0]:
            helper.kill()
            raise subprocess.TimeoutExpired(["whisper_ui", *args], timeout)
        return subprocess.CompletedProcess(["whisper_ui", *args], json.loads(reply[0]), stdout.read_text(),
                                           stderr.read_text())

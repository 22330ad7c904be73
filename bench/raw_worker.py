"""The floor: openai-whisper in a plain process, nothing of the app imported.

One JSON command per stdin line, one JSON reply per stdout line:

- ``{"cmd": "load", "path": "tiny.en.pt"}``: free the last model, then ``whisper.load_model(path, "cpu")``;
- ``{"cmd": "transcribe", "audio": "x.wav", "kwargs": {...}}``: ``whisper.transcribe(model, path, **kwargs)``,
  from the file path, as a user of the library calls it (openai-whisper's own ffmpeg decode included);
- ``{"cmd": "threads", "threads": N}``: ``torch.set_num_threads(N)``.

Each reply carries the seconds the call took inside this process (and, for a
transcription, the CPU seconds, ffmpeg's included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (openai-whisper's ffmpeg)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    import torch
    import whisper

    if args.threads:
        torch.set_num_threads(args.threads)
    model = None

    def reply(**data) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    reply(ready=True, threads=torch.get_num_threads(), torch=torch.__version__)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "load":
                started = time.perf_counter()
                model = None  # a switch: the old model is freed first, as the app does
                model = whisper.load_model(command["path"], device="cpu")
                reply(seconds=time.perf_counter() - started)
            elif command["cmd"] == "transcribe":
                cpu = cpu_seconds()
                started = time.perf_counter()
                result = whisper.transcribe(model, command["audio"], **command["kwargs"])
                reply(seconds=time.perf_counter() - started, cpu_seconds=cpu_seconds() - cpu,
                      text=result["text"].strip())
            elif command["cmd"] == "threads":
                torch.set_num_threads(int(command["threads"]))
                reply(threads=torch.get_num_threads())
            else:
                reply(error=f"unknown command {command['cmd']!r}")
        except Exception as e:  # reported to the bench, which stops
            reply(error=f"{type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

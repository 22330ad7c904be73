# syntax=docker/dockerfile:1
# whisper-ui in a container. The GPU image is the default; the CPU image is a build argument away:
#
#   docker build -t whisper-ui .                               # GPU: PyPI's torch (CUDA 13.0 build)
#   docker build -t whisper-ui:cpu --build-arg VARIANT=cpu .   # CPU: torch from PyTorch's CPU index
#   docker build -t whisper-ui:base --build-arg BAKE_MODEL=base .   # a model inside, for offline hosts
#   docker run --gpus all -p 7860:7860 -v whisper-models:/models whisper-ui
#   docker build -t whisper-ui:ray --build-arg WITH_RAY=1 .    # + Ray Serve: a Ray head, worker or front (deploy/)
#
# torch's version comes from requirements.txt. PyPI's Linux torch==2.13.0 is the CUDA 13.0 build and
# brings its own CUDA libraries (cuda-toolkit 13.0.x, cuDNN, NCCL wheels), so the GPU image starts
# from the small nvidia/cuda *base* image of the same CUDA release: it adds only what the NVIDIA
# container toolkit needs to mount the host's driver (and NVIDIA_REQUIRE_CUDA, so a host whose driver
# is too old for CUDA 13.0 fails at `docker run` with a clear message). Both images use Python 3.12.
# Settings come from WHISPER_UI_* variables (`python app.py --help` lists them all).

ARG VARIANT=gpu
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-base-ubuntu24.04
ARG CPU_IMAGE=python:3.12-slim-bookworm

# --- GPU: Ubuntu 24.04 (Python 3.12) with the CUDA 13.0 driver hooks ---------------------------
# (DL3057: the HEALTHCHECK is in the app stage, built on this one)
# hadolint ignore=DL3057
FROM ${CUDA_IMAGE} AS runtime-gpu
# (DL3008: the release's current packages, with its security fixes; the base image's tag pins the release)
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
# CTranslate2 (--engine faster-whisper) is built for CUDA 12 and opens libcublas.so.12, which CUDA 13's
# torch does not bring: without it faster-whisper's first GPU job fails (seen on an H200). The app
# loads it from this wheel (whisper_ui/engines/faster.py, cublas_missing); ~580 MB, GPU image only.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt nvidia-cublas-cu12==12.9.3.13 \
 && rm /tmp/requirements.txt

# --- CPU: Debian 12 slim (Python 3.12), torch's CPU wheel ------------------------------------
# hadolint ignore=DL3057
FROM ${CPU_IMAGE} AS runtime-cpu
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
# openai-whisper requires triton on Linux x86_64: about 1 GB that only its CUDA kernels use. The CPU
# image installs whisper without its dependencies and its other requirements by name (their versions
# are left to the resolver, as in the GPU image, which gets them through openai-whisper).
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
      "$(grep -E '^torch==' /tmp/requirements.txt)" \
 && grep -v -E '^openai-whisper==' /tmp/requirements.txt > /tmp/requirements-cpu.txt \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements-cpu.txt more-itertools numba tiktoken \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps "$(grep -E '^openai-whisper==' /tmp/requirements.txt)" \
 && rm /tmp/requirements.txt /tmp/requirements-cpu.txt

# --- the app, the same for both ----------------------------------------------------------------
# (DL3006: runtime-gpu or runtime-cpu, a stage of this file)
# hadolint ignore=DL3006
FROM runtime-${VARIANT} AS app
RUN groupadd --system --gid 10001 whisper \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/whisper whisper \
 && mkdir -p /models /app/.gradio \
 && chown whisper:whisper /models /app/.gradio \
 && echo "export PATH=/opt/venv/bin:\$PATH" > /etc/profile.d/whisper-ui-venv.sh
# (the line above: KubeRay starts Ray with `bash -lc`, and Debian's /etc/profile resets PATH)
# WITH_RAY=1 adds Ray Serve (requirements-ray.txt, held to requirements.txt's pins), so that one image is
# the Ray head, the Ray workers and the front of a multi-replica deployment (deploy/README.md).
ARG WITH_RAY=0
COPY requirements.txt requirements-ray.txt /tmp/
# (pip takes no extras in a constraints file: gradio[mcp]==X is given as gradio==X)
RUN if [ "$WITH_RAY" = 1 ]; then \
      sed -E 's/\[[^]]*\]//' /tmp/requirements.txt > /tmp/constraints.txt \
      && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements-ray.txt -c /tmp/constraints.txt; \
    fi \
 && rm -f /tmp/requirements.txt /tmp/requirements-ray.txt /tmp/constraints.txt
WORKDIR /app
COPY app.py ./
COPY whisper_ui ./whisper_ui
USER 10001:10001

# Everything written at run time goes to /models (the volume) or /tmp, so the root filesystem can be
# read-only (docker run --read-only --tmpfs /tmp:exec; Triton loads the GPU kernels it compiles from
# /tmp); /app/.gradio is where Gradio keeps a share link's certificate.
ARG BAKE_MODEL=""
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_TEMP_DIR=/tmp/gradio \
    XDG_CACHE_HOME=/tmp/.cache \
    HF_HOME=/tmp/.cache/huggingface \
    NUMBA_CACHE_DIR=/tmp/.cache/numba \
    TRITON_CACHE_DIR=/tmp/.cache/triton \
    WHISPER_UI_HOST=0.0.0.0 \
    WHISPER_UI_PORT=7860 \
    WHISPER_UI_MODEL_DIR=/models \
    WHISPER_UI_MODEL=${BAKE_MODEL:-base}

# BAKE_MODEL=NAME downloads that official model into /models at build time (checked against its
# SHA-256 and read back) and makes it the default. A named volume mounted on /models for the first
# time starts with the image's copy; a bind mount hides it.
RUN if [ -n "$BAKE_MODEL" ]; then \
      python -c 'import os, sys; from pathlib import Path; from whisper_ui.models.sources import resolve_checkpoint; resolve_checkpoint(sys.argv[1], Path(os.environ["WHISPER_UI_MODEL_DIR"]))' "$BAKE_MODEL"; \
    fi

VOLUME ["/models"]
EXPOSE 7860
# Ready only once a model is loaded: the first start may download one, hence the long start period.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10m --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('WHISPER_UI_PORT', '7860') + '/readyz', timeout=8)"]
# The same command the tests start (tests/conftest.py APP_COMMAND).
CMD ["python", "app.py"]

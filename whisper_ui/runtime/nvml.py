"""The GPU's name and memory from NVIDIA's management library (NVML), through ctypes.

The faster-whisper engine allocates GPU memory in CTranslate2, outside torch,
and a process serving it never imports torch (~220 MB). NVML
(``libnvidia-ml.so.1``, installed with the driver) answers for the whole
device either way: the figure ``nvidia-smi`` shows. No package is needed.

The device is the one CUDA calls 0: the first entry of ``CUDA_VISIBLE_DEVICES``
(an index or a ``GPU-``/``MIG-`` UUID), else NVML's first GPU. With several
GPUs and no ``CUDA_VISIBLE_DEVICES``, CUDA orders them fastest first and NVML
by PCI bus; set ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` to make them agree.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from dataclasses import dataclass

log = logging.getLogger("whisper_ui.nvml")

_SUCCESS = 0


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


@dataclass(frozen=True)
class GpuMemory:
    name: str
    used_bytes: int
    total_bytes: int


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None  # no NVIDIA driver here
    try:
        if lib.nvmlInit_v2() != _SUCCESS:
            return None
    except AttributeError:
        return None
    return lib


def _handle(lib: ctypes.CDLL) -> ctypes.c_void_p | None:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    first = visible.split(",")[0].strip() if visible is not None else "0"
    if not first or first == "-1":
        return None  # CUDA_VISIBLE_DEVICES hides every GPU
    handle = ctypes.c_void_p()
    if first.startswith(("GPU-", "MIG-")):
        rc = lib.nvmlDeviceGetHandleByUUID(first.encode(), ctypes.byref(handle))
    elif first.isdigit():
        rc = lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(int(first)), ctypes.byref(handle))
    else:
        return None
    return handle if rc == _SUCCESS else None


def gpu_memory() -> GpuMemory | None:
    """The GPU's name and its used and total memory, or None without an NVIDIA GPU and driver."""
    lib = _library()
    if lib is None:
        return None
    try:
        handle = _handle(lib)
        if handle is None:
            return None
        name = ctypes.create_string_buffer(96)
        memory = _Memory()
        if lib.nvmlDeviceGetName(handle, name, ctypes.c_uint(len(name))) != _SUCCESS:
            return None
        if lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)) != _SUCCESS:
            return None
    except (AttributeError, OSError):  # an old or odd driver: no figures rather than an error on the Status tab
        log.debug("NVML did not answer", exc_info=True)
        return None
    return GpuMemory(name.value.decode(errors="replace"), int(memory.used), int(memory.total))

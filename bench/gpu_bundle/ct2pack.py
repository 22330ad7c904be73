"""Lossless packer for a CTranslate2 ``model.bin`` with float16 weights (numpy + lzma only).

``model.bin`` (CTranslate2 ``ModelSpec.save``, little-endian): u32 version, string spec name,
u32 revision (version >= 2), u32 variable count, then per variable: string name, u8 rank,
rank x u32 dims, u8 dtype, u32 byte count, bytes; then (version >= 5) u32 alias count and
(alias, target) string pairs. A string is a u16 length (NUL included) and its bytes.

The pack keeps every byte that is not float16 payload as it is ("meta", xz). Each float16
payload is split into byte planes: the high bytes (sign, exponent, 2 mantissa bits) of a
2-D (rows, cols) weight are stored column by column (a column shares one scale, so lzma's
adaptive coder learns it: 5.3 bits a value instead of 5.6 row by row), all of them xz; the
low bytes (the bottom of the mantissa, ~8.0 bits of entropy) are stored raw. Whisper's
sinusoidal encoder position table is stored as its XOR against numpy's sinusoids (98.9 %
of the values equal): the residual is mostly zeros. Unpacking checks the SHA-256 of the
whole file.

    python ct2pack.py pack model.bin out.ct2pack
    python ct2pack.py unpack out.ct2pack model.bin
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import struct
import sys
import time

import numpy as np

MAGIC = b"CT2PACK1"
FP16 = 4
_DTYPE_SIZES = {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}
PE_NAME = "encoder/position_encodings/encodings"


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """openai-whisper's ``sinusoids`` in numpy float32, as float16: the predictor of the encoder table."""
    increment = np.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2, dtype=np.float32)).astype(np.float32)
    t = np.arange(length, dtype=np.float32)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float16)


class _Reader:
    def __init__(self, data: bytes | memoryview):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise EOFError("unexpected end of data")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u(self, fmt: str) -> tuple[int, bytes]:
        raw = bytes(self.take(struct.calcsize("<" + fmt)))
        return struct.unpack("<" + fmt, raw)[0], raw

    def string(self) -> tuple[str, bytes]:
        n, raw = self.u("H")
        body = bytes(self.take(n))
        return body.rstrip(b"\0").decode("utf-8"), raw + body


def _walk(reader: _Reader, meta_out, on_fp16, on_other=None):
    """Walk a model.bin layout: header bytes go to ``meta_out``; ``on_fp16(name, shape, nbytes)`` gives or
    takes a float16 payload; other payloads are copied from ``reader`` to ``meta_out``."""
    version, raw = reader.u("I")
    meta_out(raw)
    if not 1 <= version <= 6:
        raise ValueError(f"not a CTranslate2 model.bin (binary version {version})")
    _, raw = reader.string()
    meta_out(raw)
    if version >= 2:
        _, raw = reader.u("I")
        meta_out(raw)
    count, raw = reader.u("I")
    meta_out(raw)
    for _ in range(count):
        name, raw = reader.string()
        meta_out(raw)
        rank, raw = reader.u("B")
        meta_out(raw)
        shape = []
        for _ in range(rank):
            d, raw = reader.u("I")
            meta_out(raw)
            shape.append(d)
        dtype, raw = reader.u("B")
        meta_out(raw)
        nbytes, raw = reader.u("I")
        meta_out(raw)
        if dtype == FP16:
            on_fp16(name, tuple(shape), nbytes)
        else:
            meta_out(bytes(reader.take(nbytes)))
    if version >= 5:
        aliases, raw = reader.u("I")
        meta_out(raw)
        for _ in range(2 * aliases):
            _, raw = reader.string()
            meta_out(raw)
    return version


def _as_2d(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) >= 2:
        return values.reshape(shape[0], -1)
    return values.reshape(1, -1)


def pack(model_bin: str, out: str, preset: int = 6) -> dict:
    data = open(model_bin, "rb").read()
    reader = _Reader(data)
    meta = bytearray()
    highs: list[bytes] = []
    lows: list[bytes] = []
    resid = b""
    layout: list[dict] = []

    def on_fp16(name, shape, nbytes):
        nonlocal resid
        values = np.frombuffer(bytes(reader.take(nbytes)), dtype="<u2")
        if name == PE_NAME and len(shape) == 2:
            predicted = sinusoids(*shape).view("<u2").ravel()
            residual = values ^ predicted
            resid = residual.tobytes()
            layout.append({"name": name, "mode": "pe-xor", "shape": list(shape),
                           "equal": float((residual == 0).mean())})
            return
        m = _as_2d(values, shape)
        highs.append(np.ascontiguousarray((m >> 8).astype(np.uint8).T).tobytes())
        lows.append((m & 0xFF).astype(np.uint8).tobytes())
        layout.append({"name": name, "mode": "planes", "shape": list(shape)})

    version = _walk(reader, meta.extend, on_fp16)
    meta.extend(bytes(reader.take(len(data) - reader.pos)))  # anything after the aliases, as it is
    streams = {
        "meta": lzma.compress(bytes(meta), preset=9),
        "high": lzma.compress(b"".join(highs), preset=preset),
        "low": b"".join(lows),
        "resid": lzma.compress(resid, preset=9),
    }
    header = {"format": 1, "version": version, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
              "streams": {}, "layout": layout}
    offset = 0
    for key, blob in streams.items():
        header["streams"][key] = {"offset": offset, "length": len(blob), "codec": "raw" if key == "low" else "xz"}
        offset += len(blob)
    head = json.dumps(header).encode()
    with open(out, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(head)) + head)
        for blob in streams.values():
            f.write(blob)
    return {"size": len(data), "packed": len(MAGIC) + 4 + len(head) + offset,
            **{k: len(v) for k, v in streams.items()}}


def unpack(packed: str, model_bin: str) -> dict:
    started = time.perf_counter()
    blob = open(packed, "rb").read()
    if blob[:8] != MAGIC:
        raise ValueError(f"{packed} is not a CT2PACK1 file")
    (hlen,) = struct.unpack("<I", blob[8:12])
    header = json.loads(blob[12:12 + hlen])
    body = memoryview(blob)[12 + hlen:]

    def stream(key):
        s = header["streams"][key]
        raw = body[s["offset"]:s["offset"] + s["length"]]
        return lzma.decompress(raw) if s["codec"] == "xz" else raw

    meta = _Reader(stream("meta"))
    high = _Reader(stream("high"))
    low = _Reader(stream("low"))
    resid = stream("resid")
    out = io.BytesIO()

    def on_fp16(name, shape, nbytes):
        count = nbytes // 2
        if name == PE_NAME and len(shape) == 2:
            residual = np.frombuffer(resid, dtype="<u2")
            values = residual ^ sinusoids(*shape).view("<u2").ravel()
            out.write(values.astype("<u2").tobytes())
            return
        rows = shape[0] if len(shape) >= 2 else 1
        cols = count // rows
        h = np.frombuffer(bytes(high.take(count)), dtype=np.uint8).reshape(cols, rows).T
        lo = np.frombuffer(bytes(low.take(count)), dtype=np.uint8).reshape(rows, cols)
        values = (h.astype("<u2") << 8) | lo
        out.write(np.ascontiguousarray(values).tobytes())

    _walk(meta, out.write, on_fp16)
    out.write(bytes(meta.take(len(meta.data) - meta.pos)))
    data = out.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != header["size"] or digest != header["sha256"]:
        raise ValueError(f"unpacked {len(data)} bytes with sha256 {digest}; expected {header['size']} bytes, "
                         f"{header['sha256']}")
    with open(model_bin, "wb") as f:
        f.write(data)
    return {"size": len(data), "sha256": digest, "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    cmd, src, dst = sys.argv[1:4]
    print(json.dumps(pack(src, dst) if cmd == "pack" else unpack(src, dst)))

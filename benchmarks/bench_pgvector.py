"""COPY BINARY encoding for pgvector columns against the ``pgvector`` package's per-row objects.

Data: the ``batch`` dataset (100,000 x 1024 float32, unit rows), as ``vector``, as ``halfvec`` (the
float32 rows, rounded by each side) and as ``bit`` (quantlib's ubinary codes of the rows).

- ``time_quantlib``: :func:`quantlib.stores.pgvector.iter_copy_binary`, every chunk of the stream built
  (the bytes a ``cursor.copy(...).write`` would send).
- ``time_pgvector_objects``: the same stream built the way code without quantlib does it: per row a
  ``Vector(row)`` / ``HalfVector(row)`` / ``Bit(row.tobytes())`` and its ``to_binary()``, each prefixed
  by the tuple's field count and the field length, joined a chunk of rows at a time.  ``setup`` checks
  that the two streams are byte for byte equal.
- ``track_speedup_vs_pgvector_objects``: their ratio, the two timed alternately (goal: at least 5x).
  quantlib's ``vector`` and ``halfvec`` values are written by the kernels of ``quantlib._kernels.wire``
  (``halfvec``: F16C's conversion where numba targets it; ``main()`` also times the integer kernel
  other CPUs run).

No server: the encoding alone is timed (sending it is the same bytes either way).
Run without asv (medians, and the ratios): ``python benchmarks/bench_pgvector.py``.
"""

from __future__ import annotations

import statistics
import struct
import time

import numpy as np

try:
    from .common import embeddings, speedup
except ImportError:  # run as a script
    from common import embeddings, speedup

import quantlib
from quantlib._kernels import wire
from quantlib.stores import pgvector as pg

TYPES = ["vector", "halfvec", "bit"]
_ROWS_PER_CHUNK = 1024


def _columns(kind: str, x: np.ndarray) -> np.ndarray:
    return quantlib.quantize(x, "ubinary") if kind == "bit" else x


def quantlib_stream(kind: str, data: np.ndarray):
    return pg.iter_copy_binary(data, types=[kind])


def objects_stream(kind: str, data: np.ndarray):
    """The COPY BINARY stream through pgvector's objects, one per row."""
    import pgvector

    make = {"vector": pgvector.Vector, "halfvec": pgvector.HalfVector,
            "bit": lambda row: pgvector.Bit(row.tobytes())}[kind]
    head = struct.Struct(">hi")
    yield pg.SIGNATURE + bytes(8)
    for start in range(0, data.shape[0], _ROWS_PER_CHUNK):
        parts = []
        for row in data[start:start + _ROWS_PER_CHUNK]:
            value = make(row).to_binary()
            parts.append(head.pack(1, len(value)))
            parts.append(value)
        yield b"".join(parts)
    yield b"\xff\xff"


def _consume(stream) -> int:
    size = 0
    for chunk in stream:
        size += len(chunk)
    return size


class CopyBinaryEncode:
    """Encode 100,000 x 1024 rows as a COPY BINARY stream."""

    params = TYPES
    param_names = ["type"]
    timeout = 1200
    number = 1
    repeat = (3, 7, 120.0)

    def setup(self, kind):
        self.data = _columns(kind, embeddings("batch"))
        few = self.data[:300]
        if b"".join(quantlib_stream(kind, few)) != b"".join(objects_stream(kind, few)):
            raise AssertionError(f"{kind}: quantlib's COPY stream differs from pgvector's objects'")

    def time_quantlib(self, kind):
        _consume(quantlib_stream(kind, self.data))

    def time_pgvector_objects(self, kind):
        _consume(objects_stream(kind, self.data))

    def peakmem_quantlib(self, kind):
        _consume(quantlib_stream(kind, self.data))

    def track_speedup_vs_pgvector_objects(self, kind):
        return speedup(lambda: _consume(quantlib_stream(kind, self.data)),
                       lambda: _consume(objects_stream(kind, self.data)), repeats=5, min_seconds=0.0)

    track_speedup_vs_pgvector_objects.unit = "x"


def _bits_kernel_stream(kind: str, data: np.ndarray) -> int:
    """The halfvec stream through the integer rounding kernel (what a CPU without F16C runs)."""
    chosen = wire.halfvec_be
    wire.halfvec_be = wire.halfvec_be_bits
    try:
        return _consume(quantlib_stream(kind, data))
    finally:
        wire.halfvec_be = chosen


def main() -> None:
    import os
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {cpu}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}; F16C kernel: {wire.F16C}")
    x = embeddings("batch")
    for kind in TYPES:
        data = _columns(kind, x)
        b = CopyBinaryEncode()
        b.setup(kind)
        runs = {"objects": lambda kind=kind, data=data: _consume(objects_stream(kind, data)),
                "quantlib": lambda kind=kind, data=data: _consume(quantlib_stream(kind, data))}
        if kind == "halfvec" and wire.F16C:
            _bits_kernel_stream(kind, data[:300])
            runs["integer kernel"] = lambda kind=kind, data=data: _bits_kernel_stream(kind, data)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(5):
            for name, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        med = {name: statistics.median(v) for name, v in times.items()}
        mq, mb = med["quantlib"], med["objects"]
        line = (f"{kind:8s} quantlib {mq * 1e3:8.1f} ms   pgvector objects {mb * 1e3:8.1f} ms   ratio {mb / mq:5.1f}x"
                f"   (quantlib min/max {min(times['quantlib']) * 1e3:.0f}/{max(times['quantlib']) * 1e3:.0f} ms)")
        if "integer kernel" in med:
            mi = med["integer kernel"]
            line += f"   integer kernel {mi * 1e3:.1f} ms, ratio {mb / mi:.1f}x"
        print(line)


if __name__ == "__main__":
    main()

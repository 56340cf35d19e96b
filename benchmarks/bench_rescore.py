"""Re-ranking external candidates (quantlib.rescore) beside the numpy gather + matmul + argsort a user writes.

- ``Rescore``: 1,000 float32 queries, 100 candidates each (as an ANN index
  returns them, 5% of them -1 padding), top-10 by dot product over
  100,000 x 384 float32 rows, and the same rows as float16.
  Baseline: ``X[cand]`` (a (1000, 100, 384) gather), ``einsum`` for the
  scores, a stable ``argsort`` and ``take_along_axis``; it ignores the
  padding (a row is scored for -1) and breaks ties by candidate position,
  not by id, so it does less than quantlib does.

- ``RescoreLarge``: the goal of issue 25, 1,000 queries x 100 candidates (uniform over the corpus, as
  an ANN's are), top-10 by dot product over 1,000,000 x 384 float32 rows, and over their int8 codes
  with a calibrated codec.  Baseline: the plain numpy loop, per query ``X[cand[i]]`` (decoded for
  int8: ``start + (code - low) * step``), ``@ q``, a stable ``argsort`` (goal: at least 2x).
  ``track_speedup_*_serial`` holds quantlib to one thread (``PARALLEL_MIN_WORK`` raised), the others
  let it split the queries over the machine's threads as it does by default.

Run without asv (medians and ratios): ``python benchmarks/bench_rescore.py``.
"""

from __future__ import annotations

import functools
import platform
import statistics
import time

import numpy as np

import quantlib
from quantlib._kernels import _config

try:
    from .common import speedup
except ImportError:  # run as a script
    from common import speedup


def numpy_rescore(Q: np.ndarray, cand: np.ndarray, X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather, score, sort: the plain numpy second stage."""
    gathered = X[cand].astype(np.float32, copy=False)
    scores = np.einsum("md,mcd->mc", Q, gathered)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(cand, order, 1)


class Rescore:
    """1,000 queries x 100 candidates, top-10, over 100,000 x 384 rows."""

    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self):
        rng = np.random.default_rng(20250807)
        self.X = rng.standard_normal((100_000, 384), dtype=np.float32)
        self.X16 = self.X.astype(np.float16)
        self.Q = rng.standard_normal((1_000, 384), dtype=np.float32)
        self.cand = rng.integers(0, 100_000, (1_000, 100))
        self.padded = self.cand.copy()
        self.padded[rng.random(self.cand.shape) < 0.05] = -1
        quantlib.rescore(self.Q[:2], self.padded[:2], self.X, 10, metric="dot")  # compile
        quantlib.rescore(self.Q[:2], self.padded[:2], self.X16, 10, metric="dot")

    def time_quantlib_float32(self):
        quantlib.rescore(self.Q, self.padded, self.X, 10, metric="dot")

    def time_quantlib_float16(self):
        quantlib.rescore(self.Q, self.padded, self.X16, 10, metric="dot")

    def time_numpy_gather_matmul_argsort_float32(self):
        numpy_rescore(self.Q, self.cand, self.X, 10)

    def time_numpy_gather_matmul_argsort_float16(self):
        numpy_rescore(self.Q, self.cand, self.X16, 10)

    def track_speedup_vs_numpy_float32(self):
        return speedup(lambda: quantlib.rescore(self.Q, self.padded, self.X, 10, metric="dot"),
                       lambda: numpy_rescore(self.Q, self.cand, self.X, 10), repeats=3)

    track_speedup_vs_numpy_float32.unit = "x"

    def track_speedup_vs_numpy_float16(self):
        return speedup(lambda: quantlib.rescore(self.Q, self.padded, self.X16, 10, metric="dot"),
                       lambda: numpy_rescore(self.Q, self.cand, self.X16, 10), repeats=3)

    track_speedup_vs_numpy_float16.unit = "x"


@functools.cache
def _large():
    rng = np.random.default_rng(20251207)
    X = rng.standard_normal((1_000_000, 384), dtype=np.float32)
    Q = rng.standard_normal((1_000, 384), dtype=np.float32)
    cand = rng.integers(0, len(X), (1_000, 100))
    codec = quantlib.ScalarCodec.fit(X[:100_000], "int8")
    return X, Q, cand, codec, codec.encode(X)


def numpy_loop(Q: np.ndarray, cand: np.ndarray, X: np.ndarray, k: int, codec=None) -> tuple[np.ndarray, np.ndarray]:
    """The second stage as a plain loop: per query gather its rows, (decode,) dot, stable argsort."""
    scores = np.empty((len(Q), k), np.float32)
    ids = np.empty((len(Q), k), np.int64)
    for i, (q, c) in enumerate(zip(Q, cand, strict=True)):
        rows = X[c]
        if codec is not None:
            rows = codec._start + (rows.astype(np.float32) - np.float32(codec._low)) * codec._step
        s = rows @ q
        order = np.argsort(-s, kind="stable")[:k]
        scores[i] = s[order]
        ids[i] = c[order]
    return scores, ids


class _Serial:
    """Within the block, quantlib scores on one thread."""

    def __enter__(self):
        self.saved = _config.PARALLEL_MIN_WORK
        _config.PARALLEL_MIN_WORK = 1 << 62

    def __exit__(self, *exc):
        _config.PARALLEL_MIN_WORK = self.saved


class RescoreLarge:
    """1,000 queries x 100 candidates, top-10 by dot, over 1,000,000 x 384 float32 rows or int8 codes."""

    timeout = 1200
    number = 1
    repeat = (3, 7, 120.0)

    def setup(self):
        self.X, self.Q, self.cand, self.codec, self.codes = _large()
        self.float32()
        self.int8()
        with _Serial():
            self.float32()

    def float32(self):
        return quantlib.rescore(self.Q, self.cand, self.X, 10, metric="dot")

    def int8(self):
        return quantlib.rescore(self.Q, self.cand, self.codes, 10, metric="dot", codec=self.codec)

    def numpy_float32(self):
        return numpy_loop(self.Q, self.cand, self.X, 10)

    def numpy_int8(self):
        return numpy_loop(self.Q, self.cand, self.codes, 10, self.codec)

    def time_quantlib_float32(self):
        self.float32()

    def time_quantlib_int8(self):
        self.int8()

    def time_numpy_loop_float32(self):
        self.numpy_float32()

    def time_numpy_loop_int8(self):
        self.numpy_int8()

    def track_speedup_vs_numpy_loop_float32(self):
        return speedup(self.float32, self.numpy_float32, repeats=5, min_seconds=0.0)

    def track_speedup_vs_numpy_loop_int8(self):
        return speedup(self.int8, self.numpy_int8, repeats=5, min_seconds=0.0)

    def track_speedup_vs_numpy_loop_float32_serial(self):
        with _Serial():
            return speedup(self.float32, self.numpy_float32, repeats=5, min_seconds=0.0)

    def track_speedup_vs_numpy_loop_int8_serial(self):
        with _Serial():
            return speedup(self.int8, self.numpy_int8, repeats=5, min_seconds=0.0)

    for _f in (track_speedup_vs_numpy_loop_float32, track_speedup_vs_numpy_loop_int8,
               track_speedup_vs_numpy_loop_float32_serial, track_speedup_vs_numpy_loop_int8_serial):
        _f.unit = "x"
    del _f


def _alternate(pairs: dict, repeats: int = 7) -> dict:
    """Median seconds of each callable, all timed in turn ``repeats`` times (the same load for each)."""
    times = {name: [] for name in pairs}
    for _ in range(repeats):
        for name, fn in pairs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    print(f"machine: {_cpu()}, {__import__('os').cpu_count()} cpus; numpy {np.__version__}")
    bench = Rescore()
    bench.setup()
    for name in sorted(n for n in dir(bench) if n.startswith("time_")):
        fn = getattr(bench, name)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        print(f"  {name[5:]:44s} {statistics.median(times) * 1e3:8.1f} ms")
    for name in sorted(n for n in dir(bench) if n.startswith("track_")):
        print(f"  {name:44s} {getattr(bench, name)():6.2f}x")
    large = RescoreLarge()
    large.setup()
    for kind in ("float32", "int8"):
        ql = getattr(large, kind)
        med = _alternate({"numpy loop": getattr(large, f"numpy_{kind}"), "quantlib": ql,
                          "quantlib serial": lambda ql=ql: _serial_call(ql)})
        base = med["numpy loop"]
        print(f"  1M x 384 {kind:8s} numpy loop {base * 1e3:7.1f} ms   quantlib {med['quantlib'] * 1e3:7.1f} ms "
              f"({base / med['quantlib']:.2f}x)   one thread {med['quantlib serial'] * 1e3:7.1f} ms "
              f"({base / med['quantlib serial']:.2f}x)")


def _serial_call(fn):
    with _Serial():
        return fn()


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()

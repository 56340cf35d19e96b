"""Re-ranking external candidates (quantlib.rescore) beside the numpy gather + matmul + argsort a user writes.

- ``Rescore``: 1,000 float32 queries, 100 candidates each (as an ANN index
  returns them, 5% of them -1 padding), top-10 by dot product over
  100,000 x 384 float32 rows, and the same rows as float16.
  Baseline: ``X[cand]`` (a (1000, 100, 384) gather), ``einsum`` for the
  scores, a stable ``argsort`` and ``take_along_axis``; it ignores the
  padding (a row is scored for -1) and breaks ties by candidate position,
  not by id, so it does less than quantlib does.

Run without asv (medians and ratios): ``python benchmarks/bench_rescore.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import quantlib

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


def main() -> None:
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


if __name__ == "__main__":
    main()

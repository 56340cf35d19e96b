"""Large-k search: the top-k heap beside numpy's selection of the same scores, in the same run.

Every search kernel keeps its best ``k`` rows in a bounded heap
(:mod:`quantlib._kernels.topk`): a row that gets in costs ``O(log k)``, and the
list is sorted once at the end, so the search stays near-linear in ``n`` for
any ``k``.  (Before, a sorted list took ``O(k)`` per row that got in: ``k = n``
over 200,000 bit rows took 22 s where a full sort of the scores takes 0.03 s.)

- ``LargeKHamming``: one query, 200,000 x 1024 bits, ``k`` in {10, 1000, n/10}.
- ``LargeKAscending``: one float32 query over 400,000 rows stored in ascending
  score order (every row enters the list: the worst case of a kept list),
  ``k`` in {10, 1000, n/10}.

Baselines: ``numpy_select`` is ``np.argpartition`` of the precomputed scores
plus a ``np.lexsort`` of the ``k`` kept (selection only: the floor quantlib's
fused search competes with), ``numpy_pairwise_select`` adds computing the
scores (``quantlib.pairwise``), which is what a user would otherwise write.
``track_ratio_to_numpy_pairwise_select`` is quantlib's time over that
baseline's, measured alternately in one process: near-linear means it stays
about flat as ``k`` grows.

Run without asv: ``python benchmarks/bench_topk.py [--threads N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import quantlib

try:
    from .common import speedup
except ImportError:  # run as a script: python benchmarks/bench_topk.py
    from common import speedup

N_BITS = 200_000
N_ASC = 400_000


def select_numpy(scores: np.ndarray, k: int, higher_is_better: bool = True) -> np.ndarray:
    """The ``k`` best indices of one row of scores, best first, ties to the lower index."""
    key = -scores.astype(np.float64) if higher_is_better else scores
    if k < key.size:
        top = np.argpartition(key, k - 1)[:k]
        # the k-th key may tie with rows outside: take the tied ones with the lowest ids
        kth = key[top].max()
        top = np.concatenate((np.flatnonzero(key < kth), np.flatnonzero(key == kth)))[:k]
    else:
        top = np.arange(key.size)
    return top[np.lexsort((top, key[top]))]


class LargeKHamming:
    """One query, top-k Hamming over 200,000 x 1024 bits."""

    params = [10, 1000, N_BITS // 10]
    param_names = ["k"]
    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, k):
        rng = np.random.default_rng(0)
        self.X = np.frombuffer(rng.bytes(N_BITS * 128), np.uint8).reshape(N_BITS, 128)
        self.q = self.X[:1].copy()
        self.scores = quantlib.pairwise(self.q, self.X, "hamming")[0]
        quantlib.search(self.q, self.X[:5000], min(k, 5000), metric="hamming")

    def time_quantlib(self, k):
        quantlib.search(self.q, self.X, k, metric="hamming")

    def time_numpy_select(self, k):
        select_numpy(self.scores, k, higher_is_better=False)

    def time_numpy_pairwise_select(self, k):
        select_numpy(quantlib.pairwise(self.q, self.X, "hamming")[0], k, higher_is_better=False)

    def track_ratio_to_numpy_pairwise_select(self, k):
        return 1.0 / speedup(lambda: quantlib.search(self.q, self.X, k, metric="hamming"),
                             lambda: self.time_numpy_pairwise_select(k), repeats=3)

    track_ratio_to_numpy_pairwise_select.unit = "x"


class LargeKAscending:
    """One float32 query over 400,000 x 64 rows stored in ascending score order."""

    params = [10, 1000, N_ASC // 10]
    param_names = ["k"]
    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, k):
        self.X = np.zeros((N_ASC, 64), np.float32)
        self.X[:, 0] = np.linspace(0.0, 1.0, N_ASC, dtype=np.float32)
        self.X[:, 1] = 1.0
        self.q = np.zeros((1, 64), np.float32)
        self.q[0, 0] = 1.0
        self.scores = quantlib.pairwise(self.q, self.X, "dot")[0]
        quantlib.search(self.q, self.X[:5000], min(k, 5000), metric="dot")

    def time_quantlib(self, k):
        quantlib.search(self.q, self.X, k, metric="dot")

    def time_numpy_select(self, k):
        select_numpy(self.scores, k)

    def time_numpy_pairwise_select(self, k):
        select_numpy(quantlib.pairwise(self.q, self.X, "dot")[0], k)

    def track_ratio_to_numpy_pairwise_select(self, k):
        return 1.0 / speedup(lambda: quantlib.search(self.q, self.X, k, metric="dot"),
                             lambda: self.time_numpy_pairwise_select(k), repeats=3)

    track_ratio_to_numpy_pairwise_select.unit = "x"


def _median(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        quantlib.set_num_threads(args.threads)
    for cls in (LargeKHamming, LargeKAscending):
        for k in cls.params:
            bench = cls()
            bench.setup(k)
            want = select_numpy(bench.scores, k, higher_is_better=cls is LargeKAscending)
            got = quantlib.search(bench.q, bench.X, k, metric="hamming" if cls is LargeKHamming else "dot")[1][0]
            assert np.array_equal(got, want), (cls.__name__, k)
            row = {n[5:]: _median(lambda n=n, b=bench, k=k: getattr(b, n)(k), args.repeat)
                   for n in dir(bench) if n.startswith("time_")}
            cells = "  ".join(f"{name} {t * 1e3:9.1f} ms" for name, t in row.items())
            print(f"{cls.__name__:16s} k={k:<6d} {cells}  ratio {row['quantlib'] / row['numpy_pairwise_select']:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()

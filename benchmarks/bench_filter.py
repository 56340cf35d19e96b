"""Filtered search (``allow=``) beside what a user writes without it: copy the allowed rows, search the copy.

- ``Filter``: 1 and 16 float32 queries, top-10 by cosine over 200,000 x 384
  float32 rows and their int8 codes, with two filters of half the rows: a
  *blocky* one (runs of 5,000 rows, as a tenant or date range gives) and a
  *random* one (each row with probability 1/2).  Baseline: ``X[mask]`` then
  :func:`quantlib.search` of the copy, ids mapped back (the copy is the cost
  ``allow=`` avoids); and the unfiltered search, the floor.

Run without asv (medians and ratios): ``python benchmarks/bench_filter.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import quantlib


def _filters(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    blocky = (np.arange(n) // 5_000) % 2 == 0
    return {"blocky": blocky, "random": rng.random(n) < 0.5}


class Filter:
    """1 and 16 queries, top-10, over 200,000 x 384 float32 and int8 rows, half of them allowed."""

    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)
    params = (["float32", "int8"], ["blocky", "random"], [1, 16])
    param_names = ["format", "filter", "queries"]

    def setup(self, fmt, flt, nq):
        rng = np.random.default_rng(20251207)
        x = rng.standard_normal((200_000, 384), dtype=np.float32)
        self.kw = {}
        if fmt == "int8":
            codec = quantlib.ScalarCodec.fit(x[:10_000], "int8")
            x = codec.encode(x)
            self.kw = {"codec": codec}
        self.X = x
        self.Q = rng.standard_normal((nq, 384), dtype=np.float32)
        self.mask = _filters(x.shape[0], rng)[flt]
        self.rows = np.flatnonzero(self.mask)
        quantlib.search(self.Q, self.X, 10, allow=self.mask, **self.kw)  # compile

    def time_allow(self, fmt, flt, nq):
        quantlib.search(self.Q, self.X, 10, allow=self.mask, **self.kw)

    def time_copy_then_search(self, fmt, flt, nq):
        _, ids = quantlib.search(self.Q, self.X[self.mask], 10, **self.kw)
        self.rows[ids]

    def time_unfiltered(self, fmt, flt, nq):
        quantlib.search(self.Q, self.X, 10, **self.kw)


def _median(f, repeat=7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    for fmt, flt, nq in [(f, g, n) for f in Filter.params[0] for g in Filter.params[1] for n in Filter.params[2]]:
        b = Filter()
        b.setup(fmt, flt, nq)
        args = (fmt, flt, nq)
        allow = _median(lambda b=b, args=args: b.time_allow(*args))
        copy = _median(lambda b=b, args=args: b.time_copy_then_search(*args))
        full = _median(lambda b=b, args=args: b.time_unfiltered(*args))
        print(f"{fmt:8} {flt:7} {nq:3} queries: allow {allow * 1e3:7.2f} ms, copy+search {copy * 1e3:7.2f} ms "
              f"({copy / allow:4.2f}x), unfiltered {full * 1e3:7.2f} ms")

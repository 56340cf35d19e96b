"""Filtered search (``allow=``) beside the unfiltered scan and what a user writes without it.

- ``Filter``: 1 and 16 float32 queries, top-10 by cosine over 200,000 x 384
  rows stored as float32, float16, int8 codes (with their codec) and ubinary
  bits, with filters of half and of one in a hundred rows: *blocky* ones (runs
  of 5,000 rows at 50%; runs of 500 rows, one every 50,000, at 1%: what a tenant
  or a date range gives) and *random* ones (each row with that probability).
  Baselines: the unfiltered search, measured in the same run (issue 25's goals:
  at 1% at least 20x faster than it, at 50% no slower); and ``X[mask]`` then
  :func:`quantlib.search` of the copy, ids mapped back (the copy is the cost
  ``allow=`` avoids).

Run without asv (medians and ratios): ``python benchmarks/bench_filter.py [FORMAT ...]``;
set ``NUMBA_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` for the thread count.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time

import numpy as np

import quantlib

N, D = 200_000, 384
#: (run length, period) of the blocky filter at each share of allowed rows
BLOCKY = {0.5: (5_000, 10_000), 0.01: (500, 50_000)}


@functools.cache
def _data(fmt: str) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(20251207)
    x = rng.standard_normal((N, D), dtype=np.float32)
    if fmt == "float16":
        return x.astype(np.float16), {}
    if fmt == "int8":
        codec = quantlib.ScalarCodec.fit(x[:10_000], "int8")
        return codec.encode(x), {"codec": codec}
    if fmt == "ubinary":
        return quantlib.quantize(x, "ubinary"), {"precision": "ubinary"}
    return x, {}


def _filter(kind: str, share: float, n: int) -> np.ndarray:
    if kind == "blocky":
        run, period = BLOCKY[share]
        return np.arange(n) % period < run
    return np.random.default_rng(20251208).random(n) < share


class Filter:
    """1 and 16 queries, top-10, over 200,000 x 384 rows in four formats, 50% or 1% of them allowed."""

    timeout = 900
    number = 1
    repeat = (3, 7, 60.0)
    params = (["float32", "float16", "int8", "ubinary"], ["blocky", "random"], [0.5, 0.01], [1, 16])
    param_names = ["format", "filter", "share", "queries"]

    def setup(self, fmt, flt, share, nq):
        self.X, self.kw = _data(fmt)
        self.Q = np.random.default_rng(nq).standard_normal((nq, D), dtype=np.float32)
        self.mask = _filter(flt, share, N)
        self.rows = np.flatnonzero(self.mask)
        quantlib.search(self.Q, self.X, 10, allow=self.mask, **self.kw)  # compile
        quantlib.search(self.Q, self.X, 10, **self.kw)

    def time_allow(self, fmt, flt, share, nq):
        quantlib.search(self.Q, self.X, 10, allow=self.mask, **self.kw)

    def time_copy_then_search(self, fmt, flt, share, nq):
        _, ids = quantlib.search(self.Q, self.X[self.mask], 10, **self.kw)
        self.rows[ids]

    def time_unfiltered(self, fmt, flt, share, nq):
        quantlib.search(self.Q, self.X, 10, **self.kw)


def _medians(fns: dict, repeat: int = 7) -> dict:
    """Median wall and CPU seconds of each function, called in turn (so all see the same machine load).

    The CPU time (``time.process_time``: all threads of the process) is reported beside the wall
    time because the machine these were measured on is shared: a busy neighbour stretches the wall
    time of a call, not the CPU time it takes.
    """
    wall: dict = {name: [] for name in fns}
    cpu: dict = {name: [] for name in fns}
    for _ in range(repeat):
        for name, f in fns.items():
            t, c = time.perf_counter(), time.process_time()
            f()
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - t)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in fns}


if __name__ == "__main__":
    import numba

    formats = sys.argv[1:] or Filter.params[0]
    print(f"numba threads {numba.get_num_threads()}; medians of wall [CPU] ms; ratios unfiltered / allow "
          "(goal: >= 20 at 1%, >= 1 at 50%) and copy+search / allow, wall [CPU]")
    for fmt in formats:
        for flt in Filter.params[1]:
            for share in Filter.params[2]:
                for nq in Filter.params[3]:
                    b = Filter()
                    args = (fmt, flt, share, nq)
                    b.setup(*args)
                    m = _medians({"allow": lambda b=b, a=args: b.time_allow(*a),
                                  "copy": lambda b=b, a=args: b.time_copy_then_search(*a),
                                  "full": lambda b=b, a=args: b.time_unfiltered(*a)})
                    (aw, ac), (fw, fc), (cw, cc) = m["allow"], m["full"], m["copy"]
                    print(f"{fmt:8} {flt:6} {share:4} {nq:2}q: allow {aw * 1e3:8.2f} [{ac * 1e3:8.2f}]  "
                          f"unfiltered {fw * 1e3:8.2f} [{fc * 1e3:8.2f}] {fw / aw:6.2f}x [{fc / ac:6.2f}x]  "
                          f"copy+search {cw * 1e3:8.2f} [{cc * 1e3:8.2f}] {cw / aw:5.2f}x [{cc / ac:5.2f}x]",
                          flush=True)

"""Batched top-10 search (quantlib.search) beside numpy/BLAS baselines, in the same run.

- ``HammingSearch``: 100 queries, top-10 over 1,000,000 x 1024-bit codes.
  Goal: at least as fast as faiss ``IndexBinaryFlat`` (about 0.4 s on one
  thread on a quiet machine here), aiming for 1.3x.  faiss is not a
  dependency: ``python benchmarks/bench_search.py --peers`` compares by hand
  when ``faiss-cpu`` is installed.  The asv baseline is the numpy sum of the
  same bytes, i.e. the memory-bandwidth floor of one pass.
- ``FloatSearch``: 100 float32 queries over 200,000 x 1024 float32 rows (dot; and
  sqeuclidean, the same BLAS scan with a per-row term in the epilogue).
  Baseline: numpy BLAS ``Q @ X.T`` then ``argpartition`` and a sort of the 10
  (memory ``100 x 200,000`` scores; quantlib's is bounded).  Goal: within 1.2x.
- ``Int8Search``: 100 queries over 200,000 x 1024 int8 codes: the exact integer
  dot of codes, and float32 queries against calibrated (dequantized) codes, with
  and without the int16 first stage (same results).
  Baseline: int8 -> float32 conversion + BLAS + argpartition, block by block.
  ``--peers`` adds faiss ``IndexScalarQuantizer`` (QT_8bit_direct_signed),
  NumKong ``dots_packed`` (i8, then the same argpartition) and usearch's exact
  ``i8`` search, whichever are installed.
- ``SignsSearch``: float32 queries against +1/-1 bits versus the Hamming
  search of the same codes (200,000 x 1024 bits, 100 queries), and the same
  search by the float tables alone (without the int16 first stage; same
  results), so a new machine shows what the first stage gains there; and 1, 4
  and 16 queries over 1,000,000 x 1024 bits (1 to 4 take the bit-plane first
  stage; ``*_1m_*``), each time over the Hamming search of the same queries.

Data are seeded (``rng.bytes``, ``standard_normal``: a few seconds at most);
kernels are compiled in ``setup``.  Run without asv (medians and ratios):
``python benchmarks/bench_search.py [--peers] [--threads N] [--only CLASS]``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np

import quantlib
import quantlib._kernels._config

try:
    from .common import speedup
except ImportError:  # run as a script: python benchmarks/bench_search.py
    from common import speedup


def bit_codes(n: int, nbytes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.frombuffer(rng.bytes(n * nbytes), np.uint8).reshape(n, nbytes)


def float_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)


def top10_numpy(scores: np.ndarray) -> np.ndarray:
    """Indices of the 10 highest scores per row, best first (argpartition + sort)."""
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


class HammingSearch:
    """100 queries, top-10 Hamming over 1,000,000 x 1024 bits."""

    timeout = 900
    number = 1
    repeat = (3, 7, 120.0)

    def setup(self):
        self.X = bit_codes(1_000_000, 128)
        self.Q = self.X[np.random.default_rng(1).integers(0, self.X.shape[0], 100)].copy()
        quantlib.search(self.Q[:8], self.X[:50_000], 10, metric="hamming")

    def time_quantlib(self):
        quantlib.search(self.Q, self.X, 10, metric="hamming")

    def time_numpy_sum_same_bytes(self):
        self.X.view(np.uint64).sum()

    def peakmem_quantlib(self):
        quantlib.search(self.Q, self.X, 10, metric="hamming")


class FloatSearch:
    """100 float32 queries, top-10 over 200,000 x 1024 float32."""

    timeout = 900
    number = 1
    repeat = (3, 7, 120.0)

    def setup(self):
        self.X = float_rows(200_000, 1024)
        self.Q = float_rows(100, 1024, seed=1)
        quantlib.search(self.Q, self.X[:20_000], 10, metric="dot")
        quantlib.search(self.Q, self.X[:20_000], 10, metric="sqeuclidean")

    def time_quantlib(self):
        quantlib.search(self.Q, self.X, 10, metric="dot")

    def time_quantlib_sqeuclidean(self):
        """The squared Euclidean distance (faiss IndexFlatL2's metric): the same scan plus a per-row term."""
        quantlib.search(self.Q, self.X, 10, metric="sqeuclidean")

    def time_numpy_blas_argpartition(self):
        top10_numpy(self.Q @ self.X.T)

    def peakmem_quantlib(self):
        quantlib.search(self.Q, self.X, 10, metric="dot")

    def peakmem_numpy_blas_argpartition(self):
        top10_numpy(self.Q @ self.X.T)

    def track_speedup_vs_blas_argpartition(self):
        """Goal: at least 1 / 1.2 = 0.83."""
        return speedup(lambda: quantlib.search(self.Q, self.X, 10, metric="dot"),
                       lambda: top10_numpy(self.Q @ self.X.T), repeats=3)

    track_speedup_vs_blas_argpartition.unit = "x"


class Int8Search:
    """100 queries, top-10 over 200,000 x 1024 int8 codes."""

    timeout = 900
    number = 1
    repeat = (3, 7, 120.0)

    def setup(self):
        x = float_rows(200_000, 1024)
        self.codec = quantlib.ScalarCodec("int8", np.vstack([np.full(1024, -4.0), np.full(1024, 4.0)]))
        self.C = self.codec.encode(x)
        del x
        self.Qf = float_rows(100, 1024, seed=1)
        self.Qc = self.codec.encode(self.Qf)
        quantlib.search(self.Qc, self.C[:20_000], 10, metric="dot", precision="int8")
        quantlib.search(self.Qf, self.C[:20_000], 10, metric="dot", codec=self.codec)

    def time_quantlib_codes(self):
        quantlib.search(self.Qc, self.C, 10, metric="dot", precision="int8")

    def time_quantlib_dequantized(self):
        quantlib.search(self.Qf, self.C, 10, metric="dot", codec=self.codec)

    def time_quantlib_dequantized_float_kernels_alone(self):
        with _float_kernels_alone():
            quantlib.search(self.Qf, self.C, 10, metric="dot", codec=self.codec)

    def time_numpy_convert_blas_argpartition(self):
        self._numpy()

    def _numpy(self):
        Q = self.Qc.astype(np.float32)
        scores = np.empty((Q.shape[0], self.C.shape[0]), np.float32)
        for s in range(0, self.C.shape[0], 8192):
            scores[:, s:s + 8192] = Q @ self.C[s:s + 8192].astype(np.float32).T
        return top10_numpy(scores)

    def track_speedup_vs_numpy(self):
        return speedup(lambda: quantlib.search(self.Qc, self.C, 10, metric="dot", precision="int8"),
                       self._numpy, repeats=3)

    track_speedup_vs_numpy.unit = "x"


class SignsSearch:
    """float32 queries against +1/-1 bits, beside the Hamming search of the same codes."""

    timeout = 900
    number = 1
    repeat = (3, 7, 120.0)

    def setup(self):
        self.X = bit_codes(200_000, 128)
        self.Qf = float_rows(100, 1024, seed=1)
        self.Qb = quantlib.quantize(self.Qf, "ubinary")
        quantlib.search(self.Qf[:32], self.X[:20_000], 10, metric="dot", precision="ubinary")  # the int16 stage
        quantlib.search(self.Qf[:8], self.X[:20_000], 10, metric="dot", precision="ubinary")  # the float tables
        quantlib.search(self.Qb[:8], self.X[:20_000], 10, metric="hamming")

    def time_quantlib_float_vs_bits(self):
        quantlib.search(self.Qf, self.X, 10, metric="dot", precision="ubinary")

    def time_quantlib_hamming(self):
        quantlib.search(self.Qb, self.X, 10, metric="hamming")

    def time_quantlib_float_tables_alone(self):
        with _float_tables_alone():
            quantlib.search(self.Qf, self.X, 10, metric="dot", precision="ubinary")

    def track_cost_relative_to_hamming(self):
        """float-query-against-bits time over Hamming time (the issue's goal: at most 3; see docs/search.md)."""
        return speedup(lambda: quantlib.search(self.Qb, self.X, 10, metric="hamming"),
                       lambda: quantlib.search(self.Qf, self.X, 10, metric="dot", precision="ubinary"),
                       repeats=3)

    track_cost_relative_to_hamming.unit = "x"

    # Issue 24's case: 1, 4 and 16 float queries over 1,000,000 x 1024 bits, where 1 to
    # PLANES_MAX_QUERIES queries take the bit-plane first stage (goal: at most 3x Hamming).

    def _big(self):
        if not hasattr(self, "Xbig"):
            self.Xbig = bit_codes(1_000_000, 128, seed=3)
            quantlib.search(self.Qf[:1], self.Xbig[:20_000], 10, metric="dot", precision="ubinary")  # the planes
        return self.Xbig

    def _ratio_big(self, nq: int) -> float:
        X = self._big()
        return speedup(lambda: quantlib.search(self.Qb[:nq], X, 10, metric="hamming"),
                       lambda: quantlib.search(self.Qf[:nq], X, 10, metric="dot", precision="ubinary"),
                       repeats=3)

    def time_quantlib_float_vs_bits_1m_1q(self):
        quantlib.search(self.Qf[:1], self._big(), 10, metric="dot", precision="ubinary")

    def time_quantlib_float_vs_bits_1m_16q(self):
        quantlib.search(self.Qf[:16], self._big(), 10, metric="dot", precision="ubinary")

    def time_quantlib_hamming_1m_1q(self):
        quantlib.search(self.Qb[:1], self._big(), 10, metric="hamming")

    def time_quantlib_float_tables_alone_1m_1q(self):
        with _without_first_stage("PLANES_MAX_QUERIES", 0):
            quantlib.search(self.Qf[:1], self._big(), 10, metric="dot", precision="ubinary")

    def track_cost_relative_to_hamming_1m_1q(self):
        """1 float query over 1M x 1024 bits, time over Hamming time (issue 24's goal: at most 3)."""
        return self._ratio_big(1)

    def track_cost_relative_to_hamming_1m_4q(self):
        return self._ratio_big(4)

    def track_cost_relative_to_hamming_1m_16q(self):
        return self._ratio_big(16)

    track_cost_relative_to_hamming_1m_1q.unit = "x"
    track_cost_relative_to_hamming_1m_4q.unit = "x"
    track_cost_relative_to_hamming_1m_16q.unit = "x"


@contextlib.contextmanager
def _without_first_stage(threshold: str, off: int = 1 << 62):
    """Search with the first stage named by its batch threshold switched off (the same results)."""
    before = getattr(quantlib._kernels._config, threshold)
    setattr(quantlib._kernels._config, threshold, off)
    try:
        yield
    finally:
        setattr(quantlib._kernels._config, threshold, before)


def _float_tables_alone():
    """Float queries against bits by the float tables alone."""
    return _without_first_stage("WIDE_MIN_QUERIES")


def _float_kernels_alone():
    """Float queries against int8 codes by the float kernels alone."""
    return _without_first_stage("DENSE_WIDE_MIN_QUERIES")


def _median(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peer_extras(bench) -> dict:
    """Peers' timings for the by-hand comparison: whichever of faiss, NumKong and usearch is installed.

    None of them is a dependency and no test imports them.  Index building and
    packing happen here, outside the timings; a peer without a fused top-k
    (NumKong) is timed with the same ``argpartition`` as the numpy baseline.
    """
    extras: dict = {}
    threads = quantlib.get_num_threads()
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:
        faiss = None
    try:
        import numkong
    except ImportError:
        numkong = None
    try:
        from usearch.index import MetricKind
        from usearch.index import search as usearch_search
    except ImportError:
        usearch_search = None
    if isinstance(bench, HammingSearch) and faiss is not None:
        index = faiss.IndexBinaryFlat(bench.X.shape[1] * 8)
        index.add(bench.X)
        extras["faiss_IndexBinaryFlat"] = lambda: index.search(bench.Q, 10)
    if isinstance(bench, Int8Search):
        d = bench.C.shape[1]
        if faiss is not None:
            sq = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit_direct_signed,
                                            faiss.METRIC_INNER_PRODUCT)
            sq.train(np.zeros((1, d), np.float32))
            sq.add(bench.C.astype(np.float32))
            qf = bench.Qc.astype(np.float32)
            extras["faiss_IndexScalarQuantizer"] = lambda: sq.search(qf, 10)
        if numkong is not None:
            packed = numkong.dots_pack(bench.C, dtype="int8")
            extras["numkong_dots_packed_argpartition"] = (
                lambda: top10_numpy(np.asarray(numkong.dots_packed(bench.Qc, packed))))
        if usearch_search is not None:
            extras["usearch_exact_i8"] = lambda: usearch_search(bench.C, bench.Qc, 10, MetricKind.IP,
                                                                exact=True, threads=threads)
    if isinstance(bench, FloatSearch):
        if faiss is not None:
            flat = faiss.IndexFlatIP(bench.X.shape[1])
            flat.add(bench.X)
            extras["faiss_IndexFlatIP"] = lambda: flat.search(bench.Q, 10)
        if numkong is not None:
            packed_f = numkong.dots_pack(bench.X, dtype="float32")
            extras["numkong_dots_packed_argpartition"] = (
                lambda: top10_numpy(np.asarray(numkong.dots_packed(bench.Q, packed_f))))
    return extras


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", "--faiss", action="store_true",
                        help="also time faiss, NumKong and usearch where installed (never dependencies)")
    parser.add_argument("--threads", type=int, default=None, help="quantlib (and faiss) threads")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=None, help="run one class, e.g. HammingSearch")
    args = parser.parse_args()
    if args.threads:
        quantlib.set_num_threads(args.threads)
    for cls in (HammingSearch, FloatSearch, Int8Search, SignsSearch):
        if args.only and cls.__name__ != args.only:
            continue
        bench = cls()
        bench.setup()
        fns = {n[5:]: getattr(bench, n) for n in dir(bench) if n.startswith("time_")}
        tracks = {n: getattr(bench, n)() for n in dir(bench) if n.startswith("track_")}
        if args.peers:
            fns.update(_peer_extras(bench))
        medians = {name: _median(fn, args.repeat) for name, fn in fns.items()}
        base_name = min(n for n in medians if n.startswith("quantlib"))
        base = medians[base_name]
        print(f"{cls.__name__} (threads={quantlib.get_num_threads()}), medians of {args.repeat}:")
        for name, t in medians.items():
            print(f"  {name:36s} {t:8.3f} s   {t / base:6.2f}x of {base_name}")
        for name, value in tracks.items():
            print(f"  {name:44s} {value:6.2f}")


if __name__ == "__main__":
    main()

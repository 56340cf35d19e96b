"""Rotated low-bit codes: encoding beside numpy doing the same arithmetic, and the float-query scan.

Goals (issue "Rotated low-bit codecs"): encoding 100,000 x 1024, rotation included, >= 5x numpy; the 4-bit
float-query scan of 1,000,000 x 1024 no slower than today's int8 asymmetric (dequantized) search of the same
vectors, 2 and 1 bits faster still; and every codec >= 2x faster per query than faiss's RaBitQ of the same bits.
The scan is timed on one thread (``quantlib.set_num_threads(1)``), as the goals are stated; run with
``NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` and ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``.
On a shared machine, compare CPU times (``time.process_time``) too: wall-clock ratios drift with the load.
"""

from __future__ import annotations

import numpy as np

import quantlib
from quantlib._kernels import lowbit as K
from quantlib.codecs.rotated import RotatedCodec
from quantlib.sample import load_sample

from .common import embeddings, speedup

PRECISIONS = ["rotated4", "rotated2", "rotated1"]


def numpy_rotate(x: np.ndarray, codec: RotatedCodec) -> np.ndarray:
    """The rotation as numpy would write it: the same float32 steps, whole-matrix at a time."""
    D, B = codec.padded_dim, codec._block
    v = np.zeros((len(x), D), np.float32)
    v[:, : x.shape[1]] = x - codec.mean
    for signs, perm in zip(codec._signs, codec._perms, strict=True):
        v *= signs
        h = 1
        while h < B:
            pairs = v.reshape(len(v), D // (2 * h), 2, h)
            a = pairs[:, :, 0, :].copy()
            pairs[:, :, 0, :] += pairs[:, :, 1, :]
            pairs[:, :, 1, :] = a - pairs[:, :, 1, :]
            h *= 2
        v *= codec._scale
        v = v[:, perm]
    return v


def numpy_encode(x: np.ndarray, codec: RotatedCodec) -> np.ndarray:
    """Rotation, the same grid search (``GRID`` + ``REFINE`` candidates) and packing, in numpy."""
    r = numpy_rotate(x, codec).astype(np.float64)
    bits, L = codec.bits, (1 << codec.bits) - 1
    a = np.abs(r)
    sign = np.where(r >= 0, 1.0, -1.0)
    rr = (r * r).sum(1)
    if bits == 1:
        w = 0.5 * sign
    else:
        amax = a.max(1, keepdims=True)
        lo, hi = (L / 2 - 0.5) / amax, 3.5 * (L / 2 + 0.5) / amax
        best_val, best_t = np.full(len(r), -1.0), lo
        ratio = (hi / lo) ** (1.0 / (K.GRID - 1))

        def consider(t, best_val, best_t):
            m = np.minimum(np.floor(a * t) + 0.5, L / 2)
            val = (a * m).sum(1) ** 2 / (m * m).sum(1)
            take = val > best_val
            return np.where(take, val, best_val), np.where(take[:, None], t, best_t)

        for g in range(K.GRID):
            best_val, best_t = consider(lo * ratio**g, best_val, best_t)
        start, step = best_t / ratio, (best_t * ratio - best_t / ratio) / (K.REFINE - 1)
        for g in range(K.REFINE):
            best_val, best_t = consider(start + g * step, best_val, best_t)
        w = np.minimum(np.floor(a * best_t) + 0.5, L / 2) * sign
    f = (rr / (r * w).sum(1)).astype("<f4")
    u = (w + L / 2).astype(np.uint8)
    if bits == 1:
        packed = np.packbits(u, axis=1)
    else:
        per = 8 // bits
        nb = codec.padded_dim // per
        packed = np.zeros((len(u), nb), np.uint8)
        for m in range(per):
            packed |= u[:, m * nb:(m + 1) * nb] << (m * bits)
    return np.concatenate([packed, f.view(np.uint8).reshape(-1, 4)], axis=1)


class RotatedEncode:
    """Encoding the 100,000 x 1024 batch (rotation included), one thread, beside numpy's same arithmetic."""

    params = PRECISIONS
    param_names = ["precision"]
    timeout = 900

    def setup(self, precision):
        self.x = embeddings("batch")
        self.codec = RotatedCodec.fit(self.x[:10_000], precision)
        self.threads = quantlib.get_num_threads()
        quantlib.set_num_threads(1)
        self.codec.encode(self.x[:100])

    def teardown(self, precision):
        quantlib.set_num_threads(self.threads)

    def time_quantlib(self, precision):
        self.codec.encode(self.x)

    def time_numpy_same_arithmetic(self, precision):
        numpy_encode(self.x[:10_000], self.codec)

    def track_speedup_vs_numpy(self, precision):
        x = self.x[:10_000]
        return speedup(lambda: self.codec.encode(x), lambda: numpy_encode(x, self.codec), repeats=3)

    track_speedup_vs_numpy.unit = "x"


class RotatedScan:
    """One float query against 1,000,000 x 1024 codes (all scores), beside the int8 dequantized search."""

    params = PRECISIONS
    param_names = ["precision"]
    timeout = 900
    n = 1_000_000
    d = 1024

    def setup(self, precision):
        rng = np.random.default_rng(20261207)
        self.codec = RotatedCodec(precision, np.zeros(self.d, np.float32))
        self.packed = rng.integers(0, 256, (self.n, self.codec.code_size()), dtype=np.uint8)
        self.factors = rng.random(self.n, dtype=np.float32) + 0.5
        self.q = rng.standard_normal((1, self.d), dtype=np.float32)
        self.prepared = self.codec.prepare_queries(self.q)
        self.out = np.empty((1, self.n), np.float32)
        self.int8 = rng.integers(-128, 128, (self.n, self.d), dtype=np.int8)
        self.int8_codec = quantlib.ScalarCodec("int8", np.stack([-np.ones(self.d), np.ones(self.d)]))
        self.threads = quantlib.get_num_threads()
        quantlib.set_num_threads(1)
        self.scan()
        self.int8_search()

    def teardown(self, precision):
        quantlib.set_num_threads(self.threads)

    def scan(self):
        P = self.prepared
        K.int_scores(P.W, self.packed, self.codec.bits, self.factors, P.base, P.scl, P.corr, self.out)

    def int8_search(self):
        quantlib.search(self.q, self.int8, k=10, codec=self.int8_codec, metric="dot")

    def time_quantlib(self, precision):
        self.scan()

    def time_int8_dequantized_search(self, precision):
        self.int8_search()

    def track_ratio_to_int8(self, precision):
        """int8 dequantized search time over this scan's time (>= 1 meets the goal)."""
        return speedup(self.scan, self.int8_search, repeats=5, min_seconds=0.2)

    track_ratio_to_int8.unit = "x"


class RotatedSearch:
    """quantlib.search (top-10, dot) over 1,000,000 x 1024 rotated codes beside the int8 dequantized search.

    The whole public path: the codec prepares the queries (rotated, rounded to int16), scores blocks of rows
    (``score_rows``: exact integer dots, tiles of 4 queries x 2 rows) and quantlib folds them into the top-k
    (``OwnPlan.topk``).  One thread for quantlib's kernels; run with ``OPENBLAS_NUM_THREADS=1`` too, as
    ``set_num_threads`` does not reach OpenBLAS, whose second thread made 100-query times erratic on a
    busy machine (1 to 160 GFlops for the same product).
    """

    params = (PRECISIONS, [1, 100])
    param_names = ["precision", "queries"]
    timeout = 1800
    n = 1_000_000
    d = 1024

    def setup(self, precision, queries):
        rng = np.random.default_rng(20261207)
        self.codec = RotatedCodec(precision, np.zeros(self.d, np.float32))
        w = self.codec.code_size()
        self.rows = rng.integers(0, 256, (self.n, w), dtype=np.uint8)
        self.rows[:, w - 4:] = (rng.random(self.n, dtype=np.float32) + 0.5).view(np.uint8).reshape(self.n, 4)
        self.q = rng.standard_normal((queries, self.d), dtype=np.float32)
        self.int8 = rng.integers(-128, 128, (self.n, self.d), dtype=np.int8)
        self.int8_codec = quantlib.ScalarCodec("int8", np.stack([-np.ones(self.d), np.ones(self.d)]))
        self.threads = quantlib.get_num_threads()
        quantlib.set_num_threads(1)

    def teardown(self, precision, queries):
        quantlib.set_num_threads(self.threads)

    def ours(self):
        quantlib.search(self.q, self.rows, k=10, codec=self.codec, metric="dot")

    def int8_search(self):
        quantlib.search(self.q, self.int8, k=10, codec=self.int8_codec, metric="dot")

    def time_quantlib(self, precision, queries):
        self.ours()

    def time_int8_dequantized_search(self, precision, queries):
        self.int8_search()

    def track_ratio_to_int8(self, precision, queries):
        """int8 dequantized search time over this search's time (>= 1 meets the goal)."""
        return speedup(self.ours, self.int8_search, repeats=3, min_seconds=0.2)

    track_ratio_to_int8.unit = "x"


class RotatedVersusRaBitQ:
    """Per-query time over the bundled sample (4000 x 384), one thread, beside faiss IndexRaBitQFastScan.

    The same data and bits; both search top-10 by inner product, one query at a time or 400 at once.
    """

    params = (PRECISIONS, [1, 400])
    param_names = ["precision", "queries"]
    timeout = 600

    def setup(self, precision, queries):
        try:
            import faiss
        except ImportError:  # the peers extra is not installed
            raise NotImplementedError("faiss-cpu is not installed") from None
        s = load_sample()
        self.Q = np.ascontiguousarray(s.queries[:queries])
        self.codec = RotatedCodec.fit(s.documents, precision)
        self.codes = self.codec.encode(s.documents)
        bits = self.codec.bits
        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexRaBitQFastScan(s.documents.shape[1], faiss.METRIC_INNER_PRODUCT, 32, bits)
        self.index.train(s.documents)
        self.index.add(s.documents)
        self.threads = quantlib.get_num_threads()
        quantlib.set_num_threads(1)

    def teardown(self, precision, queries):
        quantlib.set_num_threads(self.threads)

    def ours(self):
        quantlib.search(self.Q, self.codes, k=10, codec=self.codec, metric="dot")

    def faiss(self):
        self.index.search(self.Q, 10)

    def time_quantlib(self, precision, queries):
        self.ours()

    def time_faiss_rabitq_fastscan(self, precision, queries):
        self.faiss()

    def track_speedup_vs_faiss(self, precision, queries):
        """faiss RaBitQFastScan time over quantlib's (>= 2 meets the goal)."""
        return speedup(self.ours, self.faiss, repeats=5)

    track_speedup_vs_faiss.unit = "x"

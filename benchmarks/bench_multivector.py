"""MaxSim of one 32-token query against 10,000 multi-vector documents of 20-300 tokens x 128 dims.

About 1.6 million document tokens (819 MB as float32).  Baselines are what
people write without quantlib: a numpy loop over documents
(``(Q @ D.T).max(axis=1).sum()`` per document) and the BLAS route (one
``Q @ tokens.T`` GEMM, then ``np.maximum.reduceat`` over the document
offsets and a sum).  Data are seeded and built in ``setup`` (tokens are
drawn once per process and shared by the benchmarks); the first call in
``setup`` compiles or loads the kernels, so timings measure the scan.

``track_bytes_per_document`` reports the memory of each format per document
(token matrix plus offsets).

The numpy loop's time depends mostly on how OpenBLAS threads its 10,000
small GEMMs: with its default threads on a busy machine it took 1.2-9.5 s
here, with ``OPENBLAS_NUM_THREADS=1`` 0.4 s.  Compare per core with CPU time
(printed by the runner below) and everything on one thread::

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python benchmarks/bench_multivector.py

and with the defaults (drop the first two variables) for the threaded picture.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
import warnings

import numpy as np

import quantlib
from quantlib import MultiVectorBatch, MuveraEncoder, maxsim, maxsim_search
from quantlib._kernels import maxtile

N_DOCS = 10_000
MIN_TOKENS, MAX_TOKENS = 20, 300
DIM = 128
QUERY_TOKENS = 32
SEED = 20261122
VOCAB = 4096
NOISE = np.float32(0.09)  # per component: a noise vector of norm ~1


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[MultiVectorBatch, np.ndarray]:
    """The float32 documents (unit token vectors) and a 32-token float32 query.

    Random Gaussian tokens would make every document about equally good, so
    recall would mean nothing: tokens are noisy copies of ``VOCAB`` concept
    vectors (about as far from their concept as from each other), and the
    query is 32 noisy concepts of one document, as a query shares words with
    the passage it asks about.
    """
    rng = np.random.default_rng(SEED)
    lengths = rng.integers(MIN_TOKENS, MAX_TOKENS + 1, N_DOCS)
    offsets = np.zeros(N_DOCS + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    concepts = _unit(rng.standard_normal((VOCAB, DIM), dtype=np.float32))
    ids = rng.integers(0, VOCAB, int(offsets[-1]))
    tokens = np.empty((int(offsets[-1]), DIM), np.float32)
    for s in range(0, tokens.shape[0], 1 << 17):  # in blocks: no second 800 MB temporary
        e = min(tokens.shape[0], s + (1 << 17))
        tokens[s:e] = _unit(concepts[ids[s:e]] + rng.standard_normal((e - s, DIM), dtype=np.float32) * NOISE)
    doc = int(rng.integers(N_DOCS))
    picked = rng.choice(ids[offsets[doc]:offsets[doc + 1]], QUERY_TOKENS)
    query = _unit(concepts[picked] + rng.standard_normal((QUERY_TOKENS, DIM), dtype=np.float32) * NOISE)
    return MultiVectorBatch(tokens, offsets), query


@contextlib.contextmanager
def _tile_of_16():
    """MaxSim of float tokens by ``maxtile.max_dots_16`` even where the AVX-512 tile would run."""
    before = maxtile.WIDE
    maxtile.WIDE = False
    try:
        yield
    finally:
        maxtile.WIDE = before


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@functools.cache
def documents(precision: str) -> MultiVectorBatch:
    docs, _ = corpus()
    if precision == "float32":
        return docs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # int8 ranges from the corpus itself: plenty of rows
        return docs.quantize(precision)


def numpy_loop(query: np.ndarray, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    out = np.empty(offsets.shape[0] - 1, np.float32)
    for i in range(out.shape[0]):
        out[i] = (query @ tokens[offsets[i]:offsets[i + 1]].T).max(axis=1).sum()
    return out


def blas(query: np.ndarray, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    sims = query @ tokens.T  # (32, total_tokens)
    return np.maximum.reduceat(sims, offsets[:-1], axis=1).sum(axis=0)


class MaxSimFloat32:
    """float32 tokens: quantlib's fused kernel against the numpy loop and the BLAS route."""

    timeout = 300
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self) -> None:
        self.docs, self.query = corpus()
        self.tokens, self.offsets = self.docs.to_flat()
        got = maxsim(self.query, self.docs)
        ref = blas(self.query, self.tokens, self.offsets)
        assert np.allclose(got, ref, atol=1e-4)
        with _tile_of_16():
            assert np.array_equal(maxsim(self.query, self.docs), got)  # compiled, and the same scores

    def time_maxsim(self) -> None:
        maxsim(self.query, self.docs)

    def time_numpy_loop(self) -> None:
        numpy_loop(self.query, self.tokens, self.offsets)

    def time_blas(self) -> None:
        blas(self.query, self.tokens, self.offsets)

    def time_blas_gemm_only(self) -> None:
        self.query @ self.tokens.T

    def time_maxsim_8_float_tile(self) -> None:
        """The same scores by the 8-float tile of 16 query tokens (what machines without AVX-512 run)."""
        with _tile_of_16():
            maxsim(self.query, self.docs)


class MaxSimFormats:
    """maxsim in every format; ``code`` queries are quantized like the documents (bits: popcount)."""

    params = (["float32", "float16", "int8", "int8-codes", "binary", "binary-codes"],)
    param_names = ["format"]
    timeout = 300
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, fmt: str) -> None:
        _, query = corpus()
        precision = fmt.split("-")[0]
        self.docs = documents(precision)
        if fmt.endswith("codes"):
            self.query = (self.docs.codec.encode(query) if self.docs.codec is not None
                          else quantlib.quantize(query, precision))
        else:
            self.query = query
        maxsim(self.query, self.docs)

    def time_maxsim(self, fmt: str) -> None:
        maxsim(self.query, self.docs)

    def track_bytes_per_document(self, fmt: str) -> float:
        return self.docs.nbytes / len(self.docs)

    track_bytes_per_document.unit = "bytes"  # type: ignore[attr-defined]


class MaxSimSearch:
    """Top-10: exact float32 scan, and a binary first stage rescored by float32 (oversample 4)."""

    params = (["float32", "binary-rescored", "binary-codes-rescored"],)
    param_names = ["first_stage"]
    timeout = 300
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, first_stage: str) -> None:
        self.docs, self.query = corpus()
        self.bits = documents("binary")
        self.run(first_stage)

    def run(self, first_stage: str) -> tuple[np.ndarray, np.ndarray]:
        if first_stage == "float32":
            return maxsim_search(self.query, self.docs, k=10)
        return maxsim_search(self.query, self.bits, k=10, rescore=self.docs, oversample=4,
                             quantize_query=first_stage.startswith("binary-codes"))

    def time_search(self, first_stage: str) -> None:
        self.run(first_stage)

    def track_recall_at_10(self, first_stage: str) -> float:
        _, exact = maxsim_search(self.query, self.docs, k=10)
        _, got = self.run(first_stage)
        return len(set(exact[0].tolist()) & set(got[0].tolist())) / 10


class Muvera:
    """MUVERA encodings (k_sim 4, d_proj 16, 10 repetitions: 2560 dims) of the 10,000 documents."""

    timeout = 300
    number = 1
    repeat = (2, 3, 60.0)

    def setup(self) -> None:
        self.docs, self.query = corpus()
        self.encoder = MuveraEncoder(DIM)

    def time_encode_documents(self) -> None:
        self.encoder.encode_documents(self.docs)

    def time_blas_projection_only(self) -> None:
        """Baseline: the token projection alone, as one BLAS GEMM (quantlib's sums in a fixed order instead)."""
        self.docs.tokens @ self.encoder._matrix

    def track_rank_of_the_best_document(self) -> float:
        """Where the exact MaxSim best document ranks by encoding scores (1 = first of 10,000).

        On this corpus the query's source document is far ahead of the rest, whose exact
        scores are near ties that no encoding separates, so the rank of the best is the measure.
        """
        fde = self.encoder.encode_documents(self.docs)
        order = np.argsort(-(fde @ self.encoder.encode_queries([self.query])[0]), kind="stable")
        best = int(np.argmax(maxsim(self.query, self.docs)))
        return float(np.flatnonzero(order == best)[0] + 1)


def _medians_ms(fn, *args, repeat: int = 5) -> tuple[float, float]:
    """Median wall time and median CPU time (all threads of the process), in ms."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(*args)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3


if __name__ == "__main__":
    f = MaxSimFloat32()
    f.setup()
    print(f"{len(f.docs)} documents, {f.docs.n_tokens} tokens x {DIM}, query {QUERY_TOKENS} tokens, "
          f"{quantlib.get_num_threads()} numba threads; medians, wall / CPU ms")
    ours = _medians_ms(f.time_maxsim)
    rows = [("8-float tile", _medians_ms(f.time_maxsim_8_float_tile)),
            ("numpy loop", _medians_ms(f.time_numpy_loop, repeat=3)),
            ("BLAS GEMM + reduceat", _medians_ms(f.time_blas)),
            ("BLAS GEMM alone", _medians_ms(f.time_blas_gemm_only))]
    print(f"float32 maxsim         {ours[0]:8.1f} / {ours[1]:8.1f}")
    for name, (wall, cpu) in rows:
        print(f"{name:22s} {wall:8.1f} / {cpu:8.1f}   slower than maxsim: x{wall / ours[0]:.2f} wall, "
              f"x{cpu / ours[1]:.2f} CPU")
    fm = MaxSimFormats()
    for fmt in MaxSimFormats.params[0]:
        fm.setup(fmt)
        wall, cpu = _medians_ms(fm.time_maxsim, fmt)
        print(f"{fmt:14s} maxsim {wall:8.1f} / {cpu:8.1f}   float32 / this: x{ours[1] / cpu:5.1f} CPU   "
              f"{fm.track_bytes_per_document(fmt):9.0f} bytes per document")
    s = MaxSimSearch()
    for stage in MaxSimSearch.params[0]:
        s.setup(stage)
        wall, cpu = _medians_ms(s.time_search, stage)
        recall = s.track_recall_at_10(stage)
        print(f"search top-10 {stage:22s} {wall:8.1f} / {cpu:8.1f}   recall@10 {recall:.2f}")
    m = Muvera()
    m.setup()
    wall, cpu = _medians_ms(m.time_encode_documents, repeat=3)
    gemm = _medians_ms(m.time_blas_projection_only, repeat=3)
    print(f"MUVERA encode 10,000 documents {wall:8.1f} / {cpu:8.1f}   (BLAS projection alone {gemm[0]:.1f} ms); "
          f"the exact best document ranks {m.track_rank_of_the_best_document():.0f} by encodings")

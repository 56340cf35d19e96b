"""The one place where jit options are set.

``EXACT`` kernels reproduce numpy's float arithmetic operation for operation
(codecs, whose codes tests compare bit for bit).  ``FAST`` kernels may
reassociate sums and fuse multiply-adds so that LLVM vectorises reductions.
Neither sets ``nnan`` or ``ninf``: those flags let LLVM delete NaN checks
silently.  ``nsz`` is left out too: together with ``reassoc`` it let LLVM
rewrite ``s + (v - v)`` to ``s``, which deleted a NaN test here.  So no FAST
kernel may rely on NaN propagating; inputs are checked before they get there.
"""

from __future__ import annotations

import numba

#: Options of kernels whose results must equal numpy's bit for bit.
EXACT: dict = {"cache": True, "nogil": True, "error_model": "numpy"}

#: Options of reductions (dot products, norms) that may be reassociated.
FAST: dict = {**EXACT, "fastmath": {"reassoc", "contract"}}

#: Batches with at least this many elements are split across threads.
#: Waking numba's OpenMP workers costs microseconds on an idle machine but
#: 8-30 ms when the other cores are busy (measured on 2 cores: a 4M-element
#: int8 encode took 3.5 ms serial, 22 ms parallel).  2**24 float32 elements
#: (64 MB, about 12 ms serial here) is where the parallel gain outweighs that
#: worst case; smaller batches, such as a 1000 x 1024 API response, stay serial.
PARALLEL_MIN_ELEMENTS = 1 << 24

#: Rows per work item in parallel codec kernels.
ROW_BLOCK = 256


def use_parallel(n_elements: int) -> bool:
    """Whether a batch is large enough for thread start-up to pay off."""
    return n_elements >= PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1


def target_features() -> frozenset[str]:
    """The CPU features numba compiles for (``"+avx512f"``, ...): the host's, or ``NUMBA_CPU_FEATURES``.

    The machine code numba caches is keyed by them, so a choice made from them at
    import is never loaded where they differ.  Empty if this numba hides them.
    """
    try:
        from numba.core.registry import cpu_target

        return frozenset(cpu_target.target_context.codegen()._tm_features.split(","))
    except Exception:  # pragma: no cover - a numba without this private attribute: play safe
        return frozenset()


# ---------------------------------------------------------------------------
# Scoring: block sizes, the serial/parallel threshold and the two-stage switches
# (read by quantlib._planner at call time, so tests may lower them)
# ---------------------------------------------------------------------------

#: Work (see :data:`WORK_PER_WIDTH`) below which a scan stays serial: dense search, MaxSim and
#: pairwise scores alike (:func:`quantlib._scoring.use_threads`).
PARALLEL_MIN_WORK = 1 << 26

#: The cost model of every scan (:func:`quantlib._scoring.work`): work is (query row, stored row)
#: pairs times the row width times this weight, with one float multiply-add per component as 1.
#: Measured for 128-dimension MaxSim tokens (benchmarks/bench_multivector.py): float dot products
#: ~0.05 ns per dimension, Hamming ~0.25 ns per 64-bit word (0.03 ns a byte), byte tables ~0.1 ns
#: per byte.  ``dense``: widths in components (float or int8/uint8 codes); the others in bytes of
#: packed bits (``signs`` and ``lut`` are both float queries scored by byte tables).
WORK_PER_WIDTH = {"dense": 1.0, "hamming": 0.625, "signs": 2.0, "lut": 2.0}

#: Most chunks per thread of a parallel scan: stored rows (or documents) differ in cost, and more
#: chunks than threads balance the load.
CHUNKS_PER_THREAD = 4

#: Bytes of stored rows per cache block, which stays in L1/L2 while every query
#: tile passes over it.
BLOCK_BYTES = {"dense": 1 << 17, "hamming": 1 << 14}

#: Rows per block of the table kernels (float queries against bits): every query
#: group's tables stream past a block once, so blocks are long; the per-row sums
#: of one group take ``rows * G * 4`` bytes (1 MB at G = 16).
#: Measured here (100 queries, 200,000 x 1024 bits): 8192 rows 1.2x slower, 32768 the same.
SIGNS_BLOCK_ROWS = 16384

#: Rows per block of the int16 table kernels: their int32 sums take ``rows * 128`` bytes, and
#: 4096 rows (512 KB) beside a pass's 512 KB of tables fill L2; measured here (100 queries,
#: 200,000 x 1024 bits): 2048 rows 1.15x slower, 16384 1.2x slower.
SIGNS16_BLOCK_ROWS = 4096

#: Batches of at least this many float queries searched over bits take the int16 first stage
#: (:meth:`Plan._topk_signs_wide`): one group of 32 int16 lanes beats two groups of 16 floats.
WIDE_MIN_QUERIES = 17

#: The int16 stage runs when the corpus has at least this many rows per candidate it keeps:
#: the exact finish recomputes each candidate's table entries (about 12 operations a byte
#: instead of one lookup), so it must stay a small fraction of the scan.
WIDE_MIN_ROWS_PER_CANDIDATE = 32

#: ... and for k up to this: its lists of 2k + 16 candidates cost more to keep sorted than
#: the stage saves beyond k of about 200 (100 queries, 200,000 x 1024 bits: 1.4x faster at
#: k = 100, 0.9-1.2x at 200-300, 2.8x slower at 1000).
WIDE_MAX_K = 128

#: Batches of at most this many float queries searched over bits take the bit-plane first stage
#: (:meth:`Plan._topk_signs_planes`): the query quantized to sign and magnitude planes, AND and
#: popcount per plane.  Its cost grows with each query, the float tables' much less (they serve 8
#: or 16 queries per lookup): measured here (Zen 3, one thread, 1M x 1024 bits, k = 10) against
#: the tables alone, 1 query 0.20x the time, 4 queries 0.77x, 8 queries 1.35x, 16 queries 2.1x.
#: (0: never.)
PLANES_MAX_QUERIES = 4

#: Rows per block of the bit-plane stage (every query passes over a block while it is in L2).
PLANES_BLOCK_ROWS = 1024

#: Rows per query the bit-plane stage keeps near the running top (more and the query is searched
#: by the float tables: that many rows scored exactly cost about what the tables' scan does).
PLANES_BUFFER_ROWS = 1 << 14

#: Batches of at least this many float queries against int8/uint8 codes take the int16 first
#: stage (:meth:`Plan._topk_dense_wide`): exact int32 multiply-adds of int16 weights instead of
#: float32 ones, then an exact float finish of ``2k + 16`` candidates per query.
DENSE_WIDE_MIN_QUERIES = 8

#: Most bytes of query tables (``nq * w * 1 KB``) per pass over the corpus; more
#: queries take several passes, each reading the (small) bit rows again.
SIGNS_TABLE_BYTES = 1 << 25

#: Batches of at least this many float queries against float rows are scored by
#: BLAS (``Q @ X_block.T``) block by block, the top-k still fused per block: BLAS
#: reuses each row block for many queries better than any numba loop.
BLAS_MIN_QUERIES = 8

#: Scores per BLAS block (queries x rows: 16 MB of float32), so memory stays
#: bounded; smaller blocks made BLAS measurably slower (10,000 rows x 100 queries: 1.4x).
BLAS_BLOCK_SCORES = 1 << 22

#: Fewest stored rows (MaxSim: document tokens) per parallel search chunk.
MIN_CHUNK_ROWS = 4096

#: Filtered search (``allow=``, :mod:`quantlib._filter`): the corpus is cut into segments of this many
#: rows; a segment where at least one row in :data:`ALLOW_DENSE_FRACTION` is allowed is scanned in place
#: (the unfiltered kernels, only allowed rows ranked, segments without one skipped), the allowed rows
#: of the others are gathered into blocks.
ALLOW_SEGMENT_ROWS = 64

#: Rows per gathered block of a filtered search (4096 rows of 1024 float32: 16 MB at most).
ALLOW_BLOCK_ROWS = 4096

#: A segment in which at least one row in this many is allowed is scanned whole, in place; sparser
#: rows are gathered (copying a row and scoring it apart costs about what scanning a few rows does).
ALLOW_DENSE_FRACTION = 4

#: Spans of allowed rows (:mod:`~quantlib._kernels.masked`) less than this many rows apart are
#: multiplied by BLAS as one block (the rows between them scored and dropped): with two threads
#: each product wakes OpenBLAS's pool, which on a busy machine cost more than the rows it skips
#: (16 queries, runs of 5,000 rows of 384 float32 every 10,000: 0.45x the unfiltered scan with
#: one product per run).
ALLOW_BLAS_GAP = 8192

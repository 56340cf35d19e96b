"""Scoring kernels against their numpy twins (quantlib._reference, section 9).

Each kernel is called directly, with the arrays the public layer would give
it, on seeded data whose shape hypothesis draws: dimensions around the byte
and word edges, zero vectors, extreme int8 codes, read-only buffers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from quantlib import _reference as R
from quantlib._kernels import bits as KB
from quantlib._kernels import dense as KD
from quantlib._kernels import intdot as KI
from quantlib._kernels import lut as KL
from quantlib._kernels.popcount import half_to_float, load_u64, popcount64
from quantlib._kernels.topk import finish, merge, offer
from quantlib._planner import _exact_code_queries

WIDTHS = st.one_of(st.sampled_from([1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 128]), st.integers(1, 40))
DIMS = st.one_of(st.sampled_from([1, 7, 8, 9, 63, 64, 65, 130]), st.integers(1, 40))
SEEDS = st.integers(0, 2**32 - 1)


def read_only(x: np.ndarray) -> np.ndarray:
    """A read-only view backed by a bytes buffer, as np.frombuffer and np.memmap(mode='r') give."""
    return np.frombuffer(x.tobytes(), x.dtype).reshape(x.shape)


@njit(cache=True)
def _popcounts(x, out):
    for i in range(x.size):
        out[i] = popcount64(x[i])


@njit(cache=True)
def _loads(a, offsets, out):
    for i in range(offsets.size):
        out[i] = load_u64(a, offsets[i])


@njit(cache=True)
def _halves(h, out):
    for i in range(h.size):
        out[i] = half_to_float(h[i])


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=50))
def test_popcount64_equals_bitwise_count(values):
    x = np.array(values, dtype=np.uint64)
    out = np.empty(x.size, np.uint64)
    _popcounts(x, out)
    assert np.array_equal(out, np.bitwise_count(x).astype(np.uint64))


@given(SEEDS, st.integers(8, 64))
def test_load_u64_reads_unaligned_little_endian_words(seed, size):
    rng = np.random.default_rng(seed)
    a = read_only(rng.integers(0, 256, size, dtype=np.uint8))
    offsets = np.arange(size - 7)
    out = np.empty(offsets.size, np.uint64)
    _loads(a, offsets, out)
    want = np.array([a[o:o + 8].copy().view("<u8")[0] for o in offsets], dtype=np.uint64)
    assert np.array_equal(out, want)


def test_half_to_float_is_exact_for_every_half():
    h = np.arange(1 << 16, dtype=np.uint16)
    out = np.empty(h.size, np.float32)
    _halves(h, out)
    nan = np.isnan(h.view(np.float16))
    want = h.view(np.float16)[~nan].astype(np.float32)
    assert np.array_equal(out[~nan].view(np.uint32), want.view(np.uint32))  # -0.0, subnormals, +-inf too
    assert np.isnan(out[nan]).all()


# ---------------------------------------------------------------------------
# Hamming
# ---------------------------------------------------------------------------


def _words(codes: np.ndarray, tiles: bool = True) -> np.ndarray:
    """Query bytes as the kernel takes them: rows padded to 4 (or 1), bytes to whole words."""
    nq, w = codes.shape
    rows = -(-nq // 4) * 4 if (tiles and nq > 1) else max(nq, 1)
    out = np.zeros((rows, 8 * (-(-w // 8))), np.uint8)
    out[:nq, :w] = codes
    return out.view(np.uint64)


@given(SEEDS, WIDTHS, st.integers(1, 9), st.integers(1, 70), st.sampled_from([1, 3, 16]))
def test_hamming_scores_equal_twin(seed, w, nq, n, rb):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, w), dtype=np.uint8)
    Q = rng.integers(0, 256, (nq, w), dtype=np.uint8)
    X[0] = 0
    X[-1] = 255
    Q[0] = X[n // 2]  # an exact match
    want = R.hamming_counts(Q, X)
    out = np.full((nq, n), -7, np.int64)
    KB.hamming_scores_range(read_only(X), _words(Q), 0, n, rb, out)
    assert np.array_equal(out, want)
    out2 = np.full((nq, n), -7, np.int64)
    KB.hamming_scores_parallel(read_only(X), _words(Q), rb, out2)
    assert np.array_equal(out2, want)


@given(SEEDS, WIDTHS, st.integers(1, 70))
def test_hamming_single_query_path_equals_twin(seed, w, n):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, w), dtype=np.uint8)
    q = rng.integers(0, 256, (1, w), dtype=np.uint8)
    out = np.empty((1, n), np.int64)
    KB.hamming_scores_range(X, _words(q, tiles=False), 0, n, 8, out)
    assert np.array_equal(out, R.hamming_counts(q, X))


def _empty_topk(nq: int, k: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    fill = np.iinfo(np.int64).max if np.dtype(dtype).kind == "i" else np.inf
    return np.full((nq, k), fill, dtype), np.full((nq, k), -1, np.int64)


@given(SEEDS, st.integers(1, 3), st.integers(1, 6), st.integers(1, 300), st.integers(1, 12),
       st.integers(1, 5))
def test_hamming_search_equals_stable_argsort_with_ties(seed, w, nq, n, k, nchunks):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    # few distinct rows: many equal counts, so the tie order is exercised
    pool = rng.integers(0, 256, (4, w), dtype=np.uint8)
    X = pool[rng.integers(0, 4, n)]
    Q = rng.integers(0, 256, (nq, w), dtype=np.uint8)
    want_scores, want_ids = R.search_top_k(R.hamming_counts(Q, X), k, higher_is_better=False)
    keys, ids = _empty_topk(nq, k, np.int64)
    KB.hamming_search_range(read_only(X), _words(Q), 0, n, 7, keys, ids)
    assert np.array_equal(ids, want_ids)
    assert np.array_equal(keys, want_scores)
    keys, ids = _empty_topk(nq, k, np.int64)
    KB.hamming_search_parallel(read_only(X), _words(Q), 7, nchunks, keys, ids)
    assert np.array_equal(ids, want_ids)
    assert np.array_equal(keys, want_scores)


def test_merge_keeps_lower_index_first_on_ties():
    part_keys = np.array([[[2, 1]], [[1, 1]]], dtype=np.int64)  # per-chunk heaps: worst first
    part_ids = np.array([[[4, 3]], [[11, 10]]], dtype=np.int64)
    keys, ids = _empty_topk(1, 3, np.int64)
    merge(part_keys, part_ids, keys, ids)
    finish(keys, ids)
    assert ids.tolist() == [[3, 10, 11]]
    assert keys.tolist() == [[1, 1, 1]]


# ---------------------------------------------------------------------------
# Dense: float32, float16 (bits), int8, uint8
# ---------------------------------------------------------------------------


def _pad4(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    rows = -(-n // 4) * 4 if n > 1 else 1
    out = np.zeros((rows, *x.shape[1:]), x.dtype)
    out[:n] = x
    return out


#: The exact integer paths for code queries: the vpmaddwd tiles, and the VNNI tiles where this machine has them.
EXACT = ["int16"] + (["vnni"] if KI.VNNI else [])


def _dense(W, X, A=None, B=None, RS=None, rb=5, parallel=False, acc=np.float32, RB=None):
    """The dense kernels' scores; ``acc="int16"`` or ``"vnni"`` takes that exact integer path for code queries."""
    nq, n = W.shape[0], X.shape[0]
    if isinstance(acc, str):
        W, Bc = _exact_code_queries(W, X.dtype.name, vnni=acc == "vnni")
        B = Bc if B is None else B + Bc
        acc = np.float64
    else:
        W = W.astype(acc)
    A = np.ones(nq, acc) if A is None else A.astype(acc)
    B = np.zeros(nq, acc) if B is None else B.astype(acc)
    RS = np.ones(n, acc) if RS is None else RS.astype(acc)
    RB = None if RB is None else RB.astype(acc)  # None: the kernels compiled without the per-row add
    out = np.empty((nq, n), np.float64)
    args = (_pad4(W), X, _pad4(A), _pad4(B), RS, RB)
    if parallel:
        KD.scores_parallel(*args, rb, out)
    else:
        KD.scores_range(*args, 0, n, rb, out)
    return out


@given(SEEDS, DIMS, st.integers(1, 6), st.integers(1, 40), st.booleans())
def test_dense_float32_and_float16_equal_twin(seed, d, nq, n, parallel):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    X[0] = 0.0
    Q = rng.standard_normal((nq, d)).astype(np.float32)
    want = Q.astype(np.float64) @ X.astype(np.float64).T
    tol = 1e-5 * (np.abs(Q).sum(1)[:, None] * np.abs(X).max() + 1)
    got = _dense(Q, read_only(X), parallel=parallel)
    assert np.all(np.abs(got - want) <= tol)
    X16 = X.astype(np.float16)
    want16 = Q.astype(np.float64) @ X16.astype(np.float64).T
    got16 = _dense(Q, read_only(X16.view(np.uint16)), parallel=parallel)
    assert np.all(np.abs(got16 - want16) <= tol)


@given(SEEDS, DIMS, st.integers(1, 6), st.integers(1, 30), st.sampled_from(["int8", "uint8"]))
def test_dense_integer_codes_are_exact(seed, d, nq, n, precision):
    rng = np.random.default_rng(seed)
    lo, hi = R.CODE_RANGE[precision]
    X = rng.integers(lo, hi + 1, (n, d)).astype(precision)
    Q = rng.integers(lo, hi + 1, (nq, d)).astype(precision)
    X[0], Q[0] = lo, lo  # the largest products: (-128)**2 or 0, and 255 * 255 below
    X[-1] = hi
    want = Q.astype(np.int64) @ X.astype(np.int64).T
    assert np.array_equal(_dense(Q, read_only(X), acc=np.float64), want)
    # the integer paths: 16 (int16) or 64 (VNNI) items per vector step, the rest one by one; odd row counts
    # pair the last row with itself, and rb splits rows into blocks that are not multiples of two
    for path in EXACT:
        for rb, parallel in ((5, False), (2, True)):
            assert np.array_equal(_dense(Q, read_only(X), acc=path, rb=rb, parallel=parallel), want)


@njit(cache=True)
def _tile_4x2(W, X, q0, rows, n):
    return KI.dot_tile_4x2(W, X, q0, rows, n)


@njit(cache=True)
def _tile_1x2(W, X, q0, rows, n):
    return KI.dot_tile_1x2(W, X, q0, rows, n)


@given(SEEDS, st.integers(1, 5), st.integers(1, 9), st.sampled_from(["int8", "uint8"]))
def test_integer_dot_tiles_equal_twin_at_any_row_numbers(seed, nsteps, nrows, precision):
    rng = np.random.default_rng(seed)
    lo, hi = R.CODE_RANGE[precision]
    d = KI.STEP * nsteps + int(rng.integers(0, KI.STEP))  # the tile reads only the first n items
    n = KI.STEP * nsteps
    X = read_only(rng.integers(lo, hi + 1, (nrows, d)).astype(precision))
    W = rng.integers(lo, hi + 1, (5, d)).astype(np.int16)
    rows = (int(rng.integers(0, nrows)), int(rng.integers(0, nrows)))
    exact = W[:, :n].astype(np.int64) @ X[list(rows), :n].astype(np.int64).T  # (5, 2)
    got = _tile_4x2(W, X, 1, rows, n)
    assert got == tuple(int(exact[1 + t, r]) for r in range(2) for t in range(4))
    assert _tile_1x2(W, X, 4, rows, n) == (int(exact[4, 0]), int(exact[4, 1]))
    assert _tile_4x2(W, X, 0, rows, 0) == (0,) * 8


@njit(cache=True)
def _vnni_4x2(W, X, q0, rows, n, corr):
    return KI.vnni_tile_4x2(W, X, q0, rows, n, corr)


@njit(cache=True)
def _vnni_1x2(W, X, q0, rows, n, corr):
    return KI.vnni_tile_1x2(W, X, q0, rows, n, corr)


@pytest.mark.skipif(not KI.VNNI, reason="numba does not compile for AVX-512 VNNI here; the int16 tiles serve")
@given(SEEDS, st.integers(1, 4), st.integers(1, 9), st.sampled_from(["int8", "uint8"]))
def test_vnni_tiles_equal_twin_with_their_correction(seed, nsteps, nrows, precision):
    rng = np.random.default_rng(seed)
    lo, hi = R.CODE_RANGE[precision]
    d = KI.STEP_VNNI * nsteps + int(rng.integers(0, KI.STEP_VNNI))  # the tile reads only the first n items
    n = KI.STEP_VNNI * nsteps
    X = rng.integers(lo, hi + 1, (nrows, d)).astype(precision)
    X[0, : n // 2] = lo  # the extremes: -128 * -128, and uint8 items whose query is 0 (W = -128)
    X[-1, n // 2:n] = hi
    X = read_only(X)
    Q = rng.integers(lo, hi + 1, (5, d)).astype(precision)
    Q[0] = lo
    W, B = _exact_code_queries(Q, precision, vnni=True)
    B = tuple(int(b) for b in B)
    rows = (int(rng.integers(0, nrows)), 0)
    exact = Q[:, :n].astype(np.int64) @ X[list(rows), :n].astype(np.int64).T  # (5, 2)
    assert _vnni_4x2(W, X, 1, rows, n, B[1:]) == tuple(int(exact[1 + t, r]) for r in range(2) for t in range(4))
    assert _vnni_1x2(W, X, 4, rows, n, B[4:]) == (int(exact[4, 0]), int(exact[4, 1]))
    assert _vnni_4x2(W, X, 0, rows, 0, (0,) * 4) == (0,) * 8


@pytest.mark.parametrize(("precision", "d", "acc"), [
    ("int8", 1024, np.float32),  # 1024 * 128**2 = 2**24: still exact in float32
    ("int8", 1025, np.float64),
    ("uint8", 258, np.float32),  # 258 * 255**2 < 2**24
    ("uint8", 300, np.float64),
    *[(p, d, path) for path in EXACT for p, d in [
        ("int8", 1030),
        ("int8", 131071),  # the most items whose int32 sums are exact: 131071 * 2**14 < 2**31
        ("uint8", 1030),
        ("uint8", 33025),  # 33025 * 255**2 < 2**31
    ]],
    ("int8", 131072, "vnni"),  # one item too many for int32: float64 queries, whatever the machine
])
def test_dense_extreme_codes_do_not_overflow_or_round(precision, d, acc):
    lo, hi = R.CODE_RANGE[precision]
    big = lo if precision == "int8" else hi
    X = np.full((3, d), big, precision)
    X[1, ::2] = hi
    Q = np.full((2, d), big, precision)
    want = Q.astype(np.int64) @ X.astype(np.int64).T
    assert np.array_equal(_dense(Q, X, acc=acc), want)


@given(SEEDS, DIMS, st.integers(1, 5), st.integers(1, 30))
def test_dense_affine_map_and_row_scale(seed, d, nq, n):
    rng = np.random.default_rng(seed)
    X = rng.integers(-128, 128, (n, d)).astype(np.int8)
    W = rng.standard_normal((nq, d)).astype(np.float32)
    A, B, RS, RB = rng.random(nq), rng.standard_normal(nq), rng.random(n), rng.standard_normal(n) * 100
    A32, B32, RS32, RB32 = (v.astype(np.float32) for v in (A, B, RS, RB))
    want = ((W.astype(np.float64) @ X.T.astype(np.float64)) * A32[:, None] + B32[:, None]) * RS32[None, :] + RB32
    got = _dense(W, X, A, B, RS, RB=RB)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-3 * (1 + np.abs(W).sum(1).max() + 100))
    # the exact paths of code queries add the per-row term too, after the integer sum
    Q = rng.integers(-128, 128, (nq, d)).astype(np.int8)
    RBi = rng.integers(-(1 << 20), 1 << 20, n).astype(np.float64)
    exact = (Q.astype(np.int64) @ X.astype(np.int64).T) * 2 - 7 + RBi.astype(np.int64)
    B7 = np.full(nq, -7.0)
    assert np.array_equal(_dense(Q, X, np.full(nq, 2.0), B7, acc="int16", RB=RBi), exact)


@given(SEEDS, DIMS, st.integers(1, 40))
def test_row_norms_equal_twin(seed, d, n):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, d)).astype(np.uint8)
    X[0] = 0
    out = np.empty(n, np.float64)
    KD.row_norms(read_only(X), out)
    assert np.allclose(out, np.sqrt((X.astype(np.float64) ** 2).sum(1)), rtol=1e-12)
    KD.row_norms(read_only(X.astype(np.float32)), out)
    assert np.allclose(out, np.sqrt((X.astype(np.float64) ** 2).sum(1)), rtol=1e-12)


@given(SEEDS, st.integers(1, 6), st.integers(1, 200), st.integers(1, 10), st.integers(1, 4))
def test_dense_search_equals_stable_argsort_with_ties(seed, nq, n, k, nchunks):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    X = rng.integers(-2, 3, (n, 5)).astype(np.int8)  # few distinct scores: many ties
    W = rng.integers(-2, 3, (nq, 5)).astype(np.float32)
    scores = W.astype(np.float64) @ X.T.astype(np.float64)
    want_scores, want_ids = R.search_top_k(scores, k)
    args = (_pad4(W), read_only(X), _pad4(np.ones(nq, np.float32)), _pad4(np.zeros(nq, np.float32)),
            np.ones(n, np.float32), np.zeros(n, np.float32))
    keys, ids = _empty_topk(nq, k, np.float32)
    KD.search_range(*args, 0, n, 3, keys, ids)
    assert np.array_equal(ids, want_ids)
    assert np.array_equal(-keys, want_scores)
    keys, ids = _empty_topk(nq, k, np.float32)
    KD.search_parallel(*args, 3, nchunks, keys, ids)
    assert np.array_equal(ids, want_ids)
    keys, ids = _empty_topk(nq, k, np.float32)
    KD.topk_block(np.ascontiguousarray(scores[:, : n // 2], np.float32), *args[2:], 0, keys, ids)
    KD.topk_block(np.ascontiguousarray(scores[:, n // 2:], np.float32), *args[2:], n // 2, keys, ids)
    finish(keys, ids)  # the blocks leave heaps
    assert np.array_equal(ids, want_ids)


# ---------------------------------------------------------------------------
# Float queries against +1/-1 bits
# ---------------------------------------------------------------------------


def _tables(Q: np.ndarray, w: int, group: int, precision: str) -> np.ndarray:
    tables = np.empty((-(-Q.shape[0] // group), w, 256, group), np.float32)
    KL.build_tables(Q, precision == "binary", tables)
    return tables


@given(SEEDS, st.integers(1, 20), st.integers(1, 4), st.sampled_from(KL.GROUPS),
       st.sampled_from(["ubinary", "binary"]))
def test_byte_tables_hold_the_partial_score_of_every_byte_value(seed, d, nq, group, precision):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((nq, d)).astype(np.float32)
    w = (d + 7) // 8
    T = _tables(Q, w, group, precision)
    values = np.arange(256, dtype=np.uint8)[:, None]
    for q in range(nq):
        for p in range(w):
            stored = values ^ 0x80 if precision == "binary" else values  # the byte as stored
            bits = np.unpackbits(stored if precision == "ubinary" else stored ^ 0x80, axis=1)
            part = np.zeros(8)
            part[: min(8, d - 8 * p)] = Q[q, 8 * p: 8 * p + 8]
            want = (np.where(bits == 1, 1.0, -1.0) * part).sum(1)  # indexed by the stored byte
            got = T[q // group, p, :, q % group][stored[:, 0]]
            assert np.allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(part).sum())
    assert not T.transpose(0, 3, 1, 2).reshape(-1, w, 256)[nq:].any()  # slots past the last query are 0


_lut8 = njit(lambda T, X, i0, a0, p0, p1, acc: KL.lut_rows_8(T, X, i0, a0, p0, p1, acc))
_lut1 = njit(lambda T, X, i0, a0, p0, p1, acc: KL.lut_rows_1(T, X, i0, a0, p0, p1, acc))


@given(SEEDS, st.integers(1, 40), st.data(), st.sampled_from(KL.GROUPS))
def test_lut_rows_add_table_entries_in_byte_order(seed, w, data, group):
    # any byte range p0..p1 (the kernels read eight bytes at a time, then one): each lane adds
    # T[p, x_p] for p = p0, p0 + 1, ... onto what acc held, as a float32 loop does, bit for bit
    rng = np.random.default_rng(seed)
    p0 = data.draw(st.integers(0, w))
    p1 = data.draw(st.integers(p0, w))
    T = rng.standard_normal((w, 256, group)).astype(np.float32)
    X = read_only(rng.integers(0, 256, (11, w)).astype(np.uint8))
    start = rng.standard_normal((12, group)).astype(np.float32)
    want = start.copy()
    for r in range(9):
        for p in range(p0, p1):
            want[1 + r] = want[1 + r] + T[p, X[2 + r, p]]
    acc = start.copy()
    _lut8(T, X, 2, 1, p0, p1, acc)  # rows 2..9 into acc rows 1..8
    _lut1(T, X, 10, 9, p0, p1, acc)
    assert np.array_equal(acc, want)


@given(SEEDS, DIMS, st.integers(1, 20), st.integers(1, 40), st.sampled_from(["ubinary", "binary"]),
       st.sampled_from([3, 8, 13, 8192]))
def test_signs_scores_equal_twin(seed, d, nq, n, precision, rb):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    codes = R.pack_ubinary(x) if precision == "ubinary" else R.pack_binary(x)
    X = read_only(codes.view(np.uint8))
    Q = rng.standard_normal((nq, d)).astype(np.float32)
    A = rng.random(nq).astype(np.float32)
    B = rng.standard_normal(nq).astype(np.float32)
    want = (Q.astype(np.float64) @ R.unpack_bits(codes, d, precision).astype(np.float64).T) * A[:, None] + B[:, None]
    outs = []
    for group in KL.GROUPS:  # every table width, serial and parallel: the same float32 scores, bit for bit
        T = _tables(Q, codes.shape[1], group, precision)
        for parallel in (False, True):
            out = np.empty((nq, n), np.float32)
            if parallel:
                KB.signs_scores_parallel(X, T, A, B, rb, out)
            else:
                KB.signs_scores_range(X, T, A, B, 0, n, rb, out)
            outs.append(out)
    for out in outs:
        assert np.array_equal(out, outs[0])
    assert np.allclose(outs[0], want, rtol=1e-5, atol=1e-5 * (np.abs(Q).sum(1).max() + np.abs(B).max()))
    full = outs[0].astype(np.float64)
    T = _tables(Q, codes.shape[1], 8, precision)
    for nchunks in (0, 1, 3):
        keys, ids = _empty_topk(nq, min(3, n), np.float32)
        if nchunks:
            KB.signs_search_parallel(X, T, A, B, rb, nchunks, keys, ids)
        else:
            KB.signs_search_range(X, T, A, B, 0, n, rb, keys, ids)
        want_scores, want_ids = R.search_top_k(full, min(3, n))
        assert np.array_equal(ids, want_ids)
        assert np.array_equal(-keys, want_scores)


# ---------------------------------------------------------------------------
# The int16 first stage of float queries against bits, and its exact finish
# ---------------------------------------------------------------------------

WIDE_DIMS = st.one_of(st.sampled_from([1, 7, 8, 9, 255, 256, 257, 300, 513]), st.integers(1, 40))


def _signs(codes: np.ndarray, d: int, precision: str) -> np.ndarray:
    return R.unpack_bits(codes, d, precision).astype(np.int64)


def _weights(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Qi = np.empty(Q.shape, np.int16)
    scale = np.empty(Q.shape[0], np.float64)
    err = np.empty(Q.shape[0], np.float64)
    KL.int16_weights(Q, Qi, scale, err)
    return Qi, scale, err


@given(SEEDS, WIDE_DIMS, st.integers(1, 6), st.sampled_from([1.0, 1e-30, 1e30]))
def test_int16_weights_fit_every_window_and_bound_their_error(seed, d, nq, size):
    rng = np.random.default_rng(seed)
    Q = (rng.standard_normal((nq, d)) * size).astype(np.float32)
    Q[0, rng.integers(0, d)] = 40 * size  # an outlier component, as some models have
    if nq > 1:
        Q[1] = 0.0  # a zero query: scale 1, no weights
    Qi, scale, err = _weights(Q)
    span = 8 * KL.WIDE_SPAN
    padded = np.zeros((nq, -(-d // span) * span), np.int64)
    padded[:, :d] = np.abs(Qi.astype(np.int64))
    assert padded.reshape(nq, -1, span).sum(axis=2).max() <= 32767  # no int16 sum can overflow
    assert padded.reshape(nq, -1, span).sum(axis=2).max() >= 32767 - 8 * KL.WIDE_SPAN  # and little is wasted
    if nq > 1:
        assert scale[1] == 1.0 and not Qi[1].any() and err[1] == 0.0
    signs = np.where(rng.random((50, d)) < 0.5, 1.0, -1.0)
    exact = Q.astype(np.float64) @ signs.T
    approx = scale[:, None] * (Qi.astype(np.float64) @ signs.T)
    assert np.all(np.abs(exact - approx) <= err[:, None] * (1 + 1e-9) + 1e-300)


@given(SEEDS, WIDE_DIMS, st.integers(1, 40), st.sampled_from(["ubinary", "binary"]))
def test_int16_tables_hold_exact_integer_scores(seed, d, nq, precision):
    rng = np.random.default_rng(seed)
    Qi, _, _ = _weights(rng.standard_normal((nq, d)).astype(np.float32))
    w = (d + 7) // 8
    T = np.empty((-(-nq // KL.WIDE_GROUP), w, 256, KL.WIDE_GROUP), np.int16)
    KL.build_tables16(Qi, precision == "binary", T)
    codes = rng.integers(0, 256, (30, w)).astype(np.uint8)
    if d % 8:
        codes[:, -1] &= np.uint8((0xFF << (8 - d % 8)) & 0xFF)  # padding bits clear, as encoders leave them
    if precision == "binary":
        codes ^= 0x80
    lanes = T.transpose(0, 3, 1, 2).reshape(-1, w, 256)  # (query slot, p, v)
    got = lanes[:, np.arange(w), codes].astype(np.int64).sum(axis=2)  # (slot, row)
    assert np.array_equal(got[:nq], Qi.astype(np.int64) @ _signs(codes, d, precision).T)
    assert not lanes[nq:].any()  # slots past the last query are 0


_lut16_8 = njit(lambda T, X, i0, a0, p0, p1, acc: KL.lut16_rows_8(T, X, i0, a0, p0, p1, acc))
_lut16_1 = njit(lambda T, X, i0, a0, p0, p1, acc: KL.lut16_rows_1(T, X, i0, a0, p0, p1, acc))


@given(SEEDS, st.integers(1, 80), st.data())
def test_lut16_rows_add_a_window_of_entries_without_overflow(seed, w, data):
    # entries near the int16 limit whose window sums reach +-32767: the int16 lanes must not wrap
    rng = np.random.default_rng(seed)
    p0 = data.draw(st.integers(0, w))
    p1 = data.draw(st.integers(p0, min(w, p0 + KL.WIDE_SPAN)))
    n = max(1, p1 - p0)
    T = rng.integers(-(32767 // n), 32767 // n + 1, (w, 256, KL.WIDE_GROUP)).astype(np.int16)
    T[:, 7] = 32767 // n  # byte value 7: the largest sum a window may hold
    T[:, 9] = -(32767 // n)
    X = rng.integers(0, 256, (11, w)).astype(np.uint8)
    X[3] = 7
    X[4] = 9
    X = read_only(X)
    start = rng.integers(-2**30, 2**30, (12, KL.WIDE_GROUP)).astype(np.int32)
    want = start.astype(np.int64)
    for r in range(9):
        want[1 + r] += T[np.arange(p0, p1), X[2 + r, p0:p1]].astype(np.int64).sum(axis=0)
    acc = start.copy()
    _lut16_8(T, X, 2, 1, p0, p1, acc)  # rows 2..9 into acc rows 1..8
    _lut16_1(T, X, 10, 9, p0, p1, acc)
    assert np.array_equal(acc.astype(np.int64), want)


@given(SEEDS, WIDE_DIMS, st.sampled_from(["ubinary", "binary"]), st.booleans())
def test_signs_row_equals_the_table_sum_bit_for_bit(seed, d, precision, signed_zeros):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((3, d)).astype(np.float32) * np.float32(rng.choice([1e-3, 1.0, 1e6]))
    if signed_zeros:  # zeros of both signs, which a careless sum could turn into -0.0
        Q[:, ::3] = np.float32(-0.0)
        Q[:, 1::3] = np.float32(0.0)
    w = (d + 7) // 8
    flip = precision == "binary"
    T = np.empty((1, w, 256, 8), np.float32)
    KL.build_tables(Q, flip, T)
    X = rng.integers(0, 256, (20, w)).astype(np.uint8)
    X[0] = 0
    X[1] = 255
    base = np.empty(w, np.float64)
    two = np.empty(8 * w, np.float64)
    for q in range(3):
        KL.signs_terms(Q, q, base, two)
        for row in X:
            want = np.float32(0.0)
            for p in range(w):
                want = np.float32(want + T[0, p, row[p], q])
            got = np.float32(KL.signs_row(row, flip, base, two))  # a float32, boxed as a Python float (exact)
            assert got.tobytes() == want.tobytes()


@given(SEEDS, WIDE_DIMS, st.integers(17, 70), st.integers(1, 600), st.integers(1, 4),
       st.sampled_from(["ubinary", "binary"]), st.sampled_from([5, 64, 4096]))
def test_int16_stage_keeps_the_best_integer_scores(seed, d, nq, n, k, precision, rb):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((nq, d)).astype(np.float32)
    x = rng.standard_normal((n, d))
    codes = R.pack_ubinary(x) if precision == "ubinary" else R.pack_binary(x)
    codes[: n // 3] = codes[n // 3: 2 * (n // 3)]  # duplicate rows: ties in the integer scores
    X = read_only(codes.view(np.uint8))
    Qi, _, _ = _weights(Q)
    T = np.empty((-(-nq // KL.WIDE_GROUP), codes.shape[1], 256, KL.WIDE_GROUP), np.int16)
    KL.build_tables16(Qi, precision == "binary", T)
    full = (Qi.astype(np.int64) @ _signs(codes, d, precision).T).astype(np.float64)
    want_scores, want_ids = R.search_top_k(full, min(k, n))
    for nchunks in (0, 1, 3):
        keys = np.full((nq, min(k, n)), np.iinfo(np.int64).max, np.int64)
        ids = np.full((nq, min(k, n)), -1, np.int64)
        if nchunks:
            KB.signs16_search_parallel(X, T, rb, nchunks, keys, ids)
        else:
            KB.signs16_search_range(X, T, 0, n, rb, keys, ids)
        assert np.array_equal(ids, want_ids)
        assert np.array_equal(-keys, want_scores)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30)), min_size=1, max_size=40, unique_by=lambda t: t[1]),
       st.integers(1, 6))
def test_offer_ranks_equal_keys_by_row(pairs, k):
    # candidates arriving in any row order (the exact finish takes them by integer score)
    keys = np.full((2, k), np.inf, np.float32)
    ids = np.full((2, k), -1, np.int64)
    for key, row in pairs:
        offer(keys, ids, 1, np.float32(key), row)
    finish(keys, ids)
    want = sorted(pairs)[:k]
    assert ids[1, : len(want)].tolist() == [row for _, row in want]
    assert keys[1, : len(want)].tolist() == [key for key, _ in want]
    assert not np.isfinite(keys[0]).any() and (ids[0] == -1).all()  # other lists untouched


# --------------------------------------------------------------------------- drivers made by the factory

_PROBE = '''
import json
import sys

import numpy as np
from numba import njit

from quantlib._kernels import drivers
from quantlib._kernels.topk import push


@njit(cache=True)
def _up(X, r0, r1, rb, keys, ids):
    for i in range(r0, r1):
        if X[i] < keys[0, 0]:
            push(keys, ids, 0, X[i], i)


@njit(cache=True)
def _down(X, r0, r1, rb, keys, ids):  # the same argument types as _up: the same index key
    for i in range(r0, r1):
        if -X[i] < keys[0, 0]:
            push(keys, ids, 0, -X[i], i)


@njit(cache=True)
def _shifted(X, shift, r0, r1, rb, keys, ids):  # one more leading argument
    for i in range(r0, r1):
        if X[i] + shift < keys[0, 0]:
            push(keys, ids, 0, X[i] + shift, i)
    return shift < 0


@njit(cache=True)
def _fill(X, shift, r0, r1, rb, out):
    for i in range(r0, r1):
        out[i] = X[i] + shift


made = {"up": drivers.search_drivers(_up), "down": drivers.search_drivers(_down),
        "shifted": drivers.search_drivers(_shifted)}
fill_parallel = drivers.blocks_driver(_fill)
X = np.array([5.0, 1.0, 4.0, 1.0, 3.0, 9.0, 2.0, 6.0])
got = {}
for name, (search, search_parallel) in made.items():
    for kind, driver, tail in (("search", search, (0, X.shape[0], 3)), ("parallel", search_parallel, (3, 3))):
        keys, ids = np.full((1, 3), np.inf), np.full((1, 3), -1, np.int64)
        lead = (X, -1.0) if name == "shifted" else (X,)
        bad = driver(*lead, *tail, keys, ids)
        got[f"{name} {kind}"] = [keys[0].tolist(), ids[0].tolist(), bool(bad)]
out = np.zeros_like(X)
fill_parallel(X, 0.5, 3, out)
got["fill"] = out.tolist()
drivers.search_drivers(_up)  # the same kernel again (a module reload): the same drivers
_other = njit(cache=True)(lambda X, r0, r1, rb, keys, ids: None)
_other.py_func.__name__ = "_up"  # another kernel whose drivers would take _up's names
try:
    drivers.search_drivers(_other)
except ValueError:
    got["twice"] = "refused"
stats = [d.stats for pair in made.values() for d in pair] + [fill_parallel.stats]
got["hits"] = [sum(s.cache_hits.values()) for s in stats]
got["misses"] = [sum(s.cache_misses.values()) for s in stats]
json.dump(got, sys.stdout)
'''


def test_factory_drivers_load_from_the_cache_and_never_each_others(tmp_path):
    """Drivers made by the factory are cached like any kernel, each under its own name.

    Two processes share a fresh cache directory: the first compiles and saves,
    the second loads every driver (hits, no misses).  ``_up`` and ``_down`` give
    drivers from the same template line with the same argument types: if they
    shared cache files, the second process would load one's machine code for the
    other and rank the rows the wrong way; a third kernel whose drivers would take
    ``_up``'s names is refused.  ``_shifted`` has one more leading
    argument: the same factory makes its drivers, and its True return comes out.
    """
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "kd_probe.py").write_text(_PROBE)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    runs = [json.loads(subprocess.run([sys.executable, "-c", "import kd_probe"], env=env, cwd=tmp_path,
                                      capture_output=True, text=True, check=True, timeout=600).stdout)
            for _ in range(2)]
    for got in runs:
        for kind in ("search", "parallel"):
            assert got[f"up {kind}"] == [[1.0, 1.0, 2.0], [1, 3, 6], False]
            assert got[f"down {kind}"] == [[-9.0, -6.0, -5.0], [5, 7, 0], False]
            assert got[f"shifted {kind}"] == [[0.0, 0.0, 1.0], [1, 3, 6], True]
        assert got["fill"] == (np.array([5.0, 1.0, 4.0, 1.0, 3.0, 9.0, 2.0, 6.0]) + 0.5).tolist()
        assert got["twice"] == "refused"
    assert runs[0]["misses"] == [1] * 7 and runs[0]["hits"] == [0] * 7
    assert runs[1]["hits"] == [1] * 7 and runs[1]["misses"] == [0] * 7


@given(scales=st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=0.0),
                       min_size=1, max_size=6))
def test_sparse_dequantize_u8_is_the_float32_product(scales):
    """``dequantize_u8`` is ``scale_values``: every code times every scale, subnormal to huge, as float32 does it."""
    from quantlib._kernels import sparse as KS

    s = np.array(scales, np.float32)
    codes = np.tile(np.arange(256, dtype=np.uint8), len(s))
    indptr = np.arange(0, 256 * len(s) + 1, 256, dtype=np.int64)
    out = np.empty(codes.shape[0], np.float32)
    KS.dequantize_u8(indptr, codes, s, out)
    with np.errstate(over="ignore"):
        want = codes.astype(np.float32) * np.repeat(s, 256)
    assert np.array_equal(out, want)

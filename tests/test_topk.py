"""Top-k selection: the bounded heaps of quantlib._kernels.topk and every kernel that keeps one.

The reference is ``np.lexsort`` on ``(row id, key)``: the best ``k`` by key,
ties to the lower row id.  Scores are drawn from a handful of values so that
ties are the rule, and ``k`` runs from 1 to past the number of rows (empty
slots: the largest key and id -1, last), on every layout: Hamming, float and
integer-code dense rows, BLAS blocks, float queries against bits (both
stages), MaxSim documents and sparse postings, serial and merged from threads.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import quantlib as ql
import quantlib._kernels._config as C
import quantlib._planner as M
from quantlib._kernels import bits as KB
from quantlib._kernels import dense as KD
from quantlib._kernels import lut as KL
from quantlib._kernels import topk as KT

SEEDS = st.integers(0, 2**32 - 1)


def lexsort_top(keys: np.ndarray, k: int, empty) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row of ``keys`` (lower is better, ties to the lower index), padded with empty slots."""
    nq, n = keys.shape
    out_k = np.full((nq, k), empty, keys.dtype)
    out_i = np.full((nq, k), -1, np.int64)
    cols = np.arange(n)
    for q in range(nq):
        order = np.lexsort((cols, keys[q]))[:k]
        out_k[q, : order.size] = keys[q, order]
        out_i[q, : order.size] = order
    return out_k, out_i


def empty_lists(nq: int, k: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    fill = np.iinfo(np.int64).max if np.dtype(dtype).kind == "i" else np.inf
    return np.full((nq, k), fill, dtype), np.full((nq, k), -1, np.int64)


def ks(n: int) -> list[int]:
    """Small, large, all and more than all rows."""
    return sorted({1, min(3, n), max(1, n // 10), max(1, n // 2), n, n + 3})


def is_heap(kr: np.ndarray, ir: np.ndarray) -> bool:
    for c in range(1, kr.size):
        p = (c - 1) // 2
        if (kr[c], ir[c]) > (kr[p], ir[p]):
            return False
    return True


# --------------------------------------------------------------------------- the heap itself


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 300)), min_size=0, max_size=200,
                unique_by=lambda t: t[1]), st.integers(1, 250), st.sampled_from([np.float32, np.int64]))
def test_offer_then_finish_keeps_the_best_k_by_key_then_row(pairs, k, dtype):
    # candidates in any row order (the exact finish of the int16 stage takes them so)
    keys, ids = empty_lists(2, k, dtype)
    for key, row in pairs:
        KT.offer(keys, ids, 1, dtype(key), row)
        assert is_heap(keys[1], ids[1])
    KT.finish(keys, ids)
    want = sorted(pairs)[:k]
    assert ids[1, : len(want)].tolist() == [row for _, row in want]
    assert keys[1, : len(want)].tolist() == [key for key, _ in want]
    assert (ids[1, len(want):] == -1).all()
    assert (ids[0] == -1).all()  # other lists untouched (and still empty after finish)


@given(SEEDS, st.integers(1, 40), st.integers(1, 6), st.integers(1, 60))
def test_merge_of_thread_heaps_equals_one_scan(seed, n, nparts, k):
    rng = np.random.default_rng(seed)
    keys_all = rng.integers(0, 4, (3, n)).astype(np.float32)
    bounds = np.linspace(0, n, nparts + 1).astype(int)
    part_keys = np.full((nparts, 3, k), np.inf, np.float32)
    part_ids = np.full((nparts, 3, k), -1, np.int64)
    order = rng.permutation(nparts)  # the merge does not depend on the order of the parts
    for c in range(nparts):
        for q in range(3):
            for i in range(bounds[c], bounds[c + 1]):
                KT.offer(part_keys[c], part_ids[c], q, keys_all[q, i], i)
    keys, ids = empty_lists(3, k, np.float32)
    KT.merge(part_keys[order], part_ids[order], keys, ids)
    KT.finish(keys, ids)
    want_k, want_i = lexsort_top(keys_all, k, np.inf)
    assert np.array_equal(ids, want_i) and np.array_equal(keys, want_k)


@given(SEEDS, st.integers(1, 50))
def test_heapify_takes_sorted_lists_back_to_heaps(seed, k):
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.integers(0, 3, (2, k))).astype(np.float64)
    ids = np.argsort(rng.random((2, k)), axis=1).astype(np.int64)
    order = np.lexsort((ids, keys))
    keys, ids = np.take_along_axis(keys, order, 1), np.take_along_axis(ids, order, 1)
    k0, i0 = keys.copy(), ids.copy()
    KT.heapify(keys, ids)
    assert all(is_heap(keys[q], ids[q]) for q in range(2))
    KT.finish(keys, ids)
    assert np.array_equal(keys, k0) and np.array_equal(ids, i0)


# --------------------------------------------------------------------------- kernels, small and large k


def _words(Q: np.ndarray) -> np.ndarray:
    """Queries as the little-endian uint64 words the Hamming kernels take (tiles of four)."""
    nq, w = Q.shape
    nw = -(-w // 8)
    padded = np.zeros((-(-nq // 4) * 4 if nq > 1 else 1, nw * 8), np.uint8)
    padded[:nq, :w] = Q
    return padded.view("<u8")


def _pad4(x: np.ndarray) -> np.ndarray:
    return M._pad4(x)


@given(SEEDS, st.integers(1, 3), st.integers(1, 6), st.integers(1, 400), st.integers(1, 5))
def test_hamming_kernels_at_every_k(seed, w, nq, n, nchunks):
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (3, w), dtype=np.uint8)
    X = pool[rng.integers(0, 3, n)]
    Q = rng.integers(0, 256, (nq, w), dtype=np.uint8)
    counts = np.unpackbits(Q[:, None, :] ^ X[None, :, :], axis=2).sum(2).astype(np.int64)
    for k in ks(n):
        want = lexsort_top(counts, k, np.iinfo(np.int64).max)
        keys, ids = empty_lists(nq, k, np.int64)
        KB.hamming_search_range(X, _words(Q), 0, n, 7, keys, ids)
        assert np.array_equal(ids, want[1]) and np.array_equal(keys, want[0])
        keys, ids = empty_lists(nq, k, np.int64)
        KB.hamming_search_parallel(X, _words(Q), 7, nchunks, keys, ids)
        assert np.array_equal(ids, want[1]) and np.array_equal(keys, want[0])


@given(SEEDS, st.integers(1, 6), st.integers(1, 300), st.integers(1, 4), st.integers(1, 4))
def test_dense_kernels_and_blas_blocks_at_every_k(seed, nq, n, nchunks, nblocks):
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, (n, 5)).astype(np.int8)  # few distinct scores: many ties
    W = rng.integers(-2, 3, (nq, 5)).astype(np.float32)
    scores = (W.astype(np.float64) @ X.T.astype(np.float64)).astype(np.float32)
    args = (_pad4(W), X, _pad4(np.ones(nq, np.float32)), _pad4(np.zeros(nq, np.float32)), np.ones(n, np.float32),
            np.zeros(n, np.float32))
    cuts = np.linspace(0, n, nblocks + 1).astype(int)
    for k in ks(n):
        want_k, want_i = lexsort_top(-scores, k, np.inf)
        keys, ids = empty_lists(nq, k, np.float32)
        assert not KD.search_range(*args, 0, n, 3, keys, ids)
        assert np.array_equal(ids, want_i) and np.array_equal(keys, want_k)
        keys, ids = empty_lists(nq, k, np.float32)
        assert not KD.search_parallel(*args, 3, nchunks, keys, ids)
        assert np.array_equal(ids, want_i) and np.array_equal(keys, want_k)
        keys, ids = empty_lists(nq, k, np.float32)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            KD.topk_block(np.ascontiguousarray(scores[:, a:b]), *args[2:], a, keys, ids)
        KT.finish(keys, ids)
        assert np.array_equal(ids, want_i) and np.array_equal(keys, want_k)


@given(SEEDS, st.integers(1, 20), st.integers(1, 300), st.sampled_from([0, 1, 3]))
def test_float_tables_over_bits_at_every_k(seed, nq, n, nchunks):
    rng = np.random.default_rng(seed)
    d = 16
    Q = rng.integers(-2, 3, (nq, d)).astype(np.float32)  # integer sums: exact, many ties
    X = rng.integers(0, 4, (n, 1), dtype=np.uint8) * np.uint8(17) * np.ones((1, 2), np.uint8)
    signs = np.unpackbits(X, axis=1).astype(np.float64) * 2 - 1
    full = (Q.astype(np.float64) @ signs.T).astype(np.float32)
    group = 1 if nq == 1 else 8
    T = np.empty((-(-nq // group), 2, 256, group), np.float32)
    KL.build_tables(Q, False, T)
    A = np.ones(nq, np.float32)
    B = np.zeros(nq, np.float32)
    for k in ks(n):
        want_k, want_i = lexsort_top(-full, k, np.inf)
        keys, ids = empty_lists(nq, k, np.float32)
        if nchunks:
            KB.signs_search_parallel(X, T, A, B, 5, nchunks, keys, ids)
        else:
            KB.signs_search_range(X, T, A, B, 0, n, 5, keys, ids)
        assert np.array_equal(ids, want_i) and np.array_equal(keys, want_k)


# --------------------------------------------------------------------------- public entry points


def _tied_corpus(seed: int, n: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pool = rng.integers(-2, 3, (4, d)).astype(np.float32)
    return pool[rng.integers(0, 4, n)]


CASES = [
    ("float32", "dot", 1), ("float32", "dot", 9),  # one query (float kernels), a batch (BLAS blocks)
    ("int8", "dot", 40),  # float queries against codes: the int16 first stage where k allows
    ("ubinary", "hamming", 5), ("ubinary", "dot", 40),  # bits: Hamming, float tables (int16 stage)
]


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_search_at_large_k_equals_lexsort_of_pairwise(case, parallel, monkeypatch):
    precision, metric, nq = case
    if parallel:
        monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 1)
    n, d = 1500, 24
    x = _tied_corpus(7, n, d)
    q = np.random.default_rng(8).integers(-2, 3, (nq, d)).astype(np.float32)
    kwargs = {"metric": metric}
    if precision == "int8":
        codec = ql.ScalarCodec("int8", [[-2.0] * d, [2.0] * d])
        corpus, kwargs["codec"] = codec.encode(x), codec
    elif precision == "ubinary":
        corpus, kwargs["precision"] = ql.quantize(x, "ubinary"), "ubinary"
        if metric == "hamming":
            q = ql.quantize(q, "ubinary")
    else:
        corpus = x
    full = ql.pairwise(q, corpus, **kwargs)
    higher = ql.metric_info(metric).higher_is_better
    cols = np.arange(n)
    for k in (1, 10, 150, 700, n):
        scores, ids = ql.search(q, corpus, k, **kwargs)
        for r in range(nq):
            order = np.lexsort((cols, -full[r].astype(np.float64) if higher else full[r]))[:k]
            assert np.array_equal(ids[r], order), (k, r)
            assert np.array_equal(scores[r], full[r, order])


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_maxsim_search_at_every_k(precision, parallel, monkeypatch):
    if parallel:
        monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 1)
    rng = np.random.default_rng(3)
    pool = [(rng.integers(-2, 3, (t, 8)) / 2).astype(np.float32) for t in (1, 2, 3)]
    docs = [pool[i] for i in rng.integers(0, 3, 300)]  # three distinct documents: ties everywhere
    batch = ql.MultiVectorBatch.from_arrays(docs)
    if precision != "float32":
        batch = batch.quantize(precision, ranges=np.array([[-1.0] * 8, [1.0] * 8])) if precision == "int8" \
            else batch.quantize(precision)
    q = (rng.integers(-2, 3, (2, 8)) / 2).astype(np.float32)
    full = ql.maxsim(q, batch)
    for k in (1, 7, 100, 300):
        scores, ids = ql.maxsim_search(q, batch, k)
        order = np.lexsort((np.arange(300), -full.astype(np.float64)))[:k]
        assert np.array_equal(ids, order[None]) and np.array_equal(scores, full[order][None])


def test_sparse_search_at_every_streamed_k():
    rng = np.random.default_rng(5)
    rows = [{int(c): float(v) for c, v in zip(rng.choice(6, 2, replace=False), rng.integers(1, 3, 2), strict=True)}
            for _ in range(700)]
    corpus = ql.SparseBatch.from_dicts(rows)
    queries = ql.SparseBatch.from_dicts([{0: 1.0, 3: 2.0}, {1: 1.0}, {}])
    dots = ql.sparse_dot(queries, corpus)
    index = ql.SparseIndex(corpus)
    for k in (1, 10, 64, 255, 256, 257, 700):
        s, i = index.search(queries, k)
        for r in range(3):
            order = np.lexsort((np.arange(700), -dots[r].astype(np.float64)))[:k]
            assert np.array_equal(i[r], order) and np.array_equal(s[r], dots[r, order])

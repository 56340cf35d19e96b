"""The bit-plane first stage of float queries against bits: kernels against numpy, search equal to the float tables."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import quantlib as ql
import quantlib._kernels._config as C
import quantlib._planner as M
from quantlib import _reference as R
from quantlib._corpus import prepare_corpus
from quantlib._kernels import planes as KP
from quantlib.sample import load_sample

SEEDS = st.integers(0, 2**32 - 1)
BIT_DIMS = st.one_of(st.sampled_from([1, 7, 8, 63, 64, 65, 100, 255, 257, 300]), st.integers(1, 40))


def _weights(q: np.ndarray):
    V = np.empty(q.shape, np.int8)
    scale = np.empty(len(q))
    err = np.empty(len(q))
    KP.plane_weights(q, V, scale, err)
    return V, scale, err


def _reference_scores(V: np.ndarray, bits: np.ndarray, flip: bool) -> np.ndarray:
    """numpy twin of the kernels: ``I = sum_j |v_j| [b_j != (v_j < 0)]`` with ``b`` the +1 bits."""
    d = V.shape[1]
    raw = bits.view(np.uint8) ^ np.uint8(0x80) if flip else bits.view(np.uint8)  # binary: offset binary
    b = np.unpackbits(raw, axis=1)[:, :d].astype(np.int64)
    agree = b[None, :, :] != (V < 0)[:, None, :]
    return (np.abs(V.astype(np.int64))[:, None, :] * agree).sum(axis=2)


@given(seed=SEEDS, d=BIT_DIMS, nq=st.integers(1, 5), n=st.integers(1, 40),
       precision=st.sampled_from(["ubinary", "binary"]), size=st.sampled_from([1.0, 1e-30, 1e-41, 1e30]),
       zeros=st.booleans())
def test_plane_scores_equal_numpy_and_bound_the_float_scores(seed, d, nq, n, precision, size, zeros):
    rng = np.random.default_rng(seed)
    q = (rng.standard_normal((nq, d)) * size).astype(np.float32)
    if zeros:
        q[0] = 0.0
        q[:, ::3] = 0.0
    bits = ql.quantize(rng.standard_normal((n, d)), precision)
    V, scale, err = _weights(q)
    top = 2**KP.PLANES - 1
    assert np.abs(V.astype(np.int64)).max(initial=0) <= top
    want_err = np.abs(q.astype(np.float64) - scale[:, None] * V).sum(axis=1)
    assert np.allclose(err, want_err, rtol=1e-12, atol=0)
    assert np.all(V[q == 0] == 0)
    flip = precision == "binary"
    P = KP.pack_planes(V, flip, bits.shape[1])
    got = np.empty((nq, n), np.int32)
    KP.planes_scores_range(bits.view(np.uint8), P, 0, n, 7, got)
    ref = _reference_scores(V, bits, flip)
    assert np.array_equal(got, ref)
    # the float score of every row lies within err of scale * (2 I - S)
    raw = bits.view(np.uint8) ^ np.uint8(0x80) if flip else bits.view(np.uint8)
    signs = 2.0 * np.unpackbits(raw, axis=1)[:, :d] - 1.0
    exact = q.astype(np.float64) @ signs.T
    S = np.abs(V.astype(np.int64)).sum(axis=1)
    approx = scale[:, None] * (2.0 * ref - S[:, None])
    assert np.all(np.abs(exact - approx) <= err[:, None] * (1 + 1e-9) + 1e-300)


def _plan(q, corpus, metric, precision):
    plan = M.plan_queries(q, prepare_corpus(corpus, metric, precision=precision), metric)
    assert plan.kind == "signs"
    return plan


def _both_stages(plan, k, par=False, nchunks=1):
    """(certified, plane-stage result, float-table result) of one plan."""
    shape = (plan.nq, k)
    planes = np.full(shape, np.inf, np.float32), np.full(shape, -1, np.int64)
    certified = plan._topk_signs_planes(*planes, par, nchunks)
    exact = np.full(shape, np.inf, np.float32), np.full(shape, -1, np.int64)
    plan._topk_signs(*exact, False, 1)
    return certified, planes, exact


@given(seed=SEEDS, d=BIT_DIMS, nq=st.integers(1, 4), k=st.integers(1, 12), extra=st.integers(0, 300),
       metric=st.sampled_from(["dot", "cosine", "sqeuclidean"]), precision=st.sampled_from(["ubinary", "binary"]),
       distinct=st.sampled_from([3, 50, 10_000]), size=st.sampled_from([1.0, 1e-30, 1e-41, 1e36]),
       nchunks=st.sampled_from([1, 3]))
def test_plane_stage_gives_the_float_table_result(seed, d, nq, k, extra, metric, precision, distinct, size,
                                                  nchunks):
    # few distinct rows (ties at the k-th place), zero queries, tiny and huge queries, chunks:
    # the result is always the float tables' result, bit for bit, ties by lower index
    rng = np.random.default_rng(seed)
    n = M._wide_candidates(k) * C.WIDE_MIN_ROWS_PER_CANDIDATE + extra
    pool = rng.standard_normal((min(distinct, n), d))
    corpus = ql.quantize(pool[rng.integers(0, len(pool), n)], precision)
    q = (rng.standard_normal((nq, d)) * size).astype(np.float32)
    q[0] = 0.0
    if metric == "sqeuclidean":
        q /= np.float32(max(1.0, size ** 0.5 * 1e3))  # keep |q|^2 finite in float32
    try:
        plan = _plan(q, corpus, metric, precision)
    except ql.OutOfRangeError:  # dot: some sum |q| too near float32's limit (tested elsewhere)
        return
    certified, planes, exact = _both_stages(plan, k, nchunks > 1, nchunks)
    assert np.array_equal(planes[0], exact[0]) and np.array_equal(planes[1], exact[1])
    if distinct > 1000 and size == 1.0 and d >= 32:
        assert certified >= nq - 1  # distinct rows: every nonzero query is settled by the plane stage
    scores, ids = ql.search(q, corpus, k, metric=metric, precision=precision)
    assert np.array_equal(ids, exact[1])
    if metric != "sqeuclidean":  # a similarity: the reference ranks it higher first
        want = R.search_top_k(ql.pairwise(q, corpus, metric, precision=precision).astype(np.float64), k)
        assert np.array_equal(ids, want[1])


def test_plane_stage_settles_real_queries():
    sample = load_sample()
    for precision in ("ubinary", "binary"):
        corpus = ql.quantize(sample.documents, precision)
        for metric in ("dot", "cosine", "sqeuclidean"):
            plan = _plan(sample.queries[:40], corpus, metric, precision)
            certified, planes, exact = _both_stages(plan, 10)
            assert certified == 40  # every real query: one scan of planes, a few rows scored exactly
            assert np.array_equal(planes[0], exact[0]) and np.array_equal(planes[1], exact[1])


def test_plane_stage_falls_back_when_too_many_rows_tie(monkeypatch):
    sample = load_sample()
    n = M._wide_candidates(10) * C.WIDE_MIN_ROWS_PER_CANDIDATE
    same = np.zeros((n, 48), np.uint8)  # identical rows: every row ties with the k-th
    monkeypatch.setattr(C, "PLANES_BUFFER_ROWS", 0)  # a buffer of 4k + 64 rows: they overflow it
    for par, nchunks in ((False, 1), (True, 2)):
        certified, planes, exact = _both_stages(_plan(sample.queries[:3], same, "dot", "ubinary"), 10, par, nchunks)
        assert certified == 0  # the float tables decide: rows 0..9
        assert np.array_equal(planes[1], exact[1]) and np.array_equal(planes[1][0], np.arange(10))
        assert np.array_equal(planes[0], exact[0])
    monkeypatch.undo()
    certified, planes, exact = _both_stages(_plan(sample.queries[:3], same, "dot", "ubinary"), 10)
    assert certified == 3  # a buffer that holds them all: every tied row scored exactly, ties by index
    assert np.array_equal(planes[0], exact[0]) and np.array_equal(planes[1], exact[1])
    zero = np.zeros((2, 384), np.float32)  # cosine of a zero query: no positive scale to bound with
    corpus = ql.quantize(sample.documents, "ubinary")
    certified, planes, exact = _both_stages(_plan(zero, corpus, "cosine", "ubinary"), 10)
    assert np.array_equal(planes[0], exact[0]) and np.array_equal(planes[1], exact[1])


def test_few_queries_take_the_plane_stage(monkeypatch):
    calls = []
    stage = M.Plan._topk_signs_planes
    monkeypatch.setattr(M.Plan, "_topk_signs_planes", lambda self, *a: calls.append(self.nq) or stage(self, *a))
    rng = np.random.default_rng(2)
    bits = ql.quantize(rng.standard_normal((9000, 64)), "ubinary")
    q = rng.standard_normal((40, 64)).astype(np.float32)
    for nq in range(1, C.PLANES_MAX_QUERIES + 1):
        ql.search(q[:nq], bits, 10, metric="dot", precision="ubinary")
    assert calls == list(range(1, C.PLANES_MAX_QUERIES + 1))
    calls.clear()
    ql.search(q[:C.PLANES_MAX_QUERIES + 1], bits, 10, metric="dot", precision="ubinary")  # the float tables
    ql.search(q[:1], bits, C.WIDE_MAX_K + 1, metric="dot", precision="ubinary")  # long candidate lists
    ql.search(q[:1], bits[:M._wide_candidates(10) * C.WIDE_MIN_ROWS_PER_CANDIDATE - 1], 10, metric="dot",
              precision="ubinary")  # too few rows for the stage to pay
    ql.search(q[:1], bits, 10, metric="hamming")  # binarized queries: Hamming counts
    assert calls == []


@pytest.mark.parametrize("precision", ["ubinary", "binary"])
def test_plane_stage_in_parallel_equals_serial(precision, monkeypatch):
    rng = np.random.default_rng(4)
    corpus = ql.quantize(rng.standard_normal((5000, 100)), precision)
    q = rng.standard_normal((3, 100)).astype(np.float32)
    serial = ql.search(q, corpus, 10, metric="cosine", precision=precision)
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 1)
    par = ql.search(q, corpus, 10, metric="cosine", precision=precision)
    assert np.array_equal(serial[0], par[0]) and np.array_equal(serial[1], par[1])
    certified, planes, exact = _both_stages(_plan(q, corpus, "cosine", precision), 10, True, 4)
    assert certified == 3
    assert np.array_equal(planes[0], exact[0]) and np.array_equal(planes[1], exact[1])

"""quantlib.rescore (external candidates) and ScalarCodec.fold_query (raw-dot stores).

rescore is checked against a numpy twin (hypothesis), against quantlib's own
second stage on the same candidates, and on candidates from faiss HNSW and
usearch on the bundled sample; fold_query against the dequantized scores and
in usearch's exact int8 inner-product search.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantlib as ql
from quantlib.sample import load_sample

K = 10


def _twin(queries, cand, rows, k, metric, codec=None, precision=None):
    """rescore by hand: per query the distinct valid ids, scored by pairwise, sorted by (-score, id), padded."""
    out_s = np.full((len(queries), k), -np.inf, np.float32)
    out_i = np.full((len(queries), k), -1, np.int64)
    for qi, row in enumerate(cand):
        ids = np.unique(np.asarray([c for c in row if c != -1], np.int64))
        if ids.size == 0:
            continue
        s = ql.pairwise(queries[qi:qi + 1], rows[ids], metric, codec=codec, precision=precision)[0]
        order = sorted(range(ids.size), key=lambda j: (-float(s[j]), int(ids[j])))[:k]
        out_s[qi, :len(order)] = s[order]
        out_i[qi, :len(order)] = ids[order]
    return out_s, out_i


@st.composite
def cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    n = draw(st.integers(1, 30), label="n")
    d = draw(st.sampled_from([1, 3, 8, 9, 17]), label="d")
    m = draw(st.integers(1, 4), label="m")
    # few distinct values, so that equal scores (and the tie rule) are common
    base = rng.integers(-2, 3, (n, d)).astype(np.float32) / 2
    queries = rng.integers(-2, 3, (m, d)).astype(np.float32) / 2
    kind = draw(st.sampled_from(["float32", "float16", "float64", "int8", "uint8", "ubinary"]), label="kind")
    codec = precision = None
    rows = base
    if kind in ("float16", "float64"):
        rows = base.astype(kind)
    elif kind in ("int8", "uint8"):
        codec = ql.ScalarCodec(kind, [[-1.0] * d, [1.0] * d])
        rows = codec.encode(base)
    elif kind == "ubinary":
        precision = "ubinary"
        rows = ql.quantize(base, "ubinary")
    c = draw(st.integers(0, 12), label="c")
    cand = rng.integers(-1, n, (m, c))  # -1 padding and duplicates both common
    ragged = draw(st.booleans(), label="ragged")
    if ragged:
        cand = [list(r[: rng.integers(0, c + 1)]) for r in cand]
    k = draw(st.integers(1, 8), label="k")
    metric = draw(st.sampled_from(["cosine", "dot"]), label="metric")
    return queries, cand, rows, k, metric, codec, precision


@settings(max_examples=150, deadline=None)
@given(cases())
def test_rescore_equals_its_numpy_twin(case):
    queries, cand, rows, k, metric, codec, precision = case
    scores, ids = ql.rescore(queries, cand, rows, k, metric=metric, codec=codec, precision=precision)
    want_s, want_i = _twin(queries, cand, rows, k, metric, codec, precision)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert np.array_equal(ids, want_i)
    assert np.array_equal(scores, want_s)


def _one_query_at_a_time(*args, **kwargs):
    """rescore as it was before the batched kernel: a plan per query (kept as search's second stage)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys.modules["quantlib.search"], "_batchable", lambda rc: False)
        return ql.rescore(*args, **kwargs)


@st.composite
def batch_cases(draw):
    """Dense rows (float32/16/64, int8/uint8 with a codec or raw) with ties, padding, duplicates, ragged lists."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    n = draw(st.integers(1, 40), label="n")
    d = draw(st.sampled_from([1, 2, 7, 8, 9, 31, 64, 384]), label="d")
    m = draw(st.integers(1, 9), label="m")
    ties = draw(st.booleans(), label="ties")
    if ties:  # few distinct values: equal scores everywhere
        base = rng.integers(-2, 3, (n, d)).astype(np.float32) / 2
        queries = rng.integers(-2, 3, (m, d)).astype(np.float32) / 2
    else:
        base = rng.standard_normal((n, d)).astype(np.float32)
        queries = rng.standard_normal((m, d)).astype(np.float32)
    if draw(st.booleans(), label="float64 queries"):
        queries = queries.astype(np.float64)
    kind = draw(st.sampled_from(["float32", "float16", "float64", "int8", "uint8", "raw int8"]), label="kind")
    kwargs = {}
    rows = base
    if kind in ("float16", "float64"):
        rows = base.astype(kind)
    elif kind in ("int8", "uint8"):
        lo = base.min(axis=0) if not ties else np.full(d, -1.0, np.float32)
        hi = np.maximum(base.max(axis=0), lo + 0.5) if not ties else np.ones(d, np.float32)
        kwargs["codec"] = ql.ScalarCodec(kind, [lo, hi])
        rows = kwargs["codec"].encode(base)
    elif kind == "raw int8":
        rows = rng.integers(-128, 128, (n, d)).astype(np.int8)
        kwargs["precision"] = "int8"
    c = draw(st.integers(0, 50), label="c")
    cand = rng.integers(-1, n, (m, c))  # -1 padding and duplicates both common
    if draw(st.booleans(), label="ragged"):
        cand = [list(r[: rng.integers(0, c + 1)]) for r in cand]
    k = draw(st.integers(1, 12), label="k")
    metric = draw(st.sampled_from(["cosine", "dot", "sqeuclidean"]), label="metric")  # l2: the one-query path
    return queries, cand, rows, k, metric, kwargs


@settings(max_examples=200, deadline=None)
@given(batch_cases())
def test_batched_rescore_is_bit_identical_to_one_query_at_a_time(case):
    queries, cand, rows, k, metric, kwargs = case
    got = ql.rescore(queries, cand, rows, k, metric=metric, **kwargs)
    want = _one_query_at_a_time(queries, cand, rows, k, metric=metric, **kwargs)
    assert got[0].dtype == want[0].dtype == np.float32 and got[1].dtype == want[1].dtype == np.int64
    assert np.array_equal(got[1], want[1])
    assert np.array_equal(got[0].view(np.uint32), want[0].view(np.uint32))  # bits, -0.0 included


@pytest.mark.parametrize("threads", ["serial", "parallel"])
def test_batched_rescore_on_the_sample_serial_and_threaded(threads, monkeypatch):
    s = load_sample()
    D, Q = s.documents, s.queries[:200]
    codec = ql.ScalarCodec.fit(D, "int8")
    codes = codec.encode(D)
    cand = np.random.default_rng(4).integers(-1, len(D), (len(Q), 64))
    want = {metric: [_one_query_at_a_time(Q, cand, D, K, metric=metric),
                     _one_query_at_a_time(Q, cand, codes, K, metric=metric, codec=codec)]
            for metric in ("cosine", "dot")}
    if threads == "parallel":  # the threaded kernel, whatever the size
        monkeypatch.setattr("quantlib._kernels._config.PARALLEL_MIN_WORK", 0)
    for metric in ("cosine", "dot"):
        for got, exp in zip([ql.rescore(Q, cand, D, K, metric=metric),
                             ql.rescore(Q, cand, codes, K, metric=metric, codec=codec)], want[metric], strict=True):
            assert np.array_equal(got[1], exp[1]) and np.array_equal(got[0], exp[0])


def test_batched_rescore_of_a_memory_mapped_flat_index_equals_one_query_at_a_time(tmp_path):
    s = load_sample()
    D, Q = s.documents[:600], s.queries[:30]
    codec = ql.ScalarCodec.fit(D, "int8")
    ids = np.arange(600)[::-1] * 7 + 5  # stored ids in descending order: ties rank by id, not by row
    for rescore_rows in ("float16", None):
        index = ql.FlatIndex(codec, D.shape[1], metric="cosine", rescore=rescore_rows)
        index.add(D, ids=ids)
        path = tmp_path / f"idx-{rescore_rows}"
        index.save(path)
        loaded = ql.FlatIndex.load(path, mmap=True)
        cand = ids[np.random.default_rng(6).integers(0, 600, (30, 40))]
        cand[:, ::9] = -1
        got = ql.rescore(Q, cand, loaded, K)
        want = _one_query_at_a_time(Q, cand, loaded, K)
        assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])


def test_batched_rescore_errors_name_the_candidate_row():
    rows = np.eye(4, dtype=np.float32)
    rows[2] = np.float32(1e-39)  # a norm below float32's smallest normal number
    q = np.ones((2, 4), np.float32)
    with pytest.raises(ql.OutOfRangeError, match=r"rows: row 2 has norm 2e-39, below float32's smallest normal"):
        ql.rescore(q, [[0, 1], [3, 2]], rows, 2)
    assert ql.rescore(q, [[0, 1], [3, 2]], rows, 2, metric="dot")[1].tolist() == [[0, 1], [3, 2]]
    huge = np.full((2, 4), 3e38, np.float32)
    with pytest.raises(ql.OutOfRangeError, match="rows: a score overflows float32"):
        ql.rescore(np.ones((1, 4), np.float32), [[1]], huge, 1, metric="dot")


def test_rescore_is_quantlibs_second_stage_on_the_same_candidates():
    s = load_sample()
    D, Q = s.documents, s.queries[:100]
    codec = ql.ScalarCodec.fit(D, "int8")
    codes = codec.encode(D)
    _, cand = ql.search(Q, codes, 40, codec=codec)  # quantlib's first stage
    want = ql.search(Q, codes, K, codec=codec, rescore=D, oversample=4)
    got = ql.rescore(Q, cand, D, K)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])
    # shuffled candidates and (codes, codec) rows give the same
    shuffled = np.random.default_rng(1).permuted(cand, axis=1)
    assert np.array_equal(ql.rescore(Q, shuffled, D, K)[1], want[1])
    half = D.astype(np.float16)
    want16 = ql.search(Q, codes, K, codec=codec, rescore=half, oversample=4)
    assert np.array_equal(ql.rescore(Q, shuffled, half, K)[1], want16[1])


def _recall(ids, truth):
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids.tolist(), truth.tolist(), strict=True)]))


def test_rescore_of_faiss_hnsw_and_usearch_candidates_on_the_sample():
    faiss = pytest.importorskip("faiss", reason="faiss-cpu has no wheel for this platform")
    usearch_index = pytest.importorskip("usearch.index", reason="usearch has no wheel for this platform")
    s = load_sample()
    D, Q = s.documents, s.queries
    _, truth = ql.search(Q, D, K)
    codec = ql.ScalarCodec.fit(D, "int8")
    codes = codec.encode(D)
    own = ql.search(Q, codes, K, codec=codec, rescore=D, oversample=4)  # quantlib's own two stages

    # faiss HNSW over the dequantized int8 vectors (a compressed ANN first stage), 40 candidates
    hnsw = faiss.IndexHNSWFlat(D.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efSearch = 64
    faiss.omp_set_num_threads(1)
    hnsw.add(codec.decode(codes))
    _, fc = hnsw.search(Q, 40)
    # usearch (its own HNSW, float16 storage), 40 candidates; unfound slots beyond the count become -1
    ux = usearch_index.Index(ndim=D.shape[1], metric="ip", dtype="f16")
    ux.add(np.arange(len(D)), D)
    found = ux.search(Q, 40)
    uc = found.keys.astype(np.int64)
    uc[np.arange(40)[None, :] >= found.counts[:, None]] = -1

    assert _recall(own[1], truth) == 1.0
    for cand, floor in ((fc, 0.97), (uc, 0.99)):
        got = ql.rescore(Q, cand, D, K)
        # quantlib's second stage, query by query, on the same candidates: the same ids, so the same recall
        want = np.stack([ql.search(Q[i], D[np.unique(c[c >= 0])], K)[1][0] for i, c in enumerate(cand)])
        want = np.stack([np.unique(c[c >= 0])[w] for c, w in zip(cand, want, strict=True)])
        assert np.array_equal(got[1], want)
        # recall is the ANN's: every true neighbour among the candidates is found
        reachable = np.mean([len(set(t) & set(c)) / K for t, c in zip(truth.tolist(), cand.tolist(), strict=True)])
        assert _recall(got[1], truth) == pytest.approx(reachable) and reachable >= floor


def test_folded_int8_query_in_usearch_ranks_as_the_dequantized_search():
    usearch_index = pytest.importorskip("usearch.index", reason="usearch has no wheel for this platform")
    s = load_sample()
    D, Q = s.documents, s.queries
    _, truth = ql.search(Q, D, K)
    codec = ql.ScalarCodec.fit(D, "int8")
    codes = codec.encode(D)
    dequantized = _recall(ql.search(Q, codes, K, codec=codec)[1], truth)
    raw = _recall(ql.search(codec.encode(Q), codes, K, precision="int8", metric="dot")[1], truth)
    folded = codec.fold_query(Q)
    index = usearch_index.Index(ndim=D.shape[1], metric="ip", dtype="i8")
    index.add(np.arange(len(D)), codes)
    got = index.search(folded.int8, K, exact=True)
    recall = _recall(got.keys.astype(np.int64), truth)
    assert recall >= dequantized - 0.01 and raw < dequantized - 0.1
    # usearch's i8 inner-product distance is 1 - the integer dot; mapped back, the scores are quantlib's
    dots = 1 - got.distances[:, :3].astype(np.float64)
    approx = dots / folded.scale[:, None] + folded.offset[:, None]
    exact = np.take_along_axis(ql.pairwise(Q, codes, "dot", codec=codec), got.keys[:, :3].astype(np.int64), 1)
    assert np.abs(approx - exact).max() < 0.01


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["int8", "uint8"]), st.integers(1, 40))
def test_fold_query_identity(seed, precision, d):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20, d)).astype(np.float32)
    codec = ql.ScalarCodec(precision, ql.calibration_ranges(np.tile(x, (5, 1))) if d > 1 else [[-2.0], [2.0]])
    codes = codec.encode(x)
    q = rng.standard_normal((3, d)).astype(np.float32)
    f = codec.fold_query(q)
    assert f.weights.dtype == np.float32 and f.int8.dtype == np.int8 and f.offset.shape == f.scale.shape == (3,)
    exact = codec.decode(codes).astype(np.float64) @ q.astype(np.float64).T
    folded = codes.astype(np.float64) @ f.weights.astype(np.float64).T + f.offset
    assert np.allclose(folded, exact, rtol=1e-5, atol=1e-5 * np.abs(exact).max())
    # the int8 weights: within half a step of 1/scale per weight
    assert np.abs(f.int8 / f.scale[:, None] - f.weights).max() <= 0.5 / f.scale.min() + 1e-12
    assert np.abs(f.int8).max() <= 127


def test_fold_query_edges():
    codec = ql.ScalarCodec("int8", [[0.0, -1.0], [0.0, 1.0]])  # a constant dimension: step 0
    f = codec.fold_query(np.zeros(2, np.float32))
    assert f.int8.tolist() == [[0, 0]] and f.scale.tolist() == [1.0]
    with pytest.raises(ql.ShapeError, match="queries: the codec's ranges are for dimension 2, got dimension 3"):
        codec.fold_query(np.zeros(3, np.float32))
    with pytest.raises(ql.NonFiniteError):
        codec.fold_query(np.array([np.nan, 0.0], np.float32))


# ------------------------------------------------------------------ FlatIndex, memory maps, errors


def test_rescore_reads_a_memory_mapped_flat_index_by_its_stored_ids(tmp_path):
    s = load_sample()
    D, Q = s.documents[:500], s.queries[:20]
    codec = ql.ScalarCodec.fit(D, "int8")
    ids = np.arange(500) * 3 + 1000
    index = ql.FlatIndex(codec, D.shape[1], metric="cosine", rescore="float16")
    index.add(D, ids=ids)
    index.save(tmp_path / "idx")
    loaded = ql.FlatIndex.load(tmp_path / "idx", mmap=True)
    assert isinstance(loaded._array("rescore"), np.memmap)
    rows = np.random.default_rng(2).integers(0, 500, (20, 30))
    got = ql.rescore(Q, ids[rows], loaded, K)
    want = ql.rescore(Q, rows, D.astype(np.float16), K)
    assert np.array_equal(got[1], ids[want[1]]) and np.array_equal(got[0], want[0])
    # an index without rescoring rows is read through its codes and codec
    plain = ql.FlatIndex(codec, D.shape[1])
    plain.add(D, ids=ids)
    got = ql.rescore(Q, ids[rows], plain, K)
    assert np.array_equal(got[1], ids[ql.rescore(Q, rows, codec.encode(D), K, codec=codec)[1]])
    with pytest.raises(ql.OutOfRangeError, match=r"candidate_ids\[0, 0\]: id 1001 is not in the FlatIndex"):
        ql.rescore(Q[:1], [[1001]], loaded, K)
    with pytest.raises(ql.ConfigError, match="a FlatIndex knows its own"):
        ql.rescore(Q, rows, loaded, K, codec=codec)


def test_rescore_padding_duplicates_and_ties():
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    scores, ids = ql.rescore(q, [[1, 0, 1, 0], [-1, -1], [2, 2, 2]], rows, k=3, metric="dot")
    assert ids.tolist() == [[0, 1, -1], [-1, -1, -1], [2, -1, -1]]  # ties by lower id, duplicates once
    assert scores.tolist() == [[1, 1, -np.inf], [-np.inf] * 3, [1, -np.inf, -np.inf]]
    # uint64 keys (usearch) and a single query as a vector
    assert ql.rescore(q[0], np.array([2, 0], np.uint64), rows, k=1)[1].tolist() == [[0]]


@pytest.mark.parametrize(("cand", "error", "match"), [
    ([[0, 5]], ql.OutOfRangeError, r"candidate_ids\[0, 1\]: expected a row number in 0..2 or -1 \(padding\), got 5"),
    ([[0, -2]], ql.OutOfRangeError, r"candidate_ids\[0, 1\]: .*got -2"),
    ([[0.0, 1.0]], ql.DTypeError, r"candidate_ids\[0\]: expected integer ids"),
    ([[True]], ql.DTypeError, r"candidate_ids\[0\]: expected integer ids"),
    (np.array([[0.0]]), ql.DTypeError, "candidate_ids: expected integer ids"),
    ([[0], [1]], ql.ShapeError, r"candidate_ids: expected one list per query \(1\), got 2"),
    (np.zeros((2, 3), np.int64), ql.ShapeError, r"candidate_ids: expected shape \(1, c\)"),
    (np.array([[2**63]], np.uint64), ql.OutOfRangeError, "beyond int64"),
])
def test_rescore_refuses_bad_candidates(cand, error, match):
    rows = np.eye(3, dtype=np.float32)
    with pytest.raises(error, match=match):
        ql.rescore(np.ones((1, 3), np.float32), cand, rows, 2)


def test_rescore_nan_rows_only_matter_as_candidates():
    rows = np.eye(4, dtype=np.float32)
    rows[3, 1] = np.nan
    q = np.ones((1, 4), np.float32)
    assert ql.rescore(q, [[0, 1, 2]], rows, 2)[1].tolist() == [[0, 1]]
    with pytest.raises(ql.NonFiniteError, match="rows: row 3, a candidate of query 0, holds NaN or infinity"):
        ql.rescore(q, [[0, 3]], rows, 2)
    with pytest.raises(ql.DTypeError, match="queries: rescoring needs float queries"):
        ql.rescore(np.ones((1, 4), np.int8), [[0]], rows, 1)
    with pytest.raises(ql.ShapeError):
        ql.rescore(np.ones((1, 5), np.float32), [[0]], rows, 1)

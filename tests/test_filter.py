"""Filtered search (``allow=``): exactly the search over the allowed rows alone, for every format."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantlib as ql
import quantlib._kernels._config as C


def _corpus(n=3000, d=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[::97] = x[5]  # exact duplicates: ties broken by the lower row number
    return x


X = _corpus()
Q = np.random.default_rng(1).standard_normal((5, 40)).astype(np.float32)
CODEC = ql.ScalarCodec.fit(X, "int8")

#: (name, corpus rows, search keywords, queries)
FORMATS = [
    ("float32", X, {}, Q),
    ("float16", X.astype(np.float16), {}, Q),
    ("int8-codec", CODEC.encode(X), {"codec": CODEC}, Q),
    ("int8-codes", CODEC.encode(X), {"codec": CODEC}, CODEC.encode(Q)),
    ("int8-raw", CODEC.encode(X), {"precision": "int8"}, CODEC.encode(Q)),
    ("ubinary-signs", ql.quantize(X, "ubinary"), {"precision": "ubinary"}, Q),
    ("binary-signs", ql.quantize(X, "binary"), {"precision": "binary"}, Q),
    ("ubinary-hamming", ql.quantize(X, "ubinary"), {"precision": "ubinary", "metric": "hamming"},
     ql.quantize(Q, "ubinary")),
    ("float32-l2", X, {"metric": "sqeuclidean"}, Q),
    ("int8-codec-l2", CODEC.encode(X), {"codec": CODEC, "metric": "sqeuclidean"}, Q),
]


def _mask(draw_runs: list[tuple[int, int]], n: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    pos = 0
    for gap, run in draw_runs:
        pos += gap
        mask[pos:pos + run] = True
        pos += run
    return mask


runs = st.lists(st.tuples(st.integers(0, 400), st.sampled_from([1, 2, 3, 17, 255, 256, 700])), max_size=30)


def _reference(q, rows, kw, allowed, k):
    sub = rows[allowed]
    kk = min(k, allowed.size)
    scores, ids = ql.search(q, sub, kk, **kw)
    return scores, allowed[ids]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f[0] for f in FORMATS])
@settings(max_examples=25, deadline=None)
@given(draw_runs=runs, k=st.integers(1, 12), as_list=st.booleans())
def test_filtered_search_is_the_search_of_the_allowed_rows(fmt, draw_runs, k, as_list):
    name, rows, kw, q = fmt
    mask = _mask(draw_runs, rows.shape[0])
    allowed = np.flatnonzero(mask)
    allow = allowed if as_list else mask
    metric = kw.get("metric", "cosine")
    kws = {**kw, "metric": metric}
    scores, ids = ql.search(q, rows, k, allow=allow, **kws)
    assert scores.shape == ids.shape == (q.shape[0], k)
    if allowed.size:
        ref_scores, ref_ids = _reference(q, rows, kws, allowed, k)
        kk = ref_ids.shape[1]
        assert np.array_equal(ids[:, :kk], ref_ids), name
        assert np.array_equal(scores[:, :kk], ref_scores), name
    else:
        kk = 0
    assert (ids[:, kk:] == -1).all()
    if kk < k:
        pad = scores[:, kk:]
        higher = ql.metric_info(metric).higher_is_better
        if scores.dtype.kind == "f":
            assert (pad == (-np.inf if higher else np.inf)).all()
        else:
            assert (pad == (np.iinfo(np.int64).min if higher else np.iinfo(np.int64).max)).all()


@pytest.mark.parametrize("fmt", FORMATS[:3] + FORMATS[5:6], ids=[f[0] for f in FORMATS[:3] + FORMATS[5:6]])
def test_parallel_and_two_stage_paths_filter_the_same(fmt, monkeypatch):
    name, rows, kw, _ = fmt
    q = np.random.default_rng(7).standard_normal((40, 40)).astype(np.float32)
    mask = _mask([(10, 900), (3, 1), (50, 20), (5, 1500)], rows.shape[0])
    serial = ql.search(q, rows, 5, allow=mask, **kw)
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 64)
    monkeypatch.setattr(C, "WIDE_MIN_ROWS_PER_CANDIDATE", 1)
    parallel = ql.search(q, rows, 5, allow=mask, **kw)
    assert np.array_equal(serial[1], parallel[1]), name
    sub = rows[mask]
    ref_scores, ref_ids = ql.search(q, sub, 5, **kw)
    # BLAS blocks of another shape may round the last bit differently: ranks by scores within 1e-6
    np.testing.assert_allclose(serial[0], ref_scores, rtol=1e-6, atol=1e-6)
    assert (np.flatnonzero(mask)[ref_ids] == serial[1]).mean() > 0.99


@pytest.mark.parametrize("fmt", FORMATS, ids=[f[0] for f in FORMATS])
@pytest.mark.parametrize("density", [0.5, 0.3, 0.01])
def test_dense_and_scattered_filters(fmt, density):
    """Scattered rows: dense ones are picked from spans scored whole, sparse ones gathered."""
    name, rows, kw, q = fmt
    mask = np.random.default_rng(int(density * 100)).random(rows.shape[0]) < density
    kws = {"metric": "cosine", **kw}
    scores, ids = ql.search(q, rows, 7, allow=mask, **kws)
    allowed = np.flatnonzero(mask)
    ref_scores, ref_ids = _reference(q, rows, kws, allowed, 7)
    assert np.array_equal(ids, ref_ids), name
    assert np.array_equal(scores, ref_scores), name


def test_filtered_search_with_rescoring():
    bits = ql.quantize(X, "ubinary")
    mask = np.zeros(X.shape[0], bool)
    mask[100:2000:3] = True
    scores, ids = ql.search(Q, bits, 5, metric="cosine", precision="ubinary", rescore=X, allow=mask)
    assert mask[ids].all()
    exact = ql.pairwise(Q, X, "cosine")
    np.testing.assert_allclose(scores, np.take_along_axis(exact, ids, 1), rtol=1e-6)


def test_flat_index_filters_by_mask_and_by_ids(tmp_path):
    index = ql.FlatIndex(CODEC, 40, metric="dot", rescore="float32")
    index.add(X, ids=np.arange(X.shape[0]) * 10 + 7)
    want = index.ids[(index.ids % 3) == 1]
    s1, i1 = index.search(Q, 6, allow=want)
    s2, i2 = index.search(Q, 6, allow=np.isin(index.ids, want))
    assert np.array_equal(i1, i2) and np.isin(i1, want).all()
    few = want[:3]
    s3, i3 = index.search(Q, 6, allow=few)
    assert (i3[:, 3:] == -1).all() and np.isin(i3[:, :3], few).all()
    assert (s3[:, 3:] == -np.inf).all()
    index.save(tmp_path / "i")
    loaded = ql.FlatIndex.load(tmp_path / "i")
    assert np.array_equal(loaded.search(Q, 6, allow=want)[1], i1)


@pytest.mark.parametrize(("allow", "error", "match"), [
    (np.ones(5, bool), ql.ShapeError, r"allow: a boolean mask needs one entry per corpus row \(3000\), got 5"),
    (np.array([3, 2]), ql.ShapeError, "allow: row numbers must be sorted and distinct, got 3 before 2"),
    (np.array([1, 1]), ql.ShapeError, "sorted and distinct"),
    (np.array([0, 3000]), ql.ShapeError, r"allow: row numbers must lie in 0..2999"),
    (np.array([0.5]), ql.DTypeError, "allow: expected a boolean mask or integer row numbers"),
    (np.ones((2, 2), bool), ql.ShapeError, "allow: expected a 1-D boolean mask"),
])
def test_bad_filters_are_refused(allow, error, match):
    with pytest.raises(error, match=match):
        ql.search(Q, X, 3, allow=allow)


def test_index_refuses_unsorted_ids():
    index = ql.FlatIndex("float32", 40)
    index.add(X[:10])
    with pytest.raises(ql.ShapeError, match="allow: ids must be sorted and distinct, got 5 before 2"):
        index.search(Q, 3, allow=[5, 2])


def _segment_mask(counts: list[int], n: int, seed: int) -> np.ndarray:
    """A mask with ``counts[s]`` allowed rows at random places in each segment ``s`` of ALLOW_SEGMENT_ROWS rows."""
    seg = C.ALLOW_SEGMENT_ROWS
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, bool)
    for s, count in enumerate(counts):
        lo, hi = s * seg, min(n, (s + 1) * seg)
        if lo < hi:
            mask[lo + rng.choice(hi - lo, min(count, hi - lo), replace=False)] = True
    return mask


#: allowed rows per segment of 64: 16 is the fewest scanned in place (one in four), 15 gathered
segment_counts = st.lists(st.sampled_from([0, 0, 1, 2, 15, 16, 17, 40, 63, 64]), min_size=1, max_size=47)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f[0] for f in FORMATS])
@settings(max_examples=20, deadline=None)
@given(counts=segment_counts, k=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_segments_either_side_of_the_scan_threshold(fmt, counts, k, seed):
    """Segments scanned in place (mask kernels: spans, gaps) and gathered ones, mixed: the search of the rows."""
    assert C.ALLOW_SEGMENT_ROWS == 64 and C.ALLOW_DENSE_FRACTION == 4
    name, rows, kw, q = fmt
    mask = _segment_mask(counts, rows.shape[0], seed)
    allowed = np.flatnonzero(mask)
    kws = {"metric": "cosine", **kw}
    scores, ids = ql.search(q, rows, k, allow=mask, **kws)
    if allowed.size:
        ref_scores, ref_ids = _reference(q, rows, kws, allowed, k)
        kk = ref_ids.shape[1]
        assert np.array_equal(ids[:, :kk], ref_ids), name
        assert np.array_equal(scores[:, :kk], ref_scores), name
    else:
        kk = 0
    assert (ids[:, kk:] == -1).all()


#: (name, corpus rows, keywords, queries) of the batch paths: int16 first stages, BLAS blocks
MANY = [
    ("int8-codec-wide", CODEC.encode(X), {"codec": CODEC}, 9),
    ("int8-codec-wide-l2", CODEC.encode(X), {"codec": CODEC, "metric": "sqeuclidean"}, 12),
    ("ubinary-signs-wide", ql.quantize(X, "ubinary"), {"precision": "ubinary"}, 20),
    ("ubinary-hamming", ql.quantize(X, "ubinary"), {"precision": "ubinary", "metric": "hamming"}, 9),
    ("float32-blas", X, {}, 16),
    ("float16-blas", X.astype(np.float16), {}, 16),
]


@pytest.mark.parametrize("fmt", MANY, ids=[f[0] for f in MANY])
@pytest.mark.parametrize("filt", ["random", "blocky", "mixed", "few"])
@pytest.mark.parametrize("threads", [False, True])
def test_batch_paths_filter_in_place(fmt, filt, threads, monkeypatch):
    """The masked int16 stages (certified against the allowed rows), BLAS spans and threads: the search of the rows."""
    name, rows, kw, nq = fmt
    n = rows.shape[0]
    rng = np.random.default_rng(nq)
    q = rng.standard_normal((nq, 40)).astype(np.float32)
    if kw.get("metric") == "hamming":
        q = ql.quantize(q, "ubinary")
    mask = {"random": rng.random(n) < 0.5,
            "blocky": np.arange(n) % 700 < 300,
            "mixed": (np.arange(n) % 1000 < 200) | (rng.random(n) < 0.02),
            "few": np.isin(np.arange(n), [5, 500, 1200, 2999]) | (np.arange(n) // 64 == 30)}[filt]
    if threads:
        monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 64)
    kws = {"metric": "cosine", **kw}
    k = 8
    scores, ids = ql.search(q, rows, k, allow=mask, **kws)
    ref_scores, ref_ids = _reference(q, rows, kws, np.flatnonzero(mask), k)
    assert mask[ids].all()
    if "blas" in name:  # BLAS products of another shape may round the last bit differently
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-6, atol=1e-6)
        assert (ids == ref_ids).mean() > 0.98
    else:
        assert np.array_equal(ids, ref_ids), name
        assert np.array_equal(scores, ref_scores), name


@pytest.mark.parametrize("codec", [None, "int8"])
def test_norms_are_those_of_the_allowed_rows(codec):
    """Cosine computes norms of the allowed rows only: a disallowed row of subnormal norm is never looked at."""
    x = X.copy()
    x[77] = 1e-41  # norm below float32's smallest normal: cosine refuses it, but only if it is searched
    kw = {}
    rows = x
    if codec:
        c = ql.ScalarCodec.fit(X, "int8")
        kw = {"codec": c}
        rows = c.encode(X)
        rows[77] = c.encode(np.zeros((1, 40), np.float32))[0]  # decodes to ~0: a zero or tiny norm
        x = c.decode(rows)
    mask = np.ones(x.shape[0], bool)
    mask[77] = False
    scores, ids = ql.search(Q, rows, 5, allow=mask, **kw)
    ref = _reference(Q, rows, {"metric": "cosine", **kw}, np.flatnonzero(mask), 5)
    assert np.array_equal(ids, ref[1]) and np.array_equal(scores, ref[0])
    if codec is None:
        with pytest.raises(ql.OutOfRangeError, match="corpus: row 77 has norm"):
            ql.search(Q, rows, 5, allow=np.flatnonzero(mask | (np.arange(x.shape[0]) == 77)), **kw)
        with pytest.raises(ql.OutOfRangeError, match="corpus: row 77 has norm"):
            ql.search(Q, rows, 5, allow=[3, 77, 2000], **kw)  # gathered rows name the corpus row too


def test_own_codec_rows_filter_in_place():
    """A codec that scores its rows itself (family 'own') gets only the spans of allowed rows, ranks allowed rows."""
    from test_codec_plugin import Toy4Own

    from quantlib.codecs import register_codec, unregister_codec

    register_codec(Toy4Own)
    try:
        codec = Toy4Own.fit(X, "toy4o")
        rows = codec.encode(X)
        mask = (np.arange(X.shape[0]) % 500 < 200) | (np.random.default_rng(3).random(X.shape[0]) < 0.3)
        scores, ids = ql.search(Q, rows, 6, codec=codec, allow=mask)
        ref_scores, ref_ids = _reference(Q, rows, {"codec": codec}, np.flatnonzero(mask), 6)
        assert np.array_equal(ids, ref_ids)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-6, atol=1e-6)
    finally:
        unregister_codec(Toy4Own)


@pytest.mark.parametrize("precision", ["ubinary", "binary"])
@pytest.mark.parametrize("nq", [1, 4])
@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_few_float_queries_against_bits_filter_like_the_rest(precision, nq, metric):
    """1 to 4 float queries against bits take the bit-plane stage unfiltered; filtered, they must not
    rank a disallowed row (the plane scan has no mask, so a filter keeps them on the masked tables)."""
    rows = ql.quantize(X, precision)
    q = Q[:nq]
    kw = {"precision": precision, "metric": metric}
    mask = np.random.default_rng(7).random(rows.shape[0]) < 0.5
    scores, ids = ql.search(q, rows, 10, allow=mask, **kw)
    ref_scores, ref_ids = _reference(q, rows, kw, np.flatnonzero(mask), 10)
    assert mask[ids].all()
    assert np.array_equal(ids, ref_ids) and np.array_equal(scores, ref_scores)

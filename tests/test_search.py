"""quantlib.search: equal to a brute-force stable argsort, ties, k rules, rescoring, memory maps, errors."""

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
from quantlib.sample import load_sample

SEEDS = st.integers(0, 2**32 - 1)
DIMS = st.one_of(st.sampled_from([1, 7, 8, 9, 64, 65]), st.integers(1, 24))


def _force_parallel(monkeypatch) -> None:
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 1)


def _corpus(seed: int, n: int, d: int, distinct: int) -> np.ndarray:
    """Rows drawn from ``distinct`` small-integer vectors: many exact ties, exact float sums."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(-3, 4, (distinct, d)).astype(np.float32)
    x = pool[rng.integers(0, distinct, n)]
    x[0] = 0.0
    return x


CASES = [  # (precision, metric, query kind)
    ("float32", "dot", "float"), ("float32", "cosine", "float"), ("float16", "cosine", "float"),
    ("int8", "dot", "float"), ("int8", "cosine", "float"), ("uint8", "dot", "codes"),
    ("int8", "dot", "codes"), ("ubinary", "hamming", "codes"), ("binary", "hamming", "float"),
    ("binary", "dot", "float"), ("ubinary", "cosine", "float"), ("ubinary", "dot", "codes"),
]


def _inputs(case, seed, n, d, nq, distinct):
    precision, metric, kind = case
    x = _corpus(seed, n, d, distinct)
    rng = np.random.default_rng(seed + 1)
    q = rng.integers(-3, 4, (nq, d)).astype(np.float32)
    kwargs = {"metric": metric}
    if precision in ("float32", "float16"):
        corpus = x.astype(precision)
    elif precision in ("int8", "uint8"):
        codec = ql.ScalarCodec(precision, [[-3.0] * d, [3.0] * d])
        corpus = codec.encode(x)
        if kind == "codes":
            q = codec.encode(q)
            kwargs["precision"] = precision
        else:
            kwargs["codec"] = codec
    else:
        corpus = ql.quantize(x, precision)
        kwargs["precision"] = precision
        if kind == "codes":
            q = ql.quantize(q, precision)
            kwargs["dim"] = d
    return q, corpus, kwargs


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
@given(seed=SEEDS, n=st.integers(1, 120), d=DIMS, nq=st.integers(0, 10), k=st.integers(1, 12),
       distinct=st.integers(1, 6))
def test_search_equals_stable_argsort_of_pairwise(case, seed, n, d, nq, k, distinct):
    q, corpus, kwargs = _inputs(case, seed, n, d, nq, distinct)
    k = min(k, n)
    scores, ids = ql.search(q, corpus, k, **kwargs)
    full = ql.pairwise(q, corpus, **kwargs)
    higher = ql.metric_info(kwargs["metric"]).higher_is_better
    want_scores, want_ids = R.search_top_k(full, k, higher_is_better=higher)
    assert ids.shape == scores.shape == (nq, k)
    assert ids.dtype == np.int64 and scores.dtype == full.dtype
    assert np.array_equal(ids, want_ids)
    assert np.array_equal(scores, want_scores)


@pytest.mark.parametrize("case", CASES[:1] + CASES[3:4] + CASES[7:8] + CASES[9:10],
                         ids=["float32", "int8", "hamming", "signs"])
def test_parallel_search_equals_serial(case, monkeypatch):
    q, corpus, kwargs = _inputs(case, 5, 500, 20, 9, 7)
    serial = ql.search(q, corpus, 7, **kwargs)
    _force_parallel(monkeypatch)
    par = ql.search(q, corpus, 7, **kwargs)
    assert np.array_equal(serial[0], par[0])
    assert np.array_equal(serial[1], par[1])


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "ubinary"])
def test_scores_do_not_depend_on_blocks_or_threads(precision, monkeypatch):
    # random floats (inexact sums): each pair's score must come out bit-identical on every path
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1001, 37)).astype(np.float32)
    q = rng.standard_normal((5, 37)).astype(np.float32)
    kwargs = {"precision": precision}
    if precision == "int8":
        kwargs = {"codec": ql.ScalarCodec.fit(x, "int8")}
    corpus = ql.quantize(x, kwargs.get("codec") or precision)
    full = ql.pairwise(q, corpus, "cosine", **kwargs)
    serial = ql.search(q, corpus, 6, metric="cosine", **kwargs)
    _force_parallel(monkeypatch)
    par = ql.search(q, corpus, 6, metric="cosine", **kwargs)
    assert np.array_equal(ql.pairwise(q, corpus, "cosine", **kwargs), full)
    assert np.array_equal(serial[0], par[0]) and np.array_equal(serial[1], par[1])
    assert np.array_equal(np.take_along_axis(full, serial[1], axis=1), serial[0])


def _wide_plan(q, corpus, metric, precision):
    plan = M.plan_queries(q, prepare_corpus(corpus, metric, precision=precision), metric)
    assert plan.kind == "signs"
    return plan


def _both_stages(plan, k):
    """(certified, wide result, float-table result) of one plan, serial."""
    shape = (plan.nq, k)
    wide = np.full(shape, np.inf, np.float32), np.full(shape, -1, np.int64)
    certified = plan._topk_signs_wide(*wide, False, 1)
    exact = np.full(shape, np.inf, np.float32), np.full(shape, -1, np.int64)
    plan._topk_signs(*exact, False, 1)
    return certified, wide, exact


@given(seed=SEEDS, d=st.one_of(st.sampled_from([7, 64, 255, 257, 300]), st.integers(1, 40)),
       nq=st.integers(C.WIDE_MIN_QUERIES, 40), k=st.integers(1, 4), extra=st.integers(0, 300),
       metric=st.sampled_from(["dot", "cosine"]), precision=st.sampled_from(["ubinary", "binary"]),
       distinct=st.sampled_from([3, 50, 10_000]), size=st.sampled_from([1.0, 1e-30, 1e-41, 1e37]))
def test_int16_first_stage_gives_the_float_table_result(seed, d, nq, k, extra, metric, precision,
                                                        distinct, size):
    # batches of float queries over bits take the int16 stage; with few distinct rows (ties at the
    # k-th place) or scores near float32's range (size 1e37) some queries are not certified and are searched
    # again: either way the result is the float tables' result, bit for bit, ties by lower index
    rng = np.random.default_rng(seed)
    n = M._wide_candidates(k) * C.WIDE_MIN_ROWS_PER_CANDIDATE + extra
    pool = rng.standard_normal((min(distinct, n), d))
    corpus = ql.quantize(pool[rng.integers(0, len(pool), n)], precision)
    q = (rng.standard_normal((nq, d)) * size).astype(np.float32)
    q[0] = 0.0
    if metric == "dot" and np.abs(q).sum(1, dtype=np.float64).max() >= 2.0 ** 127:
        with pytest.raises(ql.OutOfRangeError, match=r"queries: row \d+ can score .* against \+1/-1 bits"):
            ql.search(q, corpus, k, metric=metric, precision=precision)  # some score could overflow
        while np.abs(q).sum(1, dtype=np.float64).max() >= 2.0 ** 127:
            q /= np.float32(16)  # just below: the largest dots that are still summed exactly
    scores, ids = ql.search(q, corpus, k, metric=metric, precision=precision)
    want = R.search_top_k(ql.pairwise(q, corpus, metric, precision=precision).astype(np.float64), k)
    assert np.array_equal(ids, want[1])
    assert np.array_equal(scores, want[0].astype(np.float32))
    certified, wide, exact = _both_stages(_wide_plan(q, corpus, metric, precision), k)
    assert np.array_equal(wide[0], exact[0]) and np.array_equal(wide[1], exact[1])
    if distinct == 3:
        assert certified == 0  # hundreds of copies of each row: the k-th place is always a tie
    elif distinct > 1000 and size == 1.0 and d >= 16:
        assert certified >= nq - 1  # distinct rows: (nearly) every query is settled by the first stage


def test_int16_first_stage_settles_real_queries_and_defers_ties():
    sample = load_sample()
    for precision in ("ubinary", "binary"):
        corpus = ql.quantize(sample.documents, precision)
        plan = _wide_plan(sample.queries, corpus, "cosine", precision)
        certified, wide, exact = _both_stages(plan, 10)
        assert certified == len(sample.queries)  # every real query: one scan of int16 tables
        assert np.array_equal(wide[0], exact[0]) and np.array_equal(wide[1], exact[1])
    same = np.zeros((M._wide_candidates(10) * C.WIDE_MIN_ROWS_PER_CANDIDATE, 48), np.uint8)
    certified, wide, exact = _both_stages(_wide_plan(sample.queries[:20], same, "dot", "ubinary"), 10)
    assert certified == 0  # identical rows tie everywhere: the float tables decide (rows 0..9)
    assert np.array_equal(wide[1], exact[1]) and np.array_equal(wide[1][0], np.arange(10))
    assert np.array_equal(wide[0], exact[0])
    few = ql.quantize(sample.documents[:20], "ubinary")  # fewer rows than candidates: nothing to bound
    certified, wide, exact = _both_stages(_wide_plan(sample.queries[:20], few, "dot", "ubinary"), 10)
    assert certified == 0
    assert np.array_equal(wide[0], exact[0]) and np.array_equal(wide[1], exact[1])


def test_batches_take_the_int16_stage_where_it_pays(monkeypatch):
    calls = []
    wide = M.Plan._topk_signs_wide
    monkeypatch.setattr(M.Plan, "_topk_signs_wide", lambda self, *a: calls.append(self.nq) or wide(self, *a))
    rng = np.random.default_rng(2)
    bits = ql.quantize(rng.standard_normal((9000, 64)), "ubinary")
    q = rng.standard_normal((40, 64)).astype(np.float32)
    ql.search(q, bits, 10, metric="dot", precision="ubinary")
    assert calls == [40]
    ql.search(q[:C.WIDE_MIN_QUERIES - 1], bits, 10, metric="dot", precision="ubinary")  # one table group of floats
    ql.search(q, bits, C.WIDE_MAX_K + 1, metric="dot", precision="ubinary")  # long candidate lists
    ql.search(q, bits[:M._wide_candidates(10) * C.WIDE_MIN_ROWS_PER_CANDIDATE - 1], 10, metric="dot",
              precision="ubinary")  # too few rows for the candidates
    assert calls == [40]


def test_int16_first_stage_in_parallel_equals_serial(monkeypatch):
    rng = np.random.default_rng(4)
    corpus = ql.quantize(rng.standard_normal((5000, 100)), "ubinary")
    q = rng.standard_normal((33, 100)).astype(np.float32)
    serial = ql.search(q, corpus, 5, metric="dot", precision="ubinary")
    _force_parallel(monkeypatch)
    par = ql.search(q, corpus, 5, metric="dot", precision="ubinary")
    assert np.array_equal(serial[0], par[0]) and np.array_equal(serial[1], par[1])


def _dense_plan(q, corpus, metric, precision, codec):
    prepared = prepare_corpus(corpus, metric, precision=None if codec else precision, codec=codec)
    plan = M.plan_queries(q, prepared, metric)
    assert plan.kind == "dense" and plan.W.dtype == np.float32
    return plan


def _both_dense_stages(plan, k):
    """(certified, two-stage result, float-kernel result) of one float-query plan over codes, serial."""
    shape = (plan.nq, k)
    wide = np.full(shape, np.inf, np.float32), np.full(shape, -1, np.int64)
    certified = plan._topk_dense_wide(*wide, False, 1)
    exact = np.full(shape, np.inf, np.float32), np.full(shape, -1, np.int64)
    plan._topk_dense(*exact, False, 1)
    return certified, wide, exact


@given(seed=SEEDS, d=st.one_of(st.sampled_from([7, 16, 100, 257]), st.integers(1, 40)),
       nq=st.integers(C.DENSE_WIDE_MIN_QUERIES, 30), k=st.integers(1, 4), extra=st.integers(0, 300),
       metric=st.sampled_from(["dot", "cosine"]), precision=st.sampled_from(["int8", "uint8"]),
       calibrated=st.booleans(), distinct=st.sampled_from([3, 50, 10_000]),
       size=st.sampled_from([1.0, 1e-30, 1e-41, 1e30]))
def test_dense_int16_first_stage_gives_the_float_kernel_result(seed, d, nq, k, extra, metric, precision,
                                                               calibrated, distinct, size):
    # float queries over int8/uint8 codes (dequantized by a codec, or the raw codes) take the int16
    # stage; ties at the k-th place (few distinct rows) are searched again, and huge queries skip the
    # stage: either way the result is the float kernels' own, bit for bit, ties by lower index
    rng = np.random.default_rng(seed)
    n = M._wide_candidates(k) * C.WIDE_MIN_ROWS_PER_CANDIDATE + extra
    pool = rng.standard_normal((min(distinct, n), d))
    x = pool[rng.integers(0, len(pool), n)].astype(np.float32)
    codec = ql.ScalarCodec.fit(x, precision) if calibrated else None
    codes = codec.encode(x) if calibrated else rng.integers(-128 if precision == "int8" else 0, 128 if
                                                             precision == "int8" else 256, (n, d)).astype(precision)
    if not calibrated and distinct < 1000:
        codes = codes[rng.integers(0, distinct, n)]
    q = (rng.standard_normal((nq, d)) * size).astype(np.float32)
    q[0] = 0.0
    plan = _dense_plan(q, codes, metric, precision, codec)
    certified, wide, exact = _both_dense_stages(plan, k)
    assert np.array_equal(wide[0], exact[0]) and np.array_equal(wide[1], exact[1])
    kwargs = {"codec": codec} if calibrated else {"precision": precision}
    scores, ids = ql.search(q, codes, k, metric=metric, **kwargs)
    assert np.array_equal(scores, -exact[0]) and np.array_equal(ids, exact[1])
    if size == 1e30 and metric == "dot":
        assert certified == 0  # scores near float32's range: the float kernels alone
    elif distinct > 1000 and size == 1.0 and d >= 16:
        assert certified >= nq - 1  # distinct rows: (nearly) every query is settled by the first stage


def test_dense_int16_first_stage_settles_real_queries_and_defers_ties():
    sample = load_sample()
    for precision in ("int8", "uint8"):
        codec = ql.ScalarCodec.fit(sample.documents, precision)
        codes = codec.encode(sample.documents)
        plan = _dense_plan(sample.queries, codes, "cosine", precision, codec)
        certified, wide, exact = _both_dense_stages(plan, 10)
        assert certified == len(sample.queries)
        assert np.array_equal(wide[0], exact[0]) and np.array_equal(wide[1], exact[1])
        same = np.repeat(codes[:1], M._wide_candidates(10) * C.WIDE_MIN_ROWS_PER_CANDIDATE, axis=0)
        certified, wide, exact = _both_dense_stages(_dense_plan(sample.queries[:9], same, "dot", precision,
                                                                codec), 10)
        assert certified == 0  # identical rows tie everywhere: the float kernels decide (rows 0..9)
        assert np.array_equal(wide[1], exact[1]) and np.array_equal(wide[1][0], np.arange(10))
        assert np.array_equal(wide[0], exact[0])


def test_dense_batches_take_the_int16_stage_where_it_pays(monkeypatch):
    calls = []
    wide = M.Plan._topk_dense_wide
    monkeypatch.setattr(M.Plan, "_topk_dense_wide", lambda self, *a: calls.append(self.nq) or wide(self, *a))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9000, 64)).astype(np.float32)
    codec = ql.ScalarCodec.fit(x, "int8")
    codes = codec.encode(x)
    q = rng.standard_normal((20, 64)).astype(np.float32)
    ql.search(q, codes, 10, metric="dot", codec=codec)
    ql.search(q, codes, 10, metric="cosine", precision="int8")  # raw codes: float queries too
    assert calls == [20, 20]
    ql.search(q[:C.DENSE_WIDE_MIN_QUERIES - 1], codes, 10, codec=codec)  # small batch
    ql.search(q, codes, C.WIDE_MAX_K + 1, codec=codec)  # long candidate lists
    ql.search(q, codes[:M._wide_candidates(10) * C.WIDE_MIN_ROWS_PER_CANDIDATE - 1], 10, codec=codec)
    ql.search(codes[:20], codes, 10, metric="dot", precision="int8")  # code queries: exact integer dots
    ql.search(q, x, 10)  # float rows: BLAS
    assert calls == [20, 20]


def test_dense_int16_first_stage_in_parallel_equals_serial(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5000, 100)).astype(np.float32)
    codec = ql.ScalarCodec.fit(x, "uint8")
    codes = codec.encode(x)
    q = rng.standard_normal((13, 100)).astype(np.float32)
    serial = ql.search(q, codes, 5, metric="cosine", codec=codec)
    _force_parallel(monkeypatch)
    par = ql.search(q, codes, 5, metric="cosine", codec=codec)
    assert np.array_equal(serial[0], par[0]) and np.array_equal(serial[1], par[1])


def test_one_query_vector_gives_one_row():
    x = _corpus(0, 30, 8, 30)
    scores, ids = ql.search(x[3], x, 2, metric="dot")
    assert scores.shape == ids.shape == (1, 2)


def test_float_batches_use_blas_with_the_same_results():
    # integer-valued data: BLAS and the numba kernel agree exactly, ties included
    x = _corpus(1, 3000, 16, 40)
    q = _corpus(2, 20, 16, 20)
    assert q.shape[0] >= C.BLAS_MIN_QUERIES
    for metric in ("dot", "cosine"):
        scores, ids = ql.search(q, x, 9, metric=metric)
        first = [ql.search(q[i], x, 9, metric=metric) for i in range(3)]  # one query: numba path
        for i, (s1, i1) in enumerate(first):
            assert np.array_equal(i1[0], ids[i])
            assert np.allclose(s1[0], scores[i], rtol=1e-6)
        want = R.search_top_k(R.pairwise_scores(q, x, metric, "float32"), 9)
        if metric == "dot":
            assert np.array_equal(ids, want[1])


def test_memory_mapped_corpus_gives_identical_results(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 48)).astype(np.float32)
    q = rng.standard_normal((5, 48)).astype(np.float32)
    codec = ql.ScalarCodec.fit(x, "int8")
    stored = {"f32": x, "f16": x.astype(np.float16), "int8": codec.encode(x),
              "bits": ql.quantize(x, "ubinary")}
    for name, arr in stored.items():
        np.save(tmp_path / f"{name}.npy", arr)
    args = {"f32": {}, "f16": {}, "int8": {"codec": codec}, "bits": {"precision": "ubinary"}}
    for name, arr in stored.items():
        mm = np.load(tmp_path / f"{name}.npy", mmap_mode="r")
        assert not mm.flags.writeable
        a = ql.search(q, arr, 5, **args[name])
        b = ql.search(q, mm, 5, **args[name])
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# ---------------------------------------------------------------------------
# Rescoring
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def known_answers():
    """A corpus of clusters; each query is a noisy copy of one row, its true top-10 known from floats."""
    rng = np.random.default_rng(42)
    d = 64
    centers = rng.standard_normal((40, d))
    x = centers[rng.integers(0, 40, 3000)] + 0.5 * rng.standard_normal((3000, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = x[rng.integers(0, 3000, 60)] + 0.2 * rng.standard_normal((60, d)).astype(np.float32)
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    truth = R.search_top_k(R.pairwise_scores(q, x, "cosine", "float32"), 10)[1]
    return q, x, truth


def _recall(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, truth, strict=True)]))


def test_rescoring_improves_recall(known_answers):
    q, x, truth = known_answers
    bits = ql.quantize(x, "ubinary")
    _, ham = ql.search(q, bits, 10, metric="hamming")
    _, asym = ql.search(q, bits, 10, metric="cosine", precision="ubinary")
    _, resc = ql.search(q, bits, 10, metric="hamming", rescore=x, oversample=4)
    _, resc2 = ql.search(q, bits, 10, metric="cosine", precision="ubinary", rescore=x, oversample=10)
    r_ham, r_asym, r_resc, r_resc2 = (_recall(i, truth) for i in (ham, asym, resc, resc2))
    # measured on this fixture: 0.27, 0.39, 0.61, 0.98
    assert r_asym > r_ham + 0.05
    assert r_resc > r_ham + 0.2
    assert r_resc2 > 0.9
    # with oversample large enough to take every row, rescoring is exact float search
    _, exact = ql.search(q, bits, 10, metric="cosine", precision="ubinary", rescore=x, oversample=300)
    assert np.array_equal(exact, truth)


def test_rescoring_with_codes_and_their_codec(known_answers):
    q, x, truth = known_answers
    codec = ql.ScalarCodec.fit(x, "int8")
    codes = codec.encode(x)
    bits = ql.quantize(x, "binary")
    scores, ids = ql.search(q, bits, 10, metric="cosine", precision="binary", rescore=(codes, codec),
                            oversample=10)
    assert _recall(ids, truth) > 0.9
    # the final scores are the rescoring scores of those rows
    for i in range(3):
        want = ql.cosine(q[i], codes[ids[i]], codec=codec)
        assert np.allclose(scores[i], want, rtol=1e-6, atol=1e-7)
        assert np.all(np.diff(scores[i]) <= 0)


def test_calibrated_codes_are_searched_as_dequantized_vectors(known_answers):
    q, x, truth = known_answers
    codec = ql.ScalarCodec.fit(x, "uint8")
    codes = codec.encode(x)
    _, asym = ql.search(q, codes, 10, metric="cosine", codec=codec)
    _, raw = ql.search(codec.encode(q), codes, 10, metric="dot", precision="uint8")
    assert _recall(asym, truth) > 0.9
    assert _recall(asym, truth) > _recall(raw, truth)


def test_rescore_ties_are_ordered_by_lower_index():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], np.float32)
    bits = ql.quantize(x, "ubinary")
    scores, ids = ql.search(np.array([[1.0, 0.1]], np.float32), bits, 3, metric="hamming", rescore=x)
    assert ids.tolist() == [[0, 2, 3]]
    assert scores.dtype == np.float32


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

X = np.eye(4, dtype=np.float32)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: ql.search(X, X, 5), ql.ShapeError,
     r"k: expected at most the number of corpus rows \(4\), got 5; use k=min\(k, 4\)"),
    (lambda: ql.search(X, X, 0), ql.ShapeError, r"k: expected a positive integer, got 0"),
    (lambda: ql.search(X, X, 2.0), ql.DTypeError, r"k: expected a positive integer, got float 2.0"),
    (lambda: ql.search(X, X, True), ql.DTypeError, r"k: expected a positive integer, got True"),
    (lambda: ql.search(X[:, :0].T[:0], np.empty((0, 4), np.float32), 1), ql.ShapeError,
     r"corpus: expected at least one row, got an empty corpus"),
    (lambda: ql.search(X[:, :3], X, 1), ql.ShapeError,
     r"queries: dimension 3 does not match the corpus dimension 4"),
    (lambda: ql.search(np.ones((1, 1, 4), np.float32), X, 1), ql.ShapeError,
     r"queries: expected a vector \(d,\) or a batch \(m, d\), got shape \(1, 1, 4\)"),
    (lambda: ql.search(X, X, 1, metric="hamming"), ql.ConfigError,
     r"metric: 'hamming' scores binary, ubinary"),
    (lambda: ql.search(X, X, 1, rescore=X, oversample=0), ql.ShapeError,
     r"oversample: expected a positive integer, got 0"),
    (lambda: ql.search(X, X, 1, rescore=X[:3]), ql.ShapeError,
     r"rescore: expected one row per corpus row \(4\), got 3 rows"),
    (lambda: ql.search(X, ql.quantize(X, "ubinary"), 1, metric="hamming", rescore=X[:, :3]), ql.ShapeError,
     r"rescore: rows of dimension 3 cannot rescore float queries of dimension 4"),
    (lambda: ql.search(X, X, 1, rescore=X.astype(np.int8)), ql.DTypeError,
     r"rescore: expected float rows or a \(codes, codec\) pair.*pass \(codes, codec\)"),
    (lambda: ql.search(X, X, 1, rescore=(X,)), ql.DTypeError,
     r"rescore: expected float rows or a \(codes, codec\)"),
    (lambda: ql.search(ql.quantize(X, "ubinary"), ql.quantize(X, "ubinary"), 1, metric="hamming", rescore=X),
     ql.DTypeError, r"queries: rescoring needs float queries, got dtype uint8"),
    (lambda: ql.search(np.full((1, 4), np.nan, np.float32), X, 1), ql.NonFiniteError,
     r"queries: expected finite values, got nan"),
    (lambda: ql.search(X, np.full((2, 4), np.nan, np.float32), 1), ql.NonFiniteError,
     r"corpus: expected finite values, got nan"),
    (lambda: ql.search(np.ones((9, 4), np.float32), np.vstack([X, [[0, np.nan, 0, 0]]]), 1),
     ql.NonFiniteError, r"corpus: expected finite values, got nan at index \(4, 1\)"),  # the BLAS path
    (lambda: ql.search(X, np.vstack([X, [[0, 0, -np.inf, 0]]]).astype(np.float16), 1), ql.NonFiniteError,
     r"corpus: expected finite values, got -inf at index \(4, 2\)"),
    (lambda: ql.search(X * 1e30, np.full((2, 4), 3e38, np.float32), 1, metric="dot"), ql.OutOfRangeError,
     r"corpus: a score overflows float32"),
    (lambda: ql.search(X, X, 1, rescore=np.full((4, 4), np.inf, np.float32)), ql.NonFiniteError,
     r"rescore: expected finite values, got inf"),
    (lambda: ql.search(X, X.astype(np.int8), 1), ql.DTypeError,
     r"corpus: a int8 array holds int8 codes or packed"),
])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_no_queries_give_empty_results():
    scores, ids = ql.search(np.empty((0, 4), np.float32), X, 2)
    assert scores.shape == ids.shape == (0, 2)
    with pytest.raises(ql.ShapeError, match="queries: dimension 3"):
        ql.search(np.empty((0, 3), np.float32), X, 2)


def test_thread_setting_round_trips_and_checks_its_argument():
    before = ql.get_num_threads()
    try:
        ql.set_num_threads(1)
        assert ql.get_num_threads() == 1
        x = _corpus(0, 5000, 8, 50)
        serial = ql.search(x[:3], x, 4, metric="dot")
    finally:
        ql.set_num_threads(before)
    assert np.array_equal(ql.search(x[:3], x, 4, metric="dot")[1], serial[1])
    with pytest.raises(ql.OutOfRangeError, match=r"n: expected 1 to \d+ threads .*, got 0"):
        ql.set_num_threads(0)
    with pytest.raises(ql.DTypeError, match="n: expected a positive integer, got str '2'"):
        ql.set_num_threads("2")


@pytest.mark.parametrize("nq", [1, 5, 16, 100])
def test_sign_tables_start_on_a_cache_line(nq):
    # 64-byte table entries loaded from a 16-byte-aligned numpy array split every load across two
    # cache lines (1.6x slower on Zen 4); the plan must place them on a 64-byte boundary
    rng = np.random.default_rng(nq)
    bits = ql.quantize(rng.standard_normal((40, 70)).astype(np.float32), "ubinary")
    corpus = prepare_corpus(bits, "dot", precision="ubinary")
    for _ in range(8):  # numpy's own alignment varies from one allocation to the next
        plan = M.plan_queries(rng.standard_normal((nq, 70)).astype(np.float32), corpus, "dot", dim=70)
        assert plan.kind == "signs"
        assert plan.tables().ctypes.data % 64 == 0
        assert plan.tables().flags.c_contiguous


def test_empty_aligned_is_a_plain_contiguous_array():
    for shape in [(3, 5), (1, 1, 256, 16), (7, 128, 256, 16), (0, 4)]:
        a = M._empty_aligned(shape, np.float32)
        assert a.shape == shape and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
        assert a.size == 0 or a.ctypes.data % 64 == 0, shape

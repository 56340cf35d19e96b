"""The squared Euclidean metric (``sqeuclidean``, alias ``l2``): scipy's cdist, faiss's IndexFlatL2, lowest first.

It is the proof of the metric records (issue 23, point 2): one record in quantlib/metrics.py and a per-row
term in the dense kernels, and every format, search path, FlatIndex, Dask and the CLI rank by it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.spatial.distance as ssd
from hypothesis import given
from hypothesis import strategies as st

import quantlib as ql
import quantlib._kernels._config as C
from quantlib import _reference as R
from quantlib.cli import main

DIMS = st.one_of(st.sampled_from([1, 7, 8, 9, 63, 64, 65, 130]), st.integers(1, 40))
SEEDS = st.integers(0, 2**32 - 1)


def _data(seed: int, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((m, d)).astype(np.float32)


def _close_to_cdist(got: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """``got`` within float32 rounding of ``cdist(a, b, "sqeuclidean")``: relative to ``|a|^2 + |b|^2``."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = ssd.cdist(a64, b64, "sqeuclidean") if a.size and b.size else np.zeros((a.shape[0], b.shape[0]))
    scale = (a64 ** 2).sum(1)[:, None] + (b64 ** 2).sum(1)[None, :]
    d = a.shape[1]
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= (d + 4) * 2.0**-22 * scale + 1e-30), np.abs(got - want).max()
    assert (got >= 0).all()


# ---------------------------------------------------------------------------
# pairwise == scipy cdist(..., "sqeuclidean"), every format
# ---------------------------------------------------------------------------

@given(SEEDS, DIMS, st.integers(0, 5), st.integers(1, 30), st.sampled_from([np.float32, np.float16, np.float64]))
def test_float_rows_equal_cdist(seed, d, n, m, dtype):
    a, b = _data(seed, n, m, d)
    b = b.astype(dtype)
    got = ql.pairwise(a, b, "sqeuclidean")
    assert got.dtype == np.float32
    _close_to_cdist(got, a, b.astype(np.float32))
    assert np.array_equal(ql.pairwise(a, b, "l2"), got)


@given(SEEDS, DIMS, st.integers(1, 5), st.integers(1, 30), st.sampled_from(["int8", "uint8"]))
def test_float_queries_against_calibrated_codes_equal_cdist_of_dequantized(seed, d, n, m, precision):
    a, b = _data(seed, n, m, d)
    codec = ql.ScalarCodec(precision, np.vstack([b.min(0) - 0.5, b.max(0)]))
    codes = codec.encode(b)
    got = ql.pairwise(a, codes, "sqeuclidean", codec=codec)
    assert got.dtype == np.float32
    values = codec.decode(codes)
    _close_to_dequantized(got, a, values, codec)
    # code queries of the same codec are scored as the vectors they stand for
    _close_to_dequantized(ql.pairwise(codes[:3], codes, "sqeuclidean", codec=codec), values[:3], values, codec)


def _close_to_dequantized(got: np.ndarray, a: np.ndarray, values: np.ndarray, codec: ql.ScalarCodec) -> None:
    """|q|^2 - 2 q.v(c) + |v(c)|^2, q.v(c) by the codec's affine map: its terms bound the rounding too."""
    d = a.shape[1]
    r = codec.ranges.astype(np.float64)
    terms = 2 * (np.abs(a) @ (np.abs(r[0]) + np.abs(r[1] - r[0])))[:, None]
    want = ssd.cdist(a.astype(np.float64), values.astype(np.float64), "sqeuclidean")
    scale = (a.astype(np.float64) ** 2).sum(1)[:, None] + (values.astype(np.float64) ** 2).sum(1)[None, :]
    assert np.all(np.abs(got - want) <= (d + 4) * 2.0**-22 * (scale + terms) + 1e-6)
    assert (got >= 0).all()


@given(SEEDS, DIMS, st.integers(0, 5), st.integers(1, 30), st.sampled_from(["int8", "uint8"]))
def test_codes_without_codec_are_exact_integers(seed, d, n, m, precision):
    rng = np.random.default_rng(seed)
    lo, hi = R.CODE_RANGE[precision]
    a = rng.integers(lo, hi + 1, (n, d)).astype(precision)
    b = rng.integers(lo, hi + 1, (m, d)).astype(precision)
    b[0] = hi if precision == "uint8" else lo  # the extremes: sums far past float32's 24 bits
    got = ql.pairwise(a, b, "sqeuclidean", precision=precision)
    assert got.dtype == np.int64
    diff = a.astype(np.int64)[:, None, :] - b.astype(np.int64)[None, :, :]
    assert np.array_equal(got, (diff ** 2).sum(-1))
    # float queries against raw codes: the codes' integer values are the vectors
    fq = rng.standard_normal((n, d)).astype(np.float32)
    _close_to_cdist(ql.pairwise(fq, b, "sqeuclidean", precision=precision), fq, b.astype(np.float32))


def test_extreme_codes_of_long_rows_stay_exact():
    d = 4096
    x = np.full((2, d), -128, np.int8)
    x[1] = 127
    got = ql.pairwise(x, x, "sqeuclidean", precision="int8")
    assert got.tolist() == [[0, 255**2 * d], [255**2 * d, 0]]


@given(SEEDS, DIMS, st.integers(1, 5), st.integers(1, 30), st.sampled_from(["binary", "ubinary"]))
def test_bits_are_four_times_hamming_on_signs(seed, d, n, m, precision):
    a, b = _data(seed, n, m, d)
    ca, cb = ql.quantize(a, precision), ql.quantize(b, precision)
    signs_a, signs_b = np.where(a > 0, 1.0, -1.0), np.where(b > 0, 1.0, -1.0)
    got = ql.pairwise(ca, cb, "sqeuclidean", precision=precision, dim=d)
    assert got.dtype == np.int64
    assert np.array_equal(got, ssd.cdist(signs_a, signs_b, "sqeuclidean").astype(np.int64))
    assert np.array_equal(got, 4 * ql.pairwise(ca, cb, "hamming", dim=d))
    # a float query against +1/-1 bits (asymmetric): |q|^2 - 2 q.s + d
    _close_to_cdist(ql.pairwise(a, cb, "sqeuclidean", precision=precision), a, signs_b.astype(np.float32))


def test_distances_are_never_negative_and_zero_on_the_diagonal():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 300)) * 1000).astype(np.float32)
    got = ql.pairwise(x, x, "sqeuclidean")
    assert (got >= 0).all()
    # rounding is relative to |x|^2 (as faiss IndexFlatL2's): near 0, never below
    assert np.all(np.diag(got) <= 1e-5 * (x.astype(np.float64) ** 2).sum(1))
    scores, ids = ql.search(x[:5], x, 1, metric="sqeuclidean")
    assert (scores >= 0).all() and ids[:, 0].tolist() == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------
# search: lowest first, faiss IndexFlatL2's top-k
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("nq", [1, 5, 40])  # one query, tiles, and the BLAS path (>= BLAS_MIN_QUERIES)
@pytest.mark.parametrize("parallel", [False, True])
def test_search_equals_faiss_index_flat_l2(nq, parallel, monkeypatch):
    faiss = pytest.importorskip("faiss")  # the extra "peers"; installed in CI
    if parallel:
        monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 64)
    rng = np.random.default_rng(nq)
    x = rng.standard_normal((3000, 48)).astype(np.float32)
    q = rng.standard_normal((nq, 48)).astype(np.float32)
    index = faiss.IndexFlatL2(48)
    index.add(x)
    want_d, want_i = index.search(q, 10)
    scores, ids = ql.search(q, x, 10, metric="l2")
    assert np.array_equal(ids, want_i)
    assert np.allclose(scores, want_d, rtol=1e-5, atol=1e-4)
    assert (np.diff(scores, axis=1) >= 0).all()  # lowest first


@pytest.mark.parametrize("fmt", ["float16", "int8-codec", "uint8-codec", "int8-raw", "ubinary", "ubinary-codes"])
@pytest.mark.parametrize("nq", [3, 24])  # 24: the int16 first stages over codes and bits
def test_search_ranks_lowest_first_in_every_format(fmt, nq):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2000, 40)).astype(np.float32)
    q = rng.standard_normal((nq, 40)).astype(np.float32)
    kwargs: dict = {"metric": "sqeuclidean"}
    if fmt == "float16":
        corpus = x.astype(np.float16)
        values = corpus.astype(np.float32)
    elif fmt.endswith("-codec"):
        codec = ql.ScalarCodec.fit(x, fmt.split("-")[0])
        corpus, kwargs["codec"] = codec.encode(x), codec
        values = codec.decode(corpus)
    elif fmt == "int8-raw":
        corpus = np.clip(np.rint(x * 30), -128, 127).astype(np.int8)
        kwargs["precision"] = "int8"
        values = corpus.astype(np.float32)
    else:
        corpus = ql.quantize(x, "ubinary")
        kwargs["precision"] = "ubinary"
        values = np.where(x > 0, 1.0, -1.0).astype(np.float32)
        if fmt == "ubinary-codes":
            q = ql.quantize(q, "ubinary")
            kwargs["dim"] = 40
    scores, ids = ql.search(q, corpus, 15, **kwargs)
    full = ql.pairwise(q, corpus, **kwargs)
    want_scores, want_ids = R.search_top_k(full, 15, higher_is_better=False)
    assert np.array_equal(ids, want_ids)
    if fmt == "float16" and nq >= C.BLAS_MIN_QUERIES:  # BLAS sums: the same ranking, other last bits
        assert np.allclose(scores, want_scores, rtol=1e-5)
    else:
        assert np.array_equal(scores, want_scores)
    if fmt.endswith("-codec"):
        _close_to_dequantized(full, q, values, kwargs["codec"])
    else:
        qv = np.where(q_unpacked(q, 40) > 0, 1.0, -1.0) if fmt == "ubinary-codes" else q
        _close_to_cdist(full, qv.astype(np.float32), values)


def q_unpacked(q: np.ndarray, d: int) -> np.ndarray:
    return np.unpackbits(q, axis=1)[:, :d].astype(np.float32) if q.dtype == np.uint8 else q


def test_int16_first_stage_over_codes_gives_the_float_kernels_answer(monkeypatch):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5000, 64)).astype(np.float32)
    x[100:110] = x[7]  # duplicates: ties at the certification boundary fall back to the float kernels
    q = rng.standard_normal((32, 64)).astype(np.float32)
    q[3] = x[7]
    codec = ql.ScalarCodec.fit(x, "int8")
    codes = codec.encode(x)
    staged = ql.search(q, codes, 12, metric="sqeuclidean", codec=codec)
    monkeypatch.setattr(C, "DENSE_WIDE_MIN_QUERIES", 10**9)
    plain = ql.search(q, codes, 12, metric="sqeuclidean", codec=codec)
    assert np.array_equal(staged[0], plain[0]) and np.array_equal(staged[1], plain[1])


def test_rescore_by_sqeuclidean():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1500, 32)).astype(np.float32)
    q = rng.standard_normal((6, 32)).astype(np.float32)
    bits = ql.quantize(x, "ubinary")
    exact_scores, exact_ids = ql.search(q, x, 5, metric="sqeuclidean")
    # every row a candidate: the rescoring stage alone decides, and it ranks by the float distances
    scores, ids = ql.search(q, bits, 5, metric="sqeuclidean", precision="ubinary", rescore=x, oversample=300)
    assert np.array_equal(ids, exact_ids) and np.allclose(scores, exact_scores, rtol=1e-6)
    codec = ql.ScalarCodec.fit(x, "int8")
    scores, ids = ql.search(q, bits, 5, metric="l2", precision="ubinary", rescore=(codec.encode(x), codec),
                            oversample=300)
    assert (np.diff(scores, axis=1) >= 0).all()
    # quantlib.rescore: lowest first, short lists padded with +inf (the worst distance)
    scores, ids = ql.rescore(q[:2], [[3, 1, 0], [2, -1]], x, k=3, metric="sqeuclidean")
    d = ssd.cdist(q[:2].astype(np.float64), x[:4].astype(np.float64), "sqeuclidean")
    assert ids[0].tolist() == sorted([3, 1, 0], key=lambda i: d[0, i]) and ids[1].tolist() == [2, -1, -1]
    assert scores[1, 1] == np.inf and np.allclose(scores[0], np.sort(d[0, [0, 1, 3]]), rtol=1e-5)


def test_records_pickle_by_name():
    import pickle

    for m in ql.METRICS:
        assert pickle.loads(pickle.dumps(m)) is m


def test_euclidean_is_not_an_alias():
    with pytest.raises(ql.ConfigError, match=r"'euclidean' is the square root of 'sqeuclidean'"):
        ql.pairwise(np.ones((1, 2), np.float32), np.ones((1, 2), np.float32), "euclidean")


def test_hamming_hint_names_every_metric_of_codes():
    with pytest.raises(ql.ConfigError, match=r"use metric='dot' or 'cosine' or 'sqeuclidean' for int8 rows"):
        ql.pairwise(np.ones((1, 2), np.float32), np.ones((1, 2), np.int8), "hamming", precision="int8")


# ---------------------------------------------------------------------------
# FlatIndex and the CLI
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("codec", "rescore"), [("float32", None), ("int8", "float16"), ("ubinary", "float32")])
def test_flat_index_saves_and_loads_its_metric(tmp_path, codec, rescore):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 24)).astype(np.float32)
    q = rng.standard_normal((3, 24)).astype(np.float32)
    c = ql.ScalarCodec.fit(x, "int8") if codec == "int8" else codec
    index = ql.FlatIndex(c, 24, metric="l2", rescore=rescore)
    index.add(x)
    assert index.metric == "sqeuclidean"
    before = index.search(q, 7)
    assert (np.diff(before[0], axis=1) >= 0).all()
    index.save(tmp_path / "ix")
    header = json.loads((tmp_path / "ix" / "quantlib-index.json").read_text())
    assert header["metric"] == "sqeuclidean"
    loaded = ql.FlatIndex.load(tmp_path / "ix")
    assert loaded.metric == "sqeuclidean"
    after = loaded.search(q, 7)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    if codec == "float32":
        assert np.array_equal(after[1], ql.search(q, x, 7, metric="sqeuclidean")[1])


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name", ["sqeuclidean", "l2"])
def test_cli_search_by_sqeuclidean(tmp_path, capsys, name):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", x[:2] + 0.01)
    status, out, err = _run(capsys, "search", str(tmp_path / "x.npy"), str(tmp_path / "q.npy"), "-k", "3",
                            "--metric", name)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "query\trank\tindex\tsqeuclidean_distance"
    assert "squared Euclidean distances, lowest first" in err
    assert [int(line.split("\t")[2]) for line in lines[1:4:3]] == [0]
    first = [float(line.split("\t")[3]) for line in lines[1:4]]
    assert first == sorted(first)
    status, out, _ = _run(capsys, "search", str(tmp_path / "x.npy"), str(tmp_path / "q.npy"), "-k", "3",
                          "--metric", name, "-o", str(tmp_path / "r.npz"))
    assert status == 0 and "scores are squared Euclidean distances: lower is better" in out
    with np.load(tmp_path / "r.npz") as z:
        assert str(z["metric"]) == "sqeuclidean"
        want = ql.search(x[:2] + 0.01, x, 3, metric="sqeuclidean")
        assert np.array_equal(z["indices"], want[1]) and np.array_equal(z["scores"], want[0])

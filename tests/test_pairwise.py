"""quantlib.pairwise and the one-to-many forms: twins, orientation, the scipy relation, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd
from hypothesis import given
from hypothesis import strategies as st

import quantlib as ql
import quantlib._kernels._config as C
from quantlib import _reference as R
from quantlib.precision import FAMILIES

DIMS = st.one_of(st.sampled_from([1, 7, 8, 9, 63, 64, 65, 130]), st.integers(1, 40))
SEEDS = st.integers(0, 2**32 - 1)


def read_only(x: np.ndarray) -> np.ndarray:
    return np.frombuffer(x.tobytes(), x.dtype).reshape(x.shape)


def _data(seed: int, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d)).astype(np.float32)
    b = rng.standard_normal((m, d)).astype(np.float32)
    b[0] = 0.0  # a zero vector: cosine 0
    return a, b


def _close(got: np.ndarray, want: np.ndarray, scale: float) -> None:
    assert got.shape == want.shape
    assert np.all(np.abs(got.astype(np.float64) - want) <= 1e-5 * scale + 1e-6), np.abs(got - want).max()


@given(SEEDS, DIMS, st.integers(0, 5), st.integers(1, 30), st.sampled_from(["dot", "cosine"]),
       st.sampled_from([np.float32, np.float16, np.float64]))
def test_float_rows_equal_twin(seed, d, n, m, metric, dtype):
    a, b = _data(seed, n, m, d)
    b = b.astype(dtype)
    got = ql.pairwise(a, b, metric)
    assert got.dtype == np.float32
    _close(got, R.pairwise_scores(a, b.astype(np.float32) if dtype != np.float64 else b, metric, "float32"),
           scale=float(np.abs(a).sum(1).max(initial=1) * np.abs(b).max()) if metric == "dot" else 1.0)


@given(SEEDS, DIMS, st.integers(0, 5), st.integers(1, 30), st.sampled_from(["dot", "cosine"]),
       st.sampled_from(["int8", "uint8"]))
def test_float_queries_against_calibrated_codes_score_dequantized_vectors(seed, d, n, m, metric, precision):
    a, b = _data(seed, n, m, d)
    codec = ql.ScalarCodec(precision, np.vstack([b.min(0) - 0.5, b.max(0)]))
    codes = codec.encode(b)
    got = ql.pairwise(a, codes, metric, codec=codec)
    want = R.pairwise_scores(a, codes, metric, precision, codec.ranges)
    # q . value = q . start + sum_j (q_j * step_j) * (c_j - low): the terms can be far larger than
    # the result, so the error bound is relative to them (and, for cosine, to the norms)
    r = codec.ranges.astype(np.float64)
    bound = 1e-6 * (np.abs(a) @ (np.abs(r[0]) + np.abs(r[1] - r[0])))[:, None] + 1e-7
    if metric == "cosine":
        values = R.score_values(codes, precision, codec.ranges)
        norms = np.linalg.norm(a, axis=1)[:, None] * np.linalg.norm(values, axis=1)[None, :]
        bound = np.where(norms > 0, bound / np.where(norms > 0, norms, 1), 0) + 1e-6
    assert np.all(np.abs(got - want) <= bound)
    # the config dict works as the codec
    assert np.array_equal(ql.pairwise(a, codes, metric, codec=codec.get_config()), got)


@given(SEEDS, DIMS, st.integers(0, 5), st.integers(1, 30), st.sampled_from(["int8", "uint8"]))
def test_codes_against_codes_give_the_exact_integer_dot(seed, d, n, m, precision):
    rng = np.random.default_rng(seed)
    lo, hi = R.CODE_RANGE[precision]
    a = rng.integers(lo, hi + 1, (n, d)).astype(precision)
    b = rng.integers(lo, hi + 1, (m, d)).astype(precision)
    b[0] = lo
    got = ql.pairwise(a, b, "dot", precision=precision)
    assert got.dtype == np.int64
    assert np.array_equal(got, R.pairwise_scores(a, b, "dot", precision))
    cos = ql.pairwise(a, b, "cosine", precision=precision)
    _close(cos, R.pairwise_scores(a, b, "cosine", precision), 1.0)
    # a float query against codes without a codec reads the codes' integer values
    _close(ql.pairwise(a.astype(np.float32), b, "dot", precision=precision),
           R.pairwise_scores(a, b, "dot", precision), float(np.abs(a).sum(1).max(initial=1) * 255))


def test_extreme_int8_codes_never_overflow():
    d = 2000  # 2000 * 128**2 overflows int16 and float32's exact integers, not int64
    a = np.full((2, d), -128, np.int8)
    b = np.full((3, d), -128, np.int8)
    b[1] = 127
    got = ql.pairwise(a, b, "dot", precision="int8")
    assert got[0].tolist() == [d * 16384, -d * 16256, d * 16384]


@pytest.mark.parametrize(("precision", "d"), [("int8", 131071), ("int8", 131072), ("uint8", 33025),
                                              ("uint8", 33026)])
def test_code_dots_are_exact_on_both_sides_of_the_int32_limit(precision, d):
    # up to d items the int32 vector kernel sums them; one more and float64 sums take over
    big = -128 if precision == "int8" else 255
    a = np.full((1, d), big, precision)
    b = np.full((2, d), big, precision)
    b[1, ::3] = 1
    want = (a.astype(np.int64) @ b.astype(np.int64).T).tolist()
    assert ql.pairwise(a, b, "dot", precision=precision).tolist() == want
    assert ql.search(a, b, 2, metric="dot", precision=precision)[0].tolist() == [sorted(want[0], reverse=True)]


@given(SEEDS, DIMS, st.integers(0, 5), st.integers(1, 30), st.sampled_from(["binary", "ubinary"]))
def test_bits_equal_twin(seed, d, n, m, precision):
    a, b = _data(seed, n, m, d)
    ca, cb = ql.quantize(a, precision), ql.quantize(b, precision)
    counts = R.pairwise_scores(ca, cb, "hamming", precision)
    assert np.array_equal(ql.pairwise(ca, cb, "hamming"), counts)
    assert np.array_equal(ql.pairwise(a, cb, "hamming"), counts)  # float queries are binarized
    dot = ql.pairwise(ca, cb, "dot", precision=precision, dim=d)
    assert dot.dtype == np.int64
    assert np.array_equal(dot, d - 2 * counts)
    assert np.array_equal(dot, R.pairwise_scores(ca, cb, "dot", precision, dim=d))
    _close(ql.pairwise(ca, cb, "cosine", precision=precision, dim=d), (d - 2 * counts) / d, 1.0)
    # a float query against +1/-1 bits (asymmetric)
    for metric in ("dot", "cosine"):
        got = ql.pairwise(a, cb, metric, precision=precision)
        scale = float(np.abs(a).sum(1).max(initial=1)) if metric == "dot" else 1.0
        _close(got, R.pairwise_scores(a, cb, metric, precision), scale)


def test_padding_bits_are_ignored_and_the_true_dimension_counts():
    a = np.array([[1.0, -1.0, 1.0]], np.float32)
    bits = ql.quantize(a, "ubinary")  # 0b10100000: 5 padding bits
    assert ql.pairwise(bits, bits, "dot", precision="ubinary", dim=3).tolist() == [[3]]
    assert ql.pairwise(bits, bits, "dot", precision="ubinary").tolist() == [[8]]  # default dim 8 * w
    assert ql.pairwise(a, bits, "dot", precision="ubinary").tolist() == [[3.0]]


@pytest.mark.parametrize("precision", ["float32", "int8", "ubinary"])
def test_cosine_does_not_depend_on_the_size_of_the_query(precision):
    # cosine is scale-invariant: a query times any power of two scores the same, bit for bit, and
    # a query of subnormal size (whose 1/norm is beyond float32) still gets finite, right cosines
    rng = np.random.default_rng(8)
    x = rng.standard_normal((200, 21)).astype(np.float32)
    q = rng.standard_normal((3, 21)).astype(np.float32)
    kwargs = {"codec": ql.ScalarCodec.fit(x, "int8")} if precision == "int8" else {"precision": precision}
    corpus = ql.quantize(x, kwargs.get("codec") or precision)
    want = ql.pairwise(q, corpus, "cosine", **kwargs)
    for power in (-100, -20, 3, 60, 100):
        scaled = q * np.float32(2.0 ** power)
        assert np.array_equal(ql.pairwise(scaled, corpus, "cosine", **kwargs), want), power
        assert np.array_equal(ql.search(scaled, corpus, 5, **kwargs)[1], ql.search(q, corpus, 5, **kwargs)[1])
    tiny = ql.pairwise(q * np.float32(2.0 ** -140), corpus, "cosine", **kwargs)  # subnormal: fewer bits
    assert np.isfinite(tiny).all() and np.allclose(tiny, want, atol=1e-2)


def test_cosine_refuses_corpus_rows_of_subnormal_norm():
    # A corpus row is read where it lies (perhaps memory-mapped), not rescaled like a query: below
    # float32's smallest normal norm its products underflow and 1/norm may not fit float32, so
    # cosine raises, naming the row, instead of returning inf or a score of a few bits.
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.standard_normal((2, 16)).astype(np.float32)
    x[4] *= np.float32(2.0 ** -125)  # norm 2**-125: still normal, still scores right
    q64, x64 = q.astype(np.float64), x.astype(np.float64)
    want = (q64 / np.linalg.norm(q64, axis=1, keepdims=True)) @ (x64 / np.linalg.norm(x64, axis=1, keepdims=True)).T
    np.testing.assert_allclose(ql.pairwise(q, x, "cosine"), want, atol=1e-6)
    x[4] *= np.float32(0.25)  # 2**-127: subnormal
    for call in (lambda: ql.pairwise(q, x, "cosine"), lambda: ql.search(q, x, 3, metric="cosine"),
                 lambda: ql.cosine(q[0], x)):
        with pytest.raises(ql.OutOfRangeError, match=r"row 4 has norm 5\.88e-39, below float32's smallest"):
            call()
    np.testing.assert_allclose(ql.pairwise(q, x, "dot"), q @ x.T, atol=1e-6)  # dot needs no norm
    x[4] = 0  # a zero row is not small: it has cosine 0 with everything
    assert np.all(ql.pairwise(q, x, "cosine")[:, 4] == 0)


def test_scipy_relation():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 20)).astype(np.float32)
    b = rng.standard_normal((6, 20)).astype(np.float32)
    assert np.allclose(1 - ql.pairwise(a, b, "cosine"), ssd.cdist(a, b, "cosine"), atol=1e-6)
    ua, ub = a > 0, b > 0
    counts = ql.pairwise(ql.quantize(a, "ubinary"), ql.quantize(b, "ubinary"), "hamming")
    assert np.allclose(counts / 20, ssd.cdist(ua, ub, "hamming"))


def test_one_to_many_forms_equal_pairwise_rows():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 12)).astype(np.float32)
    q = rng.standard_normal(12).astype(np.float32)
    assert np.array_equal(ql.dot(q, X), ql.pairwise(q[None], X, "dot")[0])
    assert np.array_equal(ql.cosine(q, X), ql.pairwise(q[None], X, "cosine")[0])
    bits = ql.quantize(X, "binary")
    qb = ql.quantize(q, "binary")
    assert np.array_equal(ql.hamming(qb, bits), ql.pairwise(qb[None], bits, "hamming")[0])
    out = np.empty(7, np.float32)
    assert ql.dot(q, X, out=out) is not None and np.array_equal(out, ql.dot(q, X))


def test_out_is_filled_and_returned():
    a = np.eye(3, dtype=np.float32)
    out = np.full((3, 3), 9.0, np.float32)
    assert ql.pairwise(a, a, "dot", out=out) is out
    assert np.array_equal(out, np.eye(3))


def test_read_only_and_memory_mapped_inputs(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 33)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    q = read_only(X[:3])
    assert np.array_equal(ql.pairwise(q, mm, "cosine"), ql.pairwise(X[:3], X, "cosine"))
    bits = ql.quantize(X, "ubinary")
    assert np.array_equal(ql.pairwise(read_only(bits), read_only(bits), "hamming"),
                          ql.pairwise(bits, bits, "hamming"))


def test_parallel_path_equals_serial(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 40)).astype(np.float32)
    Q = X[:9] + 0.1
    bits = ql.quantize(X, "ubinary")
    serial = [ql.pairwise(Q, X, "cosine"), ql.pairwise(Q, bits, "dot", precision="ubinary"),
              ql.pairwise(bits[:9], bits, "hamming")]
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
    par = [ql.pairwise(Q, X, "cosine"), ql.pairwise(Q, bits, "dot", precision="ubinary"),
           ql.pairwise(bits[:9], bits, "hamming")]
    for s, p in zip(serial, par, strict=True):
        assert np.array_equal(s, p)


def test_metric_table_is_consistent():
    names = [m.name for m in ql.METRICS]
    assert names == ["dot", "cosine", "hamming", "sqeuclidean"]
    for m in ql.METRICS:
        assert hasattr(R, m.reference)
        assert set(m.families) <= set(FAMILIES)
        assert ql.metric_info(m.name) is m
        # the record chooses the kernels: every family it scores with quantlib's kernels has one for float
        # queries ("decoded" rows are scored as floats, "own" codecs score themselves)
        for family in set(m.families) - {"decoded", "own"}:
            assert m.kernel_for(family, "float") is not None
        assert (m.dense_terms is not None) == any(kind == "dense" for _, _, kind in m.kernels)
        assert (m.signs_terms is not None) == any(kind == "signs" for _, _, kind in m.kernels)
        assert ql.metric_info(m.rescored_by).higher_is_better or m.rescored_by == m.name
    assert ql.metric_info("hamming").higher_is_better is False
    assert ql.metric_info("l2") is ql.metric_info("sqeuclidean")
    assert ql.metric_info("sqeuclidean").higher_is_better is False


def test_metric_names_appear_only_in_the_records():
    """The planner and the API ask the record: no comparison of a metric's name outside metrics.py."""
    import pathlib
    import re

    root = pathlib.Path(ql.__file__).parent
    pattern = re.compile(r"""(metric|\bm|rm|scored_by)(\.name)?\s*[!=]=\s*["'](dot|cosine|hamming|sqeuclidean)["']""")
    skip = {"metrics.py", "_reference.py"}  # the records themselves, and the numpy twins keyed by name
    found = [f"{path.name}:{i}" for path in root.glob("*.py") if path.name not in skip
             for i, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

F = np.ones((2, 8), np.float32)
U8 = np.ones((2, 1), np.uint8)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: ql.pairwise(F, np.ones((2, 9), np.float32)), ql.ShapeError,
     r"XA: dimension 8 does not match the corpus dimension 9"),
    (lambda: ql.pairwise(F[0], F), ql.ShapeError, r"XA: expected a 2-D \(n, d\) array.*x\[None, :\]"),
    (lambda: ql.pairwise(F, np.ones((2, 2, 2), np.float32)), ql.ShapeError, r"XB: expected a 2-D"),
    (lambda: ql.pairwise(F, F, "euclid"), ql.ConfigError, r"metric: expected one of dot, cosine, hamming"),
    (lambda: ql.pairwise(U8, U8, "dot"), ql.DTypeError,
     r"XB: a uint8 array holds uint8 codes or packed bits; pass precision='uint8'.*precision='ubinary'"),
    (lambda: ql.pairwise(F, F, "hamming"), ql.ConfigError,
     r"metric: 'hamming' scores binary, ubinary rows, got precision 'float32'"),
    (lambda: ql.pairwise(U8, U8, "hamming", precision="uint8"), ql.ConfigError,
     r"'hamming' scores binary, ubinary rows, got precision 'uint8'"),
    (lambda: ql.pairwise(np.ones((2, 2), np.uint8), U8, "hamming"), ql.ShapeError,
     r"XA: rows have 2 bytes, the corpus rows 1"),
    (lambda: ql.pairwise(U8.view(np.int8), U8, "hamming"), ql.DTypeError,
     r"XA: codes must have the corpus dtype uint8 \(ubinary\), got dtype int8"),
    (lambda: ql.pairwise(np.ones((1, 9), np.float32), U8, "dot", precision="ubinary"), ql.ShapeError,
     r"XA: float queries of dimension 9 take 2 bytes as bits, but the ubinary rows have 1 bytes"),
    (lambda: ql.pairwise(np.full((1, 8), np.nan, np.float32), F), ql.NonFiniteError,
     r"XA: expected finite values, got nan"),
    (lambda: ql.pairwise(F, np.array([[np.inf] * 8], np.float16)), ql.NonFiniteError,
     r"XB: expected finite values, got inf"),
    (lambda: ql.pairwise(F, np.array([[1e300] * 8])), ql.OutOfRangeError,
     r"XB: value 1e\+300 at index \(0, 0\) is beyond float32's largest finite value"),
    (lambda: ql.pairwise(F, np.ones((2, 8), np.int16)), ql.DTypeError,
     r"XB: expected float embeddings, int8/uint8 codes or packed bits, got dtype int16"),
    (lambda: ql.pairwise(F, np.ones((2, 8), np.int8), precision="int8",
                         codec=ql.ScalarCodec("uint8", [[0.0] * 8, [1.0] * 8])), ql.ConfigError,
     r"precision, codec: precision 'int8' but the codec is 'uint8'"),
    (lambda: ql.pairwise(F, np.ones((2, 8), np.int8), codec=ql.ScalarCodec("int8", [[0.0] * 7, [1.0] * 7])),
     ql.ShapeError, r"XB: the codec's ranges are for dimension 7, got dimension 8"),
    (lambda: ql.pairwise(F, F, codec="int8"), ql.DTypeError,
     r"codec: expected a quantlib Codec or its config"),
    (lambda: ql.pairwise(np.ones((2, 8), np.int8), F), ql.DTypeError,
     r"XA: codes must have the corpus dtype float32"),
    (lambda: ql.pairwise(U8, np.array([[0b11]], np.uint8), "dot", precision="ubinary", dim=3), ql.ShapeError,
     r"bits past dimension 3 are set"),
    (lambda: ql.pairwise(F, F, out=np.empty((2, 2), np.float64)), ql.DTypeError,
     r"out: expected dtype float32 for these scores, got dtype float64"),
    (lambda: ql.pairwise(F, F, out=np.empty((2, 3), np.float32)), ql.ShapeError,
     r"out: expected shape \(2, 2\), got shape \(2, 3\)"),
    (lambda: ql.pairwise(F, F, out=np.empty((2, 4), np.float32)[:, ::2]), ql.ShapeError,
     r"out: expected a C-contiguous array"),
    (lambda: ql.pairwise(F, F, out=read_only(np.empty((2, 2), np.float32))), ql.ShapeError,
     r"out: expected a writeable array"),
    (lambda: ql.pairwise(F, F, out=[[0.0]]), ql.DTypeError, r"out: expected a numpy array, got list"),
    (lambda: ql.dot(F, F), ql.ShapeError, r"q: expected one vector of shape \(d,\), got shape \(2, 8\); "
     r"use quantlib.pairwise"),
    (lambda: ql.cosine(F[0], F, out=np.empty((1, 2), np.float32)), ql.ShapeError, r"out: expected a 1-D"),
    (lambda: ql.pairwise(F, np.ones((2, 0), np.float32)), ql.ShapeError,
     r"XB: expected at least one dimension"),
])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_float16_queries_are_read_as_float_vectors():
    # float16 queries once raised a bare KeyError in the NaN check
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 24)).astype(np.float32)
    q16 = x[:3].astype(np.float16)
    q32 = q16.astype(np.float32)  # exact
    bits = ql.quantize(x, "ubinary")
    for corpus, kw in ((x, {}), (x.astype(np.float16), {}), (bits, {"precision": "ubinary"})):
        for metric in ("dot", "cosine"):
            assert np.array_equal(ql.pairwise(q16, corpus, metric, **kw), ql.pairwise(q32, corpus, metric, **kw))
            got = ql.search(q16, corpus, 3, metric=metric, **kw)
            want = ql.search(q32, corpus, 3, metric=metric, **kw)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert np.array_equal(ql.dot(q16[0], x), ql.dot(q32[0], x))
    bad = q16.copy()
    bad[1, 5] = np.inf
    with pytest.raises(ql.NonFiniteError, match=r"queries: expected finite values, got inf at index \(1, 5\)"):
        ql.search(bad, x, 2)
    bad[1, 5] = np.nan
    with pytest.raises(ql.NonFiniteError, match=r"XA: expected finite values, got nan"):
        ql.pairwise(bad, x)


def test_one_to_many_errors_name_q_and_X():
    x = np.ones((5, 4), np.float32)
    with pytest.raises(ql.NonFiniteError, match=r"^q: expected finite values"):
        ql.dot(np.array([1, np.nan, 0, 0], np.float32), x)
    with pytest.raises(ql.ShapeError, match=r"^q: dimension 3 does not match the corpus dimension 4"):
        ql.cosine(np.ones(3, np.float32), x)
    with pytest.raises(ql.DTypeError, match=r"^X: "):
        ql.dot(np.ones(4, np.float32), x.astype(np.complex64))


@pytest.mark.parametrize("metric", ["hamming", "dot", "cosine"])
def test_float_queries_refuse_set_padding_bits_in_the_corpus(metric):
    # the float queries give the true dimension (13), so set bits past it mean a wrong dimension or
    # bit order; the Hamming path once counted them (every score off by 3), dot/cosine skipped them
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 13)).astype(np.float32)
    q = rng.standard_normal((2, 13)).astype(np.float32)
    bits = ql.quantize(x, "ubinary")
    bad = bits.copy()
    bad[7, -1] |= 0x07
    ql.pairwise(q, bits, metric, precision="ubinary")  # clean rows are fine
    for call in (lambda: ql.pairwise(q, bad, metric, precision="ubinary"),
                 lambda: ql.search(q, bad, 3, metric=metric, precision="ubinary")):
        with pytest.raises(ql.ShapeError, match=r"(XB|corpus): bits past dimension 13 are set"):
            call()


def test_cosine_of_a_code_row_that_decodes_to_zero_is_zero():
    # The row norms are of the float32 values decode() gives: -4 + 204 * (5/255) rounds to exactly
    # 0 there, but computed with a fused multiply-add (or in float64) it left ~1e-7 of rounding, and
    # dividing the dot's rounding noise by that ranked the zero row first with cosine 0.85.
    codec = ql.ScalarCodec("int8", [[-4.0] * 4, [1.0] * 4])
    X = codec.encode(np.array([[0, 0, 0, 0], [1, -1, 0.5, 0.2]], np.float32))
    assert not codec.decode(X)[0].any()
    q = np.array([1, 2, -0.5, 0.3], np.float32)
    want = ql.cosine(q, codec.decode(X))
    got = ql.cosine(q, X, codec=codec)
    assert got[0] == 0 and want[0] == 0 and abs(got[1] - want[1]) < 1e-6
    scores, rows = ql.search(q[None], X, 2, metric="cosine", codec=codec)
    assert rows.tolist() == [[0, 1]] and scores[0, 0] == 0  # 0 beats the negative cosine of row 1


def test_float_query_against_bits_refuses_scores_that_could_overflow():
    # the dot of q with +1/-1 bits reaches sum |q|: 8 values of 3e38 overflowed to inf (ranked first)
    bits = ql.quantize(np.eye(8, dtype=np.float32) - 0.5, "ubinary")
    big = np.full((1, 8), 3e38, np.float32)
    for call in (lambda: ql.pairwise(big, bits, "dot", precision="ubinary"),
                 lambda: ql.search(big, bits, 2, metric="dot", precision="ubinary")):
        with pytest.raises(ql.OutOfRangeError, match=r"(XA|queries): row 0 can score 2\.4e\+39 .* against"):
            call()
    fine = np.full((1, 8), 2.0 ** 123, np.float32)  # sum |q| = 2**126: every score is exact
    assert np.all(ql.pairwise(fine, bits, "dot", precision="ubinary") == -6 * 2.0 ** 123)  # one bit set
    cos = ql.pairwise(big, bits, "cosine", precision="ubinary")  # cosine rescales the query first
    np.testing.assert_allclose(cos, -0.75, atol=1e-6)


# ---------------------------------------------------------------------------
# out= never shares memory with an input (issue 22, point 4)
# ---------------------------------------------------------------------------


def _square(n: int, seed: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, n)).astype(np.float32)


@pytest.mark.parametrize("call, overlaps", [
    # out is the corpus itself: the kernels would read rows they already overwrote (scores off by 15)
    (lambda Q, X: ql.pairwise(Q, X, "dot", out=X), "XB"),
    (lambda Q, X: ql.pairwise(Q, X, "cosine", out=X.reshape(-1).reshape(X.shape)), "XB"),  # a view, not X
    (lambda Q, X: ql.pairwise(Q, X, "dot", out=Q), "XA"),
    (lambda Q, X: ql.dot(Q[0], X, out=X[3]), "X"),
    (lambda Q, X: ql.cosine(X[2], X, out=X[2]), "q"),
    # codes and bits reinterpreted: the same bytes seen as the score dtype
    (lambda Q, X: ql.pairwise(X.view(np.int8)[:4].copy(), X.view(np.int8), "dot", precision="int8",
                              out=X.view(np.int8).reshape(-1)[: 4 * 24 * 8].view(np.int64).reshape(4, 24)), "XB"),
    (lambda Q, X: ql.hamming(X.view(np.uint8)[0].copy(), X.view(np.uint8)[:6],
                             out=X.view(np.uint8)[2].view(np.int64)[:6]), "X"),
])
def test_out_sharing_memory_with_an_input_is_refused(call, overlaps):
    X = _square(24)
    Q = X[:24].copy()
    before = X.copy(), Q.copy()
    with pytest.raises(ql.ShapeError, match=rf"out: expected an array that shares no memory with the inputs, "
                                            rf"got one that overlaps {overlaps} \("):
        call(Q, X)
    assert np.array_equal(X, before[0]) and np.array_equal(Q, before[1])  # nothing written


def test_out_next_to_an_input_in_one_buffer_is_fine():
    # shares_memory, not may_share_memory or identity: the same buffer, disjoint elements
    n = 16
    base = np.empty(3 * n * n, np.float32)
    X = base[: n * n].reshape(n, n)
    X[...] = _square(n)
    Q = base[n * n: 2 * n * n].reshape(n, n)
    Q[...] = _square(n, seed=5)
    out = base[2 * n * n:].reshape(n, n)
    assert ql.pairwise(Q, X, "dot", out=out) is out
    assert np.array_equal(out, ql.pairwise(Q.copy(), X.copy(), "dot"))
    rows = np.zeros((2 * n, n), np.float32)  # alternate rows: interleaved, no element in common
    rows[1::2] = X
    got = ql.pairwise(Q, rows[1::2], "dot", out=np.empty((n, n), np.float32))
    assert np.array_equal(got, out)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), start=st.integers(0, 60), at=st.integers(0, 60),
       metric=st.sampled_from(["dot", "cosine"]))
def test_out_is_refused_exactly_when_it_overlaps_the_corpus(seed, n, start, at, metric):
    d = 4
    base = np.random.default_rng(seed).standard_normal(60 + n * d).astype(np.float32)
    X = base[start:start + n * d].reshape(n, d)
    out = base[at:at + 2 * n].reshape(2, n)
    Q = np.ones((2, d), np.float32)
    want = ql.pairwise(Q, X.copy(), metric)
    if np.shares_memory(X, out):
        with pytest.raises(ql.ShapeError, match="overlaps XB"):
            ql.pairwise(Q, X, metric, out=out)
    else:
        assert np.array_equal(ql.pairwise(Q, X, metric, out=out), want)

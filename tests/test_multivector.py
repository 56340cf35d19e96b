"""Multi-vector batches and MaxSim: every format against the numpy twins, search, rescoring, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import quantlib
import quantlib._kernels._config as C
import quantlib._maxsim as M
import quantlib.muvera as muvera
from quantlib import (
    Base64DecodeError,
    CalibrationWarning,
    ConfigError,
    DTypeError,
    MultiVectorBatch,
    MuveraEncoder,
    NonFiniteError,
    OutOfRangeError,
    PayloadError,
    ScalarCodec,
    ShapeError,
    UnknownPrecisionError,
    maxsim,
    maxsim_search,
    quantize,
)
from quantlib import _reference as R
from quantlib._kernels import maxsim as KM
from quantlib._kernels import maxtile as KT

GOLDEN = Path(__file__).parent / "golden" / "providers"
BITS = ("binary", "ubinary")
SCALARS = ("int8", "uint8")
#: Odd dimensions around the byte and word edges, and ColBERT's widths.
ODD_DIMS = (1, 3, 7, 9, 15, 17, 33, 63, 65, 95, 127, 129)


# --------------------------------------------------------------------------- strategies


@st.composite
def ragged(draw, *, max_docs: int = 6, max_tokens: int = 300, kinds=("normal", "unit", "ints")):
    """``(query, documents)``: a float32 query ``(nq, d)`` and a list of float32 ``(n_i, d)`` matrices.

    Token counts run from 1 to ``max_tokens`` (1 and a few drawn often); ``ints`` draws
    small half-integers, so that scores tie and float arithmetic is exact.
    """
    n_docs = draw(st.integers(1, max_docs))
    lengths = draw(st.lists(st.one_of(st.just(1), st.integers(1, 8), st.integers(1, max_tokens)),
                            min_size=n_docs, max_size=n_docs))
    d = draw(st.one_of(st.sampled_from(ODD_DIMS), st.integers(1, 40)))
    nq = draw(st.one_of(st.just(1), st.integers(1, 40)))
    kind = draw(st.sampled_from(kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def fill(n: int) -> np.ndarray:
        if kind == "ints":
            return (rng.integers(-3, 4, (n, d)) / 2).astype(np.float32)
        x = rng.standard_normal((n, d)).astype(np.float32)
        if kind == "unit":
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
        return x

    return fill(nq), [fill(n) for n in lengths]


def values(batch: MultiVectorBatch) -> list[np.ndarray]:
    """The float64 vectors each document's tokens stand for (the reference reading)."""
    ranges = batch.codec.ranges if batch.codec is not None else None
    return [R.score_values(doc, batch.precision, ranges, batch.dim) for doc in batch]


def bound(q: np.ndarray, docs: list[np.ndarray]) -> np.ndarray:
    """``sum_q max_t sum_j |q_j x_tj|``: the scale of each score's rounding error."""
    return R.maxsim(np.abs(np.asarray(q, np.float64)), [np.abs(np.asarray(d, np.float64)) for d in docs])


def assert_close(got: np.ndarray, ref: np.ndarray, scale: np.ndarray, d: int) -> None:
    tol = 2e-7 * (d + 16) * scale + 1e-30
    assert got.shape == ref.shape
    assert np.all(np.abs(got.astype(np.float64) - ref) <= tol), (got, ref, tol)


def quiet_quantize(batch: MultiVectorBatch, precision: str, **kwargs) -> MultiVectorBatch:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return batch.quantize(precision, **kwargs)


@pytest.fixture
def parallel(monkeypatch):
    """Send every scan down the parallel path (the machine has at least two threads)."""
    assert quantlib.get_num_threads() >= 2
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 1)


# --------------------------------------------------------------------------- MaxSim against the twins


@given(data=ragged())
def test_float32_maxsim_equals_reference(data):
    q, docs = data
    batch = MultiVectorBatch.from_arrays(docs)
    got = maxsim(q, batch)
    assert got.dtype == np.float32
    assert_close(got, R.maxsim(q, docs), bound(q, docs), q.shape[1])
    assert_close(maxsim(q, batch, normalize=True), R.maxsim(q, docs, normalize=True),
                 bound(q, docs) / q.shape[0], q.shape[1])


@given(data=ragged(kinds=("normal",)), normalize=st.booleans())
def test_both_float_tiles_give_the_same_scores_bit_for_bit(data, normalize):
    # the AVX-512 tile (32 query tokens, 12 document tokens a pass) and the 8-float one (16 and 6)
    # sum every similarity in the same order, one fused multiply-add per component: equal floats
    q, docs = data
    batch = MultiVectorBatch.from_arrays(docs)
    results = []
    for wide in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(KT, "WIDE", wide)
            assert (M._maxsim_group(max(17, q.shape[0])) == KT.WIDE_GROUP) == wide
            results.append((maxsim(q, batch, normalize=normalize), maxsim_search(q, batch, min(3, len(docs)))))
    (s1, (k1, i1)), (s2, (k2, i2)) = results
    assert s1.tobytes() == s2.tobytes()
    assert np.array_equal(k1, k2) and np.array_equal(i1, i2)


@given(data=ragged())
def test_float16_maxsim_equals_reference(data):
    q, docs = data
    batch = MultiVectorBatch.from_arrays([d.astype(np.float16) for d in docs])
    assert batch.precision == "float16"
    ref_docs = values(batch)
    # A float16 query is widened exactly, so it scores as its float32 twin.
    got = maxsim(q.astype(np.float16), batch)
    assert_close(got, R.maxsim(q.astype(np.float16), ref_docs), bound(q, ref_docs), q.shape[1])
    assert np.array_equal(got, maxsim(q.astype(np.float16).astype(np.float32), batch))


@pytest.mark.parametrize("precision", SCALARS)
@given(data=ragged())
def test_float_query_against_calibrated_codes_equals_dequantized_reference(precision, data):
    q, docs = data
    batch = quiet_quantize(MultiVectorBatch.from_arrays(docs), precision)
    ref_docs = values(batch)
    codec = batch.codec
    # The kernel splits each value into start + (code - low) * step: both parts bound the error.
    scale_docs = [np.abs(codec._start.astype(np.float64)) + 256 * codec._step.astype(np.float64)
                  + np.abs(v) for v in ref_docs]
    assert_close(maxsim(q, batch), R.maxsim(q, ref_docs), bound(q, scale_docs), q.shape[1])


@pytest.mark.parametrize("precision", SCALARS)
@given(data=ragged(max_docs=3, max_tokens=40), seed=st.integers(0, 2**32 - 1))
def test_codes_against_codes_is_the_exact_integer_dot(precision, data, seed):
    q, docs = data
    rng = np.random.default_rng(seed)
    lo, hi = np.iinfo(precision).min, np.iinfo(precision).max
    # Draw the extremes often: -128 * -128 and 255 * 255 are where int8 arithmetic overflows.
    def codes(n: int, d: int) -> np.ndarray:
        return rng.choice([lo, hi, 0, 1, rng.integers(lo, hi + 1)], size=(n, d)).astype(precision)

    qc = codes(q.shape[0], q.shape[1])
    dc = [codes(d.shape[0], d.shape[1]) for d in docs]
    batch = MultiVectorBatch.from_arrays(dc, precision=precision)
    got = maxsim(qc, batch)
    assert got.dtype == np.float64
    assert np.array_equal(got, R.maxsim(qc, dc))
    # Without a codec a float query reads the codes' integer values.
    assert_close(maxsim(q, batch), R.maxsim(q, dc), bound(q, dc), q.shape[1])


@pytest.mark.parametrize(("precision", "d"), [("uint8", 259), ("uint8", 301), ("int8", 1025)])
def test_codes_past_float32_exactness_use_int32(precision, d):
    # Past 2**24 a float32 sum could round: these widths take the int32 kernel.
    rng = np.random.default_rng(d)
    lo, hi = np.iinfo(precision).min, np.iinfo(precision).max
    dc = [rng.choice([lo, hi], size=(n, d)).astype(precision) for n in (1, 5, 9)]
    qc = rng.choice([lo, hi], size=(6, d)).astype(precision)
    plan = M._plan(qc, False, MultiVectorBatch.from_arrays(dc, precision=precision), False)
    assert plan.args[5].dtype == np.int32
    assert np.array_equal(maxsim(qc, dc, precision=precision), R.maxsim(qc, dc))


def test_codes_that_could_overflow_int32_use_int64():
    d = 33030  # 255 * 255 * d > 2**31
    dc = [np.full((2, d), 255, np.uint8), np.full((1, d), 254, np.uint8)]
    qc = np.full((3, d), 255, np.uint8)
    got = maxsim(qc, dc, precision="uint8")
    assert got.tolist() == [3 * 255 * 255 * d, 3 * 255 * 254 * d]


@pytest.mark.parametrize("precision", BITS)
@given(data=ragged())
def test_bits_maxsim_equals_plus_minus_one_reference_exactly(precision, data):
    q, docs = data
    batch = MultiVectorBatch.from_arrays(docs).quantize(precision)
    pm_docs = [np.where(doc > 0, 1.0, -1.0) for doc in docs]
    pm_q = np.where(q > 0, 1.0, -1.0)
    assert all(np.array_equal(a, b) for a, b in zip(values(batch), pm_docs, strict=True))
    got = maxsim(quantize(q, precision), batch)
    assert got.dtype == np.float64
    assert np.array_equal(got, R.maxsim(pm_q, pm_docs))  # d - 2 * hamming, the true d
    assert np.array_equal(maxsim(quantize(q, precision), batch, normalize=True),
                          R.maxsim(pm_q, pm_docs, normalize=True))
    # A float query against the same bits read as +1/-1.
    assert_close(maxsim(q, batch), R.maxsim(q, pm_docs), bound(q, pm_docs), q.shape[1])


def test_bits_of_one_token_and_one_dimension():
    docs = MultiVectorBatch.from_arrays([np.array([[0x80]], np.uint8), np.array([[0]], np.uint8)],
                                        precision="ubinary", dim=1)
    assert maxsim(np.array([[0x80]], np.uint8), docs).tolist() == [1.0, -1.0]
    assert maxsim(np.array([[-0.5]], np.float32), docs).tolist() == [-0.5, 0.5]


# --------------------------------------------------------------------------- parallel and read-only


@pytest.mark.parametrize("fmt", ["float32", "float16", "binary", "ubinary-codes"])  # each kernel family
def test_parallel_path_equals_serial(fmt, parallel, monkeypatch):
    rng = np.random.default_rng(5)
    docs = [rng.standard_normal((int(n), 65)).astype(np.float32) for n in rng.integers(1, 60, 97)]
    docs[40] = docs[3].copy()  # a tie across chunks
    q = rng.standard_normal((7, 65)).astype(np.float32)
    precision = fmt.split("-")[0]
    batch = quiet_quantize(MultiVectorBatch.from_arrays(docs), precision)
    query = q
    if fmt.endswith("codes"):
        query = batch.codec.encode(q) if batch.codec is not None else quantize(q, precision)
    par = maxsim(query, batch)
    par_top = maxsim_search(query, batch, k=20)
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", float("inf"))
    ser = maxsim(query, batch)
    assert np.array_equal(par, ser)
    for got, want in zip(par_top, maxsim_search(query, batch, k=20), strict=True):
        assert np.array_equal(got, want)
    for got, want in zip(par_top, R.maxsim_top_k(ser, 20), strict=True):
        assert np.array_equal(got[0], want)


def test_maxsim_follows_the_threading_policy_of_dense_search(monkeypatch):
    # one policy (quantlib._scoring, constants in quantlib._kernels._config): the work threshold and the
    # rows per chunk that dense search reads decide MaxSim's serial/parallel choice too
    assert quantlib.get_num_threads() >= 2
    calls = []
    for name in ("dense_scores_parallel", "dense_search_parallel"):
        real = getattr(KM, name)
        monkeypatch.setattr(KM, name, lambda *a, _real=real, _name=name: (calls.append(_name), _real(*a))[1])
    rng = np.random.default_rng(4)
    docs = MultiVectorBatch.from_arrays([rng.standard_normal((3, 8)).astype(np.float32) for _ in range(40)])
    q = rng.standard_normal((2, 8)).astype(np.float32)
    want = maxsim(q, docs), maxsim_search(q, docs, 5)
    assert calls == []  # 2 x 120 token pairs x 8 dimensions: far below PARALLEL_MIN_WORK
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 1)
    got = maxsim(q, docs), maxsim_search(q, docs, 5)
    assert calls == ["dense_scores_parallel", "dense_search_parallel"]
    assert np.array_equal(got[0], want[0]) and all(np.array_equal(a, b) for a, b in zip(got[1], want[1], strict=True))
    calls.clear()
    monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 121)  # fewer than two chunks of document tokens: serial
    maxsim(q, docs)
    maxsim_search(q, docs, 5)
    assert calls == []


def test_read_only_tokens_memmap_and_frombuffer(tmp_path):
    rng = np.random.default_rng(2)
    tokens = rng.standard_normal((30, 9)).astype(np.float32)
    offsets = np.array([0, 4, 5, 30])
    path = tmp_path / "tokens.f32"
    tokens.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=tokens.shape)
    q = rng.standard_normal((3, 9)).astype(np.float32)
    from_mm = MultiVectorBatch(mm, offsets)
    assert np.shares_memory(from_mm.tokens, mm)  # not copied
    buffered = MultiVectorBatch(np.frombuffer(tokens.tobytes(), np.float32).reshape(30, 9),
                                np.frombuffer(offsets.astype(np.int64).tobytes(), np.int64))
    want = maxsim(q, MultiVectorBatch(tokens, offsets))
    assert np.array_equal(maxsim(q, from_mm), want)
    assert np.array_equal(maxsim(q, buffered), want)
    bits = np.frombuffer(quantize(tokens, "ubinary").tobytes(), np.uint8).reshape(30, 2)
    bit_batch = MultiVectorBatch(bits, offsets, precision="ubinary", dim=9)
    read_only_query = np.frombuffer(quantize(q, "ubinary").tobytes(), np.uint8).reshape(3, 2)
    assert np.array_equal(maxsim(read_only_query, bit_batch), maxsim(quantize(q, "ubinary"), bit_batch))
    assert not from_mm.tokens.flags.writeable and not from_mm.offsets.flags.writeable


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("fmt", ["float32", "float16", "int8", "uint8-codes", "binary", "binary-codes"])
@given(data=ragged(max_docs=12, max_tokens=30, kinds=("ints", "normal")), k=st.integers(1, 12))
def test_search_equals_brute_force_sort(fmt, data, k):
    q, docs = data
    precision = fmt.split("-")[0]
    batch = quiet_quantize(MultiVectorBatch.from_arrays(docs), precision)
    query = q
    if fmt.endswith("codes"):
        query = batch.codec.encode(q) if batch.codec is not None else quantize(q, precision)
    k = min(k, len(batch))
    for normalize in (False, True):
        scores, ids = maxsim_search(query, batch, k, normalize=normalize)
        want_scores, want_ids = R.maxsim_top_k(maxsim(query, batch, normalize=normalize), k)
        assert ids.shape == scores.shape == (1, k)  # one query: one row, as search returns
        assert np.array_equal(ids[0], want_ids) and ids.dtype == np.int64
        assert np.array_equal(scores[0], want_scores)


def test_search_ties_go_to_the_lower_index():
    docs = MultiVectorBatch.from_lists([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])
    scores, ids = maxsim_search(np.array([[1.0, 0.0]], np.float32), docs, k=4)
    assert ids.tolist() == [[0, 2, 3, 1]] and scores.tolist() == [[1.0, 1.0, 1.0, 0.0]]


@given(data=ragged(max_docs=12, max_tokens=40, kinds=("normal", "unit")), k=st.integers(1, 4))
def test_rescoring_with_every_candidate_equals_exact_search(data, k):
    q, docs = data
    exact = MultiVectorBatch.from_arrays(docs)
    k = min(k, len(exact))
    want = maxsim_search(q, exact, k)
    for precision in BITS:
        bits = exact.quantize(precision)
        for quantize_query in (False, True):
            got = maxsim_search(q, bits, k, rescore=exact, oversample=len(exact),
                                quantize_query=quantize_query)
            assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])
    codes = quiet_quantize(exact, "int8")
    got = maxsim_search(q, codes, k, rescore=exact, oversample=len(exact))
    assert np.array_equal(got[1], want[1])


@given(data=ragged(max_docs=12, max_tokens=40, kinds=("normal",)))
def test_rescoring_reranks_the_first_stage_shortlist(data):
    q, docs = data
    exact = MultiVectorBatch.from_arrays(docs)
    bits = exact.quantize("binary")
    k, oversample = 1, 2
    shortlist = min(len(exact), k * oversample)
    _, (first,) = maxsim_search(quantize(q, "binary"), bits, shortlist)
    scores, ids = maxsim_search(q, bits, k, rescore=exact, oversample=oversample, quantize_query=True)
    exact_scores = maxsim(q, exact)
    order = np.lexsort((first, -exact_scores[first].astype(np.float64)))[:k]
    assert scores.shape == ids.shape == (1, k)
    assert np.array_equal(ids[0], first[order])
    assert np.array_equal(scores[0], exact_scores[ids[0]])
    # Rescoring by dequantized int8 codes: scores are the codes' float MaxSim.
    codes = quiet_quantize(exact, "uint8")
    scores, ids = maxsim_search(q, bits, k, rescore=codes, oversample=oversample, quantize_query=True)
    assert np.array_equal(scores[0], maxsim(q, codes)[ids[0]])


# --------------------------------------------------------------------------- constructors and exports


def test_constructors_agree():
    rng = np.random.default_rng(3)
    docs = [rng.standard_normal((n, 5)).astype(np.float32) for n in (3, 1, 4)]
    a = MultiVectorBatch.from_arrays(docs)
    b = MultiVectorBatch.from_lists([d.tolist() for d in docs])
    c = MultiVectorBatch(np.concatenate(docs), [0, 3, 4, 8])
    d = MultiVectorBatch.from_arrays([x.astype(np.float64) for x in docs])
    assert a == b == c == d
    assert a.lengths.tolist() == [3, 1, 4] and a.n_tokens == 8 and len(a) == 3 and a.width == a.dim == 5
    assert a.nbytes == 8 * 5 * 4 + 4 * 8
    tokens, offsets = a.to_flat()
    assert offsets.dtype == np.int64 and offsets.tolist() == [0, 3, 4, 8]
    assert np.array_equal(tokens, np.concatenate(docs))
    assert [x.tolist() for x in a.to_arrays()] == [x.tolist() for x in docs]
    assert a.to_lists() == [x.tolist() for x in docs]
    assert np.array_equal(a[-1], docs[2]) and not a[0].flags.writeable
    assert a[1:].to_lists() == a.take([1, 2]).to_lists() == [docs[1].tolist(), docs[2].tolist()]
    assert a.take([2, 2]).lengths.tolist() == [4, 4]
    assert a[::-1].to_lists() == [x.tolist() for x in docs[::-1]]
    assert a != a.quantize("float16") and (a == "x") is False
    assert repr(a) == "MultiVectorBatch(3 documents, 8 tokens, precision='float32', dim=5)"


def test_from_response_jina_multivector():
    payload = json.loads((GOLDEN / "jina_multivector.json").read_text())
    response = quantlib.decode_response(payload)
    batch = MultiVectorBatch.from_response(response)
    assert batch.lengths.tolist() == [m.shape[0] for m in response.multivectors] == [3, 2]
    assert batch.to_lists() == [m.tolist() for m in response.multivectors]
    assert batch.precision == "float32" and batch.dim == 4
    # Input order follows "index", not the payload's order.
    assert batch.to_lists()[1][0] == np.float32([0.0412, 0.1056, 0.5021, -0.03]).tolist()


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "uint8", "binary", "ubinary"])
def test_round_trips_in_every_precision(precision):
    rng = np.random.default_rng(4)
    floats = MultiVectorBatch.from_arrays([rng.standard_normal((n, 11)).astype(np.float32)
                                           for n in (2, 7, 1)])
    batch = quiet_quantize(floats, precision)
    assert batch.precision == precision and batch.dim == 11
    assert np.array_equal(batch.tokens, quantize(floats.tokens, batch.codec or precision))
    again = MultiVectorBatch.from_base64(json.loads(json.dumps(batch.to_base64())))
    assert again == batch and again.codec == batch.codec
    lists = batch.to_lists()
    assert MultiVectorBatch.from_lists(lists, precision=precision, dim=11, codec=batch.codec) == batch
    assert MultiVectorBatch(*batch.to_flat(), precision=precision, dim=11, codec=batch.codec) == batch
    flat = batch.to_base64()
    assert set(flat) == ({"version", "precision", "dim", "offsets", "tokens", "codec", "checksum"}
                         if precision in SCALARS
                         else {"version", "precision", "dim", "offsets", "tokens", "checksum"})
    deq = batch.dequantize()
    assert deq.precision == "float32" and np.array_equal(deq.offsets, batch.offsets)
    want = quantlib.dequantize(batch.tokens, batch.codec or precision, dim=11)
    assert np.array_equal(deq.tokens, want)


def test_quantize_options_and_code_conversions():
    rng = np.random.default_rng(6)
    floats = MultiVectorBatch.from_arrays([rng.standard_normal((n, 10)).astype(np.float32) for n in (60, 50)])
    ranges = [[-2.0] * 10, [2.0] * 10]
    by_ranges = floats.quantize("int8", ranges=ranges)
    assert by_ranges.codec == ScalarCodec("int8", ranges)
    assert floats.quantize(ScalarCodec("int8", ranges)) == by_ranges
    calib = rng.standard_normal((200, 10))
    assert floats.quantize("uint8", calibration_embeddings=calib).codec == ScalarCodec.fit(calib, "uint8")
    assert floats.quantize("int8", rounding="floor").codec.rounding == "floor"  # ranges from its 110 tokens
    with pytest.warns(CalibrationWarning, match="tokens: int8/uint8 ranges computed from 10 row"):
        MultiVectorBatch.from_arrays([floats[0][:10]]).quantize("int8")
    # Codes convert without floats: int8 -> uint8 -> ubinary -> binary.
    as_uint8 = by_ranges.quantize("uint8")
    assert as_uint8.codec == ScalarCodec("uint8", ranges)  # the same ranges, for the uint8 codes (was the int8 codec)
    q = rng.standard_normal((3, 10)).astype(np.float32)
    np.testing.assert_allclose(maxsim(q, as_uint8), maxsim(q, by_ranges), rtol=1e-6)  # the same values
    assert np.array_equal(as_uint8.dequantize().tokens, by_ranges.dequantize().tokens)
    assert MultiVectorBatch.from_base64(as_uint8.to_base64()) == as_uint8
    assert np.array_equal(as_uint8.tokens, quantlib.convert_codes(by_ranges.tokens, "int8", "uint8"))
    bits = by_ranges.quantize("ubinary")
    assert np.array_equal(bits.tokens, quantlib.convert_codes(by_ranges.tokens, by_ranges.codec, "ubinary"))
    assert bits.quantize("binary") == floats.quantize("ubinary").quantize("binary")
    assert bits.quantize("float16").precision == "float16"
    with pytest.raises(ConfigError, match="precision: int8 codes convert to uint8 without new ranges"):
        by_ranges.quantize("uint8", ranges=ranges)
    with pytest.raises(ConfigError, match="ranges/calibration_embeddings/rounding: only int8, uint8, rotated4, "
                                          "rotated2 and rotated1 targets"):
        floats.quantize("binary", ranges=ranges)
    with pytest.raises(ConfigError, match="ranges, calibration_embeddings: pass one or the other"):
        floats.quantize("int8", ranges=ranges, calibration_embeddings=calib)


def test_truncate_per_token():
    rng = np.random.default_rng(7)
    floats = MultiVectorBatch.from_arrays([rng.standard_normal((n, 128)).astype(np.float32) for n in (3, 9)])
    cut = floats.truncate(96)
    assert cut.dim == 96 and np.array_equal(cut.offsets, floats.offsets)
    assert np.array_equal(cut.tokens, quantlib.truncate(floats.tokens, 96))
    assert np.allclose(np.linalg.norm(cut.tokens, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(floats.truncate(64, renormalize=False).tokens, floats.tokens[:, :64])
    for precision in BITS:
        bits = floats.quantize(precision)
        assert bits.truncate(61) == floats.truncate(61).quantize(precision)  # byte prefix + mask
    codes = quiet_quantize(floats, "int8")
    short = codes.truncate(64)
    assert short.codec == quantlib.truncate_codec(codes.codec, 64)
    assert np.array_equal(short.tokens, codes.tokens[:, :64])
    with pytest.raises(ShapeError, match=r"dim: expected 1 <= dim <= 128"):
        floats.truncate(129)
    with pytest.raises(ConfigError, match="renormalize: int8 codes cannot be renormalised"):
        codes.truncate(64, renormalize=True)


def test_empty_batches():
    empty = MultiVectorBatch(np.empty((0, 4), np.float32), [0])
    assert len(empty) == 0 and empty.to_lists() == [] and empty.lengths.tolist() == []
    assert maxsim(np.ones((2, 4), np.float32), empty).shape == (0,)
    assert MultiVectorBatch.from_arrays([], dim=4) == empty == MultiVectorBatch.from_lists([], dim=4)
    assert MultiVectorBatch.from_base64(empty.to_base64()) == empty
    assert empty.quantize("ubinary").width == 1 and empty.truncate(2).dim == 2
    with pytest.raises(ShapeError, match="documents: expected at least one document, got an empty batch"):
        maxsim_search(np.ones((2, 4), np.float32), empty, 1)
    with pytest.raises(ShapeError, match="arrays: an empty batch needs dim= to know the token width"):
        MultiVectorBatch.from_arrays([])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ([1, 3, 5], r"offsets: expected offsets\[0\] == 0, got 1"),
        ([0, 3, 2, 5], r"offsets: expected increasing offsets, got offsets\[1\] = 3 > offsets\[2\] = 2"),
        ([0, 3, 3, 5], r"offsets: document 1 has no tokens \(offsets\[1\] == offsets\[2\] == 3\)"),
        ([0, 3, 4], r"offsets: expected the last offset to equal the number of token rows \(5\), got 4"),
        ([0, 3, 6], r"offsets: expected the last offset to equal the number of token rows \(5\), got 6"),
        ([], r"offsets: expected a 1-D array of n_documents \+ 1 integers, got shape \(0,\)"),
        ([[0, 5]], r"offsets: expected a 1-D array of n_documents \+ 1 integers, got shape \(1, 2\)"),
    ],
)
def test_bad_offsets(offsets, message):
    with pytest.raises(ShapeError, match=message):
        MultiVectorBatch(np.zeros((5, 3), np.float32), offsets)


def test_bad_offsets_dtype():
    with pytest.raises(DTypeError, match="offsets: expected integers, got dtype float64"):
        MultiVectorBatch(np.zeros((5, 3), np.float32), [0.0, 5.0])
    with pytest.raises(DTypeError, match="offsets: expected integers, got dtype bool"):
        MultiVectorBatch(np.zeros((1, 3), np.float32), [False, True])


def test_zero_token_documents_and_queries():
    with pytest.raises(ShapeError, match=r"arrays\[1\]: a document needs at least one token vector, got 0"):
        MultiVectorBatch.from_arrays([np.ones((2, 3)), np.ones((0, 3))])
    with pytest.raises(ShapeError, match=r"documents\[0\]: a document needs at least one token vector"):
        MultiVectorBatch.from_lists([[], [[1.0]]])
    docs = MultiVectorBatch.from_lists([[[1.0, 2.0]]])
    with pytest.raises(ShapeError, match="query: a query needs at least one token vector, got 0"):
        maxsim(np.ones((0, 2), np.float32), docs)
    with pytest.raises(ShapeError, match="query: expected one query"):
        maxsim(MultiVectorBatch.from_lists([[[1.0, 2.0]], [[1.0, 2.0]]]), docs)
    bits_query = MultiVectorBatch.from_lists([[[1.0, 2.0]]]).quantize("ubinary")
    assert maxsim(bits_query, docs.quantize("ubinary")).tolist() == [2.0]
    assert maxsim(MultiVectorBatch.from_lists([[[1.0, 0.0]]]), docs).tolist() == [1.0]


def test_empty_response_multivector_is_refused():
    response = quantlib.decode_response({"data": [{"index": 0, "embeddings": []},
                                                  {"index": 1, "embeddings": [[1.0, 2.0]]}]})
    with pytest.raises(ShapeError, match=r"response.multivectors\[0\]: a document needs at least one token"):
        MultiVectorBatch.from_response(response)
    single = quantlib.decode_response({"data": [{"index": 0, "embedding": [1.0, 2.0]}]})
    with pytest.raises(PayloadError, match="response: expected a decoded response with multi-vectors"):
        MultiVectorBatch.from_response(single)
    with pytest.raises(PayloadError, match="response: expected a decoded response with multi-vectors"):
        MultiVectorBatch.from_response({"data": []})


def test_dimension_mismatches():
    with pytest.raises(ShapeError, match=r"arrays\[1\]: token vectors must all have the same width; "
                                         r"arrays\[0\] has 3, arrays\[1\] has 4"):
        MultiVectorBatch.from_arrays([np.ones((2, 3)), np.ones((1, 4))])
    with pytest.raises(ShapeError, match="documents: rows of different lengths cannot form a matrix"):
        MultiVectorBatch.from_lists([[[1.0, 2.0]], [[1.0]]])
    with pytest.raises(DTypeError, match=r"arrays\[1\]: documents must all have the same dtype"):
        MultiVectorBatch.from_arrays([np.ones((2, 3), np.float32), np.ones((1, 3))])
    with pytest.raises(ShapeError, match=r"arrays\[0\]: expected a \(tokens, d\) matrix, got shape \(3,\); "
                                         r"use x\[None, :\]"):
        MultiVectorBatch.from_arrays([np.ones(3)])
    with pytest.raises(ShapeError, match=r"documents\[0\]: expected a list of token vectors \(a list of"):
        MultiVectorBatch.from_lists([[1.0, 2.0]])
    docs = MultiVectorBatch.from_lists([[[1.0, 2.0, 3.0]]])
    with pytest.raises(ShapeError, match=r"query: expected token vectors of dimension 3 \(the documents'\), "
                                         r"got 2"):
        maxsim(np.ones((1, 2), np.float32), docs)
    with pytest.raises(ShapeError, match=r"query: expected a \(tokens, d\) matrix of token vectors, got "
                                         r"shape \(3,\); use q\[None, :\]"):
        maxsim(np.ones(3, np.float32), docs)
    bits = docs.quantize("ubinary")
    with pytest.raises(ShapeError, match="query: ubinary tokens of dimension 3 have 1 bytes, got 2"):
        maxsim(np.zeros((1, 2), np.uint8), bits)
    with pytest.raises(ShapeError, match="query: bits past dimension 3 are set"):
        maxsim(np.full((1, 1), 0xFF, np.uint8), bits)
    with pytest.raises(ShapeError, match="dim: tokens have 3 components per token, got dim=4"):
        MultiVectorBatch(np.ones((1, 3), np.float32), [0, 1], dim=4)
    with pytest.raises(ShapeError, match="tokens: packed bits of dimension 20 take 3 bytes per row, got 2"):
        MultiVectorBatch(np.zeros((1, 2), np.uint8), [0, 1], precision="ubinary", dim=20)
    with pytest.raises(ShapeError, match="tokens: the codec's ranges are for dimension 2, got dimension 3"):
        MultiVectorBatch(np.zeros((1, 3), np.int8), [0, 1], codec=ScalarCodec("int8", [[0, 0], [1, 1]]))
    with pytest.raises(ShapeError, match=r"rescore: expected the same documents with the same token counts"):
        maxsim_search(np.ones((1, 3), np.float32), bits, 1,
                      rescore=MultiVectorBatch.from_lists([[[1.0] * 3] * 2]))
    with pytest.raises(ShapeError, match=r"rescore: expected dimension 3 \(the documents'\), got 2"):
        maxsim_search(np.ones((1, 3), np.float32), bits, 1,
                      rescore=MultiVectorBatch(np.ones((1, 2), np.float32), [0, 1]))


def test_precision_mismatches():
    floats = MultiVectorBatch.from_lists([[[1.0, -2.0, 3.0]]])
    codes = floats.quantize("int8", ranges=[[-3] * 3, [3] * 3])
    with pytest.raises(DTypeError, match="query: integer codes cannot be scored against float32 documents"):
        maxsim(np.ones((1, 3), np.int8), floats)
    with pytest.raises(DTypeError, match=r"query: int8 codes must have dtype int8, got dtype uint8"):
        maxsim(np.ones((1, 3), np.uint8), codes)
    with pytest.raises(DTypeError, match="query: ubinary query tokens cannot be scored against int8 "):
        maxsim(floats.quantize("ubinary"), codes)
    with pytest.raises(ConfigError, match="precision: the documents are a int8 batch, got precision='uint8'"):
        maxsim(np.ones((1, 3), np.float32), codes, precision="uint8")
    with pytest.raises(UnknownPrecisionError, match="precision: expected one of"):
        maxsim(np.ones((1, 3), np.float32), [np.ones((1, 3), np.float32)], precision="int4")
    with pytest.raises(DTypeError, match="tokens: int8 arrays hold either int8 codes or packed bits; "
                                         "pass precision='int8' or precision='binary'"):
        MultiVectorBatch(np.zeros((1, 3), np.int8), [0, 1])
    with pytest.raises(DTypeError, match="tokens: uint8 arrays hold either uint8 codes or packed bits"):
        MultiVectorBatch.from_arrays([np.zeros((1, 3), np.uint8)])
    with pytest.raises(DTypeError, match="tokens: float32 tokens must be floats"):
        MultiVectorBatch(np.zeros((1, 3), np.int64), [0, 1], precision="float32")
    with pytest.raises(DTypeError, match="tokens: binary codes must have dtype int8, got dtype uint8"):
        MultiVectorBatch(np.zeros((1, 3), np.uint8), [0, 1], precision="binary")
    with pytest.raises(ConfigError, match="codec: the codec is for uint8, but the tokens are int8"):
        MultiVectorBatch(np.zeros((1, 2), np.int8), [0, 1], precision="int8",
                         codec=ScalarCodec("uint8", [[0, 0], [1, 1]]))
    with pytest.raises(DTypeError, match="documents: expected a MultiVectorBatch or a list of"):
        maxsim(np.ones((1, 3), np.float32), np.ones((2, 3), np.float32))
    with pytest.raises(DTypeError, match="arrays: expected a list of .* got array"):
        MultiVectorBatch.from_arrays(np.ones((2, 2, 3)))
    with pytest.raises(OutOfRangeError, match="documents: int8 codes lie in -128..127, got 300"):
        MultiVectorBatch.from_lists([[[1, 300]]], precision="int8")


def test_non_finite_tokens():
    docs = [np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)]
    docs[1][2, 1] = np.nan
    with pytest.raises(NonFiniteError, match="tokens: expected finite values, got nan in document 1, "
                                             "token 2, component 1"):
        MultiVectorBatch.from_arrays(docs)
    with pytest.raises(NonFiniteError, match="tokens: expected finite values, got inf in document 0, "
                                             "token 0, component 1"):
        MultiVectorBatch.from_lists([[[1.0, float("inf")]]])
    with pytest.raises(OutOfRangeError, match="tokens: value 1e[+]300 in document 0, token 0, component 0 is "
                                              "beyond float32's largest finite value"):
        MultiVectorBatch(np.array([[1e300]]), [0, 1])
    with pytest.raises(OutOfRangeError, match="tokens: value 70000.0 in document 1, token 0, component 1 is "
                                              "beyond float16's largest finite value 65504"):
        MultiVectorBatch(np.array([[1.0, 2.0], [3.0, 7e4]]), [0, 1, 2], precision="float16")
    good = MultiVectorBatch.from_lists([[[1.0, 2.0]]])
    with pytest.raises(NonFiniteError, match="query: expected finite values, got nan in token row 0, "
                                             "component 1"):
        maxsim(np.array([[1.0, np.nan]], np.float32), good)
    with pytest.raises(OutOfRangeError, match="query: value 1e[+]300 in token row 0, component 1 is "
                                              "beyond float32"):
        maxsim(np.array([[1.0, 1e300]]), good)


@pytest.mark.parametrize("precision", ["float32", "ubinary"])
@pytest.mark.parametrize("signs", ["same", "mixed"])  # mixed: inf - inf inside a dot, NaN
def test_scores_beyond_float32_raise_instead_of_ranking_as_inf(precision, signs):
    d = 64
    big = np.full((2, d), 1e37, np.float32)
    if signs == "mixed":
        big[:, ::2] *= -1
    docs = [np.ones((2, d), np.float32), np.ones((3, d), np.float32), np.ones((2, d), np.float32)]
    docs[1][:] = 1e37 if precision == "float32" else np.sign(big[0])  # mixed float32: +inf + -inf
    batch = MultiVectorBatch.from_arrays(docs)
    if precision != "float32":
        batch = batch.quantize(precision)
    query = big if precision == "float32" else np.full((2, d), 1e37, np.float32)
    if precision != "float32" and signs == "mixed":  # +1e37 against the -1 bits: a sum of -inf
        query = -query
    overflow = pytest.raises(OutOfRangeError, match="a MaxSim score overflows float32")
    with overflow:
        maxsim(query, batch)
    for k in (1, 3):  # the overflowing document is the middle one: it must not pass unseen
        with overflow:
            maxsim_search(query, batch, k=k)
    assert np.all(np.isfinite(maxsim(query * np.float32(1e-38), batch)))  # the same within range


def test_bad_search_arguments():
    floats = MultiVectorBatch.from_lists([[[1.0, 0.0]], [[0.0, 1.0]]])
    q = np.ones((1, 2), np.float32)
    with pytest.raises(ShapeError, match=r"k: expected at most the number of documents \(2\), got 3"):
        maxsim_search(q, floats, 3)
    with pytest.raises(ShapeError, match="k: expected a positive integer, got 0"):
        maxsim_search(q, floats, 0)
    with pytest.raises(DTypeError, match="k: expected a positive integer, got float 1.5"):
        maxsim_search(q, floats, 1.5)
    with pytest.raises(ShapeError, match="oversample: expected a positive integer, got 0"):
        maxsim_search(q, floats, 1, oversample=0)
    bits = floats.quantize("binary")
    with pytest.raises(DTypeError, match="query: rescoring needs the float query"):
        maxsim_search(quantize(q, "binary"), bits, 1, rescore=floats)
    with pytest.raises(DTypeError, match="rescore: expected float tokens or int8/uint8 codes with a "
                                         "codec, got packed bits"):
        maxsim_search(q, bits, 1, rescore=floats.quantize("ubinary"))
    with pytest.raises(DTypeError, match="rescore: expected a MultiVectorBatch of the same documents"):
        maxsim_search(q, bits, 1, rescore=floats.tokens)
    with pytest.raises(ConfigError, match="quantize_query: the documents are float32; there is no quantized"):
        maxsim_search(q, floats, 1, quantize_query=True)
    with pytest.raises(ConfigError, match="quantize_query: the query is already codes"):
        maxsim_search(quantize(q, "binary"), bits, 1, quantize_query=True)
    no_codec = MultiVectorBatch(np.zeros((2, 2), np.int8), [0, 1, 2], precision="int8")
    with pytest.raises(ConfigError, match="quantize_query: the int8 documents have no codec"):
        maxsim_search(q, no_codec, 1, quantize_query=True)
    with pytest.raises(DTypeError, match="normalize: expected True or False, got str"):
        maxsim(q, floats, normalize="yes")
    with pytest.raises(DTypeError, match="normalize: expected True or False, got int"):
        maxsim_search(q, floats, 1, normalize=1)


def test_rescoring_codes_need_their_codec():
    floats = MultiVectorBatch.from_lists([[[1.0, 0.0]], [[0.0, 1.0]], [[0.5, 0.5]]])
    q = np.array([[1.0, 0.0]], np.float32)
    bits = floats.quantize("ubinary")
    raw = MultiVectorBatch(np.array([[100, 0], [0, 127], [60, 60]], np.int8), floats.offsets, precision="int8")
    # raw code dots would rank [0, 2] with scores 100 and 60, not the documents' similarities
    for precision in SCALARS:
        no_codec = MultiVectorBatch(raw.tokens.astype(precision), floats.offsets, precision=precision)
        with pytest.raises(ConfigError, match=f"rescore: the {precision} codes have no codec, so they cannot "
                                              "stand for the documents' vectors; build the batch with codec="):
            maxsim_search(q, bits, 2, rescore=no_codec)
    calibrated = quiet_quantize(floats, "int8")
    scores, ids = maxsim_search(q, bits, 2, rescore=calibrated, oversample=2)
    assert ids.tolist() == [[0, 2]] and np.array_equal(scores[0], maxsim(q, calibrated)[ids[0]])


def test_bad_conversions_and_payloads():
    no_codec = MultiVectorBatch(np.zeros((1, 2), np.int8), [0, 1], precision="int8")
    with pytest.raises(ConfigError, match="codec: this int8 batch has no codec, so its codes cannot be "):
        no_codec.dequantize()
    checked = MultiVectorBatch.from_lists([[[1.0, 2.0]]]).to_base64()
    with pytest.raises(PayloadError, match="payload: the checksum says crc32:[0-9a-f]{8}, the content gives"):
        MultiVectorBatch.from_base64({**checked, "dim": 1})
    with pytest.raises(PayloadError, match=r"payload\['version'\]: expected one of 1, 2 .*got 3"):
        MultiVectorBatch.from_base64({**checked, "version": 3})
    # a version 1 dict (no version, no checksum) reaches the checks behind the checksum
    good = {k: v for k, v in checked.items() if k not in ("version", "checksum")}
    assert MultiVectorBatch.from_base64(good) == MultiVectorBatch.from_base64(checked)
    with pytest.raises(PayloadError, match="payload: missing key\\(s\\) 'tokens'"):
        MultiVectorBatch.from_base64({k: v for k, v in good.items() if k != "tokens"})
    with pytest.raises(Base64DecodeError, match=r"payload\['offsets'\]: invalid base64"):
        MultiVectorBatch.from_base64({**good, "offsets": "not base64!"})
    with pytest.raises(Base64DecodeError, match=r"payload\['offsets'\]: 4 decoded bytes are not a whole"):
        MultiVectorBatch.from_base64({**good, "offsets": "AAAAAA=="})
    two_docs = MultiVectorBatch.from_lists([[[1.0, 2.0]], [[3.0, 4.0]]]).to_base64()["offsets"]
    with pytest.raises(ShapeError, match=r"offsets: expected the last offset to equal the number of token"):
        MultiVectorBatch.from_base64({**good, "offsets": two_docs})
    with pytest.raises(Base64DecodeError, match="data: 2 decoded float32 items are not a whole number of "
                                                "rows of 3"):
        MultiVectorBatch.from_base64({**good, "dim": 3})
    with pytest.raises(DTypeError, match="payload: expected a dict"):
        MultiVectorBatch.from_base64("AAAA")
    with pytest.raises(IndexError, match="index: document 1 is out of range for a batch of 1 documents"):
        MultiVectorBatch.from_lists([[[1.0]]])[1]
    with pytest.raises(ShapeError, match="indices: document 5 is out of range for a batch of 1 documents"):
        MultiVectorBatch.from_lists([[[1.0]]]).take([0, 5])


# --------------------------------------------------------------------------- MUVERA


@given(data=ragged(max_docs=4, max_tokens=40, kinds=("normal", "unit")), k_sim=st.integers(1, 5),
       d_proj=st.integers(1, 8), repetitions=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_muvera_equals_reference(data, k_sim, d_proj, repetitions, seed):
    q, docs = data
    enc = MuveraEncoder(q.shape[1], k_sim=k_sim, d_proj=d_proj, repetitions=repetitions, seed=seed)
    # A token within rounding of a hyperplane may fall on either side in float32 and float64.
    every = np.concatenate([q, *docs]).astype(np.float64)
    sides = np.einsum("td,rdk->trk", every, enc.hyperplanes.astype(np.float64))
    scale = np.linalg.norm(every, axis=1)[:, None, None] * np.linalg.norm(enc.hyperplanes, axis=1)[None]
    assume(np.all(np.abs(sides) > 1e-4 * scale))
    got_docs = enc.encode_documents(MultiVectorBatch.from_arrays(docs))
    got_query = enc.encode_queries([q])
    assert got_docs.shape == (len(docs), enc.output_dim) and got_docs.dtype == np.float32
    for got, doc in zip(got_docs, docs, strict=True):
        want = R.muvera_encode(doc, enc.hyperplanes, enc.projections, document=True)
        assert np.allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(doc).sum(axis=1).max())
    want = R.muvera_encode(q, enc.hyperplanes, enc.projections, document=False)
    assert np.allclose(got_query[0], want, rtol=1e-5, atol=1e-5 * np.abs(q).sum())


def test_muvera_blocks_of_documents(monkeypatch):
    rng = np.random.default_rng(10)
    docs = MultiVectorBatch.from_arrays([rng.standard_normal((int(n), 9)).astype(np.float32)
                                         for n in rng.integers(1, 12, 40)])
    enc = MuveraEncoder(9, k_sim=3, d_proj=5, repetitions=4)
    whole = enc.encode_documents(docs)
    monkeypatch.setattr(muvera, "_MUVERA_BLOCK_TOKENS", 7)  # many blocks, and documents longer than one
    assert np.array_equal(enc.encode_documents(docs), whole)
    # a document's encoding never depends on its batch (BLAS rounds a row by its place in a block)
    for i in (0, 17, 39):
        assert np.array_equal(enc.encode_documents([docs[i]])[0], whole[i])
    empty = MultiVectorBatch(np.empty((0, 9), np.float32), [0])
    assert enc.encode_documents(empty).shape == (0, enc.output_dim)


def test_muvera_defaults_config_and_fill():
    enc = MuveraEncoder(128)
    assert enc.output_dim == 2560 and (enc.k_sim, enc.d_proj, enc.repetitions) == (4, 16, 10)
    again = MuveraEncoder(**enc.get_config())
    assert repr(again) == "MuveraEncoder(dim=128, k_sim=4, d_proj=16, repetitions=10, seed=0)"
    x = np.random.default_rng(8).standard_normal((1, 128)).astype(np.float32)
    one = enc.encode_documents([x])
    assert np.array_equal(one, again.encode_documents([x]))
    assert not np.array_equal(one, MuveraEncoder(128, seed=1).encode_documents([x]))
    # One token fills every bucket of a document with its projection, and one bucket of a query.
    blocks = one.reshape(10, 16, 16)
    projected = np.einsum("d,rdp->rp", x[0], enc.projections)
    assert np.allclose(blocks, projected[:, None, :], rtol=1e-6, atol=1e-6)
    query_blocks = enc.encode_queries([x]).reshape(10, 16, 16)
    assert ((np.abs(query_blocks).sum(axis=2) > 0).sum(axis=1) == 1).all()
    # Codes are encoded as the values they stand for.
    codes = quiet_quantize(MultiVectorBatch.from_arrays([x, x[:, ::-1].copy()]), "int8")
    assert np.array_equal(enc.encode_documents(codes), enc.encode_documents(codes.dequantize()))


def test_muvera_shortlist_finds_the_maxsim_best():
    rng = np.random.default_rng(9)
    concepts = rng.standard_normal((200, 64)).astype(np.float32)
    ids = [rng.integers(0, 200, int(n)) for n in rng.integers(20, 60, 300)]
    docs = MultiVectorBatch.from_arrays(
        [c + 0.3 * rng.standard_normal(c.shape).astype(np.float32) for c in (concepts[i] for i in ids)])
    enc = MuveraEncoder(64)
    fde_docs = enc.encode_documents(docs)
    hits = 0
    for target in range(20):
        q = concepts[rng.choice(ids[target], 16)] + 0.3 * rng.standard_normal((16, 64)).astype(np.float32)
        best = int(np.argmax(maxsim(q, docs)))
        shortlist = np.argsort(-(fde_docs @ enc.encode_queries([q])[0]), kind="stable")[:10]
        hits += best in shortlist
    assert hits >= 18


def test_muvera_bad_input():
    with pytest.raises(ShapeError, match="k_sim: expected 1 to 16 hyperplanes"):
        MuveraEncoder(8, k_sim=17)
    with pytest.raises(ShapeError, match="d_proj: expected a positive integer, got 0"):
        MuveraEncoder(8, d_proj=0)
    with pytest.raises(DTypeError, match="repetitions: expected a positive integer, got float 2.0"):
        MuveraEncoder(8, repetitions=2.0)
    with pytest.raises(DTypeError, match="seed: expected a non-negative integer, got int -1"):
        MuveraEncoder(8, seed=-1)
    enc = MuveraEncoder(8)
    with pytest.raises(ShapeError, match="documents: the encoder is for dimension 8, got token vectors of "
                                         "dimension 4"):
        enc.encode_documents([np.ones((2, 4), np.float32)])
    with pytest.raises(ShapeError, match=r"queries\[0\]: a document needs at least one token vector"):
        enc.encode_queries([np.ones((0, 8), np.float32)])
    with pytest.raises(DTypeError, match="queries: expected a MultiVectorBatch or a list of"):
        enc.encode_queries(np.ones((2, 8), np.float32))
    with pytest.raises(ConfigError, match="documents: int8 tokens without a codec cannot be encoded"):
        enc.encode_documents(MultiVectorBatch(np.zeros((1, 8), np.int8), [0, 1], precision="int8"))


def test_the_multivector_modules_and_the_numpy_twins_stay_under_700_lines():
    # issue 23: no module over about 700 lines (multivector.py had 922, _reference.py 784)
    root = Path(quantlib.__file__).parent
    names = ["multivector.py", "_multivector_input.py", "_multivector_formats.py", "_maxsim.py",
             "_reference/__init__.py", "_reference/formats.py", "_reference/scores.py"]
    sizes = {name: len((root / name).read_text().splitlines()) for name in names}
    assert max(sizes.values()) <= 700, sizes


def test_the_split_keeps_every_name_where_it_was():
    # the public names, the format version and every numpy twin stay importable from the old places
    import quantlib.multivector as mv

    assert mv.FORMAT_VERSION == 2 and mv.MultiVectorBatch.__module__ == "quantlib.multivector"
    assert {"MultiVectorBatch", "MuveraEncoder", "maxsim", "maxsim_search"} <= set(dir(mv))
    assert all(callable(getattr(R, name)) or name in ("CODE_RANGE", "WIRE_DTYPES") for name in R.__all__)
    assert {"pairwise_scores", "maxsim", "scalar_encode", "WIRE_DTYPES", "sparse_dense"} <= set(R.__all__)

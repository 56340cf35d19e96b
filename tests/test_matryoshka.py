"""Matryoshka truncation: every format, both orders of truncate and quantize, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import float_matrices, in_range_matrices, ranges_for, read_only

import quantlib
from quantlib import (
    MATRYOSHKA_DIMS,
    BitCodec,
    ConfigError,
    DTypeError,
    FloatCodec,
    NonFiniteError,
    ScalarCodec,
    ShapeError,
    is_matryoshka_dim,
    quantize,
    truncate,
    truncate_codec,
)
from quantlib import _reference as R

BITS = ("ubinary", "binary")


@st.composite
def matrix_and_dim(draw, **kwargs):
    x = draw(float_matrices(**kwargs))
    return x, draw(st.integers(1, x.shape[1]))


# --------------------------------------------------------------------------- ladder


def test_ladder():
    assert MATRYOSHKA_DIMS == (64, 128, 256, 512, 768, 1024, 1536, 2048)
    assert all(is_matryoshka_dim(d) for d in MATRYOSHKA_DIMS)
    assert not is_matryoshka_dim(96) and not is_matryoshka_dim(100)
    with pytest.raises(ShapeError, match="dim: expected a positive integer, got 0"):
        is_matryoshka_dim(0)


def test_off_ladder_is_allowed_without_warning():
    x = np.random.default_rng(0).standard_normal((3, 128)).astype(np.float32)
    out = truncate(x, 96)  # filterwarnings=error: a warning would fail here
    assert out.shape == (3, 96)


# --------------------------------------------------------------------------- packed bits


@pytest.mark.parametrize("precision", BITS)
@given(data=matrix_and_dim(dtypes=(np.float32, np.float64)))
def test_bits_truncate_then_quantize_equals_quantize_then_truncate(precision, data):
    x, dim = data
    whole = quantize(x, precision)
    got = truncate(whole, dim, precision=precision)
    assert np.array_equal(got, quantize(x[:, :dim], precision))
    assert np.array_equal(got, R.truncate_bits(whole, dim, precision))
    assert got.dtype == whole.dtype and got.flags.c_contiguous


@pytest.mark.parametrize("precision", BITS)
def test_bits_prefix_is_a_byte_copy(precision):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (50, 256), dtype=np.uint8).view(quantlib.precision_info(precision).dtype)
    out = truncate(codes, 256, precision=precision)
    assert np.array_equal(out, codes[:, :32])
    out = truncate(codes, 2048, precision=precision)
    assert np.array_equal(out, codes) and not np.shares_memory(out, codes)


def test_bits_single_vector_and_codec():
    codes = np.array([0b10110111, 0b11000000], dtype=np.uint8)
    assert truncate(codes, 6, precision=BitCodec("ubinary")).tolist() == [0b10110100]
    assert truncate(codes, 9, precision="ubinary").tolist() == [0b10110111, 0b10000000]
    binary = (codes ^ 0x80).view(np.int8)
    assert truncate(binary, 6, precision="binary").tolist() == [0b10110100 - 128]


def test_bits_read_only_input_is_not_modified():
    codes = read_only(np.full((4, 3), 0xFF, np.uint8))
    out = truncate(codes, 13, precision="ubinary")
    assert out.tolist() == [[0xFF, 0b11111000]] * 4
    assert codes.tolist() == [[0xFF] * 3] * 4


# --------------------------------------------------------------------------- int8 / uint8


@pytest.mark.parametrize("precision", ["int8", "uint8"])
@pytest.mark.parametrize("rounding", ["nearest", "floor", "truncate"])
@given(data=st.data())
def test_scalar_truncate_then_quantize_equals_quantize_then_truncate(precision, rounding, data):
    d = data.draw(st.integers(1, 70))
    ranges = data.draw(ranges_for(d))
    x = data.draw(in_range_matrices(ranges))
    dim = data.draw(st.integers(1, d))
    codec = ScalarCodec(precision, ranges, rounding=rounding)
    small = truncate_codec(codec, dim)
    assert np.array_equal(small.ranges, ranges[:, :dim]) and small.rounding == rounding
    got = truncate(codec.encode(x), dim, precision=codec)
    assert np.array_equal(got, small.encode(x[:, :dim]))
    assert np.array_equal(got, truncate(codec.encode(x), dim, precision=precision, ranges=ranges))
    assert np.array_equal(small.decode(got), codec.decode(codec.encode(x))[:, :dim])


def test_truncate_codec_for_dimension_free_codecs():
    for codec in (FloatCodec("float16"), BitCodec("binary")):
        assert truncate_codec(codec, 8) is codec
    with pytest.raises(ShapeError, match=r"dim: expected 1 <= dim <= 2 \(the current dimension\), got 3"):
        truncate_codec(ScalarCodec("int8", [[0.0, 0.0], [1.0, 1.0]]), 3)
    with pytest.raises(DTypeError, match="codec: expected a quantlib codec, got str"):
        truncate_codec("int8", 3)


# --------------------------------------------------------------------------- floats


@given(data=matrix_and_dim(dtypes=(np.float16, np.float32, np.float64)))
def test_float_renormalised_rows_have_norm_one(data):
    x, dim = data
    out = truncate(x, dim)
    assert out.dtype == x.dtype and out.shape == (x.shape[0], dim)
    want = R.truncate_float(x, dim)
    head = x[:, :dim].astype(np.float64)
    nonzero = np.abs(head).max(axis=1, initial=0) > 0
    norms = np.linalg.norm(out.astype(np.float64), axis=1)
    tol = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-12}[x.dtype.type]
    np.testing.assert_allclose(norms[nonzero], 1.0, rtol=tol * np.sqrt(dim))
    assert not out[~nonzero].any()  # zero prefixes stay zero ("keep")
    np.testing.assert_allclose(out.astype(np.float64), want.astype(np.float64), rtol=4 * tol, atol=tol)


@given(data=matrix_and_dim(dtypes=(np.float32, np.float16)))
def test_float_renormalize_false_is_a_slice(data):
    x, dim = data
    out = truncate(x, dim, renormalize=False, precision="float16" if x.dtype == np.float16 else "float32")
    assert np.array_equal(out, x[:, :dim]) and out.dtype == x.dtype
    assert not np.shares_memory(out, x)


def test_float_examples_exact():
    x = np.array([[3.0, 4.0, 12.0], [0.0, 0.0, 5.0]], dtype=np.float32)
    assert truncate(x, 2).tolist() == [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    assert truncate(x[0], 3).tolist() == pytest.approx([3 / 13, 4 / 13, 12 / 13], rel=1e-7)
    assert truncate(x, 2, precision=FloatCodec()).shape == (2, 2)


def test_float_extreme_magnitudes_do_not_overflow():
    big = np.array([[3e38, 3e38, -3e38, 0.0]], dtype=np.float32)
    tiny = np.array([[1e-45, 1e-45, 0.0, 5.0]], dtype=np.float32)
    np.testing.assert_allclose(truncate(big, 3), [[3**-0.5] * 2 + [-(3**-0.5)]], rtol=1e-6)
    np.testing.assert_allclose(truncate(tiny, 2), [[2**-0.5] * 2], rtol=1e-6)
    huge64 = np.array([1e300, 1e300])
    np.testing.assert_allclose(truncate(huge64, 2), [2**-0.5] * 2, rtol=1e-15)
    assert truncate(np.array([np.finfo(np.float64).max]), 1).tolist() == [1.0]
    sub = np.array([5e-324, 5e-324, 1.0])  # the smallest subnormals: the norm itself would round
    np.testing.assert_allclose(truncate(sub, 2), [2**-0.5] * 2, rtol=1e-15)


def test_zero_policy():
    x = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    assert truncate(x, 2, zero_policy="keep").tolist() == [[0.0, 0.0], [1.0, 0.0]]
    with pytest.raises(NonFiniteError,
                       match=r"row 0 of the first 2 components are all zero.*zero_policy='keep'"):
        truncate(x, 2, zero_policy="raise")
    with pytest.raises(NonFiniteError, match="embeddings: the first 1 components are all zero"):
        truncate(x[0], 1, zero_policy="raise")
    assert truncate(x, 2, renormalize=False, zero_policy="raise").tolist() == [[0.0, 0.0], [1.0, 0.0]]
    with pytest.raises(ConfigError, match="zero_policy: expected 'keep' or 'raise', got 'nan'"):
        truncate(x, 2, zero_policy="nan")


def test_multivector_truncates_per_token():
    rng = np.random.default_rng(2)
    tokens = rng.standard_normal((30, 128)).astype(np.float32)  # one ColBERT document
    got = truncate(tokens, 96)
    for t in range(tokens.shape[0]):
        np.testing.assert_array_equal(got[t], truncate(tokens[t], 96))
    packed = quantize(tokens, "ubinary")
    assert np.array_equal(truncate(packed, 64, precision="ubinary"), quantize(tokens[:, :64], "ubinary"))


@pytest.mark.parametrize("renormalize", [True, False])
@pytest.mark.parametrize("swapped", [">f2", ">f4", ">f8"])
def test_big_endian_floats_truncate_like_native(swapped, renormalize):
    """'>f2' leaked numba's NotImplementedError; every byte order gives the native result, in its own dtype."""
    native = np.dtype(swapped).newbyteorder("=")
    x = np.array([[0.5, -1.0, 0.25, 3.0], [3.0, 4.0, 12.0, 0.0]], native)
    want = truncate(x, 2, renormalize=renormalize)
    for arr in (x.astype(swapped), x[0].astype(swapped)):
        got = truncate(arr, 2, renormalize=renormalize)
        assert got.dtype == np.dtype(swapped) and got.flags.c_contiguous
        assert np.array_equal(got, want if arr.ndim == 2 else want[0])
    if swapped == ">f2" and renormalize:
        assert truncate(np.array([3.0, 4.0, 12.0], ">f2"), 2).tolist() == [0.60009765625, 0.7998046875]


def test_read_only_floats():
    x = read_only(np.random.default_rng(3).standard_normal((5, 16)).astype(np.float32))
    np.testing.assert_allclose(truncate(x, 8), R.truncate_float(x, 8), rtol=1e-6)


# --------------------------------------------------------------------------- bad input


def test_dim_out_of_range():
    x = np.ones((2, 8), np.float32)
    with pytest.raises(ShapeError, match=r"dim: expected 1 <= dim <= 8 \(the current dimension\), got 9"):
        truncate(x, 9)
    with pytest.raises(ShapeError, match="dim: expected a positive integer, got 0"):
        truncate(x, 0)
    with pytest.raises(DTypeError, match="dim: expected a positive integer, got float 4.0"):
        truncate(x, 4.0)
    with pytest.raises(DTypeError, match="dim: expected a positive integer, got bool True"):
        truncate(x, True)
    with pytest.raises(ShapeError, match=r"got 17; rows hold 2 bytes"):
        truncate(np.zeros((1, 2), np.uint8), 17, precision="ubinary")
    with pytest.raises(ShapeError, match=r"dim: expected 1 <= dim <= 3 .*got 4"):
        truncate(np.zeros((1, 3), np.int8), 4, precision="int8")


def test_renormalize_on_codes_is_an_error():
    for precision, codes in (("int8", np.zeros((1, 4), np.int8)), ("ubinary", np.zeros((1, 1), np.uint8)),
                             ("binary", np.zeros((1, 1), np.int8))):
        with pytest.raises(ConfigError, match=f"renormalize: {precision} codes cannot be renormalised"):
            truncate(codes, 2, precision=precision, renormalize=True)
        assert truncate(codes, 2, precision=precision, renormalize=False).shape[0] == 1
    with pytest.raises(DTypeError, match="renormalize: expected True, False or None, got str"):
        truncate(np.ones(4), 2, renormalize="yes")


def test_ranges_mismatch_and_misuse():
    codes = np.zeros((2, 4), np.int8)
    with pytest.raises(ShapeError,
                       match=r"ranges: expected shape \(2, 4\) to match the codes, got shape \(2, 3\)"):
        truncate(codes, 2, precision="int8", ranges=np.zeros((2, 3)))
    codec = ScalarCodec("int8", np.zeros((2, 5)))
    with pytest.raises(ShapeError, match="embeddings: the codec's ranges are for dimension 5, got dimension 4"):
        truncate(codes, 2, precision=codec)
    with pytest.raises(ConfigError, match="ranges: the codec already holds its ranges"):
        truncate(codes, 2, precision=ScalarCodec("int8", np.zeros((2, 4))), ranges=np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="ranges: only int8 and uint8 codes have calibration ranges, "
                                          "got precision 'float32'"):
        truncate(np.ones(4), 2, ranges=np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="got precision 'ubinary'"):
        truncate(np.zeros((1, 1), np.uint8), 2, precision="ubinary", ranges=np.zeros((2, 8)))


def test_wrong_dtypes():
    with pytest.raises(DTypeError, match="embeddings: expected a floating-point array.*got dtype int8"):
        truncate(np.zeros((1, 4), np.int8), 2)
    with pytest.raises(DTypeError, match="embeddings: binary codes must have dtype int8, got dtype uint8"):
        truncate(np.zeros((1, 4), np.uint8), 2, precision="binary")
    with pytest.raises(quantlib.UnknownPrecisionError, match="precision: expected one of"):
        truncate(np.ones(4), 2, precision="int4")


def test_non_finite_in_kept_prefix():
    x = np.array([[1.0, np.nan, 1.0], [1.0, 1.0, np.inf]], dtype=np.float32)
    with pytest.raises(NonFiniteError, match=r"embeddings: expected finite values in the kept components, "
                                             r"got nan at index \(0, 1\)"):
        truncate(x, 2)
    with pytest.raises(NonFiniteError, match=r"got nan at index \(0, 1\)"):
        truncate(x, 2, renormalize=False)
    with pytest.raises(NonFiniteError, match="got inf at index 2"):
        truncate(x[1], 3)
    # Only the kept components matter: the dropped tail is not read.
    assert truncate(x[1:], 2)[0].tolist() == pytest.approx([2**-0.5, 2**-0.5])

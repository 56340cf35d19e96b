"""quantize / dequantize / convert_codes, sentence-transformers compatibility, golden codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import PRECISIONS, batch_sizes, dims, float_matrices, in_range_matrices, ranges_for

import quantlib
from quantlib import (
    CalibrationError,
    CalibrationWarning,
    OutOfRangeError,
    ScalarCodec,
    convert_codes,
    dequantize,
    quantize,
)
from quantlib import _reference as R

GOLDEN = Path(__file__).parent / "golden"


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def unit_ranges(d: int) -> np.ndarray:
    return np.array([[-1.0] * d, [1.0] * d], dtype=np.float32)


# --------------------------------------------------------------------------- quantize / dequantize


@pytest.mark.parametrize("precision", PRECISIONS)
@given(data=st.data())
def test_quantize_dequantize_equal_twins(precision, data):
    d = data.draw(dims(), label="d")
    scalar = precision in ("int8", "uint8")
    ranges = data.draw(ranges_for(d), label="ranges") if scalar else None
    if scalar:
        x = data.draw(in_range_matrices(ranges), label="x")
    else:
        x = data.draw(float_matrices(dim=d, max_abs=60000.0), label="x")
    codes = quantize(x, precision, ranges=ranges)
    assert same_bits(codes, R.quantize(x, precision, ranges))
    back = dequantize(codes, precision, ranges=ranges, dim=d)
    assert same_bits(back, R.dequantize(codes, precision, ranges, d))
    assert back.shape == x.shape


@pytest.mark.parametrize("precision", PRECISIONS)
def test_rank_is_kept(precision):
    d = 12
    ranges = unit_ranges(d) if precision in ("int8", "uint8") else None
    x = np.linspace(-0.5, 0.5, d, dtype=np.float32)
    one = quantize(x, precision, ranges=ranges)
    many = quantize(x[None, :], precision, ranges=ranges)
    assert one.ndim == 1 and many.ndim == 2 and same_bits(one, many[0])
    assert dequantize(one, precision, ranges=ranges, dim=d).shape == (d,)
    assert dequantize(many, precision, ranges=ranges, dim=d).shape == (1, d)


def test_lists_are_accepted():
    assert same_bits(quantize([[0.5, -0.5, 0.25]], "ubinary"), np.array([[0b10100000]], np.uint8))
    assert quantize([0.5, -0.5], "float16").dtype == np.float16


def test_quantize_takes_a_codec():
    codec = ScalarCodec("uint8", unit_ranges(3), rounding="floor")
    x = np.array([[0.1, -0.2, 0.9]], np.float32)
    assert same_bits(quantize(x, codec), codec.encode(x))
    assert same_bits(dequantize(quantize(x, codec), codec), codec.decode(codec.encode(x)))


@given(data=st.data())
def test_calibration_embeddings_give_their_min_and_max(data):
    d = data.draw(dims(max_small=12), label="d")
    cal = data.draw(
        float_matrices(dim=d, rows=st.integers(100, 120), dtypes=(np.float32,), max_abs=1e3),
        label="calibration",
    )
    x = data.draw(float_matrices(dim=d, dtypes=(np.float32,), max_abs=1e3), label="x")
    ranges = quantlib.calibration_ranges(cal)
    assert same_bits(ranges, np.vstack((cal.min(0), cal.max(0))))
    try:
        want = quantize(x, "int8", ranges=ranges)
    except CalibrationError as exc:  # a dimension of subnormal spread: too narrow for 255 float32 steps
        assert "too narrow for 255 float32 steps" in str(exc)
        with pytest.raises(CalibrationError, match=re.escape(str(exc))):
            quantize(x, "int8", calibration_embeddings=cal)
        return
    assert same_bits(quantize(x, "int8", calibration_embeddings=cal), want)


def test_ranges_default_to_the_embeddings_themselves():
    x = np.random.default_rng(1).standard_normal((150, 16)).astype(np.float32)
    codes = quantize(x, "uint8")
    assert same_bits(codes, R.scalar_encode(x, np.vstack((x.min(0), x.max(0))), "uint8"))
    assert (codes.min(0) == 0).all() and (codes.max(0) == 255).all()


def test_few_calibration_rows_warn_like_sentence_transformers():
    x = np.random.default_rng(2).standard_normal((99, 4)).astype(np.float32)
    with pytest.warns(CalibrationWarning, match=r"embeddings: int8/uint8 ranges computed from 99 row\(s\)"):
        quantize(x, "int8")
    with pytest.warns(CalibrationWarning, match=r"calibration_embeddings: .* from 3 row\(s\).* at least 100"):
        quantize(x, "uint8", calibration_embeddings=x[:3])
    with pytest.warns(CalibrationWarning, match="from 1 row"):
        ScalarCodec.fit(x[:1])
    quantize(x[:1], "int8", calibration_embeddings=np.vstack([x] * 2))  # 198 rows: no warning


@pytest.mark.parametrize("precision", PRECISIONS)
def test_big_endian_float16_quantizes_like_little_endian(precision):
    """quantize() on '>f2' leaked KeyError / numba NotImplementedError: it is widened exactly like '<f2'."""
    rng = np.random.default_rng(11)
    little = rng.uniform(-1, 1, (120, 9)).astype("<f2")
    big = little.astype(">f2")
    ranges = unit_ranges(9) if precision in ("int8", "uint8") else None
    assert same_bits(quantize(big, precision, ranges=ranges), quantize(little, precision, ranges=ranges))
    assert same_bits(quantize(big[0], precision, ranges=ranges), quantize(little[0], precision, ranges=ranges))
    if precision in ("int8", "uint8"):  # ranges computed from '>f2' embeddings, themselves or others
        assert same_bits(quantize(big, precision), quantize(little, precision))
        assert same_bits(quantize(little, precision, calibration_embeddings=big),
                         quantize(little, precision, calibration_embeddings=little))
        assert same_bits(ScalarCodec.fit(big, precision).ranges, ScalarCodec.fit(little, precision).ranges)
        assert same_bits(quantlib.calibration_ranges(big), quantlib.calibration_ranges(little))


def test_constant_dimension_does_not_divide_by_zero():
    ranges = np.array([[0.0, 0.5], [1.0, 0.5]], np.float32)
    x = np.array([[0.2, 0.5], [0.7, 0.4], [0.9, 0.8], [0.1, 0.5 + 300]], np.float32)
    for precision in ("int8", "uint8"):
        for rounding in ("nearest", "floor"):
            codes = quantize(x, precision, ranges=ranges, rounding=rounding)
            assert same_bits(codes, R.scalar_encode(x, ranges, precision, rounding))
            back = dequantize(codes, precision, ranges=ranges)
            assert (back[:, 1] == 0.5).all()


# ----------------------------------------------------------------------- sentence-transformers compatibility


def st_lt_5_7(embeddings, ranges, precision):
    """sentence-transformers < 5.7 quantize_embeddings, verbatim (in range it is defined)."""
    starts = ranges[0, :]
    steps = (ranges[1, :] - ranges[0, :]) / 255
    if precision == "uint8":
        return ((embeddings - starts) / steps).astype(np.uint8)
    elif precision == "int8":
        return ((embeddings - starts) / steps - 128).astype(np.int8)


def st_ge_5_7(embeddings, ranges, precision):
    """sentence-transformers >= 5.7 quantize_embeddings (PR #3847), verbatim."""
    starts = ranges[0, :]
    steps = (ranges[1, :] - ranges[0, :]) / 255
    steps = np.where(steps == 0, 1, steps)
    q_vals = np.clip(np.floor((embeddings - starts) / steps), 0, 255)
    if precision == "uint8":
        return q_vals.astype(np.uint8)
    elif precision == "int8":
        return (q_vals - 128).astype(np.int8)


@pytest.mark.parametrize("precision", ["int8", "uint8"])
@given(data=st.data())
def test_truncate_and_floor_equal_sentence_transformers(precision, data):
    """Random float32 data inside float32 ranges of nonzero width (where < 5.7 is defined)."""
    d = data.draw(dims(), label="d")
    ranges = data.draw(ranges_for(d, constant=False), label="ranges")
    x = data.draw(in_range_matrices(ranges, dtypes=(np.float32,)), label="x")
    assert same_bits(
        quantize(x, precision, ranges=ranges, rounding="truncate"), st_lt_5_7(x, ranges, precision)
    )
    assert same_bits(quantize(x, precision, ranges=ranges, rounding="floor"), st_ge_5_7(x, ranges, precision))


@pytest.mark.parametrize("precision", ["int8", "uint8"])
@given(x=float_matrices(dtypes=(np.float32,), dim=16, max_abs=10.0, rows=batch_sizes(6)))
def test_floor_equals_sentence_transformers_outside_the_range(precision, x):
    ranges = np.array([[-1.0] * 8 + [0.0] * 8, [1.0] * 8 + [0.0] * 8], np.float32)  # half constant
    assert same_bits(quantize(x, precision, ranges=ranges, rounding="floor"), st_ge_5_7(x, ranges, precision))


@pytest.mark.parametrize("k", [1, 2, 63, 64, 100, 127, 128, 200, 254])
def test_floor_offsets_after_flooring(k):
    """y just below an integer: floor(y) - 128, as sentence-transformers >= 5.7, not floor(y - 128).

    With step 1, y is the float32 just below k; for k <= 64, y - 128 rounds to k - 128.
    """
    ranges = np.array([[0.0], [255.0]], np.float32)
    x = np.array([[np.nextafter(np.float32(k), np.float32(0))]], np.float32)
    assert x[0, 0] < k
    expected = st_ge_5_7(x, ranges, "int8")
    assert int(expected[0, 0]) == k - 1 - 128
    assert same_bits(quantize(x, "int8", ranges=ranges, rounding="floor"), expected)
    assert int(quantize(x, "uint8", ranges=ranges, rounding="floor")[0, 0]) == k - 1


def test_nearest_rounds_before_the_offset():
    """y = 0.5 + 2**-23 rounds to 1 (code -127); rint(y - 128) would give -128."""
    ranges = np.array([[0.0], [255.0]], np.float32)
    x = np.array([[np.float32(0.5) + np.float32(2**-23)]], np.float32)
    assert int(quantize(x, "int8", ranges=ranges)[0, 0]) == -127
    assert int(quantize(x, "uint8", ranges=ranges)[0, 0]) == 1


def test_sentence_transformers_clip_example():
    """The example of sentence-transformers PR #3847: < 5.7 wrapped to [[-42, 42, -112]]."""
    cal = np.array([[1, 20, -3], [4, 5, -60]], dtype=np.float32)
    data = np.array([[-1, 15, 1]], dtype=np.float32)
    with pytest.warns(CalibrationWarning):
        codes = quantize(data, "int8", calibration_embeddings=cal, rounding="floor")
    assert codes.tolist() == [[-128, 42, 127]]
    with pytest.warns(CalibrationWarning), pytest.raises(OutOfRangeError, match="would wrap its int8 code"):
        quantize(data, "int8", calibration_embeddings=cal, rounding="truncate")


@pytest.mark.parametrize("precision", ["int8", "uint8"])
@pytest.mark.parametrize("value", [-1.01, 1.01, 5.0, -1e30])
def test_truncate_refuses_what_would_wrap(precision, value):
    x = np.zeros((3, 5), np.float32)
    x[2, 3] = value
    with pytest.raises(OutOfRangeError, match=rf"would wrap its {precision} code"):
        quantize(x, precision, ranges=unit_ranges(5), rounding="truncate")


def test_truncate_keeps_what_truncates_into_range():
    """-1.0039 is below the range but its int8 code truncates to -128, as < 5.7 gives: no error."""
    x = np.array([[-1.0 - 0.9 * 2 / 255, 1.0 + 0.9 * 2 / 255]], np.float32)
    codes = quantize(x, "int8", ranges=unit_ranges(2), rounding="truncate")
    assert codes.tolist() == [[-128, 127]]


# --------------------------------------------------------------------------- convert_codes


@given(data=st.data())
def test_convert_between_offset_forms(data):
    d = data.draw(dims(), label="d")
    x = data.draw(float_matrices(dim=d), label="x")
    ub, b = quantize(x, "ubinary"), quantize(x, "binary")
    assert same_bits(convert_codes(ub, "ubinary", "binary"), b)
    assert same_bits(convert_codes(b, "binary", "ubinary"), ub)
    assert same_bits(convert_codes(b, "binary", "ubinary", dim=d), ub)
    assert same_bits(convert_codes(ub, "ubinary", "ubinary"), ub)
    ranges = data.draw(ranges_for(d), label="ranges")
    i8, u8 = quantize(x, "int8", ranges=ranges), quantize(x, "uint8", ranges=ranges)
    assert same_bits(convert_codes(i8, "int8", "uint8"), u8)
    assert same_bits(convert_codes(u8, "uint8", "int8"), i8)
    assert same_bits(convert_codes(u8, "uint8", "int8"), R.convert_codes(u8, "uint8", "int8"))


@pytest.mark.parametrize("source", ["int8", "uint8"])
@pytest.mark.parametrize("target", ["binary", "ubinary"])
@given(data=st.data())
def test_scalar_codes_to_bits_equal_the_float_route(source, target, data):
    d = data.draw(dims(), label="d")
    n = data.draw(batch_sizes(), label="n")
    ranges = data.draw(ranges_for(d), label="ranges")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    codes = rng.integers(0, 256, size=(n, d), dtype=np.uint8).view(np.dtype(source))
    expected = quantize(dequantize(codes, source, ranges=ranges), target)
    assert same_bits(expected, R.bits_from_scalar(codes, ranges, source, target))
    assert same_bits(convert_codes(codes, source, target, ranges=ranges), expected)
    codec = ScalarCodec(source, ranges)
    assert same_bits(convert_codes(codes, codec, target, dim=d), expected)


def test_convert_keeps_rank_and_voyage_example():
    assert convert_codes(np.array([77], np.uint8), "ubinary", "binary").tolist() == [-51]
    assert convert_codes(np.array([-51], np.int8), "binary", "ubinary").tolist() == [77]
    one = convert_codes(np.array([-128, 0, 127], np.int8), "int8", "ubinary", ranges=unit_ranges(3))
    assert one.shape == (1,) and one.tolist() == [0b01100000]


# --------------------------------------------------------------------------- golden vectors


@pytest.fixture(scope="module")
def voyage():
    data = json.loads((GOLDEN / "voyage_multilingual_2.json").read_text())
    x = np.array(data["embedding"], dtype=np.float32)
    assert x.shape == (data["dim"],) == (1024,)
    return data, x


def test_golden_voyage_offset_binary_example():
    ex = json.loads((GOLDEN / "voyage_offset_binary.json").read_text())
    x = np.array(ex["embedding"], dtype=np.float32)
    assert (x > 0).astype(int).tolist() == ex["bits"]
    assert quantize(x, "ubinary").tolist() == ex["ubinary"] == [77]
    assert quantize(x, "binary").tolist() == ex["binary"] == [77 - 128]
    assert quantize(x[None], "binary").tolist() == [ex["binary"]]
    signs = [1.0 if b else -1.0 for b in ex["bits"]]
    assert dequantize(np.array(ex["binary"], np.int8), "binary", dim=8).tolist() == signs
    assert dequantize(np.array(ex["ubinary"], np.uint8), "ubinary").tolist() == signs


def test_golden_voyage_values_are_float32(voyage):
    data, x = voyage
    assert np.array(data["embedding"], dtype=np.float64).tolist() == x.astype(np.float64).tolist()


@pytest.mark.parametrize(
    "name",
    [
        "ubinary",
        "binary",
        "int8_nearest",
        "int8_floor",
        "int8_truncate",
        "uint8_nearest",
        "uint8_floor",
        "uint8_truncate",
    ],
)
def test_golden_voyage_codes(voyage, name):
    data, x = voyage
    precision, _, rounding = name.partition("_")
    kwargs = {}
    if rounding:
        lo, hi = data["scalar_range"]
        kwargs = {"ranges": [[lo] * x.size, [hi] * x.size], "rounding": rounding}
    expected = data["codes"][name]
    assert quantize(x, precision, **kwargs).tolist() == expected
    assert quantize(np.stack([x, x]), precision, **kwargs).tolist() == [expected, expected]
    assert (
        quantize(x.astype(np.float64), precision, **kwargs).tolist() == expected
    )  # float32 values, any dtype


def test_golden_voyage_codes_decode(voyage):
    data, x = voyage
    lo, hi = data["scalar_range"]
    ranges = [[lo] * x.size, [hi] * x.size]
    back = dequantize(np.array(data["codes"]["int8_nearest"], np.int8), "int8", ranges=ranges)
    assert np.abs(back - x).max() <= (hi - lo) / 255 / 2 * (1 + 2**-12)
    bits = dequantize(np.array(data["codes"]["binary"], np.int8), "binary", dim=1024)
    assert same_bits(bits, np.where(x > 0, np.float32(1), np.float32(-1)))


@pytest.mark.parametrize("rounding", ["nearest", "floor"])
def test_golden_int8_uint8_differ_by_128(voyage, rounding):
    """Not for "truncate": trunc(y - 128) + 128 != trunc(y) for y in (0, 128) (sentence-transformers < 5.7)"""
    data, _ = voyage
    i8 = np.array(data["codes"][f"int8_{rounding}"])
    u8 = np.array(data["codes"][f"uint8_{rounding}"])
    assert (u8 - i8 == 128).all()

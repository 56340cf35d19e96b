"""The codec contract (quantlib/codecs/base.py), checked for every registered codec.

Fast paths are compared with the numpy twins in quantlib._reference bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    EDGE_DIMS,
    FLOAT_DTYPES,
    PRECISIONS,
    ROUNDINGS,
    batch_sizes,
    dims,
    float_matrices,
    in_range_matrices,
    ranges_for,
    read_only,
)

import quantlib
from quantlib import _reference as R
from quantlib._kernels._config import PARALLEL_MIN_ELEMENTS
from quantlib.codecs import BitCodec, FloatCodec, ScalarCodec, codec_from_config, get_codec
from quantlib.codecs.registry import registered_precisions
from quantlib.errors import CalibrationError, ConfigError, NonFiniteError, OutOfRangeError


def make_codec(precision: str, d: int, rounding: str = "nearest", ranges: np.ndarray | None = None):
    """A codec of ``precision`` for dimension ``d`` (8-bit codecs get ranges [-1, 1] unless given)."""
    if precision in ("int8", "uint8"):
        if ranges is None:
            ranges = np.array([[-1.0] * d, [1.0] * d], dtype=np.float32)
        return ScalarCodec(precision, ranges, rounding=rounding)
    if quantlib.precision_info(precision).family == "own":  # the rotated codes: fitted to a centre
        return get_codec(precision, mean=np.zeros(d, np.float32))
    return get_codec(precision)


def twin_encode(x: np.ndarray, codec) -> np.ndarray:
    return R.quantize(
        x, codec.precision, getattr(codec, "ranges", None), getattr(codec, "rounding", "nearest")
    )


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (so 0.0 != -0.0 and NaN payloads count)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_outcome(fast, slow) -> None:
    """Both return bit-identical arrays, or both raise the same exception class."""
    try:
        expected = slow()
    except (NonFiniteError, OutOfRangeError) as exc:
        with pytest.raises(type(exc)):
            fast()
        return
    got = fast()
    assert same_bits(got, expected), (got, expected)


# --------------------------------------------------------------------------- registry and config


def test_every_precision_has_a_registered_codec():
    """Fails when a precision is added to PRECISIONS without a codec (or a codec names an unknown one)."""
    assert set(registered_precisions()) == {p.name for p in quantlib.PRECISIONS}
    for info in quantlib.PRECISIONS:
        codec = make_codec(info.name, 9)
        assert codec.precision == info.name
        assert codec.dtype == info.dtype.newbyteorder("=")
        assert info in type(codec).precisions


@pytest.mark.parametrize(
    "alias, name",
    [
        ("float", "float32"),
        ("FP16", "float16"),
        ("halfvec", "float16"),
        ("bit", "ubinary"),
        (" Int8 ", "int8"),
    ],
)
def test_aliases_find_the_codec(alias, name):
    params = {"ranges": [[0.0], [1.0]]} if name in ("int8", "uint8") else {}
    assert get_codec(alias, **params).precision == name


def test_get_codec_names_a_missing_or_unexpected_parameter():
    """Not a bare TypeError from the constructor: a ConfigError naming the codec and the parameter."""
    with pytest.raises(ConfigError, match="^ranges: the int8 codec needs the parameter 'ranges', got none$"):
        get_codec("int8")
    with pytest.raises(ConfigError, match="^ranges: the uint8 codec needs the parameter 'ranges', got none$"):
        get_codec("uint8", rounding="floor")
    with pytest.raises(ConfigError,
                       match=r"^ranges: the float32 codec takes no parameter 'ranges' \(it takes none\)$"):
        get_codec("float32", ranges=[[0], [1]])
    with pytest.raises(ConfigError, match=r"^step: the int8 codec takes no parameter 'step' \(it takes 'ranges', "
                                          r"'rounding'\)$"):
        get_codec("int8", ranges=[[0], [1]], step=1)
    assert get_codec("uint8", ranges=[[0], [1]], rounding="floor") == ScalarCodec("uint8", [[0], [1]], rounding="floor")


CONFIG_CASES = [(p, "nearest") for p in PRECISIONS] + [
    (p, r) for p in ("int8", "uint8") for r in ROUNDINGS[1:]
]


@pytest.mark.parametrize("precision, rounding", CONFIG_CASES)
def test_config_json_round_trip(precision, rounding):
    ranges = np.array([[-0.5, 0.0, 1e-3, 2.0], [0.5, 0.0, 2e-3, 1e6]], dtype=np.float32)
    codec = make_codec(precision, 4, rounding, ranges)
    config = codec.get_config()
    assert config["id"] == precision
    text = json.dumps(config)
    back = codec_from_config(json.loads(text))
    assert back == codec and type(back) is type(codec)
    assert hash(back) == hash(codec)
    assert json.dumps(back.get_config()) == text
    if precision in ("int8", "uint8"):
        assert back.ranges.tobytes() == codec.ranges.tobytes()  # float32 ranges survive JSON exactly
        assert back.rounding == rounding
        x = (
            np.linspace(-1, 3, 40, dtype=np.float32).reshape(10, 4)
            if rounding != "truncate"
            else np.clip(np.linspace(-1, 3, 40, dtype=np.float32).reshape(10, 4), ranges[0], ranges[1])
        )
        assert same_bits(back.encode(x), codec.encode(x))


def test_codecs_of_different_ranges_or_rounding_differ():
    a = ScalarCodec("int8", [[0.0], [1.0]])
    assert a != ScalarCodec("int8", [[0.0], [2.0]])
    assert a != ScalarCodec("int8", [[0.0], [1.0]], rounding="floor")
    assert a != ScalarCodec("uint8", [[0.0], [1.0]])
    assert FloatCodec("float32") != FloatCodec("float16")
    assert BitCodec("binary") != BitCodec("ubinary")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("d", EDGE_DIMS)
def test_code_size(precision, d):
    info = quantlib.precision_info(precision)
    codec = make_codec(precision, d)
    expected = {32: 4 * d, 16: 2 * d, 8: d, 1: -(-d // 8)}[info.bits]
    assert codec.code_size(d) == expected
    assert quantlib.code_width(precision, d) * info.dtype.itemsize == expected


# --------------------------------------------------------------------------- fast path == twin


@pytest.mark.parametrize("precision", ["float32", "float16", "binary", "ubinary"])
@given(x=float_matrices())
def test_encode_equals_twin(precision, x):
    codec = get_codec(precision)
    assert_same_outcome(lambda: codec.encode(x), lambda: twin_encode(x, codec))


@pytest.mark.parametrize("precision", ["int8", "uint8"])
@pytest.mark.parametrize("rounding", ROUNDINGS)
@given(data=st.data())
def test_scalar_encode_equals_twin(precision, rounding, data):
    d = data.draw(dims(), label="d")
    ranges = data.draw(ranges_for(d), label="ranges")
    # Anything finite: inside, on the edges of and far outside the range.
    x = data.draw(st.one_of(float_matrices(dim=d), in_range_matrices(ranges)), label="x")
    codec = ScalarCodec(precision, ranges, rounding=rounding)
    assert_same_outcome(lambda: codec.encode(x), lambda: R.scalar_encode(x, ranges, precision, rounding))


@pytest.mark.parametrize("precision", PRECISIONS)
@given(data=st.data())
def test_decode_equals_twin(precision, data):
    d = data.draw(dims(), label="d")
    n = data.draw(batch_sizes(), label="n")
    info = quantlib.precision_info(precision)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    width = quantlib.code_width(precision, d)
    if info.is_float:  # every finite bit pattern
        raw = rng.integers(0, 2**info.bits, size=(n, width), dtype=np.uint64)
        codes = raw.astype(f"u{info.bits // 8}").view(info.dtype)
        codes = np.where(np.isfinite(codes), codes, info.dtype.type(0))
    else:
        codes = rng.integers(0, 256, size=(n, width), dtype=np.uint8).view(info.dtype)
    ranges = data.draw(ranges_for(d), label="ranges") if info.is_scalar else None
    codec = make_codec(precision, d, ranges=ranges)
    if info.packed and d % 8:
        codes = R.quantize(R.unpack_bits(codes, d, precision), precision)  # clear the padding bits
    got = codec.decode(codes, dim=d)
    assert same_bits(got, R.dequantize(codes, precision, ranges, d))


# --------------------------------------------------------------------------- round trips


@given(x=float_matrices(max_abs=float(np.finfo(np.float32).max)))
def test_float32_round_trip_is_bit_exact(x):
    codec = FloatCodec("float32")
    codes = codec.encode(x)
    assert codes.dtype == np.float32
    back = codec.decode(codes)
    assert same_bits(back, x.astype(np.float32))  # float16 and float32 input: exact; float64: one rounding


@given(x=float_matrices(max_abs=65504.0))
def test_float16_round_trip_within_its_bound(x):
    """|decode(encode(x)) - x| <= 2**-11 |x| for normal results, <= 2**-25 (half the least subnormal) below"""
    codec = FloatCodec("float16")
    back = codec.decode(codec.encode(x)).astype(np.float64)
    exact = x.astype(np.float64)
    bound = np.maximum(np.abs(exact) * 2.0**-11, 2.0**-25)
    assert (np.abs(back - exact) <= bound).all()
    assert (np.signbit(back) == np.signbit(exact))[back != 0].all()


@pytest.mark.parametrize("precision", ["int8", "uint8"])
@given(data=st.data())
def test_scalar_round_trip_within_half_a_step(precision, data):
    """Inside the range, |decode(encode(x)) - x| <= step / 2 plus float32 rounding.

    Tolerance: ``step * (0.5 + 2**-12) + 2**-22 * max(|min|, |max|) + 2**-140``: the
    relative float32 error of computing the step and the code (a few ulps of 255,
    below 2**-12 of a step), the rounding of ``min + k * step`` (2**-23 relative to
    the largest end, twice) and an absolute allowance for subnormal steps.
    """
    d = data.draw(dims(), label="d")
    ranges = data.draw(ranges_for(d), label="ranges")
    x = data.draw(in_range_matrices(ranges), label="x")
    codec = ScalarCodec(precision, ranges)
    back = codec.decode(codec.encode(x)).astype(np.float64)
    lo, hi = ranges.astype(np.float64)
    step = R.scalar_steps(ranges).astype(np.float64)
    tol = step * (0.5 + 2**-12) + 2**-22 * np.maximum(np.abs(lo), np.abs(hi)) + 2**-140
    err = np.abs(back - x.astype(np.float64))
    assert (err <= tol).all(), float((err - tol).max())


_F32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def any_float32_ranges(draw, d: int) -> np.ndarray:
    """Ranges of any finite float32 ends: huge spans, tiny and subnormal ones, constant dimensions."""
    top = float(np.finfo(np.float32).max)
    cols = []
    for _ in range(d):
        kind = draw(st.sampled_from(["any", "huge", "narrow", "constant"]))
        if kind == "huge":  # spans around float32's largest value
            lo, hi = -float(np.float32(draw(st.floats(1e37, top)))), float(np.float32(draw(st.floats(1e37, top))))
        elif kind == "narrow":  # subnormal and near-normal steps: spans up to about 1e-35
            lo = float(np.float32(draw(st.floats(-1e-36, 1e-36))))
            hi = float(np.float32(lo) + np.float32(draw(st.floats(0, 1e-35))))
        else:
            lo = draw(_F32)
            hi = draw(_F32) if kind == "any" else lo
        cols.append(sorted((lo, hi)))
    return np.array(cols, dtype=np.float32).T.copy()


@pytest.mark.parametrize("precision", ["int8", "uint8"])
@given(data=st.data())
def test_accepted_ranges_decode_finite_and_within_half_a_step(precision, data):
    """Every range ScalarCodec accepts decodes every code to a finite value, and round-trips within half a step.

    The step is the exact ``(max - min) / 255``; the tolerance adds only float32 rounding (as in
    test_scalar_round_trip_within_half_a_step, without its allowance for subnormal steps, which are refused).
    Refused ranges span beyond float32 or less than 255 * 2**-126, nothing in between.
    """
    d = data.draw(st.integers(1, 4), label="d")
    ranges = data.draw(any_float32_ranges(d), label="ranges")
    lo, hi = ranges.astype(np.float64)
    span = hi - lo
    try:
        codec = ScalarCodec(precision, ranges)
    except CalibrationError as exc:
        assert str(exc).startswith("ranges: dimension ")
        assert ((span > 3.4e38) | ((span > 0) & (span < 255 * 2.0**-126 * (1 + 2**-20)))).any(), ranges
        return
    low, high = (-128, 127) if precision == "int8" else (0, 255)
    every = codec.decode(np.repeat(np.arange(low, high + 1, dtype=codec.dtype)[:, None], d, axis=1))
    assert np.isfinite(every).all()
    assert (np.diff(every, axis=0) >= 0).all()  # values rise with the code
    x = data.draw(in_range_matrices(ranges), label="x")
    back = codec.decode(codec.encode(x)).astype(np.float64)
    tol = span / 255 * (0.5 + 2**-12) + 2**-22 * np.maximum(np.abs(lo), np.abs(hi))
    err = np.abs(back - x.astype(np.float64))
    assert (err <= tol).all(), float((err - tol).max())


def test_wide_and_tiny_ranges_are_refused_where_the_codec_is_made():
    """The auditor's cases: [-3e38, 3e38] decoded to nan/inf, [0, 1e-44] decoded 1e-44 to 0 (510 half steps)."""
    wide = r"^ranges: dimension 0 spans max 3e\+38 - min -3e\+38, which overflows float32 "
    with pytest.raises(CalibrationError, match=wide):
        ScalarCodec("int8", [[-3e38], [3e38]])
    with pytest.raises(CalibrationError, match=wide):
        quantlib.quantize(np.zeros((1, 1), np.float32), "int8", ranges=[[-3e38], [3e38]])
    with pytest.raises(CalibrationError, match=wide):
        quantlib.dequantize(np.array([[-128], [0], [127]], np.int8), "int8", ranges=[[-3e38], [3e38]])
    with pytest.raises(CalibrationError, match=wide):
        codec_from_config({"id": "uint8", "version": 1, "ranges": [[-3e38], [3e38]]})
    with pytest.raises(CalibrationError, match=r"^ranges: dimension 1 spans max 3e\+38 - min -3e\+38"):
        ScalarCodec.fit(np.array([[0.0, -3e38], [1.0, 3e38]] * 50, np.float32))
    tiny = (r"^ranges: dimension 0 spans max 1e-44 - min 0.0, too narrow for 255 float32 steps \(the step 0.0 is "
            r"below 1.17549e-38, so codes could miss by more than half a step\); give max == min for a constant "
            r"dimension, or a span of at least 3e-36$")
    with pytest.raises(CalibrationError, match=tiny):
        ScalarCodec("int8", [[0.0], [1e-44]])
    with pytest.raises(CalibrationError, match="dimension 2 spans max 1e-40 - min -1e-40, too narrow"):
        ScalarCodec("uint8", [[0.0, 5.0, -1e-40], [1.0, 5.0, 1e-40]])
    # The extremes that work are kept: a constant dimension, the full float32 span, the narrowest normal step.
    top = float(np.finfo(np.float32).max)
    codec = ScalarCodec("int8", [[1e-44, 0.0, -top / 2, 0.0], [1e-44, top, top / 2, 3e-36]])
    assert np.isfinite(codec.decode(np.array([[-128] * 4, [127] * 4], np.int8))).all()


@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_narrowest_accepted_span_keeps_half_a_step(precision):
    lo, hi = np.float32(-1e-36), np.float32(2e-36)  # span 3e-36: step just above 2**-126
    codec = ScalarCodec(precision, [[lo], [hi]])
    x = np.linspace(lo, hi, 1001, dtype=np.float32)[:, None]
    err = np.abs(codec.decode(codec.encode(x)).astype(np.float64) - x)
    assert err.max() <= (float(hi) - float(lo)) / 255 * (0.5 + 2**-12)


@pytest.mark.parametrize("precision", ["binary", "ubinary"])
@given(x=float_matrices())
def test_bits_round_trip_to_signs(precision, x):
    codec = BitCodec(precision)
    codes = codec.encode(x)
    d = x.shape[1]
    packed = np.packbits(x > 0, axis=-1)
    assert codes.shape == (x.shape[0], -(-d // 8))
    assert codes.view(np.uint8).tobytes() == (packed if precision == "ubinary" else packed ^ 0x80).tobytes()
    back = codec.decode(codes, dim=d)
    assert same_bits(back, np.where(x > 0, np.float32(1), np.float32(-1)).astype(np.float32).reshape(x.shape))


def test_bits_of_signed_zeros_subnormals_and_extremes():
    tiny = np.nextafter(np.float32(0), np.float32(1))
    x = np.array(
        [0.0, -0.0, tiny, -tiny, np.finfo(np.float32).max, -np.finfo(np.float32).max, 1e-30, -1e-30, 1.0],
        dtype=np.float32,
    )
    # bits: 0 0 1 0 1 0 1 0 | 1 (then 7 zero padding bits)
    assert quantlib.quantize(x, "ubinary").tolist() == [0b00101010, 0b10000000]
    assert quantlib.quantize(x.astype(np.float64), "ubinary").tolist() == [0b00101010, 0b10000000]
    assert quantlib.quantize(x, "binary").tolist() == [0b00101010 - 128, 0]


# --------------------------------------------------------------------------- shapes, rank, read-only input


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("d", [1, 7, 8, 9, 65])
def test_single_vector_keeps_its_rank(precision, d):
    codec = make_codec(precision, d)
    x = np.linspace(-0.9, 0.9, d).astype(np.float32)
    codes = codec.encode(x)
    assert codes.shape == (quantlib.code_width(precision, d),)
    assert same_bits(codes, codec.encode(x[None, :])[0])
    back = codec.decode(codes, dim=d)
    assert back.shape == (d,) and back.dtype == np.float32


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_empty_batch(precision, dtype):
    codec = make_codec(precision, 9)
    codes = codec.encode(np.empty((0, 9), dtype))
    assert codes.shape == (0, quantlib.code_width(precision, 9)) and codes.dtype == codec.dtype
    back = codec.decode(codes, dim=9)
    assert back.shape == (0, 9) and back.dtype == np.float32


@pytest.mark.parametrize("precision", PRECISIONS)
def test_zero_vectors(precision):
    codec = make_codec(precision, 65)
    x = np.zeros((3, 65), np.float32)
    codes = codec.encode(x)
    assert same_bits(codes, twin_encode(x, codec))
    if precision in ("binary", "ubinary"):
        assert (codec.decode(codes, dim=65) == -1).all()  # 0 is not > 0
    else:
        assert np.abs(codec.decode(codes)).max() <= 1 / 255 + 1e-7


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_only_input(precision, dtype):
    codec = make_codec(precision, 67)
    x = np.random.default_rng(7).uniform(-1, 1, (5, 67)).astype(dtype)
    ro = read_only(x)
    codes = codec.encode(ro)
    assert same_bits(codes, codec.encode(x))
    back = codec.decode(read_only(codes), dim=67)
    assert same_bits(back, codec.decode(codes, dim=67))


def test_memmap_input(tmp_path):
    x = np.random.default_rng(8).uniform(-1, 1, (6, 33)).astype(np.float32)
    path = tmp_path / "x.f32"
    x.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=x.shape)
    for precision in PRECISIONS:
        codec = make_codec(precision, 33)
        assert same_bits(codec.encode(mm), codec.encode(x))
    del mm


def test_non_contiguous_and_big_endian_input():
    x = np.random.default_rng(9).uniform(-1, 1, (4, 40)).astype(np.float32)
    strided = x[:, ::2]
    swapped = x.astype(">f4")
    for precision in PRECISIONS:
        codec = make_codec(precision, 20)
        assert same_bits(codec.encode(strided), twin_encode(np.ascontiguousarray(strided), codec))
        codec = make_codec(precision, 40)
        assert same_bits(codec.encode(swapped), twin_encode(x, codec))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("swapped", [">f2", ">f4", ">f8"])
def test_big_endian_input_encodes_like_native(precision, swapped):
    """'>f2' is not == np.float16: it leaked KeyError/NotImplementedError instead of being widened like '<f2'."""
    native = np.dtype(swapped).newbyteorder("=")
    x = np.array([[0.5, -1.0, 0.25, 0.0, -0.0, 2.0**-24, 1e-3, 65504.0 / 70000], [-0.75] * 8], native)
    codec = make_codec(precision, 8)
    assert same_bits(codec.encode(x.astype(swapped)), codec.encode(x))
    assert same_bits(codec.encode(x[0].astype(swapped)), codec.encode(x[0]))


@pytest.mark.parametrize("swapped", [">f2", ">f4", ">f8"])
def test_check_finite_takes_any_byte_order(swapped):
    """The shared finiteness check (search, pairwise, calibration) raised KeyError on big-endian floats."""
    from quantlib._validation import check_finite

    check_finite(np.array([[0.5, -1.0]], swapped), "x")
    with pytest.raises(NonFiniteError, match=r"^x: expected finite values, got -inf at index \(0, 1\)$"):
        check_finite(np.array([[0.5, -np.inf]], swapped), "x")


def test_big_endian_float16_exact_values():
    x = np.array([0.5, -1.0, 0.25], dtype=">f2")
    assert quantlib.quantize(x, "ubinary").tolist() == [0b10100000]
    assert quantlib.quantize(x, "binary").tolist() == [0b10100000 - 128]
    assert same_bits(quantlib.quantize(x, "float16"), np.array([0.5, -1.0, 0.25], np.float16))
    assert same_bits(quantlib.quantize(x, "float32"), np.array([0.5, -1.0, 0.25], np.float32))
    assert quantlib.quantize(x, "int8", ranges=[[-1] * 3, [1] * 3]).tolist() == [63, -128, 31]


def test_float16_underflow_is_numpy_rounding_as_documented():
    """Magnitudes up to 2**-25 become 0 (2**-25 ties to even); anything larger becomes at least 2**-24."""
    half = np.float32(2.0**-25)
    x = np.array([half, np.nextafter(half, np.float32(1)), 0.7 * 2.0**-24, 2.0**-24, 1.5 * 2.0**-24, -half,
                  -0.7 * 2.0**-24], np.float32)
    got = FloatCodec("float16").encode(x)
    assert same_bits(got, x.astype(np.float16))
    assert (got.astype(np.float64) * 2**24).tolist() == [0.0, 1.0, 1.0, 1.0, 2.0, -0.0, -1.0]
    doc = " ".join(FloatCodec.__doc__.split())
    page = " ".join((Path(__file__).parents[1] / "docs" / "formats.md").read_text().split())
    for text in (doc, page):
        assert "below 2**-24 become" not in text  # 0.7 * 2**-24 is below 2**-24 and becomes 2**-24
        assert "magnitudes up to 2**-25" in text and "0.7 * 2**-24" in text


# --------------------------------------------------------------------------- the parallel path

#: Lowered threshold for these tests: the real one (quantlib._kernels._config) is tuned
#: for speed and may be tens of millions of elements; the code path is the same.
SMALL_THRESHOLD = 1 << 16


@pytest.fixture
def parallel_calls(monkeypatch):
    """Lower the parallel threshold and count the calls of the parallel kernels."""
    from quantlib._kernels import _config
    from quantlib._kernels import codecs as K

    monkeypatch.setattr(_config, "PARALLEL_MIN_ELEMENTS", SMALL_THRESHOLD)
    calls = []
    for name in ("pack_greater_parallel", "scalar_encode_parallel"):
        kernel = getattr(K, name)

        def spy(*args, _kernel=kernel, _name=name):
            calls.append(_name)
            return _kernel(*args)

        monkeypatch.setattr(K, name, spy)
    return calls


@pytest.fixture(scope="module")
def big_batch():
    """A batch above the lowered threshold: 700 rows (three row blocks) of d = 100 (not a multiple of 8)."""
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((700, 100)).astype(np.float32) * 0.1
    x[3, :8] = [0.0, -0.0, 1e-45, -1e-45, 0.2, -0.2, 0.5, -0.5]
    assert x.size >= SMALL_THRESHOLD
    return x


def test_threshold_dispatch():
    import numba

    from quantlib._kernels._config import use_parallel

    assert use_parallel(PARALLEL_MIN_ELEMENTS) == (numba.get_num_threads() > 1)
    assert not use_parallel(PARALLEL_MIN_ELEMENTS - 1)


@pytest.mark.parametrize(
    "precision, rounding",
    [
        ("ubinary", "nearest"),
        ("binary", "nearest"),
        ("int8", "nearest"),
        ("uint8", "floor"),
        ("int8", "truncate"),
    ],
)
def test_parallel_path_equals_twin(parallel_calls, big_batch, precision, rounding):
    import numba

    ranges = np.array([[-0.3] * 100, [0.3] * 100], dtype=np.float32)
    x = np.clip(big_batch, -0.3, 0.3) if rounding == "truncate" else big_batch
    codec = make_codec(precision, 100, rounding, ranges)
    assert same_bits(codec.encode(x), twin_encode(x, codec))
    assert same_bits(codec.encode(read_only(x)), twin_encode(x, codec))
    assert len(parallel_calls) == (2 if numba.get_num_threads() > 1 else 0)


def test_parallel_path_reports_nan_and_wrap(parallel_calls, big_batch):
    x = big_batch.copy()
    x[577, 5] = np.nan
    with pytest.raises(NonFiniteError, match=r"got nan at index \(577, 5\)"):
        quantlib.quantize(x, "ubinary")
    with pytest.raises(NonFiniteError, match=r"got nan at index \(577, 5\)"):
        quantlib.quantize(x, "int8", ranges=[[-1.0] * 100, [1.0] * 100])
    y = big_batch.copy()
    y[600, 99] = 2.0
    with pytest.raises(OutOfRangeError, match="would wrap"):
        quantlib.quantize(y, "int8", ranges=[[-1.0] * 100, [1.0] * 100], rounding="truncate")

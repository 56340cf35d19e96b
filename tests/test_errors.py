"""Every bad input of issue 2 raises a quantlib error naming the argument, the expected and the actual.

Each case is one row of ``CASES``: a call, the error class and a regex its message must match.
Every raised error is also checked to be a QuantlibError and a ValueError or TypeError.
"""

from __future__ import annotations

import numpy as np
import pytest

import quantlib
from quantlib import (
    Base64DecodeError,
    CalibrationError,
    CalibrationWarning,
    ConfigError,
    DTypeError,
    NonFiniteError,
    OutOfRangeError,
    QuantlibError,
    ScalarCodec,
    ShapeError,
    UnknownPrecisionError,
    b64decode,
    b64encode,
    b64encode_rows,
    codec_from_config,
    convert_codes,
    dequantize,
    get_codec,
    quantize,
)

F32 = np.float32
X = np.zeros((2, 3), F32)
R3 = [[-1.0] * 3, [1.0] * 3]


def with_value(value, where=(1, 2), shape=(2, 3), dtype=F32):
    x = np.zeros(shape, dtype)
    x[where] = value
    return x


CASES = {
    # --- wrong rank
    "rank 3": (
        lambda: quantize(np.zeros((2, 2, 2), F32), "float32"),
        ShapeError,
        r"embeddings: expected a vector \(d,\) or a batch \(n, d\), got an array of shape \(2, 2, 2\)",
    ),
    "rank 0": (
        lambda: quantize(np.float32(1), "ubinary"),
        ShapeError,
        r"embeddings: expected a vector .*shape \(\)",
    ),
    "codes rank 3": (
        lambda: dequantize(np.zeros((1, 2, 2), np.uint8), "ubinary"),
        ShapeError,
        r"codes: expected a vector .*shape \(1, 2, 2\)",
    ),
    "zero dimensions": (
        lambda: quantize(np.zeros((2, 0), F32), "float16"),
        ShapeError,
        r"embeddings: expected at least one dimension, got shape \(2, 0\)",
    ),
    "ragged rows": (
        lambda: quantize([[1.0, 2.0], [3.0]], "float16"),
        ShapeError,
        "embeddings: rows of different lengths",
    ),
    "ranges for another dim": (
        lambda: quantize(X, "int8", ranges=np.zeros((2, 4))),
        ShapeError,
        "embeddings: the codec's ranges are for dimension 4, got dimension 3",
    ),
    "codes for another dim": (
        lambda: dequantize(np.zeros((2, 3), np.int8), "int8", ranges=np.zeros((2, 4))),
        ShapeError,
        "codes: the codec's ranges are for dimension 4, got dimension 3",
    ),
    "float codes vs dim": (
        lambda: dequantize(X, "float32", dim=4),
        ShapeError,
        "codes: float32 codes of dimension 4 have 4 components per row, got 3",
    ),
    "bit codes vs dim": (
        lambda: dequantize(np.zeros((2, 2), np.uint8), "ubinary", dim=17),
        ShapeError,
        "codes: packed bits of dimension 17 take 3 bytes per row, got 2",
    ),
    "padding bits set": (
        lambda: dequantize(np.array([[0, 1]], np.uint8), "ubinary", dim=9),
        ShapeError,
        r"codes: bits past dimension 9 are set .*most significant bit first",
    ),
    "dim zero": (
        lambda: dequantize(np.zeros((1, 2), np.uint8), "ubinary", dim=0),
        ShapeError,
        "dim: expected a positive integer, got 0",
    ),
    # --- wrong dtype
    "integer input, float codec": (
        lambda: quantize(np.zeros((2, 3), np.int32), "float32"),
        DTypeError,
        r"embeddings: expected a floating-point array \(float16, float32 or float64\), "
        r"got dtype int32; .*quantlib.dequantize\(\)",
    ),
    "integer input, bit codec": (
        lambda: quantize(np.zeros(3, np.int8), "ubinary"),
        DTypeError,
        "embeddings: expected a floating-point array .*got dtype int8",
    ),
    "integer input, scalar codec": (
        lambda: quantize(np.zeros((2, 3), np.uint8), "int8", ranges=R3),
        DTypeError,
        "embeddings: expected a floating-point array .*got dtype uint8",
    ),
    "bool input": (
        lambda: quantize(np.zeros(3, bool), "float16"),
        DTypeError,
        "embeddings: expected a floating-point array .*got dtype bool",
    ),
    "complex input": (
        lambda: quantize(np.zeros(3, complex), "float16"),
        DTypeError,
        "embeddings: expected a floating-point array .*got dtype complex128",
    ),
    "string input": (
        lambda: quantize("0.5, 0.2", "float32"),
        DTypeError,
        "embeddings: expected an array or a list of numbers, got str",
    ),
    "int8 codes as ubinary": (
        lambda: dequantize(np.zeros(2, np.int8), "ubinary"),
        DTypeError,
        r"codes: ubinary codes must have dtype uint8, got dtype int8; pass precision='binary'",
    ),
    "uint8 codes as binary": (
        lambda: dequantize(np.zeros(2, np.uint8), "binary"),
        DTypeError,
        r"codes: binary codes must have dtype int8, got dtype uint8; pass precision='ubinary'",
    ),
    "float64 codes as float32": (
        lambda: dequantize(np.zeros(2), "float32"),
        DTypeError,
        "codes: float32 codes must have dtype float32, got dtype float64",
    ),
    "dim not an int": (
        lambda: dequantize(np.zeros((1, 2), np.uint8), "ubinary", dim=16.0),
        DTypeError,
        "dim: expected a positive integer, got float 16.0",
    ),
    # --- NaN / inf (each reports the index)
    "nan, float32": (
        lambda: quantize(with_value(np.nan), "float32"),
        NonFiniteError,
        r"embeddings: expected finite values, got nan at index \(1, 2\)",
    ),
    "inf, float16": (
        lambda: quantize(with_value(np.inf), "float16"),
        NonFiniteError,
        r"embeddings: expected finite values, got inf at index \(1, 2\)",
    ),
    "-inf, int8": (
        lambda: quantize(with_value(-np.inf), "int8", ranges=R3),
        NonFiniteError,
        r"got -inf at index \(1, 2\)",
    ),
    "nan, uint8": (
        lambda: quantize(with_value(np.nan, dtype=np.float64), "uint8", ranges=R3),
        NonFiniteError,
        r"got nan at index \(1, 2\)",
    ),
    "nan, binary, vector": (
        lambda: quantize(with_value(np.nan, 5, (9,)), "binary"),
        NonFiniteError,
        "embeddings: expected finite values, got nan at index 5$",
    ),
    "inf, ubinary, float16 input": (
        lambda: quantize(with_value(np.inf, dtype=np.float16), "ubinary"),
        NonFiniteError,
        r"got inf at index \(1, 2\)",
    ),
    "nan, truncate": (
        lambda: quantize(with_value(np.nan), "int8", ranges=R3, rounding="truncate"),
        NonFiniteError,
        r"got nan at index \(1, 2\)",
    ),
    "nan in calibration": (
        lambda: quantize(X, "int8", calibration_embeddings=with_value(np.nan, (150, 1), (200, 3))),
        NonFiniteError,
        r"calibration_embeddings: expected finite values, got nan at index \(150, 1\)",
    ),
    # --- overflow: an error, never inf
    "float16 overflow": (
        lambda: quantize(with_value(70000.0), "float16"),
        OutOfRangeError,
        r"embeddings: value 70000.0 at index \(1, 2\) is beyond float16's largest finite value 65504",
    ),
    "float16 overflow after rounding": (
        lambda: quantize(with_value(65520.0, 4, (6,), np.float64), "float16"),
        OutOfRangeError,
        "value 65520.0 at index 4 is beyond float16",
    ),
    "float16 negative overflow": (
        lambda: quantize(with_value(-1e5), "float16"),
        OutOfRangeError,
        r"value -100000.0 at index \(1, 2\)",
    ),
    "float32 overflow from float64": (
        lambda: quantize(with_value(1e39, dtype=np.float64), "float32"),
        OutOfRangeError,
        "value 1e\\+39 .* beyond float32's largest finite value 3.40282e\\+38",
    ),
    "truncate would wrap": (
        lambda: quantize(with_value(1.5), "int8", ranges=R3, rounding="truncate"),
        OutOfRangeError,
        "embeddings: .* sentence-transformers < 5.7 would wrap its int8 code; use rounding='floor'",
    ),
    # --- ranges and calibration
    "ranges shape": (
        lambda: quantize(X, "int8", ranges=np.zeros((3, 3))),
        CalibrationError,
        r"ranges: expected shape \(2, d\) with row 0 the minimum and row 1 the maximum, got shape \(3, 3\)",
    ),
    "ranges 1-D": (lambda: quantize(X, "int8", ranges=[0.0, 1.0]), CalibrationError, r"got shape \(2,\)"),
    "ranges max < min": (
        lambda: quantize(X, "int8", ranges=[[0, 0, 1], [1, 1, 0]]),
        CalibrationError,
        "ranges: maximum must be >= minimum in every dimension, got max 0.0 < min 1.0 in dimension 2",
    ),
    "ranges nan": (
        lambda: quantize(X, "uint8", ranges=[[0, 0, np.nan], [1, 1, 1]]),
        CalibrationError,
        r"ranges: expected finite values, got nan at index \(0, 2\)",
    ),
    "ranges inf": (
        lambda: ScalarCodec("int8", [[0, -np.inf], [1, 1]]),
        CalibrationError,
        r"ranges: expected finite values, got -inf at index \(0, 1\)",
    ),
    "ranges span beyond float32": (
        lambda: quantize(X, "int8", ranges=[[0, -3e38, 0], [1, 3e38, 1]]),
        CalibrationError,
        r"^ranges: dimension 1 spans max 3e\+38 - min -3e\+38, which overflows float32 \(largest finite value "
        r"3.40282e\+38\), so its codes would decode to inf or NaN",
    ),
    "ranges span too narrow": (
        lambda: dequantize(np.zeros((2, 3), np.uint8), "uint8", ranges=[[0, 0, 0], [1, 1e-44, 1]]),
        CalibrationError,
        r"^ranges: dimension 1 spans max 1e-44 - min 0.0, too narrow for 255 float32 steps \(the step 0.0",
    ),
    "calibration spread beyond float32": (
        lambda: quantize(X, "uint8", calibration_embeddings=np.array([[0, 0, -3e38], [1, 1, 3e38]] * 100, F32)),
        CalibrationError,
        r"^ranges: dimension 2 spans max 3e\+38 - min -3e\+38, which overflows float32",
    ),
    "config ranges span beyond float32": (
        lambda: codec_from_config({"id": "int8", "version": 1, "ranges": [[-2e38], [2e38]]}),
        CalibrationError,
        r"^ranges: dimension 0 spans max 2e\+38 - min -2e\+38, which overflows",
    ),
    "ranges bool": (
        lambda: quantize(X, "int8", ranges=np.zeros((2, 3), bool)),
        CalibrationError,
        r"ranges: expected a \(2, d\) array of numbers, got dtype bool",
    ),
    "ranges str": (
        lambda: quantize(X, "int8", ranges="[-1, 1]"),
        DTypeError,
        "ranges: expected an array or a list of numbers, got str",
    ),
    "no calibration rows": (
        lambda: quantize(X, "int8", calibration_embeddings=np.zeros((0, 3), F32)),
        CalibrationError,
        "calibration_embeddings: expected at least one row .* got 0",
    ),
    "ranges and calibration": (
        lambda: quantize(X, "int8", ranges=R3, calibration_embeddings=np.zeros((200, 3))),
        ConfigError,
        "ranges, calibration_embeddings: pass one or the other, got both",
    ),
    "ranges for bits": (
        lambda: quantize(X, "binary", ranges=R3),
        ConfigError,
        "only int8, uint8, rotated4, rotated2 and rotated1 use calibration, got precision 'binary'",
    ),
    "dequantize without ranges": (
        lambda: dequantize(np.zeros(3, np.int8), "int8"),
        ConfigError,
        r"ranges: int8 codes cannot be dequantized without the \(2, d\) ranges",
    ),
    "unknown rounding": (
        lambda: quantize(X, "int8", ranges=R3, rounding="round"),
        ConfigError,
        "rounding: expected one of nearest, floor, truncate, got 'round'",
    ),
    # --- unknown precisions, with suggestions
    "unit8": (
        lambda: quantize(X, "unit8"),
        UnknownPrecisionError,
        "precision: expected one of float32, float16, int8, uint8, binary, ubinary, rotated4, rotated2, rotated1, "
        "got 'unit8'; "
        "did you mean 'uint8'",
    ),
    "bianry": (lambda: quantize(X, "bianry"), UnknownPrecisionError, "got 'bianry'; did you mean 'binary'"),
    "flaot32": (lambda: dequantize(X, "flaot32"), UnknownPrecisionError, "did you mean 'float32'"),
    "no close name": (lambda: quantize(X, "xyz"), UnknownPrecisionError, "got 'xyz'$"),
    "not a string": (
        lambda: quantize(X, 8),
        UnknownPrecisionError,
        "precision: expected one of .*, got int 8",
    ),
    "convert target": (
        lambda: convert_codes(np.zeros(3, np.int8), "int8", "unit8"),
        UnknownPrecisionError,
        "target: .*got 'unit8'; did you mean 'uint8'",
    ),
    "convert source": (
        lambda: convert_codes(np.zeros(3, np.int8), "int9", "int8"),
        UnknownPrecisionError,
        "source: .*got 'int9'; did you mean 'int8'",
    ),
    "b64 dtype name": (
        lambda: b64decode("AQ==", "unit8"),
        UnknownPrecisionError,
        "dtype: .*did you mean 'uint8'",
    ),
    # --- conversions that need floats or ranges
    "convert from floats": (
        lambda: convert_codes(X, "float32", "int8"),
        ConfigError,
        r"source, target: float32 -> int8 cannot be done on codes alone; use quantlib.dequantize",
    ),
    "convert bits to int8": (
        lambda: convert_codes(np.zeros(3, np.uint8), "ubinary", "int8"),
        ConfigError,
        "ubinary -> int8 cannot be done on codes alone",
    ),
    "convert without ranges": (
        lambda: convert_codes(np.zeros(3, np.int8), "int8", "ubinary"),
        ConfigError,
        "ranges: int8 -> ubinary needs the ranges the codes were made with",
    ),
    # --- configs
    "config unknown id": (
        lambda: codec_from_config({"id": "int9"}),
        ConfigError,
        r"config\['id'\]: expected one of .*got 'int9'; did you mean 'int8'",
    ),
    "config without ranges": (
        lambda: codec_from_config({"id": "uint8"}),
        ConfigError,
        "config: uint8 codec config needs key 'ranges'",
    ),
    "config newer version": (
        lambda: codec_from_config({"id": "int8", "version": 4}),
        ConfigError,
        r"config: version 4 is not one this quantlib reads \(1, 2, 3\)",
    ),
    "config not a dict": (
        lambda: codec_from_config(["int8"]),
        ConfigError,
        r"config: expected a dict with a string 'id', got \['int8'\]",
    ),
    "codec for another precision": (
        lambda: quantlib.FloatCodec("int8"),
        ConfigError,
        "precision: FloatCodec encodes float32, float16, got 'int8'",
    ),
    "codec instance with params": (
        lambda: get_codec(get_codec("float32"), ranges=R3),
        ConfigError,
        r"precision: a codec instance takes no further parameters, got \['ranges'\]",
    ),
    "get_codec without ranges": (
        lambda: get_codec("int8"),
        ConfigError,
        "^ranges: the int8 codec needs the parameter 'ranges', got none$",
    ),
    "get_codec with ranges it does not take": (
        lambda: get_codec("float32", ranges=[[0], [1]]),
        ConfigError,
        r"^ranges: the float32 codec takes no parameter 'ranges' \(it takes none\)$",
    ),
    "get_codec with an unknown parameter": (
        lambda: get_codec("uint8", ranges=R3, step=0.1),
        ConfigError,
        r"^step: the uint8 codec takes no parameter 'step' \(it takes 'ranges', 'rounding'\)$",
    ),
    # --- base64
    "b64 bad character": (
        lambda: b64decode("AA*A", "uint8"),
        Base64DecodeError,
        r"data: invalid base64 \(Only base64 data is allowed\)",
    ),
    "b64 url-safe alphabet": (lambda: b64decode("-_8=", "uint8"), Base64DecodeError, "data: invalid base64"),
    "b64 non-ascii": (lambda: b64decode("AAé=", "uint8"), Base64DecodeError, "data: invalid base64"),
    "b64 whitespace": (lambda: b64decode("AAAA\nAAAA", "uint8"), Base64DecodeError, "data: invalid base64"),
    "b64 missing padding": (
        lambda: b64decode("AAA", "uint8"),
        Base64DecodeError,
        r"data: invalid base64 \(Incorrect padding\)",
    ),
    "b64 padding inside": (lambda: b64decode("AA=A", "uint8"), Base64DecodeError, "data: invalid base64"),
    "b64 bad character in a row": (
        lambda: b64decode(["AAAA", "AA!A"], "uint8"),
        Base64DecodeError,
        r"data\[1\]: invalid base64",
    ),
    "b64 not whole items": (
        lambda: b64decode("AAA=", "float32"),
        Base64DecodeError,
        r"data: 2 decoded bytes are not a whole number of float32 items \(4 bytes each\)",
    ),
    "b64 not whole float16 items": (
        lambda: b64decode(["AAA=", "AAAA"], "float16"),
        Base64DecodeError,
        r"data\[1\]: 3 decoded bytes are not a whole number of float16 items",
    ),
    "b64 not whole rows": (
        lambda: b64decode("AAAA", "int8", dim=2),
        Base64DecodeError,
        "data: 3 decoded int8 items are not a whole number of rows of 2",
    ),
    "b64 not whole bit rows": (
        lambda: b64decode("AAAA", "ubinary", dim=9),
        Base64DecodeError,
        "data: 3 decoded uint8 items are not a whole number of rows of 2",
    ),
    "b64 row of the wrong length": (
        lambda: b64decode(["AAAA", "AAAA"], "uint8", dim=2),
        Base64DecodeError,
        r"data\[0\]: expected 2 items per row, got 3",
    ),
    "b64 ragged rows": (
        lambda: b64decode(["AAAA", "AAA="], "uint8"),
        Base64DecodeError,
        r"data\[1\]: rows must all have the same length; row 0 has 3 items, row 1 has 2",
    ),
    "b64 padding bits set": (
        lambda: b64decode("AQ==", "ubinary", dim=7),
        ShapeError,
        "data: bits past dimension 7 are set in the last byte of a row",
    ),
    "b64 padding bits set in a row": (
        lambda: b64decode(["gA==", "gQ=="], "binary", dim=7),
        ShapeError,
        "data: bits past dimension 7 are set",
    ),
    "b64 numpy dtype": (
        lambda: b64decode("AQ==", np.float64),
        DTypeError,
        "dtype: expected float32, float16, int8 or uint8, got float64",
    ),
    "b64 data type": (
        lambda: b64decode(5, "uint8"),
        DTypeError,
        "data: expected base64 str or bytes, or a list of them, got int",
    ),
    "b64 row type": (
        lambda: b64decode(["AA==", 5], "uint8"),
        DTypeError,
        r"data\[1\]: expected a base64 str or bytes, got int",
    ),
    "b64encode float64": (
        lambda: b64encode(np.zeros(3)),
        DTypeError,
        "array: expected float32, float16, int8 or uint8 .* got dtype float64; cast float64 to float32",
    ),
    "b64encode list": (lambda: b64encode([1.0]), DTypeError, "array: expected a numpy array, got list"),
    "b64encode_rows 1-D": (
        lambda: b64encode_rows(np.zeros(3, F32)),
        ShapeError,
        r"array: expected a 2-D \(n, d\) array, got shape \(3,\)",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_raises_a_named_error(case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message) as info:
        call()
    exc = info.value
    assert isinstance(exc, QuantlibError)
    assert isinstance(exc, (ValueError, TypeError))
    assert type(exc) is error  # the leaf itself, not a subclass that happens to match


LEAVES = {
    "ShapeError": ValueError,
    "DTypeError": TypeError,
    "NonFiniteError": ValueError,
    "OutOfRangeError": ValueError,
    "CalibrationError": ValueError,
    "Base64DecodeError": ValueError,
    "UnknownPrecisionError": ValueError,
    "ConfigError": ValueError,
    "PayloadError": ValueError,
    "UnsupportedError": ValueError,
}


@pytest.mark.parametrize("name", list(LEAVES))
def test_leaves_are_builtin_errors_too(name):
    cls = getattr(quantlib, name)
    assert issubclass(cls, QuantlibError) and issubclass(cls, LEAVES[name])
    with pytest.raises(LEAVES[name], match="kept"):
        raise cls("kept")


def test_provider_error_keeps_the_provider_message():
    exc = quantlib.ProviderError("rate limited", provider="voyage", code=429)
    assert isinstance(exc, QuantlibError) and isinstance(exc, ValueError)
    assert (exc.provider, exc.message, exc.code) == ("voyage", "rate limited", 429)
    assert str(exc) == "voyage provider returned an error (code 429): rate limited"


def test_every_error_class_is_exported_and_documented():
    import quantlib.errors as errors

    classes = {n for n in errors.__all__ if n.endswith("Error")}
    assert classes == set(LEAVES) | {"QuantlibError", "ProviderError"}
    for name in classes:
        assert name in quantlib.__all__ and name in errors.__doc__


def test_calibration_warning_is_a_user_warning():
    assert issubclass(CalibrationWarning, quantlib.QuantlibWarning)
    assert issubclass(CalibrationWarning, UserWarning)
    with pytest.warns(
        CalibrationWarning, match=r"calibration_embeddings: int8/uint8 ranges computed from 5 row\(s\)"
    ):
        quantize(X, "int8", calibration_embeddings=np.zeros((5, 3), F32))
    with pytest.warns(CalibrationWarning, match=r"calibration_embeddings: .* from 2 row\(s\)"):
        quantlib.calibration_ranges(X)


def test_nothing_is_silently_wrapped():
    """The values sentence-transformers < 5.7 wrapped (2.0 in [0, 1] became 254 as uint8) clip or raise."""
    x = np.array([[2.0, -1.0]], F32)
    ranges = [[0.0, 0.0], [1.0, 1.0]]
    assert quantize(x, "uint8", ranges=ranges).tolist() == [[255, 0]]
    assert quantize(x, "uint8", ranges=ranges, rounding="floor").tolist() == [[255, 0]]
    with pytest.raises(OutOfRangeError):
        quantize(x, "uint8", ranges=ranges, rounding="truncate")

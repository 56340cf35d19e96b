"""Every numpy spelling of the storage dtypes is a precision; a stated byte order is honoured or refused."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import quantlib
from quantlib import UnknownPrecisionError, b64decode, b64encode, b64encode_rows, precision_info

#: Spellings of each precision: the words, numpy's type objects, dtypes and character codes.
SPELLINGS = {
    "float32": ["float32", "float", "FLOAT32", np.float32, np.dtype(np.float32), np.dtype("<f4"), "f4", "<f4",
                "=f4", "single", "f", "float32 "],
    "float16": ["float16", "half", np.float16, np.dtype("<f2"), "e", "<f2", "=f2", "f2"],
    "int8": ["int8", np.int8, np.dtype(np.int8), "i1", "|i1", "<i1", ">i1", "b", "byte"],
    "uint8": ["uint8", np.uint8, np.dtype(np.uint8), "u1", "|u1", "B", "ubyte"],
    "binary": ["binary"],
    "ubinary": ["ubinary", "bit"],
}
CASES = [(name, s) for name, spellings in SPELLINGS.items() for s in spellings]


@pytest.mark.parametrize(("name", "spelling"), CASES, ids=repr)
def test_every_spelling_names_its_precision(name, spelling):
    assert precision_info(spelling).name == name
    assert quantlib.code_width(spelling, 9) == (2 if name.endswith("binary") else 9)


@pytest.mark.parametrize("spelling", ["<f4", "=f4", np.dtype("<f4"), "single", "f"])
def test_little_endian_and_native_float32_spellings_were_refused(spelling):
    """b64decode(s, "<f4") raised UnknownPrecisionError although np.dtype("<f4") was accepted."""
    x = np.array([1.5, -2.0, 3.25], np.float32)
    out = b64decode(b64encode(x), spelling)
    assert out.dtype == np.float32 and out.dtype.isnative and out.tolist() == x.tolist()


@pytest.mark.parametrize(("spelling", "fmt", "values"), [
    (">f4", ">3f", [1.5, -2.0, 3.25]), (np.dtype(">f4"), ">3f", [1.5, -2.0, 3.25]),
    (">f2", ">3e", [1.5, -2.0, 65504.0]), (np.dtype(">f2"), ">3e", [0.5, -0.25, 2.0]),
    ("<f4", "<3f", [1.5, -2.0, 3.25]), (">i1", ">3b", [-128, 0, 127]), (">u1", ">3B", [0, 128, 255]),
])
def test_big_endian_bytes_are_read_big_endian(spelling, fmt, values):
    """b64decode(s, dtype=">f4") read the bytes as little-endian and returned wrong values."""
    import base64

    text = base64.b64encode(struct.pack(fmt, *values)).decode()
    for data, kwargs in ((text, {}), ([text, text], {}), (text * 1, {"dim": 3})):
        out = b64decode(data, spelling, **kwargs)
        assert out.dtype.isnative and out.reshape(-1, 3)[0].tolist() == values
    # and writing with the same dtype gives the same bytes back
    arr = np.array(values, np.dtype(spelling).newbyteorder("="))
    assert b64encode(arr, spelling) == text
    assert b64encode_rows(arr[None], spelling) == [text]


def test_big_endian_fast_path_gives_the_same_values():
    """Long inputs take the kernel path, which only reads native order: big-endian must not reach it."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 384)).astype(np.float32)
    text = b64encode(x, ">f4")
    assert len(text) >= quantlib.encoding.FAST_DECODE_MIN_CHARS
    assert np.array_equal(b64decode(text, ">f4", dim=384), x)
    assert np.array_equal(b64decode(b64encode_rows(x, ">f4"), ">f4"), x)
    assert not np.array_equal(b64decode(text, "<f4", dim=384), x)


@pytest.mark.parametrize("dtype", ["int8", "float16", ">f2", np.uint8, "binary"])
def test_encode_dtype_must_be_the_arrays_own(dtype):
    with pytest.raises(quantlib.DTypeError, match=r"^dtype: .* does not match the array's dtype float32"):
        b64encode(np.zeros(3, np.float32), dtype)


@pytest.mark.parametrize("spelling", [">f4", np.dtype(">f2"), ">f2"])
@pytest.mark.parametrize("call", ["quantize", "dequantize", "search", "pairwise", "FlatIndex", "MultiVectorBatch",
                                  "get_codec", "decode_response"])
def test_big_endian_precision_is_refused_where_no_bytes_are_read(spelling, call):
    """A precision names values in native order: a big-endian one could only be ignored, so it is refused."""
    x = np.eye(4, dtype=np.float32)
    calls = {
        "quantize": lambda: quantlib.quantize(x, spelling),
        "dequantize": lambda: quantlib.dequantize(x, spelling),
        "search": lambda: quantlib.search(x, x, 2, precision=spelling),
        "pairwise": lambda: quantlib.pairwise(x, x, precision=spelling),
        # FlatIndex(codec=) takes strings (index.py is another module's; dtype objects there are its call)
        "FlatIndex": lambda: quantlib.FlatIndex(str(np.dtype(spelling).str), 4),
        "MultiVectorBatch": lambda: quantlib.MultiVectorBatch.from_arrays([x], precision=spelling),
        "get_codec": lambda: quantlib.get_codec(spelling),
        "decode_response": lambda: quantlib.decode_response(
            {"data": [{"embedding": [0.5, 1.0]}]}, provider="openai", output_dtype=spelling),
    }
    with pytest.raises(UnknownPrecisionError, match=r"big-endian .*cannot be honoured"):
        calls[call]()


@pytest.mark.parametrize(("name", "spelling"), [c for c in CASES if c[0] in ("float32", "float16")], ids=repr)
def test_float_spellings_work_across_the_api(name, spelling):
    x = np.array([[1.0, 0.5, -0.25, 0.0], [0.0, 1.0, 0.5, 2.0]], np.float32)
    q = quantlib.quantize(x, spelling)
    assert q.dtype == np.dtype(name) and np.array_equal(quantlib.dequantize(q, spelling), q.astype(np.float32))
    s, i = quantlib.search(x, q, 2, precision=spelling)
    assert np.array_equal(i, quantlib.search(x, q, 2, precision=name)[1])
    assert np.array_equal(quantlib.pairwise(x, q, precision=spelling), quantlib.pairwise(x, q, precision=name))
    if isinstance(spelling, str):  # FlatIndex(codec=) takes a Codec, a config or a string
        index = quantlib.FlatIndex(spelling, 4)
        index.add(x)
        assert index.search(x, 1)[1].tolist() == [[0], [1]]
    mv = quantlib.MultiVectorBatch.from_arrays([x], precision=spelling)
    assert mv.precision == name


@pytest.mark.parametrize(("name", "spelling"), [c for c in CASES if c[0] in ("int8", "uint8")], ids=repr)
def test_integer_spellings_work_across_the_api(name, spelling):
    x = np.array([[1.0, 0.5, -0.25, 0.0], [0.0, 1.0, 0.5, 2.0]], np.float32)
    ranges = [[-1.0] * 4, [2.0] * 4]
    q = quantlib.quantize(x, spelling, ranges=ranges)
    assert np.array_equal(q, quantlib.quantize(x, name, ranges=ranges))
    assert quantlib.get_codec(spelling, ranges=ranges).precision == name
    s, i = quantlib.search(q, q, 2, precision=spelling)
    assert np.array_equal(i, quantlib.search(q, q, 2, precision=name)[1])
    assert quantlib.MultiVectorBatch.from_arrays([q], precision=spelling).precision == name


@pytest.mark.parametrize("bad", ["d", np.float64, float, "f8", "?", np.bool_, "c8", "int16", "i2", "U3"])
def test_other_dtypes_are_refused_with_their_numpy_name(bad):
    with pytest.raises(UnknownPrecisionError, match=r"^precision: expected one of float32, .*numpy dtype"):
        precision_info(bad)


@pytest.mark.parametrize("spelling", [",", "f4,", "(", "[1]", "i1," * 3])
def test_strings_numpy_cannot_parse_are_unknown_precisions(spelling):
    # numpy parses comma strings with ast, whose SyntaxError used to escape (a fuzzer found ",")
    with pytest.raises(quantlib.UnknownPrecisionError, match="precision: expected one of float32"):
        quantlib.precision_info(spelling)

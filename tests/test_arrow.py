"""quantlib.stores.arrow against real pyarrow: round trips, zero copies, Parquet, bad columns."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import PRECISIONS, dims, float_matrices, ranges_for

import quantlib
from quantlib import BitCodec, FloatCodec, MultiVectorBatch, ScalarCodec, SparseBatch
from quantlib.errors import ConfigError, DTypeError, QuantlibError, ShapeError
from quantlib.stores import arrow
from quantlib.stores.arrow import from_arrow, read_parquet, to_arrow, to_table

RNG = np.random.default_rng(25)


def _codes(x: np.ndarray, precision: str) -> tuple[np.ndarray, object]:
    """``x`` in ``precision`` and the codec that made it (calibrated for int8/uint8)."""
    if precision in ("int8", "uint8"):
        ranges = np.stack([x.min(axis=0), x.max(axis=0)]) if len(x) else np.array([[-1.0], [1.0]]) * np.ones(
            (2, x.shape[1]))
        codec = ScalarCodec(precision, ranges.astype(np.float32))
    else:
        codec = quantlib.get_codec(precision)
    return codec.encode(x), codec


def _addr(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


# ---------------------------------------------------------------------------------------------- round trips


@given(x=float_matrices(dtypes=(np.float32,), dim=dims(70), max_abs=6e4), precision=st.sampled_from(PRECISIONS),
       data=st.data())
def test_every_precision_round_trips_bit_exactly_with_its_codec(x, precision, data):
    if precision in ("int8", "uint8"):  # values outside the drawn ranges are clipped: any codes will do
        codec = ScalarCodec(precision, data.draw(ranges_for(x.shape[1])))
    else:
        codec = quantlib.get_codec(precision)
    codes = codec.encode(x)
    dim = x.shape[1]
    table = to_table(codes, codec=codec, dim=dim if codec.info.packed else None,
                     columns={"id": np.arange(len(x))})
    back, codec2, dim2 = from_arrow(table, "vector")
    assert back.dtype == codes.dtype and back.shape == codes.shape
    assert np.array_equal(back.view(np.uint8), codes.view(np.uint8))  # bit for bit (float -0.0, NaN payloads)
    assert codec2 == codec and dim2 == dim
    assert not back.flags.writeable


@pytest.mark.parametrize("precision", PRECISIONS)
def test_arrow_types_are_the_ones_stores_read(precision):
    x = RNG.standard_normal((3, 12)).astype(np.float32)
    codes, codec = _codes(x, precision)
    col = to_arrow(codes, codec=codec, dim=12)
    item = {"float32": pa.float32(), "float16": pa.float16(), "int8": pa.int8(), "uint8": pa.uint8(),
            "binary": pa.uint8(), "ubinary": pa.uint8()}[precision]
    assert col.type == pa.list_(item, 2 if codec.info.packed else 12)
    if codec.info.packed:  # both bit precisions hold the packed sign bits, MSB first
        assert np.array_equal(col.values.to_numpy().reshape(3, 2), np.packbits(x > 0, axis=-1))


def test_each_read_gets_its_own_codec():
    table, _, codec = _table("int8")
    first = from_arrow(table)[1]
    first.ranges[0, 0] = -99.0  # a caller changing what it got (the records are parsed once and cached)
    assert from_arrow(table)[1] == codec and from_arrow(table)[1] is not from_arrow(table)[1]


def test_uncalibrated_provider_codes_record_no_codec():
    codes = RNG.integers(-128, 128, size=(4, 8), dtype=np.int8)  # e.g. Cohere int8, no ranges known
    table = to_table(codes, precision="int8")
    record = json.loads(table.schema.field("vector").metadata[b"quantlib"])
    assert record["codec"] is None and record["precision"] == "int8" and record["dim"] == 8
    back, codec, dim = from_arrow(table)
    assert np.array_equal(back, codes) and codec is None and dim == 8


def test_multivector_batches_round_trip_as_list_of_fixed_size_list():
    mats = [RNG.standard_normal((n, 16)).astype(np.float32) for n in (3, 1, 5)]
    codec = ScalarCodec.fit(RNG.standard_normal((200, 16)), "int8")
    for batch in (MultiVectorBatch.from_arrays(mats),
                  MultiVectorBatch.from_arrays(mats).quantize(codec),
                  MultiVectorBatch.from_arrays(mats).quantize("ubinary"),
                  MultiVectorBatch.from_arrays([m[:, :13] for m in mats]).quantize("binary")):
        table = to_table(batch)
        assert table.schema.field("vector").type == pa.list_(
            pa.field("item", pa.list_(pa.uint8() if batch.info.packed else pa.from_numpy_dtype(batch.tokens.dtype),
                                      batch.width), nullable=False))
        back, codec2, dim = from_arrow(table)
        assert back == batch and dim == batch.dim
        assert back.codec == batch.codec
        assert codec2 == (batch.codec if batch.codec is not None else quantlib.get_codec(batch.precision))
        if batch.precision == "binary":  # stored as sign bits: converted both ways
            continue
        # zero-copy both ways: the Arrow tokens are the batch's, and the batch read back views Arrow's
        tokens = table.column("vector").chunk(0).values.values
        assert tokens.buffers()[1].address == _addr(batch.tokens)
        assert np.shares_memory(back.tokens, batch.tokens)


def test_sparse_batches_round_trip_as_a_struct_of_lists():
    batch = SparseBatch([0, 2, 2, 5], [7, 3, 1, 9, 4], [0.5, 2.0, 1.0, -1.5, 0.25], vocab_size=30522)
    table = to_table(batch, column="sparse")
    typ = table.schema.field("sparse").type
    assert typ.field("indices").type == pa.list_(pa.int32()) and typ.field("values").type == pa.list_(pa.float32())
    back, codec, dim = from_arrow(table)
    assert codec is None and dim == 30522 and back.vocab_size == 30522
    assert np.array_equal(back.indptr, batch.indptr)
    assert np.array_equal(back.indices, batch.indices) and np.array_equal(back.values, batch.values)
    assert back.tokens is None
    with_tokens = SparseBatch([0, 1, 3], [5, 2, 1], [1.0, 0.5, 0.25], tokens=["the", "cat", "sat"])
    tback, _, _ = from_arrow(to_table(with_tokens))
    assert tback.tokens == with_tokens.tokens == ("the", "sat", "cat")  # aligned with the sorted ids
    assert np.array_equal(tback.indices, with_tokens.indices)
    col = table.column("sparse").chunk(0)
    assert col.field("values").values.buffers()[1].address == _addr(batch.values)
    assert np.shares_memory(back.values, batch.values) and np.shares_memory(back.indices, batch.indices)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_parquet_round_trip_keeps_the_codec(tmp_path, precision):
    x = RNG.standard_normal((500, 20)).astype(np.float32)
    codes, codec = _codes(x, precision)
    path = tmp_path / "v.parquet"
    pq.write_table(to_table(codes, codec=codec, dim=20, columns={"id": np.arange(500)}), path, row_group_size=128)
    assert pq.ParquetFile(path).num_row_groups == 4  # several row groups: joined on reading
    back, codec2, dim = read_parquet(path)
    assert np.array_equal(back.view(np.uint8), codes.view(np.uint8)) and codec2 == codec and dim == 20
    back, _, _ = read_parquet(path, memory_map=True)
    assert np.array_equal(back.view(np.uint8), codes.view(np.uint8))


def test_parquet_round_trip_of_multivectors_and_sparse(tmp_path):
    mv = MultiVectorBatch.from_arrays([RNG.standard_normal((n, 8)).astype(np.float16) for n in (2, 4)])
    sp = SparseBatch.from_dicts([{3: 1.0, 1: 0.5}, {}, {9: 2.0}])
    table = to_table(mv, column="tokens", columns={"id": [1, 2]})
    sp_table = to_table(sp, column="sparse")
    pq.write_table(table.append_column(sp_table.schema.field("sparse"),
                                       sp_table.column("sparse").slice(0, 2)), tmp_path / "m.parquet")
    back, _, dim = read_parquet(tmp_path / "m.parquet", "tokens")
    assert back == mv and dim == 8 and back.precision == "float16"
    sback, _, _ = read_parquet(tmp_path / "m.parquet", "sparse")
    assert len(sback) == 2 and sback.row(0)[0].tolist() == [1, 3] and sback.row(1)[0].size == 0


# ---------------------------------------------------------------------------------------------- zero-copy


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "uint8", "ubinary"])
def test_zero_copy_both_ways(precision):
    x = RNG.standard_normal((64, 24)).astype(np.float32)
    codes, codec = _codes(x, precision)
    col = to_arrow(codes, codec=codec)
    assert col.values.buffers()[1].address == _addr(codes)  # the Arrow child buffer is the numpy array
    table = to_table(codes, codec=codec)
    back, _, _ = from_arrow(table)
    assert np.shares_memory(back, codes) and _addr(back) == _addr(codes)
    # a slice of a column is read without copying either, at its offset
    sliced, _, _ = from_arrow(col.slice(5, 10), field=table.schema.field("vector"))
    assert _addr(sliced) == _addr(codes[5]) and np.array_equal(sliced, codes[5:15])


def test_binary_codes_are_stored_as_their_sign_bits():
    x = RNG.standard_normal((4, 20)).astype(np.float32)
    codes = BitCodec("binary").encode(x)
    table = to_table(codes, precision="binary", dim=20)
    stored = table.column("vector").chunk(0).values.to_numpy().reshape(4, 3)
    assert np.array_equal(stored, BitCodec("ubinary").encode(x))
    back, codec, dim = from_arrow(table)
    assert back.dtype == np.int8 and np.array_equal(back, codes) and codec == BitCodec("binary") and dim == 20


def test_columns_written_by_others_are_read_with_a_precision():
    x = RNG.standard_normal((5, 6)).astype(np.float32)
    col = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 6)  # the hand-written glue
    values, codec, dim = from_arrow(col, precision="float32")
    assert np.array_equal(values, x) and codec == FloatCodec("float32") and dim == 6
    bits = np.packbits(x > 0, axis=-1)
    col = pa.FixedSizeListArray.from_arrays(pa.array(bits.reshape(-1)), 1)
    values, codec, dim = from_arrow(pa.table({"b": col}), "b", precision="ubinary", dim=6)
    assert np.array_equal(values, bits) and dim == 6
    mv = pa.LargeListArray.from_arrays(pa.array(np.array([0, 2, 5], np.int64)),
                                       pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 6))
    batch, _, _ = from_arrow(mv, precision="float32")
    assert batch.offsets.tolist() == [0, 2, 5] and np.array_equal(batch.tokens, x)


def test_import_quantlib_and_its_stores_does_not_import_pyarrow():
    code = ("import sys, quantlib, quantlib.stores, quantlib.stores.arrow, quantlib.stores.lancedb; "
            "print(sorted(m for m in ('pyarrow', 'lancedb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------- bad input


def _table(precision="int8", n=4, d=8):
    x = RNG.standard_normal((n, d)).astype(np.float32)
    codes, codec = _codes(x, precision)
    return to_table(codes, codec=codec, dim=d, columns={"id": np.arange(n)}), codes, codec


def _with_metadata(table, record_or_bytes, column="vector"):
    raw = record_or_bytes if isinstance(record_or_bytes, bytes) else json.dumps(record_or_bytes).encode()
    f = table.schema.field(column).with_metadata({b"quantlib": raw})
    return table.set_column(table.schema.get_field_index(column), f, table.column(column))


def _record(table, column="vector"):
    return json.loads(table.schema.field(column).metadata[b"quantlib"])


def test_a_column_of_the_wrong_type_or_width_is_refused():
    table, codes, codec = _table("int8")
    floats = to_table(codes.astype(np.float32))
    wrong = floats.set_column(0, table.schema.field("vector").with_type(floats.schema.field("vector").type),
                              floats.column("vector"))
    with pytest.raises(DTypeError, match=r"column 'vector': int8 vectors are fixed_size_list<int8>, got"):
        from_arrow(wrong, "vector")
    narrow = pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(codes[:, :4].reshape(-1)), 4)})
    narrow = _with_metadata(narrow, _record(table))
    with pytest.raises(ShapeError, match=r"column 'vector': int8 vectors of dimension 8 have 8 components per "
                                         r"row, got fixed_size_list of 4"):
        from_arrow(narrow)
    plain = pa.table({"vector": pa.array([[1.0, 2.0], [3.0]])})  # a variable-length list
    with pytest.raises(DTypeError, match=r"column 'vector': float32 vectors are a fixed_size_list column"):
        from_arrow(plain, "vector", precision="float32")
    with pytest.raises(DTypeError, match=r"data: expected a pyarrow Table"):
        from_arrow(codes)
    with pytest.raises(ConfigError, match=r"column: expected one of the table's columns"):
        from_arrow(table, "vectors")
    with pytest.raises(DTypeError, match=r"field: the field has type"):
        from_arrow(floats.column("vector"), field=table.schema.field("vector"))


def test_missing_or_corrupt_metadata_is_refused():
    table, _, _ = _table("int8")
    bare = table.set_column(1, table.schema.field("vector").remove_metadata(), table.column("vector"))
    with pytest.raises(ConfigError, match=r"column 'vector': the field has no quantlib metadata; pass precision="):
        from_arrow(bare, "vector")
    with pytest.raises(ConfigError, match=r"column: expected the name of the vector column, got none"):
        from_arrow(bare)
    with pytest.raises(ConfigError, match=r"column 'vector': the field's quantlib metadata is not JSON"):
        from_arrow(_with_metadata(table, b'{"kind": "dense", '))
    edited = _record(table)
    edited["dim"] = 4
    with pytest.raises(ConfigError, match=r"column 'vector': quantlib metadata: the checksum says .* it was "
                                          r"changed or corrupted"):
        from_arrow(_with_metadata(table, edited))
    edited = _record(table)
    edited["codec"]["ranges"][0][0] = -9.0  # the codec's own checksum catches it
    edited["checksum"] = arrow._record_checksum(edited)  # the record's own sum stands for the codec by its sum
    with pytest.raises(ConfigError, match=r"column 'vector': quantlib metadata: config: the checksum says"):
        from_arrow(_with_metadata(table, edited))
    edited = _record(table)
    edited["version"] = 99
    with pytest.raises(ConfigError, match=r"quantlib metadata version 99 is not one this quantlib reads"):
        from_arrow(_with_metadata(table, edited))
    with pytest.raises(ConfigError, match=r"precision: the column holds int8 values, got precision='uint8'"):
        from_arrow(table, precision="uint8")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@given(kind=st.sampled_from(["int8", "ubinary", "multivector", "sparse"]),
       key=st.sampled_from(["kind", "precision", "dim", "codec", "version", "vocab_size", "extra"]),
       value=JSON_VALUES | st.sampled_from(["dense", "multivector", "sparse", "float16", "binary", 0, 7, 8, 9]))
def test_any_edited_metadata_with_a_valid_checksum_reads_or_raises_a_quantlib_error(kind, key, value):
    if kind == "multivector":
        table = to_table(MultiVectorBatch.from_arrays([np.ones((2, 8), np.float32)]).quantize("ubinary"))
    elif kind == "sparse":
        table = to_table(SparseBatch.from_dicts([{1: 1.0}]))
    else:
        table = _table(kind)[0]
    record = _record(table)
    record[key] = value
    record["checksum"] = arrow._record_checksum(record)
    try:
        from_arrow(_with_metadata(table, json.dumps(record).encode()), "vector")
    except QuantlibError:
        pass


def test_columns_of_the_wrong_kind_are_refused():
    mv = to_table(MultiVectorBatch.from_arrays([np.ones((2, 4), np.float32)]))
    dense = to_table(np.ones((2, 4), np.float32))
    swapped = dense.set_column(0, mv.schema.field("vector").with_type(dense.schema.field("vector").type),
                               dense.column("vector"))
    with pytest.raises(DTypeError, match=r"column 'vector': multi-vectors are a list<fixed_size_list> column"):
        from_arrow(swapped)
    sp = to_table(SparseBatch.from_dicts([{1: 1.0}]))
    swapped = dense.set_column(0, sp.schema.field("vector").with_type(dense.schema.field("vector").type),
                               dense.column("vector"))
    with pytest.raises(DTypeError, match=r"column 'vector': sparse vectors are a struct<indices"):
        from_arrow(swapped)
    bad = pa.StructArray.from_arrays([pa.array([[1]]), pa.array([[1.0]], pa.list_(pa.float64()))],
                                     names=["indices", "values"])
    with pytest.raises(DTypeError, match=r"data: sparse values must be float32, got list<double>"):
        from_arrow(bad, field=sp.schema.field("vector").with_type(bad.type))
    uneven = pa.StructArray.from_arrays([pa.array([[1, 2]]), pa.array([[1.0]], pa.list_(pa.float32()))],
                                        names=["indices", "values"])
    with pytest.raises(ShapeError, match=r"data: the indices and values lists have different lengths"):
        from_arrow(uneven, field=sp.schema.field("vector").with_type(uneven.type))


def test_nulls_are_refused():
    table, codes, codec = _table("float32", n=3, d=2)
    f = table.schema.field("vector").with_nullable(True)
    with_null = pa.FixedSizeListArray.from_arrays(pa.array(codes.reshape(-1)), 2,
                                                  mask=pa.array([False, True, False]))
    with pytest.raises(ShapeError, match=r"column 'vector': expected no nulls, got 1 null; drop or fill"):
        from_arrow(pa.table({"vector": with_null}, schema=pa.schema([f])))
    inner = pa.FixedSizeListArray.from_arrays(pa.array([1.0, None, 3.0, 4.0, 5.0, 6.0], pa.float32()), 2)
    with pytest.raises(ShapeError, match=r"expected no nulls, got 1 null inside the vectors"):
        from_arrow(inner, field=f)
    sp = to_table(SparseBatch.from_dicts([{1: 1.0}, {2: 2.0}]))
    col = sp.column("vector").chunk(0)
    nulled = pa.StructArray.from_arrays([col.field("indices"), col.field("values")], names=["indices", "values"],
                                        mask=pa.array([False, True]))
    with pytest.raises(ShapeError, match=r"data: expected no nulls, got 1 null"):
        from_arrow(nulled, field=sp.schema.field("vector").with_type(nulled.type))


def test_empty_tables_and_batches_read_back():
    empty = pa.Table.from_batches([], schema=to_table(np.zeros((1, 3), np.float16)).schema)
    assert empty.column("vector").num_chunks == 0
    values, codec, dim = from_arrow(empty)
    assert values.shape == (0, 3) and values.dtype == np.float16 and dim == 3
    sp, _, _ = from_arrow(to_table(SparseBatch([0], [], [])))
    assert len(sp) == 0


def test_a_chunked_column_is_refused_unless_joined():
    table, codes, _ = _table("uint8")
    two = pa.concat_tables([table, table])
    assert two.column("vector").num_chunks == 2
    with pytest.raises(ShapeError, match=r"column 'vector': expected one chunk, got a chunked array of 2 chunks; "
                                         r"join them with combine_chunks\(\)"):
        from_arrow(two, "vector")
    back, _, _ = from_arrow(two.combine_chunks(), "vector")
    assert np.array_equal(back, np.concatenate([codes, codes]))


@pytest.mark.parametrize("bad, kwargs, error, message", [
    (np.zeros((2, 4), np.int8), {}, DTypeError, r"data: int8 arrays hold either int8 codes or packed bits"),
    (np.zeros((2, 4), np.float64), {}, DTypeError, r"data: expected float32, float16, int8 or uint8 values, got "
                                                   r"dtype float64; cast to float32"),
    (np.zeros(4, np.float32), {}, ShapeError, r"data: expected a batch of shape \(n, d\).*data\[None, :\]"),
    (np.zeros((2, 4), np.uint8), {"precision": "ubinary", "dim": 40}, ShapeError,
     r"data: packed bits of dimension 40 take 5 bytes per row, got 4"),
    (np.zeros((2, 4), np.uint8), {"codec": ScalarCodec("int8", np.ones((2, 4)) * [[-1], [1]])}, DTypeError,
     r"data: int8 values must have dtype int8, got dtype uint8"),
    (np.zeros((2, 4), np.int8), {"codec": ScalarCodec("int8", np.ones((2, 3)) * [[-1], [1]])}, ShapeError,
     r"codec: the codec was calibrated for dimension 3, data has 4"),
    (np.zeros((2, 4), np.float32), {"dim": 5}, ShapeError, r"dim: data has 4 components per row, got dim=5"),
    ([[1.0, 2.0]], {}, DTypeError, r"data: expected a 2-D numpy array, a MultiVectorBatch or a SparseBatch"),
])
def test_bad_input_to_write_names_the_argument(bad, kwargs, error, message):
    with pytest.raises(error, match=message):
        to_arrow(bad, **kwargs)
    with pytest.raises(error, match=message):
        arrow.field("v", bad, **kwargs)


def test_every_error_is_a_quantlib_error():
    table, _, _ = _table("int8")
    for call in (lambda: from_arrow(table, 3), lambda: to_table(np.eye(2, dtype=np.float32), columns={"id": [1]}),
                 lambda: to_table(np.eye(2, dtype=np.float32), columns={"vector": [1, 2]})):
        with pytest.raises(QuantlibError):
            call()


def test_parquet_without_the_column_is_refused(tmp_path):
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "x.parquet")
    with pytest.raises(ConfigError, match=r"column: expected one of the file's columns \['id'\], got 'vector'"):
        read_parquet(tmp_path / "x.parquet")
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2]}), buf)
    with pytest.raises(ConfigError, match=r"column: expected one of the file's columns"):
        read_parquet(io.BytesIO(buf.getvalue()), "v")


# ---------------------------------------------------------------------------------------------- format version 1

#: Metadata records of format version 1, as quantlib wrote them when the format was made (their codec configs
#: are of config version 2).  They must read forever.
GOLDEN_V1 = {
    "int8": b'{"checksum": "crc32:0bdfcf5f", "codec": {"checksum": "crc32:b120096f", "id": "int8", "ranges": '
            b'[[-1.0, 0.0, -0.5], [1.0, 2.0, 0.5]], "rounding": "nearest", "version": 2}, "dim": 3, '
            b'"kind": "dense", "precision": "int8", "version": 1}',
    "ubinary": b'{"checksum": "crc32:b2405ee4", "codec": {"checksum": "crc32:124c1ee7", "id": "ubinary", '
               b'"version": 2}, "dim": 10, "kind": "dense", "precision": "ubinary", "version": 1}',
    "sparse": b'{"checksum": "crc32:d6b27a83", "codec": null, "dim": null, "kind": "sparse", "precision": null, '
              b'"version": 1, "vocab_size": 5}',
    "multivector": b'{"checksum": "crc32:22d09f78", "codec": {"checksum": "crc32:2ad7e5ed", "id": "float16", '
                   b'"version": 2}, "dim": 3, "kind": "multivector", "precision": "float16", "version": 1}',
}

#: What to_table writes today: format version 1 with codec configs of config version 3.  A change to what
#: to_table writes fails the first test (bump FORMAT_VERSION, keep a reader, add the new records here).
WRITTEN = {
    "int8": b'{"checksum": "crc32:b741e532", "codec": {"checksum": "crc32:c0580915", "id": "int8", "ranges": '
            b'[[-1.0, 0.0, -0.5], [1.0, 2.0, 0.5]], "rounding": "nearest", "version": 3}, "dim": 3, '
            b'"kind": "dense", "precision": "int8", "version": 1}',
    "ubinary": b'{"checksum": "crc32:67178fb5", "codec": {"checksum": "crc32:0b572fa6", "id": "ubinary", '
               b'"version": 3}, "dim": 10, "kind": "dense", "precision": "ubinary", "version": 1}',
    "sparse": GOLDEN_V1["sparse"],
    "multivector": b'{"checksum": "crc32:10162e0a", "codec": {"checksum": "crc32:33ccd4ac", "id": "float16", '
                   b'"version": 3}, "dim": 3, "kind": "multivector", "precision": "float16", "version": 1}',
}

GOLDEN_CODEC = ScalarCodec("int8", [[-1.0, 0.0, -0.5], [1.0, 2.0, 0.5]])


def _golden_data():
    return {
        "int8": (np.array([[1, -2, 3]], np.int8), {"codec": GOLDEN_CODEC}),
        "ubinary": (np.array([[255, 192]], np.uint8), {"precision": "ubinary", "dim": 10}),
        "sparse": (SparseBatch.from_dicts([{1: 1.0}], vocab_size=5), {}),
        "multivector": (MultiVectorBatch.from_arrays([np.ones((2, 3), np.float16)]), {}),
    }


@pytest.mark.parametrize("record", [GOLDEN_V1, WRITTEN], ids=["codec-config-v2", "codec-config-v3"])
@pytest.mark.parametrize("name", sorted(GOLDEN_V1))
def test_version_1_records_are_what_to_table_writes_and_read_forever(name, record):
    data, kwargs = _golden_data()[name]
    table = to_table(data, **kwargs)
    assert table.schema.field("vector").metadata[b"quantlib"] == WRITTEN[name]
    values, codec, dim = from_arrow(_with_metadata(table, record[name]))
    if name == "int8":
        assert np.array_equal(values, data) and codec == GOLDEN_CODEC and dim == 3
    elif name == "ubinary":
        assert np.array_equal(values, data) and codec == BitCodec("ubinary") and dim == 10
    elif name == "sparse":
        assert values.vocab_size == 5 and dim == 5 and codec is None
    else:
        assert values == data and dim == 3


@pytest.mark.parametrize("name", sorted(GOLDEN_V1))
def test_every_damaged_byte_of_a_record_is_refused_or_reads_the_same(name):
    data, kwargs = _golden_data()[name]
    table = to_table(data, **kwargs)
    want = from_arrow(table)
    raw = GOLDEN_V1[name]
    for i in range(len(raw)):
        for flip in (0x01, 0x20):
            damaged = raw[:i] + bytes([raw[i] ^ flip]) + raw[i + 1:]
            try:
                got = from_arrow(_with_metadata(table, damaged))
            except QuantlibError:
                continue
            # JSON whitespace, or a key JSON ignores: the same content
            assert got[1] == want[1] and got[2] == want[2], (i, flip, damaged)
